//! The ingest service: verifies Salla webhooks and turns them into jobs in the queue.
//!
//! The queue is Redis in the fleet, or the embedded SQLite queue inside `salla-odoo run`; "Redis"
//! below means whichever it is.
//!
//! It answers 200 only once Redis holds the job (or knows it already holds it), so an acknowledged
//! webhook is never lost; every other answer queues nothing, and Salla resends:
//!
//! | answer | when |
//! |---|---|
//! | 200 `queued` / `duplicate` / `ignored` | the job is in Redis / was already / the event is not synced |
//! | 400 | the verified body is not JSON (`malformed_json`), not an object with `event`, `merchant`, `created_at` and `data` (`invalid_envelope`), or the job's order/customer/product id is missing or not an id (`invalid_payload`) |
//! | 401 | signature or token missing, wrong, or its header repeated (checked before the body is parsed) |
//! | 413 | the body is larger than `ingest.body_limit_bytes` |
//! | 503 | Redis is unreachable or too slow (`Retry-After` set) |
//!
//! It never calls Odoo or Postgres: the request path is verify → parse envelope → one Redis script.
//! It reads of `data` only the entity's id: the rest goes into the job as the text Salla sent
//! ([`RawEnvelope`], checked to be JSON a worker can read, never built as a tree).

pub mod edge;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use metrics_exporter_prometheus::PrometheusHandle;
use salla_odoo_core::{
    BodyDigest, EntityRef, MerchantId, Route, SallaId, Settings, SyncJob, SyncJobV1,
    settings::SecurityStrategy,
};
use salla_odoo_queue::{DedupeKey, Enqueued, Queue};
use salla_odoo_salla::{
    ParseError, RawEnvelope, Strategy, UnverifiedWebhook, WebhookVerifier, lenient,
};
use serde_json::json;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tracing::Instrument;
use uuid::Uuid;

/// Errors that stop the service from starting or serving. All permanent except `Io`.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Config(#[from] salla_odoo_core::CoreError),
    #[error(transparent)]
    Queue(#[from] salla_odoo_queue::QueueError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

impl IngestError {
    pub fn is_transient(&self) -> bool {
        matches!(self, IngestError::Io(_))
    }
}

/// Everything a request needs, shared by all requests.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: WebhookVerifier,
    queue: Queue,
    metrics: PrometheusHandle,
    body_limit: usize,
    request_timeout: Duration,
    edge: salla_odoo_core::settings::IngestSettings,
    /// `/metrics` on the webhook listener (no `ingest.metrics_listen` of its own).
    public_metrics: bool,
}

impl AppState {
    /// The state of the fleet's ingest: the Redis queue of the configuration.
    pub fn new(settings: &Settings) -> Result<Self, IngestError> {
        Self::with_queue(settings, Queue::from_settings(settings)?)
    }

    /// The state for an ingest that enqueues into `queue` (`salla-odoo run` passes its embedded one).
    pub fn with_queue(settings: &Settings, queue: Queue) -> Result<Self, IngestError> {
        let secret = settings.require_webhook_secret()?.clone();
        let strategy = match settings.salla.security_strategy {
            SecurityStrategy::Signature => Strategy::Signature,
            SecurityStrategy::Token => Strategy::Token,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                verifier: WebhookVerifier::new(strategy, secret),
                queue,
                metrics: salla_odoo_core::telemetry::metrics_handle(),
                body_limit: settings.ingest.body_limit_bytes,
                request_timeout: Duration::from_millis(settings.ingest.request_timeout_ms),
                edge: settings.ingest.clone(),
                public_metrics: settings.ingest.metrics_listen.trim().is_empty(),
            }),
        })
    }

    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }
}

/// The HTTP routes.
pub fn app(state: AppState) -> Router {
    // The webhook handler reads the raw body itself and enforces `ingest.body_limit_bytes`.
    let public_metrics = state.inner.public_metrics;
    let router = Router::new()
        .route("/webhooks/salla", post(receive))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz));
    let router = if public_metrics {
        router.route("/metrics", get(metrics))
    } else {
        router
    };
    router.with_state(state)
}

/// The routes of the separate metrics listener (`ingest.metrics_listen`).
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .with_state(state)
}

/// Serve on `listener` until `shutdown` resolves, then give in-flight requests `grace` to finish.
/// Connections are held to the edge's limits (header and keep-alive timeouts, a connection cap:
/// [`edge`]); the open-file limit is raised to its hard limit first.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), IngestError> {
    edge::raise_fd_limit();
    let limits = edge::EdgeLimits::from_settings(&state.inner.edge);
    tracing::debug!(
        max_connections = limits.max_connections,
        header_read_timeout_ms = limits.header_read_timeout.as_millis() as u64,
        keep_alive_timeout_ms = limits.keep_alive_timeout.as_millis() as u64,
        "edge limits"
    );
    let served = edge::serve(listener, app(state), limits, grace, shutdown).await;
    // The last webhooks' spans, before the process exits (a no-op with traces off).
    let _ = tokio::task::spawn_blocking(salla_odoo_core::telemetry::flush).await;
    served?;
    Ok(())
}

/// Build the state from `settings` and serve on `listener` until `shutdown`.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), IngestError> {
    let state = AppState::new(&settings)?;
    if let Err(e) = state.queue().ping().await {
        tracing::warn!(error = %e, "redis is not reachable yet; webhooks are answered 503 until it is");
    }
    tracing::info!(
        addr = %listener.local_addr()?,
        namespace = state.queue().namespace(),
        strategy = state.inner.verifier.strategy().as_str(),
        "ingest listening"
    );
    let metrics_listen = settings.ingest.metrics_listen.trim();
    let _metrics = if metrics_listen.is_empty() {
        None
    } else {
        let addr: std::net::SocketAddr = metrics_listen.parse().map_err(|e| {
            IngestError::Config(salla_odoo_core::CoreError::Config(format!(
                "ingest.metrics_listen {metrics_listen:?}: {e}"
            )))
        })?;
        let listener = TcpListener::bind(addr).await?;
        tracing::info!(addr = %listener.local_addr()?, "ingest metrics listening");
        let app = metrics_app(state.clone());
        Some(AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics server stopped");
            }
        })))
    };
    serve(
        listener,
        state,
        Duration::from_millis(settings.ingest.shutdown_grace_ms),
        shutdown,
    )
    .await
}

/// Aborts the task when dropped (the metrics server ends with the ingest).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.inner.queue.ping().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    queue_gauges(&state).await;
    state.inner.metrics.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        state.inner.metrics.render(),
    )
        .into_response()
}

/// The queue's depth as gauges, read at each scrape (one Redis round trip, no job read): what
/// queue-based autoscaling (KEDA) and the queue alerts use. Every ingest replica reports the same
/// shared queue, so aggregate them with `max`, not `sum`. When the queue does not answer, the
/// gauges keep their last values and `salla_odoo_queue_depth_up` is 0.
async fn queue_gauges(state: &AppState) {
    // A worker silent for longer than this is not counted alive (its heartbeat is 10 s by default).
    const ALIVE_WITHIN: Duration = Duration::from_secs(60);
    match state.inner.queue.depth(ALIVE_WITHIN).await {
        Ok(d) => {
            metrics::gauge!("salla_odoo_queue_depth_up").set(1.0);
            metrics::gauge!("salla_odoo_queue_ready_jobs").set(d.ready as f64);
            metrics::gauge!("salla_odoo_queue_scheduled_jobs").set(d.scheduled as f64);
            metrics::gauge!("salla_odoo_queue_inflight_jobs").set(d.in_flight as f64);
            metrics::gauge!("salla_odoo_queue_oldest_ready_age_seconds")
                .set(d.oldest_ready_age_secs as f64);
            metrics::gauge!("salla_odoo_workers_alive").set(d.workers_alive as f64);
        }
        Err(e) => {
            tracing::warn!(error = %e, "queue depth not readable for the metrics");
            metrics::gauge!("salla_odoo_queue_depth_up").set(0.0);
        }
    }
}

/// The JSON answer to a webhook: `{"status": …}` and, by status, the job or the refusal.
#[derive(serde::Serialize)]
struct Reply {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl Reply {
    fn status(status: &'static str) -> Self {
        Reply {
            status,
            job_id: None,
            kind: None,
            reason: None,
            error: None,
            message: None,
        }
    }
}

/// What happened to one webhook: its answer, and the labels for logs and metrics.
struct Outcome {
    status: StatusCode,
    body: Reply,
    /// `queued`, `duplicate`, `ignored`, `unauthorized`, `bad_request`, `too_large`, `unavailable`.
    outcome: &'static str,
    /// The event for metrics: known names only (unknown ones would be unbounded), else `-`/`unknown`.
    event_label: String,
    merchant: Option<MerchantId>,
    event: Option<String>,
}

impl Outcome {
    fn rejected(
        status: StatusCode,
        outcome: &'static str,
        error: &'static str,
        message: Option<String>,
    ) -> Self {
        Self {
            status,
            body: Reply {
                error: Some(error),
                message,
                ..Reply::status("rejected")
            },
            outcome,
            event_label: "-".into(),
            merchant: None,
            event: None,
        }
    }
}

async fn receive(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    // With traces on (`telemetry.otlp_endpoint`), each webhook starts a trace; its job carries the
    // context on to the workers. Fields: names and outcomes only, never the body's contents.
    let span = tracing::info_span!(
        target: "otel",
        "webhook",
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        merchant = tracing::field::Empty,
        event = tracing::field::Empty,
        job.kind = tracing::field::Empty,
        job.id = tracing::field::Empty,
        outcome = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    // The headers are read where they are: the `HeaderMap` extractor would copy them.
    let (parts, body) = request.into_parts();
    let outcome = match tokio::time::timeout(
        state.inner.request_timeout,
        handle(&state, &parts.headers, body).instrument(span.clone()),
    )
    .await
    {
        Ok(o) => o,
        // The enqueue script is atomic: if it ran after all, Salla's resend is answered `duplicate`.
        Err(_) => Outcome::rejected(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "timeout",
            None,
        ),
    };
    let elapsed = started.elapsed();
    metrics::counter!("salla_odoo_webhooks_total", "event" => outcome.event_label.clone(), "outcome" => outcome.outcome)
        .increment(1);
    metrics::histogram!("salla_odoo_ingest_request_duration_seconds", "outcome" => outcome.outcome)
        .record(elapsed.as_secs_f64());
    let merchant = outcome.merchant.map(|m| m.get());
    let event = outcome.event.as_deref().unwrap_or("-");
    if !span.is_disabled() {
        // The event as in the metrics: known names only (an unknown one is whatever the body says).
        span.record("merchant", merchant);
        span.record("event", outcome.event_label.as_str());
        span.record("outcome", outcome.outcome);
        span.record(
            "http.response.status_code",
            i64::from(outcome.status.as_u16()),
        );
        if outcome.status.is_server_error() {
            span.record("otel.status_code", "error");
        }
        if let Some(id) = outcome.body.job_id {
            span.record("job.id", tracing::field::display(id));
        }
    }
    if outcome.status.is_success() {
        tracing::info!(
            merchant,
            event,
            outcome = outcome.outcome,
            status = outcome.status.as_u16(),
            latency_us = elapsed.as_micros() as u64,
            "webhook"
        );
    } else {
        tracing::warn!(
            merchant,
            event,
            outcome = outcome.outcome,
            status = outcome.status.as_u16(),
            error = outcome.body.error,
            latency_us = elapsed.as_micros() as u64,
            "webhook refused"
        );
    }
    let mut response = (outcome.status, Json(outcome.body)).into_response();
    if outcome.status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

async fn handle(state: &AppState, headers: &HeaderMap, body: Body) -> Outcome {
    let limit = state.inner.body_limit;
    let too_large = || {
        Outcome::rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "body_too_large",
            Some(format!("the body limit is {limit} bytes")),
        )
    };
    // Refuse early on a declared length; count the bytes anyway (the header may be absent or lie).
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let bytes: Bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return too_large(),
        // The client went away or sent a broken chunked body.
        Err(_) => {
            return Outcome::rejected(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "unreadable_body",
                None,
            );
        }
    };

    let verified = match state
        .inner
        .verifier
        .verify(UnverifiedWebhook::new(headers, bytes))
    {
        Ok(v) => v,
        Err(e) => {
            return Outcome::rejected(StatusCode::UNAUTHORIZED, "unauthorized", e.as_str(), None);
        }
    };
    let envelope = match verified.parse_raw() {
        Ok(env) => env,
        Err(e) => {
            return Outcome::rejected(
                StatusCode::BAD_REQUEST,
                "bad_request",
                e.as_str(),
                Some(e.to_string()),
            );
        }
    };
    let merchant = MerchantId::new(envelope.merchant);
    let kind = match salla_odoo_core::route(&envelope.event) {
        Route::Job(kind) => kind,
        Route::Ignored(reason) => {
            let event_label = match reason {
                salla_odoo_core::IgnoreReason::NotSynced => envelope.event.to_string(),
                salla_odoo_core::IgnoreReason::Unknown => "unknown".into(),
            };
            return Outcome {
                status: StatusCode::OK,
                body: Reply {
                    reason: Some(reason.as_str()),
                    ..Reply::status("ignored")
                },
                outcome: "ignored",
                event_label,
                merchant: Some(merchant),
                // An unknown event name is whatever the body says: logged cut short.
                event: Some(shortened(&envelope.event)),
            };
        }
    };

    // A job about an order, customer or product carries its id: that is what the worker locks and
    // syncs. Without a readable one the job could only be dead-lettered (and would run unlocked),
    // so it is refused here, where Salla's log shows the refusal.
    let entity = match kind.entity_location() {
        None => None,
        Some((entity_kind, pointers)) => match entity_id(&envelope, pointers) {
            Ok(id) => Some(EntityRef {
                kind: entity_kind,
                id: SallaId::new(id),
            }),
            Err(message) => {
                let event = envelope.event.into_owned();
                let error = ParseError::InvalidPayload {
                    event: event.clone(),
                    message,
                };
                return Outcome {
                    event_label: event.clone(),
                    merchant: Some(merchant),
                    event: Some(event),
                    ..Outcome::rejected(
                        StatusCode::BAD_REQUEST,
                        "bad_request",
                        error.as_str(),
                        Some(error.to_string()),
                    )
                };
            }
        },
    };
    let digest = BodyDigest::of(verified.body());
    let dedupe = DedupeKey::new(merchant, &envelope.event, &digest);
    // `data` goes into the job as the text Salla sent: ingest never reads more of it than the id.
    let event = envelope.event.into_owned();
    let job = SyncJob::V1(SyncJobV1 {
        id: Uuid::now_v7(),
        kind,
        merchant,
        event,
        entity,
        digest,
        salla_created_at: envelope.created_at.into_owned(),
        received_at: OffsetDateTime::now_utc(),
        attempt: 0,
        data: envelope.data,
        history: Vec::new(),
        // The webhook's span (with traces on): the job's attempts are spans of its trace.
        trace: salla_odoo_core::telemetry::current_trace(),
    });
    let event = &job.v1().event;
    tracing::Span::current().record("job.kind", kind.as_str());
    let (status, body, outcome) = match state.inner.queue.enqueue(&job, &dedupe).await {
        Ok(Enqueued::Queued) => (
            StatusCode::OK,
            Reply {
                job_id: Some(job.v1().id),
                kind: Some(kind.as_str()),
                ..Reply::status("queued")
            },
            "queued",
        ),
        Ok(Enqueued::Duplicate) => (StatusCode::OK, Reply::status("duplicate"), "duplicate"),
        Err(e) => {
            tracing::error!(merchant = merchant.get(), event = %event, error = %e, "enqueue failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Reply {
                    error: Some("queue_unavailable"),
                    ..Reply::status("rejected")
                },
                "unavailable",
            )
        }
    };
    Outcome {
        status,
        body,
        outcome,
        event_label: event.clone(),
        merchant: Some(merchant),
        event: Some(event.clone()),
    }
}

/// The id of the object a job is about: at the first of `pointers` that is present (not absent,
/// `null` or blank), which must then be a non-negative integer below 2^64, as a number or a string.
/// A malformed id is never skipped for the next pointer (`order.status.updated` has the order's id
/// at `/order/id` and a status-history id at `/id`).
fn entity_id(envelope: &RawEnvelope<'_>, pointers: &[&str]) -> Result<u64, String> {
    use serde_json::Value;
    for p in pointers {
        match envelope.data_at(p).as_ref() {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.trim().is_empty() => continue,
            Some(v) => return lenient::id(v).map_err(|e| format!("`data{p}`: {e}")),
        }
    }
    let names: Vec<String> = pointers.iter().map(|p| format!("`data{p}`")).collect();
    Err(format!("no id at {}", names.join(" or ")))
}

/// At most 100 characters of a text from the body, for logs.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
