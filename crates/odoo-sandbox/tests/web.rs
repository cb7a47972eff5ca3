//! The web-client routes: `/web/session/authenticate`, `/web/dataset/call_kw`, `/web/health`.

mod common;

use common::{post_json, request};
use odoo_sandbox::Options;
use serde_json::json;

#[tokio::test]
async fn web_session_and_call_kw() {
    let sb = odoo_sandbox::spawn(Options::default()).await.unwrap();
    let a = sb.addr();
    assert_eq!(
        request(a, "GET", "/web/health", &[], b"")
            .await
            .unwrap()
            .json(),
        json!({"status": "pass"})
    );
    let bad = post_json(a, "/web/session/authenticate", &json!({"jsonrpc": "2.0", "id": 1, "params": {"db": "odoo", "login": "admin", "password": "nope"}})).await.unwrap();
    assert_eq!(
        bad.json()["error"]["data"]["name"],
        "odoo.exceptions.AccessDenied"
    );
    let ok = post_json(a, "/web/session/authenticate", &json!({"jsonrpc": "2.0", "id": 1, "params": {"db": "odoo", "login": "admin", "password": "admin"}})).await.unwrap();
    assert_eq!(ok.json()["result"]["uid"], 2);
    let cookie = ok
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("session_id="));
    let body = json!({"jsonrpc": "2.0", "id": 2, "params": {"model": "res.partner", "method": "search_count", "args": [[]], "kwargs": {}}});
    let r = request(
        a,
        "POST",
        "/web/dataset/call_kw/res.partner/search_count",
        &[("Content-Type", "application/json"), ("Cookie", &cookie)],
        body.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert!(r.json()["result"].as_u64().unwrap() >= 1);
    let r = post_json(a, "/web/dataset/call_kw", &body)
        .await
        .unwrap()
        .json();
    assert_eq!(r["error"]["code"], 100);
    assert_eq!(r["error"]["message"], "Odoo Session Expired");
    assert_eq!(
        r["error"]["data"]["name"],
        "odoo.http.SessionExpiredException"
    );
    sb.shutdown().await;
}
