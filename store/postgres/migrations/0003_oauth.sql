-- PostgreSQL twin of sqlite/migrations/0003_oauth.sql; keep them in step.
CREATE TABLE oauth_states (
    key          TEXT PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id),
    user_id      UUID NOT NULL REFERENCES users(id),
    cloud_type   INTEGER NOT NULL,
    redirect_url TEXT NOT NULL,
    cloud_name   TEXT NOT NULL,
    shared       BOOLEAN NOT NULL DEFAULT FALSE,
    verifier     TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states(expires_at);
