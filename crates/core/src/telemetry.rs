//! Logging set-up shared by the binaries: JSON lines (or pretty text) on stderr, filtered by
//! `log.filter` unless `RUST_LOG` is set. Log fields are chosen at each call site; payloads, tokens
//! and customer data are never logged.

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
