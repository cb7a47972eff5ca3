//! `salla-odoo store …` and `salla-odoo secrets …` against a real Postgres: output, `--json`, exit
//! codes, and no secret in any output.

use std::process::{Command, Output};

use base64::Engine;
use salla_odoo_core::MerchantId;
use salla_odoo_core::settings::SecretsSettings;
use salla_odoo_store::Db;
use salla_odoo_store::{Keyring, secrets, stores};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sqlx::PgPool;

fn pg_server() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database of its own, migrated by the CLI, dropped when this is dropped.
struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    async fn new() -> TestDb {
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
        let out = cli(&[("DATABASE_URL", &url)], &["migrate"]);
        assert!(out.status.success(), "{}", text(&out));
        TestDb { name, url }
    }

    async fn pool(&self) -> Db {
        Db::from(PgPool::connect(&self.url).await.unwrap())
    }

    async fn dump(&self) -> String {
        let db = self.pool().await;
        let pool = db.as_postgres().unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let mut out = String::new();
        for t in tables {
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT t::text FROM \"{t}\" t"
            )))
            .fetch_all(pool)
            .await
            .unwrap();
            out.push_str(&rows.join("\n"));
        }
        db.close().await;
        out
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = PgPool::connect(&format!("{}/postgres", pg_server())).await {
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

fn cli(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_salla-odoo"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("SALLA_ODOO__SECRETS__KEY")
        .env_remove("SALLA_ODOO__SECRETS__PREVIOUS_KEYS")
        .env_remove("DATABASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("salla-odoo runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

fn b64_key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn keyring(current: u8) -> Keyring {
    Keyring::from_settings(&SecretsSettings {
        key: SecretString::from(b64_key(current)),
        previous_keys: Vec::new(),
    })
    .unwrap()
}

/// Every output of the run, for the "never printed" assertions.
struct Transcript(String);

impl Transcript {
    fn add(&mut self, out: &Output) {
        self.0.push_str(&String::from_utf8_lossy(&out.stdout));
        self.0.push_str(&String::from_utf8_lossy(&out.stderr));
    }
}

const KEY_ONE: &str = "odoo-api-key-7f3c1e9a2b";
const KEY_TWO: &str = "odoo-api-key-second-55d2";

#[tokio::test]
async fn store_add_show_list_update_never_print_the_key() {
    let db = TestDb::new().await;
    let key = b64_key(1);
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("SALLA_ODOO__SECRETS__KEY", key.as_str()),
        ("ODOO_KEY_ONE", KEY_ONE),
        ("ODOO_KEY_TWO", KEY_TWO),
    ];
    let mut seen = Transcript(String::new());

    let out = cli(
        &env,
        &[
            "store",
            "add",
            "--merchant",
            "1305418202",
            "--odoo-url",
            "https://acme.odoo.com/",
            "--odoo-db",
            "acme",
            "--odoo-login",
            "sync@acme.sa",
            "--odoo-api-key-env",
            "ODOO_KEY_ONE",
            "--odoo-version",
            "17",
            "--warehouse-id",
            "3",
            "--currency",
            "sar",
            "--tax-id",
            "15",
            "--status-map",
            "shipped=deliver",
            "--create-unknown-skus",
            "--stock-master",
            "salla",
            "--json",
        ],
    );
    seen.add(&out);
    let added = json(&out);
    assert_eq!(added["merchant"], 1305418202u64);
    assert_eq!(added["status"], "installed");
    assert_eq!(added["odoo"]["url"], "https://acme.odoo.com");
    assert_eq!(added["odoo"]["database"], "acme");
    assert_eq!(added["odoo"]["login"], "sync@acme.sa");
    assert_eq!(added["odoo"]["api_key"], "[set]");
    assert_eq!(added["odoo"]["version_override"], 17);
    assert_eq!(added["warehouse_id"], 3);
    assert_eq!(added["currency"], "SAR");
    assert_eq!(added["tax_id"], 15);
    assert_eq!(added["prices_include_tax"], true);
    assert_eq!(added["create_unknown_skus"], true);
    assert_eq!(added["stock_master"], "salla");
    assert_eq!(added["status_map"]["shipped"], "deliver");
    assert_eq!(added["status_map"]["completed"], "complete");

    // Adding it again is refused: exit 1, nothing changed.
    let out = cli(
        &env,
        &[
            "store",
            "add",
            "--merchant",
            "1305418202",
            "--odoo-url",
            "https://other.example",
            "--odoo-db",
            "x",
            "--odoo-login",
            "x",
            "--odoo-api-key-env",
            "ODOO_KEY_TWO",
        ],
    );
    seen.add(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("store update"), "{}", text(&out));

    // A second store with the defaults.
    let out = cli(
        &env,
        &[
            "store",
            "add",
            "--merchant",
            "77",
            "--odoo-url",
            "http://127.0.0.1:8069",
            "--odoo-db",
            "shop",
            "--odoo-login",
            "admin",
            "--odoo-api-key-env",
            "ODOO_KEY_TWO",
        ],
    );
    seen.add(&out);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(shown.contains("added store 77"), "{shown}");
    assert!(shown.contains("odoo api key         [set]"), "{shown}");
    assert!(shown.contains("prices include tax   yes"), "{shown}");
    assert!(shown.contains("stock master         odoo"), "{shown}");

    // show, text and JSON.
    let out = cli(&env, &["store", "show", "--merchant", "77", "--json"]);
    seen.add(&out);
    let s = json(&out);
    assert_eq!(s["create_unknown_skus"], false);
    assert_eq!(s["odoo"]["version_override"], Value::Null);
    assert_eq!(s["status_map"]["shipped"], "confirm");
    let out = cli(&env, &["store", "show", "--merchant", "1305418202"]);
    seen.add(&out);
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        shown.contains("odoo url             https://acme.odoo.com"),
        "{shown}"
    );
    assert!(shown.contains("  shipped            deliver"), "{shown}");

    // list, text and JSON.
    let out = cli(&env, &["store", "list", "--json"]);
    seen.add(&out);
    let all = json(&out);
    let ids: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["merchant"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [77, 1305418202]);
    let out = cli(&env, &["store", "list"]);
    seen.add(&out);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(listed.starts_with("MERCHANT"), "{listed}");
    assert!(listed.contains("https://acme.odoo.com"), "{listed}");
    assert_eq!(listed.lines().count(), 3, "{listed}");

    // update: only what is named changes; the status map is overridden slug by slug.
    let out = cli(
        &env,
        &[
            "store",
            "update",
            "--merchant",
            "1305418202",
            "--warehouse-id",
            "9",
            "--prices-exclude-tax",
            "--no-create-unknown-skus",
            "--status-map",
            "restored=cancel",
            "--odoo-api-key-env",
            "ODOO_KEY_TWO",
            "--json",
        ],
    );
    seen.add(&out);
    let s = json(&out);
    assert_eq!(s["warehouse_id"], 9);
    assert_eq!(s["prices_include_tax"], false);
    assert_eq!(s["create_unknown_skus"], false);
    assert_eq!(s["status_map"]["shipped"], "deliver");
    assert_eq!(s["status_map"]["restored"], "cancel");
    assert_eq!(s["currency"], "SAR");
    assert_eq!(s["stock_master"], "salla");
    assert_eq!(s["odoo"]["api_key"], "[set]");

    // The workers' view: the new key, decrypted.
    let pool = db.pool().await;
    let loaded = stores::load_settings(&pool, &keyring(1), MerchantId::new(1305418202))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.odoo.unwrap().api_key.expose_secret(), KEY_TWO);
    pool.close().await;

    // update with nothing to change: exit 2.
    let out = cli(&env, &["store", "update", "--merchant", "77"]);
    seen.add(&out);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("nothing to update"), "{}", text(&out));

    // update of an unknown store: exit 1.
    let out = cli(
        &env,
        &["store", "update", "--merchant", "5", "--tax-id", "1"],
    );
    seen.add(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = cli(&env, &["store", "show", "--merchant", "5", "--json"]);
    seen.add(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["exit_code"], 1);
    assert!(err["error"].as_str().unwrap().contains("no store"));

    for secret in [KEY_ONE, KEY_TWO, key.as_str()] {
        assert!(!seen.0.contains(secret), "{secret} printed:\n{}", seen.0);
    }
    let dump = db.dump().await;
    assert!(!dump.contains(KEY_ONE) && !dump.contains(KEY_TWO), "{dump}");
}

#[tokio::test]
async fn usage_errors_exit_2_and_name_the_variable() {
    let db = TestDb::new().await;
    let key = b64_key(1);
    let add = |var: &str| -> Vec<String> {
        [
            "store",
            "add",
            "--merchant",
            "9",
            "--odoo-url",
            "https://o.example",
            "--odoo-db",
            "d",
            "--odoo-login",
            "l",
            "--odoo-api-key-env",
            var,
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |env: &[(&str, &str)], args: &[String]| {
        cli(env, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let base = [
        ("DATABASE_URL", db.url.as_str()),
        ("SALLA_ODOO__SECRETS__KEY", key.as_str()),
    ];

    // The named variable is unset, or empty.
    let out = run(&base, &add("SALLA_ODOO_TEST_UNSET_KEY"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("SALLA_ODOO_TEST_UNSET_KEY") && text(&out).contains("not set"),
        "{}",
        text(&out)
    );
    let with_empty = [base[0], base[1], ("EMPTY_ODOO_KEY", "  ")];
    let out = run(&with_empty, &add("EMPTY_ODOO_KEY"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is empty"), "{}", text(&out));
    // The key passed where the variable name belongs is not echoed back.
    let out = run(&base, &add("7f3c1e9a2bdeadbeefcafe"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !text(&out).contains("7f3c1e9a2bdeadbeefcafe"),
        "{}",
        text(&out)
    );

    // No encryption key: exit 2 naming SALLA_ODOO__SECRETS__KEY, for every command.
    let with_key = [("DATABASE_URL", db.url.as_str()), ("ODOO_KEY", "k-123456")];
    for args in [
        add("ODOO_KEY"),
        vec!["store".into(), "list".into()],
        vec![
            "store".into(),
            "show".into(),
            "--merchant".into(),
            "9".into(),
        ],
        vec!["secrets".into(), "rotate".into()],
    ] {
        let out = run(&with_key, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("SALLA_ODOO__SECRETS__KEY"),
            "{args:?}: {}",
            text(&out)
        );
    }
    // A malformed encryption key: exit 2, and the key is not echoed.
    let out = cli(
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("SALLA_ODOO__SECRETS__KEY", "c2hvcnQta2V5"),
        ],
        &["store", "list"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!text(&out).contains("c2hvcnQta2V5"), "{}", text(&out));

    // clap-level usage errors.
    let mut bad_version = add("ODOO_KEY");
    bad_version.extend(["--odoo-version".into(), "15".into()]);
    let out = run(&[base[0], base[1], ("ODOO_KEY", "k")], &bad_version);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let mut bad_map = add("ODOO_KEY");
    bad_map.extend(["--status-map".into(), "shipped=teleport".into()]);
    let out = run(&[base[0], base[1], ("ODOO_KEY", "k")], &bad_map);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = cli(
        &base,
        &[
            "store",
            "add",
            "--merchant",
            "9",
            "--odoo-url",
            "https://bot:pw-in-url@o.example",
            "--odoo-db",
            "d",
            "--odoo-login",
            "l",
            "--odoo-api-key-env",
            "X",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!text(&out).contains("pw-in-url"), "{}", text(&out));

    // Nothing was written by any of the failures.
    let pool = db.pool().await;
    assert!(stores::list(&pool).await.unwrap().is_empty());
    pool.close().await;
}

#[tokio::test]
async fn secrets_rotate_re_encrypts_under_the_new_key() {
    let db = TestDb::new().await;
    let old = b64_key(1);
    let new = b64_key(2);
    let out = cli(
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("SALLA_ODOO__SECRETS__KEY", old.as_str()),
            ("ODOO_KEY_ONE", KEY_ONE),
        ],
        &[
            "store",
            "add",
            "--merchant",
            "42",
            "--odoo-url",
            "https://o.example",
            "--odoo-db",
            "d",
            "--odoo-login",
            "l",
            "--odoo-api-key-env",
            "ODOO_KEY_ONE",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let pool = db.pool().await;
    secrets::put_secret(
        &pool,
        &keyring(1),
        MerchantId::new(42),
        secrets::SALLA_ACCESS_TOKEN,
        "salla-token-abc987",
        None,
    )
    .await
    .unwrap();

    let rotating = [
        ("DATABASE_URL", db.url.as_str()),
        ("SALLA_ODOO__SECRETS__KEY", new.as_str()),
        ("SALLA_ODOO__SECRETS__PREVIOUS_KEYS", old.as_str()),
    ];
    let mut seen = Transcript(String::new());
    let out = cli(&rotating, &["secrets", "status", "--json"]);
    seen.add(&out);
    let status = json(&out);
    assert_eq!(status["by_key"][0]["key"], "previous");
    assert_eq!(status["by_key"][0]["secrets"], 2);

    let out = cli(&rotating, &["secrets", "rotate", "--json"]);
    seen.add(&out);
    let report = json(&out);
    assert_eq!(report["rotated"], 2);
    assert_eq!(report["key_id"], keyring(2).current_key_id());
    assert_eq!(report["by_key"][0]["key"], "current");
    let out = cli(&rotating, &["secrets", "rotate"]);
    seen.add(&out);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.starts_with("re-encrypted 0 secret(s)"), "{said}");

    // The old key is no longer needed; without the new one nothing opens (exit 1, permanent).
    let new_only = [
        ("DATABASE_URL", db.url.as_str()),
        ("SALLA_ODOO__SECRETS__KEY", new.as_str()),
    ];
    let out = cli(&new_only, &["store", "show", "--merchant", "42", "--json"]);
    assert_eq!(json(&out)["odoo"]["api_key"], "[set]");
    let token = secrets::get_secret(
        &pool,
        &keyring(2),
        MerchantId::new(42),
        secrets::SALLA_ACCESS_TOKEN,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(token.expose_secret(), "salla-token-abc987");
    let old_only = [
        ("DATABASE_URL", db.url.as_str()),
        ("SALLA_ODOO__SECRETS__KEY", old.as_str()),
    ];
    let out = cli(&old_only, &["store", "show", "--merchant", "42"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(keyring(2).current_key_id()),
        "{}",
        text(&out)
    );
    seen.add(&out);
    let out = cli(&old_only, &["secrets", "status"]);
    seen.add(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("missing"),
        "{}",
        text(&out)
    );
    for secret in ["salla-token-abc987", KEY_ONE, old.as_str(), new.as_str()] {
        assert!(!seen.0.contains(secret), "{secret} printed:\n{}", seen.0);
    }
    pool.close().await;
}

#[test]
fn every_store_and_secrets_command_says_whether_it_is_safe_while_workers_run() {
    for args in [
        ["store", "add", "--help"],
        ["store", "update", "--help"],
        ["store", "show", "--help"],
        ["store", "list", "--help"],
        ["secrets", "rotate", "--help"],
        ["secrets", "status", "--help"],
    ] {
        let out = cli(&[], &args);
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(help.contains("safe while workers run"), "{args:?}: {help}");
    }
    let out = cli(&[], &["store", "add", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(help.contains("--odoo-api-key-env"), "{help}");
    assert!(!help.contains("--odoo-api-key "), "{help}");
}

/// `--variants templates|separate` on `store add` (default templates) and `store update`, shown
/// by `store show`, explained in `store add --help`.
#[tokio::test]
async fn the_variants_option_defaults_to_templates_and_explains_itself() {
    let db = TestDb::new().await;
    let key = b64_key(1);
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("SALLA_ODOO__SECRETS__KEY", key.as_str()),
        ("ODOO_KEY_ONE", KEY_ONE),
    ];
    let add = |merchant: &str, extra: &[&str]| {
        let mut args = vec![
            "store",
            "add",
            "--merchant",
            merchant,
            "--odoo-url",
            "http://127.0.0.1:8069",
            "--odoo-db",
            "shop",
            "--odoo-login",
            "admin",
            "--odoo-api-key-env",
            "ODOO_KEY_ONE",
        ];
        args.extend_from_slice(extra);
        cli(&env, &args)
    };
    let out = add("81", &["--json"]);
    assert_eq!(json(&out)["variants"], "templates");
    let out = add("82", &["--variants", "separate"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(shown.contains("variants             separate"), "{shown}");
    let out = cli(
        &env,
        &[
            "store",
            "update",
            "--merchant",
            "82",
            "--variants",
            "templates",
            "--json",
        ],
    );
    assert_eq!(json(&out)["variants"], "templates");
    let out = cli(&env, &["store", "show", "--merchant", "82"]);
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(shown.contains("variants             templates"), "{shown}");
    let out = cli(
        &env,
        &[
            "store",
            "update",
            "--merchant",
            "82",
            "--variants",
            "grouped",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let out = cli(&[], &["store", "add", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    for words in [
        "--variants <templates|separate>",
        "one variant per Salla SKU",
        "price extra",
        "never duplicated",
    ] {
        assert!(help.contains(words), "{words:?} missing: {help}");
    }
}

/// `--pricelists` and `--rounding-max` (issue 17): set on `store add`, changed currency by
/// currency on `store update`, shown by `store show`; the defaults (none named, 1.00); bad values
/// exit 2; `store add --help` explains each rule.
#[tokio::test]
async fn pricelists_and_rounding_max_are_set_updated_and_shown() {
    let db = TestDb::new().await;
    let key = b64_key(1);
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("SALLA_ODOO__SECRETS__KEY", key.as_str()),
        ("ODOO_KEY_ONE", KEY_ONE),
    ];
    let add = |merchant: &str, extra: &[&str]| {
        let mut args = vec![
            "store",
            "add",
            "--merchant",
            merchant,
            "--odoo-url",
            "https://acme.odoo.com",
            "--odoo-db",
            "acme",
            "--odoo-login",
            "sync@acme.sa",
            "--odoo-api-key-env",
            "ODOO_KEY_ONE",
        ];
        args.extend_from_slice(extra);
        cli(&env, &args)
    };
    let s = json(&add(
        "41",
        &[
            "--pricelists",
            "sar=1,USD=3",
            "--rounding-max",
            "0.5",
            "--json",
        ],
    ));
    assert_eq!(s["pricelists"], serde_json::json!({"SAR": 1, "USD": 3}));
    assert_eq!(s["rounding_max_cents"], 50);

    let s = json(&cli(
        &env,
        &[
            "store",
            "update",
            "--merchant",
            "41",
            "--pricelists",
            "USD=none,AED=4",
            "--json",
        ],
    ));
    assert_eq!(s["pricelists"], serde_json::json!({"AED": 4, "SAR": 1}));
    assert_eq!(s["rounding_max_cents"], 50, "unchanged");
    let s = json(&cli(
        &env,
        &[
            "store",
            "update",
            "--merchant",
            "41",
            "--rounding-max",
            "0",
            "--json",
        ],
    ));
    assert_eq!(s["rounding_max_cents"], 0);
    assert_eq!(
        s["pricelists"],
        serde_json::json!({"AED": 4, "SAR": 1}),
        "unchanged"
    );
    let out = cli(&env, &["store", "show", "--merchant", "41"]);
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        shown.contains("pricelists           AED=4,SAR=1"),
        "{shown}"
    );
    assert!(shown.contains("rounding max         0.00"), "{shown}");
    let s = json(&cli(
        &env,
        &[
            "store",
            "update",
            "--merchant",
            "41",
            "--pricelists",
            "none",
            "--json",
        ],
    ));
    assert_eq!(s["pricelists"], serde_json::json!({}));

    // The defaults.
    let out = add("42", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(shown.contains("pricelists           -"), "{shown}");
    assert!(shown.contains("rounding max         1.00"), "{shown}");

    for bad in [
        ["--pricelists", "USD"],
        ["--pricelists", "USD=0"],
        ["--pricelists", "DOLLAR=3"],
        ["--rounding-max", "-1"],
        ["--rounding-max", "0.001"],
    ] {
        let mut args = vec!["store", "update", "--merchant", "42"];
        args.extend_from_slice(&bad);
        let out = cli(&env, &args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
    }

    let out = cli(&[], &["store", "add", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    for words in [
        "--pricelists <CUR=ID,…>",
        "the pricelist decides",
        "fails permanently",
        "--rounding-max <AMOUNT>",
        "rounding line",
        "Default: 1.00",
    ] {
        assert!(help.contains(words), "{words:?} not in:\n{help}");
    }
}

/// `store add` keeps what it probed of the store's Odoo, with the API user's uid (so not even
/// the first worker probes or authenticates); changing the store's Odoo drops it, other settings
/// do not.
// The CLI blocks a thread while it runs; the sandbox answers on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_add_keeps_the_odoo_capabilities_and_changing_the_odoo_drops_them() {
    let sandbox = odoo_sandbox::spawn(odoo_sandbox::Options::default())
        .await
        .unwrap();
    let url = sandbox.url();
    let db = TestDb::new().await;
    let key = b64_key(1);
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("SALLA_ODOO__SECRETS__KEY", key.as_str()),
        ("ODOO_KEY", "admin"),
    ];
    let out = cli(
        &env,
        &[
            "store",
            "add",
            "--merchant",
            "51",
            "--odoo-url",
            &url,
            "--odoo-db",
            "odoo",
            "--odoo-login",
            "admin",
            "--odoo-api-key-env",
            "ODOO_KEY",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let pool = db.pool().await;
    let m = MerchantId::new(51);
    let kept = stores::odoo_capabilities(&pool, m)
        .await
        .unwrap()
        .expect("store add keeps the probe");
    let caps: odoo::Capabilities = serde_json::from_value(kept.capabilities.clone()).unwrap();
    assert_eq!(caps.version.major, 18);
    assert_eq!(
        caps.uid,
        Some(2),
        "with the API user's uid: the first worker authenticates no more than it probes"
    );

    let update = |args: &[&str]| {
        let mut all = vec!["store", "update", "--merchant", "51"];
        all.extend_from_slice(args);
        let out = cli(&env, &all);
        assert!(out.status.success(), "{}", text(&out));
    };
    update(&["--tax-id", "3"]);
    assert_eq!(
        stores::odoo_capabilities(&pool, m).await.unwrap(),
        Some(kept),
        "another setting: kept"
    );
    update(&["--odoo-url", "https://other.example.com"]);
    assert_eq!(stores::odoo_capabilities(&pool, m).await.unwrap(), None);
    pool.close().await;
    sandbox.shutdown().await;
}
