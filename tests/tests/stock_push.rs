//! Odoo's stock pushed to Salla (`salla-odoo stock push`) against odoo-sandbox and salla-sandbox:
//! products synced from Salla webhooks (a simple product, one with variants — one of them without
//! SKU — and one without SKU), their Odoo quantities pushed by SKU, variant id and product id; a
//! reserved quantity lowers what Salla shows; a push whose answer is lost is pushed again; a dry
//! run pushes nothing; `--sku` limits and `--all-products` resyncs; a product created since the
//! last push is pushed at zero (Salla would sell what the merchant typed); and no echo: the product
//! webhooks Salla sends back change nothing in Odoo's stock.

use std::time::{Duration, Instant};

use odoo::{Domain, SearchOptions};
use odoo_sandbox::{Options, Version};
use salla_odoo_tests::salla::authorize_event;
use salla_odoo_tests::*;
use serde_json::{Value, json};

const SIMPLE: u64 = 5_100_001;
const SHIRT: u64 = 5_100_002;
const RED: u64 = 5_200_001;
const BLUE: u64 = 5_200_002;
const PLAIN: u64 = 5_200_003;
const NO_SKU: u64 = 5_100_003;

struct Setup {
    odoo: odoo_sandbox::Sandbox,
    salla: salla_sandbox::Sandbox,
    fleet: Fleet,
    client: odoo::Client,
    merchant: u64,
}

/// Only the CLI pushes and reconciles here (`salla::env` keeps the loops off).
fn env(sandbox: &salla_sandbox::Sandbox) -> Vec<(String, String)> {
    salla::env(sandbox)
}

/// The three products as Salla holds them (and sends them in `product.created`).
fn products(updated_at: &str) -> Vec<Value> {
    vec![
        json!({"id": SIMPLE, "sku": "STK-A", "name": "Dates box", "type": "product",
               "price": {"amount": 100, "currency": "SAR"}, "quantity": 50, "status": "sale",
               "unlimited_quantity": false, "updated_at": updated_at, "skus": [], "categories": []}),
        json!({"id": SHIRT, "sku": "STK-B", "name": "Linen shirt", "type": "product",
        "price": {"amount": 90, "currency": "SAR"}, "quantity": 27, "status": "sale",
        "unlimited_quantity": false, "updated_at": updated_at, "categories": [],
        "skus": [
            {"id": RED, "sku": "STK-B-RED", "price": {"amount": 90, "currency": "SAR"}, "stock_quantity": 9},
            {"id": BLUE, "sku": "STK-B-BLUE", "price": {"amount": 90, "currency": "SAR"}, "stock_quantity": 9},
            {"id": PLAIN, "sku": "", "price": {"amount": 90, "currency": "SAR"}, "stock_quantity": 9}
        ]}),
        json!({"id": NO_SKU, "sku": "", "name": "Gift wrap", "type": "product",
               "price": {"amount": 5, "currency": "SAR"}, "quantity": 50, "status": "sale",
               "unlimited_quantity": false, "updated_at": updated_at, "skus": [], "categories": []}),
    ]
}

fn envelope(event: &str, merchant: u64, created_at: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"event": event, "merchant": merchant, "created_at": created_at,
                               "data": data}),
    )
    .unwrap()
}

/// A store whose stock master is Odoo, with the three products synced from Salla webhooks.
async fn setup(test: &str, merchant: u64, version: Version, store_options: &[&str]) -> Setup {
    let odoo = odoo_sandbox::spawn(Options {
        version,
        ..Default::default()
    })
    .await
    .unwrap();
    let salla = salla_sandbox::spawn(salla_sandbox::Options {
        stock_delay: Duration::from_millis(200),
        ..Default::default()
    })
    .await
    .unwrap();
    let env = env(&salla);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut fleet = Fleet::start_with(test, &env).await;
    fleet.add_store(merchant, &odoo.url(), store_options);
    let created = riyadh(-3600);
    for p in products(&created) {
        salla.seed_product(merchant, p.clone()).unwrap();
        let (status, _) = fleet
            .ingest
            .post_signed(&envelope("product.created", merchant, &created, p))
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = fleet
        .ingest
        .post_signed(&authorize_event(merchant, &salla.authorize(merchant)))
        .await;
    assert_eq!(status, 200);
    fleet.spawn_worker();
    fleet.wait_outcomes(4, Duration::from_secs(60)).await;
    let applied: i64 = fleet
        .db
        .scalar(
            "SELECT count(*) FROM sync_log WHERE event = 'product.created' AND outcome = 'applied'",
        )
        .await;
    assert_eq!(applied, 3, "{:?}", fleet.log().await);
    let client = odoo::Client::new(
        odoo::Config::new(&odoo.url(), "odoo", "admin", "admin".to_owned().into()).unwrap(),
    )
    .unwrap();
    Setup {
        odoo,
        salla,
        fleet,
        client,
        merchant,
    }
}

impl Setup {
    async fn product_id(&self, code: &str) -> i64 {
        let ids = self
            .client
            .search(
                "product.product",
                &Domain::new()
                    .eq("default_code", code)
                    .is_in("active", [true, false]),
                &SearchOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(ids.len(), 1, "one Odoo product {code}");
        ids[0]
    }

    /// An inventory adjustment in Odoo: `code` has `qty` on hand in WH/Stock.
    async fn set_stock(&self, code: &str, qty: f64) {
        let id = self.product_id(code).await;
        self.client.set_stock_on_hand(id, qty, None).await.unwrap();
    }

    async fn on_hand(&self, code: &str) -> f64 {
        let id = self.product_id(code).await;
        let r = self
            .client
            .read_one("product.product", id, &["qty_available"])
            .await
            .unwrap()
            .unwrap();
        r["qty_available"].as_f64().unwrap()
    }

    /// `salla-odoo --json stock push --merchant M ARGS`: the store's report, or the whole answer
    /// and the exit status when it failed.
    fn push(&self, extra: &[&str]) -> Result<Value, (Value, String)> {
        let m = self.merchant.to_string();
        let mut args = vec!["--json", "stock", "push", "--merchant", &m];
        args.extend_from_slice(extra);
        let out = self.fleet.cli(&args, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "stock push answered no JSON ({e}): {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        if out.status.success() {
            Ok(v["stores"][0].clone())
        } else {
            Err((v, String::from_utf8_lossy(&out.stderr).into_owned()))
        }
    }

    fn push_ok(&self, extra: &[&str]) -> Value {
        self.push(extra)
            .unwrap_or_else(|(v, err)| panic!("stock push failed: {v} {err}"))
    }

    /// Salla's applied quantity of a product (`product`) or of one of its variants.
    fn salla_quantity(&self, product: u64, variant: Option<u64>) -> Option<i64> {
        let p = self.salla.product(self.merchant, product)?;
        match variant {
            None => p["quantity"].as_i64(),
            Some(v) => p["skus"]
                .as_array()?
                .iter()
                .find(|s| s["id"].as_u64() == Some(v))?["stock_quantity"]
                .as_i64(),
        }
    }

    /// Wait (with a deadline) until Salla has applied every expected quantity.
    async fn wait_salla(&self, want: &[(u64, Option<u64>, i64)]) {
        let start = Instant::now();
        loop {
            let have: Vec<Option<i64>> = want
                .iter()
                .map(|(p, v, _)| self.salla_quantity(*p, *v))
                .collect();
            if have.iter().zip(want).all(|(h, (_, _, q))| *h == Some(*q)) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "Salla's quantities {have:?}, wanted {want:?}; updates: {:?}",
                self.salla.stock_updates(self.merchant)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn watermark(&self) -> Option<String> {
        let rows: Vec<(Option<String>,)> =
            sqlx::query_as("SELECT stock_watermark FROM stores WHERE merchant_id = $1")
                .bind(self.merchant as i64)
                .fetch_all(self.fleet.db.pg())
                .await
                .unwrap();
        rows.first().and_then(|r| r.0.clone())
    }

    async fn shutdown(self) {
        drop(self.fleet);
        self.odoo.shutdown().await;
        self.salla.shutdown().await;
    }
}

fn items(report: &Value) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = report["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    (
                        format!(
                            "{}:{}",
                            i["identifier_type"].as_str().unwrap(),
                            i["identifier"].as_str().unwrap()
                        ),
                        i["quantity"].as_i64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odoo_stock_reaches_salla_by_sku_variant_id_and_product_id() {
    const M: u64 = 803_001;
    let s = setup("stock-push-paths", M, Version::V18, &[]).await;
    s.set_stock("STK-A", 10.0).await;
    s.set_stock("STK-B-RED", 4.0).await;
    s.set_stock(&format!("SALLA-{SHIRT}-{PLAIN}"), 2.0).await;
    s.set_stock(&format!("SALLA-{NO_SKU}"), 7.0).await;

    // A dry run computes and pushes nothing. The store's first push is a full resync: every
    // product, stocked in Odoo or not (BLUE: 0), but not the product with variants itself.
    let dry = s.push_ok(&["--dry-run"]);
    assert_eq!(dry["changed"], 6, "{dry}");
    assert_eq!(dry["skipped_has_variants"], 1, "{dry}");
    assert_eq!(dry["pushed"], 0, "{dry}");
    assert!(dry["watermark"].is_null(), "{dry}");
    assert_eq!(
        items(&dry),
        vec![
            (format!("id:{NO_SKU}"), 7),
            ("sku:STK-A".to_owned(), 10),
            ("sku:STK-B-BLUE".to_owned(), 0),
            ("sku:STK-B-RED".to_owned(), 4),
            (format!("variant_id:{PLAIN}"), 2),
        ],
        "{dry}"
    );
    assert!(s.salla.stock_updates(M).is_empty());
    assert!(s.watermark().await.is_none());

    // The push: by SKU (a product and a variant), by variant id and by product id (no SKU).
    let run = s.push_ok(&[]);
    assert_eq!(run["changed"], 6, "{run}");
    assert_eq!(run["pushed"], 5, "{run}");
    assert_eq!(run["skipped_no_sku"], 0, "{run}");
    assert_eq!(run["batches"], 1, "{run}");
    assert_eq!(run["lag_seconds"], 0, "{run}");
    let mark = run["watermark"]
        .as_str()
        .expect("the watermark moved")
        .to_owned();
    assert_eq!(s.watermark().await.as_deref(), Some(mark.as_str()));
    s.wait_salla(&[
        (SIMPLE, None, 10),
        (SHIRT, Some(RED), 4),
        (SHIRT, Some(PLAIN), 2),
        (SHIRT, Some(BLUE), 0), // never stocked in Odoo: none to sell
        (NO_SKU, None, 7),
    ])
    .await;
    let sent = s.salla.stock_updates(M);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0]["products"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["mode"] == "overwrite"),
        "{sent:?}"
    );

    // --sku pushes that product alone (its current figure) and leaves the watermark.
    s.set_stock("STK-A", 12.0).await;
    let one = s.push_ok(&["--sku", "STK-A"]);
    assert_eq!(one["pushed"], 1, "{one}");
    assert_eq!(items(&one), vec![("sku:STK-A".to_owned(), 12)], "{one}");
    let sent = s.salla.stock_updates(M);
    assert_eq!(sent.len(), 2);
    let products = sent[1]["products"].as_array().unwrap();
    assert_eq!(products.len(), 1, "{sent:?}");
    assert_eq!(products[0]["identifer"], "STK-A");
    assert_eq!(s.watermark().await.as_deref(), Some(mark.as_str()));
    s.wait_salla(&[(SIMPLE, None, 12)]).await;
    let unknown = s.push(&["--sku", "NOPE"]);
    assert!(unknown.is_err(), "an unknown SKU is a failure: {unknown:?}");

    // --all-products resyncs everything, also what never changed in Odoo (BLUE: 0), but not the
    // product with variants itself (Salla sums its variants).
    let all = s.push_ok(&["--all-products"]);
    assert_eq!(all["skipped_has_variants"], 1, "{all}");
    assert_eq!(all["pushed"], 5, "{all}");
    s.wait_salla(&[
        (SIMPLE, None, 12),
        (SHIRT, Some(RED), 4),
        (SHIRT, Some(BLUE), 0),
        (SHIRT, Some(PLAIN), 2),
        (NO_SKU, None, 7),
    ])
    .await;
    let last = s.salla.stock_updates(M).pop().unwrap();
    assert!(
        !last["products"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["identifer"] == "STK-B"),
        "{last}"
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserved_quantity_lowers_what_salla_shows() {
    const M: u64 = 803_002;
    // Odoo 16 keeps reservations in `reserved_availability`; the quants carry them on every version.
    let s = setup("stock-push-reserved", M, Version::V16, &[]).await;
    s.set_stock("STK-A", 10.0).await;
    // A Salla order for 3 becomes a quotation; confirmed in Odoo, its delivery reserves 3.
    let order = order_event("order.created", M, 97_001, &riyadh(-60), 3, "STK-A");
    let (status, _) = s.fleet.ingest.post_signed(&order).await;
    assert_eq!(status, 200);
    s.fleet.wait_outcomes(5, Duration::from_secs(60)).await;
    let so = s
        .client
        .search(
            "sale.order",
            &Domain::new().eq("client_order_ref", format!("salla:{M}:97001")),
            &SearchOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(so.len(), 1, "{:?}", s.fleet.log().await);
    s.client.confirm_sale_order(so[0]).await.unwrap();
    let quants = s
        .odoo
        .inspect()
        .dump(
            "stock.quant",
            json!([
                ["product_id.default_code", "=", "STK-A"],
                ["location_id", "=", 8]
            ]),
        )
        .unwrap();
    assert_eq!(quants[0]["reserved_quantity"], 3.0, "{quants:?}");

    // The first push is a full resync (five products and variants; only STK-A has stock).
    let run = s.push_ok(&[]);
    assert_eq!(run["pushed"], 5, "{run}");
    s.wait_salla(&[(SIMPLE, None, 7)]).await;

    // The store shows on-hand quantities instead: 10.
    let out = s.fleet.cli(
        &[
            "store",
            "update",
            "--merchant",
            &M.to_string(),
            "--stock-quantity",
            "on-hand",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let one = s.push_ok(&["--sku", "STK-A"]);
    assert_eq!(items(&one), vec![("sku:STK-A".to_owned(), 10)], "{one}");
    s.wait_salla(&[(SIMPLE, None, 10)]).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_answer_is_lost_is_pushed_again() {
    const M: u64 = 803_003;
    let s = setup("stock-push-lost", M, Version::V18, &[]).await;
    s.set_stock("STK-A", 10.0).await;
    // Salla applies the update, but its answer never arrives.
    s.salla.faults().drop_after_write(
        salla_sandbox::Match::any()
            .path_prefix("/products/quantities/bulk")
            .times(1),
    );
    let (answer, stderr) = s.push(&[]).expect_err("the answer was lost");
    assert!(
        answer["failed"][0]
            .as_str()
            .is_some_and(|f| f.contains("outcome unknown")),
        "{answer} {stderr}"
    );
    assert!(s.watermark().await.is_none(), "the watermark stays");
    s.wait_salla(&[(SIMPLE, None, 10)]).await;

    // The next push sends the same overwrites again (still the first, full one): harmless.
    let again = s.push_ok(&[]);
    assert_eq!(again["pushed"], 5, "{again}");
    assert!(again["watermark"].is_string(), "{again}");
    assert_eq!(s.salla.stock_updates(M).len(), 2);
    s.wait_salla(&[(SIMPLE, None, 10)]).await;

    // And a later change goes through as usual.
    s.set_stock("STK-A", 6.0).await;
    let later = s.push_ok(&[]);
    assert!(later["pushed"].as_u64() >= Some(1), "{later}");
    s.wait_salla(&[(SIMPLE, None, 6)]).await;

    // An Odoo-only product (a SKU Salla does not know) is refused alone; the rest goes through.
    let mut vals = serde_json::Map::new();
    vals.insert("name".into(), json!("Packing tape"));
    vals.insert("default_code".into(), json!("ODOO-ONLY"));
    vals.extend(
        s.client
            .capabilities()
            .await
            .unwrap()
            .storable_product_values(),
    );
    s.client.create("product.product", vals).await.unwrap();
    s.set_stock("ODOO-ONLY", 40.0).await;
    s.set_stock("STK-A", 5.0).await;
    let mixed = s.push_ok(&[]);
    let rejected = mixed["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{mixed}");
    assert!(
        rejected[0].as_str().unwrap().starts_with("sku:ODOO-ONLY"),
        "{mixed}"
    );
    assert!(mixed["pushed"].as_u64() >= Some(1), "{mixed}");
    s.wait_salla(&[(SIMPLE, None, 5)]).await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_echo_salla_quantities_never_reach_odoo_while_odoo_is_master() {
    const M: u64 = 803_004;
    let s = setup("stock-push-echo", M, Version::V18, &[]).await;
    s.set_stock("STK-A", 10.0).await;
    s.push_ok(&[]);
    s.wait_salla(&[(SIMPLE, None, 10)]).await;
    let moves = s.odoo.inspect().count("stock.move", json!([])).unwrap();

    // Salla tells about the product again: once with the pushed quantity (the echo), once with
    // another one (a merchant's edit in Salla), and the stock events.
    let mut product = products(&riyadh(-30))[0].clone();
    product["quantity"] = json!(10);
    let mut edited = products(&riyadh(-20))[0].clone();
    edited["quantity"] = json!(99);
    edited["name"] = json!("Dates box (large)");
    let mut low = products(&riyadh(-10))[0].clone();
    low["quantity"] = json!(1);
    low["name"] = json!("Dates box (large)");
    // One at a time: each is applied (none is stale behind the next).
    for (i, (event, body)) in [
        ("product.updated", product),
        ("product.updated", edited),
        ("product.quantity.low", low),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, _) = s
            .fleet
            .ingest
            .post_signed(&envelope(event, M, &riyadh(0), body))
            .await;
        assert_eq!(status, 200);
        s.fleet
            .wait_outcomes(5 + i as i64, Duration::from_secs(60))
            .await;
    }
    let log = s.fleet.log().await;
    assert_eq!(
        log.iter()
            .filter(|(e, o, _)| e == "product.updated" && o == "applied")
            .count(),
        2,
        "{log:?}"
    );
    let name = s
        .client
        .read_one("product.product", s.product_id("STK-A").await, &["name"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(name["name"], "Dates box (large)", "the event was applied");
    assert_eq!(s.on_hand("STK-A").await, 10.0, "Odoo's stock is untouched");
    assert_eq!(
        s.odoo.inspect().count("stock.move", json!([])).unwrap(),
        moves,
        "no stock move"
    );

    // A store whose stock master is Salla is not pushed, and keeps today's direction.
    let out = s.fleet.cli(
        &[
            "store",
            "update",
            "--merchant",
            &M.to_string(),
            "--stock-master",
            "salla",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let updates = s.salla.stock_updates(M).len();
    let skipped = s.push_ok(&[]);
    assert!(
        skipped["skipped"]
            .as_str()
            .is_some_and(|w| w.contains("stock master is Salla")),
        "{skipped}"
    );
    assert_eq!(s.salla.stock_updates(M).len(), updates);
    let mut salla_side = products(&riyadh(0))[0].clone();
    salla_side["quantity"] = json!(5);
    let (status, _) = s
        .fleet
        .ingest
        .post_signed(&envelope("product.updated", M, &riyadh(0), salla_side))
        .await;
    assert_eq!(status, 200);
    s.fleet.wait_outcomes(8, Duration::from_secs(60)).await;
    assert_eq!(
        s.on_hand("STK-A").await,
        5.0,
        "Salla's quantity written to Odoo"
    );
    s.shutdown().await;
}

/// `secs` from now in Salla's plain date form (Riyadh time).
fn riyadh(secs: i64) -> String {
    salla::riyadh(time::Duration::seconds(secs))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_created_since_the_last_push_is_pushed_at_zero() {
    const M: u64 = 803_005;
    const NEW: u64 = 5_100_009;
    let s = setup("stock-push-new", M, Version::V17, &[]).await;
    s.set_stock("STK-A", 10.0).await;
    let first = s.push_ok(&[]);
    assert!(first["watermark"].is_string(), "{first}");
    s.wait_salla(&[(SIMPLE, None, 10)]).await;

    // The merchant adds a product in Salla with 30 in stock; the sync creates it in Odoo, where
    // nothing is in stock yet. Salla must not go on selling 30.
    let created = riyadh(0);
    let p = json!({"id": NEW, "sku": "STK-NEW", "name": "Saffron", "type": "product",
                   "price": {"amount": 40, "currency": "SAR"}, "quantity": 30, "status": "sale",
                   "unlimited_quantity": false, "updated_at": created, "skus": [], "categories": []});
    s.salla.seed_product(M, p.clone()).unwrap();
    let (status, _) = s
        .fleet
        .ingest
        .post_signed(&envelope("product.created", M, &created, p))
        .await;
    assert_eq!(status, 200);
    s.fleet.wait_outcomes(5, Duration::from_secs(60)).await;
    s.product_id("STK-NEW").await;

    let run = s.push_ok(&[]);
    assert!(
        items(&run).is_empty(),
        "a run keeps no items unless asked: {run}"
    );
    s.wait_salla(&[(NEW, None, 0), (SIMPLE, None, 10)]).await;
    s.shutdown().await;
}

/// A product with options kept as one template (the default layout for new stores): each
/// variant's Odoo stock reaches Salla under its SKU, the variant without a SKU code by its
/// variant id, and the combination Odoo made that Salla has no SKU for is never pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_variants_are_pushed_by_sku_and_variant_id() {
    const M: u64 = 803_006;
    const ABAYA: u64 = 5_100_010;
    const S_BLACK: u64 = 5_200_011;
    const M_BLACK: u64 = 5_200_012;
    const M_NAVY: u64 = 5_200_013;
    let s = setup("stock-push-templates", M, Version::V18, &[]).await;
    let created = riyadh(-1800);
    let p = json!({"id": ABAYA, "sku": "ABY", "name": "Abaya", "type": "product",
    "price": {"amount": 300, "currency": "SAR"}, "quantity": 9, "status": "sale",
    "unlimited_quantity": false, "updated_at": created, "categories": [],
    "options": [
        {"id": 71, "name": "Size", "values": [{"id": 711, "name": "S"}, {"id": 712, "name": "M"}]},
        {"id": 72, "name": "Colour", "values": [{"id": 721, "name": "Black"}, {"id": 722, "name": "Navy"}]}
    ],
    "skus": [
        {"id": S_BLACK, "sku": "ABY-S-BLK", "price": {"amount": 300, "currency": "SAR"},
         "stock_quantity": 3, "related_option_values": [711, 721]},
        {"id": M_BLACK, "sku": "", "price": {"amount": 320, "currency": "SAR"},
         "stock_quantity": 3, "related_option_values": [712, 721]},
        {"id": M_NAVY, "sku": "ABY-M-NVY", "price": {"amount": 330, "currency": "SAR"},
         "stock_quantity": 3, "related_option_values": [712, 722]}
    ]});
    s.salla.seed_product(M, p.clone()).unwrap();
    let (status, _) = s
        .fleet
        .ingest
        .post_signed(&envelope("product.created", M, &created, p))
        .await;
    assert_eq!(status, 200);
    s.fleet.wait_outcomes(5, Duration::from_secs(60)).await;
    let templates = s
        .client
        .search(
            "product.template",
            &Domain::new().eq("name", "Abaya"),
            &SearchOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(templates.len(), 1, "{:?}", s.fleet.log().await);
    s.set_stock("ABY-S-BLK", 5.0).await;
    s.set_stock(&format!("SALLA-{ABAYA}-{M_BLACK}"), 1.0).await;

    let dry = s.push_ok(&["--dry-run"]);
    let ours: Vec<(String, i64)> = items(&dry)
        .into_iter()
        .filter(|(i, _)| i.contains("ABY") || i.contains(&M_BLACK.to_string()))
        .collect();
    assert_eq!(
        ours,
        vec![
            ("sku:ABY-M-NVY".to_owned(), 0),
            ("sku:ABY-S-BLK".to_owned(), 5),
            (format!("variant_id:{M_BLACK}"), 1),
        ],
        "{dry}"
    );
    s.push_ok(&[]);
    s.wait_salla(&[
        (ABAYA, Some(S_BLACK), 5),
        (ABAYA, Some(M_BLACK), 1),
        (ABAYA, Some(M_NAVY), 0),
    ])
    .await;
    s.shutdown().await;
}
