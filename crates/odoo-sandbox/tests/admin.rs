//! The admin HTTP API, the state file and the binary.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{call, post_json, request};
use odoo_sandbox::{Options, Version};
use serde_json::{Value, json};

fn temp_path(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "odoo-sandbox-{tag}-{}-{nanos}.json",
        std::process::id()
    ))
}

async fn admin(addr: std::net::SocketAddr, method: &str, path: &str, body: Value) -> Value {
    let r = request(
        addr,
        method,
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

fn create_partner(name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "params": {"service": "object", "method": "execute_kw",
        "args": ["odoo", 2, "admin", "res.partner", "create", [{"name": name}], {}]}})
}

#[tokio::test]
async fn admin_api_switches_faults_inspects_and_resets() {
    let sb = odoo_sandbox::spawn(Options::default()).await.unwrap();
    let a = sb.addr();
    assert_eq!(
        admin(a, "GET", "/_sandbox", json!({})).await["version"],
        "18"
    );
    admin(
        a,
        "POST",
        "/_sandbox/faults/errors",
        json!({"model": "res.partner", "method": "create", "times": 1, "kind": {"http5xx": 502}}),
    )
    .await;
    assert_eq!(
        post_json(a, "/jsonrpc", &create_partner("A"))
            .await
            .unwrap()
            .status,
        502
    );
    assert_eq!(
        admin(a, "GET", "/_sandbox/faults", json!({})).await["errors"],
        json!([])
    );
    admin(
        a,
        "POST",
        "/_sandbox/faults/errors",
        json!({"kind": {"too_many_requests": {"retry_after_secs": 3}}, "times": 1}),
    )
    .await;
    assert_eq!(
        post_json(a, "/jsonrpc", &create_partner("A"))
            .await
            .unwrap()
            .status,
        429
    );
    admin(
        a,
        "POST",
        "/_sandbox/faults/errors",
        json!({"kind": "connection_reset", "times": 1}),
    )
    .await;
    assert!(
        post_json(a, "/jsonrpc", &create_partner("A"))
            .await
            .is_err()
    );
    admin(
        a,
        "POST",
        "/_sandbox/faults/errors",
        json!({"kind": "serialization_failure", "times": 1}),
    )
    .await;
    let env = post_json(a, "/jsonrpc", &create_partner("A"))
        .await
        .unwrap()
        .json();
    assert_eq!(
        env["error"]["data"]["name"],
        "psycopg2.errors.SerializationFailure"
    );

    admin(
        a,
        "POST",
        "/_sandbox/faults/commit_then_drop",
        json!({"method": "create", "times": 1}),
    )
    .await;
    assert!(
        post_json(a, "/jsonrpc", &create_partner("Dropped"))
            .await
            .is_err()
    );
    let ins = admin(a, "GET", "/_sandbox/inspect?model=res.partner&domain=%5B%5B%22name%22%2C%22%3D%22%2C%22Dropped%22%5D%5D&fields=name", json!({})).await;
    assert_eq!(ins["count"], 1);
    assert_eq!(ins["records"][0]["name"], "Dropped");
    let ins = admin(
        a,
        "POST",
        "/_sandbox/inspect",
        json!({"model": "res.partner", "domain": [["name", "=", "Dropped"]]}),
    )
    .await;
    assert_eq!(ins["count"], 1);
    assert!(
        ins["records"][0].get("email").is_some(),
        "all fields by default"
    );

    admin(
        a,
        "POST",
        "/_sandbox/faults/latency",
        json!({"fixed_ms": 5, "jitter_ms": 1}),
    )
    .await;
    assert_eq!(
        admin(a, "GET", "/_sandbox/faults", json!({})).await["latency"],
        json!({"fixed": 5, "jitter": 1})
    );
    admin(
        a,
        "POST",
        "/_sandbox/faults/expired_credentials",
        json!({"expired": true}),
    )
    .await;
    assert_eq!(
        common::rpc(
            a,
            "common",
            "authenticate",
            json!(["odoo", "admin", "admin", {}])
        )
        .await["result"],
        json!(false)
    );
    // The whole configuration round-trips through GET and PUT.
    admin(
        a,
        "POST",
        "/_sandbox/faults/commit_then_drop",
        json!({"model": "sale.order", "rate": 0.25}),
    )
    .await;
    let cfg = admin(a, "GET", "/_sandbox/faults", json!({})).await;
    admin(a, "DELETE", "/_sandbox/faults", json!({})).await;
    admin(a, "PUT", "/_sandbox/faults", cfg.clone()).await;
    assert_eq!(admin(a, "GET", "/_sandbox/faults", json!({})).await, cfg);
    assert_eq!(cfg["commit_then_drop"][0]["rate"], json!(0.25));
    admin(a, "DELETE", "/_sandbox/faults", json!({})).await;
    assert_eq!(
        common::rpc(
            a,
            "common",
            "authenticate",
            json!(["odoo", "admin", "admin", {}])
        )
        .await["result"],
        json!(2)
    );

    let calls = admin(a, "GET", "/_sandbox/calls", json!({})).await;
    assert!(
        calls["res.partner.create"].as_u64().unwrap() >= 5,
        "{calls}"
    );
    assert_eq!(calls["common.authenticate"], json!(2));

    // Outage over the admin API (the window closes by itself).
    admin(
        a,
        "POST",
        "/_sandbox/faults/outage",
        json!({"seconds": 0.2}),
    )
    .await;
    assert!(
        post_json(a, "/jsonrpc", &create_partner("during"))
            .await
            .is_err()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while post_json(a, "/jsonrpc", &create_partner("after"))
        .await
        .is_err()
    {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    admin(a, "POST", "/_sandbox/reset", json!({})).await;
    assert_eq!(
        sb.inspect()
            .count("res.partner", json!([["name", "=", "Dropped"]]))
            .unwrap(),
        0
    );
    // Unknown model in inspect is a 400 with the Odoo error.
    let r = request(a, "GET", "/_sandbox/inspect?model=no.model", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn state_file_round_trip() {
    let path = temp_path("state");
    let opts = Options {
        version: Version::V17,
        state_file: Some(path.clone()),
        ..Options::default()
    };
    let sb = odoo_sandbox::spawn(opts.clone()).await.unwrap();
    let p = call(
        sb.addr(),
        "res.partner",
        "create",
        json!([{"name": "Persisted"}]),
        json!({}),
    )
    .await;
    let so = call(
        sb.addr(),
        "sale.order",
        "create",
        json!([{"partner_id": p}]),
        json!({}),
    )
    .await;
    sb.shutdown().await;
    assert!(path.exists());

    let sb = odoo_sandbox::spawn(opts.clone()).await.unwrap();
    let r = call(
        sb.addr(),
        "sale.order",
        "read",
        json!([[so]]),
        json!({"fields": ["name", "partner_id"]}),
    )
    .await;
    assert_eq!(r[0]["name"], "S00001");
    assert_eq!(r[0]["partner_id"], json!([p, "Persisted"]));
    // Sequences continue where they were.
    let so2 = call(
        sb.addr(),
        "sale.order",
        "create",
        json!([{"partner_id": p}]),
        json!({}),
    )
    .await;
    assert_eq!(
        call(
            sb.addr(),
            "sale.order",
            "read",
            json!([[so2]]),
            json!({"fields": ["name"]})
        )
        .await[0]["name"],
        "S00002"
    );
    sb.shutdown().await;

    // A state file of another version is refused.
    let other = Options {
        version: Version::V18,
        ..opts
    };
    assert!(odoo_sandbox::spawn(other).await.is_err());
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn binary_serves_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let path = temp_path("bin");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_odoo-sandbox"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--version",
            "16",
            "--password",
            "pw",
            "--state-file",
        ])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    let url = line.split_whitespace().last().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let v = common::rpc(addr, "common", "version", json!([])).await;
    assert_eq!(v["result"]["server_version"], "16.0");
    assert_eq!(
        common::rpc(
            addr,
            "common",
            "authenticate",
            json!(["odoo", "admin", "pw", {}])
        )
        .await["result"],
        json!(2)
    );
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(path.exists(), "state written at shutdown");
    let _ = std::fs::remove_file(&path);
}
