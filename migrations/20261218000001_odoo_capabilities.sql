-- What a store's Odoo supports (the odoo crate's Capabilities: version, transport, renamed field
-- names), as the last client that probed it found, and when: the next worker seeds its client with
-- them instead of probing again (five fields_get) while they are younger than
-- odoo.capabilities_ttl_secs and the server's version is theirs. NULL: unknown (never probed, the
-- store's Odoo connection changed, or a call named a field Odoo does not have).
ALTER TABLE stores
    ADD COLUMN odoo_capabilities    JSONB,
    ADD COLUMN odoo_capabilities_at TIMESTAMPTZ;
