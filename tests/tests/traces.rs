//! Traces over OTLP: the real `salla-odoo-ingest` and `salla-odoo-worker` processes export to an
//! in-process OTLP/HTTP (JSON) collector, and one webhook is one trace: the ingest's `webhook` span,
//! under it one `job` span per attempt in the worker (the context travels in the job, so the retry
//! is in the same trace), and under each attempt its `odoo.call` spans. Spans carry merchant, event,
//! job kind and outcome, and nothing of the webhook's body.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::{Router, body::Bytes, extract::State, routing::post};
use odoo_sandbox::{FaultKind, Match, Options, Version};
use salla_odoo_tests::*;
use serde_json::Value;

const MERCHANT: u64 = 731;
const ORDER: u64 = 9731;

/// The export requests an in-process collector received (OTLP/HTTP JSON bodies).
type Received = Arc<Mutex<Vec<Value>>>;

/// An OTLP/HTTP collector on 127.0.0.1:0 keeping every `POST /v1/traces` body.
async fn collector() -> (String, Received) {
    async fn traces(State(received): State<Received>, body: Bytes) -> &'static str {
        let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("an OTLP/JSON body ({e}): {:?}", &body[..body.len().min(64)])
        });
        received.lock().unwrap().push(json);
        "{}"
    }
    let received = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_id: String,
    attributes: Vec<(String, String)>,
}

impl Span {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An OTLP `AnyValue` as text (`intValue` is a string in OTLP/JSON already).
fn any_value(v: &Value) -> String {
    for key in ["stringValue", "intValue", "doubleValue", "boolValue"] {
        match v.get(key) {
            Some(Value::String(s)) => return s.clone(),
            Some(other) if !other.is_null() => return other.to_string(),
            _ => {}
        }
    }
    v.to_string()
}

fn attributes(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|kv| {
                    (
                        kv["key"].as_str().unwrap_or_default().to_owned(),
                        any_value(&kv["value"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn spans(received: &Received) -> Vec<Span> {
    let mut out = Vec::new();
    for request in received.lock().unwrap().iter() {
        for rs in request["resourceSpans"].as_array().into_iter().flatten() {
            let resource = attributes(&rs["resource"]["attributes"]);
            let service = resource
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let text = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
                    out.push(Span {
                        service: service.clone(),
                        name: text("name"),
                        trace_id: text("traceId"),
                        span_id: text("spanId"),
                        parent_id: text("parentSpanId"),
                        attributes: attributes(&s["attributes"]),
                    });
                }
            }
        }
    }
    out
}

/// The `salla-odoo-ingest` binary with the fleet's environment (and so its trace settings).
fn start_ingest(fleet: &Fleet, port: u16) -> Proc {
    let mut cmd = Command::new(workspace_bin("salla-odoo-ingest"));
    cmd.args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("FLEET_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    for (k, v) in fleet.env() {
        cmd.env(k, v);
    }
    cmd.env("SALLA_ODOO__SALLA__WEBHOOK_SECRET", SECRET);
    Proc {
        child: cmd.spawn().expect("ingest starts"),
    }
}

#[tokio::test]
async fn one_webhook_is_one_trace_across_the_ingest_and_worker_processes() {
    let (collector_url, received) = collector().await;
    let odoo = odoo_sandbox::spawn(Options {
        version: Version::V18,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut fleet = Fleet::start_with(
        "traces",
        &[
            (
                "SALLA_ODOO__TELEMETRY__OTLP_ENDPOINT",
                collector_url.as_str(),
            ),
            // Export each batch after 100 ms, not the default 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    fleet.add_store(MERCHANT, &odoo.url(), &["--create-unknown-skus"]);
    // The first attempt fails on the order's creation: the retry must join the same trace.
    odoo.faults().inject(
        Match::any().model("sale.order").method("create").times(1),
        FaultKind::Http5xx(503),
    );
    let port = free_port();
    let _ingest = start_ingest(&fleet, port);
    fleet.spawn_worker();

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ingest did not come up"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let body = order_event(
        "order.created",
        MERCHANT,
        ORDER,
        "2026-11-02 10:00:00",
        1,
        "TRACE-SKU-1",
    );
    let answer = client
        .post(format!("{base}/webhooks/salla"))
        .header("content-type", "application/json")
        .header("x-salla-signature", sign(SECRET, &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["status"], "queued", "{answer}");
    fleet.wait_outcomes(1, Duration::from_secs(60)).await;

    // Until the webhook's span, both attempts and their Odoo calls have arrived.
    let started = Instant::now();
    let spans = loop {
        let spans = spans(&received);
        let jobs = spans.iter().filter(|s| s.name == "job").count();
        let applied = spans
            .iter()
            .any(|s| s.name == "job" && s.attr("outcome") == Some("applied"));
        if spans.iter().any(|s| s.name == "webhook") && jobs >= 2 && applied {
            break spans;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the collector has not received the trace: {spans:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let webhook = spans.iter().find(|s| s.name == "webhook").unwrap();
    assert_eq!(webhook.service, "salla-odoo-ingest");
    assert!(
        webhook.parent_id.is_empty(),
        "a webhook starts its trace: {webhook:?}"
    );
    let merchant = MERCHANT.to_string();
    assert_eq!(webhook.attr("merchant"), Some(merchant.as_str()));
    assert_eq!(webhook.attr("event"), Some("order.created"));
    assert_eq!(webhook.attr("job.kind"), Some("order.upsert"));
    assert_eq!(webhook.attr("outcome"), Some("queued"));
    assert_eq!(
        webhook.attr("job.id"),
        answer["job_id"].as_str(),
        "{webhook:?}"
    );

    // Every attempt is a child of the webhook's span, in its trace, in the worker process.
    let mut jobs: Vec<&Span> = spans.iter().filter(|s| s.name == "job").collect();
    jobs.sort_by_key(|s| s.attr("job.attempt").map(str::to_owned));
    assert_eq!(jobs.len(), 2, "{jobs:#?}");
    for job in &jobs {
        assert_eq!(job.service, "salla-odoo-worker");
        assert_eq!(job.trace_id, webhook.trace_id, "{job:?}");
        assert_eq!(job.parent_id, webhook.span_id, "{job:?}");
        assert_eq!(job.attr("merchant"), Some(merchant.as_str()));
        assert_eq!(job.attr("event"), Some("order.created"));
        assert_eq!(job.attr("job.kind"), Some("order.upsert"));
        assert_eq!(job.attr("job.id"), webhook.attr("job.id"));
    }
    assert_eq!(jobs[0].attr("job.attempt"), Some("0"));
    assert_eq!(jobs[0].attr("outcome"), Some("retried"));
    assert_eq!(jobs[1].attr("job.attempt"), Some("1"));
    assert_eq!(jobs[1].attr("outcome"), Some("applied"));

    // Odoo calls hang under the attempt that made them; the refused create is marked.
    let calls: Vec<&Span> = spans.iter().filter(|s| s.name == "odoo.call").collect();
    assert!(!calls.is_empty(), "{spans:#?}");
    for call in &calls {
        assert_eq!(call.trace_id, webhook.trace_id, "{call:?}");
        assert!(
            jobs.iter().any(|j| j.span_id == call.parent_id),
            "an Odoo call outside the job's spans: {call:?}"
        );
        assert!(call.attr("odoo.model").is_some() && call.attr("odoo.method").is_some());
    }
    let failed: Vec<&&Span> = calls
        .iter()
        .filter(|c| c.attr("outcome") == Some("transient"))
        .collect();
    assert_eq!(failed.len(), 1, "{calls:#?}");
    assert_eq!(failed[0].parent_id, jobs[0].span_id);
    assert_eq!(failed[0].attr("odoo.model"), Some("sale.order"));
    assert!(
        calls
            .iter()
            .any(|c| c.parent_id == jobs[1].span_id && c.attr("odoo.model") == Some("sale.order")),
        "{calls:#?}"
    );

    // Nothing of the body: not the customer, not the items.
    let customer_email = format!("noura{}@example.test", ORDER % 7);
    let customer_mobile = (555_000_000 + ORDER % 7).to_string();
    for span in &spans {
        for (key, value) in &span.attributes {
            for needle in [
                customer_email.as_str(),
                customer_mobile.as_str(),
                "Noura",
                "Sample dates box",
                "TRACE-SKU-1",
                SECRET,
            ] {
                assert!(
                    !value.contains(needle),
                    "{} {key}={value:?} contains {needle:?}",
                    span.name
                );
            }
        }
    }
}
