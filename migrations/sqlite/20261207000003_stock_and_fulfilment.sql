-- SQLite twin of migrations/20261207000003_stock_and_fulfilment.sql.
-- Odoo → Salla: the stock push and the fulfilment report, per store.
-- stock_quantity: what Salla shows of Odoo's stock: 'available' (on hand less reserved, never
-- negative) or 'on_hand'.
ALTER TABLE stores ADD COLUMN stock_quantity TEXT NOT NULL DEFAULT 'available'
    CHECK (stock_quantity IN ('available', 'on_hand'));
-- The Salla status slug a validated Odoo delivery moves the order to; NULL: not reported.
ALTER TABLE stores ADD COLUMN fulfilment_status TEXT DEFAULT 'delivered';
-- Odoo write_date (its own text form, UTC) up to which stock changes were pushed / deliveries
-- reported; they advance only after Salla took the push / the status.
ALTER TABLE stores ADD COLUMN stock_watermark TEXT;
ALTER TABLE stores ADD COLUMN fulfilment_watermark TEXT;
