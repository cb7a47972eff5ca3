//! The one error type of the crate and its retry classification.
//!
//! Every failure answers one question for the caller's retry logic, through [`Error::class`]:
//!
//! | [`ErrorClass`] | meaning | what the caller does |
//! |---|---|---|
//! | `Transient { retry_after }` | nothing was done, or it was rolled back, and trying again later can succeed | retry with back-off, at least `retry_after` |
//! | `Permanent` | Odoo answered and refused (data, state, rights, configuration, version mismatch) | do not retry blindly; record `name` and `message` |
//! | `OutcomeUnknown` | the request left this process and no complete answer came back; Odoo may have committed | look the record up by its external key before creating it again, then retry |
//!
//! The table follows `docs/odoo-api.md` §8. Odoo's own errors are matched on `error.data.name` (JSON-RPC) or the
//! body's `name` (JSON-2), never on `error.code`, and only a few messages are inspected where §8 says so (login
//! cooldown, missing database).
//!
//! Secrets: the API key or password is never stored in an error. Texts taken from server answers are passed
//! through [`crate::transport`]'s redaction before they are kept, in case a server echoes a request.

use std::time::Duration;

use thiserror::Error;

/// The minimum wait after Odoo's login cooldown ("Too many login failures"): `base.login_cooldown_duration`
/// defaults to 60 s.
pub const LOGIN_COOLDOWN: Duration = Duration::from_secs(60);

/// How a failure should be retried. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Nothing happened (or it was rolled back); try again, not before `retry_after` when it is set.
    Transient {
        /// The server's requested wait (`Retry-After`) or a known minimum (login cooldown).
        retry_after: Option<Duration>,
    },
    /// Odoo refused the call; trying the same call again will fail the same way.
    Permanent,
    /// The request was sent and no answer came back; the work may or may not have been committed.
    OutcomeUnknown,
}

impl ErrorClass {
    /// True for the classes a retry loop may try again (transient and outcome unknown, the latter after a
    /// look-up).
    pub fn is_retryable(self) -> bool {
        !matches!(self, ErrorClass::Permanent)
    }
}

/// What kind of Odoo-side failure a [`Fault`] is, derived from its `name` (and for a few names its message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// `odoo.exceptions.AccessDenied` (bad password or key, key/uid mismatch) or JSON-2 401.
    AccessDenied,
    /// `odoo.exceptions.AccessDenied` "Too many login failures, please wait a bit before trying again."
    LoginCooldown,
    /// `odoo.exceptions.AccessError`: missing group, record rule, or a private method.
    AccessError,
    /// `odoo.exceptions.ValidationError` (also integrity errors turned into it).
    Validation,
    /// `odoo.exceptions.UserError` / `RedirectWarning` (data or state: "must be in draft" means done already).
    User,
    /// `odoo.exceptions.UserError` "Object x doesn't exist": the module providing the model is not installed.
    UnknownModel,
    /// `odoo.exceptions.MissingError`: the record does not exist or was deleted.
    Missing,
    /// `builtins.ValueError`: unknown field ("Invalid field …") or wrong selection value ("Wrong value for …").
    InvalidValue,
    /// `builtins.AttributeError`: unknown method; or JSON-2 404.
    UnknownMethod,
    /// `builtins.KeyError`: unknown service.
    UnknownService,
    /// `builtins.TypeError`: wrong arguments for the method (JSON-2 422 for parameters).
    BadArguments,
    /// `psycopg2.OperationalError` whose message says the database does not exist.
    DatabaseMissing,
    /// `psycopg2.OperationalError` otherwise: the database is unreachable.
    DatabaseUnavailable,
    /// Serialization failure, deadlock or lock not available: Odoo already retried it 5 times.
    Concurrency,
    /// Any other exception name.
    Other,
}

/// An exception raised inside Odoo, as reported in the error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `error.data.name` (JSON-RPC) or `name` (JSON-2), e.g. `odoo.exceptions.UserError`.
    pub name: String,
    /// `error.data.message` (JSON-RPC) or `message` (JSON-2): the user-facing text. Not for end users
    /// unfiltered: it may name database hosts (§16.3).
    pub message: String,
    /// JSON-RPC `error.code` (200 up to 18.0, 0 from 18.1/19); informational only.
    pub code: Option<i64>,
    /// The HTTP status of the answer (200 for every JSON-RPC error; a real status on JSON-2).
    pub http_status: u16,
}

impl Fault {
    /// The kind of failure, by `name` and, for a few names, the message (docs/odoo-api.md §8).
    pub fn kind(&self) -> FaultKind {
        let name = self.name.as_str();
        let msg = self.message.as_str();
        let lower = msg.to_ascii_lowercase();
        if name.contains("SerializationFailure")
            || name.contains("DeadlockDetected")
            || name.contains("LockNotAvailable")
            || name.contains("TransactionRollbackError")
            || lower.contains("could not serialize access")
            || lower.contains("deadlock detected")
            || lower.contains("could not obtain lock")
        {
            return FaultKind::Concurrency;
        }
        match name {
            "odoo.exceptions.AccessDenied" if lower.contains("too many login failures") => {
                FaultKind::LoginCooldown
            }
            "odoo.exceptions.AccessDenied" | "werkzeug.exceptions.Unauthorized" => {
                FaultKind::AccessDenied
            }
            "odoo.exceptions.AccessError" => FaultKind::AccessError,
            "odoo.exceptions.ValidationError" => FaultKind::Validation,
            "odoo.exceptions.UserError" if is_unknown_model_message(msg) => FaultKind::UnknownModel,
            "odoo.exceptions.UserError" | "odoo.exceptions.RedirectWarning" => FaultKind::User,
            "odoo.exceptions.MissingError" => FaultKind::Missing,
            "builtins.ValueError" => FaultKind::InvalidValue,
            "builtins.AttributeError" => FaultKind::UnknownMethod,
            "builtins.KeyError" => FaultKind::UnknownService,
            "builtins.TypeError" => FaultKind::BadArguments,
            "psycopg2.OperationalError" | "psycopg2.InterfaceError" => {
                if lower.contains("does not exist") {
                    FaultKind::DatabaseMissing
                } else {
                    FaultKind::DatabaseUnavailable
                }
            }
            _ if self.http_status == 401 => FaultKind::AccessDenied,
            "werkzeug.exceptions.NotFound" => FaultKind::UnknownMethod,
            _ => FaultKind::Other,
        }
    }

    /// The retry class of this fault (docs/odoo-api.md §8).
    pub fn class(&self) -> ErrorClass {
        match self.kind() {
            FaultKind::Concurrency | FaultKind::DatabaseUnavailable => {
                ErrorClass::Transient { retry_after: None }
            }
            FaultKind::LoginCooldown => ErrorClass::Transient {
                retry_after: Some(LOGIN_COOLDOWN),
            },
            FaultKind::Other => match self.http_status {
                // A JSON-2 error body with a gateway status: same as the bare status.
                502 | 504 => ErrorClass::OutcomeUnknown,
                429 | 503 => ErrorClass::Transient { retry_after: None },
                _ => ErrorClass::Permanent,
            },
            _ => ErrorClass::Permanent,
        }
    }
}

/// "Object no.such.model doesn't exist" (observed, 18.0).
fn is_unknown_model_message(msg: &str) -> bool {
    msg.starts_with("Object ") && msg.ends_with(" doesn't exist")
}

/// The error of every operation of this crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection could not be made; nothing reached Odoo.
    #[error("cannot connect to Odoo: {detail}")]
    Connect {
        /// The innermost cause, e.g. "Connection refused (os error 111)".
        detail: String,
        /// The underlying error (URL removed).
        #[source]
        source: reqwest::Error,
    },
    /// The request was sent and no complete answer came back (reset, closed, timeout, truncated body).
    #[error("no answer from Odoo after the request was sent ({detail}): the outcome is unknown")]
    NoAnswer {
        /// What was observed, e.g. "timeout" or "connection closed".
        detail: String,
        /// The underlying error, if any.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// An HTTP status that is not an Odoo error envelope (429, 502, 503, 504, 400 "Invalid JSON data", …).
    #[error("Odoo answered HTTP {status}{}", body_suffix(.body))]
    Http {
        /// The status code.
        status: u16,
        /// `Retry-After`, parsed (seconds or HTTP date).
        retry_after: Option<Duration>,
        /// The start of the body (at most 200 characters, redacted).
        body: String,
    },
    /// Odoo raised an exception.
    #[error("Odoo error {}: {}", .0.name, .0.message)]
    Odoo(Fault),
    /// `common.authenticate` answered `false`: wrong login, password or API key.
    #[error("Odoo authentication failed for login {login:?} on database {db:?}")]
    AuthenticationFailed {
        /// The login that was refused.
        login: String,
        /// The database.
        db: String,
    },
    /// A record a recipe works on does not exist (or is not visible to the API user).
    #[error("{model} record {id} does not exist")]
    NotFound {
        /// The model.
        model: String,
        /// The id that was looked up.
        id: i64,
    },
    /// The answer arrived but is not what the protocol or the method promises.
    #[error("unexpected answer from Odoo: {detail}")]
    Protocol {
        /// What was wrong (never the whole body).
        detail: String,
    },
    /// The answer was larger than the client reads (`Config::max_answer_bytes`); the rest was not
    /// read. The call itself ran: a read asked for too much (asking again gets the same answer).
    #[error("Odoo's answer is larger than {limit} bytes: not read")]
    AnswerTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A business step did not reach the state it should have (e.g. a wizard was returned instead).
    #[error("Odoo workflow: {detail}")]
    Workflow {
        /// What happened.
        detail: String,
    },
    /// The configuration cannot work (bad URL, transport not offered by the server, …).
    #[error("Odoo client configuration: {detail}")]
    Config {
        /// What is wrong.
        detail: String,
    },
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl Error {
    /// How to retry this failure (docs/odoo-api.md §8).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Connect { .. } => ErrorClass::Transient { retry_after: None },
            Error::NoAnswer { .. } => ErrorClass::OutcomeUnknown,
            Error::Http {
                status,
                retry_after,
                ..
            } => match status {
                429 | 503 => ErrorClass::Transient {
                    retry_after: *retry_after,
                },
                // A gateway answered: Odoo behind it may have committed (§7).
                502 | 504 => ErrorClass::OutcomeUnknown,
                // Any other 5xx without an Odoo envelope: the server failed somewhere unknown.
                500..=599 => ErrorClass::OutcomeUnknown,
                _ => ErrorClass::Permanent,
            },
            Error::Odoo(fault) => fault.class(),
            Error::AuthenticationFailed { .. } => ErrorClass::Permanent,
            // The call completed on the server but its answer cannot be used (e.g. a create whose id cannot be
            // read): treat it like a lost answer so that creates are looked up, not repeated.
            Error::Protocol { .. } => ErrorClass::OutcomeUnknown,
            Error::NotFound { .. }
            | Error::AnswerTooLarge { .. }
            | Error::Workflow { .. }
            | Error::Config { .. } => ErrorClass::Permanent,
        }
    }

    /// The wait the server asked for (or a known minimum), whatever the class.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Http { retry_after, .. } => *retry_after,
            other => match other.class() {
                ErrorClass::Transient { retry_after } => retry_after,
                _ => None,
            },
        }
    }

    /// The Odoo exception, when Odoo raised one.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Error::Odoo(f) => Some(f),
            _ => None,
        }
    }

    /// Odoo refused the call for naming a field its model does not have (`ValueError: Invalid
    /// field 'x' on model 'y'`, or `Invalid field y.x in leaf …` in a domain): the field names the
    /// caller took from the capabilities may be out of date (a module uninstalled, an upgrade).
    pub fn is_invalid_field(&self) -> bool {
        self.fault().is_some_and(|f| {
            f.kind() == FaultKind::InvalidValue && f.message.contains("Invalid field")
        })
    }

    /// The kind of Odoo exception, when Odoo raised one; `AccessDenied` also for a refused `authenticate`.
    pub fn fault_kind(&self) -> Option<FaultKind> {
        match self {
            Error::Odoo(f) => Some(f.kind()),
            Error::AuthenticationFailed { .. } => Some(FaultKind::AccessDenied),
            Error::NotFound { .. } => Some(FaultKind::Missing),
            _ => None,
        }
    }

    /// True when the request may have been applied although no usable answer came back.
    pub fn is_outcome_unknown(&self) -> bool {
        self.class() == ErrorClass::OutcomeUnknown
    }

    pub(crate) fn protocol(detail: impl Into<String>) -> Self {
        Error::Protocol {
            detail: detail.into(),
        }
    }

    pub(crate) fn workflow(detail: impl Into<String>) -> Self {
        Error::Workflow {
            detail: detail.into(),
        }
    }

    pub(crate) fn config(detail: impl Into<String>) -> Self {
        Error::Config {
            detail: detail.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(name: &str, message: &str) -> Fault {
        Fault {
            name: name.into(),
            message: message.into(),
            code: Some(200),
            http_status: 200,
        }
    }

    fn class_of(name: &str, message: &str) -> ErrorClass {
        Error::Odoo(fault(name, message)).class()
    }

    const T: ErrorClass = ErrorClass::Transient { retry_after: None };
    const P: ErrorClass = ErrorClass::Permanent;

    // One test per row of docs/odoo-api.md §8 (rows that concern the HTTP layer are in transport.rs, where
    // real reqwest errors are produced).

    #[test]
    fn row_429_is_transient_with_retry_after() {
        let e = Error::Http {
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
            body: String::new(),
        };
        assert_eq!(
            e.class(),
            ErrorClass::Transient {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn row_gateway_statuses() {
        for (status, want) in [
            (503, ErrorClass::Transient { retry_after: None }),
            (502, ErrorClass::OutcomeUnknown),
            (504, ErrorClass::OutcomeUnknown),
        ] {
            let e = Error::Http {
                status,
                retry_after: None,
                body: String::new(),
            };
            assert_eq!(e.class(), want, "status {status}");
            assert!(e.class().is_retryable());
        }
        let bad_json = Error::Http {
            status: 400,
            retry_after: None,
            body: "Invalid JSON data".into(),
        };
        assert_eq!(bad_json.class(), P);
    }

    #[test]
    fn row_concurrency_failures_are_transient() {
        assert_eq!(class_of("psycopg2.errors.SerializationFailure", "x"), T);
        assert_eq!(class_of("psycopg2.errors.DeadlockDetected", "x"), T);
        assert_eq!(class_of("psycopg2.errors.LockNotAvailable", "x"), T);
        assert_eq!(
            class_of(
                "psycopg2.extensions.TransactionRollbackError",
                "could not serialize access due to concurrent update"
            ),
            T
        );
        assert_eq!(
            class_of("builtins.Exception", "deadlock detected\nDETAIL: …"),
            T
        );
        assert_eq!(
            fault("psycopg2.errors.SerializationFailure", "x").kind(),
            FaultKind::Concurrency
        );
    }

    #[test]
    fn row_operational_error_depends_on_message() {
        assert_eq!(
            class_of(
                "psycopg2.OperationalError",
                "connection to server at \"db\", port 5432 failed: FATAL:  database \"x\" does not exist\n"
            ),
            P
        );
        assert_eq!(
            class_of(
                "psycopg2.OperationalError",
                "connection to server at \"db\", port 5432 failed: Connection refused"
            ),
            T
        );
    }

    #[test]
    fn row_login_cooldown_waits_at_least_a_minute() {
        let c = class_of(
            "odoo.exceptions.AccessDenied",
            "Too many login failures, please wait a bit before trying again.",
        );
        assert_eq!(
            c,
            ErrorClass::Transient {
                retry_after: Some(LOGIN_COOLDOWN)
            }
        );
    }

    #[test]
    fn row_access_denied_and_json2_401_are_permanent() {
        assert_eq!(class_of("odoo.exceptions.AccessDenied", "Access Denied"), P);
        let unauthorized = Fault {
            name: "werkzeug.exceptions.Unauthorized".into(),
            message: "Invalid apikey".into(),
            code: None,
            http_status: 401,
        };
        assert_eq!(unauthorized.kind(), FaultKind::AccessDenied);
        assert_eq!(unauthorized.class(), P);
        let auth = Error::AuthenticationFailed {
            login: "admin".into(),
            db: "odoo".into(),
        };
        assert_eq!(auth.class(), P);
        assert_eq!(auth.fault_kind(), Some(FaultKind::AccessDenied));
    }

    #[test]
    fn row_access_error_is_permanent() {
        assert_eq!(
            class_of(
                "odoo.exceptions.AccessError",
                "You are not allowed to access it."
            ),
            P
        );
    }

    #[test]
    fn row_validation_user_redirect_and_json2_422_are_permanent() {
        assert_eq!(class_of("odoo.exceptions.ValidationError", "x"), P);
        assert_eq!(class_of("odoo.exceptions.UserError", "must be in draft"), P);
        assert_eq!(class_of("odoo.exceptions.RedirectWarning", "x"), P);
        let unprocessable = Fault {
            name: "odoo.exceptions.UserError".into(),
            message: "x".into(),
            code: None,
            http_status: 422,
        };
        assert_eq!(unprocessable.class(), P);
        let unnamed_422 = Fault {
            name: String::new(),
            message: String::new(),
            code: None,
            http_status: 422,
        };
        assert_eq!(unnamed_422.class(), P);
    }

    #[test]
    fn row_missing_error_is_permanent() {
        let f = fault("odoo.exceptions.MissingError", "Record does not exist");
        assert_eq!(f.kind(), FaultKind::Missing);
        assert_eq!(f.class(), P);
    }

    #[test]
    fn row_version_mismatch_errors_are_permanent() {
        for (name, kind) in [
            ("builtins.ValueError", FaultKind::InvalidValue),
            ("builtins.AttributeError", FaultKind::UnknownMethod),
            ("builtins.KeyError", FaultKind::UnknownService),
            ("builtins.TypeError", FaultKind::BadArguments),
        ] {
            let f = fault(name, "whatever");
            assert_eq!(f.kind(), kind, "{name}");
            assert_eq!(f.class(), P, "{name}");
        }
        let not_found = Fault {
            name: "werkzeug.exceptions.NotFound".into(),
            message: "404".into(),
            code: None,
            http_status: 404,
        };
        assert_eq!(not_found.class(), P);
    }

    #[test]
    fn row_unknown_model_is_permanent() {
        let f = fault("odoo.exceptions.UserError", "Object x.y doesn't exist");
        assert_eq!(f.kind(), FaultKind::UnknownModel);
        assert_eq!(f.class(), P);
    }

    #[test]
    fn row_lost_answer_is_outcome_unknown() {
        // XML-RPC's "cannot marshal None" is the same situation: work done, answer unusable. This crate never
        // speaks XML-RPC; its equivalent is an answer that cannot be decoded.
        let e = Error::protocol("result is not an id");
        assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
        let e = Error::NoAnswer {
            detail: "connection closed".into(),
            source: None,
        };
        assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
        assert!(e.is_outcome_unknown());
    }

    #[test]
    fn unknown_exception_names_are_permanent() {
        assert_eq!(class_of("odoo.addons.foo.SomethingElse", "x"), P);
    }
}
