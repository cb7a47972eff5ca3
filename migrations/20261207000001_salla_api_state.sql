-- The store's Salla Merchant API state (the tokens themselves stay encrypted in `secrets`).
-- salla_api_state: 'ok' while the tokens work; 'needs_reinstall' once they cannot (refresh refused
-- with invalid_grant, a refresh answer lost, the app uninstalled): API work stops, webhooks still
-- sync, until a new app.store.authorize clears it. NULL: no tokens received yet.
ALTER TABLE stores ADD COLUMN salla_api_state TEXT CHECK (salla_api_state IN ('ok', 'needs_reinstall'));
ALTER TABLE stores ADD COLUMN salla_api_reason TEXT;
ALTER TABLE stores ADD COLUMN salla_api_state_at TIMESTAMPTZ;
-- The scopes granted with the current tokens (space-separated, as Salla sends them).
ALTER TABLE stores ADD COLUMN salla_scope TEXT;
-- When the connector last refreshed the tokens itself (NULL: never; they came from a webhook).
ALTER TABLE stores ADD COLUMN salla_refreshed_at TIMESTAMPTZ;
