//! `salla-odoo`: the operator's tool. Every command prints a readable table by default and JSON
//! with `--json`, and says in its help whether it is safe to run while workers run.
//!
//! Exit codes: 0 success; 1 the operation failed; 2 invalid usage or configuration;
//! 3 a dependency (Redis, Postgres) is unreachable.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use salla_odoo_core::Settings;
use salla_odoo_queue::{Queue, QueueError};
use salla_odoo_store::{DbConfig, StoreError};

pub mod dlq;
pub mod doctor;
pub mod embedded;
pub mod odoo_user;
pub mod reconcile;
pub mod sample;
pub mod stock;
pub mod stores;
pub mod synclog;

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNAVAILABLE: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "salla-odoo",
    version,
    about = "Operate the salla-odoo connector."
)]
pub struct Cli {
    /// Configuration file (TOML, same layout as config/default.toml).
    #[arg(long, global = true, env = "SALLA_ODOO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// Use the embedded storage (SQLite files) in this directory, even when REDIS_URL /
    /// DATABASE_URL are set. Without it: embedded storage in `embedded.data_dir` unless Redis or
    /// Postgres is configured.
    #[arg(long, global = true, env = "SALLA_ODOO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the connector in one process: the webhook ingest, the workers and the scheduled jobs
    /// (retention), until SIGTERM or Ctrl-C. On embedded storage unless Redis/Postgres are
    /// configured; only one `run` may use a data directory.
    Run {
        /// Address the webhook receiver listens on (default: ingest.listen).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Address of the worker's /metrics and /healthz, or "off" (default: off).
        #[arg(long, default_value = "off")]
        metrics_listen: String,
    },
    /// Post a signed sample webhook (written for this project in the shape of Salla's) to the
    /// ingest, signed with the configured secret and strategy.
    SendSample {
        /// The event: order.created, order.status.updated, customer.created or product.created.
        event: String,
        /// The ingest's webhook URL (default: http://<ingest.listen>/webhooks/salla).
        #[arg(long)]
        to: Option<String>,
        /// Send it as this store (Salla merchant id) instead of the sample store 1000001.
        #[arg(long)]
        merchant: Option<u64>,
        /// Replace the object's id (a new id is a new delivery: the same body twice within the
        /// dedupe window is queued once).
        #[arg(long)]
        id: Option<u64>,
    },
    /// What happened to each job: applied, skipped (with the reason), dead-lettered or dropped,
    /// newest first. Read-only.
    SyncLog(synclog::SyncLogArgs),
    /// Apply pending database migrations. Safe while workers run: migrations only add.
    Migrate {
        /// Only show which migrations are applied and which are pending; change nothing.
        #[arg(long)]
        status: bool,
    },
    /// Inspect the job queue.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Show the effective configuration, secrets redacted. Safe any time.
    Config,
    /// Check Redis, Postgres, migrations, the clock, the secrets key, each store's Odoo
    /// (reachable, credentials valid), the Odoo user each store acts as (an email address when a
    /// step that posts chatter messages in its name is enabled: payments, refund payments, return
    /// pickings; and the groups the enabled steps need: Sales / User, Invoicing / Billing,
    /// Inventory / User), whether the Salla API is configured, and each store's Salla API tokens
    /// (needs reinstall, expired, none received). Exits 1 when any check fails (notes and warnings
    /// do not). Read-only: safe while workers run.
    Doctor,
    /// Compare stores' orders with Salla's now: list the orders Salla changed since each store's
    /// watermark (less reconcile.overlap_secs), queue a job for every order Odoo lacks or holds
    /// in an older version (through the same queue, dedupe and handlers as webhooks), then move the
    /// watermark. Products and customers likewise, over Salla's whole lists (a bounded number of
    /// pages a run, resumed by the next). Prints what it checked, found missing or stale, and
    /// queued. Safe while workers run (they also run it every reconcile.interval_secs, one run per
    /// store at a time).
    Reconcile {
        /// The store to reconcile.
        #[arg(long)]
        merchant: Option<u64>,
        /// Every installed store.
        #[arg(long)]
        all: bool,
        /// Look back from this date (2026-12-01) or instant (RFC 3339) instead of the watermark.
        #[arg(long)]
        since: Option<String>,
        /// Check and report only: queue nothing, leave the watermark.
        #[arg(long)]
        dry_run: bool,
    },
    /// Odoo's stock and Salla's quantities (stores whose stock master is Odoo).
    Stock {
        #[command(subcommand)]
        command: stock::StockCommand,
    },
    /// Enforce the retention periods of `[retention]`.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Manage stores: their Odoo connection and sync options (secrets never printed).
    Store {
        #[command(subcommand)]
        command: stores::StoreCommand,
    },
    /// Manage the encrypted secrets (Odoo API keys, Salla tokens): key rotation.
    Secrets {
        #[command(subcommand)]
        command: stores::SecretsCommand,
    },
    /// Dead letters (the outbox): list, show, replay, discard, stats. Each subcommand's help says
    /// whether it is safe while workers run.
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Delete sync-log entries and dead letters older than their retention periods and report what
    /// was deleted (with --dry-run: what would be). Safe while workers run: each delete is one
    /// statement; workers also run it every retention.interval_secs, one at a time.
    Run {
        /// Count only; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Counts of queued, scheduled-for-retry, in-flight, done and dead jobs, and waiting jobs by
    /// kind and by store, for this namespace. Read-only: safe while workers run.
    Stats,
}

/// Why a command failed, and so which exit code it gets.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] salla_odoo_core::CoreError),
    #[error("redis: {0}")]
    Queue(#[from] QueueError),
    #[error("postgres: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Invalid usage that clap cannot see (e.g. an unset variable named by an option): exit 2.
    #[error("{0}")]
    Usage(String),
    /// The operation was refused or found nothing to act on: exit 1.
    #[error("{0}")]
    Failed(String),
    /// A service the command talks to is unreachable: exit 3.
    #[error("{0}")]
    Unavailable(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Usage(_) => EXIT_USAGE,
            CliError::Queue(e) if e.is_transient() => EXIT_UNAVAILABLE,
            CliError::Store(e) if e.is_transient() => EXIT_UNAVAILABLE,
            CliError::Unavailable(_) => EXIT_UNAVAILABLE,
            _ => EXIT_FAILED,
        }
    }
}

/// Load the settings the way every binary does: defaults, `--config` file, environment.
pub fn load_settings(config: Option<&PathBuf>) -> Result<Settings, CliError> {
    let file = match config {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
            salla_odoo_core::CoreError::Config(format!("reading {}: {e}", p.display()))
        })?),
        None => None,
    };
    Ok(Settings::load(file.as_deref(), std::env::vars())?)
}

/// Where the commands' data is: see [`embedded::Storage::resolve`].
pub fn storage(settings: &Settings) -> embedded::Storage {
    embedded::Storage::resolve(settings)
}

/// The queue of the configured storage.
pub async fn queue_from(settings: &Settings) -> Result<Queue, CliError> {
    embedded::open_queue(settings, &storage(settings)).await
}

pub fn db_config(settings: &Settings) -> DbConfig {
    DbConfig {
        url: settings.database.url.clone(),
        max_connections: settings.database.max_connections,
        acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
    }
}

/// The store database of the configured storage: a pool from `[database]` (Postgres or SQLite
/// as the URL says; connects on first use), or the embedded SQLite file (created and migrated if
/// needed).
pub async fn pool(settings: &Settings) -> Result<salla_odoo_store::Db, CliError> {
    embedded::open_db(settings, &storage(settings)).await
}

/// Run one command, writing its output to `out`.
pub async fn run(cli: Cli, out: &mut (impl Write + Send)) -> Result<(), CliError> {
    let mut settings = load_settings(cli.config.as_ref())?;
    if let Some(dir) = &cli.data_dir {
        settings.embedded.data_dir = dir.clone();
        settings.servers_configured = false;
    }
    let storage = storage(&settings);
    // Embedded storage keeps its secrets key beside the data unless one is configured; commands
    // that seal secrets create it, the others only read it.
    let creates_key = matches!(
        cli.command,
        Command::Run { .. }
            | Command::Store {
                command: stores::StoreCommand::Add(..) | stores::StoreCommand::Update(..)
            }
    );
    if creates_key || embedded::secrets_key_exists(&storage) {
        embedded::ensure_secrets_key(&mut settings, &storage)?;
    }
    match cli.command {
        Command::Run {
            listen,
            metrics_listen,
        } => {
            let metrics_listen = match metrics_listen.as_str() {
                "off" => None,
                addr => Some(
                    addr.parse()
                        .map_err(|e| CliError::Usage(format!("--metrics-listen {addr:?}: {e}")))?,
                ),
            };
            salla_odoo_core::telemetry::init(&settings.log);
            embedded::run(
                settings,
                embedded::RunOptions {
                    storage,
                    listen,
                    metrics_listen,
                },
                out,
                salla_odoo_ingest::shutdown_signal(),
            )
            .await?;
        }
        Command::SendSample {
            event,
            to,
            merchant,
            id,
        } => {
            let body = sample::body(&event, merchant, id)?;
            let url =
                to.unwrap_or_else(|| format!("http://{}/webhooks/salla", settings.ingest.listen));
            let (status, answer) = sample::send(&settings, &url, body).await?;
            if cli.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"status": status, "answer": answer})
                )?;
            } else {
                writeln!(out, "{event} -> {url}: {status} {answer}")?;
            }
            if status != 200 {
                return Err(CliError::Failed(format!(
                    "the ingest answered {status}: {answer}"
                )));
            }
        }
        Command::SyncLog(args) => {
            let db = pool(&settings).await?;
            synclog::run(&db, &args, cli.json, out).await?;
        }
        Command::Migrate { status } => {
            let pool = pool(&settings).await?;
            let migrations = if status {
                salla_odoo_store::migration_status(&pool).await?
            } else {
                salla_odoo_store::migrate(&pool).await?
            };
            if cli.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&migrations).expect("serialisable")
                )?;
            } else {
                writeln!(out, "{:<16} {:<8} DESCRIPTION", "VERSION", "STATE")?;
                for m in &migrations {
                    let state = if m.applied { "applied" } else { "pending" };
                    writeln!(out, "{:<16} {:<8} {}", m.version, state, m.description)?;
                }
            }
        }
        Command::Queue {
            command: QueueCommand::Stats,
        } => {
            let stats = queue_from(&settings).await?.stats().await?;
            if cli.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&stats).expect("serialisable")
                )?;
            } else {
                writeln!(out, "namespace   {}", stats.namespace)?;
                for (label, n) in [
                    ("queued", stats.queued),
                    ("scheduled", stats.scheduled),
                    ("in flight", stats.in_flight),
                    ("done", stats.done),
                    ("dead", stats.dead),
                    ("workers", stats.workers),
                ] {
                    writeln!(out, "{label:<11} {n}")?;
                }
                for (title, map) in [("by kind", &stats.by_kind), ("by store", &stats.by_store)] {
                    if !map.is_empty() {
                        writeln!(out, "\n{title}")?;
                        for (k, n) in map {
                            writeln!(out, "  {k:<20} {n}")?;
                        }
                    }
                }
            }
        }
        Command::Retention {
            command: RetentionCommand::Run { dry_run },
        } => {
            let pool = pool(&settings).await?;
            let report = salla_odoo_store::retention::run(
                &pool,
                &salla_odoo_store::retention::Policy::from_settings(&settings.retention),
                time::OffsetDateTime::now_utc(),
                dry_run,
            )
            .await?;
            if cli.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&report).expect("serialisable")
                )?;
            } else {
                let verb = if dry_run { "would delete" } else { "deleted" };
                writeln!(
                    out,
                    "sync log entries {verb}:            {}",
                    report.sync_log
                )?;
                writeln!(
                    out,
                    "pending dead letters {verb}:        {}",
                    report.dead_letters_pending
                )?;
                writeln!(
                    out,
                    "replayed/discarded dead letters {verb}: {}",
                    report.dead_letters_handled
                )?;
            }
        }
        Command::Reconcile {
            merchant,
            all,
            since,
            dry_run,
        } => {
            reconcile::run(&settings, merchant, all, since, dry_run, cli.json, out).await?;
        }
        Command::Stock { command } => {
            stock::run(command, &settings, cli.json, out).await?;
        }
        Command::Doctor => {
            let checks = doctor::run(&settings).await;
            doctor::report(&checks, cli.json, out)?;
        }
        Command::Config => {
            if cli.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&settings).expect("serialisable")
                )?;
            } else {
                writeln!(out, "{settings:#?}")?;
            }
        }
        Command::Store { command } => {
            stores::run_store(command, &settings, cli.json, out).await?;
        }
        Command::Secrets { command } => {
            stores::run_secrets(command, &settings, cli.json, out).await?;
        }
        Command::Dlq { command } => {
            dlq::run(command, &settings, cli.json, out).await?;
        }
    }
    Ok(())
}

/// The whole program, for the thin `main`: parse, run, map errors to exit codes.
pub async fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    // reqwest is built without a default crypto provider (see docs/apalis-redis.md): ring it is.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let json = cli.json;
    // Not locked: `run` logs from other threads while it writes its banner here.
    let mut stdout = std::io::stdout();
    match run(cli, &mut stdout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                let _ = writeln!(
                    std::io::stderr(),
                    "{}",
                    serde_json::json!({"error": e.to_string(), "exit_code": e.exit_code()})
                );
            } else {
                let _ = writeln!(std::io::stderr(), "error: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
