//! Where the CLI's data is, and `salla-odoo run`: ingest, workers and the scheduled jobs in one process.
//!
//! # Data layout (embedded storage, one directory)
//! | file | holds |
//! |---|---|
//! | `queue.db` | the job queue (SQLite, apalis-sqlite's schema; see `salla_odoo_queue::embedded`) |
//! | `store.db` | store settings, encrypted secrets, id map, sync log, dead letters (SQLite, the `store` crate's schema) |
//! | `secrets.key` | the AES-256 key sealing the secrets, created (mode 0600) when `secrets.key` is not configured |
//! | `run.lock` | held (an OS file lock) by the one `salla-odoo run` using the directory; holds its pid |
//!
//! # Failure handling
//! A second `run` on the same directory finds the lock held and refuses to start (exit 2), so two
//! processes never consume one queue (entity locks and per-store limits live in the running process's
//! memory). The OS drops the lock when the process dies, even by SIGKILL; the next `run` then
//! re-queues the jobs the dead one held and finishes them. Other CLI commands may run beside `run`:
//! SQLite serialises their writes with its own file locks.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use salla_odoo_core::Settings;
use salla_odoo_queue::Queue;
use salla_odoo_store::Db;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::CliError;

/// Which storage a command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Redis and Postgres, from `redis.url` / `database.url`.
    Fleet,
    /// SQLite files in this directory.
    Embedded(PathBuf),
}

impl Storage {
    /// Embedded unless Redis or Postgres is configured (file or environment). `--data-dir` forces
    /// embedded storage by setting `embedded.data_dir` and clearing `servers_configured`.
    pub fn resolve(settings: &Settings) -> Storage {
        if settings.servers_configured {
            Storage::Fleet
        } else {
            Storage::Embedded(settings.embedded.data_dir.clone())
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Storage::Fleet => "fleet (Redis + Postgres)".into(),
            Storage::Embedded(dir) => format!("embedded ({})", dir.display()),
        }
    }
}

fn ensure_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Usage(format!("data directory {}: {e}", dir.display())))
}

/// The store database of `storage`. Embedded: opened (created if missing) and migrated, as nobody
/// else would migrate it.
pub async fn open_db(settings: &Settings, storage: &Storage) -> Result<Db, CliError> {
    match storage {
        Storage::Fleet => Ok(salla_odoo_store::connect_lazy(&crate::db_config(settings))?),
        Storage::Embedded(dir) => {
            ensure_dir(dir)?;
            let db = salla_odoo_store::open_sqlite(&dir.join("store.db")).await?;
            salla_odoo_store::migrate(&db).await?;
            Ok(db)
        }
    }
}

/// The queue of `storage`.
pub async fn open_queue(settings: &Settings, storage: &Storage) -> Result<Queue, CliError> {
    match storage {
        Storage::Fleet => Ok(Queue::from_settings(settings)?),
        Storage::Embedded(dir) => {
            ensure_dir(dir)?;
            Ok(Queue::open_embedded(&dir.join("queue.db"), settings).await?)
        }
    }
}

/// Whether embedded storage has a key file already.
pub fn secrets_key_exists(storage: &Storage) -> bool {
    matches!(storage, Storage::Embedded(dir) if dir.join("secrets.key").exists())
}

/// Embedded storage without a configured `secrets.key` keeps its key in `secrets.key` in the data
/// directory, created on first use. A configured key always wins (and is the better place for it).
pub fn ensure_secrets_key(settings: &mut Settings, storage: &Storage) -> Result<(), CliError> {
    let Storage::Embedded(dir) = storage else {
        return Ok(());
    };
    if !settings.secrets.key.expose_secret().is_empty() {
        return Ok(());
    }
    ensure_dir(dir)?;
    let path = dir.join("secrets.key");
    let key = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes: [u8; 32] = rand::random();
            let text = base64::engine::general_purpose::STANDARD.encode(bytes);
            let mut file = {
                use std::os::unix::fs::OpenOptionsExt;
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?
            };
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            text
        }
        Err(e) => return Err(CliError::Usage(format!("{}: {e}", path.display()))),
    };
    settings.secrets.key = SecretString::from(key);
    Ok(())
}

/// The exclusive hold of one `salla-odoo run` on a data directory. Dropping it releases it.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Take the data directory's run lock, or say which process holds it.
pub fn lock_data_dir(dir: &Path) -> Result<DirLock, CliError> {
    ensure_dir(dir)?;
    let path = dir.join("run.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(CliError::Usage(format!(
                "data directory {} is in use by another salla-odoo run (pid {}); stop it first, \
                 or give this one its own --data-dir",
                dir.display(),
                holder.trim()
            )));
        }
        Err(TryLockError::Error(e)) => return Err(e.into()),
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}", std::process::id())?;
    file.sync_all()?;
    Ok(DirLock { _file: file })
}

/// What `salla-odoo run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub storage: Storage,
    pub listen: Option<SocketAddr>,
    /// Address of /metrics and /healthz of the worker side; `None` = off.
    pub metrics_listen: Option<SocketAddr>,
}

/// Ingest, workers and the scheduled jobs in this process until `shutdown`; then the ingest stops
/// accepting, in-flight jobs drain (up to `worker.drain_secs`) and everything is handed back.
pub async fn run(
    mut settings: Settings,
    options: RunOptions,
    banner: &mut (impl Write + Send),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let _lock = match &options.storage {
        Storage::Embedded(dir) => Some(lock_data_dir(dir)?),
        Storage::Fleet => None,
    };
    ensure_secrets_key(&mut settings, &options.storage)?;
    settings
        .require_webhook_secret()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    settings
        .require_secrets_key()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let db = open_db(&settings, &options.storage).await?;
    let queue = open_queue(&settings, &options.storage).await?;
    if queue.is_embedded() {
        // Alone on the directory (the lock proves it): whatever a previous run held is ours to finish.
        let recovered = queue.requeue_orphans(Duration::ZERO).await?;
        if recovered > 0 {
            tracing::warn!(
                jobs = recovered,
                "re-queued the jobs a previous run left unfinished"
            );
        }
    }
    let listen = options.listen.unwrap_or(settings.ingest.listen);
    let listener = salla_odoo_ingest::edge::listen(listen)
        .map_err(|e| CliError::Usage(format!("listening on {listen}: {e}")))?;
    let metrics = match options.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| CliError::Usage(format!("listening on {addr}: {e}")))?,
        ),
        None => None,
    };
    let local = listener.local_addr()?;
    writeln!(banner, "salla-odoo run: ingest and workers in one process")?;
    writeln!(banner, "  storage:     {}", options.storage.describe())?;
    writeln!(banner, "  webhook URL: http://{local}/webhooks/salla")?;
    banner.flush()?;

    let stop = CancellationToken::new();
    let state = salla_odoo_ingest::AppState::with_queue(&settings, queue.clone())
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let grace = Duration::from_millis(settings.ingest.shutdown_grace_ms);
    let ingest = tokio::spawn(salla_odoo_ingest::serve(
        listener,
        state,
        grace,
        stop.clone().cancelled_owned(),
    ));
    let worker = tokio::spawn(salla_odoo_worker::run_with(
        settings.clone(),
        salla_odoo_worker::worker_identity(None),
        queue.clone(),
        db.clone(),
        metrics,
        stop.clone().cancelled_owned(),
    ));
    tracing::info!(addr = %local, storage = %options.storage.describe(), "salla-odoo run started");
    shutdown.await;
    tracing::info!("stopping: ingest first, then the workers drain");
    stop.cancel();
    let ingest = ingest.await;
    let worker = worker.await;
    queue.close().await;
    db.close().await;
    if let Ok(Err(e)) = ingest {
        return Err(CliError::Failed(format!("ingest: {e}")));
    }
    match worker {
        Ok(Err(e)) => Err(CliError::Failed(format!("worker: {e}"))),
        Err(e) => Err(CliError::Failed(format!("worker task: {e}"))),
        Ok(Ok(())) => Ok(()),
    }
}
