//! Fault injection from Rust: each kind, commit-then-drop, outage, expired credentials, latency.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::{call, call_env, err, post_json, rpc};
use odoo_sandbox::{FaultKind, Match, Options};
use serde_json::{Value, json};

fn create_partner(name: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": "call", "id": 7, "params": {"service": "object", "method": "execute_kw",
        "args": ["odoo", 2, "admin", "res.partner", "create", [{"name": name}], {}]}})
}

async fn count(sb: &odoo_sandbox::Sandbox, name: &str) -> usize {
    sb.inspect()
        .count("res.partner", json!([["name", "=", name]]))
        .unwrap()
}

#[tokio::test]
async fn http_errors_and_429_happen_before_the_call() {
    let sb = odoo_sandbox::spawn(Options::default()).await.unwrap();
    let a = sb.addr();
    sb.faults().inject(
        Match::any().model("res.partner").method("create").times(1),
        FaultKind::Http5xx(503),
    );
    let r = post_json(a, "/jsonrpc", &create_partner("five"))
        .await
        .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(count(&sb, "five").await, 0);
    // The rule was for one call only; other models were never affected.
    let r = post_json(a, "/jsonrpc", &create_partner("five"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(count(&sb, "five").await, 1);
    assert!(sb.faults().config().errors.is_empty());

    sb.faults().inject(
        Match::any().times(1),
        FaultKind::TooManyRequests {
            retry_after_secs: 7,
        },
    );
    let r = post_json(a, "/jsonrpc", &create_partner("many"))
        .await
        .unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(count(&sb, "many").await, 0);

    // A rule for another model does not fire.
    sb.faults()
        .inject(Match::any().model("sale.order"), FaultKind::Http5xx(502));
    assert_eq!(
        post_json(a, "/jsonrpc", &create_partner("other"))
            .await
            .unwrap()
            .status,
        200
    );
    // rate 0 never fires
    sb.faults().clear();
    sb.faults()
        .inject(Match::any().rate(0.0), FaultKind::Http5xx(502));
    for _ in 0..5 {
        assert_eq!(
            post_json(a, "/jsonrpc", &create_partner("zero"))
                .await
                .unwrap()
                .status,
            200
        );
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn serialization_failure_is_an_odoo_error() {
    let sb = odoo_sandbox::spawn(Options::default()).await.unwrap();
    sb.faults().inject(
        Match::any().method("create").times(1),
        FaultKind::SerializationFailure,
    );
    let env = post_json(sb.addr(), "/jsonrpc", &create_partner("ser"))
        .await
        .unwrap()
        .json();
    assert_eq!(
        err(&env),
        (
            "psycopg2.errors.SerializationFailure".into(),
            "could not serialize access due to concurrent update\n".into()
        )
    );
    assert_eq!(env["error"]["code"], 200);
    assert_eq!(count(&sb, "ser").await, 0);
    sb.faults()
        .inject(Match::any().times(1), FaultKind::LoginCooldown);
    let env = rpc(
        sb.addr(),
        "object",
        "execute_kw",
        json!(["odoo", 2, "admin", "res.partner", "search_count", [[]]]),
    )
    .await;
    assert_eq!(
        err(&env),
        (
            "odoo.exceptions.AccessDenied".into(),
            "Too many login failures, please wait a bit before trying again.".into()
        )
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn connection_reset_writes_nothing() {
    let sb = odoo_sandbox::spawn(Options::default()).await.unwrap();
    sb.faults().inject(
        Match::any().model("res.partner").times(1),
        FaultKind::ConnectionReset,
    );
    let e = post_json(sb.addr(), "/jsonrpc", &create_partner("reset"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    assert_eq!(count(&sb, "reset").await, 0);
    assert_eq!(sb.inspect().calls("res.partner", "create"), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn commit_then_drop_performs_the_write_and_drops_the_connection() {
    let sb = odoo_sandbox::spawn(Options::default()).await.unwrap();
    sb.faults()
        .commit_then_drop(Match::any().model("res.partner").method("create").times(1));
    let e = post_json(sb.addr(), "/jsonrpc", &create_partner("ghost"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}");
    assert_eq!(count(&sb, "ghost").await, 1, "the write must have happened");
    // Next call answers normally.
    let r = post_json(sb.addr(), "/jsonrpc", &create_partner("ghost"))
        .await
        .unwrap();
    assert!(r.json()["result"].is_i64());
    assert_eq!(count(&sb, "ghost").await, 2);
    // Through an order confirmation: the state changed although no answer came.
    let p = call(
        sb.addr(),
        "res.partner",
        "create",
        json!([{"name": "C"}]),
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
    sb.faults()
        .commit_then_drop(Match::any().method("action_confirm"));
    let body = json!({"jsonrpc": "2.0", "id": 1, "params": {"service": "object", "method": "execute_kw",
        "args": ["odoo", 2, "admin", "sale.order", "action_confirm", [[so]], {}]}});
    assert!(post_json(sb.addr(), "/jsonrpc", &body).await.is_err());
    assert_eq!(
        sb.inspect()
            .count(
                "sale.order",
                json!([["id", "=", so], ["state", "=", "sale"]])
            )
            .unwrap(),
        1
    );
    sb.shutdown().await;
}

async fn wait_until<F: AsyncFnMut() -> bool>(mut f: F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(Instant::now() < deadline, "condition not reached");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn outage_refuses_connections_until_it_ends() {
    let sb = odoo_sandbox::spawn(Options::default()).await.unwrap();
    let addr = sb.addr();
    sb.faults().outage(None);
    // A request during the outage never gets an answer...
    assert!(
        post_json(addr, "/jsonrpc", &create_partner("out"))
            .await
            .is_err()
    );
    // ...and soon the port refuses connections outright.
    wait_until(async || matches!(tokio::net::TcpStream::connect(addr).await, Err(e) if e.kind() == ErrorKind::ConnectionRefused)).await;
    assert_eq!(count(&sb, "out").await, 0);
    sb.faults().end_outage();
    wait_until(async || {
        post_json(addr, "/jsonrpc", &create_partner("back"))
            .await
            .is_ok()
    })
    .await;
    assert_eq!(count(&sb, "back").await, 1);
    // A timed window ends by itself.
    sb.faults().outage(Some(Duration::from_millis(200)));
    assert!(
        post_json(addr, "/jsonrpc", &create_partner("out"))
            .await
            .is_err()
    );
    wait_until(async || {
        post_json(addr, "/jsonrpc", &create_partner("later"))
            .await
            .is_ok()
    })
    .await;
    sb.shutdown().await;
}

#[tokio::test]
async fn expired_credentials_fail_every_authentication() {
    let sb = odoo_sandbox::spawn(Options::default()).await.unwrap();
    let a = sb.addr();
    sb.faults().set_expired_credentials(true);
    assert_eq!(
        rpc(
            a,
            "common",
            "authenticate",
            json!(["odoo", "admin", "admin", {}])
        )
        .await["result"],
        json!(false)
    );
    let e = call_env(a, "res.partner", "search_count", json!([[]]), json!({})).await;
    assert_eq!(
        err(&e),
        (
            "odoo.exceptions.AccessDenied".into(),
            "Access Denied".into()
        )
    );
    sb.faults().set_expired_credentials(false);
    assert_eq!(
        rpc(
            a,
            "common",
            "authenticate",
            json!(["odoo", "admin", "admin", {}])
        )
        .await["result"],
        json!(2)
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn latency_is_added_before_each_call() {
    let sb = odoo_sandbox::spawn(Options::default()).await.unwrap();
    sb.faults()
        .set_latency(Duration::from_millis(120), Duration::from_millis(30));
    let t = Instant::now();
    rpc(sb.addr(), "common", "version", json!([])).await;
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(120), "{took:?}");
    sb.faults().set_latency(Duration::ZERO, Duration::ZERO);
    // The admin API is never delayed or faulted.
    sb.faults().inject(Match::any(), FaultKind::Http5xx(500));
    let r = common::request(sb.addr(), "GET", "/_sandbox/faults", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["errors"][0]["kind"], json!({"http5xx": 500}));
    sb.shutdown().await;
}

#[tokio::test]
async fn a_call_whose_client_left_still_commits() {
    use tokio::io::AsyncWriteExt;
    let sb = odoo_sandbox::spawn(Options::default()).await.unwrap();
    sb.faults()
        .set_latency(Duration::from_millis(150), Duration::ZERO);
    let body = create_partner("left").to_string();
    let mut s = tokio::net::TcpStream::connect(sb.addr()).await.unwrap();
    let head = format!(
        "POST /jsonrpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    // Wait until the server has the call, then hang up before the answer.
    wait_until(async || sb.inspect().calls("res.partner", "create") == 1).await;
    drop(s);
    wait_until(async || count(&sb, "left").await == 1).await;
    sb.shutdown().await;
}
