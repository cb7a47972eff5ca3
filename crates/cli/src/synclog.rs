//! `salla-odoo sync-log`: what happened to each job, newest first.

use std::io::Write;

use clap::Args;
use salla_odoo_core::MerchantId;
use salla_odoo_store::Db;
use salla_odoo_store::sync_log::{self, LogFilter, Outcome};

use crate::CliError;

/// Filters of `salla-odoo sync-log`.
#[derive(Debug, Args)]
pub struct SyncLogArgs {
    /// Only this store (Salla merchant id).
    #[arg(long)]
    pub merchant: Option<u64>,
    /// Only this Salla event, e.g. order.created.
    #[arg(long)]
    pub event: Option<String>,
    /// Only this outcome: applied, skipped, dead_lettered, dropped.
    #[arg(long)]
    pub outcome: Option<String>,
    /// At most this many entries.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
}

pub async fn run(
    db: &Db,
    args: &SyncLogArgs,
    json: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let outcome = args
        .outcome
        .as_deref()
        .map(str::parse::<Outcome>)
        .transpose()
        .map_err(CliError::Usage)?;
    let entries = sync_log::list(
        db,
        &LogFilter {
            merchant: args.merchant.map(MerchantId::new),
            event: args.event.clone(),
            outcome,
            limit: Some(args.limit.clamp(1, 10_000)),
            ..Default::default()
        },
    )
    .await?;
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&entries).expect("serialisable")
        )?;
        return Ok(());
    }
    if entries.is_empty() {
        writeln!(out, "no sync-log entries yet")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<20} {:<10} {:<26} {:<14} {:>7}  ODOO / REASON",
        "RECORDED", "STORE", "EVENT", "OUTCOME", "MS"
    )?;
    for e in &entries {
        let when = e
            .recorded_at
            .format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .unwrap_or_default();
        let detail = match (&e.reason, e.odoo_ids.as_object()) {
            (Some(reason), _) => reason.clone(),
            (None, Some(ids)) if !ids.is_empty() => ids
                .iter()
                .map(|(model, id)| format!("{model} {id}"))
                .collect::<Vec<_>>()
                .join(", "),
            _ => e.odoo_ids.to_string(),
        };
        writeln!(
            out,
            "{when:<20} {:<10} {:<26} {:<14} {:>7}  {detail}",
            e.merchant.to_string(),
            e.event,
            e.outcome.as_str(),
            e.duration_ms
        )?;
    }
    Ok(())
}
