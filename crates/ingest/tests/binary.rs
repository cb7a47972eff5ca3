//! The `salla-odoo-ingest` binary as operators run it: configured from the environment, JSON logs
//! that carry merchant, event and outcome but never secrets or payload contents, and a clean exit
//! on SIGTERM.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use salla_odoo_salla::verify::sign;

const SECRET: &str = "binary-test-secret-3f9a";

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[tokio::test]
async fn runs_logs_safely_and_stops_on_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ns = format!("test:binary:{}", uuid::Uuid::new_v4().simple());
    let mut child = Command::new(env!("CARGO_BIN_EXE_salla-odoo-ingest"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("REDIS_URL", redis_url())
        .env("SALLA_ODOO__SALLA__WEBHOOK_SECRET", SECRET)
        .env("SALLA_ODOO__SALLA__SECURITY_STRATEGY", "signature")
        .env("SALLA_ODOO__QUEUE__NAMESPACE", &ns)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "ingest did not come up");

    let body = br#"{"event":"customer.created","merchant":4242,"created_at":"2026-01-01 10:00:00","data":{"id":7,"first_name":"Secretive","email":"private.person@example.test","mobile":"+966500000001"}}"#;
    let resp = client
        .post(format!("{base}/webhooks/salla"))
        .header("x-salla-signature", sign(SECRET, body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = client
        .post(format!("{base}/webhooks/salla"))
        .header("x-salla-signature", "00".repeat(32))
        .header("authorization", SECRET)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..400 {
        if let Some(s) = child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let exited = exited.expect("ingest exits after SIGTERM");
    assert!(exited.success(), "{exited:?}");

    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON log line: {l}")))
        .collect();
    let accepted = lines
        .iter()
        .find(|l| l["outcome"] == "queued")
        .unwrap_or_else(|| panic!("no queued log line in {logs}"));
    assert_eq!(accepted["merchant"], 4242);
    assert_eq!(accepted["event"], "customer.created");
    assert!(lines.iter().any(|l| l["outcome"] == "unauthorized"));
    for needle in [SECRET, "private.person", "Secretive", "+966500000001"] {
        assert!(!logs.contains(needle), "logs contain {needle:?}:\n{logs}");
    }

    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{ns}:*"))
        .query(&mut conn)
        .unwrap();
    assert!(!keys.is_empty(), "the job reached Redis");
    let _: () = redis::cmd("DEL").arg(keys).query(&mut conn).unwrap();
}

#[test]
fn refuses_to_start_without_a_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_salla-odoo-ingest"))
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("SALLA_ODOO__SALLA__WEBHOOK_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SALLA_ODOO__SALLA__WEBHOOK_SECRET"));
}
