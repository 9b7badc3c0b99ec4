-- Times are UTC text in a fixed-width RFC 3339 form so they sort as text.
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    username      TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL DEFAULT '',
    role          INTEGER NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);

-- access_key, secret_key and credentials_data hold sealed values only.
CREATE TABLE cloud_accounts (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    user_id          TEXT NOT NULL REFERENCES users(id),
    cloud_type       INTEGER NOT NULL,
    name             TEXT NOT NULL,
    region           TEXT NOT NULL DEFAULT '',
    endpoint         TEXT NOT NULL DEFAULT '',
    service_url      TEXT NOT NULL DEFAULT '',
    access_key       TEXT NOT NULL DEFAULT '',
    secret_key       TEXT NOT NULL DEFAULT '',
    credentials_data TEXT NOT NULL DEFAULT '',
    shared           INTEGER NOT NULL DEFAULT 0,
    active           INTEGER NOT NULL DEFAULT 1,
    internal_storage INTEGER NOT NULL DEFAULT 0,
    storage_tier     INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    deleted_at       TEXT
);
CREATE INDEX cloud_accounts_live ON cloud_accounts(tenant_id, user_id) WHERE deleted_at IS NULL;
