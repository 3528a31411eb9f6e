-- Keyset pages as one index range. Findings sort by severity, then
-- first_seen_at newest first, then id; role recommendations by created_at
-- newest first, then id. Those orders mix directions, which a row
-- comparison such as "(rank, first_seen_at, id) > (...)" cannot follow, so
-- the keyset condition was an OR that PostgreSQL scans and filters. A
-- stored key that ascends as the time descends makes every sort column
-- ascend: the order becomes "(rank, key, id)" and the rows after a cursor
-- are one range of one index.

-- Microseconds since 2000-01-01 UTC (PostgreSQL's own timestamp count, so
-- it never overflows), negated. Exact and one-to-one for every timestamp,
-- whatever the session's time zone; +infinity sorts first, -infinity last.
CREATE FUNCTION permafrost.newest_first_key(ts timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE
        WHEN isfinite(ts) THEN -((extract(epoch FROM ts) - 946684800) * 1000000)::bigint
        WHEN extract(epoch FROM ts) > 0 THEN -9223372036854775807
        ELSE 9223372036854775807
    END;

ALTER TABLE permafrost.findings
    ADD COLUMN first_seen_key bigint
        GENERATED ALWAYS AS (permafrost.newest_first_key(first_seen_at)) STORED;
COMMENT ON COLUMN permafrost.findings.first_seen_key IS
    'first_seen_at, newest first: the list order is (severity_rank, first_seen_key, id)';
DROP INDEX permafrost.findings_list_idx;
DROP INDEX permafrost.findings_tenant_list_idx;
CREATE INDEX findings_order_idx
    ON permafrost.findings (customer_id, severity_rank, first_seen_key, id);
CREATE INDEX findings_tenant_order_idx
    ON permafrost.findings (customer_id, tenant_id, severity_rank, first_seen_key, id);

ALTER TABLE permafrost.role_recommendations
    ADD COLUMN created_key bigint
        GENERATED ALWAYS AS (permafrost.newest_first_key(created_at)) STORED;
COMMENT ON COLUMN permafrost.role_recommendations.created_key IS
    'created_at, newest first: the list order is (created_key, id)';
DROP INDEX permafrost.role_recommendations_list_idx;
DROP INDEX permafrost.role_recommendations_identity_idx;
CREATE INDEX role_recommendations_order_idx
    ON permafrost.role_recommendations (customer_id, created_key, id);
CREATE INDEX role_recommendations_identity_order_idx
    ON permafrost.role_recommendations (customer_id, identity_id, created_key, id);
