-- A version of each customer's readable data, so httpd can keep list
-- answers and still answer exactly: a cached answer is served only while
-- the customer's version is the one it was read at.
--
-- Every statement that writes a customer's tenants, identities, role
-- assignments, findings or role recommendations moves that customer's
-- version to a new value of one sequence, in the same transaction as the
-- write (statement-level triggers, like the finding counts of sql/002). A
-- reader sees the old version with the old rows or the new version with the
-- new rows, never a mix; values are never reused, so an equal version means
-- unchanged data. Writes made with triggers disabled
-- (session_replication_role = replica) bypass this: do not write customer
-- data that way while httpd serves it, or turn the list cache off.

CREATE SEQUENCE permafrost.data_version_seq;

-- No foreign key: a customer being deleted still moves its version (the
-- cascade writes its rows), and an orphan row costs nothing.
CREATE TABLE permafrost.data_versions (
    customer_id  uuid   PRIMARY KEY,
    version      bigint NOT NULL
);

CREATE FUNCTION permafrost.data_versions_move(customers uuid[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO permafrost.data_versions AS v (customer_id, version)
    SELECT c, nextval('permafrost.data_version_seq')
    FROM (SELECT DISTINCT c FROM unnest(customers) AS u(c) WHERE c IS NOT NULL) AS d
    -- A stable order keeps concurrent writers from deadlocking.
    ORDER BY c
    ON CONFLICT (customer_id) DO UPDATE SET version = EXCLUDED.version;
$$;

CREATE FUNCTION permafrost.data_versions_after_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE permafrost.data_versions SET version = nextval('permafrost.data_version_seq');
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM permafrost.data_versions_move(ARRAY(SELECT customer_id FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM permafrost.data_versions_move(ARRAY(SELECT customer_id FROM old_rows));
    ELSE
        PERFORM permafrost.data_versions_move(ARRAY(
            SELECT customer_id FROM new_rows UNION SELECT customer_id FROM old_rows));
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'identities', 'role_assignments', 'findings',
                             'role_recommendations'] LOOP
        EXECUTE format('CREATE TRIGGER %1$s_version_ins AFTER INSERT ON permafrost.%1$s'
                       ' REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION permafrost.data_versions_after_write()', t);
        EXECUTE format('CREATE TRIGGER %1$s_version_upd AFTER UPDATE ON permafrost.%1$s'
                       ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                       ' FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION permafrost.data_versions_after_write()', t);
        EXECUTE format('CREATE TRIGGER %1$s_version_del AFTER DELETE ON permafrost.%1$s'
                       ' REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION permafrost.data_versions_after_write()', t);
        EXECUTE format('CREATE TRIGGER %1$s_version_trunc AFTER TRUNCATE ON permafrost.%1$s'
                       ' FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION permafrost.data_versions_after_write()', t);
    END LOOP;
END $$;

INSERT INTO permafrost.data_versions (customer_id, version)
SELECT id, nextval('permafrost.data_version_seq') FROM permafrost.customers;
