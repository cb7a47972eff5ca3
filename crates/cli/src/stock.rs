//! `salla-odoo stock push`: push Odoo's stock of one store (or every store whose stock master is
//! Odoo) to Salla now, and print what was done (see `crates/worker/src/stock.rs`).

use std::io::Write;

use clap::Subcommand;
use salla_odoo_core::Settings;
use salla_odoo_worker::stock::{self, PushOptions, PushReport};

use crate::CliError;

#[derive(Debug, Subcommand)]
pub enum StockCommand {
    /// Push Odoo's stock to Salla now.
    Push {
        /// The store.
        #[arg(long)]
        merchant: Option<u64>,
        /// Every store whose stock master is Odoo.
        #[arg(long)]
        all: bool,
        /// Only this SKU.
        #[arg(long)]
        sku: Option<String>,
        /// Every product of the store, not only those whose stock changed since the last push.
        #[arg(long)]
        all_products: bool,
        /// Compute and print; push nothing, leave the watermark.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(
    command: StockCommand,
    settings: &Settings,
    json: bool,
    out: &mut (impl Write + Send),
) -> Result<(), CliError> {
    let StockCommand::Push {
        merchant,
        all,
        sku,
        all_products,
        dry_run,
    } = command;
    if merchant.is_some() == all {
        return Err(CliError::Usage("give either --merchant ID or --all".into()));
    }
    if sku.is_some() && all_products {
        return Err(CliError::Usage(
            "--sku and --all-products exclude each other".into(),
        ));
    }
    let api = crate::reconcile::SallaParts::open(settings).await?;
    let merchants = api.merchants(merchant).await?;
    let (access, pool, keyring) = (&api.access, &api.pool, &api.keyring);
    let opts = PushOptions {
        sku,
        all_products,
        dry_run,
        batch_size: settings.stock.batch_size.max(1),
    };
    let mut reports: Vec<PushReport> = Vec::new();
    let mut failed = Vec::new();
    for m in merchants {
        match stock::push_store(access, pool, keyring, m, opts.clone()).await {
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
        print_table(&reports, &failed, out)?;
    }
    if !failed.is_empty() {
        return Err(CliError::Failed(format!(
            "the stock of {} store(s) could not be pushed",
            failed.len()
        )));
    }
    // A SKU asked for that could not be pushed: say so in the exit code too. (A store that is not
    // pushed — stock master Salla, no tokens — is reported, like `reconcile` does.)
    if opts.sku.is_some()
        && let Some(r) = reports.first()
        && let Some(why) = &r.skipped
    {
        return Err(CliError::Failed(format!("store {}: {why}", r.merchant)));
    }
    Ok(())
}

fn print_table(
    reports: &[PushReport],
    failed: &[String],
    out: &mut (impl Write + Send),
) -> Result<(), CliError> {
    writeln!(
        out,
        "{:<12} {:>8} {:>7} {:>7} {:>9} {:>8} {:>9}  WATERMARK / NOTE",
        "STORE", "CHANGED", "PUSHED", "NO-SKU", "REJECTED", "BATCHES", "REQUESTS"
    )?;
    for r in reports {
        let note = match (&r.skipped, &r.unavailable, r.dry_run) {
            (Some(why), _, _) => format!("not pushed: {why}"),
            (None, Some(why), _) => format!("API unavailable: {why}"),
            (None, None, true) => "dry run: nothing pushed, watermark unchanged".to_owned(),
            (None, None, false) => r.watermark.clone().unwrap_or_else(|| "-".into()),
        };
        writeln!(
            out,
            "{:<12} {:>8} {:>7} {:>7} {:>9} {:>8} {:>9}  {note}",
            r.merchant,
            r.changed,
            r.pushed,
            r.skipped_no_sku,
            r.rejected.len(),
            r.batches,
            r.requests
        )?;
        for item in &r.items {
            writeln!(
                out,
                "    {}:{}  odoo product {}  on hand {}  reserved {}  -> {}",
                item.identifier_type,
                item.identifier,
                item.odoo_product,
                item.on_hand,
                item.reserved,
                item.quantity
            )?;
        }
        for rejected in &r.rejected {
            writeln!(out, "    rejected by Salla: {rejected}")?;
        }
    }
    for f in failed {
        writeln!(out, "FAILED {f}")?;
    }
    Ok(())
}
