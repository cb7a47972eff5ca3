//! `salla-odoo reconcile`: compare a store's orders with Salla's now (see
//! `crates/worker/src/reconcile.rs`), queue what Odoo lacks, and print what was found.

use std::io::Write;
use std::time::Duration;

use salla_odoo_core::{MerchantId, Settings};
use salla_odoo_worker::reconcile::{self, Report, Run};
use salla_odoo_worker::salla::SallaAccess;
use time::OffsetDateTime;

use crate::CliError;

/// Reconcile `merchants` (all installed stores with `all`).
pub async fn run(
    settings: &Settings,
    merchant: Option<u64>,
    all: bool,
    since: Option<String>,
    dry_run: bool,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    run_with_progress(settings, merchant, all, since, dry_run, json, terminal, out).await
}

#[allow(clippy::too_many_arguments)] // the command's options, and whether to draw progress
async fn run_with_progress(
    settings: &Settings,
    merchant: Option<u64>,
    all: bool,
    since: Option<String>,
    dry_run: bool,
    json: bool,
    progress_line: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if merchant.is_some() == all {
        return Err(CliError::Usage("give either --merchant ID or --all".into()));
    }
    let since = since.as_deref().map(parse_since).transpose()?;
    let api = SallaParts::open(settings).await?;
    let merchants = api.merchants(merchant).await?;
    let (access, pool, queue) = (&api.access, &api.pool, &api.queue);
    let run = Run {
        since,
        first_window: Duration::from_secs(u64::from(settings.reconcile.backfill_days) * 86_400),
        overlap: Duration::from_secs(settings.reconcile.overlap_secs),
        dry_run,
    };
    let mut reports: Vec<Report> = Vec::new();
    let mut failed = Vec::new();
    let terminal = progress_line && !json;
    let show = |r: &Report| {
        if terminal {
            eprint!(
                "\rstore {}: {} orders checked, {} missing, {} stale, {} queued   ",
                r.merchant, r.checked, r.missing, r.stale, r.queued
            );
        }
    };
    for m in merchants {
        let done =
            reconcile::reconcile_orders_with_progress(access, pool, queue, m, run, &show).await;
        if terminal {
            eprintln!();
        }
        match done {
            Ok(r) => reports.push(r),
            Err(e) => failed.push(format!("store {m}: {e}")),
        }
    }
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"stores": reports, "failed": failed}))
                .expect("serialisable")
        )?;
    } else {
        writeln!(
            out,
            "{:<12} {:>8} {:>8} {:>6} {:>7} {:>9}  WATERMARK / NOTE",
            "STORE", "CHECKED", "MISSING", "STALE", "QUEUED", "REQUESTS"
        )?;
        for r in &reports {
            let note = match (&r.unavailable, r.dry_run) {
                (Some(why), _) => format!("API unavailable: {why}"),
                (None, true) => "dry run: nothing queued, watermark unchanged".to_owned(),
                (None, false) => r.watermark.clone().unwrap_or_else(|| "-".into()),
            };
            writeln!(
                out,
                "{:<12} {:>8} {:>8} {:>6} {:>7} {:>9}  {note}",
                r.merchant, r.checked, r.missing, r.stale, r.queued, r.requests
            )?;
        }
        for f in &failed {
            writeln!(out, "FAILED {f}")?;
        }
    }
    if !failed.is_empty() {
        return Err(CliError::Failed(format!(
            "{} store(s) could not be reconciled",
            failed.len()
        )));
    }
    Ok(())
}

/// What a command that calls Salla needs: the store database, the queue, the keyring and the
/// stores' Merchant API (with the fleet-wide budget), from the configuration.
pub(crate) struct SallaParts {
    pub access: SallaAccess,
    pub pool: salla_odoo_store::Db,
    pub queue: salla_odoo_queue::Queue,
    pub keyring: salla_odoo_store::secrets::Keyring,
}

impl SallaParts {
    pub async fn open(settings: &Settings) -> Result<Self, CliError> {
        if !settings.salla.api_configured() {
            return Err(CliError::Usage(
                "the Salla API is not configured: set salla.client_id and salla.client_secret \
                 (SALLA_ODOO__SALLA__CLIENT_ID, SALLA_ODOO__SALLA__CLIENT_SECRET)"
                    .into(),
            ));
        }
        let pool = crate::pool(settings).await?;
        let queue = crate::queue_from(settings).await?;
        let keyring = crate::stores::keyring(settings)?;
        let limits = salla_odoo_worker::StoreLimits::new(
            queue.clone(),
            settings.limits.store_concurrency,
            settings.limits.store_odoo_calls_per_sec,
            Duration::from_secs(settings.worker.job_timeout_secs),
        );
        let access = SallaAccess::from_settings(settings, pool.clone(), keyring.clone(), limits)
            .map_err(|e| CliError::Usage(e.to_string()))?
            .ok_or_else(|| CliError::Usage("the Salla API is not configured".into()))?;
        Ok(Self {
            access,
            pool,
            queue,
            keyring,
        })
    }

    /// `merchant`, or every installed store.
    pub async fn merchants(&self, merchant: Option<u64>) -> Result<Vec<MerchantId>, CliError> {
        Ok(match merchant {
            Some(m) => vec![MerchantId::new(m)],
            None => salla_odoo_store::stores::list(&self.pool)
                .await?
                .into_iter()
                .filter(|s| s.status == "installed")
                .filter_map(|s| u64::try_from(s.merchant_id).ok().map(MerchantId::new))
                .collect(),
        })
    }
}

/// `--since`: a date (`2026-12-01`, midnight UTC) or an RFC 3339 instant.
fn parse_since(s: &str) -> Result<OffsetDateTime, CliError> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| {
            CliError::Usage(format!(
                "--since {s:?}: expected a date (2026-12-01) or an RFC 3339 instant"
            ))
        })
}

/// `salla-odoo store backfill`: a reconciliation of the store's last `days` days, with a progress
/// line on a terminal (stderr) while it pages and queues.
pub async fn backfill(
    settings: &Settings,
    merchant: u64,
    days: u32,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let since = OffsetDateTime::now_utc() - time::Duration::days(i64::from(days));
    let since = since
        .format(&time::format_description::well_known::Rfc3339)
        .expect("an instant formats");
    run(
        settings,
        Some(merchant),
        false,
        Some(since),
        false,
        json,
        out,
    )
    .await
}
