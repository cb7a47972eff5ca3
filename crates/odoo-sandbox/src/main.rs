//! `odoo-sandbox`: run the in-memory Odoo server until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use odoo_sandbox::{Options, Version};

/// A faithful in-memory Odoo server (JSON-RPC 16-19, JSON-2 19) with fault injection.
#[derive(Debug, Parser)]
#[command(name = "odoo-sandbox")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "ODOO_SANDBOX_LISTEN", default_value = "127.0.0.1:8069")]
    listen: SocketAddr,
    /// Odoo version to impersonate: 16, 17, 18 or 19.
    #[arg(long = "version", env = "ODOO_SANDBOX_VERSION", default_value = "18")]
    odoo_version: Version,
    #[arg(long, default_value = "odoo")]
    database: String,
    #[arg(long, default_value = "admin")]
    login: String,
    #[arg(long, default_value = "admin")]
    password: String,
    #[arg(long, default_value = "admin")]
    api_key: String,
    /// Keep the data in this JSON file across restarts.
    #[arg(long)]
    state_file: Option<PathBuf>,
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
        version: args.odoo_version,
        database: args.database,
        login: args.login,
        password: args.password,
        api_key: args.api_key,
        state_file: args.state_file,
        ..Options::default()
    };
    let shutdown = shutdown_signal()?;
    println!(
        "odoo-sandbox (Odoo {}) listening on http://{addr}",
        opts.version
    );
    odoo_sandbox::serve(listener, opts, shutdown).await?;
    Ok(())
}
