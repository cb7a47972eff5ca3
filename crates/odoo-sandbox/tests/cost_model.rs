//! The cost model over HTTP: calls beyond the capacity wait in line, the busy time and the calls
//! per `model.method` are reported at `/_sandbox/stats`, and a product create makes the next call
//! of each API-key client pay Odoo's password re-check.

mod common;

use std::time::{Duration, Instant};

use common::post_json;
use odoo_sandbox::Options;
use odoo_sandbox::cost::CostModel;
use serde_json::{Value, json};

fn search(key: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": "call", "id": 1, "params": {"service": "object", "method": "execute_kw",
        "args": ["odoo", 2, key, "res.partner", "search", [[]], {}]}})
}

fn create_product(key: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": "call", "id": 2, "params": {"service": "object", "method": "execute_kw",
        "args": ["odoo", 2, key, "product.product", "create", [{"name": "Dates"}], {}]}})
}

/// `res.partner.search` 100 ms, product create 50 ms, the re-check 300 ms, everything else 1 ms.
fn model(capacity: usize) -> CostModel {
    let mut m = CostModel::load("odoo18-small").unwrap();
    m.capacity = capacity;
    m.default_ms = [1, 1];
    m.calls.clear();
    m.calls.insert("res.partner.search".into(), [100, 100]);
    m.calls.insert("product.product.create".into(), [50, 50]);
    m.api_key_recheck_ms = [300, 300];
    m
}

async fn stats(a: std::net::SocketAddr) -> Value {
    let r = common::request(a, "GET", "/_sandbox/stats", &[], b"")
        .await
        .unwrap();
    serde_json::from_slice(&r.body).unwrap()
}

async fn three_searches(capacity: usize) -> (Duration, Value) {
    let sb = odoo_sandbox::spawn(Options {
        cost_model: Some(model(capacity)),
        // "admin" is the password, not the API key: no re-check in this part.
        api_key: "key".into(),
        ..Options::default()
    })
    .await
    .unwrap();
    let a = sb.addr();
    let started = Instant::now();
    let calls: Vec<_> = (0..3)
        .map(|_| tokio::spawn(async move { post_json(a, "/jsonrpc", &search("admin")).await }))
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap().status, 200);
    }
    (started.elapsed(), stats(a).await)
}

#[tokio::test]
async fn calls_beyond_the_capacity_wait_in_line() {
    let (one, s) = three_searches(1).await;
    assert!(one >= Duration::from_millis(300), "one at a time: {one:?}");
    assert_eq!(s["capacity"], 1);
    assert_eq!(s["by_call"]["res.partner.search"]["calls"], 3);
    assert_eq!(s["busy_ms"], 300.0, "{s}");
    assert!(s["waited_ms"].as_f64().unwrap() >= 290.0, "{s}");

    let (three, s) = three_searches(3).await;
    assert!(
        three < Duration::from_millis(290),
        "side by side: {three:?}"
    );
    assert_eq!(s["busy_ms"], 300.0, "{s}");
}

#[tokio::test]
async fn a_product_create_makes_api_key_clients_check_their_key_again() {
    let sb = odoo_sandbox::spawn(Options {
        cost_model: Some(model(1)),
        api_key: "secret-key".into(),
        ..Options::default()
    })
    .await
    .unwrap();
    let a = sb.addr();
    let timed = |body: Value| async move {
        let t = Instant::now();
        let r = post_json(a, "/jsonrpc", &body).await.unwrap();
        assert_eq!(r.status, 200);
        t.elapsed()
    };
    assert!(timed(search("secret-key")).await < Duration::from_millis(250));
    timed(create_product("secret-key")).await;
    // The caches are cleared: the key is checked again, once (100 + 300 ms).
    assert!(timed(search("secret-key")).await >= Duration::from_millis(400));
    assert!(timed(search("secret-key")).await < Duration::from_millis(250));
    let s = stats(a).await;
    assert_eq!(s["cache_clears"], 1, "{s}");
    // The first search pays nothing more (no product was created yet): 100 + 50 + 400 + 100.
    assert_eq!(s["busy_ms"], 650.0, "{s}");
    assert_eq!(sb.cost_stats().unwrap()["calls"], 4);
}
