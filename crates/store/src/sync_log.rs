//! The sync log: one row per job outcome (architecture invariant 2).
//!
//! # Data layout
//! Table `sync_log`: `job_id` (UNIQUE), `merchant_id`, `event`, `kind`, `entity`, `outcome`
//! (`applied` | `skipped` | `dead_lettered` | `dropped`), `reason`, `attempt`, `duration_ms`,
//! `odoo_ids` (JSON: the Odoo records touched) and `recorded_at`. Indexed by merchant and time
//! (listing, purge) and by time alone (retention).
//!
//! # Failure handling
//! [`record`] is `INSERT … ON CONFLICT (job_id) DO NOTHING`: a job that runs again after a crash,
//! or whose outcome is recorded twice by a racing worker, keeps its first outcome and the second
//! call returns `false`. A replayed dead letter therefore runs under a new job id.

use salla_odoo_core::MerchantId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Backend, Db, StoreError, Timestamp, db_id, from_db_id, ts};

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The change is in Odoo (or Odoo already had it).
    Applied,
    /// Nothing to do: stale, duplicate, unmapped status, …; `reason` says which.
    Skipped,
    /// Moved to the outbox (`dead_letters`).
    DeadLettered,
    /// Discarded without running, e.g. queued for a store that uninstalled the app.
    Dropped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Skipped => "skipped",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Dropped => "dropped",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "applied" => Outcome::Applied,
            "skipped" => Outcome::Skipped,
            "dead_lettered" => Outcome::DeadLettered,
            "dropped" => Outcome::Dropped,
            other => {
                return Err(format!(
                    "unknown outcome {other:?} (applied, skipped, dead_lettered, dropped)"
                ));
            }
        })
    }
}

/// An outcome to record.
#[derive(Debug, Clone)]
pub struct NewLogEntry {
    pub job_id: Uuid,
    pub merchant: MerchantId,
    pub event: String,
    pub kind: String,
    pub entity: Option<String>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub attempt: u32,
    pub duration_ms: i64,
    pub odoo_ids: serde_json::Value,
}

/// A recorded outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogEntry {
    pub id: i64,
    pub job_id: Uuid,
    pub merchant: MerchantId,
    pub event: String,
    pub kind: String,
    pub entity: Option<String>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub attempt: u32,
    pub duration_ms: i64,
    pub odoo_ids: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct LogRow {
    id: i64,
    job_id: Uuid,
    merchant_id: i64,
    event: String,
    kind: String,
    entity: Option<String>,
    outcome: String,
    reason: Option<String>,
    attempt: i32,
    duration_ms: i64,
    odoo_ids: sqlx::types::Json<serde_json::Value>,
    recorded_at: OffsetDateTime,
}

impl TryFrom<LogRow> for LogEntry {
    type Error = StoreError;
    fn try_from(r: LogRow) -> Result<Self, StoreError> {
        Ok(LogEntry {
            id: r.id,
            job_id: r.job_id,
            merchant: MerchantId::new(from_db_id(r.merchant_id)),
            event: r.event,
            kind: r.kind,
            entity: r.entity,
            outcome: r.outcome.parse().map_err(StoreError::Decode)?,
            reason: r.reason,
            attempt: u32::try_from(r.attempt).unwrap_or_default(),
            duration_ms: r.duration_ms,
            odoo_ids: r.odoo_ids.0,
            recorded_at: r.recorded_at,
        })
    }
}

/// Record a job's outcome; `false` (and nothing written) if this job already has one.
pub async fn record(db: &Db, entry: &NewLogEntry) -> Result<bool, StoreError> {
    let attempt = i32::try_from(entry.attempt)
        .map_err(|_| StoreError::Invalid(format!("attempt {} is too large", entry.attempt)))?;
    let merchant_id = db_id(entry.merchant)?;
    let inserted = on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO sync_log
                (job_id, merchant_id, event, kind, entity, outcome, reason, attempt, duration_ms, odoo_ids)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (job_id) DO NOTHING",
        )
        .bind(entry.job_id)
        .bind(merchant_id)
        .bind(&entry.event)
        .bind(&entry.kind)
        .bind(entry.entity.as_deref())
        .bind(entry.outcome.as_str())
        .bind(entry.reason.as_deref())
        .bind(attempt)
        .bind(entry.duration_ms)
        .bind(sqlx::types::Json(&entry.odoo_ids))
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(inserted == 1)
}

/// The recorded outcome of a job, if any.
pub async fn outcome_of(db: &Db, job_id: Uuid) -> Result<Option<Outcome>, StoreError> {
    let outcome: Option<String> = on_db!(db, pool => {
        sqlx::query_scalar("SELECT outcome FROM sync_log WHERE job_id = $1")
            .bind(job_id)
            .fetch_optional(pool)
            .await?
    });
    outcome
        .map(|o| o.parse().map_err(StoreError::Decode))
        .transpose()
}

/// Which entries [`list`] returns; every `None` matches all. Newest first.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub merchant: Option<MerchantId>,
    pub event: Option<String>,
    pub kind: Option<String>,
    pub outcome: Option<Outcome>,
    pub job_id: Option<Uuid>,
    /// Recorded at or after.
    pub since: Option<OffsetDateTime>,
    /// Recorded before.
    pub until: Option<OffsetDateTime>,
    /// At most this many (default 100).
    pub limit: Option<i64>,
}

/// Default page size of [`list`].
pub const DEFAULT_LIMIT: i64 = 100;

/// Entries matching `filter`, newest first.
pub async fn list(db: &Db, filter: &LogFilter) -> Result<Vec<LogEntry>, StoreError> {
    let merchant = filter.merchant.map(db_id).transpose()?;
    // Postgres needs the parameters' types spelled out where a NULL is tested; SQLite has no
    // `::` casts and needs none.
    let sql = match db.backend() {
        Backend::Postgres => {
            "SELECT id, job_id, merchant_id, event, kind, entity, outcome, reason, attempt,
                    duration_ms, odoo_ids, recorded_at
             FROM sync_log
             WHERE ($1::BIGINT IS NULL OR merchant_id = $1)
               AND ($2::TEXT IS NULL OR event = $2)
               AND ($3::TEXT IS NULL OR kind = $3)
               AND ($4::TEXT IS NULL OR outcome = $4)
               AND ($5::UUID IS NULL OR job_id = $5)
               AND ($6::TIMESTAMPTZ IS NULL OR recorded_at >= $6)
               AND ($7::TIMESTAMPTZ IS NULL OR recorded_at < $7)
             ORDER BY recorded_at DESC, id DESC
             LIMIT $8"
        }
        Backend::Sqlite => {
            "SELECT id, job_id, merchant_id, event, kind, entity, outcome, reason, attempt,
                    duration_ms, odoo_ids, recorded_at
             FROM sync_log
             WHERE ($1 IS NULL OR merchant_id = $1)
               AND ($2 IS NULL OR event = $2)
               AND ($3 IS NULL OR kind = $3)
               AND ($4 IS NULL OR outcome = $4)
               AND ($5 IS NULL OR job_id = $5)
               AND ($6 IS NULL OR recorded_at >= $6)
               AND ($7 IS NULL OR recorded_at < $7)
             ORDER BY recorded_at DESC, id DESC
             LIMIT $8"
        }
    };
    let rows: Vec<LogRow> = on_db!(db, pool => {
        sqlx::query_as(sql)
            .bind(merchant)
            .bind(filter.event.as_deref())
            .bind(filter.kind.as_deref())
            .bind(filter.outcome.map(Outcome::as_str))
            .bind(filter.job_id)
            .bind(ts(filter.since))
            .bind(ts(filter.until))
            .bind(filter.limit.unwrap_or(DEFAULT_LIMIT).max(0))
            .fetch_all(pool)
            .await?
    });
    rows.into_iter().map(LogEntry::try_from).collect()
}

/// Delete entries recorded before `cutoff` (retention); returns how many.
pub async fn delete_older_than(db: &Db, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query("DELETE FROM sync_log WHERE recorded_at < $1")
            .bind(Timestamp(cutoff))
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// How many entries were recorded before `cutoff` (retention `--dry-run`).
pub async fn count_older_than(db: &Db, cutoff: OffsetDateTime) -> Result<i64, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_scalar("SELECT count(*) FROM sync_log WHERE recorded_at < $1")
            .bind(Timestamp(cutoff))
            .fetch_one(pool)
            .await?
    }))
}

/// Delete every entry of a merchant (purge); returns how many.
pub async fn delete_merchant(db: &Db, merchant: MerchantId) -> Result<u64, StoreError> {
    let merchant_id = db_id(merchant)?;
    Ok(on_db!(db, pool => {
        sqlx::query("DELETE FROM sync_log WHERE merchant_id = $1")
            .bind(merchant_id)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}
