-- SQLite twin of migrations/20261217000001_order_intents.sql.
-- Orders the connector is about to create are recorded first (id map entity 'order_intent'), so a
-- new order needs no search of its marker in Odoo. That holds only for orders dated from when
-- every create was recorded: a store's orders from before (an earlier version's creates, one in
-- flight during the upgrade, or a store purged and added again over the same Odoo) are still
-- searched. NULL: the store's created_at (a store added after this migration). The stores that
-- exist now record their intents from an hour after the upgrade (a rolling upgrade's old workers
-- are gone by then).
ALTER TABLE stores ADD COLUMN order_intents_since TEXT
    CHECK (order_intents_since IS NULL OR order_intents_since GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z');
UPDATE stores SET order_intents_since = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '+1 hour');
