use std::time::Duration;

/// Errors of this crate (configuration and job decoding).
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The configuration cannot be used. Permanent: fix the file or the environment.
    #[error("configuration: {0}")]
    Config(String),
    /// A job in the queue cannot be decoded. Permanent: it is dead-lettered, never retried.
    #[error("job cannot be decoded: {0}")]
    Job(#[from] serde_json::Error),
}

impl CoreError {
    /// Nothing in this crate gets better by retrying.
    pub fn is_transient(&self) -> bool {
        false
    }
}

/// The outcome class of a failed sync step: the only thing the worker needs to decide what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Worth retrying later (network, 5xx, 429, Odoo serialization failure, login cooldown).
    #[error("transient: {message}")]
    Transient {
        message: String,
        /// The server asked for at least this delay (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (validation, access, unknown field): dead-letter at once.
    #[error("permanent: {message}")]
    Permanent { message: String },
    /// Not now, through nobody's failure: the store's fleet-wide budget at a remote API is spent
    /// (Salla answered 429, or the plan's requests per minute are used up). The job runs again after
    /// `retry_after` without spending an attempt.
    #[error("throttled: {message}")]
    Throttled {
        message: String,
        retry_after: Duration,
    },
}

impl SyncError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SyncError::Transient { .. })
    }
}
