-- driver is the registry name of the account's driver (provider.Register)
-- when it is not the cloud type's own: an account of a third-party driver
-- has cloud_type 0 (or a product type it stands in for) and the name here.
-- Empty means cloud_type names the driver, as for every earlier row.
ALTER TABLE cloud_accounts ADD COLUMN driver TEXT NOT NULL DEFAULT '';
