-- SQLite twin of migrations/20261128000001_stores.sql (same table, columns and constraints).
-- STRICT tables; timestamps are TEXT in one fixed-width UTC form, 'YYYY-MM-DDTHH:MM:SS.ffffffZ',
-- so that comparing the text compares the instants (the CHECKs refuse any other form); the current
-- time is strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'). See crates/store/src/lib.rs.
-- One row per Salla store (merchant) that installed the app.
CREATE TABLE stores (
    merchant_id     INTEGER PRIMARY KEY CHECK (merchant_id > 0),
    -- installed: syncing; uninstalled: disconnected, purge scheduled at purge_after.
    status          TEXT NOT NULL DEFAULT 'installed' CHECK (status IN ('installed', 'uninstalled')),
    app_id          INTEGER,
    store_type      TEXT,
    installed_at    TEXT CHECK (installed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    uninstalled_at  TEXT CHECK (uninstalled_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    purge_after     TEXT CHECK (purge_after GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;

CREATE INDEX stores_purge_due ON stores (purge_after) WHERE purge_after IS NOT NULL;
