//! Throughput bound only by Odoo (`make bench`, issue 18): the same generated mix of Salla orders
//! against an odoo-sandbox that costs what a small Odoo 18 costs (`--cost-model odoo18-small`: each
//! call's measured service time, one call at a time at capacity 1), done by
//!
//! - **a direct client**, the physical limit: a hand-written JSON-RPC client that performs the same
//!   business steps for each order's final state with the fewest calls a careful person would make
//!   (partner by email, else create; one `search_read` for all the order's SKUs and one `create` for
//!   the missing ones; `sale.order.create` with its lines; confirm; set the quantities and validate
//!   the delivery; invoice wizard; post; cancel), two orders at a time;
//! - **the fleet**: the ingest and 1, 2 or 4 worker processes, fed every order webhook of the mix as
//!   Salla would send them (out of order, some twice, status changes before the order itself).
//!
//! Side by side in one run, for capacity 1 and 4: orders per second, the sandbox's busy time per
//! order (the Odoo time each order costs), and Odoo calls per order, by method for the largest
//! contributors. Ratios are against the direct client at the same capacity.
//!
//! `BENCH_ODOO_ORDERS` (default 24) sets the mix's size; `BENCH_ODOO_SEED` its seed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use odoo::{Call, Client, Config, Domain, Id, SearchOptions, ctx};
use odoo_sandbox::cost::CostModel;
use odoo_sandbox::{Options, Version};
use salla_odoo_tests::chaos::generator::{self, Order, Rng, Size, Stream};
use salla_odoo_tests::chaos::model::{self, Model, Step};
use salla_odoo_tests::{Fleet, Mode};
use serde_json::{Map, Value, json};

struct Figures {
    label: String,
    orders: usize,
    elapsed: Duration,
    busy: Duration,
    calls: u64,
    by_call: BTreeMap<String, u64>,
    /// Busy milliseconds per `model.method`.
    busy_by_call: BTreeMap<String, f64>,
}

impl Figures {
    fn orders_per_sec(&self) -> f64 {
        self.orders as f64 / self.elapsed.as_secs_f64()
    }
    fn busy_per_order(&self) -> f64 {
        self.busy.as_secs_f64() / self.orders as f64
    }
    fn calls_per_order(&self) -> f64 {
        self.calls as f64 / self.orders as f64
    }
}

async fn sandbox(capacity: usize) -> odoo_sandbox::Sandbox {
    let mut cost = CostModel::load("odoo18-small").expect("the built-in cost model");
    cost.capacity = capacity;
    odoo_sandbox::spawn(Options {
        version: Version::V18,
        cost_model: Some(cost),
        ..Default::default()
    })
    .await
    .expect("odoo-sandbox starts")
}

fn figures(label: String, orders: usize, elapsed: Duration, stats: &Value) -> Figures {
    let by_call: BTreeMap<String, u64> = stats["by_call"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v["calls"].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let busy_by_call: BTreeMap<String, f64> = stats["by_call"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v["busy_ms"].as_f64().unwrap_or(0.0)))
                .collect()
        })
        .unwrap_or_default();
    Figures {
        label,
        orders,
        elapsed,
        busy_by_call,
        busy: Duration::from_secs_f64(stats["busy_ms"].as_f64().unwrap_or(0.0) / 1000.0),
        calls: stats["calls"].as_u64().unwrap_or(0),
        by_call,
    }
}

fn vals(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// One order's final state, done by hand.
async fn direct_order(
    c: &Client,
    merchant: u64,
    o: &Order,
    model: &Model,
    storable: &Map<String, Value>,
    charge: Id,
) -> odoo::Result<()> {
    let customer = &model.stores[&merchant].customers[&o.customer].1;
    // The partner, by email.
    let found = c
        .search(
            "res.partner",
            &Domain::new().eq("email", customer.email.as_str()),
            &SearchOptions::limit(1),
        )
        .await?;
    let partner = match found.first() {
        Some(p) => *p,
        None => {
            c.create(
                "res.partner",
                vals(
                    json!({"name": format!("{} {}", customer.first, customer.last),
                            "email": customer.email, "city": customer.city}),
                ),
            )
            .await?
        }
    };
    // The products: one look-up for all the order's SKUs, one create for the missing ones.
    let codes: Vec<&str> = o.lines.iter().map(|l| l.sku.as_str()).collect();
    let have: Vec<Value> = c
        .search_read(
            "product.product",
            &Domain::new().is_in("default_code", codes.iter().copied()),
            &["default_code"],
            &SearchOptions::default(),
        )
        .await?;
    let mut ids: BTreeMap<String, Id> = have
        .iter()
        .filter_map(|p| Some((p["default_code"].as_str()?.to_owned(), p["id"].as_i64()?)))
        .collect();
    let missing: Vec<&generator::Line> = o
        .lines
        .iter()
        .filter(|l| !ids.contains_key(&l.sku))
        .collect();
    let new = c
        .create_many(
            "product.product",
            missing
                .iter()
                .map(|l| {
                    let mut v = vals(json!({"name": l.name, "default_code": l.sku,
                                            "list_price": l.price}));
                    v.extend(storable.clone());
                    v
                })
                .collect(),
        )
        .await?;
    for (l, id) in missing.iter().zip(new) {
        ids.insert(l.sku.clone(), id);
    }
    // The order with its lines (and the shipping and cash-on-delivery charges).
    let mut lines: Vec<Value> = o
        .lines
        .iter()
        .map(|l| {
            json!([0, 0, {"product_id": ids[&l.sku], "product_uom_qty": l.qty,
                          "price_unit": l.price, "discount": l.discount_pct}])
        })
        .collect();
    for (name, amount) in [("Shipping", o.shipping), ("Cash on delivery", o.cod)] {
        if amount > 0 {
            lines.push(json!([0, 0, {"product_id": charge, "name": name,
                                     "product_uom_qty": 1, "price_unit": amount}]));
        }
    }
    let so = c
        .create(
            "sale.order",
            vals(json!({"partner_id": partner, "client_order_ref": format!("direct:{merchant}:{}", o.id),
                        "order_line": lines})),
        )
        .await?;
    let step = model::step(o.status).unwrap_or(Step::Quotation);
    if matches!(step, Step::Confirm | Step::Complete) {
        c.call(&Call::new("sale.order", "action_confirm").ids(&[so]))
            .await?;
    }
    match step {
        Step::Complete => {
            // The delivery: its moves' quantities, then validate.
            let moves: Vec<Value> = c
                .search_read(
                    "stock.move",
                    &Domain::new()
                        .eq("sale_line_id.order_id", so)
                        .ne("state", "cancel"),
                    &["picking_id", "product_uom_qty"],
                    &SearchOptions::default(),
                )
                .await?;
            let mut pickings: Vec<Id> = Vec::new();
            for m in &moves {
                let (Some(id), Some(p)) = (m["id"].as_i64(), odoo::many2one_id(&m["picking_id"]))
                else {
                    continue;
                };
                c.write(
                    "stock.move",
                    &[id],
                    vals(json!({"quantity": m["product_uom_qty"], "picked": true})),
                )
                .await?;
                if !pickings.contains(&p) {
                    pickings.push(p);
                }
            }
            if !pickings.is_empty() {
                c.call(&Call::new("stock.picking", "button_validate").ids(&pickings))
                    .await?;
            }
            // The invoice: the wizard, then post what it made.
            let context = ctx(&[
                ("active_model", json!("sale.order")),
                ("active_ids", json!([so])),
                ("active_id", json!(so)),
            ]);
            let wizard = c
                .with_context(context.clone())
                .create(
                    "sale.advance.payment.inv",
                    vals(json!({"advance_payment_method": "delivered"})),
                )
                .await?;
            let action = c
                .call(
                    &Call::new("sale.advance.payment.inv", "create_invoices")
                        .ids(&[wizard])
                        .context(context),
                )
                .await?;
            if let Some(invoice) = action["res_id"].as_i64() {
                c.call(&Call::new("account.move", "action_post").ids(&[invoice]))
                    .await?;
            }
        }
        Step::Cancel => {
            c.call(
                &Call::new("sale.order", "action_cancel")
                    .ids(&[so])
                    .context(ctx(&[("disable_cancel_warning", json!(true))])),
            )
            .await?;
        }
        // Not in the benchmark's mix (`books` off).
        Step::Quotation | Step::Confirm | Step::Refund => {}
    }
    Ok(())
}

async fn direct(model: &Model, capacity: usize) -> Figures {
    let odoo = sandbox(capacity).await;
    let client =
        Client::new(Config::new(&odoo.url(), "odoo", "admin", "admin".to_owned().into()).unwrap())
            .unwrap();
    // Set-up outside the measure: the session, the capabilities and the charge product.
    let caps = client.capabilities().await.unwrap();
    let storable = caps.storable_product_values();
    let charge = client
        .create(
            "product.product",
            vals(json!({"name": "Charges", "type": "service"})),
        )
        .await
        .unwrap();
    let _ = odoo_reset_stats(&odoo).await;
    let orders: Vec<(u64, Order)> = model
        .stores
        .iter()
        .flat_map(|(m, s)| s.orders.values().map(move |(_, o)| (*m, o.clone())))
        .collect();
    let n = orders.len();
    let client = Arc::new(client);
    let model = Arc::new(model.clone());
    let storable = Arc::new(storable);
    let queue = Arc::new(tokio::sync::Mutex::new(orders.into_iter()));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let (c, m, s, q) = (
            client.clone(),
            model.clone(),
            storable.clone(),
            queue.clone(),
        );
        tasks.spawn(async move {
            loop {
                let next = q.lock().await.next();
                let Some((merchant, o)) = next else { break };
                direct_order(&c, merchant, &o, &m, &s, charge)
                    .await
                    .unwrap_or_else(|e| panic!("direct client, order {}: {e}", o.id));
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("a direct client task");
    }
    let elapsed = started.elapsed();
    eprintln!(
        "bench-odoo: direct client, capacity {capacity}: {n} orders in {:.1}s",
        elapsed.as_secs_f64()
    );
    let stats = odoo.cost_stats().expect("a cost model");
    odoo.shutdown().await;
    figures(
        format!("direct client ×2, capacity {capacity}"),
        n,
        elapsed,
        &stats,
    )
}

async fn odoo_reset_stats(odoo: &odoo_sandbox::Sandbox) -> reqwest::Result<reqwest::Response> {
    reqwest::Client::new()
        .post(format!("{}/_sandbox/stats/reset", odoo.url()))
        .send()
        .await
}

async fn fleet(stream: &Stream, workers: usize, capacity: usize) -> Figures {
    let odoo = sandbox(capacity).await;
    let mut fleet = Fleet::start_in(
        Mode::Fleet,
        "bench-odoo",
        // The connector's own defaults for what a slow Odoo makes long (the test fleet's are
        // short: 3 s per job): a job that waits in Odoo's line is not a failure here.
        &[
            ("SALLA_ODOO__LOG__FILTER", "error"),
            ("SALLA_ODOO__WORKER__JOB_TIMEOUT_SECS", "60"),
            ("SALLA_ODOO__WORKER__HEARTBEAT_SECS", "2"),
            ("SALLA_ODOO__WORKER__MISSED_HEARTBEATS", "40"),
        ],
    )
    .await;
    for s in &stream.stores {
        fleet.add_store(s.merchant, &odoo.url(), &["--create-unknown-skus"]);
        // The mix's orders are dated in the past; a real store's come after it was added.
        salla_odoo_tests::record_intents_from(
            fleet.db.pg(),
            s.merchant,
            generator::DAY_START - 86_400,
        )
        .await;
    }
    // `BENCH_ODOO_WORKER_LOG=FILE`: the first worker logs at debug there (every Odoo call, in
    // its job's span), to see which step makes which call.
    for i in 0..workers {
        match std::env::var_os("BENCH_ODOO_WORKER_LOG") {
            Some(log) if i == 0 => {
                fleet.spawn_worker_logging_to(std::path::Path::new(&log));
            }
            _ => {
                fleet.spawn_worker();
            }
        }
    }
    while fleet.ingest.queue.stats().await.unwrap().workers < workers as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = odoo_reset_stats(&odoo).await;
    let orders: std::collections::BTreeSet<String> = stream
        .events
        .iter()
        .filter(|e| e.name.starts_with("order."))
        .map(|e| e.object.clone())
        .collect();
    let started = Instant::now();
    let mut jobs = 0i64;
    for d in &stream.deliveries {
        let e = &stream.events[d.event];
        if !e.name.starts_with("order.") {
            continue;
        }
        let (status, answer) = fleet.ingest.post_signed(&d.body).await;
        assert_eq!(status, 200, "{answer}");
        if answer["status"] == "queued" {
            jobs += 1;
        }
    }
    fleet.wait_outcomes(jobs, Duration::from_secs(900)).await;
    let elapsed = started.elapsed();
    eprintln!(
        "bench-odoo: fleet, {workers} worker(s), capacity {capacity}: {} orders ({jobs} jobs) in {:.1}s",
        orders.len(),
        elapsed.as_secs_f64()
    );
    let stats = odoo.cost_stats().expect("a cost model");
    fleet.workers.clear();
    odoo.shutdown().await;
    figures(
        format!("fleet, {workers} worker(s), capacity {capacity}"),
        orders.len(),
        elapsed,
        &stats,
    )
}

/// Only the customers, products and orders the order events need (the fleet's input is the
/// order webhooks).
fn mix(orders: usize, seed: u64) -> Stream {
    let stores = 2;
    let size = Size {
        stores,
        stores_per_odoo: stores,
        customers: 3,
        products: 4,
        orders: orders.div_ceil(stores),
        reorder_window: 12,
        partial_product_events: false,
        // The benchmark's mix is drafts, completed and cancelled orders only (issue #18).
        books: false,
        variants: false,
    };
    generator::generate(size, &mut Rng::new(seed))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let orders: usize = std::env::var("BENCH_ODOO_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let seed: u64 = std::env::var("BENCH_ODOO_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(18);
    let stream = mix(orders, seed);
    let model = Model::from_stream(&stream);
    let n: usize = model.stores.values().map(|s| s.orders.len()).sum();
    let kinds = |step: Step| {
        model
            .stores
            .values()
            .flat_map(|s| s.orders.values())
            .filter(|(_, o)| model::step(o.status) == Some(step))
            .count()
    };
    println!(
        "bench-odoo: {n} orders ({} quotations, {} confirmed, {} completed, {} cancelled), {} order webhooks \
         (seed {seed}); odoo-sandbox --cost-model odoo18-small",
        kinds(Step::Quotation),
        kinds(Step::Confirm),
        kinds(Step::Complete),
        kinds(Step::Cancel),
        stream
            .deliveries
            .iter()
            .filter(|d| stream.events[d.event].name.starts_with("order."))
            .count()
    );
    // `BENCH_ODOO_CAPACITIES` (default `1,4`) and `BENCH_ODOO_WORKERS` (default `1,2,4` at capacity 1,
    // `2,4` above) narrow the run for a quicker look; `BENCH_ODOO_TOP` (default 10) how many
    // methods the per-order breakdown lists.
    let list = |name: &str| -> Option<Vec<usize>> {
        std::env::var(name)
            .ok()
            .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
    };
    let top_n: usize = std::env::var("BENCH_ODOO_TOP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    for capacity in list("BENCH_ODOO_CAPACITIES").unwrap_or_else(|| vec![1, 4]) {
        let base = direct(&model, capacity).await;
        let mut rows = vec![];
        let fleets = list("BENCH_ODOO_WORKERS").unwrap_or_else(|| {
            if capacity == 1 {
                vec![1, 2, 4]
            } else {
                vec![2, 4]
            }
        });
        for &w in &fleets {
            rows.push(fleet(&stream, w, capacity).await);
        }
        println!();
        println!(
            "{:<34} {:>9} {:>7} {:>13} {:>7} {:>11} {:>7}",
            format!("capacity {capacity}"),
            "orders/s",
            "ratio",
            "busy s/order",
            "ratio",
            "calls/order",
            "ratio"
        );
        for f in std::iter::once(&base).chain(rows.iter()) {
            println!(
                "{:<34} {:>9.2} {:>6.2}× {:>13.2} {:>6.2}× {:>11.1} {:>6.2}×",
                f.label,
                f.orders_per_sec(),
                f.orders_per_sec() / base.orders_per_sec(),
                f.busy_per_order(),
                f.busy_per_order() / base.busy_per_order(),
                f.calls_per_order(),
                f.calls_per_order() / base.calls_per_order()
            );
        }
        if capacity == 1 {
            for f in std::iter::once(&base).chain(rows.iter().take(1)) {
                let mut top: Vec<(&String, &u64)> = f.by_call.iter().collect();
                top.sort_by(|a, b| b.1.cmp(a.1));
                let list: Vec<String> = top
                    .iter()
                    .take(top_n)
                    .map(|(k, v)| format!("{k} {:.2}", **v as f64 / f.orders as f64))
                    .collect();
                println!("  calls per order, {}: {}", f.label, list.join(", "));
                let mut busy: Vec<(&String, &f64)> = f.busy_by_call.iter().collect();
                busy.sort_by(|a, b| b.1.total_cmp(a.1));
                let list: Vec<String> = busy
                    .iter()
                    .take(top_n)
                    .map(|(k, v)| format!("{k} {:.0}", **v / f.orders as f64))
                    .collect();
                println!("  busy ms per order, {}: {}", f.label, list.join(", "));
            }
        }
    }
}
