//! `salla-odoo-worker`: drains the queue into Odoo. See the crate docs.

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
    /// Address of /metrics and /healthz, exactly (overrides worker.metrics_listen; "off" to
    /// disable). Without it the worker takes the first free port of worker.metrics_port_span ports
    /// from worker.metrics_listen, so several workers on one host need no flags.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// This worker's index on its host (systemd's %i): metrics on port worker.metrics_listen + N,
    /// and N in the worker's identity.
    #[arg(long, env = "SALLA_ODOO_WORKER_INSTANCE")]
    instance: Option<u32>,
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
    let bind = salla_odoo_worker::MetricsBind::choose(
        &settings.worker,
        args.metrics_listen.as_deref(),
        args.instance,
    )
    .map_err(anyhow::Error::msg)?;
    let listener = bind.bind().await?;
    let id = salla_odoo_worker::worker_identity(args.instance);
    salla_odoo_worker::run(settings, id, listener, shutdown_signal()).await?;
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
