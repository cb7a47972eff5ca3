//! Retention: what the configured periods remove from the sync log and the dead letters.
//!
//! Run by `salla-odoo retention run` and, every `retention.interval_secs`, by one worker of the
//! fleet at a time (it holds the global lock `retention` while it runs). Each delete is one
//! statement, so a run interrupted half-way leaves every table consistent and the next run finishes.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::{Db, StoreError, Timestamp};

/// The retention periods, from `[retention]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub sync_log_days: u32,
    pub dead_letter_days: u32,
    pub handled_dead_letter_days: u32,
}

impl Policy {
    pub fn from_settings(r: &salla_odoo_core::settings::RetentionSettings) -> Self {
        Self {
            sync_log_days: r.sync_log_days,
            dead_letter_days: r.dead_letter_days,
            handled_dead_letter_days: r.handled_dead_letter_days,
        }
    }
}

/// What a run removed (or, with `dry_run`, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub sync_log: u64,
    pub dead_letters_pending: u64,
    pub dead_letters_handled: u64,
}

/// Apply `policy` as of `now`.
pub async fn run(
    db: &Db,
    policy: &Policy,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<Report, StoreError> {
    let days = |d: u32| now - Duration::days(i64::from(d));
    let (log_cut, pending_cut, handled_cut) = (
        days(policy.sync_log_days),
        days(policy.dead_letter_days),
        days(policy.handled_dead_letter_days),
    );
    const LOG: &str = "FROM sync_log WHERE recorded_at < $1";
    const PENDING: &str =
        "FROM dead_letters WHERE replayed_at IS NULL AND discarded_at IS NULL AND created_at < $1";
    const HANDLED: &str = "FROM dead_letters WHERE COALESCE(replayed_at, discarded_at) < $1";
    let mut report = Report {
        dry_run,
        ..Default::default()
    };
    for (from, cutoff, slot) in [
        (LOG, log_cut, &mut report.sync_log),
        (PENDING, pending_cut, &mut report.dead_letters_pending),
        (HANDLED, handled_cut, &mut report.dead_letters_handled),
    ] {
        let cutoff = Timestamp(cutoff);
        *slot = on_db!(db, pool => {
            if dry_run {
                let n: i64 =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {from}")))
                        .bind(cutoff)
                        .fetch_one(pool)
                        .await?;
                n as u64
            } else {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE {from}")))
                    .bind(cutoff)
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
        });
    }
    Ok(report)
}
