//! `salla-odoo-worker`: drains the queue into Odoo. See the crate docs.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use salla_odoo_core::Settings;

/// Apply queued Salla changes to each store's Odoo, with retries and dead letters.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Configuration file (TOML, same layout as config/default.toml).
    #[arg(long, env = "SALLA_ODOO_CONFIG")]
    config: Option<PathBuf>,
    /// Address of /metrics and /healthz (overrides worker.metrics_listen; "off" to disable).
    #[arg(long)]
    metrics_listen: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let file = args
        .config
        .as_ref()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let settings = Settings::load(file.as_deref(), std::env::vars())?;
    settings.require_secrets_key()?;
    salla_odoo_core::telemetry::init(&settings.log);
    let metrics = match args.metrics_listen.as_deref() {
        Some("off") => None,
        Some(a) => Some(a.parse::<SocketAddr>().context("--metrics-listen")?),
        None => Some(settings.worker.metrics_listen),
    };
    let listener = match metrics {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?,
        ),
        None => None,
    };
    salla_odoo_worker::run(settings, listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, () = term => {} }
}
