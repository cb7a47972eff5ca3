//! Ingest end to end: real HTTP server, real Redis, one namespace per test.

use std::collections::BTreeMap;

use futures::StreamExt;
use salla_odoo_core::{BodyDigest, MerchantId, Route, route};
use salla_odoo_queue::DedupeKey;
use salla_odoo_tests::*;

async fn ingest(test: &str) -> TestIngest {
    TestIngest::start(test_settings(&unique_namespace(test), &redis_url(), &[])).await
}

#[tokio::test]
async fn every_fixture_is_queued_as_its_kind_or_ignored() {
    let Some(fixtures) = salla_fixtures() else {
        return;
    };
    let ingest = ingest("fixtures").await;
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for (name, body) in &fixtures {
        let event = serde_json::from_slice::<serde_json::Value>(body).unwrap()["event"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, answer) = ingest.post_signed(body).await;
        assert_eq!(status, 200, "{name}: {answer}");
        match route(&event) {
            Route::Job(kind) => {
                assert_eq!(answer["status"], "queued", "{name}: {answer}");
                assert_eq!(answer["kind"], kind.as_str(), "{name}");
                *expected.entry(kind.as_str().to_owned()).or_default() += 1;
            }
            Route::Ignored(reason) => {
                assert_eq!(answer["status"], "ignored", "{name}: {answer}");
                assert_eq!(answer["reason"], reason.as_str(), "{name}");
            }
        }
    }
    let stats = ingest.queue.stats().await.unwrap();
    assert_eq!(stats.by_kind, expected);
    assert_eq!(stats.queued, expected.values().sum::<u64>());
    // The login fixture is a documented event that is acknowledged, not queued.
    assert!(!expected.contains_key("customer.login"));

    // What was queued is the job a worker needs: the order's entity, merchant and data.
    let jobs = ingest.queue.waiting_jobs().await.unwrap();
    let status = jobs
        .iter()
        .map(|j| j.v1())
        .find(|j| j.event == "order.status.updated")
        .unwrap();
    assert_eq!(status.entity.unwrap().id.get(), 629263027);
    assert_eq!(status.merchant, MerchantId::new(193718979));
    assert_eq!(status.attempt, 0);
    assert_eq!(status.data["order"]["status"]["slug"], "completed");
}

#[tokio::test]
async fn a_flipped_byte_is_refused_and_nothing_is_queued() {
    let ingest = ingest("flipped").await;
    let body = sample_order(77, 1001);
    let signature = sign(SECRET, &body);
    for i in [0, body.len() / 2, body.len() - 1] {
        let mut tampered = body.clone();
        tampered[i] ^= 0x20;
        let (status, answer) = ingest
            .post(&tampered, &[("x-salla-signature", &signature)])
            .await;
        assert_eq!(status, 401, "byte {i}");
        assert_eq!(answer["error"], "bad_signature");
    }
    let (status, answer) = ingest.post(&body, &[]).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("missing_signature"))
    );
    let (status, _) = ingest
        .post(&body, &[("x-salla-signature", "not-hex")])
        .await;
    assert_eq!(status, 401);
    // The header claiming "Token" does not let a request skip the signature.
    let (status, _) = ingest
        .post(
            &body,
            &[
                ("x-salla-security-strategy", "Token"),
                ("authorization", SECRET),
            ],
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(ingest.queue.stats().await.unwrap().queued, 0);
}

#[tokio::test]
async fn token_strategy_checks_the_authorization_header() {
    let ns = unique_namespace("token");
    let settings = test_settings(
        &ns,
        &redis_url(),
        &[("SALLA_ODOO__SALLA__SECURITY_STRATEGY", "token")],
    );
    let ingest = TestIngest::start(settings).await;
    let body = sample_order(77, 1002);
    let (status, answer) = ingest
        .post(&body, &[("authorization", "wrong-token")])
        .await;
    assert_eq!((status, answer["error"].as_str()), (401, Some("bad_token")));
    let (status, answer) = ingest.post(&body, &[]).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("missing_token"))
    );
    // A valid signature is no token.
    let (status, _) = ingest
        .post(&body, &[("x-salla-signature", &sign(SECRET, &body))])
        .await;
    assert_eq!(status, 401);
    assert_eq!(ingest.queue.stats().await.unwrap().queued, 0);

    let (status, answer) = ingest
        .post(
            &body,
            &[
                ("authorization", SECRET),
                ("x-salla-security-strategy", "Token"),
            ],
        )
        .await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("queued")));
    assert_eq!(ingest.queue.stats().await.unwrap().queued, 1);
}

#[tokio::test]
async fn a_strategy_header_mismatch_does_not_change_verification() {
    let ingest = ingest("mismatch").await;
    let body = sample_order(77, 1003);
    let (status, answer) = ingest
        .post(
            &body,
            &[
                ("x-salla-signature", &sign(SECRET, &body)),
                ("x-salla-security-strategy", "Token"),
            ],
        )
        .await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("queued")));
}

#[tokio::test]
async fn the_same_delivery_three_times_is_one_job() {
    let ingest = ingest("dedupe").await;
    let body = sample_order(78, 2001);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, answer) = ingest.post_signed(&body).await;
        assert_eq!(status, 200);
        statuses.push(answer["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses, ["queued", "duplicate", "duplicate"]);
    assert_eq!(ingest.queue.stats().await.unwrap().queued, 1);

    // The claim lives for the configured window (48 h by default).
    let key = DedupeKey::new(MerchantId::new(78), "order.created", &BodyDigest::of(&body));
    let ttl = ingest
        .queue
        .dedupe_ttl(&key)
        .await
        .unwrap()
        .expect("claim exists");
    assert!(
        ttl > std::time::Duration::from_secs(47 * 3600)
            && ttl <= std::time::Duration::from_secs(48 * 3600),
        "{ttl:?}"
    );

    // A different body (another order, or the same order from another merchant) is a new job.
    let (_, answer) = ingest.post_signed(&sample_order(78, 2002)).await;
    assert_eq!(answer["status"], "queued");
    let (_, answer) = ingest.post_signed(&sample_order(79, 2001)).await;
    assert_eq!(answer["status"], "queued");
    assert_eq!(ingest.queue.stats().await.unwrap().queued, 3);
}

#[tokio::test]
async fn the_dedupe_window_is_configurable() {
    let ns = unique_namespace("window");
    let settings = test_settings(
        &ns,
        &redis_url(),
        &[("SALLA_ODOO__QUEUE__DEDUPE_WINDOW_SECS", "90")],
    );
    let ingest = TestIngest::start(settings).await;
    let body = sample_order(80, 1);
    ingest.post_signed(&body).await;
    let key = DedupeKey::new(MerchantId::new(80), "order.created", &BodyDigest::of(&body));
    let ttl = ingest.queue.dedupe_ttl(&key).await.unwrap().unwrap();
    assert!(ttl <= std::time::Duration::from_secs(90) && ttl > std::time::Duration::from_secs(80));
}

#[tokio::test]
async fn malformed_bodies_are_400_and_nothing_is_queued() {
    let ingest = ingest("malformed").await;
    let cases: &[(&[u8], &str)] = &[
        (b"{\"event\": \"order.created\", ", "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b"\xff\xfe\xfd", "malformed_json"),
        (
            br#"{"event":"order.created","created_at":"x","data":{}}"#,
            "invalid_envelope",
        ),
        (
            br#"{"merchant":1,"created_at":"x","data":{}}"#,
            "invalid_envelope",
        ),
        (
            br#"{"event":"order.created","merchant":1,"created_at":"x"}"#,
            "invalid_envelope",
        ),
        (
            br#"{"event":"order.created","merchant":"abc","created_at":"x","data":{}}"#,
            "invalid_envelope",
        ),
        (
            br#"{"event":"order.created","merchant":1,"created_at":"x","data":"nope"}"#,
            "invalid_envelope",
        ),
        (b"[]", "invalid_envelope"),
    ];
    for (body, error) in cases {
        let (status, answer) = ingest.post_signed(body).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(answer["error"], *error, "{}", String::from_utf8_lossy(body));
    }
    assert_eq!(ingest.queue.stats().await.unwrap().queued, 0);
}

#[tokio::test]
async fn unknown_events_are_acknowledged_not_queued() {
    let ingest = ingest("unknown").await;
    let body = br#"{"event":"order.teleported","merchant":5,"created_at":"2026-01-01 10:00:00","data":{"id":1}}"#;
    let (status, answer) = ingest.post_signed(body).await;
    assert_eq!(
        (status, answer["status"].as_str(), answer["reason"].as_str()),
        (200, Some("ignored"), Some("unknown_event"))
    );
    assert_eq!(ingest.queue.stats().await.unwrap().queued, 0);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_and_nothing_is_queued() {
    let ingest = ingest("oversized").await;
    let mut body =
        br#"{"event":"order.created","merchant":5,"created_at":"x","data":{"pad":""#.to_vec();
    body.resize(2 * 1024 * 1024, b'a');
    body.extend_from_slice(b"\"}}");
    let (status, answer) = ingest.post_signed(&body).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (413, Some("body_too_large"))
    );

    // Without a Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let resp = ingest
        .client
        .post(ingest.url("/webhooks/salla"))
        .header("x-salla-signature", sign(SECRET, &body))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);

    // Just under the limit is fine (and verified as usual).
    let mut small =
        br#"{"event":"order.created","merchant":5,"created_at":"x","data":{"id":1,"pad":""#
            .to_vec();
    small.resize(1024 * 1024 - 4, b'a');
    small.extend_from_slice(b"\"}}");
    assert!(small.len() <= 1024 * 1024);
    let (status, _) = ingest.post_signed(&small).await;
    assert_eq!(status, 200);
    assert_eq!(ingest.queue.stats().await.unwrap().queued, 1);
}

#[tokio::test]
async fn redis_down_is_503_and_nothing_is_lost_when_it_returns() {
    let mut redis = OwnRedis::start();
    let ns = unique_namespace("outage");
    let ingest = TestIngest::start(test_settings(&ns, &redis.url(), &[])).await;
    let body = sample_order(81, 3001);
    let (status, answer) = ingest.post_signed(&body).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("queued")));

    redis.stop();
    let other = sample_order(81, 3002);
    let resp = ingest
        .client
        .post(ingest.url("/webhooks/salla"))
        .header("x-salla-signature", sign(SECRET, &other))
        .body(other.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let ready = ingest
        .client
        .get(ingest.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);

    // Redis comes back (empty: this one keeps nothing on disk). Salla resends: it is queued once.
    redis.restart();
    let mut answer = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, a) = ingest.post_signed(&other).await;
        answer = a;
        if status == 200 {
            break;
        }
    }
    assert_eq!(answer["status"], "queued", "{answer}");
    let (_, again) = ingest.post_signed(&other).await;
    assert_eq!(again["status"], "duplicate");
    let ready = ingest
        .client
        .get(ingest.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let jobs = ingest.queue.waiting_jobs().await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].v1().entity.unwrap().id.get(), 3002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_distinct_deliveries_are_a_thousand_jobs() {
    let ingest = ingest("thousand").await;
    let bodies: Vec<Vec<u8>> = (0..1000)
        .map(|i| sample_order(100 + i % 10, 10_000 + i))
        .collect();
    let answers: Vec<(u16, serde_json::Value)> = futures::stream::iter(bodies.iter())
        .map(|b| ingest.post_signed(b))
        .buffer_unordered(200)
        .collect()
        .await;
    assert!(
        answers
            .iter()
            .all(|(s, a)| *s == 200 && a["status"] == "queued")
    );
    let stats = ingest.queue.stats().await.unwrap();
    assert_eq!(stats.queued, 1000);
    assert_eq!(stats.by_store.len(), 10);
    assert!(stats.by_store.values().all(|n| *n == 100));
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let ingest = ingest("probes").await;
    let get = |p: &str| ingest.client.get(ingest.url(p)).send();
    assert_eq!(get("/healthz").await.unwrap().status().as_u16(), 200);
    assert_eq!(get("/readyz").await.unwrap().status().as_u16(), 200);
    ingest.post_signed(&sample_order(82, 1)).await;
    ingest.post(b"{}", &[]).await;
    let text = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        text.contains(r#"salla_odoo_webhooks_total{event="order.created",outcome="queued"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"salla_odoo_webhooks_total{event="-",outcome="unauthorized"}"#),
        "{text}"
    );
    assert!(
        text.contains("salla_odoo_ingest_request_duration_seconds_bucket"),
        "{text}"
    );
    // GET on the webhook URL is not an error page Salla could mistake for success.
    assert_eq!(get("/webhooks/salla").await.unwrap().status().as_u16(), 405);
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let ingest = ingest("shutdown").await;
    let addr = ingest.addr;
    ingest.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_delivery_fifty_times_at_once_is_one_job() {
    // Concurrent deliveries are pushed together (group commit): the claims still pick one winner.
    let ingest = ingest("dedupe-burst").await;
    let body = sample_order(83, 4001);
    let answers: Vec<(u16, serde_json::Value)> =
        futures::future::join_all((0..50).map(|_| ingest.post_signed(&body))).await;
    assert!(answers.iter().all(|(s, _)| *s == 200));
    let queued = answers
        .iter()
        .filter(|(_, a)| a["status"] == "queued")
        .count();
    let duplicate = answers
        .iter()
        .filter(|(_, a)| a["status"] == "duplicate")
        .count();
    assert_eq!((queued, duplicate), (1, 49));
    assert_eq!(ingest.queue.stats().await.unwrap().queued, 1);
}
