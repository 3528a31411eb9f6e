-- Totals of lists without ?tenant= from a table that has no tenant column.
--
-- finding_counts (sql/002) has a row per tenant, severity, status and
-- finding type, so a customer-wide total summed every tenant's rows: its
-- cost grew with the number of tenants, and it was about a third of the
-- list statement's time with five. finding_totals keeps the same counts
-- summed over tenants; a customer-wide total now reads at most one row per
-- severity, status and type whatever the number of tenants, and a list
-- with ?tenant= keeps reading finding_counts by its (customer, tenant)
-- prefix. The same statement-level triggers keep both tables in the same
-- transaction as the write. Writers of one customer already queue on its
-- data_versions row (sql/005), so the shared rows add no new waits.

-- No writer may commit between the copy below and the new trigger body:
-- its change would reach one table and not the other.
LOCK TABLE permafrost.findings IN SHARE MODE;

CREATE TABLE permafrost.finding_totals (
    customer_id   uuid    NOT NULL REFERENCES permafrost.customers (id) ON DELETE CASCADE,
    severity      text    NOT NULL,
    status        text    NOT NULL,
    finding_type  text    COLLATE "C" NOT NULL,
    n             bigint  NOT NULL CHECK (n >= 0),
    PRIMARY KEY (customer_id, severity, status, finding_type)
);

CREATE OR REPLACE FUNCTION permafrost.finding_counts_apply() RETURNS trigger
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
        -- Or by a customer delete.
        UPDATE permafrost.finding_totals c SET n = c.n - d.k
        FROM (SELECT customer_id, severity, status, finding_type, count(*) AS k
              FROM old_rows GROUP BY 1, 2, 3, 4) d
        WHERE c.customer_id = d.customer_id AND c.severity = d.severity
          AND c.status = d.status AND c.finding_type = d.finding_type;
        DELETE FROM permafrost.finding_totals c
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
        INSERT INTO permafrost.finding_totals AS c
               (customer_id, severity, status, finding_type, n)
        SELECT customer_id, severity, status, finding_type, count(*)
        FROM new_rows GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (customer_id, severity, status, finding_type)
        DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

INSERT INTO permafrost.finding_totals (customer_id, severity, status, finding_type, n)
SELECT customer_id, severity, status, finding_type, sum(n)
FROM permafrost.finding_counts GROUP BY 1, 2, 3, 4;
