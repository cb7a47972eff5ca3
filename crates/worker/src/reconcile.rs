//! Reconciliation: no webhook is needed for correctness.
//!
//! Salla resends a failed webhook three times, then the event is gone. A reconciliation run checks a
//! store's orders, products and customers against the id map and queues a job for every one Odoo
//! lacks (**missing**) or holds in an older version (**stale**), through the same queue, dedupe and
//! handlers as a webhook:
//!
//! - **Orders** changed since the store's watermark: `GET /orders` sorted by `updated_at`, newest
//!   first, page by page until the orders are older than the window; each job is kind
//!   `order.status`, event [`EVENT`], the order as `GET /orders/{id}` returns it (the handler
//!   creates or updates the quotation and applies its status). The products those orders use
//!   (`items[].product.id`) that Odoo lacks are queued first, as [`PRODUCT_EVENT`] jobs, so a store
//!   without `--create-unknown-skus` can sync them; see "Orders wait for their products" below.
//! - **Products** ([`Scope::products`]): Salla cannot list them by update (`GET /products` has no
//!   date filter or sort), so the whole list is read, 60 a page, at most
//!   [`PRODUCT_PAGES_PER_RUN`] pages a run (a longer list is finished by the next runs). Each job
//!   is kind `product.upsert`, event [`PRODUCT_EVENT`], the product as `GET /products/{id}`
//!   returns it (with its variants): what a full `product.updated` webhook carries, so the handler
//!   creates or updates it exactly as for the webhook (stock quantities only where Salla is the
//!   stock master).
//! - **Customers** ([`Scope::customers`]): likewise over `GET /customers` (no date filter either),
//!   at most [`CUSTOMER_PAGES_PER_RUN`] pages a run, because customer endpoints have their own
//!   small budget (500 requests per 10 minutes). Each job is kind `customer.upsert`, event
//!   [`CUSTOMER_EVENT`], the customer as the list gives it (the same object as
//!   `GET /customers/{id}`: no request per customer).
//!
//! A store without an Odoo connection has its orders reconciled (their jobs say what is missing)
//! but not its products and customers, whose every job would be dead-lettered. A backfill
//! ([`Scope::BACKFILL`]) reconciles the orders of its window and the products they use, not the
//! whole product and customer lists.
//!
//! # State and failure handling
//! The orders' watermark (`salla_odoo_store::reconcile`) is Salla's `updated_at` up to which every
//! changed order was checked and, where needed, queued. A run looks back from `watermark − overlap`
//! (the overlap absorbs clock skew and orders whose `updated_at` lands while the run pages) and
//! moves the watermark to the newest `updated_at` it saw, only after all its order jobs are queued;
//! a run that fails part way leaves it, and the next run redoes the window (queueing twice is
//! harmless). Products and customers have a watermark each: when their last complete pass began.
//! A pass that stops at its page limit records the page it resumes at; it moves on, and finally
//! moves the watermark, only after the jobs of the pages read are queued. One run per store at a
//! time across the fleet (a global lock per store). A store without usable tokens is reported and
//! left alone.
//!
//! # Orders wait for their products
//! On a store without `--create-unknown-skus` an order whose product Odoo lacks fails for good
//! ("unknown SKU"), and workers run a store's jobs concurrently. So when a run queued products that
//! its orders use, it waits until they are in the id map before it queues those orders — as long
//! as workers are alive and each wait keeps progressing (one product imported every
//! [`PRODUCT_WAIT`] at least). A wait that ends early queues the orders anyway and says so in the
//! report (`products.pending`); later runs do not wait again.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use salla_odoo_core::{
    BodyDigest, EntityKind, EntityRef, JobKind, MerchantId, SallaId, SyncError, SyncJob, SyncJobV1,
};
use salla_odoo_queue::{DedupeKey, Enqueued, Queue};
use salla_odoo_salla::api::{
    EndpointClass, MAX_PER_PAGE, OrderQuery, OrderSort, OrderSummary, Page,
};
use salla_odoo_salla::lenient::{self, SallaDate};
use salla_odoo_store::Db;
use salla_odoo_store::reconcile::{ListEntity, SyncScope};
use salla_odoo_sync::fetch::Fetched;
use salla_odoo_sync::idmap::entity;
use salla_odoo_sync::version::salla_date_instant;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::salla::{Answer, SallaAccess};

/// The event name of the order jobs reconciliation queues (in the sync log and dead letters).
pub const EVENT: &str = "order.reconciled";
/// The event name of the product jobs reconciliation and backfills queue.
pub const PRODUCT_EVENT: &str = "product.reconciled";
/// The event name of the customer jobs reconciliation queues.
pub const CUSTOMER_EVENT: &str = "customer.reconciled";

/// Pages of `GET /products` (60 products each) a run reads at most; a longer list is read on by
/// the next runs (6,000 products a run: 100 requests of the store's budget, and one more per
/// product queued).
pub const PRODUCT_PAGES_PER_RUN: u32 = 100;
/// Pages of `GET /customers` (60 customers each) a run reads at most: 50 of the 500 requests per
/// 10 minutes Salla allows customer endpoints (3,000 customers a run).
pub const CUSTOMER_PAGES_PER_RUN: u32 = 50;
/// How long orders wait for their products without one of them arriving in Odoo.
pub const PRODUCT_WAIT: Duration = Duration::from_secs(60);
/// Orders fetched, then queued (after their products), at a time.
const ORDER_CHUNK: usize = 60;

/// What a run found and did. The order counts are the top-level fields (as before products and
/// customers were reconciled); `products` and `customers` have their own.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub merchant: u64,
    /// The orders' window start (`since − overlap`), RFC 3339.
    pub from: Option<String>,
    /// Orders in the window.
    pub checked: u64,
    /// Not in the id map at all: their webhooks never arrived (or are still queued).
    pub missing: u64,
    /// In the id map with an older source version than Salla's.
    pub stale: u64,
    /// Order jobs queued (`missing + stale` less those already queued: the dedupe).
    pub queued: u64,
    pub already_queued: u64,
    /// Salla API requests made (orders, products and customers).
    pub requests: u64,
    /// The orders' watermark after the run (unchanged on a dry run), RFC 3339.
    pub watermark: Option<String>,
    pub dry_run: bool,
    /// Set when the store's API could not be used: why.
    pub unavailable: Option<String>,
    pub millis: u64,
    pub products: EntityReport,
    pub customers: EntityReport,
}

/// What a run found and did for products or customers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EntityReport {
    /// Listed and compared with the id map (products: also those the run's orders use).
    pub checked: u64,
    /// Not in the id map at all.
    pub missing: u64,
    /// In the id map with an older source version than Salla's.
    pub stale: u64,
    /// Jobs queued.
    pub queued: u64,
    pub already_queued: u64,
    /// Products: of `missing`, those found because the run's orders use them.
    pub for_orders: u64,
    /// Products: queued for the run's orders and not yet in Odoo when those orders were queued
    /// (0 unless a wait for them ended early).
    pub pending: u64,
    /// Where the unfinished pass resumes next run (`None`: the list was read to its end).
    pub next_page: Option<u32>,
    /// When the last complete pass began, after the run, RFC 3339.
    pub watermark: Option<String>,
    /// Why the whole list was not reconciled in this run (not asked, no Odoo connection).
    pub skipped: Option<String>,
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

/// Which lists a run reads besides the orders of its window (and the products they use, which
/// every run that queues orders checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// Every product (`GET /products`).
    pub products: bool,
    /// Every customer (`GET /customers`).
    pub customers: bool,
}

impl Scope {
    /// Orders, products and customers: the scheduled run and `salla-odoo reconcile`.
    pub const ALL: Scope = Scope {
        products: true,
        customers: true,
    };
    /// The orders of the window and the products they use: a backfill.
    pub const BACKFILL: Scope = Scope {
        products: false,
        customers: false,
    };
}

/// Reconcile one store (see the module docs).
pub async fn reconcile(
    access: &SallaAccess,
    pool: &Db,
    queue: &Queue,
    merchant: MerchantId,
    run: Run,
    scope: Scope,
) -> Result<Report, SyncError> {
    reconcile_with_progress(access, pool, queue, merchant, run, scope, &|_| {}).await
}

/// The orders of the window and the products they use ([`reconcile`] with [`Scope::BACKFILL`]: no
/// pass over the product and customer lists).
pub async fn reconcile_orders(
    access: &SallaAccess,
    pool: &Db,
    queue: &Queue,
    merchant: MerchantId,
    run: Run,
) -> Result<Report, SyncError> {
    reconcile(access, pool, queue, merchant, run, Scope::BACKFILL).await
}

/// [`reconcile`], calling `progress` with the report so far after each page listed, each job
/// queued and each second of a wait for products (a backfill's progress line).
pub async fn reconcile_with_progress(
    access: &SallaAccess,
    pool: &Db,
    queue: &Queue,
    merchant: MerchantId,
    run: Run,
    scope: Scope,
    progress: &(dyn Fn(&Report) + Sync),
) -> Result<Report, SyncError> {
    let started = Instant::now();
    let mut r = Runner {
        access,
        pool,
        queue,
        merchant,
        run,
        progress,
        report: Report {
            merchant: merchant.get(),
            dry_run: run.dry_run,
            ..Report::default()
        },
        patience: PATIENCE,
        seen_products: HashSet::new(),
        queued_products: HashSet::new(),
        wait_for_products: true,
    };
    let finished = r.execute(scope).await;
    r.report.millis = started.elapsed().as_millis() as u64;
    finished?;
    r.metrics().await;
    Ok(r.report)
}

/// One run's state.
struct Runner<'a> {
    access: &'a SallaAccess,
    pool: &'a Db,
    queue: &'a Queue,
    merchant: MerchantId,
    run: Run,
    progress: &'a (dyn Fn(&Report) + Sync),
    report: Report,
    /// What is left of [`PATIENCE`].
    patience: Duration,
    /// Products compared with the id map in this run.
    seen_products: HashSet<u64>,
    /// Products whose job this run queued (or found queued).
    queued_products: HashSet<u64>,
    /// False once a wait for products ended early: the run does not wait again.
    wait_for_products: bool,
}

/// Whether a step may go on (`false`: the store's API became unavailable; the report says why).
type Go = bool;

fn store_err(e: salla_odoo_store::StoreError) -> SyncError {
    salla_odoo_sync::classify_store(&e)
}

fn rfc3339(t: OffsetDateTime) -> Option<String> {
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// An item of `GET /products` or `GET /customers`: what the comparison needs.
#[derive(serde::Deserialize)]
struct Listed {
    #[serde(deserialize_with = "lenient::id")]
    id: u64,
    #[serde(default)]
    updated_at: Option<SallaDate>,
}

impl Runner<'_> {
    async fn execute(&mut self, scope: Scope) -> Result<(), SyncError> {
        let sync = salla_odoo_store::reconcile::sync_scope(self.pool, self.merchant)
            .await
            .map_err(store_err)?
            .unwrap_or(SyncScope {
                has_odoo: false,
                create_unknown_skus: false,
            });
        let Some((todo, newest)) = self.list_orders().await? else {
            return Ok(());
        };
        if !self.run.dry_run {
            if !self.queue_orders(&todo, sync).await? {
                return Ok(());
            }
            // Every order job of the window is queued: only now may the watermark move.
            if let Some(newest) = newest {
                salla_odoo_store::reconcile::advance(self.pool, self.merchant, newest)
                    .await
                    .map_err(store_err)?;
            }
        }
        let watermark = salla_odoo_store::reconcile::get(self.pool, self.merchant)
            .await
            .map_err(store_err)?
            .and_then(|w| w.watermark);
        self.report.watermark = watermark.and_then(rfc3339);
        for (entity, wanted) in [
            (ListEntity::Products, scope.products),
            (ListEntity::Customers, scope.customers),
        ] {
            let skipped = if !wanted {
                Some("not part of this run (a backfill: the orders' products only)")
            } else if !sync.has_odoo {
                Some("the store has no Odoo connection")
            } else {
                None
            };
            if let Some(why) = skipped {
                self.entity(entity).skipped = Some(why.to_owned());
            } else if !self.pass(entity).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    fn entity(&mut self, entity: ListEntity) -> &mut EntityReport {
        match entity {
            ListEntity::Products => &mut self.report.products,
            ListEntity::Customers => &mut self.report.customers,
        }
    }

    fn show(&self) {
        (self.progress)(&self.report);
    }

    fn unavailable(&mut self, why: String) -> Go {
        self.report.unavailable = Some(why);
        false
    }

    /// The orders of the window Odoo lacks or holds in an older version, and the newest
    /// `updated_at` seen; `None` when the API is unavailable.
    async fn list_orders(
        &mut self,
    ) -> Result<Option<(Vec<u64>, Option<OffsetDateTime>)>, SyncError> {
        let now = OffsetDateTime::now_utc();
        let since = match self.run.since {
            Some(s) => s,
            None => salla_odoo_store::reconcile::get(self.pool, self.merchant)
                .await
                .map_err(store_err)?
                .and_then(|w| w.watermark)
                .unwrap_or(now - self.run.first_window),
        };
        let from = since - self.run.overlap;
        self.report.from = rfc3339(from);
        let query = OrderQuery {
            sort_by: Some(OrderSort::UpdatedAtDesc),
            per_page: Some(MAX_PER_PAGE),
            ..OrderQuery::default()
        };
        let mut newest: Option<OffsetDateTime> = None;
        let mut todo: Vec<u64> = Vec::new();
        let mut page = 1u32;
        loop {
            self.report.requests += 1;
            let (access, merchant, q) = (self.access, self.merchant, &query);
            let answer = patiently(&mut self.patience, || {
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
                    self.unavailable(why);
                    return Ok(None);
                }
            };
            // The page's id-map rows in one query.
            let ids: Vec<u64> = listed.items.iter().map(|o| o.id).collect();
            let known = salla_odoo_store::id_map::source_versions(
                self.pool,
                self.merchant,
                entity::ORDER,
                &ids,
            )
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
                self.report.checked += 1;
                newest = newest.max(updated);
                match (known.get(&order.id), updated) {
                    (None, _) => {
                        self.report.missing += 1;
                        todo.push(order.id);
                    }
                    (Some(v), Some(u)) if *v < u.unix_timestamp() => {
                        self.report.stale += 1;
                        todo.push(order.id);
                    }
                    _ => {}
                }
            }
            self.show();
            if past_window {
                break;
            }
            match listed.next_page() {
                Some(next) => page = next,
                None => break,
            }
        }
        Ok(Some((todo, newest)))
    }

    /// `GET` one object as JSON (a request of the run).
    async fn fetch(&mut self, what: &str, id: u64) -> Result<Fetched, SyncError> {
        self.report.requests += 1;
        let id = id.to_string();
        let path = [what, id.as_str()];
        let (access, merchant) = (self.access, self.merchant);
        patiently(&mut self.patience, || {
            access.get_json(merchant, &path, &[], EndpointClass::General)
        })
        .await
    }

    /// Fetch the orders to queue, a chunk at a time: first the products they use that Odoo lacks
    /// (and, where orders cannot create them, a wait for those), then the orders.
    async fn queue_orders(&mut self, todo: &[u64], sync: SyncScope) -> Result<Go, SyncError> {
        for chunk in todo.chunks(ORDER_CHUNK) {
            let mut orders = Vec::with_capacity(chunk.len());
            for &id in chunk {
                match self.fetch("orders", id).await? {
                    Fetched::Found(order) => orders.push((id, order)),
                    Fetched::NotFound => {}
                    Fetched::Unavailable(why) => return Ok(self.unavailable(why)),
                }
            }
            // Without an Odoo connection every job fails alike: no product jobs besides.
            let used: BTreeSet<u64> = if sync.has_odoo {
                orders.iter().flat_map(|(_, o)| order_products(o)).collect()
            } else {
                BTreeSet::new()
            };
            let Some(awaited) = self.products_for_orders(&used).await? else {
                return Ok(false);
            };
            if !awaited.is_empty() && !sync.create_unknown_skus {
                self.await_products(awaited).await?;
            }
            for (id, order) in orders {
                match enqueue(self.queue, self.merchant, Kind::Order, id, order).await? {
                    Enqueued::Queued => self.report.queued += 1,
                    Enqueued::Duplicate => self.report.already_queued += 1,
                }
                self.show();
            }
        }
        Ok(true)
    }

    /// Queue the products of `used` that Odoo lacks (those this run did not check yet); the
    /// products of `used` queued and not in the id map yet, which the orders should wait for.
    /// `None` when the API is unavailable.
    async fn products_for_orders(
        &mut self,
        used: &BTreeSet<u64>,
    ) -> Result<Option<Vec<u64>>, SyncError> {
        let ids: Vec<u64> = used.iter().copied().collect();
        let known = salla_odoo_store::id_map::source_versions(
            self.pool,
            self.merchant,
            entity::PRODUCT,
            &ids,
        )
        .await
        .map_err(store_err)?;
        let mut awaited = Vec::new();
        for id in ids {
            if known.contains_key(&id) {
                continue;
            }
            if self.seen_products.insert(id) {
                self.report.products.checked += 1;
                self.report.products.missing += 1;
                self.report.products.for_orders += 1;
                if !self.queue_product(id).await? {
                    return Ok(None);
                }
            }
            if self.queued_products.contains(&id) {
                awaited.push(id);
            }
        }
        Ok(Some(awaited))
    }

    /// Fetch the product and queue its job (`false`: the API is unavailable).
    async fn queue_product(&mut self, id: u64) -> Result<Go, SyncError> {
        let product = match self.fetch("products", id).await? {
            Fetched::Found(p) => p,
            // Deleted since it was listed or sold: nothing to import.
            Fetched::NotFound => return Ok(true),
            Fetched::Unavailable(why) => return Ok(self.unavailable(why)),
        };
        match enqueue(self.queue, self.merchant, Kind::Product, id, product).await? {
            Enqueued::Queued => self.report.products.queued += 1,
            Enqueued::Duplicate => self.report.products.already_queued += 1,
        }
        self.queued_products.insert(id);
        self.show();
        Ok(true)
    }

    /// Wait until the `awaited` products are in the id map, while workers are alive and the wait
    /// progresses (see the module docs); what is still missing at the end is `products.pending`.
    async fn await_products(&mut self, mut awaited: Vec<u64>) -> Result<(), SyncError> {
        if !self.wait_for_products {
            self.report.products.pending += awaited.len() as u64;
            return Ok(());
        }
        let alive = match self.queue.depth(PRODUCT_WAIT).await {
            Ok(d) => d.workers_alive > 0,
            // The queue just took the jobs; when it cannot say, wait as if a worker were alive.
            Err(_) => true,
        };
        let mut progressed = Instant::now();
        while alive && !awaited.is_empty() && progressed.elapsed() < PRODUCT_WAIT {
            self.report.products.pending = awaited.len() as u64;
            self.show();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mapped = salla_odoo_store::id_map::source_versions(
                self.pool,
                self.merchant,
                entity::PRODUCT,
                &awaited,
            )
            .await
            .map_err(store_err)?;
            if !mapped.is_empty() {
                awaited.retain(|id| !mapped.contains_key(id));
                progressed = Instant::now();
            }
        }
        self.report.products.pending = 0;
        if !awaited.is_empty() {
            tracing::warn!(
                merchant = self.merchant.get(),
                products = awaited.len(),
                workers_alive = alive,
                "orders queued before the products they use reached Odoo"
            );
            self.report.products.pending = awaited.len() as u64;
            self.wait_for_products = false;
        }
        Ok(())
    }

    /// A pass over Salla's whole list of `entity`, resumed where the last run stopped, at most
    /// its pages-per-run limit; queue what Odoo lacks or holds in an older version.
    async fn pass(&mut self, what: ListEntity) -> Result<Go, SyncError> {
        let (path, class, map_entity, limit) = match what {
            ListEntity::Products => (
                "products",
                EndpointClass::General,
                entity::PRODUCT,
                PRODUCT_PAGES_PER_RUN,
            ),
            ListEntity::Customers => (
                "customers",
                EndpointClass::Customers,
                entity::CUSTOMER,
                CUSTOMER_PAGES_PER_RUN,
            ),
        };
        let state = salla_odoo_store::reconcile::pass_state(self.pool, self.merchant, what)
            .await
            .map_err(store_err)?
            .unwrap_or_default();
        let (mut page, began) = match (state.next_page, state.pass_started) {
            (Some(p), Some(s)) => (p, s),
            _ => (1, OffsetDateTime::now_utc()),
        };
        let mut read = 0;
        let resume = loop {
            if read == limit {
                break Some(page);
            }
            read += 1;
            self.report.requests += 1;
            let (access, merchant) = (self.access, self.merchant);
            let answer = patiently(&mut self.patience, || {
                access.request(merchant, class, |api, token| async move {
                    api.merchant(&token)
                        .get_page::<Value>(&[path], &[], page, Some(MAX_PER_PAGE), class)
                        .await
                        .map(|r| r.data)
                })
            })
            .await?;
            let listed: Page<Value> = match answer {
                Answer::Data(p) => p,
                Answer::NotFound => break None,
                Answer::Unavailable(why) => return Ok(self.unavailable(why)),
            };
            let items: Vec<(Listed, Value)> = listed
                .items
                .iter()
                .filter_map(|raw| match Listed::deserialize(raw) {
                    Ok(l) => Some((l, raw.clone())),
                    Err(e) => {
                        tracing::warn!(merchant = self.merchant.get(), entity = what.as_str(), error = %e, "a listed item without a readable id is left out");
                        None
                    }
                })
                .collect();
            let ids: Vec<u64> = items.iter().map(|(l, _)| l.id).collect();
            let known = salla_odoo_store::id_map::source_versions(
                self.pool,
                self.merchant,
                map_entity,
                &ids,
            )
            .await
            .map_err(store_err)?;
            for (item, raw) in items {
                if what == ListEntity::Products && !self.seen_products.insert(item.id) {
                    continue;
                }
                let updated = item.updated_at.as_ref().and_then(salla_date_instant);
                let report = self.entity(what);
                report.checked += 1;
                match (known.get(&item.id), updated) {
                    (None, _) => report.missing += 1,
                    (Some(v), Some(u)) if *v < u.unix_timestamp() => report.stale += 1,
                    _ => continue,
                }
                if self.run.dry_run {
                    continue;
                }
                let go = match what {
                    ListEntity::Products => self.queue_product(item.id).await?,
                    ListEntity::Customers => {
                        let customers = &mut self.report.customers;
                        match enqueue(self.queue, self.merchant, Kind::Customer, item.id, raw)
                            .await?
                        {
                            Enqueued::Queued => customers.queued += 1,
                            Enqueued::Duplicate => customers.already_queued += 1,
                        }
                        true
                    }
                };
                if !go {
                    return Ok(false);
                }
            }
            self.show();
            match listed.next_page() {
                Some(next) => page = next,
                None => break None,
            }
        };
        if !self.run.dry_run {
            let result = match resume {
                Some(next) => {
                    salla_odoo_store::reconcile::pass_paused(
                        self.pool,
                        self.merchant,
                        what,
                        next,
                        began,
                    )
                    .await
                }
                None => {
                    salla_odoo_store::reconcile::pass_complete(
                        self.pool,
                        self.merchant,
                        what,
                        began,
                    )
                    .await
                }
            };
            result.map_err(store_err)?;
        }
        let after = salla_odoo_store::reconcile::pass_state(self.pool, self.merchant, what)
            .await
            .map_err(store_err)?
            .unwrap_or_default();
        let report = self.entity(what);
        report.next_page = resume;
        report.watermark = after.watermark.and_then(rfc3339);
        Ok(true)
    }

    /// The run's metrics and its warning about missing webhooks.
    async fn metrics(&self) {
        let r = &self.report;
        let merchant = self.merchant.to_string();
        metrics::counter!("salla_odoo_reconcile_orders_checked_total").increment(r.checked);
        metrics::counter!("salla_odoo_reconcile_orders_missing_total").increment(r.missing);
        metrics::counter!("salla_odoo_reconcile_orders_stale_total").increment(r.stale);
        metrics::counter!("salla_odoo_reconcile_products_checked_total")
            .increment(r.products.checked);
        metrics::counter!("salla_odoo_reconcile_products_missing_total")
            .increment(r.products.missing);
        metrics::counter!("salla_odoo_reconcile_products_stale_total").increment(r.products.stale);
        metrics::counter!("salla_odoo_reconcile_customers_checked_total")
            .increment(r.customers.checked);
        metrics::counter!("salla_odoo_reconcile_customers_missing_total")
            .increment(r.customers.missing);
        metrics::counter!("salla_odoo_reconcile_customers_stale_total")
            .increment(r.customers.stale);
        for (entity, queued) in [
            ("order", r.queued),
            ("product", r.products.queued),
            ("customer", r.customers.queued),
        ] {
            metrics::counter!("salla_odoo_reconcile_jobs_queued_total", "entity" => entity)
                .increment(queued);
        }
        let age = |w: OffsetDateTime| (OffsetDateTime::now_utc() - w).as_seconds_f64().max(0.0);
        if let Some(w) = salla_odoo_store::reconcile::get(self.pool, self.merchant)
            .await
            .ok()
            .flatten()
            .and_then(|w| w.watermark)
        {
            metrics::gauge!("salla_odoo_reconcile_watermark_age_seconds", "merchant" => merchant.clone())
                .set(age(w));
        }
        for what in [ListEntity::Products, ListEntity::Customers] {
            if let Some(w) = salla_odoo_store::reconcile::pass_state(self.pool, self.merchant, what)
                .await
                .ok()
                .flatten()
                .and_then(|s| s.watermark)
            {
                metrics::gauge!("salla_odoo_reconcile_pass_watermark_age_seconds", "merchant" => merchant.clone(), "entity" => what.as_str())
                    .set(age(w));
            }
        }
        if r.missing > 0 || r.products.missing > 0 || r.customers.missing > 0 {
            tracing::warn!(
                merchant = self.merchant.get(),
                missing = r.missing,
                stale = r.stale,
                products_missing = r.products.missing,
                customers_missing = r.customers.missing,
                "reconciliation found objects whose webhooks never arrived"
            );
        }
    }
}

/// The Salla products an order's items name (`items[].product.id`, else `items[].product_id`).
fn order_products(order: &Value) -> Vec<u64> {
    order
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    lenient::id_at(i, "/product/id").or_else(|| lenient::id_at(i, "/product_id"))
                })
                .collect()
        })
        .unwrap_or_default()
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

/// What a reconciliation job is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Order,
    Product,
    Customer,
}

impl Kind {
    /// The job kind, entity and event a webhook about the same object would give.
    fn job(self) -> (JobKind, EntityKind, &'static str) {
        match self {
            Kind::Order => (JobKind::OrderStatus, EntityKind::Order, EVENT),
            Kind::Product => (JobKind::ProductUpsert, EntityKind::Product, PRODUCT_EVENT),
            Kind::Customer => (
                JobKind::CustomerUpsert,
                EntityKind::Customer,
                CUSTOMER_EVENT,
            ),
        }
    }
}

/// Queue the object as a job of its own, deduplicated on its content like a webhook.
async fn enqueue(
    queue: &Queue,
    merchant: MerchantId,
    what: Kind,
    id: u64,
    data: Value,
) -> Result<Enqueued, SyncError> {
    let (kind, entity_kind, event) = what.job();
    let body = serde_json::to_vec(&data).unwrap_or_default();
    let digest = BodyDigest::of(&body);
    let dedupe = DedupeKey::new(merchant, event, &digest);
    let created_at = data
        .get("updated_at")
        .and_then(|u| u.get("date").or(Some(u)))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(19)
        .collect::<String>();
    let job = SyncJob::V1(SyncJobV1 {
        id: Uuid::now_v7(),
        kind,
        merchant,
        event: event.to_owned(),
        entity: Some(EntityRef {
            kind: entity_kind,
            id: SallaId::new(id),
        }),
        digest,
        salla_created_at: created_at,
        received_at: OffsetDateTime::now_utc(),
        attempt: 0,
        data,
        history: Vec::new(),
        trace: None,
    });
    queue
        .enqueue(&job, &dedupe)
        .await
        .map_err(|e| SyncError::Transient {
            message: format!(
                "reconciliation could not queue {} {id}: {e}",
                entity_kind.as_str()
            ),
            retry_after: None,
        })
}

/// The scheduled reconciliation: every `interval`, each installed store with Salla tokens is
/// reconciled ([`Scope::ALL`]) by at most one worker of the fleet at a time (a global lock per
/// store); a store whose lock is held is skipped this round.
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
            match reconcile(&access, &pool, &queue, merchant, run, Scope::ALL).await {
                Ok(r) => tracing::info!(
                    merchant = id,
                    checked = r.checked,
                    missing = r.missing,
                    stale = r.stale,
                    queued = r.queued,
                    products_checked = r.products.checked,
                    products_queued = r.products.queued,
                    customers_checked = r.customers.checked,
                    customers_queued = r.customers.queued,
                    "reconciliation run"
                ),
                Err(e) => tracing::warn!(merchant = id, error = %e, "reconciliation run failed"),
            }
            let _ = lock.release().await;
        }
    }
}

/// A new store's first reconciliation, started when its first `app.store.authorize` is applied
/// (its backfill: the orders of `run.first_window` back and the products they use), in the
/// background, one run per store across the fleet.
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
            let run = reconcile(
                &this.access,
                &this.pool,
                &this.queue,
                merchant,
                this.run,
                Scope::BACKFILL,
            )
            .await;
            match run {
                Ok(r) => tracing::info!(
                    merchant = merchant.get(),
                    checked = r.checked,
                    queued = r.queued,
                    products_queued = r.products.queued,
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
