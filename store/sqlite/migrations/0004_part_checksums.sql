-- Parts carry typed checksums ("algorithm:hex"): the digest the provider
-- checked (checksum) and the engine's own digest for whole-object checks
-- (sum). The md5 column is no longer written.
ALTER TABLE transfer_parts ADD COLUMN checksum TEXT NOT NULL DEFAULT '';
ALTER TABLE transfer_parts ADD COLUMN sum TEXT NOT NULL DEFAULT '';
