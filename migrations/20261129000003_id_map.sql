-- Salla object → Odoo record, per store and entity kind. source_version is the watermark of the
-- newest Salla state applied; it never goes down (an older event cannot overwrite newer state).
CREATE TABLE id_map (
    merchant_id    BIGINT NOT NULL CHECK (merchant_id > 0),
    -- 'customer', 'product', 'variant', 'order', 'shipment', …
    entity         TEXT NOT NULL,
    salla_id       BIGINT NOT NULL,
    odoo_model     TEXT NOT NULL,
    odoo_id        BIGINT NOT NULL,
    source_version BIGINT NOT NULL,
    synced_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, entity, salla_id)
);

-- Reverse lookups (Odoo → Salla, e.g. stock pushed from Odoo).
CREATE INDEX id_map_by_odoo ON id_map (merchant_id, entity, odoo_id);
