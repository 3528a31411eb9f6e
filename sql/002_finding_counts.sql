-- Exact list totals without counting rows at request time: the database
-- keeps, per customer, tenant, severity, status and finding type, how many
-- findings there are. Any filter combination the API allows is a sum over a
-- handful of these rows. Statement-level triggers with transition tables
-- keep bulk loads (COPY, INSERT ... SELECT) cheap.

CREATE TABLE permafrost.finding_counts (
    customer_id   uuid    NOT NULL,
    tenant_id     uuid    NOT NULL,
    severity      text    NOT NULL,
    status        text    NOT NULL,
    finding_type  text    COLLATE "C" NOT NULL,
    n             bigint  NOT NULL CHECK (n >= 0),
    PRIMARY KEY (customer_id, tenant_id, severity, status, finding_type),
    FOREIGN KEY (customer_id, tenant_id)
        REFERENCES permafrost.tenants (customer_id, tenant_id) ON DELETE CASCADE
);

CREATE FUNCTION permafrost.finding_counts_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        -- Rows may already be gone when a tenant delete cascaded to both.
        UPDATE permafrost.finding_counts c SET n = c.n - d.k
        FROM (SELECT customer_id, tenant_id, severity, status, finding_type, count(*) AS k
              FROM old_rows GROUP BY 1, 2, 3, 4, 5) d
        WHERE c.customer_id = d.customer_id AND c.tenant_id = d.tenant_id
          AND c.severity = d.severity AND c.status = d.status
          AND c.finding_type = d.finding_type;
        DELETE FROM permafrost.finding_counts c
        WHERE c.n = 0 AND c.customer_id IN (SELECT DISTINCT customer_id FROM old_rows);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO permafrost.finding_counts AS c
               (customer_id, tenant_id, severity, status, finding_type, n)
        SELECT customer_id, tenant_id, severity, status, finding_type, count(*)
        FROM new_rows GROUP BY 1, 2, 3, 4, 5
        -- A stable order keeps concurrent writers from deadlocking.
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (customer_id, tenant_id, severity, status, finding_type)
        DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER finding_counts_ins AFTER INSERT ON permafrost.findings
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION permafrost.finding_counts_apply();
CREATE TRIGGER finding_counts_upd AFTER UPDATE ON permafrost.findings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION permafrost.finding_counts_apply();
CREATE TRIGGER finding_counts_del AFTER DELETE ON permafrost.findings
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION permafrost.finding_counts_apply();

INSERT INTO permafrost.finding_counts (customer_id, tenant_id, severity, status, finding_type, n)
SELECT customer_id, tenant_id, severity, status, finding_type, count(*)
FROM permafrost.findings GROUP BY 1, 2, 3, 4, 5;
