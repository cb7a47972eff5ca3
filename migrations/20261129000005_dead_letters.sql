-- The outbox: jobs that cannot succeed (invariant 2), kept whole so they can be replayed.
-- UNIQUE (job_id): dead-lettering is idempotent; a replay runs under a new job id.
CREATE TABLE dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    job_id      UUID NOT NULL UNIQUE,
    merchant_id BIGINT NOT NULL CHECK (merchant_id > 0),
    event       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    salla_id    BIGINT,
    -- The whole SyncJob as queued.
    job         JSONB NOT NULL,
    -- Every attempt: [{"attempt": n, "at": rfc3339, "error": "...", "class": "transient"}, …]
    attempts    JSONB NOT NULL DEFAULT '[]',
    -- The final error and why the job stopped.
    error       TEXT NOT NULL,
    class       TEXT NOT NULL CHECK (class IN ('permanent', 'exhausted', 'poison', 'undecodable')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set once by `dlq replay` / `dlq discard`; a dead letter is replayed or discarded at most once.
    replayed_at  TIMESTAMPTZ,
    replayed_by  TEXT,
    discarded_at TIMESTAMPTZ,
    discarded_by TEXT,
    CHECK (replayed_at IS NULL OR discarded_at IS NULL)
);

CREATE INDEX dead_letters_by_merchant ON dead_letters (merchant_id, created_at);
CREATE INDEX dead_letters_by_time ON dead_letters (created_at);
