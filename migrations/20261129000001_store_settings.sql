-- Per-store sync settings: the Odoo connection (the API key itself lives encrypted in `secrets`,
-- name 'odoo_api_key'), the Odoo records to use, and the store's sync options.
-- A NULL status_map means "the documented default map" (StatusMap::default() in core).
ALTER TABLE stores
    ADD COLUMN odoo_url              TEXT,
    ADD COLUMN odoo_database         TEXT,
    ADD COLUMN odoo_login            TEXT,
    ADD COLUMN odoo_version_override SMALLINT CHECK (odoo_version_override BETWEEN 16 AND 99),
    ADD COLUMN warehouse_id          BIGINT,
    ADD COLUMN pricelist_id          BIGINT,
    ADD COLUMN currency              TEXT,
    ADD COLUMN tax_id                BIGINT,
    ADD COLUMN prices_include_tax    BOOLEAN NOT NULL DEFAULT true,
    ADD COLUMN status_map            JSONB,
    ADD COLUMN create_unknown_skus   BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN stock_master          TEXT NOT NULL DEFAULT 'odoo' CHECK (stock_master IN ('odoo', 'salla'));
