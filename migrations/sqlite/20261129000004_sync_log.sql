-- SQLite twin of migrations/20261129000004_sync_log.sql.
-- One row per job outcome (invariant 2). UNIQUE (job_id): a job re-run after a crash cannot record
-- a second outcome. A replayed dead letter runs under a new job id.
-- AUTOINCREMENT: ids are never reused, like a Postgres sequence. job_id is the UUID's 16 bytes.
CREATE TABLE sync_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      BLOB NOT NULL UNIQUE CHECK (length(job_id) = 16),
    merchant_id INTEGER NOT NULL CHECK (merchant_id > 0),
    event       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    -- The entity the job changed, e.g. 'order:123', when known.
    entity      TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('applied', 'skipped', 'dead_lettered', 'dropped')),
    -- Why it was skipped, dropped or dead-lettered; what differed when an order was locked in Odoo.
    reason      TEXT,
    attempt     INTEGER NOT NULL CHECK (attempt >= 0 AND attempt <= 2147483647),
    duration_ms INTEGER NOT NULL,
    -- The Odoo records the job touched, e.g. {"sale.order": [12], "res.partner": [7]}.
    odoo_ids    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(odoo_ids)),
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')) CHECK (recorded_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z')
) STRICT;

CREATE INDEX sync_log_by_merchant ON sync_log (merchant_id, recorded_at);
-- Retention deletes by age.
CREATE INDEX sync_log_by_time ON sync_log (recorded_at);
