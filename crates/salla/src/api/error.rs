//! [`ApiError`], the one error of the Merchant API client, and its retry classification
//! ([`ErrorClass`]). The table is in the [module documentation](super).
//!
//! Secrets: no variant holds a token or the client secret. Texts taken from Salla's answers are
//! scrubbed of the request's secrets before they are kept, in case a server echoes a request, and
//! transport errors are kept without their URL.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use time::OffsetDateTime;

use super::ratelimit::RateInfo;

/// What a failure means for the caller's next step. See the [module documentation](super).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Nothing was done (or a read failed): try again later, not before `retry_after` when set.
    Transient {
        /// The wait Salla asked for (`Retry-After`, else `X-RateLimit-Reset` − now).
        retry_after: Option<Duration>,
    },
    /// Salla refused the request; the same request will fail the same way.
    Permanent,
    /// The access token was refused: refresh once (under the merchant's lock), then retry.
    Auth,
    /// The refresh token was refused (`invalid_grant`): the token chain is dead and only a reinstall of
    /// the app gives new tokens. Mark the merchant "needs reinstall" and stop its jobs.
    NeedsReinstall,
    /// A write (or a refresh) was sent and no usable answer came back: Salla may have applied it. Never
    /// retry a refresh; retry a write only if it is idempotent (an `overwrite` quantity, a status set).
    OutcomeUnknown,
}

impl ErrorClass {
    /// True for [`ErrorClass::Transient`].
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorClass::Transient { .. })
    }
}

/// Whether a request changes anything at Salla: decides what a lost answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `GET`: idempotent; a lost answer is transient.
    Read,
    /// `POST`/`PUT` and the token refresh: a lost answer is an unknown outcome.
    Write,
}

/// `error.code`: a slug (`"not_found"`) or, in some answers, a number (`404`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ErrorCode {
    /// A number.
    Number(i64),
    /// A slug.
    Text(String),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Number(n) => write!(f, "{n}"),
            ErrorCode::Text(s) => f.write_str(s),
        }
    }
}

/// The error of every Merchant API and OAuth call.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The client cannot work as configured, or a request cannot be built (bad URL, empty SKU…).
    #[error("Salla API client configuration: {detail}")]
    Config {
        /// What is wrong.
        detail: String,
    },
    /// The connection could not be made (refused, DNS, TLS, connect timeout): nothing reached Salla.
    #[error("cannot connect to Salla for {endpoint}: {detail}")]
    Connect {
        /// e.g. `GET /orders/123`.
        endpoint: String,
        /// The innermost cause, e.g. "Connection refused (os error 111)".
        detail: String,
        /// The underlying error (URL removed).
        #[source]
        source: reqwest::Error,
    },
    /// The request was sent and no complete answer came back (timeout, connection closed or reset,
    /// body cut off).
    #[error("no answer from Salla to {endpoint} after the request was sent: {detail}")]
    NoAnswer {
        /// e.g. `POST /orders/123/status`.
        endpoint: String,
        /// A read (transient) or a write (outcome unknown).
        kind: RequestKind,
        /// What was observed.
        detail: String,
        /// The underlying error (URL removed).
        #[source]
        source: Option<reqwest::Error>,
    },
    /// HTTP 401 other than a missing scope: "The access token is invalid" (expired, uninstalled app,
    /// bad value), or the user does not exist or is inactive.
    #[error("Salla refused the access token for {endpoint}: {message}")]
    Unauthorized {
        /// e.g. `GET /orders/123`.
        endpoint: String,
        /// Salla's message.
        message: String,
        /// The answer's rate-limit headers.
        rate: Box<RateInfo>,
    },
    /// The token lacks a scope the endpoint needs ("The access token should have access to one of
    /// those scopes: …"). The merchant must grant it (app update / reinstall); refreshing does not help.
    #[error("missing scope: {scopes} (needed for {endpoint})")]
    MissingScope {
        /// e.g. `GET /shipments`.
        endpoint: String,
        /// The scopes Salla named, as written.
        scopes: String,
        /// Salla's whole message.
        message: String,
        /// The answer's rate-limit headers.
        rate: Box<RateInfo>,
    },
    /// Any other error status (Admin API envelope, OAuth error other than `invalid_grant`, or a proxy's
    /// HTML/empty page).
    #[error("Salla answered HTTP {status}{} to {endpoint}: {message}{}", code_suffix(.code), fields_suffix(.fields))]
    Status {
        /// e.g. `GET /orders/123`.
        endpoint: String,
        /// A read or a write.
        kind: RequestKind,
        /// The HTTP status (or the envelope's `status` when a 2xx said `success: false`).
        status: u16,
        /// `error.code` (or the OAuth `error`), when there was one.
        code: Option<ErrorCode>,
        /// `error.message`, or a description of a non-JSON body.
        message: String,
        /// `error.fields` on validation errors: field → messages.
        fields: BTreeMap<String, Vec<String>>,
        /// The answer's rate-limit headers (`Retry-After` among them).
        rate: Box<RateInfo>,
    },
    /// The token endpoint refused the refresh token with `invalid_grant` (reused, expired, revoked):
    /// the merchant must reinstall the app.
    #[error("Salla refused the refresh token (invalid_grant, HTTP {status}): the app must be reinstalled{}", description_suffix(.description))]
    InvalidGrant {
        /// 400 or 401.
        status: u16,
        /// `error_description`.
        description: Option<String>,
    },
    /// A 2xx answer that is not what the endpoint promises (not the envelope, `data` of another shape).
    #[error("unexpected answer from Salla to {endpoint} (HTTP {status}): {detail}")]
    Decode {
        /// e.g. `GET /orders/123`.
        endpoint: String,
        /// A read (permanent) or a write/refresh (outcome unknown: it was applied).
        kind: RequestKind,
        /// The HTTP status.
        status: u16,
        /// What was wrong (never the body itself).
        detail: String,
    },
    /// The answer was larger than `ApiConfig::max_answer_bytes`; the rest was not read.
    #[error("Salla's answer to {endpoint} is larger than {limit} bytes: not read")]
    AnswerTooLarge {
        /// e.g. `GET /products`.
        endpoint: String,
        /// A read (permanent) or a write (outcome unknown).
        kind: RequestKind,
        /// The limit in bytes.
        limit: usize,
    },
}

fn code_suffix(code: &Option<ErrorCode>) -> String {
    code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
}

fn fields_suffix(fields: &BTreeMap<String, Vec<String>>) -> String {
    if fields.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.join(" / ")))
        .collect();
    format!(" [{}]", parts.join("; "))
}

fn description_suffix(d: &Option<String>) -> String {
    d.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
}

/// The class of an error status (see the module table).
pub(crate) fn status_class(
    kind: RequestKind,
    status: u16,
    retry_after: Option<Duration>,
) -> ErrorClass {
    match status {
        408 | 429 | 503 => ErrorClass::Transient { retry_after },
        500..=599 => match kind {
            RequestKind::Read => ErrorClass::Transient { retry_after },
            // The request reached a server (or a gateway that may have passed it on).
            RequestKind::Write => ErrorClass::OutcomeUnknown,
        },
        _ => ErrorClass::Permanent,
    }
}

impl ApiError {
    /// What the caller should do next. See the [module documentation](super).
    pub fn class(&self) -> ErrorClass {
        match self {
            ApiError::Config { .. } | ApiError::MissingScope { .. } => ErrorClass::Permanent,
            ApiError::Connect { .. } => ErrorClass::Transient { retry_after: None },
            ApiError::NoAnswer { kind, .. }
            | ApiError::Decode { kind, .. }
            | ApiError::AnswerTooLarge { kind, .. } => match (self, kind) {
                (ApiError::NoAnswer { .. }, RequestKind::Read) => {
                    ErrorClass::Transient { retry_after: None }
                }
                (_, RequestKind::Read) => ErrorClass::Permanent,
                (_, RequestKind::Write) => ErrorClass::OutcomeUnknown,
            },
            ApiError::Unauthorized { .. } => ErrorClass::Auth,
            ApiError::Status { kind, status, .. } => {
                status_class(*kind, *status, self.retry_after())
            }
            ApiError::InvalidGrant { .. } => ErrorClass::NeedsReinstall,
        }
    }

    /// The wait Salla asked for, whatever the class: `Retry-After`, else on a 429 the time until
    /// `X-RateLimit-Reset`.
    pub fn retry_after(&self) -> Option<Duration> {
        let rate = self.rate()?;
        rate.retry_after.or_else(|| match self {
            ApiError::Status { status: 429, .. } => rate.until_reset(OffsetDateTime::now_utc()),
            _ => None,
        })
    }

    /// The HTTP status, when Salla (or a proxy) answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { .. } | ApiError::MissingScope { .. } => Some(401),
            ApiError::Status { status, .. }
            | ApiError::InvalidGrant { status, .. }
            | ApiError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The rate-limit headers of the answer, when there was one with an error status.
    pub fn rate(&self) -> Option<&RateInfo> {
        match self {
            ApiError::Unauthorized { rate, .. }
            | ApiError::MissingScope { rate, .. }
            | ApiError::Status { rate, .. } => Some(rate),
            _ => None,
        }
    }

    /// True for HTTP 404 (the order, product, customer… does not exist, or was deleted).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Status { status: 404, .. })
    }

    /// True when a write may have been applied although no usable answer came back.
    pub fn is_outcome_unknown(&self) -> bool {
        self.class() == ErrorClass::OutcomeUnknown
    }

    /// `error.fields` of a validation error (empty otherwise).
    pub fn fields(&self) -> Option<&BTreeMap<String, Vec<String>>> {
        match self {
            ApiError::Status { fields, .. } if !fields.is_empty() => Some(fields),
            _ => None,
        }
    }

    pub(crate) fn config(detail: impl Into<String>) -> Self {
        ApiError::Config {
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(kind: RequestKind, status: u16) -> ApiError {
        ApiError::Status {
            endpoint: "GET /x".into(),
            kind,
            status,
            code: None,
            message: String::new(),
            fields: BTreeMap::new(),
            rate: Box::default(),
        }
    }

    #[test]
    fn status_table() {
        use RequestKind::{Read, Write};
        let t = ErrorClass::Transient { retry_after: None };
        for (kind, code, want) in [
            (Read, 400, ErrorClass::Permanent),
            (Read, 403, ErrorClass::Permanent),
            (Read, 404, ErrorClass::Permanent),
            (Read, 422, ErrorClass::Permanent),
            (Read, 429, t),
            (Write, 429, t),
            (Read, 500, t),
            (Read, 502, t),
            (Write, 502, ErrorClass::OutcomeUnknown),
            (Write, 500, ErrorClass::OutcomeUnknown),
            (Write, 503, t),
        ] {
            assert_eq!(status(kind, code).class(), want, "{kind:?} {code}");
        }
        assert!(status(Read, 404).is_not_found());
    }

    #[test]
    fn lost_answers_depend_on_the_method() {
        let lost = |kind| ApiError::NoAnswer {
            endpoint: "x".into(),
            kind,
            detail: "timeout".into(),
            source: None,
        };
        assert!(lost(RequestKind::Read).class().is_transient());
        assert_eq!(lost(RequestKind::Write).class(), ErrorClass::OutcomeUnknown);
        let bad = ApiError::Decode {
            endpoint: "x".into(),
            kind: RequestKind::Read,
            status: 200,
            detail: "x".into(),
        };
        assert_eq!(bad.class(), ErrorClass::Permanent);
    }
}
