-- SQLite twin of migrations/20261215000001_reconcile_products_customers.sql.
-- Reconciliation of products and customers, per store, apart from the orders' watermark. Salla's
-- product and customer lists cannot be sorted or filtered by update, so each is reconciled by
-- passes over the whole list, a bounded number of pages per run:
-- *_watermark: when the last complete pass began (every product / customer Salla changed before
--   then has been checked against the id map and, where Odoo lacked it or had an older version,
--   queued); it only moves forward, when a pass ends.
-- *_reconciled_at: when the last run of the pass ended.
-- *_next_page: the page the unfinished pass resumes at (NULL: the next run starts a new pass).
-- *_pass_started: when the unfinished pass began (NULL with *_next_page).
ALTER TABLE stores ADD COLUMN products_watermark TEXT;
ALTER TABLE stores ADD COLUMN products_reconciled_at TEXT;
ALTER TABLE stores ADD COLUMN products_next_page INTEGER;
ALTER TABLE stores ADD COLUMN products_pass_started TEXT;
ALTER TABLE stores ADD COLUMN customers_watermark TEXT;
ALTER TABLE stores ADD COLUMN customers_reconciled_at TEXT;
ALTER TABLE stores ADD COLUMN customers_next_page INTEGER;
ALTER TABLE stores ADD COLUMN customers_pass_started TEXT;
