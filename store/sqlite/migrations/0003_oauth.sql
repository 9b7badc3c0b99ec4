-- Pending OAuth authorizations (single use: taken with DELETE ... RETURNING).
-- key is a digest of the state parameter; verifier is sealed.
CREATE TABLE oauth_states (
    key          TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    user_id      TEXT NOT NULL REFERENCES users(id),
    cloud_type   INTEGER NOT NULL,
    redirect_url TEXT NOT NULL,
    cloud_name   TEXT NOT NULL,
    shared       INTEGER NOT NULL DEFAULT 0,
    verifier     TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states(expires_at);
