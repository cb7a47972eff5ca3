//! `salla-odoo store tokens`, `store show` and `doctor` on each store's Salla Merchant API token
//! state, in fleet storage (Postgres + Redis) and embedded storage (SQLite): tables, `--json`, exit
//! codes, and never a token in any output.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output};

use base64::Engine;
use salla_odoo_core::MerchantId;
use salla_odoo_core::settings::SecretsSettings;
use salla_odoo_store::tokens::{self, Source};
use salla_odoo_store::{Db, Keyring, StoreUpdate, stores};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

fn pg_server() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn b64_key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn keyring() -> Keyring {
    Keyring::from_settings(&SecretsSettings {
        key: SecretString::from(b64_key(1)),
        previous_keys: Vec::new(),
    })
    .unwrap()
}

// Recognisable fake tokens: none may ever appear in an output.
const ACCESS_OK: &str = "salla-access-OK-4d9f0b1c2e";
const REFRESH_OK: &str = "salla-refresh-OK-8a7e6f5d4c";
const ACCESS_DEAD: &str = "salla-access-DEAD-1b2c3d4e5f";
const REFRESH_DEAD: &str = "salla-refresh-DEAD-9f8e7d6c5b";
const ACCESS_EXPIRED: &str = "salla-access-EXPIRED-77aa88bb";
const ACCESS_STALE: &str = "salla-access-STALE-0c0c0c0c";
const REFRESH_STALE: &str = "salla-refresh-STALE-1d1d1d1d";
const ACCESS_GONE: &str = "salla-access-GONE-5e5e5e5e";
const ACCESS_NEW: &str = "salla-access-NEW-2f2f2f2f";
const REFRESH_NEW: &str = "salla-refresh-NEW-3a3a3a3a";
const ODOO_KEY: &str = "odoo-key-tokens-test-6b6b6b";
const CLIENT_SECRET: &str = "salla-client-secret-9c9c9c9c";

const REASON: &str = "token refresh refused: invalid_grant";
const FIX: &str = "the merchant must reinstall the app (or re-authorize it in the Salla Partner \
                   Portal); the next app.store.authorize clears this";

/// Where the CLI's data is: a Postgres database of its own (fleet), or a data directory (embedded).
enum Target {
    Fleet {
        name: String,
        url: String,
        ns: String,
    },
    Embedded {
        dir: PathBuf,
    },
}

impl Target {
    async fn fleet() -> Target {
        let name = format!("salla_odoo_test_{}", uuid::Uuid::new_v4().simple());
        let admin = PgPool::connect(&format!("{}/postgres", pg_server()))
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let url = format!("{}/{name}", pg_server());
        let ns = format!("test:tokens:{}", uuid::Uuid::new_v4().simple());
        let target = Target::Fleet { name, url, ns };
        let out = target.cli(&[], &["migrate"]);
        assert!(out.status.success(), "{}", text(&out));
        target
    }

    fn embedded() -> Target {
        let dir = std::env::temp_dir().join(format!(
            "salla-odoo-tokens-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Target::Embedded { dir }
    }

    async fn db(&self) -> Db {
        match self {
            Target::Fleet { url, .. } => Db::from(PgPool::connect(url).await.unwrap()),
            Target::Embedded { dir } => {
                let db = salla_odoo_store::open_sqlite(&dir.join("store.db"))
                    .await
                    .unwrap();
                salla_odoo_store::migrate(&db).await.unwrap();
                db
            }
        }
    }

    /// Run the binary this test was built with, with only the environment given here (plus
    /// `extra`, which may override it).
    fn cli(&self, extra: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_salla-odoo"));
        cmd.env_remove("RUST_LOG")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("SALLA_ODOO_CONFIG")
            .env_remove("SALLA_ODOO_DATA_DIR");
        for (k, _) in std::env::vars() {
            if k.starts_with("SALLA_ODOO__") {
                cmd.env_remove(k);
            }
        }
        let mut vars: BTreeMap<&str, String> = BTreeMap::new();
        vars.insert("SALLA_ODOO__SECRETS__KEY", b64_key(1));
        match self {
            Target::Fleet { url, ns, .. } => {
                vars.insert("DATABASE_URL", url.clone());
                vars.insert("REDIS_URL", redis_url());
                vars.insert("SALLA_ODOO__QUEUE__NAMESPACE", ns.clone());
                cmd.args(args);
            }
            Target::Embedded { dir } => {
                cmd.arg("--data-dir").arg(dir).args(args);
            }
        }
        for (k, v) in extra {
            vars.insert(*k, (*v).to_owned());
        }
        for (k, v) in vars {
            // An empty value stands for "unset" (e.g. no secrets key).
            if !v.is_empty() {
                cmd.env(k, v);
            }
        }
        cmd.output().expect("salla-odoo runs")
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        match self {
            Target::Embedded { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Target::Fleet { name, .. } => {
                let name = name.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        if let Ok(admin) =
                            PgPool::connect(&format!("{}/postgres", pg_server())).await
                        {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .execute(&admin)
                            .await;
                            admin.close().await;
                        }
                    });
                })
                .join()
                .ok();
            }
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// Every output of the run, for the "never printed" assertions.
#[derive(Default)]
struct Transcript(String);

impl Transcript {
    fn add(&mut self, out: Output) -> Output {
        self.0.push_str(&String::from_utf8_lossy(&out.stdout));
        self.0.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }
}

/// A stand-in Odoo 17 answering JSON-RPC just enough for `doctor`'s check (version, authenticate,
/// `fields_get`), so that the Odoo checks pass and only the token checks decide the exit code. On
/// threads of its own: the tests block their runtime while the CLI runs.
fn fake_odoo() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || answer_rpc(conn));
        }
    });
    format!("http://{addr}")
}

/// Answer one JSON-RPC request on `conn`, then close it.
fn answer_rpc(mut conn: std::net::TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, length) = loop {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i + 4, length);
        }
    };
    while buf.len() < head_end + length {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request: Value =
        serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
    let params = &request["params"];
    let result = match (params["service"].as_str(), params["method"].as_str()) {
        (Some("common"), Some("version")) => json!({
            "server_version": "17.0",
            "server_version_info": [17, 0, 0, "final", 0, ""],
            "server_serie": "17.0",
            "protocol_version": 1
        }),
        (Some("common"), Some("authenticate")) => json!(2),
        _ => json!({}),
    };
    let body =
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": request["id"], "result": result}))
            .unwrap();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
    let _ = conn.flush();
}

/// The stores of every test, each connected to `odoo`:
/// - 101: ok, access token valid 10 more days, refresh token held, scopes;
/// - 102: needs reinstall (refresh refused);
/// - 103: access token expired two days ago, no refresh token;
/// - 104: installed, no tokens ever received;
/// - 105: access token expired an hour ago, refresh token held;
/// - 106: uninstalled and needs reinstall (doctor does not check uninstalled stores).
async fn seed(db: &Db, odoo: &str) {
    let k = keyring();
    let now = OffsetDateTime::now_utc();
    let m = MerchantId::new;
    tokens::save(
        db,
        &k,
        m(101),
        ACCESS_OK,
        Some(REFRESH_OK),
        Some(now + Duration::days(10)),
        Some("offline_access orders.read_write products.read"),
        Source::Authorize,
    )
    .await
    .unwrap();
    tokens::save(
        db,
        &k,
        m(102),
        ACCESS_DEAD,
        Some(REFRESH_DEAD),
        Some(now + Duration::days(5)),
        Some("offline_access orders.read"),
        Source::Authorize,
    )
    .await
    .unwrap();
    tokens::mark_needs_reinstall(db, m(102), REASON)
        .await
        .unwrap();
    tokens::save(
        db,
        &k,
        m(103),
        ACCESS_EXPIRED,
        None,
        Some(now - Duration::days(2)),
        None,
        Source::Authorize,
    )
    .await
    .unwrap();
    stores::upsert_installed(db, m(104), None, None)
        .await
        .unwrap();
    tokens::save(
        db,
        &k,
        m(105),
        ACCESS_STALE,
        Some(REFRESH_STALE),
        Some(now - Duration::hours(1)),
        Some("offline_access"),
        Source::Refresh,
    )
    .await
    .unwrap();
    tokens::save(
        db,
        &k,
        m(106),
        ACCESS_GONE,
        None,
        None,
        None,
        Source::Authorize,
    )
    .await
    .unwrap();
    tokens::mark_needs_reinstall(db, m(106), "app uninstalled")
        .await
        .unwrap();
    for id in [101, 102, 103, 104, 105, 106] {
        let update = StoreUpdate {
            odoo_url: Some(odoo.to_owned()),
            odoo_database: Some("shop".into()),
            odoo_login: Some("sync@shop.sa".into()),
            odoo_api_key: Some(SecretString::from(ODOO_KEY)),
            odoo_version_override: Some(17),
            ..Default::default()
        };
        stores::upsert_settings(db, &k, m(id), &update)
            .await
            .unwrap();
    }
    stores::mark_uninstalled(db, m(106), now + Duration::days(30))
        .await
        .unwrap();
}

fn by_merchant(list: &Value) -> BTreeMap<i64, Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| (v["merchant_id"].as_i64().unwrap(), v.clone()))
        .collect()
}

fn line_of<'a>(table: &'a str, start: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting with {start:?}:\n{table}"))
}

fn checks_of(out: &Output) -> BTreeMap<String, Value> {
    json_of(out)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

fn failed(checks: &BTreeMap<String, Value>) -> Vec<&str> {
    checks
        .iter()
        .filter(|(_, c)| c["ok"] == false)
        .map(|(n, _)| n.as_str())
        .collect()
}

const API_ON: &[(&str, &str)] = &[
    ("SALLA_ODOO__SALLA__CLIENT_ID", "app-client-4411"),
    ("SALLA_ODOO__SALLA__CLIENT_SECRET", CLIENT_SECRET),
];

async fn token_state_is_shown_never_a_token(target: Target) {
    let odoo = fake_odoo();
    let db = target.db().await;
    seed(&db, &odoo).await;
    let mut seen = Transcript::default();

    // Every store, JSON: the state and what follows from it; no token.
    let out = seen.add(target.cli(&[], &["store", "tokens", "--json"]));
    assert!(out.status.success(), "{}", text(&out));
    let all = by_merchant(&json_of(&out));
    assert_eq!(
        all.keys().copied().collect::<Vec<_>>(),
        [101, 102, 103, 104, 105, 106]
    );
    let ok = &all[&101];
    assert_eq!(ok["state"], "ok");
    assert_eq!(ok["store_status"], "installed");
    assert_eq!(ok["access_expired"], false);
    assert_eq!(ok["has_access_token"], true);
    assert_eq!(ok["has_refresh_token"], true);
    assert_eq!(
        ok["scope"],
        "offline_access orders.read_write products.read"
    );
    assert_eq!(ok["refreshed_at"], Value::Null);
    assert_eq!(ok["action"], Value::Null);
    assert!(ok["access_expires_at"].is_string(), "{ok}");
    let dead = &all[&102];
    assert_eq!(dead["state"], "needs_reinstall");
    assert_eq!(dead["reason"], REASON);
    assert!(dead["state_since"].is_string(), "{dead}");
    assert_eq!(dead["action"], FIX);
    let expired = &all[&103];
    assert_eq!(expired["state"], "ok");
    assert_eq!(expired["access_expired"], true);
    assert_eq!(expired["has_refresh_token"], false);
    let none = &all[&104];
    assert_eq!(none["state"], Value::Null);
    assert_eq!(none["has_access_token"], false);
    assert_eq!(none["access_expired"], Value::Null);
    let stale = &all[&105];
    assert_eq!(stale["access_expired"], true);
    assert!(stale["refreshed_at"].is_string(), "{stale}");
    assert_eq!(all[&106]["store_status"], "uninstalled");

    // Every store, table; --all is the same; no secrets key needed.
    let out = seen.add(target.cli(&[("SALLA_ODOO__SECRETS__KEY", "")], &["store", "tokens"]));
    assert!(out.status.success(), "{}", text(&out));
    let table = stdout(&out);
    let out = seen.add(target.cli(&[], &["store", "tokens", "--all"]));
    assert_eq!(stdout(&out), table);
    assert!(table.starts_with("MERCHANT"), "{table}");
    let row = line_of(&table, "101 ");
    assert!(
        row.contains(" ok ") && row.contains("expires in 9d 23h") && row.contains("held"),
        "{row}"
    );
    let row = line_of(&table, "102 ");
    assert!(
        row.contains("needs reinstall") && row.contains(REASON),
        "{row}"
    );
    let row = line_of(&table, "103 ");
    assert!(
        row.contains("expired 2d 0h ago") && row.contains(" none "),
        "{row}"
    );
    let row = line_of(&table, "104 ");
    assert!(row.contains(" none ") && row.contains("installed"), "{row}");
    let row = line_of(&table, "105 ");
    assert!(row.contains("expired ") && !row.contains("never"), "{row}");
    assert!(line_of(&table, "106 ").contains("uninstalled"), "{table}");
    assert!(
        table.contains(&format!("2 store(s) need a reinstall: {FIX}")),
        "{table}"
    );
    assert!(
        table.contains("no app.store.authorize received yet"),
        "{table}"
    );
    assert!(table.contains("the Salla API is not configured"), "{table}");
    let out = seen.add(target.cli(API_ON, &["store", "tokens"]));
    assert!(!stdout(&out).contains("not configured"), "{}", text(&out));

    // One store.
    let out = seen.add(target.cli(&[], &["store", "tokens", "--merchant", "102"]));
    assert!(out.status.success(), "{}", text(&out));
    let one = stdout(&out);
    assert!(one.contains("state          needs reinstall"), "{one}");
    assert!(one.contains(&format!("reason         {REASON}")), "{one}");
    assert!(line_of(&one, "since ").len() > 20, "{one}");
    assert!(
        line_of(&one, "access token ").contains("expires in 4d 23h"),
        "{one}"
    );
    assert!(one.contains("refresh token  held"), "{one}");
    assert!(
        one.contains("scope          offline_access orders.read"),
        "{one}"
    );
    assert!(one.contains("last refresh   never"), "{one}");
    assert!(one.contains(&format!("to do: {FIX}")), "{one}");
    let out = seen.add(target.cli(&[], &["store", "tokens", "--merchant", "102", "--json"]));
    let v = json_of(&out);
    assert_eq!(v["merchant_id"], 102);
    assert_eq!(v["state"], "needs_reinstall");
    assert_eq!(v["action"], FIX);
    let out = seen.add(target.cli(&[], &["store", "tokens", "--merchant", "104"]));
    let one = stdout(&out);
    assert!(
        one.contains("state          none (no app.store.authorize received)"),
        "{one}"
    );
    assert!(one.contains("access token   none"), "{one}");
    assert!(!one.contains("to do"), "{one}");
    let out = seen.add(target.cli(&[], &["store", "tokens", "--merchant", "103"]));
    assert!(
        line_of(&stdout(&out), "access token ").contains("expired 2d 0h ago ("),
        "{}",
        text(&out)
    );

    // Unknown store: exit 1 saying so; --merchant with --all: exit 2.
    let out = seen.add(target.cli(&[], &["store", "tokens", "--merchant", "999"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no store with merchant id 999"),
        "{}",
        text(&out)
    );
    let out = seen.add(target.cli(&[], &["store", "tokens", "--merchant", "999", "--json"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["exit_code"], 1);
    let out = seen.add(target.cli(&[], &["store", "tokens", "--merchant", "101", "--all"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // store show: the token state lines, and in JSON under salla_api.
    let out = seen.add(target.cli(&[], &["store", "show", "--merchant", "102"]));
    assert!(out.status.success(), "{}", text(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("salla api            needs reinstall"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("salla api reason     {REASON}")),
        "{shown}"
    );
    assert!(
        line_of(&shown, "salla access token ").contains("expires in 4d 23h"),
        "{shown}"
    );
    assert!(shown.contains("salla refresh token  held"), "{shown}");
    assert!(
        shown.contains("salla scope          offline_access orders.read"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("salla api action     {FIX}")),
        "{shown}"
    );
    assert!(shown.contains("odoo api key         [set]"), "{shown}");
    let out = seen.add(target.cli(&[], &["store", "show", "--merchant", "101", "--json"]));
    let v = json_of(&out);
    assert_eq!(v["odoo"]["api_key"], "[set]");
    assert_eq!(v["salla_api"]["state"], "ok");
    assert_eq!(
        v["salla_api"]["scope"],
        "offline_access orders.read_write products.read"
    );
    assert_eq!(v["salla_api"]["access_expired"], false);
    let out = seen.add(target.cli(&[], &["store", "show", "--merchant", "104"]));
    let shown = stdout(&out);
    assert!(
        shown.contains("salla api            none (no app.store.authorize received)"),
        "{shown}"
    );
    assert!(!shown.contains("salla access token"), "{shown}");

    // doctor, Salla API configured: needs-reinstall and expired-without-refresh fail (exit 1);
    // no tokens and expired-awaiting-refresh are warnings; the uninstalled store is not checked.
    let out = seen.add(target.cli(API_ON, &["doctor", "--json"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let checks = checks_of(&out);
    assert_eq!(
        failed(&checks),
        ["store 102 salla api", "store 103 salla api"],
        "{checks:#?}"
    );
    assert_eq!(checks["salla api"]["level"], "ok");
    assert_eq!(checks["store 101 salla api"]["level"], "ok");
    assert_eq!(checks["store 101 odoo"]["level"], "ok");
    let dead = checks["store 102 salla api"]["detail"].as_str().unwrap();
    assert!(dead.contains(REASON) && dead.contains(FIX), "{dead}");
    assert_eq!(checks["store 102 salla api"]["level"], "fail");
    let expired = checks["store 103 salla api"]["detail"].as_str().unwrap();
    assert!(
        expired.contains("expired") && expired.contains("no refresh token"),
        "{expired}"
    );
    assert_eq!(checks["store 104 salla api"]["level"], "warn");
    assert_eq!(checks["store 104 salla api"]["ok"], true);
    assert_eq!(
        checks["store 104 salla api"]["detail"],
        "no app.store.authorize received yet: Salla API calls are off for this store"
    );
    assert_eq!(checks["store 105 salla api"]["level"], "warn");
    assert!(!checks.contains_key("store 106 salla api"), "{checks:#?}");
    let out = seen.add(target.cli(API_ON, &["doctor"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = stdout(&out);
    assert!(
        line_of(&report, "FAIL store 102 salla api").contains(REASON),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("FAIL store 103 salla api")),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("WARN store 104 salla api")),
        "{report}"
    );
    assert!(
        report.lines().any(|l| l.starts_with("ok   salla api")),
        "{report}"
    );
    assert!(text(&out).contains("2 check(s) failed"), "{}", text(&out));

    // doctor, Salla API not configured: a note, and nothing about tokens fails (exit 0).
    let out = seen.add(target.cli(&[], &["doctor", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let checks = checks_of(&out);
    assert_eq!(checks["salla api"]["level"], "note");
    assert!(
        checks["salla api"]["detail"]
            .as_str()
            .unwrap()
            .contains("token refresh are off"),
        "{checks:#?}"
    );
    assert_eq!(checks["store 102 salla api"]["level"], "warn");
    let out = seen.add(target.cli(&[], &["doctor"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("note salla api")),
        "{}",
        text(&out)
    );

    // The merchants re-authorize: only warnings remain, and warnings do not fail the doctor.
    for id in [102, 103] {
        tokens::save(
            &db,
            &keyring(),
            MerchantId::new(id),
            ACCESS_NEW,
            Some(REFRESH_NEW),
            Some(OffsetDateTime::now_utc() + Duration::days(14)),
            Some("offline_access"),
            Source::Authorize,
        )
        .await
        .unwrap();
    }
    let out = seen.add(target.cli(API_ON, &["doctor"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("ok   store 102 salla api")),
        "{report}"
    );
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("WARN store 104 salla api")),
        "{report}"
    );
    assert!(!report.contains("FAIL"), "{report}");
    let out = seen.add(target.cli(&[], &["store", "tokens", "--merchant", "102", "--json"]));
    let v = json_of(&out);
    assert_eq!(v["state"], "ok");
    assert_eq!(v["reason"], Value::Null);
    assert_eq!(v["action"], Value::Null);

    db.close().await;
    for secret in [
        ACCESS_OK,
        REFRESH_OK,
        ACCESS_DEAD,
        REFRESH_DEAD,
        ACCESS_EXPIRED,
        ACCESS_STALE,
        REFRESH_STALE,
        ACCESS_GONE,
        ACCESS_NEW,
        REFRESH_NEW,
        ODOO_KEY,
        CLIENT_SECRET,
        b64_key(1).as_str(),
    ] {
        assert!(!seen.0.contains(secret), "{secret} printed:\n{}", seen.0);
    }
}

#[tokio::test]
async fn fleet_store_tokens_show_and_doctor_never_print_a_token() {
    token_state_is_shown_never_a_token(Target::fleet().await).await;
}

#[tokio::test]
async fn embedded_store_tokens_show_and_doctor_never_print_a_token() {
    token_state_is_shown_never_a_token(Target::embedded()).await;
}

#[test]
fn store_tokens_help_says_it_is_safe_while_workers_run() {
    let target = Target::embedded();
    for args in [["store", "tokens", "--help"], ["doctor", "--help", ""]] {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        let out = target.cli(&[], &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        let help = stdout(&out).to_lowercase();
        assert!(help.contains("safe while workers run"), "{args:?}: {help}");
        assert!(help.contains("salla"), "{args:?}: {help}");
    }
}
