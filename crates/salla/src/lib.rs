//! Salla: webhook verification and lenient payload models.
//!
//! A webhook starts as an [`UnverifiedWebhook`] (raw body + the headers that matter). Only
//! [`WebhookVerifier::verify`] turns it into a [`VerifiedWebhook`], and only a verified webhook can be
//! parsed into an [`Envelope`] (or, for ingest, a [`RawEnvelope`] that keeps `data` as text), so
//! nothing unauthenticated can reach the queue.

pub mod api;
pub mod lenient;
pub mod payload;
pub mod verify;

pub use api::{ApiConfig, ApiError, SallaApi};
pub use payload::{Envelope, ParseError, Payload, RawEnvelope};
pub use verify::{Strategy, UnverifiedWebhook, VerifiedWebhook, VerifyError, WebhookVerifier};
