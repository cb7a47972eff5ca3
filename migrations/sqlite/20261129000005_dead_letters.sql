-- SQLite twin of migrations/20261129000005_dead_letters.sql.
-- The outbox: jobs that cannot succeed (invariant 2), kept whole so they can be replayed.
-- UNIQUE (job_id): dead-lettering is idempotent; a replay runs under a new job id.
CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      BLOB NOT NULL UNIQUE CHECK (length(job_id) = 16),
    merchant_id INTEGER NOT NULL CHECK (merchant_id > 0),
    event       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    salla_id    INTEGER,
    -- The whole SyncJob as queued.
    job         TEXT NOT NULL CHECK (json_valid(job)),
    -- Every attempt: [{"attempt": n, "at": rfc3339, "error": "...", "class": "transient"}, …]
    attempts    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(attempts)),
    -- The final error and why the job stopped.
    error       TEXT NOT NULL,
    class       TEXT NOT NULL CHECK (class IN ('permanent', 'exhausted', 'poison', 'undecodable')),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')) CHECK (created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    -- Set once by `dlq replay` / `dlq discard`; a dead letter is replayed or discarded at most once.
    replayed_at  TEXT CHECK (replayed_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    replayed_by  TEXT,
    discarded_at TEXT CHECK (discarded_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'),
    discarded_by TEXT,
    CHECK (replayed_at IS NULL OR discarded_at IS NULL)
) STRICT;

CREATE INDEX dead_letters_by_merchant ON dead_letters (merchant_id, created_at);
CREATE INDEX dead_letters_by_time ON dead_letters (created_at);
