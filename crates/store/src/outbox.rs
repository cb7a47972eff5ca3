//! The outbox: dead-lettered jobs, kept whole so an operator can see why and put them back.
//!
//! # Data layout
//! Table `dead_letters`: `id` (BIGSERIAL, what operators type), `job_id` (UNIQUE), `merchant_id`,
//! (0 for an undecodable job that names no merchant), `event`, `kind`, `salla_id`, `job` (JSON:
//! the whole `SyncJob` as queued), `attempts` (JSON array of `{attempt, at, error, class}`), `error` (the final error), `class` (`permanent` |
//! `exhausted` | `poison` | `undecodable`), `created_at`, and the one-time marks `replayed_at`/
//! `replayed_by` and `discarded_at`/`discarded_by` (never both). Indexed by merchant and time and
//! by time alone (retention).
//!
//! # Failure handling
//! [`insert`] is `ON CONFLICT (job_id) DO NOTHING`: a worker that crashes after dead-lettering and
//! runs the job again cannot create a second row (it gets `None`). [`mark_replayed`] and
//! [`mark_discarded`] are conditional updates that succeed once: of two operators replaying the same
//! dead letter, one gets `true` and requeues, the other gets `false` and does nothing. A replay
//! requeues under a new job id (`sync_log` keeps one outcome per job id).

use salla_odoo_core::MerchantId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    Backend, Db, StoreError, Timestamp, db_id, db_id_or_unknown, db_salla_id, from_db_id, ts,
};

/// Allowed values of `class`.
pub const CLASSES: [&str; 4] = ["permanent", "exhausted", "poison", "undecodable"];

/// A job to dead-letter.
#[derive(Debug, Clone)]
pub struct NewDeadLetter {
    pub job_id: Uuid,
    /// `MerchantId::new(0)` when the job is undecodable and names no merchant.
    pub merchant: MerchantId,
    pub event: String,
    pub kind: String,
    pub salla_id: Option<u64>,
    pub job: serde_json::Value,
    pub attempts: serde_json::Value,
    pub error: String,
    /// One of [`CLASSES`].
    pub class: String,
}

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub job_id: Uuid,
    pub merchant: MerchantId,
    pub event: String,
    pub kind: String,
    pub salla_id: Option<u64>,
    pub job: serde_json::Value,
    pub attempts: serde_json::Value,
    pub error: String,
    pub class: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub replayed_at: Option<OffsetDateTime>,
    pub replayed_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub discarded_at: Option<OffsetDateTime>,
    pub discarded_by: Option<String>,
}

impl DeadLetter {
    /// Neither replayed nor discarded.
    pub fn is_pending(&self) -> bool {
        self.replayed_at.is_none() && self.discarded_at.is_none()
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    job_id: Uuid,
    merchant_id: i64,
    event: String,
    kind: String,
    salla_id: Option<i64>,
    job: sqlx::types::Json<serde_json::Value>,
    attempts: sqlx::types::Json<serde_json::Value>,
    error: String,
    class: String,
    created_at: OffsetDateTime,
    replayed_at: Option<OffsetDateTime>,
    replayed_by: Option<String>,
    discarded_at: Option<OffsetDateTime>,
    discarded_by: Option<String>,
}

impl From<Row> for DeadLetter {
    fn from(r: Row) -> Self {
        DeadLetter {
            id: r.id,
            job_id: r.job_id,
            merchant: MerchantId::new(from_db_id(r.merchant_id)),
            event: r.event,
            kind: r.kind,
            salla_id: r.salla_id.map(from_db_id),
            job: r.job.0,
            attempts: r.attempts.0,
            error: r.error,
            class: r.class,
            created_at: r.created_at,
            replayed_at: r.replayed_at,
            replayed_by: r.replayed_by,
            discarded_at: r.discarded_at,
            discarded_by: r.discarded_by,
        }
    }
}

const COLUMNS: &str = "id, job_id, merchant_id, event, kind, salla_id, job, attempts, error, class, \
     created_at, replayed_at, replayed_by, discarded_at, discarded_by";

/// Dead-letter a job; its id, or `None` when that job is already dead-lettered.
pub async fn insert(db: &Db, letter: &NewDeadLetter) -> Result<Option<i64>, StoreError> {
    if !CLASSES.contains(&letter.class.as_str()) {
        return Err(StoreError::Invalid(format!(
            "dead-letter class {:?} is not one of {}",
            letter.class,
            CLASSES.join(", ")
        )));
    }
    let salla_id = letter.salla_id.map(db_salla_id).transpose()?;
    let merchant_id = db_id_or_unknown(letter.merchant)?;
    Ok(on_db!(db, pool => {
        sqlx::query_scalar(
            "INSERT INTO dead_letters
                (job_id, merchant_id, event, kind, salla_id, job, attempts, error, class)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (job_id) DO NOTHING
             RETURNING id",
        )
        .bind(letter.job_id)
        .bind(merchant_id)
        .bind(&letter.event)
        .bind(&letter.kind)
        .bind(salla_id)
        .bind(sqlx::types::Json(&letter.job))
        .bind(sqlx::types::Json(&letter.attempts))
        .bind(&letter.error)
        .bind(&letter.class)
        .fetch_optional(pool)
        .await?
    }))
}

/// One dead letter by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<DeadLetter>, StoreError> {
    let row: Option<Row> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM dead_letters WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(DeadLetter::from))
}

/// The dead letter of a job, if it was dead-lettered.
pub async fn get_by_job(db: &Db, job_id: Uuid) -> Result<Option<DeadLetter>, StoreError> {
    let row: Option<Row> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM dead_letters WHERE job_id = $1"
        )))
        .bind(job_id)
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(DeadLetter::from))
}

/// Which dead letters [`list`] returns; every `None` matches all. Newest first.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    pub merchant: Option<MerchantId>,
    pub event: Option<String>,
    pub kind: Option<String>,
    /// Case-insensitive substring of the final error.
    pub error_contains: Option<String>,
    pub class: Option<String>,
    /// Created at or after.
    pub since: Option<OffsetDateTime>,
    /// Created before.
    pub until: Option<OffsetDateTime>,
    /// Also list replayed and discarded ones (by default only pending ones).
    pub include_replayed: bool,
    /// At most this many (default 100).
    pub limit: Option<i64>,
}

/// Default page size of [`list`].
pub const DEFAULT_LIMIT: i64 = 100;

/// Dead letters matching `filter`, newest first.
pub async fn list(db: &Db, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, StoreError> {
    let merchant = filter.merchant.map(db_id_or_unknown).transpose()?;
    // Postgres needs the parameters' types spelled out where a NULL is tested; SQLite has no
    // `::` casts (and needs none) and spells `strpos` `instr`.
    let sql = match db.backend() {
        Backend::Postgres => format!(
            "SELECT {COLUMNS} FROM dead_letters
             WHERE ($1::BIGINT IS NULL OR merchant_id = $1)
               AND ($2::TEXT IS NULL OR event = $2)
               AND ($3::TEXT IS NULL OR kind = $3)
               AND ($4::TEXT IS NULL OR strpos(lower(error), lower($4)) > 0)
               AND ($5::TEXT IS NULL OR class = $5)
               AND ($6::TIMESTAMPTZ IS NULL OR created_at >= $6)
               AND ($7::TIMESTAMPTZ IS NULL OR created_at < $7)
               AND ($8 OR (replayed_at IS NULL AND discarded_at IS NULL))
             ORDER BY created_at DESC, id DESC
             LIMIT $9"
        ),
        Backend::Sqlite => format!(
            "SELECT {COLUMNS} FROM dead_letters
             WHERE ($1 IS NULL OR merchant_id = $1)
               AND ($2 IS NULL OR event = $2)
               AND ($3 IS NULL OR kind = $3)
               AND ($4 IS NULL OR instr(lower(error), lower($4)) > 0)
               AND ($5 IS NULL OR class = $5)
               AND ($6 IS NULL OR created_at >= $6)
               AND ($7 IS NULL OR created_at < $7)
               AND ($8 OR (replayed_at IS NULL AND discarded_at IS NULL))
             ORDER BY created_at DESC, id DESC
             LIMIT $9"
        ),
    };
    let rows: Vec<Row> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(merchant)
            .bind(filter.event.as_deref())
            .bind(filter.kind.as_deref())
            .bind(filter.error_contains.as_deref())
            .bind(filter.class.as_deref())
            .bind(ts(filter.since))
            .bind(ts(filter.until))
            .bind(filter.include_replayed)
            .bind(filter.limit.unwrap_or(DEFAULT_LIMIT).max(0))
            .fetch_all(pool)
            .await?
    });
    Ok(rows.into_iter().map(DeadLetter::from).collect())
}

/// Pending dead letters (neither replayed nor discarded), counted several ways.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetterStats {
    pub pending: i64,
    pub replayed: i64,
    pub discarded: i64,
    /// Pending, by merchant id (as text, for JSON object keys).
    pub by_store: std::collections::BTreeMap<String, i64>,
    pub by_event: std::collections::BTreeMap<String, i64>,
    pub by_class: std::collections::BTreeMap<String, i64>,
    /// Pending, by age: `<1h`, `<1d`, `<7d`, `>=7d`.
    pub by_age: std::collections::BTreeMap<String, i64>,
}

/// `dlq stats` in one statement (Postgres).
const STATS_POSTGRES: &str = "WITH d AS (
            SELECT *, replayed_at IS NULL AND discarded_at IS NULL AS pending FROM dead_letters
         )
         SELECT 'state', CASE WHEN pending THEN 'pending'
                              WHEN replayed_at IS NOT NULL THEN 'replayed'
                              ELSE 'discarded' END, count(*) FROM d GROUP BY 2
         UNION ALL SELECT 'store', merchant_id::text, count(*) FROM d WHERE pending GROUP BY 2
         UNION ALL SELECT 'event', event, count(*) FROM d WHERE pending GROUP BY 2
         UNION ALL SELECT 'class', class, count(*) FROM d WHERE pending GROUP BY 2
         UNION ALL SELECT 'age', CASE WHEN created_at > now() - interval '1 hour' THEN '<1h'
                                      WHEN created_at > now() - interval '1 day' THEN '<1d'
                                      WHEN created_at > now() - interval '7 days' THEN '<7d'
                                      ELSE '>=7d' END, count(*) FROM d WHERE pending GROUP BY 2";

/// [`STATS_POSTGRES`] for SQLite: the ages compare the stored text with the same text form of
/// "now minus the period".
const STATS_SQLITE: &str = "WITH d AS (
            SELECT *, replayed_at IS NULL AND discarded_at IS NULL AS pending FROM dead_letters
         )
         SELECT 'state', CASE WHEN pending THEN 'pending'
                              WHEN replayed_at IS NOT NULL THEN 'replayed'
                              ELSE 'discarded' END, count(*) FROM d GROUP BY 2
         UNION ALL SELECT 'store', CAST(merchant_id AS TEXT), count(*) FROM d WHERE pending GROUP BY 2
         UNION ALL SELECT 'event', event, count(*) FROM d WHERE pending GROUP BY 2
         UNION ALL SELECT 'class', class, count(*) FROM d WHERE pending GROUP BY 2
         UNION ALL SELECT 'age',
             CASE WHEN created_at > strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-1 hour') THEN '<1h'
                  WHEN created_at > strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-1 day') THEN '<1d'
                  WHEN created_at > strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-7 days') THEN '<7d'
                  ELSE '>=7d' END, count(*) FROM d WHERE pending GROUP BY 2";

/// Counts for `dlq stats`.
pub async fn stats(db: &Db) -> Result<DeadLetterStats, StoreError> {
    let sql = match db.backend() {
        Backend::Postgres => STATS_POSTGRES,
        Backend::Sqlite => STATS_SQLITE,
    };
    let rows: Vec<(String, String, i64)> = on_db!(db, pool => {
        sqlx::query_as(sql).fetch_all(pool).await?
    });
    let mut stats = DeadLetterStats::default();
    for (group, key, n) in rows {
        match group.as_str() {
            "state" => match key.as_str() {
                "pending" => stats.pending = n,
                "replayed" => stats.replayed = n,
                _ => stats.discarded = n,
            },
            "store" => {
                stats.by_store.insert(key, n);
            }
            "event" => {
                stats.by_event.insert(key, n);
            }
            "class" => {
                stats.by_class.insert(key, n);
            }
            _ => {
                stats.by_age.insert(key, n);
            }
        }
    }
    Ok(stats)
}

/// Mark a dead letter replayed by `by`: `true` the first time, `false` if it was already
/// replayed or discarded (or does not exist). Call it before requeueing, and requeue only on
/// `true`.
pub async fn mark_replayed(db: &Db, id: i64, by: &str) -> Result<bool, StoreError> {
    let sql = db.with_now(
        "UPDATE dead_letters SET replayed_at = now(), replayed_by = $2
         WHERE id = $1 AND replayed_at IS NULL AND discarded_at IS NULL",
    );
    let updated = on_db!(db, pool => {
        sqlx::query(sql).bind(id).bind(by).execute(pool).await?.rows_affected()
    });
    Ok(updated == 1)
}

/// Mark a dead letter discarded by `by`: `true` the first time, `false` if it was already
/// replayed or discarded (or does not exist).
pub async fn mark_discarded(db: &Db, id: i64, by: &str) -> Result<bool, StoreError> {
    let sql = db.with_now(
        "UPDATE dead_letters SET discarded_at = now(), discarded_by = $2
         WHERE id = $1 AND replayed_at IS NULL AND discarded_at IS NULL",
    );
    let updated = on_db!(db, pool => {
        sqlx::query(sql).bind(id).bind(by).execute(pool).await?.rows_affected()
    });
    Ok(updated == 1)
}

/// Undo a [`mark_replayed`] whose requeue failed, so the dead letter can be replayed again.
pub async fn unmark_replayed(db: &Db, id: i64, by: &str) -> Result<bool, StoreError> {
    let updated = on_db!(db, pool => {
        sqlx::query(
            "UPDATE dead_letters SET replayed_at = NULL, replayed_by = NULL
             WHERE id = $1 AND replayed_by = $2 AND replayed_at IS NOT NULL",
        )
        .bind(id)
        .bind(by)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(updated == 1)
}

/// Delete dead letters created before `cutoff`, whatever their state (retention); returns how many.
pub async fn delete_older_than(db: &Db, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query("DELETE FROM dead_letters WHERE created_at < $1")
            .bind(Timestamp(cutoff))
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// Delete dead letters replayed or discarded before `cutoff` (retention); returns how many.
pub async fn delete_handled_before(db: &Db, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query("DELETE FROM dead_letters WHERE COALESCE(replayed_at, discarded_at) < $1")
            .bind(Timestamp(cutoff))
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// Delete every dead letter of a merchant (purge); returns how many.
pub async fn delete_merchant(db: &Db, merchant: MerchantId) -> Result<u64, StoreError> {
    let merchant_id = db_id(merchant)?;
    Ok(on_db!(db, pool => {
        sqlx::query("DELETE FROM dead_letters WHERE merchant_id = $1")
            .bind(merchant_id)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}
