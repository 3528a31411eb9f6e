-- The tables of contract section 10. Cross-customer references are made
-- impossible by composite foreign keys on (customer_id, ...): a row can only
-- point at a tenant, identity or pass of its own customer.

CREATE SCHEMA IF NOT EXISTS permafrost;

CREATE TABLE permafrost.customers (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE permafrost.tenants (
    customer_id     uuid        NOT NULL REFERENCES permafrost.customers (id) ON DELETE CASCADE,
    tenant_id       uuid        NOT NULL,
    display_name    text        COLLATE "C" NOT NULL,
    primary_domain  text,
    status          text        NOT NULL DEFAULT 'connected'
                    CHECK (status IN ('connected', 'disconnected', 'error')),
    connected_at    timestamptz NOT NULL DEFAULT now(),
    last_sync_at    timestamptz,
    PRIMARY KEY (customer_id, tenant_id)
);
CREATE INDEX tenants_list_idx ON permafrost.tenants (customer_id, display_name, tenant_id);

CREATE TABLE permafrost.identities (
    id                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id          uuid        NOT NULL,
    tenant_id            uuid        NOT NULL,
    type                 text        NOT NULL
                         CHECK (type IN ('user', 'group', 'servicePrincipal', 'managedIdentity', 'agentIdentity')),
    display_name         text        COLLATE "C" NOT NULL,
    user_principal_name  text,
    app_id               uuid,
    object_id            uuid,
    enabled              boolean     NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at      timestamptz,
    UNIQUE (customer_id, id),
    UNIQUE (customer_id, tenant_id, id),
    FOREIGN KEY (customer_id, tenant_id)
        REFERENCES permafrost.tenants (customer_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX identities_list_idx ON permafrost.identities (customer_id, display_name, id);
CREATE INDEX identities_tenant_list_idx ON permafrost.identities (customer_id, tenant_id, display_name, id);

CREATE TABLE permafrost.role_assignments (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id         uuid        NOT NULL,
    identity_id         uuid        NOT NULL,
    role_name           text        COLLATE "C" NOT NULL,
    role_definition_id  uuid        NOT NULL,
    scope               text        NOT NULL,
    assignment_type     text        NOT NULL CHECK (assignment_type IN ('active', 'eligible')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (customer_id, identity_id)
        REFERENCES permafrost.identities (customer_id, id) ON DELETE CASCADE
);
CREATE INDEX role_assignments_identity_idx
    ON permafrost.role_assignments (customer_id, identity_id, role_name, id);

CREATE TABLE permafrost.analyzer_passes (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   uuid        NOT NULL,
    tenant_id     uuid        NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    UNIQUE (customer_id, id),
    FOREIGN KEY (customer_id, tenant_id)
        REFERENCES permafrost.tenants (customer_id, tenant_id) ON DELETE CASCADE
);

CREATE TABLE permafrost.findings (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id         uuid        NOT NULL,
    tenant_id           uuid        NOT NULL,
    identity_id         uuid,
    severity            text        NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    -- The list order ranks severities; a stored rank lets one index serve it.
    severity_rank       smallint    GENERATED ALWAYS AS (
                            CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                                          WHEN 'medium' THEN 2 ELSE 3 END) STORED,
    status              text        NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'resolved', 'suppressed')),
    finding_type        text        COLLATE "C" NOT NULL,
    title               text        NOT NULL,
    description         text,
    remediation         text,
    evidence            jsonb       NOT NULL DEFAULT '{}'::jsonb
                        CHECK (jsonb_typeof(evidence) = 'object'),
    first_seen_pass_id  uuid,
    first_seen_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at        timestamptz NOT NULL DEFAULT now(),
    resolved_at         timestamptz,
    FOREIGN KEY (customer_id, tenant_id)
        REFERENCES permafrost.tenants (customer_id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, tenant_id, identity_id)
        REFERENCES permafrost.identities (customer_id, tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, first_seen_pass_id)
        REFERENCES permafrost.analyzer_passes (customer_id, id) ON DELETE SET NULL (first_seen_pass_id)
);
CREATE INDEX findings_list_idx
    ON permafrost.findings (customer_id, severity_rank, first_seen_at DESC, id);
CREATE INDEX findings_tenant_list_idx
    ON permafrost.findings (customer_id, tenant_id, severity_rank, first_seen_at DESC, id);
CREATE INDEX findings_pass_idx ON permafrost.findings (customer_id, first_seen_pass_id);
CREATE INDEX findings_identity_idx ON permafrost.findings (customer_id, identity_id);

CREATE TABLE permafrost.role_recommendations (
    id                     uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id            uuid        NOT NULL,
    tenant_id              uuid        NOT NULL,
    identity_id            uuid        NOT NULL,
    current_role_name      text        NOT NULL,
    recommended_role_name  text        NOT NULL,
    scope                  text        NOT NULL,
    unused_permissions     text[]      NOT NULL DEFAULT '{}',
    rationale              text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (customer_id, tenant_id)
        REFERENCES permafrost.tenants (customer_id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, tenant_id, identity_id)
        REFERENCES permafrost.identities (customer_id, tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX role_recommendations_list_idx
    ON permafrost.role_recommendations (customer_id, created_at DESC, id);
CREATE INDEX role_recommendations_identity_idx
    ON permafrost.role_recommendations (customer_id, identity_id, created_at DESC, id);

CREATE TABLE permafrost.api_keys (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id   uuid        NOT NULL REFERENCES permafrost.customers (id) ON DELETE CASCADE,
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    key_hash      bytea       NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_prefix    text        NOT NULL CHECK (key_prefix ~ '^pfrost_[0-9a-f]{5}$'),
    scopes        text[]      NOT NULL
                  CHECK (cardinality(scopes) > 0
                         AND scopes <@ ARRAY['read:identities', 'read:findings',
                                             'read:roles', 'manage:webhooks']::text[]),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    expires_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_customer_idx ON permafrost.api_keys (customer_id, created_at);
