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
    /// A user (by login, e.g. admin) without an email address: Odoo then refuses the calls that
    /// post a chatter message as that user (a payment that pays a sale's invoice, a return).
    /// Repeatable.
    #[arg(
        long = "user-without-email",
        value_name = "LOGIN",
        env = "ODOO_SANDBOX_USERS_WITHOUT_EMAIL",
        value_delimiter = ','
    )]
    users_without_email: Vec<String>,
    /// Currency of the default pricelist (EUR, USD, SAR or AED; default: the company's, SAR).
    #[arg(long, value_name = "CODE", env = "ODOO_SANDBOX_PRICELIST_CURRENCY")]
    pricelist_currency: Option<String>,
    /// Enterprise accounting: fully paid invoices show "in_payment" instead of "paid".
    #[arg(long, env = "ODOO_SANDBOX_IN_PAYMENT_STATE")]
    in_payment_state: bool,
    /// Make each call cost what Odoo's does: `odoo18-small` (built in, measured on a real Odoo 18
    /// on 2 cores) or a JSON file of the same shape (cost-models/odoo18-small.json).
    #[arg(
        long,
        value_name = "FILE|odoo18-small",
        env = "ODOO_SANDBOX_COST_MODEL"
    )]
    cost_model: Option<String>,
    /// Concurrent calls with a cost model (default: the model's, 1 like a threaded Odoo; more
    /// like Odoo's --workers N); calls beyond it wait in line.
    #[arg(long, value_name = "N", requires = "cost_model")]
    capacity: Option<usize>,
    /// A group a user lacks, as `res.users.has_group` answers (`LOGIN:module.group`, e.g.
    /// `connector:stock.group_stock_user`); every other answers true. Repeatable.
    #[arg(
        long = "user-missing-group",
        value_name = "LOGIN:GROUP",
        env = "ODOO_SANDBOX_USER_MISSING_GROUPS",
        value_delimiter = ',',
        value_parser = login_group
    )]
    missing_groups: Vec<(String, String)>,
}

fn login_group(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((login, group)) if !login.trim().is_empty() && group.contains('.') => {
            Ok((login.trim().to_owned(), group.trim().to_owned()))
        }
        _ => Err(format!("{s:?} is not LOGIN:module.group")),
    }
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
    let cost_model = match &args.cost_model {
        Some(spec) => {
            let mut m = odoo_sandbox::cost::CostModel::load(spec).map_err(anyhow::Error::msg)?;
            if let Some(n) = args.capacity {
                anyhow::ensure!(n > 0, "--capacity must be at least 1");
                m.capacity = n;
            }
            Some(m)
        }
        None => None,
    };
    let opts = Options {
        cost_model,
        version: args.odoo_version,
        database: args.database,
        login: args.login,
        password: args.password,
        api_key: args.api_key,
        state_file: args.state_file,
        users_without_email: args.users_without_email,
        pricelist_currency: args.pricelist_currency,
        in_payment_state: args.in_payment_state,
        missing_groups: args.missing_groups,
        ..Options::default()
    };
    if let Some(Err(e)) = odoo_sandbox::seed::pricelist_currency(&opts) {
        anyhow::bail!(e);
    }
    let shutdown = shutdown_signal()?;
    println!(
        "odoo-sandbox (Odoo {}) listening on http://{addr}",
        opts.version
    );
    odoo_sandbox::serve(listener, opts, shutdown).await?;
    Ok(())
}
