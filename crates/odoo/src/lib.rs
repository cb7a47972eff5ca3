//! Odoo external API client for the connector: JSON-RPC for Odoo 16–18 and JSON-2 for 19+, one capability
//! probe per server, typed model operations, the business recipes of docs/odoo-api.md §10, and one error
//! type whose [`ErrorClass`] drives the caller's retries.
//!
//! ```no_run
//! # async fn demo() -> Result<(), odoo::Error> {
//! use odoo::{Client, Config, Domain, SearchOptions};
//! let config = Config::new("https://erp.example.com", "odoo", "connector", "key".to_owned().into())?;
//! let client = Client::new(config)?;
//! let caps = client.capabilities().await?; // version, transport, renamed fields
//! let orders: Vec<odoo::Record> = client
//!     .search_read("sale.order", &Domain::new().eq("client_order_ref", "SALLA-1"), &["id", "state"],
//!                  &SearchOptions::limit(1))
//!     .await?;
//! # let _ = (caps, orders); Ok(()) }
//! ```
//!
//! Never XML-RPC: it cannot marshal `None` and fails after Odoo has committed (§5).

mod client;
mod domain;
mod envelope;
mod error;
pub mod fields;
mod probe;
pub mod recipes;
pub mod refunds;
mod transport;

pub use client::{
    Call, CallObserver, Client, Config, Id, Lookup, Observer, Record, SearchOptions,
    TransportChoice, many2one_id, x2many_ids,
};
pub use domain::{Domain, command};
pub use error::{Error, ErrorClass, Fault, FaultKind, LOGIN_COOLDOWN, Result};
pub use probe::{Capabilities, MoveQuantity, ServerVersion, StorableProduct};
pub use recipes::{Invoicing, Payment, PaymentRequest, Step, ctx};
pub use refunds::{OdooUser, WrittenDown};
pub use transport::Transport;

/// The answer parsers, for the fuzz targets in `fuzz/` (docs/fuzzing.md). Not an API: only built
/// with the `fuzzing` feature.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::Value;

    use crate::{Error, Fault};

    /// A `POST /jsonrpc` answer (HTTP 200) to the request with id `expected_id`.
    pub fn rpc_reply(
        body: &[u8],
        expected_id: u64,
        redact: &dyn Fn(&str) -> String,
    ) -> Result<Value, Error> {
        crate::envelope::parse_rpc_reply(body, expected_id, redact)
    }

    /// A JSON-2 error body.
    pub fn json2_error(status: u16, body: &[u8], redact: &dyn Fn(&str) -> String) -> Option<Fault> {
        crate::envelope::parse_json2_error(status, body, redact)
    }

    /// A JSON-2 success body.
    pub fn json2_result(body: &[u8]) -> Result<Value, Error> {
        crate::envelope::parse_json2_result(body)
    }
}

/// Re-exported so callers can build the API key without naming `secrecy` themselves.
pub use secrecy::SecretString;
