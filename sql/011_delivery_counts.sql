-- Exact totals for a subscription's deliveries log without counting its
-- deliveries at request time, as sql/009 does for identities.
--
-- The log's total was count(*) over the subscription's deliveries on every
-- page: each analyzer pass adds one delivery per event type and 100
-- findings, so a busy subscription's log grows without bound. With 200,000
-- deliveries the first page took about 100 ms of a statement whose page
-- took 1 ms, and httpd served that page 10 times a second. The database
-- now keeps each subscription's number of deliveries, in the same
-- transaction as the writes (statement-level triggers with transition
-- tables); a delivery's customer and subscription never change, so status
-- updates (every attempt) touch no count.

-- No writer may commit between the copy at the end and the triggers.
LOCK TABLE permafrost.webhook_deliveries IN SHARE MODE;

CREATE TABLE permafrost.webhook_delivery_counts (
    customer_id  uuid    NOT NULL,
    webhook_id   uuid    NOT NULL,
    n            bigint  NOT NULL CHECK (n >= 0),
    PRIMARY KEY (customer_id, webhook_id),
    FOREIGN KEY (customer_id, webhook_id)
        REFERENCES permafrost.webhooks (customer_id, id) ON DELETE CASCADE
);

CREATE FUNCTION permafrost.delivery_counts_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- The row may already be gone when a subscription's delete
        -- cascaded to its count as well.
        UPDATE permafrost.webhook_delivery_counts c SET n = c.n - d.k
        FROM (SELECT customer_id, webhook_id, count(*) AS k
              FROM old_rows GROUP BY 1, 2) d
        WHERE c.customer_id = d.customer_id AND c.webhook_id = d.webhook_id;
    ELSE
        INSERT INTO permafrost.webhook_delivery_counts AS c (customer_id, webhook_id, n)
        SELECT customer_id, webhook_id, count(*)
        FROM new_rows GROUP BY 1, 2
        -- A stable order keeps concurrent passes from deadlocking.
        ORDER BY 1, 2
        ON CONFLICT (customer_id, webhook_id) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER delivery_counts_ins AFTER INSERT ON permafrost.webhook_deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION permafrost.delivery_counts_apply();
CREATE TRIGGER delivery_counts_del AFTER DELETE ON permafrost.webhook_deliveries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION permafrost.delivery_counts_apply();

-- The counts rely on a delivery never moving to another subscription:
-- refused outright (fires only for updates that name these columns).
CREATE FUNCTION permafrost.delivery_owner_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_id IS DISTINCT FROM OLD.customer_id
       OR NEW.webhook_id IS DISTINCT FROM OLD.webhook_id THEN
        RAISE EXCEPTION 'a delivery cannot move to another subscription';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER delivery_owner_fixed BEFORE UPDATE OF customer_id, webhook_id
    ON permafrost.webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION permafrost.delivery_owner_fixed();

CREATE FUNCTION permafrost.delivery_counts_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM permafrost.webhook_delivery_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER delivery_counts_trunc AFTER TRUNCATE ON permafrost.webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION permafrost.delivery_counts_truncate();

INSERT INTO permafrost.webhook_delivery_counts (customer_id, webhook_id, n)
SELECT customer_id, webhook_id, count(*) FROM permafrost.webhook_deliveries GROUP BY 1, 2;
