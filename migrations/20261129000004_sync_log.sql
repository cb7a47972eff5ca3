-- One row per job outcome (invariant 2). UNIQUE (job_id): a job re-run after a crash cannot record
-- a second outcome. A replayed dead letter runs under a new job id.
CREATE TABLE sync_log (
    id          BIGSERIAL PRIMARY KEY,
    job_id      UUID NOT NULL UNIQUE,
    merchant_id BIGINT NOT NULL CHECK (merchant_id > 0),
    event       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    -- The entity the job changed, e.g. 'order:123', when known.
    entity      TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('applied', 'skipped', 'dead_lettered', 'dropped')),
    -- Why it was skipped, dropped or dead-lettered; what differed when an order was locked in Odoo.
    reason      TEXT,
    attempt     INTEGER NOT NULL CHECK (attempt >= 0),
    duration_ms BIGINT NOT NULL,
    -- The Odoo records the job touched, e.g. {"sale.order": [12], "res.partner": [7]}.
    odoo_ids    JSONB NOT NULL DEFAULT '[]',
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX sync_log_by_merchant ON sync_log (merchant_id, recorded_at);
-- Retention deletes by age.
CREATE INDEX sync_log_by_time ON sync_log (recorded_at);
