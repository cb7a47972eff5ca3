//! Logging set-up shared by the binaries: JSON lines (or pretty text) on stderr, filtered by
//! `log.filter` unless `RUST_LOG` is set. Log fields are chosen at each call site; payloads, tokens
//! and customer data are never logged.
//!
//! Traces: with `telemetry.otlp_endpoint` set, the spans of target [`TRACE_TARGET`] are exported
//! over OTLP/HTTP (JSON) by a batch processor on a thread of its own. One trace per webhook: the
//! ingest's `webhook` span, whose context the job carries ([`crate::job::TraceContext`]); each
//! attempt of the job in a worker is a `job` span under it, and each Odoo or Salla API call a span
//! under that. Only spans are exported, never log events, and span fields are ids, names and
//! outcomes: no payload, token or customer data. With the endpoint empty there is no exporter and
//! no thread, and the trace spans are disabled at their call sites (the log output is unchanged).

use std::collections::HashMap;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt};

use crate::job::TraceContext;
use crate::settings::{LogFormat, LogSettings, TelemetrySettings};

/// The `tracing` target of the spans that are exported as traces (and never logged):
/// `tracing::info_span!(target: "otel", "odoo.call", …)`.
pub const TRACE_TARGET: &str = "otel";

/// The tracer provider, once [`init`] has installed one (traces on).
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Install the global subscriber. Calling it twice (as tests may) keeps the first one.
///
/// With `log.telemetry.otlp_endpoint` set (see [`crate::Settings::load`]), the trace spans are also
/// exported; call [`flush`] before the process exits so the last ones are sent.
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // The log sees what it always did: the trace spans are not part of it (and with traces off,
    // no layer wants them, so they are disabled where they are created).
    let filter = filter.add_directive(
        format!("{TRACE_TARGET}=off")
            .parse()
            .expect("a valid directive"),
    );
    let fmt = fmt::layer().with_writer(std::io::stderr);
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![match log.format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => fmt.compact().with_filter(filter).boxed(),
    }];
    let (provider, failed) = match log
        .telemetry
        .enabled()
        .then(|| tracer_provider(&log.telemetry))
    {
        Some(Ok(provider)) => (Some(provider), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    if let Some(provider) = &provider {
        let layer = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("salla-odoo"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            // The trace spans only: no log event (one may quote an error text, which is no trace's
            // business), no other span.
            .with_filter(Targets::new().with_target(TRACE_TARGET, Level::TRACE));
        layers.push(layer.boxed());
    }
    if tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_err()
    {
        // Another subscriber was there first: spans would go nowhere.
        if let Some(provider) = provider {
            let _ = provider.shutdown();
        }
        return;
    }
    if let Some(e) = failed {
        tracing::warn!(error = %e, "traces are not exported");
    }
    if let Some(provider) = provider
        && PROVIDER.set(provider).is_ok()
    {
        tracing::info!(
            sample_ratio = log.telemetry.sample_ratio,
            "exporting traces over OTLP/HTTP"
        );
    }
}

/// The exporter and its batch processor (a thread of its own), as configured.
fn tracer_provider(t: &TelemetrySettings) -> Result<SdkTracerProvider, String> {
    // The HTTP client uses rustls; the binaries that make TLS calls install this provider too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(traces_url(&t.otlp_endpoint))
        .build()
        .map_err(|e| e.to_string())?;
    let sampler = if t.sample_ratio >= 1.0 {
        Sampler::AlwaysOn
    } else {
        Sampler::TraceIdRatioBased(t.sample_ratio)
    };
    let mut resource = opentelemetry_sdk::Resource::builder().with_attribute(
        opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
    );
    let name = t.service_name.trim();
    if !name.is_empty() {
        resource = resource.with_service_name(name.to_owned());
    } else if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(binary_name());
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        // A job's spans follow the decision made for its webhook.
        .with_sampler(Sampler::ParentBased(Box::new(sampler)))
        .with_resource(resource.build())
        .build())
}

/// `endpoint`, with the OTLP/HTTP traces path unless it already has it.
fn traces_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.ends_with("/v1/traces") {
        endpoint.to_owned()
    } else {
        format!("{endpoint}/v1/traces")
    }
}

/// The running binary's name: `salla-odoo-ingest`, `salla-odoo-worker` or `salla-odoo`.
fn binary_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .unwrap_or_else(|| "salla-odoo".into())
}

/// Whether trace spans are exported (this process' [`init`] found an OTLP endpoint).
pub fn tracing_enabled() -> bool {
    PROVIDER.get().is_some()
}

/// Send the spans that wait in the batch processor (blocks until they are sent or the export times
/// out; from async code, run it with `spawn_blocking`). A no-op with traces off.
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

/// The trace context of the current span, to carry in a job: `None` with traces off or outside any
/// trace span.
pub fn current_trace() -> Option<TraceContext> {
    if !tracing_enabled() {
        return None;
    }
    let cx = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    Some(TraceContext {
        traceparent: carrier.remove("traceparent")?,
        tracestate: carrier.remove("tracestate").unwrap_or_default(),
    })
}

/// Make `span` (just created, not entered yet) a child of the span `trace` names, e.g. a job's
/// attempt of the webhook that queued it. Nothing happens with traces off or without a context.
pub fn set_parent(span: &tracing::Span, trace: Option<&TraceContext>) {
    let Some(trace) = trace.filter(|_| tracing_enabled()) else {
        return;
    };
    let mut carrier = HashMap::from([("traceparent".to_owned(), trace.traceparent.clone())]);
    if !trace.tracestate.is_empty() {
        carrier.insert("tracestate".to_owned(), trace.tracestate.clone());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(cx);
}

/// The process-wide Prometheus recorder, installed on first use (tests and the single-process mode
/// start several services in one process; they share it).
///
/// Histogram samples pile up in the recorder until "upkeep" folds them into buckets; a scrape does
/// that, but a process nobody scrapes would grow without bound, so a background thread runs it too.
pub fn metrics_handle() -> PrometheusHandle {
    metrics_handle_labelled(&[])
}

/// [`metrics_handle`], with `labels` on every metric when this call installs the recorder (a worker
/// process labels its metrics with its identity, so several workers on a host stay apart in
/// Prometheus). When the recorder is already installed, `labels` are not applied.
pub fn metrics_handle_labelled(labels: &[(&str, &str)]) -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = labels.iter().fold(PrometheusBuilder::new(), |b, (k, v)| {
                b.add_global_label(*k, *v)
            });
            let handle = builder
                .set_buckets(&[
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0,
                ])
                .expect("buckets are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .expect("spawning a thread");
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }

    #[test]
    fn without_traces_no_context_is_carried_or_taken() {
        assert!(!tracing_enabled());
        assert_eq!(current_trace(), None);
        let span = tracing::info_span!(target: "otel", "job");
        set_parent(
            &span,
            Some(&TraceContext {
                traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
                tracestate: String::new(),
            }),
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn histograms_are_folded_without_a_scrape() {
        let _handle = metrics_handle();
        // The upkeep thread runs whether or not anybody scrapes /metrics. A new thread names itself
        // as it starts, so wait for it a little.
        let thread_names = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .map(|n| n.trim().to_owned())
                .collect()
        };
        let mut names = thread_names();
        for _ in 0..200 {
            if names.iter().any(|n| n == "metrics-upkeep") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            names = thread_names();
        }
        assert!(names.iter().any(|n| n == "metrics-upkeep"), "{names:?}");
    }
}
