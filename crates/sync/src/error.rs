//! Error plumbing inside one job: every failure becomes a [`SyncError`], transient or permanent.
//! Odoo's refusal to post a chatter message as a user without an email address is permanent and
//! says what to fix ([`SENDER_EMAIL_FIX`]).

use salla_odoo_core::SyncError;

/// `odoo::Error` → [`SyncError`] (docs/odoo-api.md §8):
/// - transient (network before sending, 429/503, serialization failure, login cooldown) stays transient, with
///   the server's `Retry-After`;
/// - permanent (validation, access, unknown field, a workflow that did not reach its state) becomes permanent,
///   carrying Odoo's message;
/// - outcome unknown (timeout, dropped connection, 502/504) becomes transient: the retry looks the record up
///   by its deterministic marker before creating it again, which every handler of this crate does.
pub fn classify_odoo(err: &odoo::Error) -> SyncError {
    if is_sender_email_error(err) {
        return SyncError::Permanent {
            message: format!("{err} — {SENDER_EMAIL_FIX}"),
        };
    }
    match err.class() {
        odoo::ErrorClass::Transient { retry_after } => SyncError::Transient {
            message: err.to_string(),
            retry_after,
        },
        odoo::ErrorClass::OutcomeUnknown => SyncError::Transient {
            message: format!("{err} (the retry looks the record up before creating it)"),
            retry_after: None,
        },
        odoo::ErrorClass::Permanent => SyncError::Permanent {
            message: err.to_string(),
        },
    }
}

/// What Odoo says when it must post a chatter message in the name of a user without an email
/// address (`mail.thread._message_compute_author`): "Unable to send message, please configure the
/// sender's email address." It rolls the whole call back.
pub const SENDER_EMAIL_ERROR: &str = "configure the sender's email address";

/// What to do about [`SENDER_EMAIL_ERROR`], in the dead letter.
pub const SENDER_EMAIL_FIX: &str = "the Odoo user the connector logs in as has no email address, \
     and Odoo refuses every call that posts a chatter message in its name (the payment of an \
     invoice from a sale order, the refund payment of its credit note, a return picking) and \
     rolls it back. Give that user an email address in Odoo (Settings > Users & Companies > \
     Users > the connector's user > Email; `salla-odoo doctor` checks it), then replay this \
     dead letter";

/// Whether Odoo refused a call because the calling user has no email address (permanent: it
/// fails the same way until someone gives the user one; never retried in a loop).
pub fn is_sender_email_error(err: &odoo::Error) -> bool {
    err.to_string().contains(SENDER_EMAIL_ERROR)
}

/// A store (Postgres) failure: transient when the database is unreachable or busy, else permanent.
pub fn classify_store(err: &salla_odoo_store::StoreError) -> SyncError {
    if err.is_transient() {
        SyncError::Transient {
            message: format!("store: {err}"),
            retry_after: None,
        }
    } else {
        SyncError::Permanent {
            message: format!("store: {err}"),
        }
    }
}

/// The error of every step inside a handler, so that `?` works on Odoo, store and sync errors alike.
#[derive(Debug)]
pub(crate) struct Fail(pub SyncError);

impl From<odoo::Error> for Fail {
    fn from(e: odoo::Error) -> Self {
        Fail(classify_odoo(&e))
    }
}

impl From<salla_odoo_store::StoreError> for Fail {
    fn from(e: salla_odoo_store::StoreError) -> Self {
        Fail(classify_store(&e))
    }
}

impl From<SyncError> for Fail {
    fn from(e: SyncError) -> Self {
        Fail(e)
    }
}

pub(crate) type Res<T> = Result<T, Fail>;

pub(crate) fn permanent(message: impl Into<String>) -> Fail {
    Fail(SyncError::Permanent {
        message: message.into(),
    })
}

pub(crate) fn transient(message: impl Into<String>) -> Fail {
    Fail(SyncError::Transient {
        message: message.into(),
        retry_after: None,
    })
}
