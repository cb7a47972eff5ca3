-- One row per Salla store (merchant) that installed the app.
-- Later migrations add the Odoo connection, encrypted tokens, id map, sync log and outbox.
CREATE TABLE stores (
    merchant_id     BIGINT PRIMARY KEY CHECK (merchant_id > 0),
    -- installed: syncing; uninstalled: disconnected, purge scheduled at purge_after.
    status          TEXT NOT NULL DEFAULT 'installed' CHECK (status IN ('installed', 'uninstalled')),
    app_id          BIGINT,
    store_type      TEXT,
    installed_at    TIMESTAMPTZ,
    uninstalled_at  TIMESTAMPTZ,
    purge_after     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX stores_purge_due ON stores (purge_after) WHERE purge_after IS NOT NULL;
