//! Logging set-up shared by the binaries: JSON lines (or pretty text) on stderr, filtered by
//! `log.filter` unless `RUST_LOG` is set. Log fields are chosen at each call site; payloads, tokens
//! and customer data are never logged.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt};

use crate::settings::{LogFormat, LogSettings};

/// Install the global subscriber. Calling it twice (as tests may) keeps the first one.
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
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
