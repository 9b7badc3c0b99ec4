-- Amove-managed storage (issue 17): the family that provisioned an account
-- and the backend's id of its storage, so the agent can measure and
-- decommission it; empty on every other account.
ALTER TABLE cloud_accounts ADD COLUMN managed_family TEXT NOT NULL DEFAULT '';
ALTER TABLE cloud_accounts ADD COLUMN managed_id TEXT NOT NULL DEFAULT '';
-- What each managed storage held, sampled on an interval: daily usage is the
-- maximum over the last 24 hours, usage the latest sample.
CREATE TABLE usage_samples (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    account_id TEXT NOT NULL REFERENCES cloud_accounts(id),
    tier       INTEGER NOT NULL,
    bytes      BIGINT NOT NULL,
    objects    BIGINT NOT NULL,
    sampled_at TEXT NOT NULL
);
CREATE INDEX usage_samples_tenant ON usage_samples(tenant_id, sampled_at);
CREATE INDEX usage_samples_account ON usage_samples(account_id, sampled_at);
