//! `salla-odoo-ingest`: receives Salla webhooks and queues them. See the crate docs.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use salla_odoo_core::Settings;

/// Receive signed Salla webhooks and queue them in Redis for the workers.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (overrides ingest.listen).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Configuration file (TOML, same layout as config/default.toml).
    #[arg(long, env = "SALLA_ODOO_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let file = args
        .config
        .as_ref()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let settings = Settings::load(file.as_deref(), std::env::vars())?;
    salla_odoo_core::telemetry::init(&settings.log);
    let addr = args.listen.unwrap_or(settings.ingest.listen);
    let listener =
        salla_odoo_ingest::edge::listen(addr).with_context(|| format!("binding {addr}"))?;
    salla_odoo_ingest::run(settings, listener, salla_odoo_ingest::shutdown_signal()).await?;
    Ok(())
}
