//! Fulfilment, Odoo → Salla (`crates/worker/src/fulfilment.rs`) against `odoo-sandbox` and
//! `salla-sandbox`, with real worker processes syncing the webhooks: a delivery validated in Odoo by
//! hand moves the Salla order to `delivered` once, with the tracking in the note; Salla's resulting
//! `order.status.updated` changes nothing more; a lost answer still makes one status change; the
//! store option `off` posts nothing; an order the connector delivered itself, or that Salla already
//! completed, is never moved (backwards).
//!
//! Until `fulfilment_loop` runs in the worker processes, the loop runs in this test process
//! ([`delivered_orders_reach_salla_once_and_the_echo_changes_nothing`]) or `report_store` is called
//! directly; [`worker_processes_report_deliveries`] needs the loop wired into `salla-odoo-worker`.

use std::time::Duration;

use odoo::{Domain, SearchOptions};
use odoo_sandbox::{Options, Version};
use salla_odoo_core::MerchantId;
use salla_odoo_store::secrets::Keyring;
use salla_odoo_tests::salla::authorize_event;
use salla_odoo_tests::*;
use salla_odoo_worker::fulfilment::{self, FulfilmentReport};
use salla_odoo_worker::salla::SallaAccess;
use serde_json::{Value, json};

/// Everything one test needs: both sandboxes, the fleet (workers sync the webhooks), and the Salla
/// access `report_store` uses, built as `salla-odoo reconcile` builds it.
struct World {
    odoo: odoo_sandbox::Sandbox,
    salla: salla_sandbox::Sandbox,
    fleet: Fleet,
    access: SallaAccess,
    keyring: Keyring,
    /// `delivery.carrier` "Aramex" in the Odoo sandbox.
    carrier: i64,
}

fn salla_env(salla: &salla_sandbox::Sandbox, fulfilment_interval: &str) -> Vec<(String, String)> {
    let mut env = salla::env(salla);
    env.push((
        "SALLA_ODOO__FULFILMENT__INTERVAL_SECS".into(),
        fulfilment_interval.into(),
    ));
    env
}

/// Sandboxes, a fleet with one worker, and `stores` (merchant, extra `store add` options) added
/// with `--create-unknown-skus` and their Salla tokens authorized through the ingest.
async fn world(test: &str, stores: &[(u64, &[&str])], fulfilment_interval: &str) -> World {
    let odoo = odoo_sandbox::spawn(Options {
        version: Version::V18,
        ..Default::default()
    })
    .await
    .unwrap();
    let salla = salla_sandbox::spawn(salla_sandbox::Options::default())
        .await
        .unwrap();
    let env = salla_env(&salla, fulfilment_interval);
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut fleet = Fleet::start_with(test, &env_ref).await;
    for (m, options) in stores {
        let mut opts = vec!["--create-unknown-skus"];
        opts.extend_from_slice(options);
        fleet.add_store(*m, &odoo.url(), &opts);
        let (status, answer) = fleet
            .ingest
            .post_signed(&authorize_event(*m, &salla.authorize(*m)))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    fleet.spawn_worker();
    fleet
        .wait_outcomes(stores.len() as i64, Duration::from_secs(60))
        .await;

    let mut extra = env_ref.clone();
    extra.push(("SALLA_ODOO__SECRETS__KEY", TEST_SECRETS_KEY));
    let settings = test_settings(&fleet.ns, &redis_url(), &extra);
    let keyring = Keyring::from_settings(&settings.secrets).unwrap();
    let limits = salla_odoo_worker::StoreLimits::new(
        fleet.ingest.queue.clone(),
        settings.limits.store_concurrency,
        settings.limits.store_odoo_calls_per_sec,
        Duration::from_secs(20),
    );
    let access =
        SallaAccess::from_settings(&settings, fleet.db.pool.clone(), keyring.clone(), limits)
            .unwrap()
            .expect("the Salla API is configured");

    let client = odoo_client(&odoo);
    let ship = client
        .create(
            "product.product",
            vals(json!({"name": "Shipping", "type": "service", "list_price": 0})),
        )
        .await
        .unwrap();
    let carrier = client
        .create(
            "delivery.carrier",
            vals(json!({"name": "Aramex", "product_id": ship, "fixed_price": 0})),
        )
        .await
        .unwrap();
    World {
        odoo,
        salla,
        fleet,
        access,
        keyring,
        carrier,
    }
}

fn vals(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn status_of(slug: &str) -> Value {
    let (id, name) = match slug {
        "in_progress" => (1_939_592_358u64, "قيد التنفيذ"),
        "completed" => (1_298_199_463, "تم التنفيذ"),
        "delivered" => (1_723_506_348, "تم التوصيل"),
        _ => (566_146_469, "بإنتظار المراجعة"),
    };
    json!({"id": id, "name": name, "slug": slug})
}

/// The order as Salla's API holds it, at status `slug`, changed two hours ago.
fn api_order(merchant: u64, order: u64, slug: &str) -> Value {
    let when = salla::hours_ago(2);
    let body: Value = serde_json::from_slice(&order_event(
        "order.created",
        merchant,
        order,
        &when,
        1,
        &format!("FUL-{order}"),
    ))
    .unwrap();
    let mut data = body["data"].clone();
    data["updated_at"] = json!(when);
    data["status"] = status_of(slug);
    data
}

/// `order.status.updated` as Salla posts it: a history entry with the order nested.
fn status_event(merchant: u64, entry: u64, order: &Value, note: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": "order.status.updated",
        "merchant": merchant,
        "created_at": salla::hours_ago(0),
        "data": {"id": entry, "status": order["status"]["name"], "customized": null,
                 "note": note, "order": order}
    }))
    .unwrap()
}

fn odoo_client(odoo: &odoo_sandbox::Sandbox) -> odoo::Client {
    odoo::Client::new(
        odoo::Config::new(&odoo.url(), "odoo", "admin", "admin".to_owned().into()).unwrap(),
    )
    .unwrap()
}

fn order_ref(merchant: u64, order: u64) -> String {
    format!("salla:{merchant}:{order}")
}

impl World {
    /// Seed the order in Salla at `slug` and post its `order.status.updated`: the workers create
    /// it in Odoo and apply the status. Waits for the job's outcome.
    async fn order_at(&self, merchant: u64, order: u64, slug: &str) {
        let data = api_order(merchant, order, slug);
        self.salla.seed_order(merchant, data.clone()).unwrap();
        let before = self.fleet.outcomes().await;
        let (status, answer) = self
            .fleet
            .ingest
            .post_signed(&status_event(merchant, order * 7, &data, ""))
            .await;
        assert_eq!(status, 200, "{answer}");
        self.fleet
            .wait_outcomes(before + 1, Duration::from_secs(60))
            .await;
        let so = self.sale_order(merchant, order);
        assert_eq!(so["state"], "sale", "order {order} confirmed: {so}");
    }

    fn sale_order(&self, merchant: u64, order: u64) -> Value {
        let found = self
            .odoo
            .inspect()
            .dump(
                "sale.order",
                json!([["client_order_ref", "=", order_ref(merchant, order)]]),
            )
            .unwrap();
        assert_eq!(found.len(), 1, "one sale order for {order}");
        found[0].clone()
    }

    fn pickings(&self, merchant: u64, order: u64) -> Vec<Value> {
        let so = self.sale_order(merchant, order)["id"].as_i64().unwrap();
        self.odoo
            .inspect()
            .dump("stock.picking", json!([["sale_id", "=", so]]))
            .unwrap()
    }

    /// Validate the order's delivery in Odoo as a warehouse user would (JSON-RPC: quantities,
    /// `button_validate`), with a carrier and tracking reference when given.
    async fn validate_by_hand(&self, merchant: u64, order: u64, tracking: Option<&str>) -> i64 {
        let client = odoo_client(&self.odoo);
        let so = self.sale_order(merchant, order)["id"].as_i64().unwrap();
        let pickings = client
            .search(
                "stock.picking",
                &Domain::new()
                    .eq("sale_id", so)
                    .eq("picking_type_code", "outgoing"),
                &SearchOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(pickings.len(), 1, "one delivery for order {order}");
        let picking = pickings[0];
        if let Some(t) = tracking {
            client
                .write(
                    "stock.picking",
                    &[picking],
                    vals(json!({"carrier_tracking_ref": t, "carrier_id": self.carrier})),
                )
                .await
                .unwrap();
        }
        assert_eq!(
            client.validate_delivery(picking).await.unwrap(),
            odoo::Step::Done
        );
        picking
    }

    async fn report(&self, merchant: u64, dry_run: bool) -> FulfilmentReport {
        fulfilment::report_store(
            &self.access,
            &self.fleet.db.pool,
            &self.keyring,
            MerchantId::new(merchant),
            dry_run,
        )
        .await
        .unwrap()
    }

    /// Salla's status history entries of the order with this slug.
    fn history(&self, merchant: u64, order: u64, slug: &str) -> Vec<Value> {
        self.salla
            .status_history(merchant, order)
            .into_iter()
            .filter(|e| e["slug"] == slug)
            .collect()
    }

    /// `POST /orders/{order}/status` requests Salla received.
    fn status_posts(&self, order: u64) -> usize {
        let path = format!("/admin/v2/orders/{order}/status");
        self.salla
            .calls()
            .iter()
            .filter(|c| c.method == "POST" && c.path == path)
            .count()
    }

    /// The id map's fulfilment row of the order: (odoo_model, source_version).
    async fn fulfilment_row(&self, merchant: u64, order: u64) -> Option<(String, i64)> {
        salla_odoo_store::id_map::get(
            &self.fleet.db.pool,
            MerchantId::new(merchant),
            fulfilment::ENTITY,
            order,
        )
        .await
        .unwrap()
        .map(|m| (m.odoo_model, m.source_version))
    }

    /// The order and its deliveries and invoices in Odoo, to compare before and after.
    fn odoo_state(&self, merchant: u64, order: u64) -> Value {
        let so = self.sale_order(merchant, order);
        let invoices = self
            .odoo
            .inspect()
            .count(
                "account.move",
                json!([["invoice_origin", "=", so["name"].clone()]]),
            )
            .unwrap();
        json!({"order": so, "pickings": self.pickings(merchant, order), "invoices": invoices,
               "all_invoices": self.odoo.inspect().count("account.move", json!([])).unwrap()})
    }
}

fn entry(r: &FulfilmentReport, order: u64) -> &fulfilment::FulfilmentEntry {
    r.entries
        .iter()
        .find(|e| e.order == order)
        .unwrap_or_else(|| panic!("order {order} in the report: {r:?}"))
}

/// How the fulfilment runs in a test.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Driver {
    /// `fulfilment_loop` in this test process, every second.
    InProcessLoop,
    /// The worker processes (`SALLA_ODOO__FULFILMENT__INTERVAL_SECS=1`): needs the loop wired in.
    WorkerProcesses,
}

async fn delivered_orders_reach_salla_once(test: &str, driver: Driver) {
    const M: u64 = 803_001;
    const DELIVERED: u64 = 93_001;
    const LOST: u64 = 93_002;
    let interval = match driver {
        Driver::InProcessLoop => "0",
        Driver::WorkerProcesses => "1",
    };
    let w = world(test, &[(M, &[])], interval).await;
    let _loop = (driver == Driver::InProcessLoop).then(|| {
        AbortOnDrop(tokio::spawn(fulfilment::fulfilment_loop(
            w.access.clone(),
            w.fleet.db.pool.clone(),
            w.keyring.clone(),
            Duration::from_secs(1),
        )))
    });

    // A confirmed order (Salla: in_progress); its delivery validated in Odoo by hand.
    w.order_at(M, DELIVERED, "in_progress").await;
    let picking = w.validate_by_hand(M, DELIVERED, Some("TRK-93001")).await;
    wait_for(
        "Salla's delivered status",
        Duration::from_secs(30),
        || async { !w.history(M, DELIVERED, "delivered").is_empty() },
    )
    .await;
    let delivered = w.history(M, DELIVERED, "delivered");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(
        delivered[0]["note"], "Shipped: tracking TRK-93001 (Aramex)",
        "{delivered:?}"
    );
    wait_for("the order settled", Duration::from_secs(10), || async {
        w.fulfilment_row(M, DELIVERED).await.map(|r| r.0) == Some(fulfilment::SETTLED.into())
    })
    .await;
    assert_eq!(
        w.fulfilment_row(M, DELIVERED).await,
        Some((
            fulfilment::SETTLED.to_owned(),
            fulfilment::slug_code("delivered")
        ))
    );
    assert_eq!(w.status_posts(DELIVERED), 1);

    // Salla's resulting order.status.updated, posted back to the ingest: recognised, nothing more
    // (with the default status map, `delivered` would otherwise invoice the order).
    let before = w.odoo_state(M, DELIVERED);
    let echoed_order = w.salla.order(M, DELIVERED).unwrap();
    assert_eq!(echoed_order["status"]["slug"], "delivered");
    let outcomes = w.fleet.outcomes().await;
    let (status, answer) = w
        .fleet
        .ingest
        .post_signed(&status_event(
            M,
            delivered[0]["id"].as_u64().unwrap(),
            &echoed_order,
            delivered[0]["note"].as_str().unwrap(),
        ))
        .await;
    assert_eq!(status, 200, "{answer}");
    w.fleet
        .wait_outcomes(outcomes + 1, Duration::from_secs(60))
        .await;
    let (event, outcome, reason) = w.fleet.log().await.pop().unwrap();
    assert_eq!(
        (event.as_str(), outcome.as_str()),
        ("order.status.updated", "skipped")
    );
    assert!(
        reason
            .as_deref()
            .is_some_and(|r| r.contains("set in Salla by the connector")
                && r.contains(&format!("stock.picking {picking}"))),
        "{reason:?}"
    );
    assert_eq!(w.odoo_state(M, DELIVERED), before, "Odoo unchanged");
    assert_eq!(before["invoices"], 0, "not invoiced by the echo");

    // A lost answer: Salla applies the status, the connector never hears it; a later run finds
    // it applied. Exactly one status change.
    w.order_at(M, LOST, "in_progress").await;
    w.salla.faults().drop_after_write(
        salla_sandbox::Match::any()
            .path_prefix(format!("/admin/v2/orders/{LOST}/status"))
            .method("POST")
            .times(1),
    );
    w.validate_by_hand(M, LOST, None).await;
    wait_for(
        "the lost answer's order settled",
        Duration::from_secs(30),
        || async {
            w.fulfilment_row(M, LOST).await.map(|r| r.0) == Some(fulfilment::SETTLED.into())
        },
    )
    .await;
    let lost = w.history(M, LOST, "delivered");
    assert_eq!(lost.len(), 1, "one status change: {lost:?}");
    assert!(lost[0]["note"].is_null(), "no tracking, no note: {lost:?}");
    let posts: Vec<_> = w
        .salla
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with(&format!("/{LOST}/status")))
        .collect();
    assert!(
        posts.first().is_some_and(|c| c.dropped),
        "the first answer was dropped: {posts:?}"
    );
    assert_eq!(
        posts.iter().filter(|c| !c.dropped).count(),
        posts.len() - 1,
        "{posts:?}"
    );
    assert_eq!(w.history(M, LOST, "delivered").len(), 1);

    // Once: a run now (as after a restart) reads nothing from Salla and posts nothing.
    w.salla.clear_calls();
    let again = w.report(M, false).await;
    assert_eq!(again.reported, 0, "{again:?}");
    assert_eq!(again.already_reported, 2, "{again:?}");
    assert_eq!(again.requests, 0, "{again:?}");
    assert_eq!(w.status_posts(DELIVERED) + w.status_posts(LOST), 0);
    assert_eq!(w.history(M, DELIVERED, "delivered").len(), 1);
    assert!(again.watermark.is_some(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_orders_reach_salla_once_and_the_echo_changes_nothing() {
    delivered_orders_reach_salla_once("fulfilment-loop", Driver::InProcessLoop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_report_deliveries() {
    delivered_orders_reach_salla_once("fulfilment-workers", Driver::WorkerProcesses).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_moves_backwards_nor_back_to_salla_and_off_is_off() {
    const M: u64 = 803_101;
    const OFF: u64 = 803_102;
    const SYNCED_DELIVERED: u64 = 93_101; // Salla said delivered: the sync validated it
    const SYNCED_COMPLETED: u64 = 93_102; // Salla said completed: the sync validated it
    const SALLA_COMPLETED: u64 = 93_103; // Salla completed it; Odoo validated by hand later
    const ORDER_OFF: u64 = 93_104;
    let w = world(
        "fulfilment-direct",
        &[(M, &[]), (OFF, &["--fulfilment-status", "off"])],
        "0",
    )
    .await;

    w.order_at(M, SYNCED_DELIVERED, "delivered").await;
    w.order_at(M, SYNCED_COMPLETED, "completed").await;
    for order in [SYNCED_DELIVERED, SYNCED_COMPLETED] {
        let pickings = w.pickings(M, order);
        assert!(
            pickings.iter().all(|p| p["state"] == "done"),
            "the sync validated order {order}'s delivery: {pickings:?}"
        );
    }
    // Salla completes the order; the webhook never reached Odoo, where it is only confirmed.
    w.order_at(M, SALLA_COMPLETED, "in_progress").await;
    w.salla
        .seed_order(M, api_order(M, SALLA_COMPLETED, "completed"))
        .unwrap();
    w.validate_by_hand(M, SALLA_COMPLETED, Some("TRK-93103"))
        .await;

    w.salla.clear_calls();
    let dry = w.report(M, true).await;
    assert_eq!(dry.orders, 3, "{dry:?}");
    assert_eq!(dry.would_report, 0, "{dry:?}");
    assert!(dry.watermark.is_none(), "a dry run moves nothing: {dry:?}");
    let r = w.report(M, false).await;
    assert_eq!((r.orders, r.reported), (3, 0), "{r:?}");
    // Validated by the sync because Salla said so: recorded by the sync, never reported back.
    assert_eq!(entry(&r, SYNCED_DELIVERED).outcome, "already_reported");
    assert_eq!(entry(&r, SYNCED_COMPLETED).outcome, "already_reported");
    // Validated by hand, Salla already past delivered: not moved backwards.
    let e = entry(&r, SALLA_COMPLETED);
    assert_eq!(
        (e.outcome.as_str(), e.salla_status.as_deref()),
        ("already_there", Some("completed")),
        "{r:?}"
    );
    assert!(r.watermark.is_some(), "{r:?}");
    for order in [SYNCED_DELIVERED, SYNCED_COMPLETED, SALLA_COMPLETED] {
        assert_eq!(w.status_posts(order), 0, "order {order}");
        assert!(w.salla.status_history(M, order).is_empty(), "order {order}");
    }

    // Without the sync's record (a delivery validated before it existed), the read-first check
    // alone keeps Salla as it is.
    for order in [SYNCED_DELIVERED, SYNCED_COMPLETED] {
        salla_odoo_store::id_map::delete(
            &w.fleet.db.pool,
            MerchantId::new(M),
            fulfilment::ENTITY,
            order,
        )
        .await
        .unwrap();
    }
    let again = w.report(M, false).await;
    assert_eq!(entry(&again, SYNCED_DELIVERED).outcome, "already_there");
    assert_eq!(entry(&again, SYNCED_COMPLETED).outcome, "already_there");
    assert_eq!(entry(&again, SALLA_COMPLETED).outcome, "already_reported");
    assert_eq!(again.reported, 0, "{again:?}");
    for order in [SYNCED_DELIVERED, SYNCED_COMPLETED, SALLA_COMPLETED] {
        assert_eq!(w.status_posts(order), 0, "order {order}");
    }

    // The option off: nothing is looked at, nothing posted.
    w.order_at(OFF, ORDER_OFF, "in_progress").await;
    w.validate_by_hand(OFF, ORDER_OFF, Some("TRK-93104")).await;
    let off = w.report(OFF, false).await;
    assert_eq!(off.note.as_deref(), Some("fulfilment is off"), "{off:?}");
    assert_eq!(
        (off.orders, off.reported, off.requests),
        (0, 0, 0),
        "{off:?}"
    );
    assert_eq!(w.status_posts(ORDER_OFF), 0);
    assert!(w.salla.status_history(OFF, ORDER_OFF).is_empty());

    // Turned on again: the delivery validated meanwhile is reported (a dry run first).
    let out = w.fleet.cli(
        &[
            "store",
            "update",
            "--merchant",
            &OFF.to_string(),
            "--fulfilment-status",
            "delivered",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dry = w.report(OFF, true).await;
    assert_eq!((dry.would_report, dry.reported), (1, 0), "{dry:?}");
    assert_eq!(w.status_posts(ORDER_OFF), 0, "a dry run posts nothing");
    let on = w.report(OFF, false).await;
    assert_eq!(on.reported, 1, "{on:?}");
    let history = w.salla.status_history(OFF, ORDER_OFF);
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["slug"], "delivered");
    assert_eq!(history[0]["note"], "Shipped: tracking TRK-93104 (Aramex)");
}

/// Aborts the task when dropped (the in-process loop ends with its test).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
