//! `store add` and `doctor` check the Odoo user a store acts as (its email address, the groups
//! its enabled steps need) against an odoo-sandbox, and say what to fix; the payment, refund and
//! return options through `store add`, `store update` and `store show`. Embedded storage (SQLite
//! in a data directory of the test's own).

use std::path::PathBuf;
use std::process::{Command, Output};

use base64::Engine;
use odoo_sandbox::{Options, UserSpec};
use serde_json::{Map, Value, json};

struct DataDir(PathBuf);

impl DataDir {
    fn new() -> DataDir {
        let dir = std::env::temp_dir().join(format!(
            "salla-odoo-user-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        DataDir(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key() -> String {
    base64::engine::general_purpose::STANDARD.encode([3u8; 32])
}

/// The binary on embedded storage in `dir`, with only the environment given here.
fn cli(dir: &DataDir, args: &[&str]) -> Output {
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
    cmd.env("SALLA_ODOO__SECRETS__KEY", key())
        .env("CONNECTOR_KEY", "connector-key")
        .env("ADMIN_KEY", "admin")
        .arg("--data-dir")
        .arg(&dir.0)
        .args(args);
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

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// A sandbox whose `connector` user has no email address and lacks Inventory / User.
async fn sandbox() -> odoo_sandbox::Sandbox {
    odoo_sandbox::spawn(Options {
        extra_users: vec![UserSpec {
            login: "connector".into(),
            name: "Salla Connector".into(),
            password: "pw".into(),
            api_key: "connector-key".into(),
            admin: false,
        }],
        users_without_email: vec!["connector".into()],
        missing_groups: vec![("connector".into(), "stock.group_stock_user".into())],
        ..Options::default()
    })
    .await
    .unwrap()
}

fn add(dir: &DataDir, merchant: &str, url: &str, login: &str, extra: &[&str]) -> Output {
    let var = if login == "admin" {
        "ADMIN_KEY"
    } else {
        "CONNECTOR_KEY"
    };
    let mut args = vec![
        "store",
        "add",
        "--merchant",
        merchant,
        "--odoo-url",
        url,
        "--odoo-db",
        "odoo",
        "--odoo-login",
        login,
        "--odoo-api-key-env",
        var,
    ];
    args.extend_from_slice(extra);
    cli(dir, &args)
}

// The CLI blocks a thread while it runs; the sandbox answers on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_add_and_doctor_check_the_odoo_user_and_say_what_to_fix() {
    let sb = sandbox().await;
    let url = sb.url();
    let dir = DataDir::new();
    let out = cli(&dir, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));

    // Text: saved, then what is wrong with the user and how to fix it in Odoo.
    let out = add(
        &dir,
        "41",
        &url,
        "connector",
        &[
            "--payment-journals",
            "mada=6,credit_card=6,COD=7",
            "--payment-journal",
            "6",
        ],
    );
    assert!(out.status.success(), "saved either way: {}", text(&out));
    let shown = stdout(&out);
    assert!(shown.contains("added store 41"), "{shown}");
    assert!(
        shown.contains("payment journals     cod=7,credit_card=6,mada=6"),
        "{shown}"
    );
    assert!(shown.contains("payment journal      6"), "{shown}");
    assert!(shown.contains("refund credit notes  yes"), "{shown}");
    assert!(shown.contains("return pickings      yes"), "{shown}");
    let user = shown
        .lines()
        .find(|l| l.contains("store 41 odoo user"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(user.starts_with("FAIL"), "{user}");
    for needed in [
        "has no email address",
        "Unable to send message, please configure the sender's email address.",
        "registering the payment of an invoice from a sale order",
        "creating a return picking",
        "Settings > Users & Companies > Users > Salla Connector > Email",
    ] {
        assert!(user.contains(needed), "{needed}: {user}");
    }
    let groups = shown
        .lines()
        .find(|l| l.contains("store 41 odoo groups"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(groups.starts_with("FAIL"), "{groups}");
    assert!(
        groups.contains("Inventory / User (stock.group_stock_user) for validating deliveries")
            && groups.contains("return pickings")
            && !groups.contains("account.group_account_invoice"),
        "{groups}"
    );
    assert!(shown.contains("The store is saved"), "{shown}");

    // JSON: the checks under odoo_checks; an admin user passes both.
    let out = add(&dir, "42", &url, "admin", &["--json"]);
    let added = json_of(&out);
    let checks = added["odoo_checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    assert_eq!(added["payment_journal_id"], Value::Null);
    assert_eq!(added["payment_journals"], json!({}));
    assert_eq!(added["refund_credit_notes"], true);

    // An Odoo that cannot be reached: saved, with a warning saying how to check later.
    let out = add(&dir, "43", "http://127.0.0.1:1", "connector", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("run `salla-odoo doctor` once it is reachable"),
        "{}",
        text(&out)
    );

    // doctor: the same failures, exit 1.
    let out = cli(&dir, &["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let checks = json_of(&out);
    let by_name = |n: &str| {
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n}: {checks:#}"))
    };
    assert_eq!(by_name("store 41 odoo user")["level"], "fail");
    assert_eq!(by_name("store 41 odoo groups")["level"], "fail");
    assert_eq!(by_name("store 42 odoo user")["level"], "ok");
    assert_eq!(by_name("store 42 odoo groups")["level"], "ok");

    // Someone gives the user an email address: that check passes.
    let admin = odoo::Client::new(
        odoo::Config::new(&url, "odoo", "admin", "admin".to_owned().into()).unwrap(),
    )
    .unwrap();
    let users: Vec<odoo::Record> = admin
        .search_read(
            "res.users",
            &odoo::Domain::new().eq("login", "connector"),
            &["partner_id"],
            &odoo::SearchOptions::limit(1),
        )
        .await
        .unwrap();
    let partner = odoo::many2one_id(&users[0]["partner_id"]).unwrap();
    let mut vals = Map::new();
    vals.insert("email".into(), json!("connector@example.com"));
    admin.write("res.partner", &[partner], vals).await.unwrap();
    let out = cli(&dir, &["doctor", "--json"]);
    let checks = json_of(&out);
    let user = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "store 41 odoo user")
        .unwrap();
    assert_eq!(user["level"], "ok", "{user}");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_refund_and_return_options_update_and_show() {
    let dir = DataDir::new();
    assert!(cli(&dir, &["migrate"]).status.success());
    // Odoo unreachable here: only the options matter.
    let out = add(
        &dir,
        "51",
        "http://127.0.0.1:1",
        "connector",
        &[
            "--payment-journals",
            "mada=6,cod=7",
            "--return-pickings",
            "off",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = cli(
        &dir,
        &[
            "store",
            "update",
            "--merchant",
            "51",
            "--payment-journals",
            "mada=off,apple_pay=6",
            "--payment-journal",
            "7",
            "--refund-credit-notes",
            "off",
            "--return-pickings",
            "on",
            "--json",
        ],
    );
    let s = json_of(&out);
    assert_eq!(s["payment_journals"], json!({"apple_pay": 6, "cod": 7}));
    assert_eq!(s["payment_journal_id"], 7);
    assert_eq!(s["refund_credit_notes"], false);
    assert_eq!(s["return_pickings"], true);
    let out = cli(
        &dir,
        &[
            "store",
            "update",
            "--merchant",
            "51",
            "--payment-journal",
            "off",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = stdout(&cli(&dir, &["store", "show", "--merchant", "51"]));
    assert!(shown.contains("payment journal      -"), "{shown}");
    assert!(
        shown.contains("payment journals     apple_pay=6,cod=7"),
        "{shown}"
    );
    assert!(shown.contains("refund credit notes  no"), "{shown}");
    assert!(shown.contains("return pickings      yes"), "{shown}");

    // Nonsense is a usage error (exit 2) and changes nothing.
    for bad in [
        ["--payment-journals", "mada"],
        ["--payment-journals", "mada=six"],
        ["--payment-journal", "0"],
        ["--refund-credit-notes", "maybe"],
    ] {
        let mut args = vec!["store", "update", "--merchant", "51"];
        args.extend_from_slice(&bad);
        let out = cli(&dir, &args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out));
    }
    let s = json_of(&cli(&dir, &["store", "show", "--merchant", "51", "--json"]));
    assert_eq!(s["payment_journals"], json!({"apple_pay": 6, "cod": 7}));
}

#[test]
fn store_add_help_has_a_paragraph_per_rule() {
    let dir = DataDir::new();
    let out = cli(&dir, &["store", "add", "--help"]);
    assert!(out.status.success(), "{}", text(&out));
    let help = stdout(&out);
    for needed in [
        "--payment-journals <METHOD=JOURNAL_ID,…>",
        "paid online",
        "cash-on-delivery",
        "looked up before one is registered",
        "--payment-journal <JOURNAL_ID|off>",
        "--refund-credit-notes <on|off>",
        "written down before it is posted",
        "never invoiced is cancelled",
        "--return-pickings <on|off>",
        "return picking",
        "email address",
        "Invoicing / Billing",
        "refund)",
    ] {
        assert!(help.contains(needed), "{needed}:\n{help}");
    }
}
