-- SQLite twin of migrations/20261129000006_dead_letters_unknown_merchant.sql.
-- A job that cannot be decoded may not say which merchant it belongs to: it is dead-lettered
-- with merchant_id 0 ("unknown merchant") instead of staying in the queue forever.
-- SQLite cannot change a CHECK constraint: the table is rebuilt with the new one (ids and the
-- AUTOINCREMENT counter kept), then renamed.
CREATE TABLE dead_letters_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      BLOB NOT NULL UNIQUE CHECK (length(job_id) = 16),
    merchant_id INTEGER NOT NULL CHECK (merchant_id >= 0),
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

INSERT INTO dead_letters_new (id, job_id, merchant_id, event, kind, salla_id, job, attempts, error, class, created_at,
    replayed_at, replayed_by, discarded_at, discarded_by)
SELECT id, job_id, merchant_id, event, kind, salla_id, job, attempts, error, class, created_at,
    replayed_at, replayed_by, discarded_at, discarded_by
FROM dead_letters;
-- The id counter too, so that an id deleted before this migration is never handed out again.
DELETE FROM sqlite_sequence WHERE name = 'dead_letters_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'dead_letters_new', seq FROM sqlite_sequence WHERE name = 'dead_letters';

DROP TABLE dead_letters;
ALTER TABLE dead_letters_new RENAME TO dead_letters;

CREATE INDEX dead_letters_by_merchant ON dead_letters (merchant_id, created_at);
CREATE INDEX dead_letters_by_time ON dead_letters (created_at);
