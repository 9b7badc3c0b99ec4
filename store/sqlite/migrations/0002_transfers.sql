-- Transfer jobs: the store as transfer.Journal (docs/store-journal.md).
-- record is the job as JSON without parts and without the items' progress;
-- progress and parts have rows of their own, so the engine's per-item and
-- per-part writes touch one small row, never the whole plan.
-- tenant_id and user_id are the job's owner for the HTTP layer's listings;
-- the journal itself leaves them NULL.
CREATE TABLE transfers (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT REFERENCES tenants(id),
    user_id    TEXT REFERENCES users(id),
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL,
    error      TEXT NOT NULL DEFAULT '',
    record     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX transfers_owner ON transfers(tenant_id, user_id);

CREATE TABLE transfer_items (
    transfer_id TEXT NOT NULL REFERENCES transfers(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    upload_id   TEXT NOT NULL DEFAULT '',
    done        INTEGER NOT NULL DEFAULT 0,
    verified    INTEGER NOT NULL DEFAULT 0,
    failed      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (transfer_id, idx)
) WITHOUT ROWID;

CREATE TABLE transfer_parts (
    transfer_id TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    number      INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    etag        TEXT NOT NULL DEFAULT '',
    md5         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (transfer_id, idx, number),
    FOREIGN KEY (transfer_id, idx) REFERENCES transfer_items(transfer_id, idx) ON DELETE CASCADE
) WITHOUT ROWID;
