//! Error plumbing inside one job: every failure becomes a [`SyncError`], transient or permanent.

use salla_odoo_core::SyncError;

/// `odoo::Error` → [`SyncError`] (docs/odoo-api.md §8):
/// - transient (network before sending, 429/503, serialization failure, login cooldown) stays transient, with
///   the server's `Retry-After`;
/// - permanent (validation, access, unknown field, a workflow that did not reach its state) becomes permanent,
///   carrying Odoo's message;
/// - outcome unknown (timeout, dropped connection, 502/504) becomes transient: the retry looks the record up
///   by its deterministic marker before creating it again, which every handler of this crate does.
pub fn classify_odoo(err: &odoo::Error) -> SyncError {
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
