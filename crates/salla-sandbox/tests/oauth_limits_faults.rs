//! OAuth (single-use refresh tokens, expiry, scopes, uninstall), rate limits and faults.

mod common;

use std::time::Duration;

use common::{CLIENT_ID, CLIENT_SECRET, order, start, wait_until};
use reqwest::{Method, StatusCode};
use salla_sandbox::{AuthorizeOptions, INVALID_GRANT_DESCRIPTION, Match, Options};
use serde_json::{Value, json};

const M: u64 = 1_305_000_001;

async fn seeded() -> common::Env {
    let env = start(Options::default()).await;
    env.sb
        .seed_order(
            M,
            order(
                1,
                (566146469, "under_review"),
                "2024-03-05 10:00:00",
                5.0,
                1,
            ),
        )
        .unwrap();
    env
}

#[tokio::test]
async fn refresh_tokens_are_single_use_and_reuse_revokes_the_chain() {
    let env = seeded().await;
    let t = env.sb.authorize(M);
    assert!(
        t.expires > 1_000_000_000,
        "authorize gives an absolute time"
    );
    assert!(t.scope.contains("offline_access"));

    let r = env.refresh(&t.refresh_token).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["expires_in"], 1_209_600);
    assert_eq!(r.body["expires"], 1_209_600);
    assert_eq!(r.body["scope"], t.scope.as_str());
    let access2 = r.body["access_token"].as_str().unwrap().to_owned();
    let refresh2 = r.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(access2, t.access_token);
    assert_ne!(refresh2, t.refresh_token);

    // The old access token is retired, the new one works.
    let old = env.get(&t.access_token, "/orders/1").await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(old.body["error"]["message"], "The access token is invalid");
    assert_eq!(env.get(&access2, "/orders/1").await.status, StatusCode::OK);

    // Reuse: invalid_grant, and the whole chain is revoked.
    let reuse = env.refresh(&t.refresh_token).await.unwrap();
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reuse.body["error"], "invalid_grant");
    assert_eq!(reuse.body["error_description"], INVALID_GRANT_DESCRIPTION);
    assert_eq!(
        env.get(&access2, "/orders/1").await.status,
        StatusCode::UNAUTHORIZED
    );
    let later = env.refresh(&refresh2).await.unwrap();
    assert_eq!(later.status, StatusCode::UNAUTHORIZED);
    assert_eq!(later.body["error"], "invalid_grant");

    // A reinstall (new authorize) starts a fresh chain.
    let t2 = env.sb.authorize(M);
    assert_eq!(
        env.get(&t2.access_token, "/orders/1").await.status,
        StatusCode::OK
    );

    let stats = env.control(Method::GET, "/_sandbox/stats", None).await.body;
    assert_eq!(stats["token_refreshes"], 1);
    assert_eq!(stats["token_refresh_failures"], 2);
    assert_eq!(stats["endpoints"]["POST /oauth2/token"], 3);
    env.sb.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_errors() {
    let env = seeded().await;
    let t = env.sb.authorize(M);
    let wrong = env
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &t.refresh_token),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
        ])
        .await
        .unwrap();
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["error"], "invalid_client");

    let missing = env
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .await
        .unwrap();
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body["error"], "invalid_request");

    let unknown = env.refresh("ory_rt_unknown").await.unwrap();
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.body["error"], "invalid_grant");

    // None of these used the real refresh token.
    assert_eq!(
        env.refresh(&t.refresh_token).await.unwrap().status,
        StatusCode::OK
    );
    env.sb.shutdown().await;
}

#[tokio::test]
async fn access_tokens_expire() {
    let env = start(Options {
        token_lifetime: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    env.sb
        .seed_order(
            M,
            order(
                1,
                (566146469, "under_review"),
                "2024-03-05 10:00:00",
                5.0,
                1,
            ),
        )
        .unwrap();
    let t = env.sb.authorize(M);
    assert_eq!(
        env.get(&t.access_token, "/orders/1").await.status,
        StatusCode::OK
    );
    let expired = wait_until(Duration::from_secs(5), || async {
        env.get(&t.access_token, "/orders/1").await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(expired, "the token did not expire");

    // The refresh token still works after expiry.
    let r = env.refresh(&t.refresh_token).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["expires_in"], 1);
    env.sb.shutdown().await;

    // expire-tokens: immediately, through the control API.
    let env = seeded().await;
    let t = env.sb.authorize(M);
    assert_eq!(
        env.get(&t.access_token, "/orders/1").await.status,
        StatusCode::OK
    );
    let r = env
        .control(
            Method::POST,
            &format!("/_sandbox/merchants/{M}/expire-tokens"),
            None,
        )
        .await;
    assert_eq!(r.body["expired"], 1);
    let after = env.get(&t.access_token, "/orders/1").await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        after.body["error"]["message"],
        "The access token is invalid"
    );
    let r = env.refresh(&t.refresh_token).await.unwrap();
    let fresh = r.body["access_token"].as_str().unwrap();
    assert_eq!(env.get(fresh, "/orders/1").await.status, StatusCode::OK);
    env.sb.shutdown().await;
}

#[tokio::test]
async fn scopes_are_enforced() {
    let env = seeded().await;
    let r = env
        .control(
            Method::POST,
            &format!("/_sandbox/merchants/{M}/authorize"),
            Some(&json!({"scope": "products.read offline_access"})),
        )
        .await;
    assert_eq!(r.body["scope"], "products.read offline_access");
    let tok = r.body["access_token"].as_str().unwrap().to_owned();
    let orders = env.get(&tok, "/orders").await;
    assert_eq!(orders.status, StatusCode::UNAUTHORIZED);
    assert_eq!(orders.body["error"]["code"], "unauthorized");
    assert_eq!(
        orders.body["error"]["message"],
        "The access token should have access to one of those scopes: orders.read"
    );
    assert_eq!(env.get(&tok, "/products").await.status, StatusCode::OK);
    let bulk = env
        .post(&tok, "/products/quantities/bulk", &json!({"products": []}))
        .await;
    assert_eq!(bulk.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bulk.body["error"]["message"],
        "The access token should have access to one of those scopes: products.read_write"
    );
    assert_eq!(
        env.get(&tok, "/customers").await.status,
        StatusCode::UNAUTHORIZED
    );
    env.sb.shutdown().await;
}

#[tokio::test]
async fn uninstall_kills_every_token() {
    let env = seeded().await;
    let t = env.sb.authorize(M);
    let r = env
        .control(
            Method::POST,
            &format!("/_sandbox/merchants/{M}/uninstall"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let api = env.get(&t.access_token, "/orders/1").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.body["error"]["message"], "The access token is invalid");
    let refresh = env.refresh(&t.refresh_token).await.unwrap();
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh.body["error"], "invalid_grant");

    let again = env.sb.authorize(M);
    assert_eq!(
        env.get(&again.access_token, "/orders/1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        env.get(&t.access_token, "/orders/1").await.status,
        StatusCode::UNAUTHORIZED,
        "tokens from before the uninstall stay dead"
    );
    env.sb.shutdown().await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_headers() {
    let env = start(Options {
        customers_rate_limit: 2,
        ..Options::default()
    })
    .await;
    env.sb
        .seed_order(
            M,
            order(
                1,
                (566146469, "under_review"),
                "2024-03-05 10:00:00",
                5.0,
                1,
            ),
        )
        .unwrap();
    let t = env.sb.authorize_with(
        M,
        AuthorizeOptions {
            scope: None,
            plan_per_min: Some(3),
        },
    );
    for left in ["2", "1", "0"] {
        let r = env.get(&t.access_token, "/orders/1").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(r.header("x-ratelimit-remaining"), Some(left));
    }
    let r = env.get(&t.access_token, "/orders/1").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        r.body,
        json!({"status": 429, "success": false, "error": {"code": "too_many_requests", "message": "Too Many Attempts."}})
    );
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let reset: u64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(reset >= now && reset <= now + 61, "{reset} vs {now}");

    // Customer endpoints have their own (here tiny) budget besides the plan's.
    env.sb.set_plan(M, Some(100));
    let other = env.sb.authorize(M + 1);
    for _ in 0..2 {
        let r = env.get(&other.access_token, "/customers").await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = env.get(&other.access_token, "/customers").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        env.get(&other.access_token, "/orders").await.status,
        StatusCode::OK
    );
    let stats = env.sb.stats();
    assert_eq!(stats["rate_limited"], 2);
    env.sb.shutdown().await;
}

#[tokio::test]
async fn a_lost_refresh_answer_still_used_the_token() {
    let env = seeded().await;
    let t = env.sb.authorize(M);
    let r = env
        .control(
            Method::POST,
            "/_sandbox/faults/drop_after_write",
            Some(&json!({"path_prefix": "/oauth2/token", "times": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let lost = env.refresh(&t.refresh_token).await;
    assert!(
        lost.is_err(),
        "the connection should close without an answer"
    );

    // The refresh took effect: the old refresh token is used, a new pair exists.
    let tokens = env
        .control(
            Method::GET,
            &format!("/_sandbox/merchants/{M}/tokens"),
            None,
        )
        .await;
    let list = tokens.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let first = list
        .iter()
        .find(|x| x["refresh_token"] == t.refresh_token.as_str())
        .unwrap();
    assert_eq!(first["refresh_used"], true);
    assert_eq!(first["access_valid"], false);
    let old = env.get(&t.access_token, "/orders/1").await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);

    // A blind retry is a reuse: invalid_grant and the chain is gone.
    let retry = env.refresh(&t.refresh_token).await.unwrap();
    assert_eq!(retry.body["error"], "invalid_grant");
    let calls = env.sb.calls();
    let token_calls: Vec<_> = calls
        .iter()
        .filter(|c| c.endpoint == "POST /oauth2/token")
        .collect();
    assert_eq!(token_calls.len(), 2);
    assert!(token_calls[0].dropped);
    assert_eq!(token_calls[0].status, Some(200));
    assert_eq!(token_calls[0].merchant, Some(M));
    assert_eq!(token_calls[1].status, Some(401));
    env.sb.shutdown().await;
}

#[tokio::test]
async fn error_rules_latency_and_call_log() {
    let env = seeded().await;
    let t = env.sb.authorize(M);
    env.sb.faults().fail(
        Match::any().path_prefix("/orders").merchant(M).times(2),
        503,
    );
    for _ in 0..2 {
        let r = env.get(&t.access_token, "/orders/1").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.body["error"]["code"], "service_unavailable");
        assert_eq!(r.body["success"], false);
    }
    assert_eq!(
        env.get(&t.access_token, "/orders/1").await.status,
        StatusCode::OK
    );

    // Over HTTP, with Retry-After; a rule for another merchant does not fire.
    env.control(
        Method::POST,
        "/_sandbox/faults/errors",
        Some(&json!({"merchant": 9, "status": 500})),
    )
    .await;
    env.control(
        Method::POST,
        "/_sandbox/faults/errors",
        Some(&json!({"path_prefix": "/admin/v2/products", "method": "GET", "status": 429, "retry_after_secs": 7})),
    )
    .await;
    assert_eq!(
        env.get(&t.access_token, "/orders/1").await.status,
        StatusCode::OK
    );
    let r = env.get(&t.access_token, "/products").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after"), Some("7"));
    let cfg = env.control(Method::GET, "/_sandbox/faults", None).await;
    assert_eq!(cfg.body["errors"].as_array().unwrap().len(), 2);
    env.control(Method::DELETE, "/_sandbox/faults", None).await;
    assert_eq!(
        env.get(&t.access_token, "/products").await.status,
        StatusCode::OK
    );

    env.control(
        Method::POST,
        "/_sandbox/faults/latency",
        Some(&json!({"fixed_ms": 150, "jitter_ms": 0})),
    )
    .await;
    let started = std::time::Instant::now();
    env.get(&t.access_token, "/orders/1").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    env.control(Method::DELETE, "/_sandbox/faults", None).await;

    let calls = env.control(Method::GET, "/_sandbox/calls", None).await;
    let calls = calls.body.as_array().unwrap().clone();
    assert_eq!(calls.len(), 7);
    assert_eq!(calls[0]["status"], 503);
    assert_eq!(calls[0]["path"], "/admin/v2/orders/1");
    assert_eq!(calls[0]["endpoint"], "GET /admin/v2/orders/{id}");
    assert_eq!(calls[0]["merchant"], M);
    assert!(
        calls
            .windows(2)
            .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64())
    );
    let stats = env.sb.stats();
    assert_eq!(stats["injected_errors"], 3);
    assert_eq!(stats["endpoints"]["GET /admin/v2/orders/{id}"], 5);
    env.control(Method::DELETE, "/_sandbox/calls", None).await;
    assert_eq!(
        env.control(Method::GET, "/_sandbox/calls", None).await.body,
        Value::Array(vec![])
    );
    env.sb.shutdown().await;
}
