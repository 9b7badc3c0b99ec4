-- PostgreSQL twin of the SQLite transfer tables; keep them in step.
-- record is the job as JSON without parts and without the items' progress;
-- progress and parts have rows of their own, so the engine's per-item and
-- per-part writes touch one small row, never the whole plan.
-- tenant_id and user_id are the job's owner for the HTTP layer's listings;
-- the journal itself leaves them NULL. Job ids are the engine's, not
-- necessarily UUIDs, hence TEXT.
CREATE TABLE transfers (
    id         TEXT PRIMARY KEY,
    tenant_id  UUID REFERENCES tenants(id),
    user_id    UUID REFERENCES users(id),
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL,
    error      TEXT NOT NULL DEFAULT '',
    record     JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX transfers_owner ON transfers(tenant_id, user_id);

CREATE TABLE transfer_items (
    transfer_id TEXT NOT NULL REFERENCES transfers(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    upload_id   TEXT NOT NULL DEFAULT '',
    done        BOOLEAN NOT NULL DEFAULT FALSE,
    verified    BOOLEAN NOT NULL DEFAULT FALSE,
    failed      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (transfer_id, idx)
);

CREATE TABLE transfer_parts (
    transfer_id TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    number      INTEGER NOT NULL,
    size        BIGINT NOT NULL,
    etag        TEXT NOT NULL DEFAULT '',
    md5         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (transfer_id, idx, number),
    FOREIGN KEY (transfer_id, idx) REFERENCES transfer_items(transfer_id, idx) ON DELETE CASCADE
);
