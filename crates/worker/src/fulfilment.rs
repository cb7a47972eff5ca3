//! Fulfilment, Odoo → Salla: when the Odoo delivery of a Salla order is validated, the Salla order
//! moves to the store's fulfilment status (`StoreSettings::fulfilment_status`, default `delivered`;
//! `None`: off) through `POST /orders/{id}/status`, once, with the carrier's tracking reference in
//! the note when Odoo has one. Never backwards.
//!
//! # One run of a store ([`report_store`])
//! 1. **The window.** One `stock.picking` `search_read`, oldest first:
//!    `[('picking_type_code','=','outgoing'), ('state','in',['done','cancel']),
//!    ('sale_id.client_order_ref','=like','salla:<merchant>:%'),
//!    '|', ('write_date','>=',from), ('date_done','>=',from)]` — the related-field leaf lets Odoo do
//!    the join (Odoo 16–19, and odoo-sandbox), so pickings of other stores and of non-Salla orders never
//!    travel. `from` is the store's fulfilment watermark (`OdooMark::Fulfilment`, Odoo's own
//!    `write_date` text) less [`OVERLAP`], or now less [`FIRST_LOOKBACK`] on a store's first run.
//!    Cancelled pickings are in the window so that an order whose last open backorder is cancelled is
//!    seen again. `date_done` beside `write_date` costs nothing and catches a validation that did not
//!    touch `write_date`.
//! 2. **The orders.** The sale orders of those pickings (`client_order_ref` → the Salla order id) and
//!    all their outgoing pickings (one `read`, one `search_read`, with `carrier_tracking_ref` and
//!    `carrier_id` when the delivery module is installed, else the note, where the shipment sync
//!    writes Salla's reference). An order is delivered when it has a done outgoing picking and none
//!    still open; otherwise it waits for its next picking.
//! 3. **Each delivered order, under its entity lock** (`order:<id>`, the lock every sync job of the
//!    order holds, so a status webhook of the same order never runs meanwhile): the id map says
//!    whether it was settled already ([`ENTITY`]); else Salla's current status is read first
//!    (`GET /orders/{id}`) and the status is set only when Salla is before the target — never over
//!    `canceled`, `restored`, `restoring`, and never when Salla is at or past it (§9.1 order:
//!    payment_pending < under_review < in_progress < shipped = delivering < delivered < completed).
//!    That read also covers a delivery the connector validated itself because Salla said the order
//!    was delivered (and the sync records such a delivery in the id map too, see below).
//! 4. **The watermark** moves to the newest picking time seen, or only up to the oldest picking of
//!    an order that must be tried again (Salla unavailable, throttled, a lost answer, the order's lock
//!    busy), and only after Salla took the statuses. A dry run writes nothing.
//!
//! # Once
//! The id map row `order_fulfilment` / Salla order id is the record: `odoo_id` is the picking,
//! `odoo_model` is [`SETTLED`] (done with: the status was set, or Salla was already there, or it is
//! terminal, refused, or the sync validated the delivery because of Salla's status) or [`SENDING`]
//! (written *before* the `POST`, so a crash or a lost answer leaves a trace), and `source_version`
//! is [`slug_code`] of the status sent (0: none sent). A settled order is never read or posted again,
//! by this run, a restart or another worker; the watermark alone could not promise that (pickings
//! validated in the same second, transactions that commit late: the window overlaps the last run).
//! A `SENDING` row is resolved by the next run's read-first: Salla already at the target means the
//! lost answer's status was applied (settled, one status change); otherwise it is sent again
//! (setting a status is idempotent).
//!
//! # The echo
//! Salla answers a status change with `order.status.updated`. The sync (`crates/sync/src/status.rs`)
//! finds the `order_fulfilment` row whose `source_version` is the code of the entry's status and
//! skips the entry: Odoo is where that status came from, so nothing more happens (with the default
//! status map, `delivered` would otherwise invoice the order).
//!
//! # Failure handling
//! Odoo or the store database failing ends the run with an error (nothing moved). Per order: Salla
//! throttling or the store's API being unusable (needs reinstall) ends the run and keeps the
//! watermark before the orders not done; a transient failure or a lost answer keeps the order for
//! the next run; Salla refusing the change (400, 409, 422) settles it with a warning (sending it
//! again would fail the same way); any other refusal (a missing scope, 403) ends the run with an
//! error. An order Salla does not know (404) is settled.
//!
//! Metrics: `salla_odoo_fulfilment_reported_total`, `salla_odoo_fulfilment_skipped_total{reason}`
//! (`already_there`, `terminal`, `unknown_status`, `not_found`, `refused`, `partial`).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use odoo::{Domain, Id, Record, SearchOptions};
use salla_odoo_core::{MerchantId, SyncError};
use salla_odoo_salla::api::{ApiError, EndpointClass, ErrorClass, StatusChange};
use salla_odoo_store::Db;
use salla_odoo_store::reconcile::{OdooMark, odoo_mark, set_odoo_mark};
use salla_odoo_store::secrets::Keyring;
use salla_odoo_store::stores;
use salla_odoo_store::{id_map, locks};
use serde_json::Value;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::salla::{Answer, SallaAccess};

/// The id-map entity of the record (see the module docs); `crates/sync/src/status.rs` reads it.
pub const ENTITY: &str = "order_fulfilment";
/// `odoo_model` of a settled order.
pub const SETTLED: &str = "stock.picking";
/// `odoo_model` of an order whose status was sent and not yet confirmed.
pub const SENDING: &str = "stock.picking:sending";
/// A run looks again this far before the watermark (transactions that commit late, clock skew).
pub const OVERLAP: Duration = Duration::from_secs(600);
/// Without a watermark (a store's first run) the window opens this long ago.
pub const FIRST_LOOKBACK: Duration = Duration::from_secs(86_400);
/// Pickings per `search_read` page.
const PAGE: u32 = 500;
/// Longest tracking reference or carrier name put in a note.
const NOTE_FIELD_MAX: usize = 64;

/// What one run of a store found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FulfilmentReport {
    pub merchant: u64,
    /// The store's fulfilment status; `None`: off (nothing was looked at).
    pub target: Option<String>,
    /// The window's start (Odoo's UTC text).
    pub from: Option<String>,
    /// Validated (or cancelled) outgoing pickings of the store's Salla orders in the window.
    pub pickings: u64,
    /// Delivered orders among them (every outgoing picking done or cancelled, one done).
    pub orders: u64,
    /// Status set in Salla (or a lost answer's status found applied).
    pub reported: u64,
    /// Dry run: would be set.
    pub would_report: u64,
    /// Settled by an earlier run (or by the sync).
    pub already_reported: u64,
    /// Left alone, by reason (`already_there`, `terminal`, `partial`, …).
    pub skipped: BTreeMap<String, u64>,
    /// Tried again next run (the watermark waits for them).
    pub retry: u64,
    /// Salla API requests made.
    pub requests: u64,
    /// The watermark after the run (unchanged on a dry run).
    pub watermark: Option<String>,
    pub dry_run: bool,
    /// Set when the store's Salla API could not be used (needs reinstall, throttled): why.
    pub unavailable: Option<String>,
    /// Set when the store was not looked at: why (off, no Odoo connection, uninstalled).
    pub note: Option<String>,
    /// Each delivered order of the window and what happened to it.
    pub entries: Vec<FulfilmentEntry>,
    pub millis: u64,
}

/// One delivered order of a run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FulfilmentEntry {
    /// The Salla order id.
    pub order: u64,
    pub sale_order: Id,
    /// Its most recently validated outgoing picking.
    pub picking: Id,
    /// `reported`, `would_report`, `already_reported`, `retry`, or a skip reason.
    pub outcome: String,
    /// Salla's status before the run, when it was read.
    pub salla_status: Option<String>,
    /// Why (an error, a refusal), when there is more to say.
    pub detail: Option<String>,
}

/// The `source_version` of an [`ENTITY`] row naming the status `slug` the connector set in Salla:
/// FNV-1a of the slug, in `1..=2^62`. `crates/sync/src/status.rs` has the same function.
pub fn slug_code(slug: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in slug.trim().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h >> 2) as i64 + 1
}

/// Where a Salla status stands on the way to the target (§9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Before the target: set it.
    Set,
    /// At or past the target.
    AlreadyThere,
    /// Cancelled or returned: never overridden.
    Terminal,
    /// A status (or target) whose place is unknown: left alone.
    Unknown,
}

enum Rank {
    Step(u8),
    Terminal,
}

fn rank(slug: &str) -> Option<Rank> {
    Some(match slug.trim() {
        "payment_pending" | "waiting_for_payment_confirmation" | "payment_failed" => Rank::Step(0),
        "under_review" => Rank::Step(1),
        "in_progress" => Rank::Step(2),
        "shipped" | "delivering" | "waiting to receive it" => Rank::Step(3),
        "delivered" => Rank::Step(4),
        "completed" => Rank::Step(5),
        "canceled" | "cancelled" | "restored" | "restoring" => Rank::Terminal,
        _ => return None,
    })
}

/// What to do with an order whose Salla status is `current` when the store's target is `target`.
pub fn decide(current: Option<&str>, target: &str) -> Move {
    let Some(Rank::Step(target)) = rank(target) else {
        return Move::Unknown;
    };
    match current.and_then(rank) {
        Some(Rank::Terminal) => Move::Terminal,
        Some(Rank::Step(c)) if c >= target => Move::AlreadyThere,
        Some(Rank::Step(_)) => Move::Set,
        None => Move::Unknown,
    }
}

/// The note posted with the status: "Shipped: tracking <ref> (<carrier>)", or nothing without a
/// reference. Only the carrier's reference and name: no personal data.
pub fn status_note(reference: Option<&str>, carrier: Option<&str>) -> Option<String> {
    let clean = |s: &str| -> Option<String> {
        let s: String = s
            .chars()
            .filter(|c| !c.is_control() && !matches!(c, '<' | '>'))
            .collect::<String>()
            .trim()
            .chars()
            .take(NOTE_FIELD_MAX)
            .collect();
        (!s.is_empty()).then_some(s)
    };
    let reference = clean(reference?)?;
    Some(match carrier.and_then(clean) {
        Some(c) => format!("Shipped: tracking {reference} ({c})"),
        None => format!("Shipped: tracking {reference}"),
    })
}

/// The reference the shipment sync wrote in a picking's note (`[salla-shipment] reference: …`),
/// for databases without `carrier_tracking_ref`.
pub fn reference_in_note(note: &str) -> Option<String> {
    let para = &note[note.find("[salla-shipment]")?..];
    let para = &para[..para.find("</p>").unwrap_or(para.len())];
    let start = para.find("reference: ")? + "reference: ".len();
    let rest = &para[start..];
    let value = &rest[..rest.find(" | ").unwrap_or(rest.len())];
    let value = value
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// Report one store's validated deliveries to Salla (see the module docs). `dry_run` reads Odoo and
/// Salla and changes nothing.
pub async fn report_store(
    access: &SallaAccess,
    pool: &Db,
    keyring: &Keyring,
    merchant: MerchantId,
    dry_run: bool,
) -> Result<FulfilmentReport, SyncError> {
    report_with(
        access,
        pool,
        keyring,
        merchant,
        dry_run,
        &crate::handler::StoreClients::default(),
    )
    .await
}

/// The scheduled report: every `interval`, each store with usable Salla tokens (and the option on)
/// is reported by at most one worker of the fleet at a time (a global lock per store,
/// `fulfilment/<merchant>`); a store whose lock is held is skipped this round. A zero `interval`
/// returns at once (off).
pub async fn fulfilment_loop(access: SallaAccess, pool: Db, keyring: Keyring, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    let clients = crate::handler::StoreClients::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate: let the worker settle first
    loop {
        tick.tick().await;
        for merchant in crate::salla::api_stores(&pool, "fulfilment").await {
            let id = merchant.get();
            let lock = match locks::try_lock_global(&pool, &format!("fulfilment/{merchant}")).await
            {
                Ok(Some(lock)) => lock,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "fulfilment lock unavailable");
                    continue;
                }
            };
            match report_with(&access, &pool, &keyring, merchant, false, &clients).await {
                Ok(r) if r.reported > 0 || r.retry > 0 || r.unavailable.is_some() => {
                    tracing::info!(
                        merchant = id,
                        reported = r.reported,
                        retry = r.retry,
                        unavailable = r.unavailable.as_deref().unwrap_or(""),
                        "fulfilment run"
                    );
                }
                Ok(r) if r.target.is_some() && r.note.is_some() => tracing::warn!(
                    merchant = id,
                    note = r.note.as_deref().unwrap_or(""),
                    "fulfilment not reported"
                ),
                Ok(r) => tracing::debug!(merchant = id, orders = r.orders, "fulfilment run"),
                Err(e) => tracing::warn!(merchant = id, error = %e, "fulfilment run failed"),
            }
            if let Err(e) = lock.release().await {
                tracing::warn!(error = %e, "fulfilment lock release failed");
            }
        }
    }
}

fn store_err(e: salla_odoo_store::StoreError) -> SyncError {
    salla_odoo_sync::classify_store(&e)
}

fn odoo_err(e: odoo::Error) -> SyncError {
    salla_odoo_sync::classify_odoo(&e)
}

async fn report_with(
    access: &SallaAccess,
    pool: &Db,
    keyring: &Keyring,
    merchant: MerchantId,
    dry_run: bool,
    clients: &crate::handler::StoreClients,
) -> Result<FulfilmentReport, SyncError> {
    let started = Instant::now();
    let mut report = FulfilmentReport {
        merchant: merchant.get(),
        dry_run,
        ..FulfilmentReport::default()
    };
    let settings = stores::load_settings(pool, keyring, merchant)
        .await
        .map_err(store_err)?;
    let why_not = match &settings {
        None => Some("the store is not configured".to_owned()),
        Some(s) if s.status != "installed" => Some(format!("the store is {}", s.status)),
        Some(s) if s.fulfilment_status.is_none() => Some("fulfilment is off".to_owned()),
        Some(s) if s.odoo.is_none() => Some("the store has no Odoo connection".to_owned()),
        Some(_) => None,
    };
    let (Some(settings), None) = (settings, why_not.clone()) else {
        report.note = why_not;
        return Ok(report);
    };
    let target = settings.fulfilment_status.clone().unwrap_or_default();
    report.target = Some(target.clone());
    if !matches!(rank(&target), Some(Rank::Step(_))) {
        report.note = Some(format!(
            "the fulfilment status {target:?} is not a Salla status an order moves forward to \
             (§9.1: shipped, delivering, delivered, completed, …); nothing is reported"
        ));
        return Ok(report);
    }
    let Some(odoo) = clients.get(&settings, access.limits())? else {
        return Ok(report);
    };
    let run = Run {
        access,
        pool,
        odoo: &odoo,
        merchant,
        target: &target,
        dry_run,
    };
    let result = run.run(&mut report).await;
    crate::handler::keep_capabilities(pool, &settings, &odoo).await;
    report.millis = started.elapsed().as_millis() as u64;
    result.map(|()| report)
}

/// A delivered order of the window.
struct Candidate {
    order: u64,
    sale_order: Id,
    picking: Id,
    /// The oldest picking time (`max(write_date, date_done)`) of its window pickings.
    oldest: String,
    reference: Option<String>,
    carrier: Option<String>,
}

/// What happened to one order.
enum Outcome {
    Reported,
    WouldReport,
    Already,
    Skipped(&'static str, Option<String>),
    /// Try again next run.
    Retry(String),
    /// The store's Salla API cannot be used now: the run ends here.
    Stop(String),
}

struct Run<'a> {
    access: &'a SallaAccess,
    pool: &'a Db,
    odoo: &'a odoo::Client,
    merchant: MerchantId,
    target: &'a str,
    dry_run: bool,
}

fn text(r: &Record, f: &str) -> Option<String> {
    r.get(f)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn id_of(r: &Record) -> Option<Id> {
    r.get("id").and_then(Value::as_i64)
}

/// A picking's time for the watermark: the later of `write_date` and `date_done`.
fn picking_time(r: &Record) -> String {
    text(r, "write_date")
        .max(text(r, "date_done"))
        .unwrap_or_default()
}

/// The window's start: the watermark less [`OVERLAP`], or `now` less [`FIRST_LOOKBACK`].
fn window_start(mark: Option<&str>, now: OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    match mark {
        Some(m) => match PrimitiveDateTime::parse(m.get(..19).unwrap_or(m), &format) {
            Ok(t) => salla_odoo_sync::version::odoo_datetime(t.assume_utc() - OVERLAP),
            Err(_) => m.to_owned(),
        },
        None => salla_odoo_sync::version::odoo_datetime(now - FIRST_LOOKBACK),
    }
}

/// The Salla order id of `salla:<merchant>:<order>`.
fn salla_order_id(client_order_ref: &str, merchant: MerchantId) -> Option<u64> {
    client_order_ref
        .strip_prefix(&format!("salla:{merchant}:"))?
        .trim()
        .parse()
        .ok()
}

impl Run<'_> {
    async fn run(&self, report: &mut FulfilmentReport) -> Result<(), SyncError> {
        let mark = odoo_mark(self.pool, self.merchant, OdooMark::Fulfilment)
            .await
            .map_err(store_err)?;
        let from = window_start(mark.as_deref(), OffsetDateTime::now_utc());
        report.from = Some(from.clone());
        report.watermark = mark;
        let window = self.window(&from).await?;
        report.pickings = window.len() as u64;
        if window.is_empty() {
            return Ok(());
        }
        let (candidates, partial) = self.delivered_orders(&window).await?;
        report.orders = candidates.len() as u64;
        for _ in 0..partial {
            skip_metric("partial");
        }
        if partial > 0 {
            *report.skipped.entry("partial".into()).or_default() += partial;
        }
        let newest = window.iter().map(picking_time).max().unwrap_or_default();
        // The oldest picking time of an order to try again: the watermark stops there.
        let mut held: Option<String> = None;
        let mut stopped = false;
        for c in &candidates {
            let (outcome, salla_status) = if stopped {
                (
                    Outcome::Retry("not tried: the run ended early".into()),
                    None,
                )
            } else {
                self.report_order(c, &mut report.requests).await?
            };
            let mut entry = FulfilmentEntry {
                order: c.order,
                sale_order: c.sale_order,
                picking: c.picking,
                outcome: String::new(),
                salla_status,
                detail: None,
            };
            let stop = matches!(outcome, Outcome::Stop(_));
            match outcome {
                Outcome::Reported => {
                    report.reported += 1;
                    metrics::counter!("salla_odoo_fulfilment_reported_total").increment(1);
                    entry.outcome = "reported".into();
                }
                Outcome::WouldReport => {
                    report.would_report += 1;
                    entry.outcome = "would_report".into();
                }
                Outcome::Already => {
                    report.already_reported += 1;
                    entry.outcome = "already_reported".into();
                }
                Outcome::Skipped(reason, detail) => {
                    *report.skipped.entry(reason.into()).or_default() += 1;
                    skip_metric(reason);
                    entry.outcome = reason.into();
                    entry.detail = detail;
                }
                Outcome::Retry(why) | Outcome::Stop(why) => {
                    if stop {
                        report.unavailable = Some(why.clone());
                        stopped = true;
                    }
                    report.retry += 1;
                    held = Some(match held {
                        Some(h) => h.min(c.oldest.clone()),
                        None => c.oldest.clone(),
                    });
                    entry.outcome = "retry".into();
                    entry.detail = Some(why);
                }
            }
            report.entries.push(entry);
        }
        if !self.dry_run {
            let to = held.unwrap_or(newest);
            if !to.is_empty() {
                set_odoo_mark(self.pool, self.merchant, OdooMark::Fulfilment, &to)
                    .await
                    .map_err(store_err)?;
            }
            report.watermark = odoo_mark(self.pool, self.merchant, OdooMark::Fulfilment)
                .await
                .map_err(store_err)?;
        }
        Ok(())
    }
}

impl Run<'_> {
    /// The validated (or cancelled) outgoing pickings of the store's Salla orders in the window,
    /// oldest first.
    async fn window(&self, from: &str) -> Result<Vec<Record>, SyncError> {
        let marker = format!("salla:{}:%", self.merchant);
        let domain = Domain::new()
            .eq("picking_type_code", "outgoing")
            .is_in("state", ["done", "cancel"])
            .leaf("sale_id.client_order_ref", "=like", marker)
            .and(Domain::or(
                Domain::new().ge("write_date", from),
                Domain::new().ge("date_done", from),
            ));
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let opts = SearchOptions {
                limit: Some(PAGE),
                offset: Some(offset),
                order: Some("write_date asc, id asc".into()),
            };
            let page: Vec<Record> = self
                .odoo
                .search_read(
                    "stock.picking",
                    &domain,
                    &["sale_id", "state", "write_date", "date_done"],
                    &opts,
                )
                .await
                .map_err(odoo_err)?;
            let n = page.len();
            out.extend(page);
            if n < PAGE as usize {
                return Ok(out);
            }
            offset += PAGE;
        }
    }

    /// The delivered orders of the window's pickings, oldest first, and how many of its orders
    /// still have an open delivery.
    async fn delivered_orders(
        &self,
        window: &[Record],
    ) -> Result<(Vec<Candidate>, u64), SyncError> {
        let mut oldest: BTreeMap<Id, String> = BTreeMap::new();
        for p in window {
            let Some(so) = p.get("sale_id").and_then(odoo::many2one_id) else {
                continue;
            };
            let t = picking_time(p);
            oldest
                .entry(so)
                .and_modify(|o| {
                    if t < *o {
                        o.clone_from(&t);
                    }
                })
                .or_insert(t);
        }
        let so_ids: Vec<Id> = oldest.keys().copied().collect();
        let orders: Vec<Record> = self
            .odoo
            .read("sale.order", &so_ids, &["client_order_ref"])
            .await
            .map_err(odoo_err)?;
        let salla_ids: HashMap<Id, u64> = orders
            .iter()
            .filter_map(|o| {
                let order = salla_order_id(&text(o, "client_order_ref")?, self.merchant)?;
                Some((id_of(o)?, order))
            })
            .collect();
        // `carrier_tracking_ref` and `carrier_id` come with the delivery module; without it the
        // shipment sync keeps Salla's reference in the note.
        let has = self
            .odoo
            .fields_get(
                "stock.picking",
                Some(&["carrier_tracking_ref", "carrier_id"]),
                &["type"],
            )
            .await
            .map_err(odoo_err)?;
        let mut fields = vec!["name", "state", "sale_id", "date_done", "write_date"];
        if has.contains_key("carrier_tracking_ref") {
            fields.push("carrier_tracking_ref");
        } else {
            fields.push("note");
        }
        if has.contains_key("carrier_id") {
            fields.push("carrier_id");
        }
        let all: Vec<Record> = self
            .odoo
            .search_read(
                "stock.picking",
                &Domain::new()
                    .is_in("sale_id", so_ids.iter().copied())
                    .eq("picking_type_code", "outgoing"),
                &fields,
                &SearchOptions::default(),
            )
            .await
            .map_err(odoo_err)?;
        let mut by_order: HashMap<Id, Vec<&Record>> = HashMap::new();
        for p in &all {
            if let Some(so) = p.get("sale_id").and_then(odoo::many2one_id) {
                by_order.entry(so).or_default().push(p);
            }
        }
        let mut partial = 0;
        let mut out = Vec::new();
        for (so, oldest) in oldest {
            let Some(&order) = salla_ids.get(&so) else {
                continue;
            };
            let pickings = by_order.remove(&so).unwrap_or_default();
            let state = |p: &Record| text(p, "state").unwrap_or_default();
            if pickings
                .iter()
                .any(|p| !matches!(state(p).as_str(), "done" | "cancel"))
            {
                partial += 1;
                continue;
            }
            let mut done: Vec<&Record> = pickings
                .into_iter()
                .filter(|p| state(p) == "done")
                .collect();
            // The most recently validated first.
            done.sort_by_key(|p| std::cmp::Reverse((text(p, "date_done"), id_of(p))));
            let Some(picking) = done.first().and_then(|p| id_of(p)) else {
                continue; // every delivery cancelled: nothing was delivered
            };
            let tracked = done.iter().find_map(|p| {
                let reference = text(p, "carrier_tracking_ref")
                    .or_else(|| text(p, "note").and_then(|n| reference_in_note(&n)))?;
                let carrier = p
                    .get("carrier_id")
                    .and_then(Value::as_array)
                    .and_then(|a| a.get(1))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Some((reference, carrier))
            });
            let (reference, carrier) = tracked.map_or((None, None), |(r, c)| (Some(r), c));
            out.push(Candidate {
                order,
                sale_order: so,
                picking,
                oldest,
                reference,
                carrier,
            });
        }
        out.sort_by(|a, b| a.oldest.cmp(&b.oldest).then(a.order.cmp(&b.order)));
        Ok((out, partial))
    }

    /// One delivered order (see the module docs, step 3), with Salla's status when it was read.
    async fn report_order(
        &self,
        c: &Candidate,
        requests: &mut u64,
    ) -> Result<(Outcome, Option<String>), SyncError> {
        let row = id_map::get(self.pool, self.merchant, ENTITY, c.order)
            .await
            .map_err(store_err)?;
        if row.as_ref().is_some_and(|r| r.odoo_model == SETTLED) {
            return Ok((Outcome::Already, None));
        }
        if self.dry_run {
            return self.decide_and_send(c, row, requests).await;
        }
        let key = format!("order:{}", c.order);
        let Some(lock) = locks::try_lock(self.pool, self.merchant, &key)
            .await
            .map_err(store_err)?
        else {
            return Ok((
                Outcome::Retry(format!("order {} is being synced right now", c.order)),
                None,
            ));
        };
        let result = async {
            // Again under the lock: a sync job of the order may have settled it meanwhile.
            let row = id_map::get(self.pool, self.merchant, ENTITY, c.order)
                .await
                .map_err(store_err)?;
            if row.as_ref().is_some_and(|r| r.odoo_model == SETTLED) {
                return Ok((Outcome::Already, None));
            }
            self.decide_and_send(c, row, requests).await
        }
        .await;
        if let Err(e) = lock.release().await {
            tracing::warn!(error = %e, "order lock release failed (its connection is closed instead)");
        }
        result
    }

    async fn decide_and_send(
        &self,
        c: &Candidate,
        row: Option<id_map::Mapping>,
        requests: &mut u64,
    ) -> Result<(Outcome, Option<String>), SyncError> {
        let order_id = c.order;
        *requests += 1;
        let read =
            self.access
                .request(
                    self.merchant,
                    EndpointClass::General,
                    |api, token| async move {
                        api.merchant(&token).order(order_id).await.map(|r| r.data)
                    },
                )
                .await;
        let order = match read {
            Ok(Answer::Data(o)) => o,
            Ok(Answer::NotFound) => {
                self.record(c, SETTLED, 0).await?;
                return Ok((Outcome::Skipped("not_found", None), None));
            }
            Ok(Answer::Unavailable(why)) => return Ok((Outcome::Stop(why), None)),
            Err(e @ SyncError::Throttled { .. }) => {
                return Ok((Outcome::Stop(e.to_string()), None));
            }
            // A transient failure, or an order Salla's answer cannot be read for: this order only.
            Err(e) => return Ok((Outcome::Retry(e.to_string()), None)),
        };
        let current = order.status.as_ref().and_then(|s| s.slug.clone());
        let code = slug_code(self.target);
        let sent = row
            .as_ref()
            .filter(|r| r.odoo_model == SENDING)
            .map(|r| r.source_version);
        let skipped = |reason: &'static str| Outcome::Skipped(reason, None);
        let outcome = match decide(current.as_deref(), self.target) {
            // The status sent by an earlier run whose answer was lost: Salla applied it.
            Move::AlreadyThere if sent == Some(code) => {
                self.record(c, SETTLED, code).await?;
                Outcome::Reported
            }
            Move::AlreadyThere => {
                self.record(c, SETTLED, sent.unwrap_or(0)).await?;
                skipped("already_there")
            }
            Move::Terminal => {
                self.record(c, SETTLED, sent.unwrap_or(0)).await?;
                skipped("terminal")
            }
            Move::Unknown => {
                tracing::warn!(
                    merchant = self.merchant.get(),
                    order = order_id,
                    status = current.as_deref().unwrap_or(""),
                    "fulfilment: Salla's status of the order has no known place; left as it is"
                );
                self.record(c, SETTLED, sent.unwrap_or(0)).await?;
                skipped("unknown_status")
            }
            Move::Set if self.dry_run => Outcome::WouldReport,
            Move::Set => self.send(c, row.is_none(), requests).await?,
        };
        Ok((outcome, current))
    }

    /// `POST /orders/{id}/status`, recorded as sending first.
    async fn send(
        &self,
        c: &Candidate,
        first: bool,
        requests: &mut u64,
    ) -> Result<Outcome, SyncError> {
        let order_id = c.order;
        let code = slug_code(self.target);
        self.record(c, SENDING, code).await?;
        let mut change = StatusChange::slug(self.target);
        if let Some(note) = status_note(c.reference.as_deref(), c.carrier.as_deref()) {
            change = change.with_note(note);
        }
        let change = &change;
        *requests += 1;
        let answer = self
            .access
            .request(
                self.merchant,
                EndpointClass::General,
                |api, token| async move {
                    match api
                        .merchant(&token)
                        .set_order_status(order_id, change)
                        .await
                    {
                        Ok(r) => Ok(Ok(r.data)),
                        Err(e) if refused(&e) => Ok(Err(e.to_string())),
                        Err(e) => Err(e),
                    }
                },
            )
            .await;
        // Nothing reached Salla: the row is taken back (a later webhook is no echo).
        let not_sent = |why: String| async move {
            if first {
                id_map::delete(self.pool, self.merchant, ENTITY, order_id)
                    .await
                    .map_err(store_err)?;
            }
            Ok::<_, SyncError>(Outcome::Stop(why))
        };
        match answer {
            Ok(Answer::Data(Ok(_ack))) => {
                self.record(c, SETTLED, code).await?;
                Ok(Outcome::Reported)
            }
            Ok(Answer::Data(Err(why))) => {
                tracing::warn!(
                    merchant = self.merchant.get(),
                    order = order_id,
                    error = %why,
                    "fulfilment: Salla refused the order's status; it is not tried again"
                );
                self.record(c, SETTLED, 0).await?;
                Ok(Outcome::Skipped("refused", Some(why)))
            }
            Ok(Answer::NotFound) => {
                self.record(c, SETTLED, 0).await?;
                Ok(Outcome::Skipped("not_found", None))
            }
            Ok(Answer::Unavailable(why)) => not_sent(why).await,
            Err(e @ SyncError::Throttled { .. }) => not_sent(e.to_string()).await,
            // A lost answer too: the next run reads Salla first.
            Err(e @ SyncError::Transient { .. }) => Ok(Outcome::Retry(e.to_string())),
            // A missing scope, the app's configuration: not this order's problem.
            Err(e) => Err(e),
        }
    }

    /// Write the order's row (`version` below the stored one replaces it: the id map never lowers).
    async fn record(&self, c: &Candidate, model: &str, version: i64) -> Result<(), SyncError> {
        if self.dry_run {
            return Ok(());
        }
        let stored = id_map::get(self.pool, self.merchant, ENTITY, c.order)
            .await
            .map_err(store_err)?;
        if stored.is_some_and(|s| s.source_version > version) {
            id_map::delete(self.pool, self.merchant, ENTITY, c.order)
                .await
                .map_err(store_err)?;
        }
        id_map::put(
            self.pool,
            self.merchant,
            ENTITY,
            c.order,
            model,
            c.picking,
            version,
        )
        .await
        .map_err(store_err)?;
        Ok(())
    }
}

/// Salla refused this change of this order (validation): sending it again would fail the same way.
fn refused(e: &ApiError) -> bool {
    e.class() == ErrorClass::Permanent && matches!(e.status(), Some(400 | 409 | 422))
}

fn skip_metric(reason: &'static str) {
    metrics::counter!("salla_odoo_fulfilment_skipped_total", "reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_codes_match_the_sync() {
        // Pinned: crates/sync/src/status.rs (fulfilment_code) must give the same numbers.
        assert_eq!(slug_code("delivered"), 2_670_143_688_065_248_900);
        assert_eq!(slug_code(" delivered "), slug_code("delivered"));
        assert_ne!(slug_code("delivered"), slug_code("completed"));
        assert!(slug_code("") > 0);
    }

    #[test]
    fn never_backwards_never_over_terminal() {
        use Move::*;
        let d = |c: &str, t: &str| decide(Some(c), t);
        assert_eq!(d("in_progress", "delivered"), Set);
        assert_eq!(d("under_review", "delivered"), Set);
        assert_eq!(d("shipped", "delivered"), Set);
        assert_eq!(d("delivered", "delivered"), AlreadyThere);
        assert_eq!(d("completed", "delivered"), AlreadyThere);
        assert_eq!(d("delivering", "shipped"), AlreadyThere);
        assert_eq!(d("delivered", "completed"), Set);
        for t in ["canceled", "restored", "restoring"] {
            assert_eq!(d(t, "delivered"), Terminal);
        }
        assert_eq!(d("something_new", "delivered"), Unknown);
        assert_eq!(decide(None, "delivered"), Unknown);
        assert_eq!(
            d("in_progress", "canceled"),
            Unknown,
            "a terminal target is refused"
        );
        assert_eq!(d("in_progress", "my_custom"), Unknown);
    }

    #[test]
    fn notes_carry_the_tracking_and_nothing_else() {
        assert_eq!(
            status_note(Some(" 1Z999 "), Some("Aramex")).as_deref(),
            Some("Shipped: tracking 1Z999 (Aramex)")
        );
        assert_eq!(
            status_note(Some("1Z999"), None).as_deref(),
            Some("Shipped: tracking 1Z999")
        );
        assert_eq!(status_note(None, Some("Aramex")), None);
        assert_eq!(status_note(Some("  "), None), None);
        let long = "X".repeat(200);
        assert_eq!(
            status_note(Some(&long), Some("<b>\nSMSA")).unwrap(),
            format!("Shipped: tracking {} (bSMSA)", "X".repeat(NOTE_FIELD_MAX))
        );
    }

    #[test]
    fn the_shipment_paragraph_of_the_note_gives_the_reference() {
        let note = "<p>keep</p><p>[salla-shipment] reference: AB&amp;1 | tracking: https://t/1</p>";
        assert_eq!(reference_in_note(note).as_deref(), Some("AB&1"));
        assert_eq!(
            reference_in_note("<p>[salla-shipment] reference: 77</p>").as_deref(),
            Some("77")
        );
        assert_eq!(
            reference_in_note("<p>[salla-shipment] tracking: https://t/1</p>"),
            None
        );
        assert_eq!(reference_in_note("<p>reference: 9</p>"), None);
    }

    #[test]
    fn the_window_overlaps_the_watermark() {
        let now = time::macros::datetime!(2026-12-07 10:00:00 UTC);
        assert_eq!(
            window_start(Some("2026-12-07 09:30:05"), now),
            "2026-12-07 09:20:05"
        );
        assert_eq!(window_start(None, now), "2026-12-06 10:00:00");
        assert_eq!(window_start(Some("garbage"), now), "garbage");
        assert_eq!(
            salla_order_id("salla:42:1001", MerchantId::new(42)),
            Some(1001)
        );
        assert_eq!(salla_order_id("salla:43:1001", MerchantId::new(42)), None);
    }
}
