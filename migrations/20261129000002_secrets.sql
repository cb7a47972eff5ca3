-- Merchants' secrets, encrypted at rest with AES-256-GCM (see crates/store/src/secrets.rs).
-- Only ciphertext is stored: key_id names the key that sealed the row (first 16 hex chars of the
-- SHA-256 of the key), so `salla-odoo secrets rotate` can find rows still under an older key.
-- No foreign key to `stores`: tokens can arrive (app.store.authorize) before or after the store row.
CREATE TABLE secrets (
    merchant_id BIGINT NOT NULL CHECK (merchant_id > 0),
    -- 'odoo_api_key', 'salla_access_token', 'salla_refresh_token', …
    name        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    nonce       BYTEA NOT NULL CHECK (octet_length(nonce) = 12),
    ciphertext  BYTEA NOT NULL,
    -- Absolute expiry of a token (Salla's `expires` is a Unix timestamp); NULL = does not expire.
    expires_at  TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, name)
);

CREATE INDEX secrets_key_id ON secrets (key_id);
