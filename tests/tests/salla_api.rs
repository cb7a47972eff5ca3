//! The connector talks to Salla: worker processes fetch what webhooks lack from `salla-sandbox`
//! with each store's tokens, refresh them under the fleet-wide lock, stop at needs-reinstall, and
//! back off on 429 without spending attempts.

use std::time::Duration;

use odoo_sandbox::{Options, Version};
use salla_odoo_tests::salla::{authorize_event, shipment_event};
use salla_odoo_tests::*;
use serde_json::{Value, json};

async fn odoo() -> odoo_sandbox::Sandbox {
    odoo_sandbox::spawn(Options {
        version: Version::V18,
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn salla() -> salla_sandbox::Sandbox {
    salla_sandbox::spawn(salla_sandbox::Options::default())
        .await
        .unwrap()
}

async fn fleet_with(test: &str, salla: &salla_sandbox::Sandbox, extra: &[(&str, &str)]) -> Fleet {
    let mut env: Vec<(String, String)> = salla::env(salla);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Fleet::start_with(test, &env).await
}

async fn post_ok(fleet: &Fleet, body: &[u8]) {
    let (status, answer) = fleet.ingest.post_signed(body).await;
    assert_eq!(status, 200, "{answer}");
}

/// The "job failed; retrying later" lines of a worker's log, to say why an attempt was spent.
fn retries_in(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("retrying later"))
        .map(str::to_owned)
        .collect()
}

/// A log file for worker `i` of `fleet`, in the temporary directory.
fn worker_log(fleet: &Fleet, i: usize) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("salla-odoo-{}-{i}.log", fleet.ns.replace(':', "-")))
}

async fn api_state(fleet: &Fleet, merchant: u64) -> (Option<String>, Option<String>) {
    let pool = fleet.db.pg().clone();
    sqlx::query_as("SELECT salla_api_state, salla_api_reason FROM stores WHERE merchant_id = $1")
        .bind(merchant as i64)
        .fetch_optional(&pool)
        .await
        .unwrap()
        .unwrap_or((None, None))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_refresh_raced_by_20_jobs_on_3_workers_happens_once() {
    let (odoo, salla) = (odoo().await, salla().await);
    const M: u64 = 801_001;
    let mut fleet = fleet_with("salla-refresh-race", &salla, &[]).await;
    fleet.add_store(M, &odoo.url(), &["--create-unknown-skus"]);
    let tokens = salla.authorize(M);
    for i in 0..20u64 {
        salla
            .seed_order(
                M,
                salla::api_order(
                    M,
                    90_100 + i,
                    &format!("RACE-{i}"),
                    "2026-12-01 09:00:00",
                    "in_progress",
                ),
            )
            .unwrap();
    }
    // The tokens reach the store, then Salla expires them: the connector still thinks they are
    // good until Salla refuses them.
    post_ok(&fleet, &authorize_event(M, &tokens)).await;
    let logs: Vec<_> = (0..3).map(|i| worker_log(&fleet, i)).collect();
    for log in &logs {
        fleet.spawn_worker_logging_to(log);
    }
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    assert_eq!(salla.expire_tokens(M), 1);
    salla.clear_calls();
    // 20 shipments of orders no webhook ever delivered: every job must fetch its order.
    for i in 0..20u64 {
        post_ok(&fleet, &shipment_event(M, 95_100 + i, 90_100 + i)).await;
    }
    fleet.wait_outcomes(21, Duration::from_secs(90)).await;

    let stats = salla.stats();
    assert_eq!(
        stats["token_refreshes"], 1,
        "exactly one refresh reached Salla: {stats}"
    );
    assert_eq!(stats["token_refresh_failures"], 0, "{stats}");
    // A job may meet the expired token once (it read it before the refresh was stored), never
    // twice: after a refusal it waits for the lock, re-reads, and uses the one new token.
    let refusals = salla
        .calls()
        .iter()
        .filter(|c| c.status == Some(401))
        .count();
    assert!(refusals <= 20, "{refusals} refusals for 20 jobs");
    let attempts: i64 = fleet
        .db
        .scalar("SELECT coalesce(max(attempt), 0)::bigint FROM sync_log")
        .await;
    let retries: Vec<String> = logs.iter().flat_map(|l| retries_in(l)).collect();
    assert_eq!(attempts, 0, "no job failed an attempt: {retries:#?}");
    assert_eq!(api_state(&fleet, M).await.0.as_deref(), Some("ok"));
    let orders = odoo
        .inspect()
        .count(
            "sale.order",
            json!([["client_order_ref", "like", format!("salla:{M}:")]]),
        )
        .unwrap();
    assert_eq!(orders, 20, "each fetched order synced once");
    let log = fleet.log().await;
    assert!(
        log.iter().all(|(_, outcome, _)| outcome == "applied"),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_refresh_answer_puts_the_store_in_needs_reinstall_until_it_is_authorized_again() {
    let (odoo, salla) = (odoo().await, salla().await);
    const M: u64 = 801_002;
    let mut fleet = fleet_with(
        "salla-lost-refresh",
        &salla,
        &[("SALLA_ODOO__RETRY__MAX_ATTEMPTS", "2")],
    )
    .await;
    fleet.add_store(M, &odoo.url(), &["--create-unknown-skus"]);
    salla
        .seed_order(
            M,
            salla::api_order(M, 90_200, "LOST-1", "2026-12-01 09:00:00", "in_progress"),
        )
        .unwrap();
    post_ok(&fleet, &authorize_event(M, &salla.authorize(M))).await;
    fleet.spawn_worker();
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    salla.expire_tokens(M);
    // The refresh takes effect at Salla, and its answer never arrives.
    salla.faults().drop_after_write(
        salla_sandbox::Match::any()
            .path_prefix("/oauth2/token")
            .times(1),
    );
    post_ok(&fleet, &shipment_event(M, 95_200, 90_200)).await;
    let db = fleet.db.pg().clone();
    let fleet_ref = &fleet;
    wait_for("needs reinstall", Duration::from_secs(30), move || async move {
        api_state(fleet_ref, M).await.0.as_deref() == Some("needs_reinstall")
    })
    .await;
    let (_, reason) = api_state(&fleet, M).await;
    assert!(
        reason.as_deref().is_some_and(|r| r.contains("lost")),
        "{reason:?}"
    );
    // The refresh was made once and never again (the old refresh token may be spent).
    fleet.wait_outcomes(2, Duration::from_secs(60)).await;
    assert_eq!(salla.stats()["token_refreshes"], 1);
    let said: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(reason, ' | '), '') FROM sync_log WHERE merchant_id = $1",
    )
    .bind(M as i64)
    .fetch_one(&db)
    .await
    .unwrap();
    let dead: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(error, ' | '), '') FROM dead_letters WHERE merchant_id = $1",
    )
    .bind(M as i64)
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(
        format!("{said} {dead}").contains("needs a reinstall"),
        "the job's outcome says why the order could not be fetched: {said} / {dead}"
    );
    // The merchant re-authorizes the app: the state clears, and the API works again.
    salla.faults().clear();
    post_ok(&fleet, &authorize_event(M, &salla.authorize(M))).await;
    wait_for("state ok", Duration::from_secs(30), move || async move {
        api_state(fleet_ref, M).await.0.as_deref() == Some("ok")
    })
    .await;
    salla
        .seed_order(
            M,
            salla::api_order(M, 90_201, "LOST-2", "2026-12-01 09:00:00", "in_progress"),
        )
        .unwrap();
    post_ok(&fleet, &shipment_event(M, 95_201, 90_201)).await;
    let odoo = &odoo;
    wait_for(
        "the second order in Odoo",
        Duration::from_secs(60),
        move || async move {
            odoo.inspect()
                .count(
                    "sale.order",
                    json!([["client_order_ref", "=", format!("salla:{M}:90201")]]),
                )
                .unwrap()
                == 1
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_throttles_one_store_without_spending_attempts_and_spares_the_others() {
    // Each store has its Odoo: the stores' orders share customers (the same e-mails), and in one
    // Odoo their creation locks would make jobs retry for reasons that are not Salla's.
    let (odoo_a, odoo_b, salla) = (odoo().await, odoo().await, salla().await);
    const A: u64 = 801_003;
    const B: u64 = 801_004;
    let mut fleet = fleet_with(
        "salla-429",
        &salla,
        &[("SALLA_ODOO__RETRY__MAX_ATTEMPTS", "2")],
    )
    .await;
    for (m, odoo) in [(A, &odoo_a), (B, &odoo_b)] {
        fleet.add_store(m, &odoo.url(), &["--create-unknown-skus"]);
        post_ok(&fleet, &authorize_event(m, &salla.authorize(m))).await;
    }
    for i in 0..5u64 {
        salla
            .seed_order(
                A,
                salla::api_order(
                    A,
                    90_300 + i,
                    &format!("STORM-A{i}"),
                    "2026-12-01 09:00:00",
                    "in_progress",
                ),
            )
            .unwrap();
        salla
            .seed_order(
                B,
                salla::api_order(
                    B,
                    90_400 + i,
                    &format!("STORM-B{i}"),
                    "2026-12-01 09:00:00",
                    "in_progress",
                ),
            )
            .unwrap();
    }
    // Store A's Salla answers its next 6 requests with 429 and Retry-After: 1.
    salla.faults().inject(salla_sandbox::ErrorRule {
        on: salla_sandbox::Match::any().merchant(A).times(6),
        status: 429,
        retry_after_secs: Some(1),
    });
    let worker = worker_log(&fleet, 0);
    fleet.spawn_worker_logging_to(&worker);
    // Both stores have their tokens before the shipments arrive: a shipment that ran first would
    // fail an attempt for want of tokens, which is not what this test is about.
    fleet.wait_outcomes(2, Duration::from_secs(30)).await;
    for i in 0..5u64 {
        post_ok(&fleet, &shipment_event(A, 95_300 + i, 90_300 + i)).await;
        post_ok(&fleet, &shipment_event(B, 95_400 + i, 90_400 + i)).await;
    }
    fleet.wait_outcomes(12, Duration::from_secs(90)).await;
    let log = fleet.log().await;
    assert!(
        log.iter().all(|(_, outcome, _)| outcome == "applied"),
        "every job applied although A was rate limited (max 2 attempts): {log:?}"
    );
    let attempts: i64 = fleet
        .db
        .scalar("SELECT coalesce(max(attempt), 0)::bigint FROM sync_log")
        .await;
    let retried: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT event, entity, reason FROM sync_log WHERE attempt > 0 ORDER BY id")
            .fetch_all(fleet.db.pg())
            .await
            .unwrap();
    let retries = retries_in(&worker);
    assert_eq!(
        attempts, 0,
        "throttling spent no attempt: {retried:?} {retries:#?} in {log:?}"
    );
    let stats = salla.stats();
    assert_eq!(
        stats["injected_errors"], 6,
        "store A was answered 429 six times: {stats}"
    );
    let b_429 = salla
        .calls()
        .iter()
        .filter(|c| c.merchant == Some(B) && c.status == Some(429))
        .count();
    assert_eq!(b_429, 0, "store B never rate limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstalled_app_puts_the_store_in_needs_reinstall_and_a_reinstall_clears_it() {
    let (odoo, salla) = (odoo().await, salla().await);
    const M: u64 = 801_005;
    let mut fleet = fleet_with("salla-uninstall", &salla, &[]).await;
    fleet.add_store(M, &odoo.url(), &["--create-unknown-skus"]);
    post_ok(&fleet, &authorize_event(M, &salla.authorize(M))).await;
    fleet.spawn_worker();
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    assert_eq!(api_state(&fleet, M).await.0.as_deref(), Some("ok"));
    let app_event = |event: &str| {
        serde_json::to_vec(
            &json!({"event": event, "merchant": M, "created_at": "2026-12-01 11:00:00",
            "data": {"id": 1_234_509_876u64, "app_name": "Odoo connector", "store_type": "live"}}),
        )
        .unwrap()
    };
    post_ok(&fleet, &app_event("app.uninstalled")).await;
    fleet.wait_outcomes(2, Duration::from_secs(30)).await;
    let (state, reason) = api_state(&fleet, M).await;
    assert_eq!(state.as_deref(), Some("needs_reinstall"));
    assert!(
        reason.as_deref().is_some_and(|r| r.contains("uninstalled")),
        "{reason:?}"
    );
    post_ok(&fleet, &app_event("app.installed")).await;
    post_ok(&fleet, &authorize_event(M, &salla.authorize(M))).await;
    fleet.wait_outcomes(4, Duration::from_secs(30)).await;
    assert_eq!(api_state(&fleet, M).await.0.as_deref(), Some("ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_close_to_expiry_are_refreshed_ahead_by_the_scheduled_job() {
    let (odoo, salla) = (odoo().await, salla().await);
    const M: u64 = 801_006;
    let mut fleet = fleet_with(
        "salla-refresh-ahead",
        &salla,
        &[("SALLA_ODOO__SALLA__TOKEN_REFRESH_INTERVAL_SECS", "1")],
    )
    .await;
    fleet.add_store(M, &odoo.url(), &["--create-unknown-skus"]);
    // Salla says the token expires in an hour: within the day ahead the job refreshes.
    let mut tokens = salla.authorize(M);
    tokens.expires = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    post_ok(&fleet, &authorize_event(M, &tokens)).await;
    fleet.spawn_worker();
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    let db = fleet.db.pg().clone();
    wait_for("the scheduled refresh", Duration::from_secs(30), || {
        let db = db.clone();
        async move {
            let refreshed: Option<time::OffsetDateTime> =
                sqlx::query_scalar("SELECT salla_refreshed_at FROM stores WHERE merchant_id = $1")
                    .bind(M as i64)
                    .fetch_one(&db)
                    .await
                    .unwrap();
            refreshed.is_some()
        }
    })
    .await;
    assert_eq!(salla.stats()["token_refreshes"], 1, "no job asked for it");
    // The new token is good for 14 days: the next rounds leave it alone.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        salla.stats()["token_refreshes"],
        1,
        "refreshed once, not every round"
    );
    let out = fleet.cli(
        &["store", "tokens", "--merchant", &M.to_string(), "--json"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["state"], "ok", "{shown}");
    assert!(!shown["refreshed_at"].is_null(), "{shown}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(&tokens.access_token) && !text.contains(&tokens.refresh_token));
}
