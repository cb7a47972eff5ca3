//! The processes of a chaos run, each a real binary: a Redis with append-only persistence (so it
//! can be killed and restarted with its data), one `odoo-sandbox` per group of stores, one
//! `salla-odoo-ingest` and the `salla-odoo-worker`s; plus a Postgres server of the run's own
//! ([`PgServer`]) with a database migrated with `salla-odoo migrate`. Every child is killed when its
//! handle is dropped. Children's logs go to files in the run's directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{Proc, TEST_SECRETS_KEY, free_port, workspace_bin};

/// The webhook secret of the run (a test value).
pub const SECRET: &str = "chaos-webhook-secret";
/// The Odoo API key of the stores (`store add --odoo-api-key-env`), given to every sandbox as
/// admin's key: the calls made with it are the connector's (`GET /_sandbox/calls/api_key`).
pub const ODOO_API_KEY: &str = "chaos-connector-api-key";

/// A Redis of the run's own, on a free port, with AOF in the run's directory.
pub struct AofRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Proc>,
}

impl AofRedis {
    pub fn start(dir: &Path) -> Self {
        let dir = dir.join("redis");
        std::fs::create_dir_all(&dir).expect("redis dir");
        let mut r = AofRedis {
            port: free_port(),
            dir,
            child: None,
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Start again on the same port and directory (the AOF is replayed); wait until it answers.
    pub fn restart(&mut self) {
        let bin = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--appendonly", "yes", "--appendfsync", "everysec"])
            .args(["--save", ""])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (install redis-server; make chaos does)");
        self.child = Some(Proc { child });
        let client = redis::Client::open(self.url()).expect("redis url");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(200))
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server on port {} did not come up", self.port);
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.child.take() {
            p.kill();
        }
    }
}

/// A Postgres server of the run's own (`initdb` into the run's directory, a free port, fsync off:
/// a SIGKILL loses nothing the kernel has), so that the run can kill it and start it again on the
/// same data without touching the machine's shared server. As root it runs as the `postgres` user
/// (`setpriv`, which execs, so the child is the postmaster itself). `PG_BIN` names the directory of
/// `initdb` and `postgres` when they are not on `PATH` (Debian keeps them in
/// `/usr/lib/postgresql/<version>/bin`, which is searched too).
pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    child: Option<Proc>,
}

impl PgServer {
    fn bin_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("PG_BIN") {
            return PathBuf::from(d);
        }
        let on_path = Command::new("sh")
            .args(["-c", "command -v postgres"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        if let Some(p) = on_path.and_then(|p| p.parent().map(Path::to_owned)) {
            return p;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("postgres").exists())
            .collect();
        found.sort();
        found.pop().expect(
            "the PostgreSQL server binaries (initdb, postgres): install postgresql or set PG_BIN",
        )
    }

    /// `initdb` a new cluster in `dir/pg` and start it.
    pub fn start(dir: &Path) -> Self {
        let dir = dir.join("pg");
        std::fs::create_dir_all(&dir).expect("postgres dir");
        // SAFETY-free check of the effective user: root cannot run postgres.
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown {} to postgres", dir.display());
        }
        let mut pg = PgServer {
            port: free_port(),
            dir,
            bin: Self::bin_dir(),
            as_postgres,
            child: None,
        };
        let out = pg
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(pg.data())
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.restart();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Start on the same port and data (crash recovery replays the WAL); wait until it answers.
    /// A killed server's backends take a moment to notice; until then a start fails, so it is
    /// tried again.
    pub fn restart(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            let child = self
                .command("postgres")
                .arg("-D")
                .arg(self.data())
                .args(["-p", &self.port.to_string(), "-k"])
                .arg(&self.dir)
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
                .args(["-c", "max_connections=300", "-c", "shared_buffers=64MB"])
                .stdout(Stdio::null())
                .stderr(log_file(&self.dir, "postgres-server"))
                .spawn()
                .expect("postgres starts");
            let mut proc = Proc { child };
            let up = Instant::now();
            while up.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = proc.child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    self.child = Some(proc);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            proc.kill();
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "postgres on port {} did not come up (log: {})",
            self.port,
            self.dir.join("postgres-server.log").display()
        );
    }

    /// SIGKILL the postmaster, as a crash would (its backends exit when they notice).
    pub fn kill(&mut self) {
        if let Some(mut p) = self.child.take() {
            p.kill();
        }
    }
}

/// A Postgres database of the run's own, on the run's own server ([`PgServer`]), stopped by
/// [`ChaosFleet::cleanup`] or when the value is dropped; its data stays in the run's directory
/// (removed when the run passes, kept for a look when it fails).
pub struct ChaosDb {
    pub pool: sqlx::PgPool,
    pub url: String,
    pub server: PgServer,
}

impl ChaosDb {
    async fn create(dir: &Path) -> Self {
        let dir = dir.to_owned();
        let server = tokio::task::spawn_blocking(move || PgServer::start(&dir))
            .await
            .expect("the run's Postgres starts");
        let admin = sqlx::PgPool::connect(&server.url("postgres"))
            .await
            .expect("the run's Postgres is reachable");
        sqlx::query("CREATE DATABASE salla_odoo")
            .execute(&admin)
            .await
            .expect("create the run's database");
        admin.close().await;
        let url = server.url("salla_odoo");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&url)
            .await
            .expect("connect to the run's database");
        ChaosDb { pool, url, server }
    }

    /// Stop the server (its data stays in the run's directory, which a passing run removes).
    async fn stop(&mut self) {
        self.pool.close().await;
        self.server.kill();
    }
}

/// One `odoo-sandbox` process.
pub struct SandboxProc {
    pub version: u32,
    pub url: String,
    _proc: Proc,
}

/// Tunables of the connector processes for a run (seconds unless named otherwise).
#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub workers: usize,
    pub odoo_versions: Vec<u32>,
    pub retry_max_attempts: u32,
    /// The settings that make the connector use the run's `salla-sandbox` (and its loops' pace).
    pub salla_env: Vec<(String, String)>,
}

/// Every process of the run.
pub struct ChaosFleet {
    pub dir: PathBuf,
    pub namespace: String,
    pub redis: AofRedis,
    pub db: ChaosDb,
    pub sandboxes: Vec<SandboxProc>,
    pub ingest_url: String,
    ingest: Option<Proc>,
    ingest_starts: usize,
    pub workers: Vec<Proc>,
    spawned_workers: usize,
    config: FleetConfig,
}

fn wait_http(url: &str, limit: Duration) {
    let start = Instant::now();
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    while start.elapsed() < limit {
        if std::net::TcpStream::connect_timeout(
            &addr.parse().expect("an address"),
            Duration::from_millis(200),
        )
        .is_ok()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("{url} did not come up within {limit:?}");
}

impl ChaosFleet {
    pub async fn start(dir: &Path, config: FleetConfig) -> Self {
        let namespace = format!("chaos:{}", uuid::Uuid::new_v4().simple());
        let redis = AofRedis::start(dir);
        let db = ChaosDb::create(dir).await;
        let sandboxes = config
            .odoo_versions
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let port = free_port();
                let child = Command::new(workspace_bin("odoo-sandbox"))
                    .args([
                        "--listen",
                        &format!("127.0.0.1:{port}"),
                        "--version",
                        &v.to_string(),
                        // The connector's key, distinct from admin's password (the warehouse's
                        // and the run's own scripts): the sandbox counts the connector's calls.
                        "--api-key",
                        ODOO_API_KEY,
                    ])
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(log_file(dir, &format!("sandbox-{i}")))
                    .spawn()
                    .expect("odoo-sandbox starts");
                let url = format!("http://127.0.0.1:{port}");
                wait_http(&url, Duration::from_secs(20));
                SandboxProc {
                    version: *v,
                    url,
                    _proc: Proc { child },
                }
            })
            .collect();
        let ingest_port = free_port();
        let mut fleet = ChaosFleet {
            dir: dir.to_owned(),
            namespace,
            redis,
            db,
            sandboxes,
            ingest_url: format!("http://127.0.0.1:{ingest_port}"),
            // Started just below, with the fleet's environment.
            ingest: None,
            ingest_starts: 0,
            workers: Vec::new(),
            spawned_workers: 0,
            config,
        };
        let migrate = fleet.cli(&["migrate"]);
        assert!(
            migrate.status.success(),
            "salla-odoo migrate: {}",
            String::from_utf8_lossy(&migrate.stderr)
        );
        fleet.start_ingest();
        fleet
    }

    /// Start the ingest (again) on the run's ingest port; wait until it accepts connections.
    pub fn start_ingest(&mut self) {
        self.ingest_starts += 1;
        let mut ingest = Command::new(workspace_bin("salla-odoo-ingest"));
        ingest
            .args(["--listen", self.ingest_url.trim_start_matches("http://")])
            .stdout(Stdio::null())
            .stderr(log_file(
                &self.dir,
                &format!("ingest-{}", self.ingest_starts),
            ));
        self.apply_env(&mut ingest);
        self.ingest = Some(Proc {
            child: ingest.spawn().expect("salla-odoo-ingest starts"),
        });
        wait_http(&self.ingest_url, Duration::from_secs(20));
    }

    /// SIGKILL the ingest: Salla's deliveries meet a refused connection until it is started again.
    pub fn kill_ingest(&mut self) {
        if let Some(mut i) = self.ingest.take() {
            i.kill();
        }
    }

    /// The environment of every connector process of the run.
    pub fn env(&self) -> Vec<(String, String)> {
        let filter = std::env::var("CHAOS_LOG_FILTER").unwrap_or_else(|_| "warn".into());
        [
            ("REDIS_URL", self.redis.url()),
            ("DATABASE_URL", self.db.url.clone()),
            ("SALLA_ODOO__QUEUE__NAMESPACE", self.namespace.clone()),
            ("SALLA_ODOO__SECRETS__KEY", TEST_SECRETS_KEY.into()),
            ("SALLA_ODOO__SALLA__WEBHOOK_SECRET", SECRET.into()),
            ("SALLA_ODOO__SALLA__SECURITY_STRATEGY", "signature".into()),
            ("SALLA_ODOO__REDIS__CONNECT_TIMEOUT_MS", "500".into()),
            ("SALLA_ODOO__REDIS__COMMAND_TIMEOUT_MS", "1000".into()),
            // Orphan timeout 8 s > job timeout 5 s + drain 2 s (the worker checks it at start-up).
            ("SALLA_ODOO__WORKER__HEARTBEAT_SECS", "1".into()),
            ("SALLA_ODOO__WORKER__MISSED_HEARTBEATS", "8".into()),
            ("SALLA_ODOO__WORKER__JOB_TIMEOUT_SECS", "5".into()),
            ("SALLA_ODOO__WORKER__DRAIN_SECS", "2".into()),
            ("SALLA_ODOO__WORKER__POLL_MS", "100".into()),
            // 4 jobs at a time per worker: each worker then holds at most 12 Postgres connections, so
            // a run stays far from Postgres' 100 even beside another suite on the same server.
            ("SALLA_ODOO__WORKER__CONCURRENCY", "4".into()),
            ("SALLA_ODOO__WORKER__LOCK_BUSY_RETRY_MS", "200".into()),
            ("SALLA_ODOO__LIMITS__STORE_ODOO_CALLS_PER_SEC", "60".into()),
            // Retries within the run: 0.3 s doubling to 2 s; a job still failing after its
            // attempts (e.g. through the whole outage) is dead-lettered and replayed at the end.
            ("SALLA_ODOO__RETRY__BASE_MS", "300".into()),
            ("SALLA_ODOO__RETRY__CAP_SECS", "2".into()),
            (
                "SALLA_ODOO__RETRY__MAX_ATTEMPTS",
                self.config.retry_max_attempts.to_string(),
            ),
            ("SALLA_ODOO__LOG__FORMAT", "json".into()),
            ("SALLA_ODOO__LOG__FILTER", filter),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(self.config.salla_env.iter().cloned())
        .collect()
    }

    fn apply_env(&self, cmd: &mut Command) {
        cmd.env_remove("RUST_LOG");
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
    }

    /// `salla-odoo ARGS` with the run's environment.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(workspace_bin("salla-odoo"));
        cmd.args(args).env("CHAOS_ODOO_KEY", ODOO_API_KEY);
        self.apply_env(&mut cmd);
        cmd.output().expect("salla-odoo runs")
    }

    /// Configure a store through `salla-odoo store add`, syncing to sandbox `odoo`.
    pub fn add_store(&self, merchant: u64, odoo: usize) {
        self.add_store_with(merchant, odoo, &[]);
    }

    /// [`ChaosFleet::add_store`] with `extra` options (e.g. `--pricelists USD=ID`).
    pub fn add_store_with(&self, merchant: u64, odoo: usize, extra: &[String]) {
        let merchant = merchant.to_string();
        let url = self.sandboxes[odoo].url.clone();
        let mut args = vec![
            "store",
            "add",
            "--merchant",
            &merchant,
            "--odoo-url",
            &url,
            "--odoo-db",
            "odoo",
            "--odoo-login",
            "admin",
            "--odoo-api-key-env",
            "CHAOS_ODOO_KEY",
            "--create-unknown-skus",
        ];
        args.extend(extra.iter().map(String::as_str));
        let out = self.cli(&args);
        assert!(
            out.status.success(),
            "store add {merchant}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The store records its orders' creation intents from `unix` seconds on (as if it had been
    /// added then): the history's orders are dated in the past, and a real store's orders come
    /// after it was added, so its new orders are created without a search of their marker.
    pub async fn record_intents_from(&self, merchant: u64, unix: i64) {
        crate::record_intents_from(&self.db.pool, merchant, unix).await;
    }

    /// Start one more worker; returns its pid.
    pub fn spawn_worker(&mut self) -> u32 {
        self.spawned_workers += 1;
        let mut cmd = Command::new(workspace_bin("salla-odoo-worker"));
        cmd.args(["--metrics-listen", "off"])
            .stdout(Stdio::null())
            .stderr(log_file(
                &self.dir,
                &format!("worker-{}", self.spawned_workers),
            ));
        self.apply_env(&mut cmd);
        let child = cmd.spawn().expect("salla-odoo-worker starts");
        let pid = child.id();
        self.workers.push(Proc { child });
        pid
    }

    /// Keep `config.workers` workers running.
    pub fn start_workers(&mut self) {
        while self.workers.len() < self.config.workers {
            self.spawn_worker();
        }
    }

    /// SIGKILL worker `i` (by position); returns its pid.
    pub fn kill_worker(&mut self, i: usize) -> u32 {
        let mut p = self.workers.remove(i);
        let pid = p.pid();
        p.kill();
        pid
    }

    /// Stop everything (the database's data stays in the run's directory).
    pub async fn cleanup(mut self) {
        for w in &mut self.workers {
            w.kill();
        }
        self.workers.clear();
        if let Some(mut i) = self.ingest.take() {
            i.kill();
        }
        self.redis.kill();
        self.db.stop().await;
    }
}

/// The fleet behind its mutex (shared by the run and the fault driver; never held across an await).
pub fn locked(f: &Mutex<ChaosFleet>) -> MutexGuard<'_, ChaosFleet> {
    f.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn log_file(dir: &Path, name: &str) -> Stdio {
    match std::fs::File::create(dir.join(format!("{name}.log"))) {
        Ok(f) => Stdio::from(f),
        Err(_) => Stdio::null(),
    }
}
