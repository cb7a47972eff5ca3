-- SQLite twin of migrations/20261129000002_secrets.sql.
-- Merchants' secrets, encrypted at rest with AES-256-GCM (see crates/store/src/secrets.rs).
-- Only ciphertext is stored: key_id names the key that sealed the row (first 16 hex chars of the
-- SHA-256 of the key), so `salla-odoo secrets rotate` can find rows still under an older key.
-- No foreign key to `stores`: tokens can arrive (app.store.authorize) before or after the store row.
CREATE TABLE secrets (
    merchant_id INTEGER NOT NULL CHECK (merchant_id > 0),
    -- 'odoo_api_key', 'salla_access_token', 'salla_refresh_token', …
    name        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    nonce       BLOB NOT NULL CHECK (length(nonce) = 12),
    ciphertext  BLOB NOT NULL,
    -- Absolute expiry of a token (Salla's `expires` is a Unix timestamp); NULL = does not expire.
    expires_at  TEXT CHECK (expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')) CHECK (updated_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    PRIMARY KEY (merchant_id, name)
) STRICT;

CREATE INDEX secrets_key_id ON secrets (key_id);
