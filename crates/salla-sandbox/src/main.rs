//! `salla-sandbox`: run the in-memory Salla Merchant API until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use salla_sandbox::Options;

/// A faithful in-memory double of Salla's Merchant API (Admin API v2) and OAuth token endpoint,
/// with fault injection. Seeding, inspection and faults live under /_sandbox.
#[derive(Debug, Parser)]
#[command(name = "salla-sandbox")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "SALLA_SANDBOX_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Access-token lifetime in seconds (Salla: 14 days).
    #[arg(long, default_value_t = 1_209_600)]
    token_lifetime_secs: u64,
    /// Delay before bulk quantity updates are applied, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    stock_delay_ms: u64,
    /// OAuth client id the token endpoint accepts.
    #[arg(long, default_value = "sandbox-client")]
    client_id: String,
    /// OAuth client secret the token endpoint accepts.
    #[arg(long, default_value = "sandbox-secret")]
    client_secret: String,
    /// Default plan limit (requests per minute per merchant).
    #[arg(long, default_value_t = 120)]
    rate_limit_per_min: u32,
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed before this returns, so a signal
/// sent as soon as the URL is printed is not lost.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let opts = Options {
        token_lifetime: Duration::from_secs(args.token_lifetime_secs),
        stock_delay: Duration::from_millis(args.stock_delay_ms),
        client_id: args.client_id,
        client_secret: args.client_secret,
        rate_limit_per_min: args.rate_limit_per_min,
        ..Options::default()
    };
    let shutdown = shutdown_signal()?;
    println!("salla-sandbox listening on http://{addr}");
    salla_sandbox::serve(listener, opts, shutdown).await?;
    Ok(())
}
