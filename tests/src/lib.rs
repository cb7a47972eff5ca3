//! Helpers for the end-to-end suites: each test gets its own Redis key namespace (or its own
//! Redis server, when it needs to stop one), its own Postgres database, and an ingest service on
//! port 0 that it stops itself.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use salla_odoo_core::Settings;
use salla_odoo_queue::Queue;

pub mod chaos;

pub use salla_odoo_salla::verify::sign;

/// The test webhook secret (a test value, not a real one).
pub const SECRET: &str = "test-webhook-secret";

/// The shared Redis for tests (`TEST_REDIS_URL`, else `REDIS_URL`, else the local default).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The Postgres server for tests, as a URL without a database name.
pub fn postgres_base_url() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The URL of database `name` on the test server. The server URL may carry connection parameters
/// (`?sslmode=disable`, `?host=/var/run/postgresql`); they are kept after the database name.
pub fn postgres_url(name: &str) -> String {
    let base = postgres_base_url();
    match base.split_once('?') {
        Some((server, params)) => format!("{}/{name}?{params}", server.trim_end_matches('/')),
        None => format!("{}/{name}", base.trim_end_matches('/')),
    }
}

/// A namespace no other test uses.
pub fn unique_namespace(test: &str) -> String {
    format!("test:{test}:{}", uuid::Uuid::new_v4().simple())
}

/// Settings for a test: defaults, the test secret, the given namespace and Redis, quiet logs.
pub fn test_settings(namespace: &str, redis: &str, extra: &[(&str, &str)]) -> Settings {
    let mut env: Vec<(String, String)> = vec![
        ("SALLA_ODOO__SALLA__WEBHOOK_SECRET".into(), SECRET.into()),
        ("SALLA_ODOO__QUEUE__NAMESPACE".into(), namespace.into()),
        ("SALLA_ODOO__REDIS__URL".into(), redis.into()),
        ("SALLA_ODOO__REDIS__CONNECT_TIMEOUT_MS".into(), "500".into()),
        ("SALLA_ODOO__REDIS__COMMAND_TIMEOUT_MS".into(), "500".into()),
        (
            "SALLA_ODOO__INGEST__SHUTDOWN_GRACE_MS".into(),
            "2000".into(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::load(None, env).expect("test settings are valid")
}

/// An ingest service on 127.0.0.1:0, stopped when dropped.
pub struct TestIngest {
    pub addr: SocketAddr,
    pub queue: Queue,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    namespace: String,
    redis: String,
}

impl TestIngest {
    pub async fn start(settings: Settings) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let namespace = settings.queue.namespace.clone();
        let redis = secrecy::ExposeSecret::expose_secret(&settings.redis.url).to_owned();
        let state = salla_odoo_ingest::AppState::new(&settings).expect("ingest state");
        let queue = state.queue().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            salla_odoo_ingest::serve(listener, state, Duration::from_secs(2), async {
                let _ = rx.await;
            })
            .await
            .expect("ingest serves");
        });
        Self {
            addr,
            queue,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .unwrap(),
            stop: Some(tx),
            task: Some(task),
            namespace,
            redis,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POST `body` to the webhook endpoint, signed with the test secret.
    pub async fn post_signed(&self, body: &[u8]) -> (u16, serde_json::Value) {
        self.post(body, &[("x-salla-signature", &sign(SECRET, body))])
            .await
    }

    /// POST `body` with exactly these extra headers.
    pub async fn post(&self, body: &[u8], headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .post(self.url("/webhooks/salla"))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("ingest answers");
        let status = resp.status().as_u16();
        let json = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    /// A client of an ingest running in another process (`salla-odoo run`) at `addr`, whose queue is
    /// `queue` (opened by the test to inspect it).
    pub fn remote(addr: SocketAddr, queue: Queue) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            addr,
            queue,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .unwrap(),
            stop: None,
            task: None,
            namespace: String::new(),
            redis: String::new(),
        }
    }

    /// Stop the server and wait until it has stopped.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for TestIngest {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if !self.namespace.is_empty() {
            delete_namespace(&self.redis, &self.namespace);
        }
    }
}

/// Remove every key of a test namespace (best effort: the Redis may already be gone).
pub fn delete_namespace(redis_url: &str, namespace: &str) {
    let Ok(client) = redis::Client::open(redis_url) else {
        return;
    };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(500)) else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}:*"))
        .query(&mut conn)
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
    }
}

/// Salla's fixtures, read from `../shared` beside the repository (never copied into it).
/// `None`, with a message, where `../shared` is absent (a user's clone).
pub fn salla_fixtures() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/salla");
    if !dir.is_dir() {
        eprintln!("skipping: ../shared/fixtures/salla not present (CI always has it)");
        return None;
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        // The invoice example is a bare `data` object: wrap it in the standard envelope.
        let body = match name.split_once(".data-only") {
            Some((event, _)) => {
                let mut b = format!(
                    r#"{{"event":"{event}","merchant":1305146709,"created_at":"2025-05-19 12:05:05","data":"#
                )
                .into_bytes();
                b.extend_from_slice(&bytes);
                b.push(b'}');
                b
            }
            None => bytes,
        };
        out.push((name, body));
    }
    out.sort();
    Some(out)
}

/// A webhook body written for the project, in the shape of Salla's `order.created`.
pub fn sample_order(merchant: u64, order_id: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "event": "order.created",
        "merchant": merchant,
        "created_at": "Mon Nov 02 2026 10:00:00 GMT+0300",
        "data": {
            "id": order_id,
            "reference_id": order_id % 100_000,
            "status": {"id": 1, "name": "Under review", "slug": "under_review"},
            "currency": "SAR",
            "amounts": {"total": {"amount": "115.00", "currency": "SAR"}},
            "customer": {"id": 9000 + order_id % 50, "first_name": "Sample", "last_name": "Buyer",
                         "mobile": 500000000 + order_id % 1000, "mobile_code": "+966",
                         "email": format!("buyer{}@example.test", order_id % 50)},
            "items": [{"id": order_id * 10, "name": "Sample tea", "sku": "TEA-1", "quantity": 1,
                       "amounts": {"price_without_tax": {"amount": 100, "currency": "SAR"}}}]
        }
    }))
    .unwrap()
}

/// A Redis server of the test's own, on a free port, so the test can stop and restart it without
/// touching the machine's shared Redis. Killed when dropped.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    pub fn start() -> Self {
        let port = free_port();
        let mut r = Self { port, child: None };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Start (again) on the same port, and wait until it answers.
    pub fn restart(&mut self) {
        let child = Command::new(redis_server_binary())
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (install redis-server, or run `make test`, which does)");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        for _ in 0..200 {
            if let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(100))
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("own redis-server on port {} did not answer", self.port);
    }

    /// Kill it (SIGKILL) and wait until the port is closed.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn redis_server_binary() -> String {
    std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into())
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Postgres database of the test's own, migrated, dropped when the value is dropped.
pub struct TestDb {
    /// For the store's functions; [`TestDb::pg`] for SQL of the test's own.
    pub pool: salla_odoo_store::Db,
    pub url: String,
    pub name: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = format!("salla_odoo_test_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&postgres_url("postgres"))
            .await
            .expect("Postgres is reachable (make test starts one)");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let url = postgres_url(&name);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(20)
            .connect(&url)
            .await
            .unwrap();
        let pool = salla_odoo_store::Db::from(pool);
        salla_odoo_store::migrate(&pool).await.unwrap();
        Self { pool, url, name }
    }

    /// The embedded store of a `salla-odoo run` data directory (created and migrated), as the test
    /// process sees it beside the running connector.
    pub async fn embedded(data_dir: &std::path::Path) -> Self {
        std::fs::create_dir_all(data_dir).unwrap();
        let pool = salla_odoo_store::open_sqlite(&data_dir.join("store.db"))
            .await
            .unwrap();
        salla_odoo_store::migrate(&pool).await.unwrap();
        Self {
            pool,
            url: String::new(),
            name: String::new(),
        }
    }

    /// A number from `sql` (one row, one integer column), on either backend: keep the SQL portable.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match &self.pool {
            salla_odoo_store::Db::Session(_) => unreachable!("a test database is a pool"),
            salla_odoo_store::Db::Postgres(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(p)
                .await
                .unwrap(),
            salla_odoo_store::Db::Sqlite(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(p)
                .await
                .unwrap(),
        }
    }

    /// Every row of every table, as text (`(table, row)`), on either backend: to search for what
    /// must not be stored.
    pub async fn dump_rows(&self) -> Vec<(String, String)> {
        match &self.pool {
            salla_odoo_store::Db::Session(_) => unreachable!("a test database is a pool"),
            salla_odoo_store::Db::Postgres(p) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
                )
                .fetch_all(p)
                .await
                .unwrap();
                let mut out = Vec::new();
                for table in tables {
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT t::text FROM {table} t"
                    )))
                    .fetch_all(p)
                    .await
                    .unwrap();
                    out.extend(rows.into_iter().map(|r| (table.clone(), r)));
                }
                out
            }
            salla_odoo_store::Db::Sqlite(p) => sqlite_rows(p).await,
        }
    }

    /// The Postgres pool, for the test's own SQL.
    pub fn pg(&self) -> &sqlx::PgPool {
        self.pool.as_postgres().expect("a Postgres test database")
    }
}

/// Every row of every table of a SQLite file, each column cast to text (BLOBs as their bytes).
pub async fn sqlite_rows(pool: &sqlx::SqlitePool) -> Vec<(String, String)> {
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(pool)
            .await
            .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{table}')"
        )))
        .fetch_all(pool)
        .await
        .unwrap();
        if columns.is_empty() {
            continue;
        }
        let row = columns
            .iter()
            .map(|c| format!("coalesce(CAST(\"{c}\" AS TEXT), '')"))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT CAST({row} AS BLOB) FROM \"{table}\""
        )))
        .fetch_all(pool)
        .await
        .unwrap();
        out.extend(
            rows.into_iter()
                .map(|r| (table.clone(), String::from_utf8_lossy(&r).into_owned())),
        );
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let admin_url = postgres_url("postgres");
        let name = self.name.clone();
        // Drop runs outside async code paths; a short-lived thread with its own runtime does the I/O.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                }
            });
        })
        .join();
    }
}

/// Store `merchant` (on Postgres `pool`) records its orders' creation intents from `unix` seconds
/// on, as a store added then would: generated histories date their orders in the past.
pub async fn record_intents_from(pool: &sqlx::PgPool, merchant: u64, unix: i64) {
    let at = time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
    let updated = sqlx::query("UPDATE stores SET order_intents_since = $1 WHERE merchant_id = $2")
        .bind(at)
        .bind(merchant as i64)
        .execute(pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(updated, 1, "store {merchant} exists");
}

/// A test encryption key (base64 of 32 bytes): test data only.
pub const TEST_SECRETS_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A workspace binary built next to this test executable (`cargo test --workspace` builds them).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // Test executables live in target/<profile>/deps, binaries (the benchmarks) in target/<profile>.
    let mut dir = exe.parent().expect("target/<profile>");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("target/<profile>");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` (make test does)",
        path.display()
    );
    path
}

/// A child process killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit (up to `limit`).
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How the connector under test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Redis + Postgres, an in-process ingest and `salla-odoo-worker` processes.
    Fleet,
    /// One `salla-odoo run` process on embedded storage (SQLite files in a data directory).
    Embedded,
}

/// The connector under test: its own namespace and storage, an ingest, worker processes started on
/// demand, and stores configured through the real CLI. In [`Mode::Embedded`] the ingest and the
/// worker are one `salla-odoo run` process, started by the first `spawn_worker*` call (which then
/// waits for its HTTP port); later calls start it again only if it is not running.
pub struct Fleet {
    pub mode: Mode,
    pub ns: String,
    pub db: TestDb,
    pub ingest: TestIngest,
    pub workers: Vec<Proc>,
    /// Embedded mode: the data directory (removed when the fleet is dropped).
    pub data_dir: Option<PathBuf>,
    extra_env: Vec<(String, String)>,
}

impl Fleet {
    pub async fn start(test: &str) -> Self {
        Self::start_with(test, &[]).await
    }

    pub async fn start_with(test: &str, extra_env: &[(&str, &str)]) -> Self {
        Self::start_in(Mode::Fleet, test, extra_env).await
    }

    pub async fn start_in(mode: Mode, test: &str, extra_env: &[(&str, &str)]) -> Self {
        let ns = unique_namespace(test);
        let extra_env = extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match mode {
            Mode::Fleet => {
                let db = TestDb::create().await;
                let ingest = TestIngest::start(test_settings(&ns, &redis_url(), &[])).await;
                Self {
                    mode,
                    ns,
                    db,
                    ingest,
                    workers: Vec::new(),
                    data_dir: None,
                    extra_env,
                }
            }
            Mode::Embedded => {
                let dir = std::env::temp_dir().join(format!("salla-odoo-{}", ns.replace(':', "-")));
                let db = TestDb::embedded(&dir).await;
                let settings = test_settings(&ns, &redis_url(), &[]);
                let queue = Queue::open_embedded(&dir.join("queue.db"), &settings)
                    .await
                    .unwrap();
                let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
                Self {
                    mode,
                    ns,
                    db,
                    ingest: TestIngest::remote(addr, queue),
                    workers: Vec::new(),
                    data_dir: Some(dir),
                    extra_env,
                }
            }
        }
    }

    /// Post a signed webhook while no worker runs. In embedded mode the ingest lives in the stopped
    /// `salla-odoo run` process, so an in-process ingest on the same queue file takes it instead.
    pub async fn post_signed_while_stopped(&self, body: &[u8]) -> (u16, serde_json::Value) {
        if self.mode == Mode::Fleet {
            return self.ingest.post_signed(body).await;
        }
        let settings = test_settings(&self.ns, &redis_url(), &[]);
        let state =
            salla_odoo_ingest::AppState::with_queue(&settings, self.ingest.queue.clone()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(salla_odoo_ingest::serve(
            listener,
            state,
            Duration::from_secs(1),
            async {
                let _ = rx.await;
            },
        ));
        let answer = TestIngest::remote(addr, self.ingest.queue.clone())
            .post_signed(body)
            .await;
        let _ = tx.send(());
        server.await.unwrap().unwrap();
        answer
    }

    /// Embedded mode: the `salla-odoo run` command line.
    fn run_command(&self) -> Command {
        let mut cmd = Command::new(workspace_bin("salla-odoo"));
        cmd.arg("--data-dir")
            .arg(self.data_dir.as_ref().expect("embedded"))
            .args(["run", "--listen", &self.ingest.addr.to_string()])
            .env_remove("RUST_LOG")
            .env_remove("REDIS_URL")
            .env_remove("DATABASE_URL");
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd
    }

    /// Embedded mode: start `salla-odoo run` unless it runs, and wait until it answers.
    fn start_run(&mut self, mut cmd: Command) -> usize {
        if let Some(i) = self
            .workers
            .iter_mut()
            .position(|w| matches!(w.child.try_wait(), Ok(None)))
        {
            return i;
        }
        self.workers.push(Proc {
            child: cmd.spawn().expect("salla-odoo run starts"),
        });
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(self.ingest.addr).is_err() {
            let proc = self.workers.last_mut().unwrap();
            if let Ok(Some(status)) = proc.child.try_wait() {
                panic!("salla-odoo run exited: {status}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "salla-odoo run did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.workers.len() - 1
    }

    /// The environment every connector process of this fleet gets.
    pub fn env(&self) -> Vec<(String, String)> {
        let servers = match self.mode {
            Mode::Fleet => vec![
                ("REDIS_URL", redis_url()),
                ("DATABASE_URL", self.db.url.clone()),
            ],
            Mode::Embedded => vec![("SALLA_ODOO__SALLA__WEBHOOK_SECRET", SECRET.to_owned())],
        };
        let mut env: Vec<(String, String)> = servers
            .into_iter()
            .chain([
                ("SALLA_ODOO__QUEUE__NAMESPACE", self.ns.clone()),
                ("SALLA_ODOO__SECRETS__KEY", TEST_SECRETS_KEY.into()),
                ("SALLA_ODOO__WORKER__HEARTBEAT_SECS", "1".into()),
                ("SALLA_ODOO__WORKER__MISSED_HEARTBEATS", "6".into()),
                ("SALLA_ODOO__WORKER__JOB_TIMEOUT_SECS", "3".into()),
                ("SALLA_ODOO__WORKER__DRAIN_SECS", "2".into()),
                ("SALLA_ODOO__WORKER__POLL_MS", "100".into()),
                ("SALLA_ODOO__WORKER__LOCK_BUSY_RETRY_MS", "200".into()),
                ("SALLA_ODOO__RETRY__BASE_MS", "300".into()),
                ("SALLA_ODOO__RETRY__CAP_SECS", "2".into()),
                (
                    "SALLA_ODOO__LOG__FILTER",
                    std::env::var("FLEET_LOG_FILTER").unwrap_or_else(|_| "warn".into()),
                ),
            ])
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// `salla-odoo ARGS` with this fleet's environment (and `extra`).
    pub fn cli(&self, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = Command::new(workspace_bin("salla-odoo"));
        if let Some(dir) = &self.data_dir {
            cmd.arg("--data-dir").arg(dir);
        }
        cmd.args(args)
            .env_remove("RUST_LOG")
            .env_remove("REDIS_URL")
            .env_remove("DATABASE_URL");
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().expect("salla-odoo runs")
    }

    /// Configure a store through `salla-odoo store add` (the API key passed by variable name).
    pub fn add_store(&self, merchant: u64, odoo_url: &str, options: &[&str]) {
        let merchant = merchant.to_string();
        let mut args = vec![
            "store",
            "add",
            "--merchant",
            &merchant,
            "--odoo-url",
            odoo_url,
            "--odoo-db",
            "odoo",
            "--odoo-login",
            "admin",
            "--odoo-api-key-env",
            "TEST_ODOO_KEY",
        ];
        args.extend_from_slice(options);
        let out = self.cli(&args, &[("TEST_ODOO_KEY", "admin")]);
        assert!(
            out.status.success(),
            "store add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Start one more worker process.
    pub fn spawn_worker(&mut self) -> usize {
        self.spawn_worker_with(&["--metrics-listen", "off"])
    }

    /// Start one more worker process logging at `info` into `log` (to search what it wrote).
    pub fn spawn_worker_logging_to(&mut self, log: &std::path::Path) -> usize {
        if self.mode == Mode::Embedded {
            let mut cmd = self.run_command();
            let file = std::fs::File::create(log).unwrap();
            cmd.env("SALLA_ODOO__LOG__FILTER", "debug")
                .stdout(file.try_clone().unwrap())
                .stderr(file);
            return self.start_run(cmd);
        }
        let mut cmd = Command::new(workspace_bin("salla-odoo-worker"));
        cmd.args(["--metrics-listen", "off"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap());
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd.env("SALLA_ODOO__LOG__FILTER", "debug");
        self.workers.push(Proc {
            child: cmd.spawn().expect("worker starts"),
        });
        self.workers.len() - 1
    }

    /// Start one more worker process with these arguments.
    pub fn spawn_worker_with(&mut self, args: &[&str]) -> usize {
        if self.mode == Mode::Embedded {
            let mut cmd = self.run_command();
            cmd.stdout(Stdio::null())
                .stderr(if std::env::var_os("FLEET_LOGS").is_some() {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                });
            return self.start_run(cmd);
        }
        let mut cmd = Command::new(workspace_bin("salla-odoo-worker"));
        cmd.args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            // FLEET_LOGS=1 shows the workers' logs while debugging a test.
            .stderr(if std::env::var_os("FLEET_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        self.workers.push(Proc {
            child: cmd.spawn().expect("worker starts"),
        });
        self.workers.len() - 1
    }

    /// Jobs with a recorded outcome.
    pub async fn outcomes(&self) -> i64 {
        self.db.scalar("SELECT count(*) FROM sync_log").await
    }

    /// Wait until at least `n` jobs have an outcome (panics after `limit`).
    pub async fn wait_outcomes(&self, n: i64, limit: Duration) {
        let start = std::time::Instant::now();
        loop {
            let have = self.outcomes().await;
            if have >= n {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "only {have} of {n} jobs have an outcome after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Where `merchant` is still mentioned: `table: rows` for every table with a `merchant_id`
    /// column, plus Redis keys of this namespace naming it and unfinished jobs of it.
    pub async fn mentions_of(&self, merchant: u64) -> Vec<String> {
        let mut found = Vec::new();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.columns
             WHERE column_name = 'merchant_id' AND table_schema = 'public'",
        )
        .fetch_all(self.db.pg())
        .await
        .unwrap();
        assert!(tables.len() >= 5, "{tables:?}");
        for table in tables {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {table} WHERE merchant_id = {merchant}"
            )))
            .fetch_one(self.db.pg())
            .await
            .unwrap();
            if n > 0 {
                found.push(format!("{table}: {n}"));
            }
        }
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        // The merchant as a whole key segment (job ids are UUIDs, which may contain its digits).
        let mut keys: Vec<String> = Vec::new();
        for pattern in [
            format!("{}:*:{merchant}:*", self.ns),
            format!("{}:*:{merchant}", self.ns),
        ] {
            let mut k: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.append(&mut k);
        }
        found.extend(keys.into_iter().map(|k| format!("redis key {k}")));
        let mut jobs = self.ingest.queue.waiting_jobs().await.unwrap();
        jobs.extend(self.ingest.queue.inflight_jobs().await.unwrap());
        let n = jobs
            .iter()
            .filter(|j| j.v1().merchant.get() == merchant)
            .count();
        if n > 0 {
            found.push(format!("{n} queued job(s)"));
        }
        found
    }

    /// The sync log as (event, outcome, reason) rows, oldest first.
    pub async fn log(&self) -> Vec<(String, String, Option<String>)> {
        const SQL: &str = "SELECT event, outcome, reason FROM sync_log ORDER BY id";
        match &self.db.pool {
            salla_odoo_store::Db::Session(_) => unreachable!("a test database is a pool"),
            salla_odoo_store::Db::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
            salla_odoo_store::Db::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.workers.clear();
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// An order event written for the project, in the shape of Salla's order model: `event` at
/// `created_at` ("YYYY-MM-DD HH:MM:SS"), one line of `qty` × `sku` at 100 SAR plus 15% VAT (the
/// tax Odoo's products carry by default), so Salla's total is 115 SAR a unit.
pub fn order_event(
    event: &str,
    merchant: u64,
    order: u64,
    created_at: &str,
    qty: u32,
    sku: &str,
) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "event": event,
        "merchant": merchant,
        "created_at": created_at,
        "data": {
            "id": order,
            "reference_id": 40_000 + order % 10_000,
            "status": {"id": 566146469, "name": "بإنتظار المراجعة", "slug": "under_review"},
            "payment_method": "cod",
            "currency": "SAR",
            "amounts": {
                "sub_total": {"amount": 100 * qty, "currency": "SAR"},
                "shipping_cost": {"amount": 0, "currency": "SAR"},
                "tax": {"percent": "15.00", "amount": {"amount": 15 * qty, "currency": "SAR"}},
                "total": {"amount": 115 * qty, "currency": "SAR"}
            },
            "customer": {"id": 70_000 + order % 7, "first_name": "Noura", "last_name": "Test",
                         "mobile": 555_000_000 + order % 7, "mobile_code": "+966",
                         "email": format!("noura{}@example.test", order % 7)},
            "items": [{"id": order * 10 + 1, "name": "Sample dates box", "sku": sku, "quantity": qty,
                       "amounts": {"price_without_tax": {"amount": 100, "currency": "SAR"},
                                   "total_discount": {"amount": 0, "currency": "SAR"},
                                   "tax": {"percent": "15.00",
                                           "amount": {"amount": 15 * qty, "currency": "SAR"}},
                                   "total": {"amount": 115 * qty, "currency": "SAR"}}}]
        }
    }))
    .unwrap()
}

/// CPU seconds and resident memory (KiB) of a process. CPU is the sum of its threads' run time from
/// `/proc/<pid>/task/*/schedstat` (nanoseconds; `/proc/<pid>/stat` counts 10 ms ticks, too coarse
/// for per-order figures), plus what exited threads left in `stat`'s tick counts beyond that.
pub fn proc_stats(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = 100.0; // USER_HZ on Linux
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let stat_cpu = (field(11) + field(12)) / ticks;
    let threads_ns: u64 = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
                .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    let threads = threads_ns as f64 / 1e9;
    // Live threads are exact; `stat` also holds exited threads, but only to the tick.
    let cpu = if stat_cpu > threads + 0.02 {
        stat_cpu
    } else {
        threads
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, rss_kb)
}

/// Wait until `check` holds (polling every 50 ms), or fail after `limit` naming `what`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pointing a fleet at a `salla-sandbox`, and the Salla bodies the API tests share.
pub mod salla {
    use serde_json::{Value, json};

    /// The settings that make a fleet use `salla` as its Salla (Admin API and OAuth), a job
    /// timeout a debug build's fetching jobs fit in on this machine (with the orphan timeout above
    /// it), and the scheduled loops off (a test turns on the one it tests; later variables win).
    pub fn env(salla: &salla_sandbox::Sandbox) -> Vec<(String, String)> {
        let o = salla.options();
        [
            ("SALLA_ODOO__SALLA__CLIENT_ID", o.client_id.clone()),
            ("SALLA_ODOO__SALLA__CLIENT_SECRET", o.client_secret.clone()),
            ("SALLA_ODOO__SALLA__API_URL", salla.admin_url()),
            (
                "SALLA_ODOO__SALLA__OAUTH_URL",
                format!("{}/oauth2", salla.url()),
            ),
            ("SALLA_ODOO__WORKER__JOB_TIMEOUT_SECS", "20".into()),
            ("SALLA_ODOO__WORKER__MISSED_HEARTBEATS", "30".into()),
            // The scheduled Odoo → Salla and reconciliation loops (and a new store's backfill)
            // stay off unless a test turns them on: their requests would mix with the test's.
            ("SALLA_ODOO__RECONCILE__INTERVAL_SECS", "0".into()),
            ("SALLA_ODOO__FULFILMENT__INTERVAL_SECS", "0".into()),
            ("SALLA_ODOO__STOCK__PUSH_INTERVAL_SECS", "0".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// `offset` from now in Salla's plain date form (`YYYY-MM-DD HH:MM:SS`, Riyadh time: UTC+3).
    pub fn riyadh(offset: time::Duration) -> String {
        let t = time::OffsetDateTime::now_utc() + time::Duration::hours(3) + offset;
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    /// `hours` ago in Salla's plain date form (Riyadh time).
    pub fn hours_ago(hours: i64) -> String {
        riyadh(time::Duration::hours(-hours))
    }

    /// `app.store.authorize` carrying `tokens`, as Salla posts it.
    pub fn authorize_event(merchant: u64, tokens: &salla_sandbox::Tokens) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "event": "app.store.authorize",
            "merchant": merchant,
            "created_at": "2026-12-01 08:00:00",
            "data": {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
                     "expires": tokens.expires, "scope": tokens.scope, "token_type": "bearer"}
        }))
        .unwrap()
    }

    /// `shipment.created` for an order: the webhook names the order and nothing else of it.
    pub fn shipment_event(merchant: u64, shipment: u64, order: u64) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "event": "shipment.created",
            "merchant": merchant,
            "created_at": "2026-12-01 10:00:00",
            "data": {"id": shipment, "order_id": order, "shipping_number": format!("SN{shipment}"),
                     "tracking_number": format!("TRK{shipment}"), "courier_name": "Aramex",
                     "status": "created", "label": []}
        }))
        .unwrap()
    }

    /// An order as Salla's API holds it (the `data` of [`super::order_event`]), changed at
    /// `updated_at`, with status `slug` (`in_progress`: confirmed, so it has a delivery).
    pub fn api_order(merchant: u64, order: u64, sku: &str, updated_at: &str, slug: &str) -> Value {
        let body: Value = serde_json::from_slice(&super::order_event(
            "order.created",
            merchant,
            order,
            updated_at,
            1,
            sku,
        ))
        .unwrap();
        let mut data = body["data"].clone();
        data["updated_at"] = json!(updated_at);
        let (id, name) = match slug {
            "in_progress" => (1_939_592_358u64, "قيد التنفيذ"),
            "completed" => (1_298_199_463, "تم التنفيذ"),
            "delivered" => (1_723_506_348, "تم التوصيل"),
            _ => (566_146_469, "بإنتظار المراجعة"),
        };
        data["status"] = json!({"id": id, "name": name, "slug": slug});
        data
    }
}

/// A Redis queue for a test under namespace `ns`: a minute's dedupe window, one-second timeouts.
pub fn test_redis_queue(url: &str, ns: &str) -> salla_odoo_queue::RedisQueue {
    salla_odoo_queue::RedisQueue::new(
        url,
        salla_odoo_queue::QueueConfig {
            namespace: ns.to_owned(),
            dedupe_window: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(1),
            command_timeout: Duration::from_secs(1),
        },
    )
    .unwrap()
}

/// One test's queue on one backend; its Redis namespace or embedded file goes when it is dropped.
pub struct BackendQueue {
    pub queue: Queue,
    /// The test's namespace (the Redis key prefix; the embedded queue's name).
    pub ns: String,
    dir: Option<PathBuf>,
}

impl Drop for BackendQueue {
    fn drop(&mut self) {
        match &self.dir {
            None => delete_namespace(&redis_url(), &self.ns),
            Some(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// The same test's queue on each backend: Redis (the fleet) and the embedded SQLite file
/// (`salla-odoo run`), one namespace / one file per test.
pub async fn queue_backends(test: &str) -> Vec<BackendQueue> {
    let ns = unique_namespace(test);
    let dir = std::env::temp_dir().join(format!("salla-odoo-queue-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let embedded = salla_odoo_queue::embedded::SqliteQueue::open(
        &dir.join("queue.db"),
        &ns,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    vec![
        BackendQueue {
            queue: test_redis_queue(&redis_url(), &ns).into(),
            ns: ns.clone(),
            dir: None,
        },
        BackendQueue {
            queue: embedded.into(),
            ns,
            dir: Some(dir),
        },
    ]
}

/// The worker settings of the worker tests: 8 jobs at once, 5 s per job, a 200 ms heartbeat and an
/// 8 s orphan timeout, a 100 ms poll, 3 starts, three attempts 1–5 ms apart.
pub fn test_worker_config() -> salla_odoo_worker::WorkerConfig {
    salla_odoo_worker::WorkerConfig {
        concurrency: 8,
        job_timeout: Duration::from_secs(5),
        drain: Duration::from_secs(2),
        heartbeat: Duration::from_millis(200),
        orphan_timeout: Duration::from_secs(8),
        poll: Duration::from_millis(100),
        max_starts: 3,
        lock_busy_retry: Duration::from_secs(1),
        retry: salla_odoo_core::RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            max_attempts: 3,
        },
        store_concurrency: 4,
        store_calls_per_sec: 0,
    }
}

/// A worker running in the background until the returned sender fires (or is dropped).
pub fn run_worker<H: salla_odoo_worker::Handler>(
    worker: &salla_odoo_worker::Worker<H>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), salla_odoo_worker::WorkerError>>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let w = worker.clone();
    let run = tokio::spawn(async move {
        w.run(async {
            let _ = rx.await;
        })
        .await
    });
    (tx, run)
}
