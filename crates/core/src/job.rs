//! The job that travels from ingest through the queue to the workers.
//!
//! A job is versioned (`"version": "1"`) so that workers can refuse, and dead-letter, a shape they do
//! not know instead of misreading it after a rolling upgrade.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ids::{MerchantId, SallaId};

/// What a worker does with a job. Several Salla events map to one kind (see [`crate::routing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobKind {
    /// `customer.created` / `customer.updated` → `res.partner`.
    #[serde(rename = "customer.upsert")]
    CustomerUpsert,
    /// `product.created` / `updated` / `price.updated` / `status.updated` … → `product.product`.
    #[serde(rename = "product.upsert")]
    ProductUpsert,
    /// `product.deleted` → archive the product.
    #[serde(rename = "product.delete")]
    ProductDelete,
    /// `order.created` / `updated` / `products.updated` / … → quotation or sale order.
    #[serde(rename = "order.upsert")]
    OrderUpsert,
    /// `order.status.updated`, `order.cancelled`, `order.refunded`, `order.payment.updated` → Odoo steps.
    #[serde(rename = "order.status")]
    OrderStatus,
    /// `order.deleted` → cancel the quotation if Odoo still allows it.
    #[serde(rename = "order.delete")]
    OrderDelete,
    /// `shipment.*` and `order.shipment.*` → tracking data on the delivery order.
    #[serde(rename = "shipment.sync")]
    ShipmentSync,
    /// `invoice.created` → cross-check the Odoo invoice.
    #[serde(rename = "invoice.check")]
    InvoiceCheck,
    /// `app.store.authorize` → store the merchant's tokens, encrypted.
    #[serde(rename = "store.authorize")]
    StoreAuthorize,
    /// `app.installed` / `app.updated` → create or update the store record.
    #[serde(rename = "store.install")]
    StoreInstall,
    /// `app.uninstalled` → disconnect the store and schedule its purge.
    #[serde(rename = "store.uninstall")]
    StoreUninstall,
    /// `app.settings.updated` → the merchant's settings form.
    #[serde(rename = "store.settings")]
    StoreSettings,
}

impl JobKind {
    pub const ALL: [JobKind; 12] = [
        JobKind::CustomerUpsert,
        JobKind::ProductUpsert,
        JobKind::ProductDelete,
        JobKind::OrderUpsert,
        JobKind::OrderStatus,
        JobKind::OrderDelete,
        JobKind::ShipmentSync,
        JobKind::InvoiceCheck,
        JobKind::StoreAuthorize,
        JobKind::StoreInstall,
        JobKind::StoreUninstall,
        JobKind::StoreSettings,
    ];

    /// Whether the job's work is Odoo calls: every kind but the store's own jobs (its record and
    /// tokens) and the informational invoice check. Lets the worker ask for Odoo call budget up front.
    pub fn calls_odoo(self) -> bool {
        !matches!(
            self,
            JobKind::InvoiceCheck
                | JobKind::StoreAuthorize
                | JobKind::StoreInstall
                | JobKind::StoreUninstall
                | JobKind::StoreSettings
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::CustomerUpsert => "customer.upsert",
            JobKind::ProductUpsert => "product.upsert",
            JobKind::ProductDelete => "product.delete",
            JobKind::OrderUpsert => "order.upsert",
            JobKind::OrderStatus => "order.status",
            JobKind::OrderDelete => "order.delete",
            JobKind::ShipmentSync => "shipment.sync",
            JobKind::InvoiceCheck => "invoice.check",
            JobKind::StoreAuthorize => "store.authorize",
            JobKind::StoreInstall => "store.install",
            JobKind::StoreUninstall => "store.uninstall",
            JobKind::StoreSettings => "store.settings",
        }
    }

    /// The Salla object this kind of job changes, and the JSON pointers (into the webhook's `data`)
    /// where its id may sit, first match wins. Jobs on one entity are serialised by a per-entity lock.
    pub fn entity_location(self) -> Option<(EntityKind, &'static [&'static str])> {
        Some(match self {
            JobKind::CustomerUpsert => (EntityKind::Customer, &["/id"]),
            JobKind::ProductUpsert | JobKind::ProductDelete => (EntityKind::Product, &["/id"]),
            // `order.status.updated` carries a status-history entry whose `id` is not the order's.
            JobKind::OrderStatus => (EntityKind::Order, &["/order/id", "/order_id", "/id"]),
            JobKind::OrderUpsert | JobKind::OrderDelete => (EntityKind::Order, &["/id"]),
            // Shipments act on their order's delivery; `order.shipment.*` carry the order as `data`.
            JobKind::ShipmentSync => (EntityKind::Order, &["/order_id", "/id"]),
            JobKind::InvoiceCheck => (EntityKind::Order, &["/order_id"]),
            JobKind::StoreAuthorize
            | JobKind::StoreInstall
            | JobKind::StoreUninstall
            | JobKind::StoreSettings => return None,
        })
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of Salla object a job is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Customer,
    Product,
    Order,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Customer => "customer",
            EntityKind::Product => "product",
            EntityKind::Order => "order",
        }
    }
}

/// One Salla object of one store: the unit of the per-entity lock and of the id map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntityRef {
    pub kind: EntityKind,
    pub id: SallaId,
}

/// SHA-256 of a webhook's raw body: with merchant and event, the key that recognises a repeated delivery.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BodyDigest([u8; 32]);

impl BodyDigest {
    pub fn of(body: &[u8]) -> Self {
        Self(Sha256::digest(body).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Lowercase hex in a buffer of its own: written into keys and jobs without allocating.
    fn hex(&self) -> HexDigest {
        let mut out = [0u8; 64];
        hex::encode_to_slice(self.0, &mut out).expect("64 bytes hold 32 in hex");
        HexDigest(out)
    }
}

struct HexDigest([u8; 64]);

impl HexDigest {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex is ASCII")
    }
}

impl fmt::Debug for BodyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BodyDigest({})", self.to_hex())
    }
}

impl fmt::Display for BodyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex().as_str())
    }
}

impl Serialize for BodyDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.hex().as_str())
    }
}

impl<'de> Deserialize<'de> for BodyDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(Self(out))
    }
}

/// A unit of work for the workers, as stored in the queue.
///
/// `D` is how the webhook's `data` is held: a parsed tree everywhere but in ingest, which queues
/// `SyncJob<&RawValue>`, the exact JSON text Salla sent, so it never builds a tree it does not
/// read. Both encode to the same JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum SyncJob<D = serde_json::Value> {
    #[serde(rename = "1")]
    V1(SyncJobV1<D>),
}

/// Version 1 of the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncJobV1<D = serde_json::Value> {
    /// Unique per enqueued job (UUIDv7: sortable by creation time).
    pub id: Uuid,
    pub kind: JobKind,
    pub merchant: MerchantId,
    /// The Salla event name as delivered, e.g. `order.created`.
    pub event: String,
    /// The object the job changes, when the payload names it.
    pub entity: Option<EntityRef>,
    /// Digest of the raw webhook body (dedupe key, and a handle to find the delivery in logs).
    pub digest: BodyDigest,
    /// Salla's `created_at`, kept verbatim: it has two formats and one-second resolution.
    pub salla_created_at: String,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// How many times a worker has already tried this job (0 when first queued, or after a replay).
    pub attempt: u32,
    /// The webhook's `data` object, unchanged.
    pub data: D,
    /// Every failed attempt so far, oldest first (kept in the job so a dead letter has the full story).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AttemptRecord>,
    /// The trace of the webhook that queued the job, when traces are on (`telemetry.otlp_endpoint`):
    /// every attempt of the job, a retry or a dead-letter replay, is a span of that trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

/// A W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the ids of a trace and of the span
/// a job's spans hang under. Ids only: nothing about the webhook's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// `00-<trace id>-<parent span id>-<flags>`.
    pub traceparent: String,
    /// Vendor-specific trace data, usually empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tracestate: String,
}

/// One failed attempt of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1-based attempt number.
    pub attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `transient`, `permanent`, `timeout` or `crashed`.
    pub class: String,
    /// The error chain, one line.
    pub error: String,
}

impl<D> SyncJobV1<D> {
    /// The entity under which this job may be coalesced with other jobs of the same entity that
    /// wait at the same time (one run converges them all: see the worker's `coalesce` module);
    /// `None` when it always runs on its own. Orders: every `order.upsert` and every `order.status`
    /// but `order.refunded` (a refund is an event of its own, not a state). Customers: every
    /// `customer.upsert` (the newest body wins). Products, deletions, shipments and invoices never
    /// coalesce.
    pub fn coalesce_entity(&self) -> Option<EntityRef> {
        let entity = self.entity?;
        let foldable = match self.kind {
            JobKind::OrderUpsert => entity.kind == EntityKind::Order,
            JobKind::OrderStatus => {
                entity.kind == EntityKind::Order && self.event != "order.refunded"
            }
            JobKind::CustomerUpsert => entity.kind == EntityKind::Customer,
            _ => false,
        };
        foldable.then_some(entity)
    }
}

impl<D> SyncJob<D> {
    pub fn v1(&self) -> &SyncJobV1<D> {
        match self {
            SyncJob::V1(job) => job,
        }
    }
}

impl<D: Serialize> SyncJob<D> {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a SyncJob always serialises")
    }
}

impl SyncJob {
    pub fn from_json(bytes: &[u8]) -> Result<Self, crate::CoreError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_round_trips_with_its_version_tag() {
        let job = SyncJob::V1(SyncJobV1 {
            id: Uuid::now_v7(),
            kind: JobKind::OrderUpsert,
            merchant: MerchantId::new(42),
            event: "order.created".into(),
            entity: Some(EntityRef {
                kind: EntityKind::Order,
                id: SallaId::new(77),
            }),
            digest: BodyDigest::of(b"{}"),
            salla_created_at: "2022-12-31 12:31:25".into(),
            received_at: OffsetDateTime::UNIX_EPOCH,
            attempt: 0,
            data: json!({"id": "77"}),
            history: Vec::new(),
            trace: None,
        });
        let bytes = job.to_json();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.contains(r#""version":"1""#), "{text}");
        assert!(text.contains(r#""kind":"order.upsert""#), "{text}");
        assert_eq!(SyncJob::from_json(&bytes).unwrap(), job);
        assert_eq!(job.v1().entity.unwrap().id, SallaId::new(77));
    }

    #[test]
    fn a_job_holding_raw_data_encodes_as_the_job_with_the_parsed_tree() {
        // Keys in sorted order: a parsed tree keeps that order whether or not serde_json's
        // `preserve_order` is on, so the two encodings can be compared byte for byte.
        let text = r#"{"id":77,"items":[{"price":{"amount":"10.50"},"sku":"A\"1"}],"note":null}"#;
        let raw: &serde_json::value::RawValue = serde_json::from_str(text).unwrap();
        let tree: serde_json::Value = serde_json::from_str(text).unwrap();
        fn job<D>(data: D, text: &str) -> SyncJob<D> {
            SyncJob::V1(SyncJobV1 {
                id: Uuid::from_u128(7),
                kind: JobKind::OrderUpsert,
                merchant: MerchantId::new(42),
                event: "order.created".into(),
                entity: None,
                digest: BodyDigest::of(text.as_bytes()),
                salla_created_at: "2022-12-31 12:31:25".into(),
                received_at: OffsetDateTime::UNIX_EPOCH,
                attempt: 0,
                data,
                history: Vec::new(),
                trace: None,
            })
        }
        let parsed = job(tree, text);
        let encoded = job(raw, text).to_json();
        assert_eq!(
            String::from_utf8(encoded.clone()).unwrap(),
            String::from_utf8(parsed.to_json()).unwrap()
        );
        assert_eq!(SyncJob::from_json(&encoded).unwrap(), parsed);
    }

    #[test]
    fn a_digest_reads_as_lowercase_hex_everywhere() {
        let digest = BodyDigest::of(b"abc");
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(digest.to_string(), hex);
        assert_eq!(digest.to_hex(), hex);
        assert_eq!(
            serde_json::to_string(&digest).unwrap(),
            format!("\"{hex}\"")
        );
        assert_eq!(
            serde_json::from_str::<BodyDigest>(&format!("\"{hex}\"")).unwrap(),
            digest
        );
    }

    #[test]
    fn the_trace_context_is_optional_and_travels_with_the_job() {
        let without = SyncJob::V1(SyncJobV1 {
            id: Uuid::from_u128(7),
            kind: JobKind::OrderUpsert,
            merchant: MerchantId::new(42),
            event: "order.created".into(),
            entity: None,
            digest: BodyDigest::of(b"{}"),
            salla_created_at: "2022-12-31 12:31:25".into(),
            received_at: OffsetDateTime::UNIX_EPOCH,
            attempt: 0,
            data: json!({}),
            history: Vec::new(),
            trace: None,
        });
        let text = String::from_utf8(without.to_json()).unwrap();
        assert!(!text.contains("trace"), "{text}");
        let SyncJob::V1(mut job) = without.clone();
        job.trace = Some(TraceContext {
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            tracestate: String::new(),
        });
        let with = SyncJob::V1(job);
        let text = String::from_utf8(with.to_json()).unwrap();
        assert!(
            text.contains(r#""trace":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#),
            "{text}"
        );
        assert_eq!(SyncJob::from_json(text.as_bytes()).unwrap(), with);
        // A job queued before traces existed (or with them off) reads as one without a trace.
        let old = text.replace(
            r#","trace":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#,
            "",
        );
        assert_eq!(SyncJob::from_json(old.as_bytes()).unwrap(), without);
    }

    #[test]
    fn unknown_job_versions_are_refused() {
        let err = SyncJob::from_json(br#"{"version":"9","kind":"order.upsert"}"#).unwrap_err();
        assert!(!err.is_transient());
    }

    #[test]
    fn status_updates_lock_the_order_not_the_history_entry() {
        let (kind, pointers) = JobKind::OrderStatus.entity_location().unwrap();
        assert_eq!(kind, EntityKind::Order);
        assert_eq!(pointers[0], "/order/id");
        assert_eq!(JobKind::StoreAuthorize.entity_location(), None);
    }

    #[test]
    fn digest_is_lowercase_hex_sha256() {
        assert_eq!(
            BodyDigest::of(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
