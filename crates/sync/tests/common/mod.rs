//! Test harness: one `odoo-sandbox` and one Postgres database per test.
//!
//! The database `salla_odoo_test_<uuid>` is created on `TEST_DATABASE_SERVER` (default
//! `postgres://postgres@127.0.0.1:5432`), migrated with the store's migrations, and dropped `WITH (FORCE)`
//! when the harness is dropped (also when the test panics).

#![allow(dead_code)]

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use odoo_sandbox::{Options, Sandbox, Version};
use salla_odoo_core::settings::SecretsSettings;
use salla_odoo_core::{
    BodyDigest, EntityRef, MerchantId, Route, SallaId, StatusMap, StockMaster, SyncJobV1,
};
use salla_odoo_salla::{Envelope, lenient};
use salla_odoo_store::secrets::Keyring;
use salla_odoo_store::stores::{OdooConnection, StoreSettings};
use salla_odoo_sync::fetch::{FetchFuture, Fetched, SallaFetch};
use salla_odoo_sync::{Applied, SyncContext};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};
use time::OffsetDateTime;

pub const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/salla"
);

/// A fixture envelope as JSON, or `None` (with a message) when the fixtures are not there.
pub fn fixture(name: &str) -> Option<Value> {
    let path = format!("{FIXTURES}/{name}");
    match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("fixture is JSON")),
        Err(e) => {
            eprintln!("skipping: fixture {path} is not available ({e})");
            None
        }
    }
}

/// A job exactly as ingest builds it from an envelope.
pub fn job_from(envelope: &Value) -> SyncJobV1 {
    let body = serde_json::to_vec(envelope).unwrap();
    let env = Envelope::from_slice(&body).expect("a valid envelope");
    let kind = match salla_odoo_core::route(&env.event) {
        Route::Job(kind) => kind,
        Route::Ignored(r) => panic!("{} is not routed to a job: {r:?}", env.event),
    };
    let entity = kind.entity_location().and_then(|(entity_kind, pointers)| {
        pointers.iter().find_map(|p| {
            Some(EntityRef {
                kind: entity_kind,
                id: SallaId::new(lenient::id_at(&env.data, p)?),
            })
        })
    });
    SyncJobV1 {
        id: uuid::Uuid::now_v7(),
        kind,
        merchant: MerchantId::new(env.merchant),
        event: env.event.clone(),
        entity,
        digest: BodyDigest::of(&body),
        salla_created_at: env.created_at,
        received_at: OffsetDateTime::now_utc(),
        attempt: 0,
        data: env.data,
        history: Vec::new(),
        trace: None,
    }
}

/// An envelope around `data`.
pub fn envelope(event: &str, merchant: u64, created_at: &str, data: Value) -> Value {
    json!({"event": event, "merchant": merchant, "created_at": created_at, "data": data})
}

fn server() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A migrated database of its own; dropped on drop.
pub struct TestDb {
    pub name: String,
    pub pool: salla_odoo_store::Db,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!("salla_odoo_test_{}", uuid::Uuid::new_v4().simple());
        let admin =
            PgConnectOptions::from_str(&server()).expect("TEST_DATABASE_SERVER is a postgres URL");
        let mut conn = admin
            .clone()
            .database("postgres")
            .connect()
            .await
            .expect("Postgres is reachable");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create the test database");
        // Each creation lock holds a connection of this pool (a worker's job takes its locks on
        // its own session instead): two template syncs at once hold up to five (product, name and
        // attribute locks) and still need connections for their queries.
        let pool: PgPool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(admin.database(&name))
            .await
            .expect("connect to the test database");
        let pool = salla_odoo_store::Db::from(pool);
        salla_odoo_store::migrate(&pool)
            .await
            .expect("migrations apply");
        TestDb { name, pool }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop needs async work: run it on a runtime of its own, on another thread. The pool's
        // connections belong to the test's runtime (blocked here), so they are not closed gracefully:
        // `WITH (FORCE)` ends them.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let admin = PgConnectOptions::from_str(&server())
                    .unwrap()
                    .database("postgres");
                if let Ok(mut conn) = admin.connect().await {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

pub fn test_keyring() -> Keyring {
    Keyring::from_settings(&SecretsSettings {
        // base64 of 32 bytes 0x01..0x20
        key: "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
            .to_owned()
            .into(),
        previous_keys: Vec::new(),
    })
    .unwrap()
}

pub fn settings_for(merchant: u64, url: &str) -> StoreSettings {
    StoreSettings {
        merchant: MerchantId::new(merchant),
        status: "installed".into(),
        odoo: Some(OdooConnection {
            url: url.to_owned(),
            database: "odoo".into(),
            login: "admin".into(),
            api_key: "admin".to_owned().into(),
            version_override: None,
        }),
        warehouse_id: None,
        pricelist_id: None,
        currency: Some("SAR".into()),
        tax_id: None,
        prices_include_tax: true,
        status_map: StatusMap::default(),
        create_unknown_skus: true,
        stock_master: StockMaster::Odoo,
        stock_quantity: Default::default(),
        fulfilment_status: Some("delivered".into()),
        updated_at: OffsetDateTime::now_utc(),
        variants: Default::default(),
        payment_journal_id: None,
        payment_journals: Default::default(),
        refund_credit_notes: true,
        return_pickings: true,
        pricelists: Default::default(),
        rounding_max_cents: 100,
        // A store added now: the fixtures' orders are older, and searched by their marker.
        order_intents_since: time::OffsetDateTime::now_utc(),
        odoo_capabilities: None,
    }
}

/// A sandbox, a database and the context for one store.
pub struct Harness {
    pub sb: Sandbox,
    pub db: TestDb,
    pub ctx: SyncContext,
}

impl Harness {
    pub async fn new(version: Version, merchant: u64) -> Harness {
        Self::with(version, merchant, |_| {}).await
    }

    pub async fn with(
        version: Version,
        merchant: u64,
        edit: impl FnOnce(&mut StoreSettings),
    ) -> Harness {
        let sb = odoo_sandbox::spawn(Options {
            version,
            ..Default::default()
        })
        .await
        .unwrap();
        let db = TestDb::new().await;
        let mut settings = settings_for(merchant, &sb.url());
        edit(&mut settings);
        let odoo = client(&sb);
        let ctx = SyncContext {
            odoo: Some(odoo),
            pool: db.pool.clone(),
            keyring: Some(test_keyring()),
            settings: Some(settings),
            salla: None,
        };
        Harness { sb, db, ctx }
    }

    pub fn settings(&mut self) -> &mut StoreSettings {
        self.ctx.settings.as_mut().unwrap()
    }

    /// Installs `fetch` as the store's Salla API (`ctx.salla`) for fetch on demand.
    pub fn install_fetch(&mut self, fetch: Arc<MapFetch>) {
        self.ctx.salla = Some(fetch);
    }

    pub async fn apply(&self, job: &SyncJobV1) -> Result<Applied, salla_odoo_core::SyncError> {
        salla_odoo_sync::apply(&self.ctx, job).await
    }

    pub async fn applied(&self, job: &SyncJobV1) -> (Value, Option<String>) {
        match self.apply(job).await {
            Ok(Applied::Applied { odoo_ids, note }) => (odoo_ids, note),
            other => panic!("{} was not applied: {other:?}", job.event),
        }
    }

    pub async fn skipped(&self, job: &SyncJobV1) -> String {
        match self.apply(job).await {
            Ok(Applied::Skipped { reason }) => reason,
            other => panic!("{} was not skipped: {other:?}", job.event),
        }
    }

    pub fn count(&self, model: &str, domain: Value) -> usize {
        self.sb.inspect().count(model, domain).unwrap()
    }

    pub fn read(&self, model: &str, domain: Value, fields: &[&str]) -> Vec<Value> {
        self.sb.inspect().read(model, domain, fields).unwrap()
    }

    pub fn one(&self, model: &str, domain: Value, fields: &[&str]) -> Value {
        let mut recs = self.read(model, domain.clone(), fields);
        assert_eq!(recs.len(), 1, "{model} {domain}: {recs:?}");
        recs.remove(0)
    }
}

pub fn client(sb: &Sandbox) -> odoo::Client {
    odoo::Client::new(
        odoo::Config::new(&sb.url(), "odoo", "admin", "admin".to_owned().into()).unwrap(),
    )
    .unwrap()
}

/// The id of a many2one value read from the sandbox.
pub fn m2o(v: &Value) -> Option<i64> {
    odoo::many2one_id(v)
}

/// A Salla API answering from maps of JSON objects (orders and products, keyed by their `id`), counting
/// the calls: an id not in the map is Salla's 404; [`MapFetch::set_unavailable`] makes every call
/// answer `Unavailable` (a store without usable tokens).
#[derive(Debug, Default)]
pub struct MapFetch {
    orders: Mutex<HashMap<u64, Value>>,
    products: Mutex<HashMap<u64, Value>>,
    unavailable: Mutex<Option<String>>,
    order_calls: AtomicUsize,
    product_calls: AtomicUsize,
}

impl MapFetch {
    pub fn new() -> Arc<MapFetch> {
        Arc::new(MapFetch::default())
    }

    /// Salla's current state of an order (replaces the one with the same `id`).
    pub fn set_order(&self, order: Value) {
        let id = lenient::id_at(&order, "/id").expect("the order has an id");
        self.orders.lock().unwrap().insert(id, order);
    }

    /// Salla's current state of a product (replaces the one with the same `id`).
    pub fn set_product(&self, product: Value) {
        let id = lenient::id_at(&product, "/id").expect("the product has an id");
        self.products.lock().unwrap().insert(id, product);
    }

    /// `Some(reason)`: every call answers `Unavailable(reason)`; `None`: the maps answer again.
    pub fn set_unavailable(&self, reason: Option<&str>) {
        *self.unavailable.lock().unwrap() = reason.map(str::to_owned);
    }

    pub fn order_calls(&self) -> usize {
        self.order_calls.load(Ordering::SeqCst)
    }

    pub fn product_calls(&self) -> usize {
        self.product_calls.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> usize {
        self.order_calls() + self.product_calls()
    }

    fn answer(&self, map: &Mutex<HashMap<u64, Value>>, id: u64) -> Fetched {
        if let Some(reason) = self.unavailable.lock().unwrap().clone() {
            return Fetched::Unavailable(reason);
        }
        match map.lock().unwrap().get(&id) {
            Some(v) => Fetched::Found(v.clone()),
            None => Fetched::NotFound,
        }
    }
}

impl SallaFetch for MapFetch {
    fn order(&self, _merchant: MerchantId, order_id: u64) -> FetchFuture<'_> {
        self.order_calls.fetch_add(1, Ordering::SeqCst);
        let answer = self.answer(&self.orders, order_id);
        Box::pin(async move { Ok(answer) })
    }

    fn product(&self, _merchant: MerchantId, product_id: u64) -> FetchFuture<'_> {
        self.product_calls.fetch_add(1, Ordering::SeqCst);
        let answer = self.answer(&self.products, product_id);
        Box::pin(async move { Ok(answer) })
    }
}
