-- PostgreSQL twin of the SQLite schema; keep them in step.
CREATE TABLE tenants (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id),
    username      TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL DEFAULT '',
    role          INTEGER NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);

-- access_key, secret_key and credentials_data hold sealed values only.
CREATE TABLE cloud_accounts (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants(id),
    user_id          UUID NOT NULL REFERENCES users(id),
    cloud_type       INTEGER NOT NULL,
    name             TEXT NOT NULL,
    region           TEXT NOT NULL DEFAULT '',
    endpoint         TEXT NOT NULL DEFAULT '',
    service_url      TEXT NOT NULL DEFAULT '',
    access_key       TEXT NOT NULL DEFAULT '',
    secret_key       TEXT NOT NULL DEFAULT '',
    credentials_data TEXT NOT NULL DEFAULT '',
    shared           BOOLEAN NOT NULL DEFAULT FALSE,
    active           BOOLEAN NOT NULL DEFAULT TRUE,
    internal_storage BOOLEAN NOT NULL DEFAULT FALSE,
    storage_tier     INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    deleted_at       TIMESTAMPTZ
);
CREATE INDEX cloud_accounts_live ON cloud_accounts(tenant_id, user_id) WHERE deleted_at IS NULL;
