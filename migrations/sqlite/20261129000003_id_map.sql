-- SQLite twin of migrations/20261129000003_id_map.sql.
-- Salla object → Odoo record, per store and entity kind. source_version is the watermark of the
-- newest Salla state applied; it never goes down (an older event cannot overwrite newer state).
CREATE TABLE id_map (
    merchant_id    INTEGER NOT NULL CHECK (merchant_id > 0),
    -- 'customer', 'product', 'variant', 'order', 'shipment', …
    entity         TEXT NOT NULL,
    salla_id       INTEGER NOT NULL,
    odoo_model     TEXT NOT NULL,
    odoo_id        INTEGER NOT NULL,
    source_version INTEGER NOT NULL,
    synced_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')) CHECK (synced_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (merchant_id, entity, salla_id)
) STRICT;

-- Reverse lookups (Odoo → Salla, e.g. stock pushed from Odoo).
CREATE INDEX id_map_by_odoo ON id_map (merchant_id, entity, odoo_id);
