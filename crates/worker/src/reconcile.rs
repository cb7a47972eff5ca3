//! Reconciliation: no webhook is needed for correctness.
//!
//! Salla resends a failed webhook three times, then the event is gone. A reconciliation run lists
//! the orders Salla changed since the store's watermark (`GET /orders` sorted by `updated_at`,
//! newest first, page by page until the orders are older than the window), compares each with the
//! id map's source version, and queues a job for every order Odoo lacks or holds in an older version
//! — through the same queue, dedupe and handlers as a webhook (kind `order.status`, event
//! [`EVENT`], the order as `GET /orders/{id}` returns it: the handler creates or updates the
//! quotation and applies its status).
//!
//! # State and failure handling
//! The watermark (`salla_odoo_store::reconcile`) is Salla's `updated_at` up to which every changed
//! order was checked and, where needed, queued. A run looks back from `watermark − overlap` (the
//! overlap absorbs clock skew and orders whose `updated_at` lands while the run pages) and moves the
//! watermark to the newest `updated_at` it saw, only after all its jobs are queued; a run that fails
//! part way leaves it, and the next run redoes the window (queueing twice is harmless). One run per
//! store at a time across the fleet (a global lock per store). A store without usable tokens is
//! reported and left alone.

use std::time::{Duration, Instant};

use salla_odoo_core::{
    BodyDigest, EntityKind, EntityRef, JobKind, MerchantId, SallaId, SyncError, SyncJob, SyncJobV1,
};
use salla_odoo_queue::{DedupeKey, Enqueued, Queue};
use salla_odoo_salla::api::{EndpointClass, OrderQuery, OrderSort, OrderSummary};
use salla_odoo_store::Db;
use salla_odoo_sync::idmap::entity;
use salla_odoo_sync::version::salla_date_instant;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::salla::{Answer, SallaAccess};

/// The event name of the jobs reconciliation queues (in the sync log and dead letters).
pub const EVENT: &str = "order.reconciled";

/// What a run found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub merchant: u64,
    /// The window's start (`since − overlap`), RFC 3339.
    pub from: Option<String>,
    /// Orders in the window.
    pub checked: u64,
    /// Not in the id map at all: their webhooks never arrived (or are still queued).
    pub missing: u64,
    /// In the id map with an older source version than Salla's.
    pub stale: u64,
    /// Jobs queued (`missing + stale` less those already queued: the dedupe).
    pub queued: u64,
    pub already_queued: u64,
    /// Salla API requests made.
    pub requests: u64,
    /// The watermark after the run (unchanged on a dry run), RFC 3339.
    pub watermark: Option<String>,
    pub dry_run: bool,
    /// Set when the store's API could not be used: why.
    pub unavailable: Option<String>,
    pub millis: u64,
}

/// How a run is asked for.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Look back from here instead of the stored watermark (`--since`).
    pub since: Option<OffsetDateTime>,
    /// Without a watermark or `since`: how far back the first run looks (the backfill).
    pub first_window: Duration,
    pub overlap: Duration,
    pub dry_run: bool,
}

/// Reconcile one store's orders (see the module docs).
pub async fn reconcile_orders(
    access: &SallaAccess,
    pool: &Db,
    queue: &Queue,
    merchant: MerchantId,
    run: Run,
) -> Result<Report, SyncError> {
    reconcile_orders_with_progress(access, pool, queue, merchant, run, &|_| {}).await
}

/// [`reconcile_orders`], calling `progress` with the report so far after each page listed and
/// each job queued (a backfill's progress line).
pub async fn reconcile_orders_with_progress(
    access: &SallaAccess,
    pool: &Db,
    queue: &Queue,
    merchant: MerchantId,
    run: Run,
    progress: &(dyn Fn(&Report) + Sync),
) -> Result<Report, SyncError> {
    let started = Instant::now();
    let store_err = |e: salla_odoo_store::StoreError| salla_odoo_sync::classify_store(&e);
    let now = OffsetDateTime::now_utc();
    let since = match run.since {
        Some(s) => s,
        None => salla_odoo_store::reconcile::get(pool, merchant)
            .await
            .map_err(store_err)?
            .and_then(|w| w.watermark)
            .unwrap_or(now - run.first_window),
    };
    let from = since - run.overlap;
    let mut report = Report {
        merchant: merchant.get(),
        from: from
            .format(&time::format_description::well_known::Rfc3339)
            .ok(),
        dry_run: run.dry_run,
        ..Report::default()
    };
    let query = OrderQuery {
        sort_by: Some(OrderSort::UpdatedAtDesc),
        per_page: Some(60),
        ..OrderQuery::default()
    };
    let mut newest: Option<OffsetDateTime> = None;
    let mut todo: Vec<u64> = Vec::new();
    let mut patience = PATIENCE;
    let mut page = 1u32;
    'pages: loop {
        report.requests += 1;
        let q = &query;
        let answer = patiently(&mut patience, || {
            access.request(merchant, EndpointClass::General, |api, token| async move {
                api.merchant(&token)
                    .orders_page(q, page)
                    .await
                    .map(|r| r.data)
            })
        })
        .await?;
        let listed = match answer {
            Answer::Data(p) => p,
            Answer::NotFound => break,
            Answer::Unavailable(why) => {
                report.unavailable = Some(why);
                report.millis = started.elapsed().as_millis() as u64;
                return Ok(report);
            }
        };
        // The page's id-map rows in one query.
        let ids: Vec<u64> = listed.items.iter().map(|o| o.id).collect();
        let known = salla_odoo_store::id_map::source_versions(pool, merchant, entity::ORDER, &ids)
            .await
            .map_err(store_err)?;
        let mut past_window = false;
        for order in &listed.items {
            let updated = updated_at(order);
            if updated.is_some_and(|u| u < from) {
                past_window = true;
                break;
            }
            // An order without a date cannot be placed in the window: it is checked anyway.
            report.checked += 1;
            newest = newest.max(updated);
            match (known.get(&order.id), updated) {
                (None, _) => {
                    report.missing += 1;
                    todo.push(order.id);
                }
                (Some(v), Some(u)) if *v < u.unix_timestamp() => {
                    report.stale += 1;
                    todo.push(order.id);
                }
                _ => {}
            }
        }
        if past_window {
            progress(&report);
            break 'pages;
        }
        progress(&report);
        match listed.next_page() {
            Some(next) => page = next,
            None => break,
        }
    }
    if !run.dry_run {
        for id in todo {
            report.requests += 1;
            let path_id = id.to_string();
            let path = ["orders", path_id.as_str()];
            let answer = patiently(&mut patience, || {
                access.get_json(merchant, &path, &[], EndpointClass::General)
            })
            .await?;
            let order = match answer {
                salla_odoo_sync::fetch::Fetched::Found(v) => v,
                salla_odoo_sync::fetch::Fetched::NotFound => continue,
                salla_odoo_sync::fetch::Fetched::Unavailable(why) => {
                    report.unavailable = Some(why);
                    report.millis = started.elapsed().as_millis() as u64;
                    return Ok(report);
                }
            };
            match enqueue(queue, merchant, id, order).await? {
                Enqueued::Queued => report.queued += 1,
                Enqueued::Duplicate => report.already_queued += 1,
            }
            progress(&report);
        }
        // Every job of the window is queued: only now may the watermark move.
        if let Some(newest) = newest {
            salla_odoo_store::reconcile::advance(pool, merchant, newest)
                .await
                .map_err(store_err)?;
        }
    }
    let watermark = salla_odoo_store::reconcile::get(pool, merchant)
        .await
        .map_err(store_err)?
        .and_then(|w| w.watermark);
    report.watermark = watermark.and_then(|w| {
        w.format(&time::format_description::well_known::Rfc3339)
            .ok()
    });
    report.millis = started.elapsed().as_millis() as u64;
    metrics::counter!("salla_odoo_reconcile_orders_checked_total").increment(report.checked);
    metrics::counter!("salla_odoo_reconcile_orders_missing_total").increment(report.missing);
    metrics::counter!("salla_odoo_reconcile_orders_stale_total").increment(report.stale);
    metrics::counter!("salla_odoo_reconcile_jobs_queued_total").increment(report.queued);
    if let Some(w) = watermark {
        metrics::gauge!("salla_odoo_reconcile_watermark_age_seconds", "merchant" => merchant.to_string())
            .set((OffsetDateTime::now_utc() - w).as_seconds_f64().max(0.0));
    }
    if report.missing > 0 {
        tracing::warn!(
            merchant = merchant.get(),
            missing = report.missing,
            stale = report.stale,
            "reconciliation found orders whose webhooks never arrived"
        );
    }
    Ok(report)
}

/// How long one run waits, in all, for the store's Salla budget. A run is background work, not a
/// job: it waits for budget instead of giving up (a store on the Plus plan, 120 requests a minute,
/// needs more than a minute for a window of 7,000 changed orders), so a large window still
/// completes and its watermark moves.
const PATIENCE: Duration = Duration::from_secs(30 * 60);

/// `call`, again after the wait, while it is throttled (the store's budget is spent, or Salla
/// answered 429) and the run's `patience` lasts.
async fn patiently<T, F, Fut>(patience: &mut Duration, mut call: F) -> Result<T, SyncError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SyncError>>,
{
    loop {
        match call().await {
            Err(SyncError::Throttled { retry_after, .. }) if retry_after <= *patience => {
                *patience -= retry_after;
                tokio::time::sleep(retry_after).await;
            }
            other => return other,
        }
    }
}

fn updated_at(order: &OrderSummary) -> Option<OffsetDateTime> {
    order.updated_at.as_ref().and_then(salla_date_instant)
}

/// Queue the order as a job of its own, deduplicated on its content like a webhook.
async fn enqueue(
    queue: &Queue,
    merchant: MerchantId,
    id: u64,
    order: Value,
) -> Result<Enqueued, SyncError> {
    let body = serde_json::to_vec(&order).unwrap_or_default();
    let digest = BodyDigest::of(&body);
    let dedupe = DedupeKey::new(merchant, EVENT, &digest);
    let created_at = order
        .get("updated_at")
        .and_then(|u| u.get("date").or(Some(u)))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(19)
        .collect::<String>();
    let job = SyncJob::V1(SyncJobV1 {
        id: Uuid::now_v7(),
        kind: JobKind::OrderStatus,
        merchant,
        event: EVENT.to_owned(),
        entity: Some(EntityRef {
            kind: EntityKind::Order,
            id: SallaId::new(id),
        }),
        digest,
        salla_created_at: created_at,
        received_at: OffsetDateTime::now_utc(),
        attempt: 0,
        data: order,
        history: Vec::new(),
        trace: None,
    });
    queue
        .enqueue(&job, &dedupe)
        .await
        .map_err(|e| SyncError::Transient {
            message: format!("reconciliation could not queue order {id}: {e}"),
            retry_after: None,
        })
}

/// The scheduled reconciliation: every `interval`, each installed store with Salla tokens is
/// reconciled by at most one worker of the fleet at a time (a global lock per store); a store whose
/// lock is held is skipped this round.
pub async fn reconcile_loop(
    access: SallaAccess,
    pool: Db,
    queue: Queue,
    interval: Duration,
    run: Run,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate: let the worker settle first
    loop {
        tick.tick().await;
        for merchant in crate::salla::api_stores(&pool, "reconciliation").await {
            let id = merchant.get();
            let name = format!("reconcile/{merchant}");
            let lock = match salla_odoo_store::locks::try_lock_global(&pool, &name).await {
                Ok(Some(lock)) => lock,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "reconciliation lock unavailable");
                    continue;
                }
            };
            match reconcile_orders(&access, &pool, &queue, merchant, run).await {
                Ok(r) => tracing::info!(
                    merchant = id,
                    checked = r.checked,
                    missing = r.missing,
                    stale = r.stale,
                    queued = r.queued,
                    "reconciliation run"
                ),
                Err(e) => tracing::warn!(merchant = id, error = %e, "reconciliation run failed"),
            }
            let _ = lock.release().await;
        }
    }
}

/// A new store's first reconciliation, started when its first `app.store.authorize` is applied
/// (its backfill: `run.first_window` back), in the background, one run per store across the fleet.
#[derive(Clone)]
pub struct Backfill {
    pub access: SallaAccess,
    pub pool: Db,
    pub queue: Queue,
    pub run: Run,
}

impl Backfill {
    /// Start the store's backfill unless it was reconciled before (it has a watermark).
    pub async fn start_if_new(&self, merchant: MerchantId) {
        match salla_odoo_store::reconcile::get(&self.pool, merchant).await {
            Ok(Some(w)) if w.watermark.is_some() => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "backfill not started: database unavailable");
                return;
            }
        }
        let this = self.clone();
        tokio::spawn(async move {
            let name = format!("reconcile/{merchant}");
            let Ok(Some(lock)) = salla_odoo_store::locks::try_lock_global(&this.pool, &name).await
            else {
                return;
            };
            match reconcile_orders(&this.access, &this.pool, &this.queue, merchant, this.run).await
            {
                Ok(r) => tracing::info!(
                    merchant = merchant.get(),
                    checked = r.checked,
                    queued = r.queued,
                    "backfill of a new store"
                ),
                Err(e) => {
                    tracing::warn!(merchant = merchant.get(), error = %e, "backfill failed; the scheduled reconciliation retries")
                }
            }
            let _ = lock.release().await;
        });
    }
}
