//! Products with options as one `product.template` with a variant per Salla SKU (the store option
//! `variants`, default `templates`), against `odoo-sandbox` and a real Postgres: attributes and
//! values matched by name, variants matched by SKU, per-variant price (extras), barcode and active
//! flag, order lines on the variant, idempotent under repeats and lost answers, on Odoo 16–19;
//! products synced as separate products before keep working, matched by SKU.

mod common;

use common::*;
use odoo_sandbox::{Match, Version};
use salla_odoo_core::{MerchantId, StockMaster, SyncError, VariantLayout};
use salla_odoo_sync::Applied;
use serde_json::{Value, json};

const M: u64 = 1_717_000_001;

fn approx(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 0.011)
}

/// A T-shirt in sizes S and M and colours Red and Blue, four SKUs priced 50 + size (S 0, M 5) +
/// colour (Red 0, Blue 3); the Blue S has no SKU of its own (its code is the marker).
fn shirt() -> Value {
    json!({"id": 880_001, "sku": "TS", "name": "T-shirt", "type": "product",
    "price": {"amount": 50, "currency": "SAR"}, "status": "sale", "quantity": 12,
    "cost_price": {"amount": 20, "currency": "SAR"},
    "categories": [{"id": 1, "name": "Clothes"}],
    "options": [
        {"id": 1, "name": "Size", "type": "radio",
         "values": [{"id": 11, "name": "S", "price": {"amount": 0}}, {"id": 12, "name": "M"}]},
        {"id": 2, "name": "Colour", "type": "radio",
         "values": [{"id": 21, "name": "Red"}, {"id": 22, "name": "Blue"}]},
        {"id": 3, "name": "Gift note", "type": "text", "values": []}
    ],
    "skus": [
        {"id": 9101, "sku": "TS-S-R", "price": {"amount": 50}, "barcode": "6280000000011",
         "stock_quantity": 1, "related_option_values": [11, 21]},
        {"id": 9102, "sku": "TS-M-R", "price": {"amount": 55}, "barcode": "",
         "stock_quantity": 2, "related_option_values": [12, 21]},
        {"id": 9103, "sku": "", "price": {"amount": 53}, "stock_quantity": 3,
         "related_option_values": [11, 22]},
        {"id": 9104, "sku": "TS-M-B", "price": {"amount": "58.00"}, "stock_quantity": 4,
         "related_option_values": ["12", "22"]}
    ]})
}

fn product_job(event: &str, created_at: &str, data: Value) -> salla_odoo_core::SyncJobV1 {
    job_from(&envelope(event, M, created_at, data))
}

fn writes(h: &Harness) -> u64 {
    h.sb.inspect()
        .all_calls()
        .iter()
        .filter(|(k, _)| k.ends_with(".write") || k.ends_with(".create"))
        .filter_map(|(_, v)| v.as_u64())
        .sum()
}

fn total_calls(h: &Harness) -> u64 {
    h.sb.inspect()
        .all_calls()
        .values()
        .filter_map(Value::as_u64)
        .sum()
}

const ALL: &str = "active";

fn variants(h: &Harness, template: i64) -> Vec<Value> {
    h.read(
        "product.product",
        json!([
            ["product_tmpl_id", "=", template],
            [ALL, "in", [true, false]]
        ]),
        &[
            "default_code",
            "barcode",
            "active",
            "lst_price",
            "display_name",
            "standard_price",
        ],
    )
}

fn by_code(vs: &[Value], code: &str) -> Value {
    vs.iter()
        .find(|v| v["default_code"] == code)
        .unwrap_or_else(|| panic!("no variant {code}: {vs:?}"))
        .clone()
}

fn template_of(h: &Harness) -> i64 {
    let t = h.one(
        "product.template",
        json!([["name", "=", "T-shirt"], [ALL, "in", [true, false]]]),
        &["id"],
    );
    t["id"].as_i64().unwrap()
}

async fn mapped(h: &Harness, entity: &str, id: u64) -> salla_odoo_store::id_map::Mapping {
    salla_odoo_store::id_map::get(&h.db.pool, MerchantId::new(M), entity, id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no id map row {entity} {id}"))
}

#[tokio::test]
async fn a_product_with_options_is_one_template_with_a_variant_per_sku() {
    let h = Harness::new(Version::V18, M).await;
    client(&h.sb);
    h.ctx.odoo.as_ref().unwrap().capabilities().await.unwrap();
    let job = product_job("product.created", "2026-03-01 10:00:00", shirt());
    let before = total_calls(&h);
    let (ids, note) = h.applied(&job).await;
    let first = total_calls(&h) - before;
    assert_eq!(note, None);
    let t = template_of(&h);
    assert_eq!(ids["product.template"], json!([t]));
    assert_eq!(
        h.count("product.template", json!([["name", "=", "T-shirt"]])),
        1
    );
    // Attributes by name, created with their values, one line each, in Salla's order.
    let attrs = h.read("product.attribute", json!([]), &["name", "create_variant"]);
    let names: Vec<&str> = attrs.iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(
        names,
        ["Size", "Colour"],
        "options without SKU values are not attributes"
    );
    assert!(attrs.iter().all(|a| a["create_variant"] == "always"));
    let lines = h.read(
        "product.template.attribute.line",
        json!([["product_tmpl_id", "=", t]]),
        &["attribute_id", "value_ids"],
    );
    assert_eq!(lines.len(), 2);
    // One variant per SKU, each with its code (the marker for the SKU without one), barcode,
    // price (template 50 + extras) and the product's cost.
    let vs = variants(&h, t);
    assert_eq!(vs.len(), 4, "{vs:?}");
    let s_red = by_code(&vs, "TS-S-R");
    assert_eq!(s_red["barcode"], "6280000000011");
    assert!(approx(&s_red["lst_price"], 50.0), "{s_red}");
    assert!(approx(&s_red["standard_price"], 20.0), "{s_red}");
    assert!(approx(&by_code(&vs, "TS-M-R")["lst_price"], 55.0));
    assert_eq!(
        by_code(&vs, "TS-M-R")["barcode"],
        false,
        "an empty barcode is none"
    );
    assert!(approx(
        &by_code(&vs, "SALLA-880001-9103")["lst_price"],
        53.0
    ));
    let m_blue = by_code(&vs, "TS-M-B");
    assert!(approx(&m_blue["lst_price"], 58.0));
    assert!(
        m_blue["display_name"]
            .as_str()
            .unwrap()
            .ends_with("T-shirt (M, Blue)"),
        "{m_blue}"
    );
    assert!(vs.iter().all(|v| v["active"] == true));
    let tmpl = h.one(
        "product.template",
        json!([["id", "=", t]]),
        &["list_price", "categ_id", "is_storable", "type", "sale_ok"],
    );
    assert!(approx(&tmpl["list_price"], 50.0));
    assert_eq!(tmpl["is_storable"], true);
    assert_eq!(tmpl["type"], "consu");
    let categ = h.one(
        "product.category",
        json!([["name", "=", "Clothes"]]),
        &["id"],
    );
    assert_eq!(m2o(&tmpl["categ_id"]), categ["id"].as_i64());
    // No product of its own for the parent SKU.
    assert_eq!(
        h.count("product.product", json!([["default_code", "=", "TS"]])),
        0
    );

    // The id map: the product names its template, each SKU its variant, at the event's version.
    let p = mapped(&h, "product", 880_001).await;
    assert_eq!((p.odoo_model.as_str(), p.odoo_id), ("product.template", t));
    assert!(p.source_version > 0);
    let v = mapped(&h, "product_variant", 9104).await;
    assert_eq!(v.odoo_model, "product.product");
    assert_eq!(Some(v.odoo_id), m_blue["id"].as_i64());

    // Again: nothing created, nothing written; and few calls either time.
    let w = writes(&h);
    h.applied(&job).await;
    let newer = product_job("product.updated", "2026-03-01 11:00:00", shirt());
    let before = total_calls(&h);
    h.applied(&newer).await;
    let again = total_calls(&h) - before;
    assert_eq!(writes(&h), w, "{:?}", h.sb.inspect().all_calls());
    assert_eq!(
        h.count("product.product", json!([[ALL, "in", [true, false]]])),
        4
    );
    assert_eq!(h.count("product.attribute.value", json!([])), 4);
    eprintln!("odoo calls: new product {first}, unchanged product {again}");
    assert!(
        first <= 20,
        "new product: {first} calls: {:?}",
        h.sb.inspect().all_calls()
    );
    assert!(
        again <= 5,
        "unchanged product: {again} calls: {:?}",
        h.sb.inspect().all_calls()
    );
}

#[tokio::test]
async fn attributes_and_values_are_matched_by_name_and_shared() {
    let h = Harness::new(Version::V18, M).await;
    let odoo = client(&h.sb);
    // The merchant's own "Size" with S, and a "Colour" that never makes variants (not matched).
    let mut size = serde_json::Map::new();
    size.insert("name".into(), json!("Size"));
    size.insert("create_variant".into(), json!("always"));
    size.insert("value_ids".into(), json!([[0, 0, {"name": "S"}]]));
    let size = odoo.create("product.attribute", size).await.unwrap();
    let mut colour = serde_json::Map::new();
    colour.insert("name".into(), json!("Colour"));
    colour.insert("create_variant".into(), json!("no_variant"));
    odoo.create("product.attribute", colour).await.unwrap();
    h.applied(&product_job(
        "product.created",
        "2026-03-01 10:00:00",
        shirt(),
    ))
    .await;
    let sizes = h.read("product.attribute", json!([["name", "=", "Size"]]), &["id"]);
    assert_eq!(sizes, vec![json!({"id": size})], "Size matched by name");
    let values = h.read(
        "product.attribute.value",
        json!([["attribute_id", "=", size]]),
        &["name"],
    );
    let mut names: Vec<&str> = values.iter().filter_map(|v| v["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, ["M", "S"], "S matched, M created");
    let colours = h.read(
        "product.attribute",
        json!([["name", "=", "Colour"]]),
        &["create_variant"],
    );
    assert_eq!(
        colours.len(),
        2,
        "a no_variant attribute makes no variants: its own created"
    );

    // A second product shares the attributes and values.
    let mut cap = shirt();
    cap["id"] = json!(880_002);
    cap["sku"] = json!("CAP");
    cap["name"] = json!("Cap");
    for (i, s) in cap["skus"].as_array_mut().unwrap().iter_mut().enumerate() {
        s["id"] = json!(9201 + i);
        s["sku"] = json!(format!("CAP-{i}"));
        s["barcode"] = Value::Null;
    }
    h.applied(&product_job("product.created", "2026-03-01 10:05:00", cap))
        .await;
    assert_eq!(h.count("product.attribute", json!([])), 3);
    assert_eq!(h.count("product.attribute.value", json!([])), 4);
    assert_eq!(
        h.count(
            "product.template",
            json!([["name", "in", ["T-shirt", "Cap"]]])
        ),
        2
    );
    assert_eq!(
        h.count("product.product", json!([["default_code", "like", "CAP-"]])),
        4
    );
}

#[tokio::test]
async fn order_lines_point_at_the_variant_with_salla_prices() {
    let h = Harness::new(Version::V18, M).await;
    h.applied(&product_job(
        "product.created",
        "2026-03-01 10:00:00",
        shirt(),
    ))
    .await;
    let vs = variants(&h, template_of(&h));
    let item = |id: u64, sku: &str, price: u64, options: Value| {
        json!({"id": id, "name": "T-shirt", "sku": sku, "quantity": 1,
               "amounts": {"price_without_tax": {"amount": price, "currency": "SAR"},
                           "total_discount": {"amount": 0, "currency": "SAR"},
                           "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}},
                           "total": {"amount": price, "currency": "SAR"}},
               "product": {"id": 880_001, "sku": "TS"}, "options": options})
    };
    let order = json!({"id": 771_001, "reference_id": 1001, "currency": "SAR",
    "status": {"slug": "under_review"}, "date": {"date": "2026-03-02 09:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
    "customer": {"id": 55, "first_name": "Huda", "last_name": "Salem", "mobile": 512_340_001,
                 "mobile_code": "+966", "email": "huda@example.test", "country_code": "SA"},
    // 57 + 53 + 55: Salla's total is its lines' (the amounts invariant holds it to them).
    "amounts": {"sub_total": {"amount": 165, "currency": "SAR"},
                "shipping_cost": {"amount": 0, "currency": "SAR"},
                "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}},
                "total": {"amount": 165, "currency": "SAR"}},
    "items": [
        // The variant's own SKU; Salla's price (a discount) wins over Odoo's list price.
        item(1, "TS-M-B", 57, json!([{"id": 5, "product_option_id": 1, "name": "Size", "value": {"id": 12, "name": "M"}}])),
        // A variant without a SKU code: the options the customer chose name the variant.
        item(2, "", 53, json!([{"id": 6, "product_option_id": 1, "name": "Size", "value": {"id": 11, "name": "S"}},
                               {"id": 7, "product_option_id": 2, "name": "Colour", "value": [{"id": 22, "name": "Blue"}]},
                               {"id": 8, "product_option_id": 3, "name": "Gift note", "value": {"name": "Happy birthday"}}])),
        // The product's own SKU with options: the variant too.
        item(3, "TS", 55, json!([{"name": "Size", "value": {"name": "M"}}, {"name": "Colour", "value": {"name": "Red"}}]))
    ]});
    h.applied(&job_from(&envelope(
        "order.created",
        M,
        "2026-03-02 09:00:00",
        order,
    )))
    .await;
    let lines = h.read("sale.order.line", json!([]), &["product_id", "price_unit"]);
    let line_of = |code: &str| {
        let id = by_code(&vs, code)["id"].as_i64();
        lines
            .iter()
            .find(|l| m2o(&l["product_id"]) == id)
            .unwrap_or_else(|| panic!("no line on {code}: {lines:?}"))
            .clone()
    };
    assert!(approx(&line_of("TS-M-B")["price_unit"], 57.0));
    assert!(approx(&line_of("SALLA-880001-9103")["price_unit"], 53.0));
    assert!(approx(&line_of("TS-M-R")["price_unit"], 55.0));
    assert_eq!(
        h.count("product.product", json!([[ALL, "in", [true, false]]])),
        4,
        "no product made for a line"
    );
}

#[tokio::test]
async fn prices_that_depend_on_the_combination_leave_the_extras_at_zero_and_say_so() {
    let h = Harness::new(Version::V18, M).await;
    let mut data = shirt();
    data["skus"][3]["price"] = json!({"amount": 70});
    let (_, note) = h
        .applied(&product_job("product.created", "2026-03-01 10:00:00", data))
        .await;
    let note = note.unwrap_or_default();
    assert!(
        note.contains("not the product price plus an amount per option value"),
        "{note}"
    );
    let vs = variants(&h, template_of(&h));
    assert!(vs.iter().all(|v| approx(&v["lst_price"], 50.0)), "{vs:?}");
    // Then additive again: the extras follow.
    let (_, note) = h
        .applied(&product_job(
            "product.updated",
            "2026-03-01 11:00:00",
            shirt(),
        ))
        .await;
    assert_eq!(note, None);
    let vs = variants(&h, template_of(&h));
    assert!(approx(&by_code(&vs, "TS-M-B")["lst_price"], 58.0));
}

#[tokio::test]
async fn combinations_without_sku_and_skus_that_left_salla_are_archived() {
    let h = Harness::new(Version::V18, M).await;
    // Three SKUs on a 2 × 2 grid: Odoo makes four variants, the Blue S is archived without code.
    let mut data = shirt();
    data["skus"].as_array_mut().unwrap().remove(2);
    h.applied(&product_job(
        "product.created",
        "2026-03-01 10:00:00",
        data.clone(),
    ))
    .await;
    let t = template_of(&h);
    let vs = variants(&h, t);
    assert_eq!(vs.len(), 4);
    let extra: Vec<&Value> = vs.iter().filter(|v| v["active"] == false).collect();
    assert_eq!(extra.len(), 1, "{vs:?}");
    assert_eq!(extra[0]["default_code"], false);
    // A new size (XL, with its SKU) adds variants; TS-M-R is gone from Salla: archived.
    data["options"][0]["values"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": 13, "name": "XL"}));
    data["skus"].as_array_mut().unwrap().remove(1);
    data["skus"].as_array_mut().unwrap().push(
        json!({"id": 9105, "sku": "TS-XL-R", "price": {"amount": 60}, "related_option_values": [13, 21]}),
    );
    h.applied(&product_job(
        "product.updated",
        "2026-03-01 11:00:00",
        data.clone(),
    ))
    .await;
    let vs = variants(&h, t);
    let active: Vec<&str> = vs
        .iter()
        .filter(|v| v["active"] == true)
        .filter_map(|v| v["default_code"].as_str())
        .collect();
    let mut active = active;
    active.sort();
    assert_eq!(active, ["TS-M-B", "TS-S-R", "TS-XL-R"], "{vs:?}");
    assert!(approx(&by_code(&vs, "TS-XL-R")["lst_price"], 60.0));
    assert_eq!(by_code(&vs, "TS-M-R")["active"], false);
    // Stable: nothing more to write.
    let w = writes(&h);
    h.applied(&product_job("product.updated", "2026-03-01 12:00:00", data))
        .await;
    assert_eq!(writes(&h), w, "{:?}", h.sb.inspect().all_calls());
}

#[tokio::test]
async fn status_events_archive_and_restore_the_variants() {
    let h = Harness::new(Version::V18, M).await;
    let mut data = shirt();
    data["skus"].as_array_mut().unwrap().remove(2);
    h.applied(&product_job("product.created", "2026-03-01 10:00:00", data))
        .await;
    let t = template_of(&h);
    let status = |s: &str, at: &str| {
        product_job(
            "product.status.updated",
            at,
            json!({"id": 880_001, "sku": "TS", "status": s}),
        )
    };
    h.applied(&status("hidden", "2026-03-01 11:00:00")).await;
    let tmpl = h.one(
        "product.template",
        json!([["id", "=", t], [ALL, "in", [true, false]]]),
        &["active"],
    );
    assert_eq!(tmpl["active"], false);
    assert!(variants(&h, t).iter().all(|v| v["active"] == false));
    h.applied(&status("sale", "2026-03-01 12:00:00")).await;
    let vs = variants(&h, t);
    let active = vs.iter().filter(|v| v["active"] == true).count();
    assert_eq!(
        active, 3,
        "the SKUs' variants, not the combination without SKU: {vs:?}"
    );
    // A deleted product archives them all.
    h.applied(&product_job(
        "product.deleted",
        "2026-03-01 13:00:00",
        shirt(),
    ))
    .await;
    assert!(variants(&h, t).iter().all(|v| v["active"] == false));
}

#[tokio::test]
async fn salla_stock_goes_to_each_variant() {
    let h = Harness::with(Version::V18, M, |s| s.stock_master = StockMaster::Salla).await;
    h.applied(&product_job(
        "product.created",
        "2026-03-01 10:00:00",
        shirt(),
    ))
    .await;
    let ps = h.read(
        "product.product",
        json!([["default_code", "in", ["TS-S-R", "TS-M-B"]]]),
        &["default_code", "qty_available"],
    );
    let q = |c: &str| ps.iter().find(|p| p["default_code"] == c).unwrap()["qty_available"].clone();
    assert!(approx(&q("TS-S-R"), 1.0), "{ps:?}");
    assert!(approx(&q("TS-M-B"), 4.0), "{ps:?}");
}

/// A store whose variants were synced as separate products keeps them after switching to
/// templates: matched by SKU (and its id map), nothing duplicated; new products become templates.
#[tokio::test]
async fn variants_synced_as_separate_products_keep_working() {
    let mut h = Harness::with(Version::V18, M, |s| s.variants = VariantLayout::Separate).await;
    h.applied(&product_job(
        "product.created",
        "2026-03-01 10:00:00",
        shirt(),
    ))
    .await;
    assert_eq!(h.count("product.template", json!([])), 5, "parent + 4 SKUs");
    let before = h.read(
        "product.product",
        json!([[ALL, "in", [true, false]]]),
        &["default_code", "list_price"],
    );
    h.settings().variants = VariantLayout::Templates;
    let mut data = shirt();
    data["skus"][3]["price"] = json!({"amount": 59});
    let (_, note) = h
        .applied(&product_job(
            "product.updated",
            "2026-03-01 11:00:00",
            data.clone(),
        ))
        .await;
    assert_eq!(
        note, None,
        "known by the id map: the separate layout, quietly"
    );
    let after = h.read(
        "product.product",
        json!([[ALL, "in", [true, false]]]),
        &["default_code", "list_price"],
    );
    assert_eq!(after.len(), before.len());
    assert_eq!(
        h.count("product.attribute", json!([])),
        0,
        "no template made"
    );
    let m_blue = after
        .iter()
        .find(|p| p["default_code"] == "TS-M-B")
        .unwrap();
    assert!(
        approx(&m_blue["list_price"], 59.0),
        "the SKU's product still follows Salla"
    );

    // Without id map rows (lost, or made by an order with unknown SKUs): found by SKU.
    let mut other = Harness::with(Version::V18, M, |s| s.variants = VariantLayout::Separate).await;
    other
        .applied(&product_job(
            "product.created",
            "2026-03-01 10:00:00",
            shirt(),
        ))
        .await;
    other.settings().variants = VariantLayout::Templates;
    sqlx::query("DELETE FROM id_map")
        .execute(other.db.pool.as_postgres().unwrap())
        .await
        .unwrap();
    let (_, note) = other
        .applied(&product_job("product.updated", "2026-03-01 11:00:00", data))
        .await;
    let note = note.unwrap_or_default();
    assert!(note.contains("stay separate products"), "{note}");
    assert_eq!(other.count("product.template", json!([])), 5);
    assert_eq!(
        other.count("product.product", json!([["default_code", "=", "TS-M-B"]])),
        1
    );
    // The SKUs' rows are back, on the same products.
    let v =
        salla_odoo_store::id_map::get(&other.db.pool, MerchantId::new(M), "product_variant", 9104)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(v.odoo_model, "product.product");

    // A new product in the same store becomes a template.
    let mut cap = shirt();
    cap["id"] = json!(880_002);
    cap["sku"] = json!("CAP");
    cap["name"] = json!("Cap");
    for (i, s) in cap["skus"].as_array_mut().unwrap().iter_mut().enumerate() {
        s["sku"] = json!(format!("CAP-{i}"));
        s["id"] = json!(9201 + i);
        s["barcode"] = Value::Null;
    }
    h.applied(&product_job("product.created", "2026-03-01 12:00:00", cap))
        .await;
    assert_eq!(
        h.count("product.template", json!([["name", "=", "Cap"]])),
        1
    );
    assert_eq!(
        h.count("product.product", json!([["default_code", "like", "CAP-"]])),
        4
    );
}

#[tokio::test]
async fn options_that_do_not_line_up_keep_the_separate_layout_and_say_why() {
    let h = Harness::new(Version::V18, M).await;
    let mut data = shirt();
    data["skus"][0]["related_option_values"] = json!([999]);
    let (_, note) = h
        .applied(&product_job("product.created", "2026-03-01 10:00:00", data))
        .await;
    let note = note.unwrap_or_default();
    assert!(
        note.contains("do not line up") && note.contains("999"),
        "{note}"
    );
    assert_eq!(
        h.count("product.product", json!([["default_code", "=", "TS-S-R"]])),
        1
    );
    assert_eq!(
        h.count("product.product", json!([["default_code", "=", "TS"]])),
        1
    );
    assert_eq!(h.count("product.attribute", json!([])), 0);
}

/// Lost answers: a template create that committed but answered nothing, an attribute create, a
/// variant's code write; each retry ends in one template, one attribute per name, four coded
/// variants.
#[tokio::test]
async fn lost_answers_never_duplicate_templates_attributes_or_variants() {
    let h = Harness::new(Version::V18, M).await;
    for (model, method) in [
        ("product.attribute", "create"),
        ("product.template", "create"),
        ("product.product", "write"),
        ("product.template.attribute.value", "write"),
    ] {
        h.sb.faults()
            .commit_then_drop(Match::any().model(model).method(method).times(1));
    }
    let job = product_job("product.created", "2026-03-01 10:00:00", shirt());
    let mut attempts = 0;
    loop {
        attempts += 1;
        match h.apply(&job).await {
            Ok(Applied::Applied { .. }) => break,
            Err(SyncError::Transient { .. }) if attempts < 10 => continue,
            other => panic!("attempt {attempts}: {other:?}"),
        }
    }
    assert!(attempts >= 4, "the faults fired ({attempts} attempts)");
    assert_eq!(h.count("product.template", json!([])), 1);
    assert_eq!(h.count("product.attribute", json!([])), 2);
    assert_eq!(h.count("product.attribute.value", json!([])), 4);
    let vs = variants(&h, template_of(&h));
    assert_eq!(vs.len(), 4);
    let mut codes: Vec<&str> = vs
        .iter()
        .filter_map(|v| v["default_code"].as_str())
        .collect();
    codes.sort();
    assert_eq!(codes, ["SALLA-880001-9103", "TS-M-B", "TS-M-R", "TS-S-R"]);
    assert!(approx(&by_code(&vs, "TS-M-B")["lst_price"], 58.0));
}

/// A template whose create answered nothing, then the id map lost too (a crash before it was
/// recorded): found again by its name, attributes and variants without codes.
#[tokio::test]
async fn a_template_without_codes_is_adopted_by_its_name_and_attributes() {
    let h = Harness::new(Version::V18, M).await;
    h.sb.faults().commit_then_drop(
        Match::any()
            .model("product.template")
            .method("create")
            .times(1),
    );
    let job = product_job("product.created", "2026-03-01 10:00:00", shirt());
    assert!(matches!(
        h.apply(&job).await,
        Err(SyncError::Transient { .. })
    ));
    assert_eq!(h.count("product.template", json!([])), 1);
    h.applied(&job).await;
    assert_eq!(h.count("product.template", json!([])), 1);
    assert_eq!(variants(&h, template_of(&h)).len(), 4);
}

#[tokio::test]
async fn templates_work_on_odoo_16_17_and_19() {
    for (version, storable) in [
        (Version::V16, json!({"detailed_type": "product"})),
        (Version::V17, json!({"detailed_type": "product"})),
        (Version::V19, json!({"type": "consu", "is_storable": true})),
    ] {
        let h = Harness::new(version, M).await;
        let job = product_job("product.created", "2026-03-01 10:00:00", shirt());
        h.applied(&job).await;
        let t = template_of(&h);
        let fields: Vec<&str> = storable
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let tmpl = h.one("product.template", json!([["id", "=", t]]), &fields);
        for (k, v) in storable.as_object().unwrap() {
            assert_eq!(&tmpl[k], v, "{version:?}: {tmpl}");
        }
        let vs = variants(&h, t);
        assert_eq!(vs.len(), 4, "{version:?}");
        assert!(
            approx(&by_code(&vs, "TS-M-B")["lst_price"], 58.0),
            "{version:?}: {vs:?}"
        );
        assert!(approx(
            &by_code(&vs, "SALLA-880001-9103")["lst_price"],
            53.0
        ));
        let w = writes(&h);
        h.applied(&job).await;
        h.applied(&product_job(
            "product.updated",
            "2026-03-01 11:00:00",
            shirt(),
        ))
        .await;
        assert_eq!(
            writes(&h),
            w,
            "{version:?}: {:?}",
            h.sb.inspect().all_calls()
        );
    }
}

/// Two new products with the same new options, synced at once (a backfill): the attributes and
/// values they share are created once (a creation lock per Odoo database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_products_share_the_attributes_they_create() {
    let h = Harness::new(Version::V18, M).await;
    h.sb.faults().set_latency(
        std::time::Duration::from_millis(5),
        std::time::Duration::from_millis(5),
    );
    let mut cap = shirt();
    cap["id"] = json!(880_002);
    cap["sku"] = json!("CAP");
    cap["name"] = json!("Cap");
    for (i, s) in cap["skus"].as_array_mut().unwrap().iter_mut().enumerate() {
        s["id"] = json!(9201 + i);
        s["sku"] = json!(format!("CAP-{i}"));
        s["barcode"] = Value::Null;
    }
    // No category: nothing else makes one wait for the other.
    cap["categories"] = json!([]);
    let mut shirt = shirt();
    shirt["categories"] = json!([]);
    let a = product_job("product.created", "2026-03-01 10:00:00", shirt);
    let b = product_job("product.created", "2026-03-01 10:00:00", cap);
    let apply_until_done = async |job: &salla_odoo_core::SyncJobV1| {
        for _ in 0..10 {
            match h.apply(job).await {
                Ok(Applied::Applied { .. }) => return,
                Err(SyncError::Transient { .. }) => continue,
                other => panic!("{other:?}"),
            }
        }
        panic!("{} never applied", job.event);
    };
    tokio::join!(apply_until_done(&a), apply_until_done(&b));
    assert_eq!(h.count("product.attribute", json!([])), 2);
    assert_eq!(h.count("product.attribute.value", json!([])), 4);
    assert_eq!(h.count("product.template", json!([])), 2);
    assert_eq!(
        h.count("product.product", json!([[ALL, "in", [true, false]]])),
        8
    );
}

/// An order of a T-shirt SKU without the options chosen (only its code names the variant).
fn order_of_sku(order_id: u64, sku: &str) -> salla_odoo_core::SyncJobV1 {
    order_of(order_id, sku, "T-shirt", 880_001)
}

fn order_of(order_id: u64, sku: &str, name: &str, product: u64) -> salla_odoo_core::SyncJobV1 {
    let order = json!({"id": order_id, "reference_id": order_id, "currency": "SAR",
    "status": {"slug": "under_review"}, "date": {"date": "2026-03-02 09:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
    "customer": {"id": 55, "first_name": "Huda", "last_name": "Salem", "mobile": 512_340_001,
                 "mobile_code": "+966", "email": "huda@example.test", "country_code": "SA"},
    "amounts": {"sub_total": {"amount": 58, "currency": "SAR"},
                "shipping_cost": {"amount": 0, "currency": "SAR"},
                "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}},
                "total": {"amount": 58, "currency": "SAR"}},
    "items": [{"id": 1, "name": name, "sku": sku, "quantity": 1,
               "amounts": {"price_without_tax": {"amount": 58, "currency": "SAR"},
                           "total_discount": {"amount": 0, "currency": "SAR"},
                           "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}},
                           "total": {"amount": 58, "currency": "SAR"}},
               "product": {"id": product}, "options": []}]});
    job_from(&envelope("order.created", M, "2026-03-02 09:00:00", order))
}

fn products_with_code(h: &Harness, code: &str) -> Vec<Value> {
    h.read(
        "product.product",
        json!([["default_code", "=", code], [ALL, "in", [true, false]]]),
        &["product_tmpl_id"],
    )
}

/// Issue #17 (chaos seed 2, "2 products with code CH00-002-M-BLUE"): a template's sync failed
/// after the template was made and before its variants had their codes; an order of one of its
/// SKUs (`create_unknown_skus`) made a product of that code meanwhile. The template's retry leaves
/// that code where it is rather than make two products with it.
#[tokio::test]
async fn a_code_an_order_made_while_the_variants_had_none_is_not_written_twice() {
    let h = Harness::new(Version::V18, M).await;
    h.sb.faults().inject(
        Match::any()
            .model("product.product")
            .method("write")
            .times(1),
        odoo_sandbox::FaultKind::Http5xx(503),
    );
    let job = product_job("product.created", "2026-03-01 10:00:00", shirt());
    assert!(matches!(
        h.apply(&job).await,
        Err(SyncError::Transient { .. })
    ));
    assert_eq!(h.count("product.template", json!([])), 1);
    assert!(products_with_code(&h, "TS-M-B").is_empty());
    h.applied(&order_of_sku(771_101, "TS-M-B")).await;
    assert_eq!(products_with_code(&h, "TS-M-B").len(), 1);
    let (_, note) = h.applied(&job).await;
    assert_eq!(
        products_with_code(&h, "TS-M-B").len(),
        1,
        "one product per code ({note:?})"
    );
    assert!(note.unwrap_or_default().contains("TS-M-B"));
    // Later orders of the SKU find their product.
    h.applied(&order_of_sku(771_102, "TS-M-B")).await;
}

/// The same race as it happens: the order's unknown SKU while the template is being made waits for
/// the template's creation lock, then finds the variant by its code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_racing_a_new_template_finds_its_variant_instead_of_making_one() {
    let h = Harness::new(Version::V18, M).await;
    h.sb.faults().set_latency(
        std::time::Duration::from_millis(15),
        std::time::Duration::from_millis(0),
    );
    // The customer exists already: the order's first calls are its lines'.
    h.applied(&order_of(771_200, "OTHER-1", "Socks", 880_009))
        .await;
    let job = product_job("product.created", "2026-03-01 10:00:00", shirt());
    let order = order_of_sku(771_201, "TS-M-B");
    let template = async {
        for _ in 0..10 {
            match h.apply(&job).await {
                Ok(Applied::Applied { .. }) => return,
                Err(SyncError::Transient { .. }) => continue,
                other => panic!("{other:?}"),
            }
        }
        panic!("the template never applied");
    };
    let order = async {
        // Once the template exists (its variants without codes yet).
        while h.count("product.template", json!([["name", "=", "T-shirt"]])) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        for _ in 0..10 {
            match h.apply(&order).await {
                Ok(Applied::Applied { .. }) => return,
                Err(SyncError::Transient { .. }) => continue,
                other => panic!("{other:?}"),
            }
        }
        panic!("the order never applied");
    };
    tokio::join!(template, order);
    let hits = products_with_code(&h, "TS-M-B");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(m2o(&hits[0]["product_tmpl_id"]), Some(template_of(&h)));
}

/// Chaos seed 3 (issue #17, "its 4 SKUs are on 2 template(s)"): an order of a product kept as a
/// template whose options name none of its variants (here a size Salla added that the product's
/// sync has not brought yet) used to make a product of its own for the SKU, outside the template
/// for good. It waits (transient) for the product's sync, then points at the new variant.
#[tokio::test]
async fn options_that_name_no_variant_yet_wait_for_the_product_instead_of_making_one() {
    let h = Harness::new(Version::V18, M).await;
    h.applied(&product_job(
        "product.created",
        "2026-03-01 10:00:00",
        shirt(),
    ))
    .await;
    let mut order = order_of(771_300, "TS-L-R", "T-shirt", 880_001);
    order.data["items"][0]["options"] = json!([
        {"id": 1, "product_option_id": 1, "name": "Size", "type": "radio", "value": {"id": 13, "name": "L"}},
        {"id": 2, "product_option_id": 2, "name": "Colour", "type": "radio", "value": {"id": 21, "name": "Red"}}
    ]);
    match h.apply(&order).await {
        Err(SyncError::Transient { message, .. }) => {
            assert!(message.contains("TS-L-R"), "{message}");
            assert!(message.contains("Size=L"), "{message}");
        }
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert!(
        products_with_code(&h, "TS-L-R").is_empty(),
        "no product outside the template"
    );
    // Salla's product.updated brings the new size and its SKU.
    let mut shirt = shirt();
    shirt["options"][0]["values"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": 13, "name": "L"}));
    shirt["skus"].as_array_mut().unwrap().push(json!(
        {"id": 9105, "sku": "TS-L-R", "price": {"amount": 58}, "stock_quantity": 1,
         "related_option_values": [13, 21]}
    ));
    h.applied(&product_job(
        "product.updated",
        "2026-03-01 11:00:00",
        shirt,
    ))
    .await;
    h.applied(&order).await;
    let hits = products_with_code(&h, "TS-L-R");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(m2o(&hits[0]["product_tmpl_id"]), Some(template_of(&h)));
}

/// Two stores on one Odoo with a product of the same name and options (chaos seed 2, issue #17:
/// `no product "CH19-002-M"` on Odoo 19): store A's template create lost its answer, its retry
/// found the template by name and recorded it, then failed before the variants had their codes.
/// Store B's product, looking for a template whose create answered nothing, took that open
/// template by its name and wrote its codes there; A's next retry wrote A's codes over B's
/// variants, and B's SKUs were left without a product. Each product ends on a template of its
/// own with every SKU coded once.
#[tokio::test]
async fn a_template_left_open_by_a_lost_answer_is_not_shared_with_another_store_s_product() {
    const B: u64 = 1_717_000_002;
    let h = Harness::new(Version::V19, M).await;
    let mut b_settings = settings_for(B, &h.sb.url());
    b_settings.variants = Default::default();
    let store_b = salla_odoo_sync::SyncContext {
        odoo: Some(client(&h.sb)),
        pool: h.db.pool.clone(),
        keyring: Some(test_keyring()),
        settings: Some(b_settings),
        salla: None,
    };
    // The same product in both stores, B's in three sizes (its own ids and SKUs).
    let saffron = |id: u64, sku: &str, sizes: &[&str]| {
        let values: Vec<Value> = sizes
            .iter()
            .enumerate()
            .map(|(k, s)| json!({"id": id * 10 + k as u64, "name": s}))
            .collect();
        let skus: Vec<Value> = sizes
            .iter()
            .enumerate()
            .map(|(k, s)| {
                json!({"id": id * 100 + k as u64, "sku": format!("{sku}-{s}"),
                       "price": {"amount": 20 + 5 * k}, "related_option_values": [id * 10 + k as u64]})
            })
            .collect();
        json!({"id": id, "sku": sku, "name": "Saffron 5g #2", "type": "product",
               "price": {"amount": 20, "currency": "SAR"}, "status": "sale",
               "options": [{"id": id, "name": "Size", "type": "radio", "values": values}],
               "skus": skus})
    };
    let job_a = product_job(
        "product.created",
        "2026-03-01 10:00:00",
        saffron(400_017_002, "CH17-002", &["S", "M"]),
    );
    let job_b = job_from(&envelope(
        "product.created",
        B,
        "2026-03-01 10:00:05",
        saffron(400_019_002, "CH19-002", &["S", "M", "L"]),
    ));
    // A: the template's create commits but answers nothing; the retry finds it by name, records
    // it, and its first code write fails (nothing written).
    h.sb.faults().commit_then_drop(
        Match::any()
            .model("product.template")
            .method("create")
            .times(1),
    );
    assert!(matches!(
        h.apply(&job_a).await,
        Err(SyncError::Transient { .. })
    ));
    h.sb.faults().inject(
        Match::any()
            .model("product.product")
            .method("write")
            .times(1),
        odoo_sandbox::FaultKind::Http5xx(503),
    );
    assert!(matches!(
        h.apply(&job_a).await,
        Err(SyncError::Transient { .. })
    ));
    // B's product meanwhile, then A's retry.
    match salla_odoo_sync::apply(&store_b, &job_b).await {
        Ok(Applied::Applied { .. }) => {}
        other => panic!("B: {other:?}"),
    }
    h.applied(&job_a).await;
    // Every SKU of both stores is one variant, each product's on a template of its own.
    let mut templates = std::collections::BTreeSet::new();
    for (codes, merchant, product) in [
        (&["CH17-002-S", "CH17-002-M"][..], M, 400_017_002),
        (
            &["CH19-002-S", "CH19-002-M", "CH19-002-L"][..],
            B,
            400_019_002,
        ),
    ] {
        let mut of_product = std::collections::BTreeSet::new();
        for code in codes {
            let hits = products_with_code(&h, code);
            assert_eq!(hits.len(), 1, "{code}: {hits:?}");
            of_product.insert(m2o(&hits[0]["product_tmpl_id"]).unwrap());
        }
        assert_eq!(of_product.len(), 1, "{codes:?} on {of_product:?}");
        let t = *of_product.first().unwrap();
        let row = salla_odoo_store::id_map::get(
            &h.db.pool,
            MerchantId::new(merchant),
            "product",
            product,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(row.odoo_id, t, "the id map names the template of {codes:?}");
        assert!(templates.insert(t), "two products on template {t}");
    }
    // B's next event changes nothing of A's, and A's nothing of B's.
    let bump = |job: &salla_odoo_core::SyncJobV1, merchant: u64, at: &str| {
        job_from(&envelope("product.updated", merchant, at, job.data.clone()))
    };
    match salla_odoo_sync::apply(&store_b, &bump(&job_b, B, "2026-03-01 11:00:00")).await {
        Ok(Applied::Applied { .. }) => {}
        other => panic!("B again: {other:?}"),
    }
    h.applied(&bump(&job_a, M, "2026-03-01 11:00:00")).await;
    for code in [
        "CH17-002-S",
        "CH17-002-M",
        "CH19-002-S",
        "CH19-002-M",
        "CH19-002-L",
    ] {
        assert_eq!(products_with_code(&h, code).len(), 1, "{code}");
    }
}
