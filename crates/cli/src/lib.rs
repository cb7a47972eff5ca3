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
use salla_odoo_queue::{QueueError, RedisQueue};
use salla_odoo_store::{DbConfig, StoreError};

pub mod dlq;
pub mod doctor;
pub mod stores;

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
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Check Redis, Postgres, migrations, the clock, the secrets key, and each store's Odoo
    /// (reachable, credentials valid). Exits 1 when any check fails. Read-only: safe while workers run.
    Doctor,
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
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::Usage(_) => EXIT_USAGE,
            CliError::Queue(e) if e.is_transient() => EXIT_UNAVAILABLE,
            CliError::Store(e) if e.is_transient() => EXIT_UNAVAILABLE,
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

pub fn queue_from(settings: &Settings) -> Result<RedisQueue, CliError> {
    Ok(RedisQueue::from_settings(settings)?)
}

pub fn db_config(settings: &Settings) -> DbConfig {
    DbConfig {
        url: settings.database.url.clone(),
        max_connections: settings.database.max_connections,
        acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
    }
}

/// A pool from `[database]`, on Postgres or SQLite as the URL says (connects on first use).
pub fn pool(settings: &Settings) -> Result<salla_odoo_store::Db, CliError> {
    Ok(salla_odoo_store::connect_lazy(&db_config(settings))?)
}

/// Run one command, writing its output to `out`.
pub async fn run(cli: Cli, out: &mut impl Write) -> Result<(), CliError> {
    let settings = load_settings(cli.config.as_ref())?;
    match cli.command {
        Command::Migrate { status } => {
            let pool = salla_odoo_store::connect_lazy(&db_config(&settings))?;
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
            let stats = queue_from(&settings)?.stats().await?;
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
            let pool = salla_odoo_store::connect_lazy(&db_config(&settings))?;
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
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let json = cli.json;
    let mut stdout = std::io::stdout().lock();
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
