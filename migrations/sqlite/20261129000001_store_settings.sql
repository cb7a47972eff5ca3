-- SQLite twin of migrations/20261129000001_store_settings.sql.
-- Per-store sync settings: the Odoo connection (the API key itself lives encrypted in `secrets`,
-- name 'odoo_api_key'), the Odoo records to use, and the store's sync options.
-- A NULL status_map means "the documented default map" (StatusMap::default() in core).
-- Booleans are INTEGER 0/1; JSON is TEXT that must be valid JSON.
ALTER TABLE stores ADD COLUMN odoo_url              TEXT;
ALTER TABLE stores ADD COLUMN odoo_database         TEXT;
ALTER TABLE stores ADD COLUMN odoo_login            TEXT;
ALTER TABLE stores ADD COLUMN odoo_version_override INTEGER CHECK (odoo_version_override BETWEEN 16 AND 99);
ALTER TABLE stores ADD COLUMN warehouse_id          INTEGER;
ALTER TABLE stores ADD COLUMN pricelist_id          INTEGER;
ALTER TABLE stores ADD COLUMN currency              TEXT;
ALTER TABLE stores ADD COLUMN tax_id                INTEGER;
ALTER TABLE stores ADD COLUMN prices_include_tax    INTEGER NOT NULL DEFAULT 1 CHECK (prices_include_tax IN (0, 1));
ALTER TABLE stores ADD COLUMN status_map            TEXT CHECK (json_valid(status_map));
ALTER TABLE stores ADD COLUMN create_unknown_skus   INTEGER NOT NULL DEFAULT 0 CHECK (create_unknown_skus IN (0, 1));
ALTER TABLE stores ADD COLUMN stock_master          TEXT NOT NULL DEFAULT 'odoo' CHECK (stock_master IN ('odoo', 'salla'));
