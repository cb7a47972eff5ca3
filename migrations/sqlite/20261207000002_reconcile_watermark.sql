-- SQLite twin of migrations/20261207000002_reconcile_watermark.sql.
-- Reconciliation: every order Salla changed up to reconcile_watermark (Salla's updated_at, the
-- instant) has been checked and, when Odoo lacked it or had an older version, queued. It advances
-- only after a run's jobs are queued. reconciled_at: when the last run ended.
ALTER TABLE stores ADD COLUMN reconcile_watermark TEXT;
ALTER TABLE stores ADD COLUMN reconciled_at TEXT;
