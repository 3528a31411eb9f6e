-- TRUNCATE of findings empties the count tables too (sql/002, sql/006).
--
-- Row and statement triggers for INSERT, UPDATE and DELETE keep the counts
-- exact, but TRUNCATE fires none of them: after one, every list total
-- would have gone on counting findings that no longer exist (the data
-- versions of sql/005 already move on TRUNCATE). A TRUNCATE removes every
-- finding, so every count goes with it, in the same transaction; a
-- TRUNCATE of tenants or customers with CASCADE reaches findings and fires
-- this as well.

CREATE FUNCTION permafrost.finding_counts_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM permafrost.finding_counts;
    DELETE FROM permafrost.finding_totals;
    RETURN NULL;
END $$;

CREATE TRIGGER finding_counts_trunc AFTER TRUNCATE ON permafrost.findings
    FOR EACH STATEMENT EXECUTE FUNCTION permafrost.finding_counts_truncate();

-- A findings table truncated before this migration left counts behind:
-- count again, with writers held off (as sql/006 does) so none is missed.
LOCK TABLE permafrost.findings IN SHARE MODE;
DELETE FROM permafrost.finding_counts;
DELETE FROM permafrost.finding_totals;
INSERT INTO permafrost.finding_counts (customer_id, tenant_id, severity, status, finding_type, n)
SELECT customer_id, tenant_id, severity, status, finding_type, count(*)
FROM permafrost.findings GROUP BY 1, 2, 3, 4, 5;
INSERT INTO permafrost.finding_totals (customer_id, severity, status, finding_type, n)
SELECT customer_id, severity, status, finding_type, count(*)
FROM permafrost.findings GROUP BY 1, 2, 3, 4;
