//! `salla-odoo reconcile`: compare a store's orders, products and customers with Salla's now (see
//! `crates/worker/src/reconcile.rs`), queue what Odoo lacks, and print what was found; `salla-odoo
//! store backfill`: the same for the orders of the last days and the products they use.

use std::io::Write;
use std::time::Duration;

use salla_odoo_core::{MerchantId, Settings};
use salla_odoo_worker::reconcile::{self, EntityReport, Report, Run, Scope};
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
    let ask = Ask {
        merchant,
        all,
        since,
        dry_run,
        scope: Scope::ALL,
    };
    run_with_progress(settings, ask, json, terminal, out).await
}

/// What the command was asked for.
struct Ask {
    merchant: Option<u64>,
    all: bool,
    since: Option<String>,
    dry_run: bool,
    scope: Scope,
}

async fn run_with_progress(
    settings: &Settings,
    ask: Ask,
    json: bool,
    progress_line: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let Ask {
        merchant,
        all,
        since,
        dry_run,
        scope,
    } = ask;
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
            eprint!("\r{}   ", progress(r));
        }
    };
    for m in merchants {
        let done =
            reconcile::reconcile_with_progress(access, pool, queue, m, run, scope, &show).await;
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
        write_table(out, &reports, &failed)?;
    }
    if !failed.is_empty() {
        return Err(CliError::Failed(format!(
            "{} store(s) could not be reconciled",
            failed.len()
        )));
    }
    Ok(())
}

/// The text report: a row per store (its orders), under it a row for its products and one for its
/// customers when they were reconciled.
fn write_table(out: &mut impl Write, reports: &[Report], failed: &[String]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>6} {:>7} {:>9}  WATERMARK / NOTE",
        "STORE", "CHECKED", "MISSING", "STALE", "QUEUED", "REQUESTS"
    )?;
    for r in reports {
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
        for (name, e) in [("products", &r.products), ("customers", &r.customers)] {
            let reached = e.checked > 0 || (e.skipped.is_none() && r.unavailable.is_none());
            if reached {
                writeln!(
                    out,
                    "  {name:<10} {:>8} {:>8} {:>6} {:>7} {:>9}  {}",
                    e.checked,
                    e.missing,
                    e.stale,
                    e.queued,
                    "",
                    entity_note(e, r)
                )?;
            }
        }
    }
    for f in failed {
        writeln!(out, "FAILED {f}")?;
    }
    Ok(())
}

/// The progress line: the orders, then the products and customers the run has reached.
fn progress(r: &Report) -> String {
    let mut line = format!(
        "store {}: {} orders checked, {} missing, {} stale, {} queued",
        r.merchant, r.checked, r.missing, r.stale, r.queued
    );
    for (name, e) in [("products", &r.products), ("customers", &r.customers)] {
        if e.checked > 0 {
            line.push_str(&format!(
                "; {} {name} checked, {} queued",
                e.checked, e.queued
            ));
        }
        if e.pending > 0 {
            line.push_str(&format!(" (waiting for {} to reach Odoo)", e.pending));
        }
    }
    line
}

/// The note of a products or customers row of `r`: where its pass stands.
fn entity_note(e: &EntityReport, r: &Report) -> String {
    let mut note = match (&e.skipped, e.next_page, &e.watermark) {
        (Some(why), _, _) => format!("whole list not read: {why}"),
        (None, _, _) if r.unavailable.is_some() => "stopped: API unavailable".to_owned(),
        (None, Some(page), _) => format!("pass continues at page {page} next run"),
        (None, None, _) if r.dry_run => "dry run: nothing queued".to_owned(),
        (None, None, Some(w)) => format!("pass complete, watermark {w}"),
        (None, None, None) => "pass complete".to_owned(),
    };
    if e.for_orders > 0 {
        note.push_str(&format!("; {} used by the orders", e.for_orders));
    }
    if e.pending > 0 {
        note.push_str(&format!(
            "; {} not yet in Odoo when their orders were queued",
            e.pending
        ));
    }
    note
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
        )
        .with_capabilities_ttl(Duration::from_secs(settings.odoo.capabilities_ttl_secs));
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

/// `salla-odoo store backfill`: a reconciliation of the store's orders of the last `days` days and
/// the products they use ([`Scope::BACKFILL`]), with a progress line on a terminal (stderr) while
/// it pages, queues and waits for products.
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
    let ask = Ask {
        merchant: Some(merchant),
        all: false,
        since: Some(since),
        dry_run: false,
        scope: Scope::BACKFILL,
    };
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    run_with_progress(settings, ask, json, terminal, out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            merchant: 1_305_146_709,
            checked: 412,
            missing: 3,
            stale: 1,
            queued: 4,
            requests: 58,
            watermark: Some("2026-12-07T10:41:07Z".into()),
            products: EntityReport {
                checked: 830,
                missing: 2,
                stale: 5,
                queued: 7,
                for_orders: 1,
                watermark: Some("2026-12-07T10:40:12Z".into()),
                ..EntityReport::default()
            },
            customers: EntityReport {
                checked: 3000,
                next_page: Some(51),
                ..EntityReport::default()
            },
            ..Report::default()
        }
    }

    #[test]
    fn the_table_has_a_row_per_store_and_one_per_list_reconciled() {
        let mut out = Vec::new();
        write_table(&mut out, &[report()], &[]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(
            lines[1],
            "1305146709        412        3      1       4        58  2026-12-07T10:41:07Z"
        );
        assert_eq!(
            lines[2],
            "  products        830        2      5       7            pass complete, watermark \
             2026-12-07T10:40:12Z; 1 used by the orders"
        );
        assert!(
            lines[3].ends_with("pass continues at page 51 next run"),
            "{text}"
        );
        // A backfill: the lists were not read and no product was needed: no rows for them.
        let mut backfill = report();
        backfill.products = EntityReport {
            skipped: Some("not part of this run".into()),
            ..EntityReport::default()
        };
        backfill.customers = backfill.products.clone();
        let mut out = Vec::new();
        write_table(&mut out, &[backfill], &[]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);
    }

    #[test]
    fn the_progress_line_adds_the_lists_once_reached() {
        let mut r = report();
        r.customers.checked = 0;
        r.products.pending = 2;
        assert_eq!(
            progress(&r),
            "store 1305146709: 412 orders checked, 3 missing, 1 stale, 4 queued; 830 products \
             checked, 7 queued (waiting for 2 to reach Odoo)"
        );
    }
}
