-- Webhook subscriptions and their delivery queue. The queue lives here, not
-- in httpd, so a pass completed while every httpd is down is delivered once
-- one starts, and several httpd servers share it with row locks.

CREATE TABLE permafrost.webhooks (
    id                  uuid        PRIMARY KEY,
    customer_id         uuid        NOT NULL REFERENCES permafrost.customers (id) ON DELETE CASCADE,
    name                text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    webhook_url         text        NOT NULL CHECK (octet_length(webhook_url) <= 2048),
    webhook_type        text        NOT NULL CHECK (webhook_type IN ('generic', 'slack', 'teams')),
    event_types         text[]      NOT NULL CHECK (
                            cardinality(event_types) > 0
                            AND event_types <@ ARRAY['finding_critical', 'finding_high',
                                                     'finding_medium', 'finding_low']),
    -- AES-256-GCM under PermafrostSecretKeyFile, bound to the row's id.
    secret_sealed       bytea       NOT NULL,
    active              boolean     NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    deactivated_at      timestamptz,
    deactivated_reason  text,
    UNIQUE (customer_id, id)
);
CREATE INDEX webhooks_active_idx
    ON permafrost.webhooks (customer_id, created_at, id) WHERE active;

CREATE TABLE permafrost.webhook_deliveries (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id       uuid        NOT NULL,
    webhook_id        uuid        NOT NULL,
    event_type        text        NOT NULL CHECK (event_type IN (
                          'finding_critical', 'finding_high', 'finding_medium', 'finding_low',
                          'ping')),
    pass_id           uuid,
    chunk             integer     NOT NULL DEFAULT 0,
    finding_ids       uuid[]      NOT NULL DEFAULT '{}',
    status            text        NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts          integer     NOT NULL DEFAULT 0,
    -- While an attempt is in flight this is the lease's end: a server that
    -- dies mid-attempt leaves the row due again afterwards.
    next_attempt_at   timestamptz DEFAULT now(),
    claim_token       uuid,
    last_attempt_at   timestamptz,
    last_status_code  integer,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    -- The exact bytes of the first attempt, so every retry sends (and signs)
    -- the same body.
    payload           text,
    FOREIGN KEY (customer_id, webhook_id)
        REFERENCES permafrost.webhooks (customer_id, id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, pass_id)
        REFERENCES permafrost.analyzer_passes (customer_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due_idx
    ON permafrost.webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log_idx
    ON permafrost.webhook_deliveries (customer_id, webhook_id, created_at DESC, id);
-- One delivery per subscription, pass, event and chunk of 100, however
-- often the pass is marked complete.
CREATE UNIQUE INDEX webhook_deliveries_once_idx
    ON permafrost.webhook_deliveries (webhook_id, pass_id, event_type, chunk)
    WHERE pass_id IS NOT NULL;

-- Every attempt's outcome and timing. Receiver response bodies are never
-- stored.
CREATE TABLE permafrost.webhook_delivery_attempts (
    delivery_id   uuid        NOT NULL
                  REFERENCES permafrost.webhook_deliveries (id) ON DELETE CASCADE,
    attempt       integer     NOT NULL,
    started_at    timestamptz NOT NULL,
    duration_ms   integer     NOT NULL,
    status_code   integer,
    error         text,
    PRIMARY KEY (delivery_id, attempt)
);

-- Queues the deliveries of a completed pass: per active subscription of the
-- customer, per opted-in severity with open findings first seen in the
-- pass, 100 findings per delivery in list order.
CREATE FUNCTION permafrost.webhooks_queue_pass() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    p permafrost.analyzer_passes;
BEGIN
    -- Deferred to commit: read the row as it ends up, with every finding
    -- the transaction wrote.
    SELECT * INTO p FROM permafrost.analyzer_passes WHERE id = NEW.id;
    IF NOT FOUND OR p.completed_at IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO permafrost.webhook_deliveries
        (customer_id, webhook_id, event_type, pass_id, chunk, finding_ids)
    SELECT w.customer_id, w.id, f.event_type, p.id, f.chunk,
           array_agg(f.id ORDER BY f.rn)
    FROM permafrost.webhooks w
    JOIN (SELECT id, 'finding_' || severity AS event_type,
                 row_number() OVER (PARTITION BY severity
                                    ORDER BY first_seen_at DESC, id) AS rn,
                 (row_number() OVER (PARTITION BY severity
                                     ORDER BY first_seen_at DESC, id) - 1) / 100 AS chunk
          FROM permafrost.findings
          WHERE customer_id = p.customer_id AND first_seen_pass_id = p.id
            AND status = 'open') f
      ON f.event_type = ANY (w.event_types)
    WHERE w.customer_id = p.customer_id AND w.active
    GROUP BY w.customer_id, w.id, f.event_type, f.chunk
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER analyzer_pass_inserted_complete
    AFTER INSERT ON permafrost.analyzer_passes
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.completed_at IS NOT NULL)
    EXECUTE FUNCTION permafrost.webhooks_queue_pass();

CREATE CONSTRAINT TRIGGER analyzer_pass_completed
    AFTER UPDATE OF completed_at ON permafrost.analyzer_passes
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.completed_at IS NULL AND NEW.completed_at IS NOT NULL)
    EXECUTE FUNCTION permafrost.webhooks_queue_pass();
