//! Every body shape Salla documents for the routed events, applied through the handlers against
//! `odoo-sandbox` and Postgres (see `common`). The bodies are written here in Salla's shapes with
//! other values (the parsing side is `crates/salla/tests/event_shapes.rs`, which lists the docs
//! pages): money as objects, plain numbers and numeric strings; `shipping: null`; `sku: ""`; the
//! order nested in a status entry; the small product events.

mod common;

use common::*;
use odoo_sandbox::Version;
use salla_odoo_core::MerchantId;
use serde_json::{Value, json};

fn approx(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 0.011)
}

fn product_by_code(h: &Harness, code: &str, fields: &[&str]) -> Value {
    h.one(
        "product.product",
        json!([["default_code", "=", code], ["active", "in", [true, false]]]),
        fields,
    )
}

// ----- products ----------------------------------------------------------------------------------

/// A full product (the product model: money objects).
fn tea(merchant_time: &str) -> Value {
    json!({"id": 1_500_310_442u64, "sku": "TEA-GRN-100", "name": "Green tea 100 g", "type": "product",
           "price": {"amount": 80, "currency": "SAR"}, "taxed_price": {"amount": 92, "currency": "SAR"},
           "regular_price": {"amount": 80, "currency": "SAR"}, "sale_price": {"amount": 0, "currency": "SAR"},
           "cost_price": null, "quantity": 30, "status": "sale", "unlimited_quantity": false,
           "updated_at": merchant_time, "skus": [], "categories": [], "brand": null})
}

/// `product.price.updated` as documented: plain numbers, `sale_price` as `{amount, expired_at}`.
fn price_updated(price: Value, cost: Value, taxed: Value) -> Value {
    json!({"id": 1_500_310_442u64, "sku": "TEA-GRN-100", "mpn": "MPN-4410", "gtin": "62810001",
           "cost": cost, "starting_price": null, "price": price.clone(),
           "sale_price": {"amount": 79.5, "expired_at": "2026-04-30"}, "tax": 15,
           "taxed_price": taxed, "regular_price": price, "currency": "SAR", "with_tax": true})
}

/// The body: `product.price.updated` with plain numbers sets the Odoo price (and cost), in
/// each form money arrives in, and leaves everything it does not carry.
#[tokio::test]
async fn product_price_updated_with_plain_numbers_sets_the_price() {
    const M: u64 = 1_710_000_001;
    let h = Harness::new(Version::V18, M).await;
    h.applied(&job_from(&envelope(
        "product.created",
        M,
        "2026-03-01 10:00:00",
        tea("2026-03-01 10:00:00"),
    )))
    .await;
    let p = product_by_code(&h, "TEA-GRN-100", &["list_price", "standard_price", "name"]);
    assert!(approx(&p["list_price"], 80.0), "{p}");

    let forms = [
        ("2026-03-01 10:05:00", json!(100), json!(41), 100.0, 41.0),
        (
            "2026-03-01 10:06:00",
            json!("100.50"),
            json!("41.10"),
            100.5,
            41.1,
        ),
        (
            "2026-03-01 10:07:00",
            json!({"amount": 99.5, "currency": "SAR"}),
            json!({"amount": "40"}),
            99.5,
            40.0,
        ),
    ];
    for (at, price, cost, want_price, want_cost) in forms {
        let job = job_from(&envelope(
            "product.price.updated",
            M,
            at,
            price_updated(price.clone(), cost, json!(115)),
        ));
        h.applied(&job).await;
        let p = product_by_code(
            &h,
            "TEA-GRN-100",
            &["list_price", "standard_price", "name", "active"],
        );
        assert!(approx(&p["list_price"], want_price), "{price}: {p}");
        assert!(approx(&p["standard_price"], want_cost), "{price}: {p}");
        assert_eq!(p["name"], "Green tea 100 g", "a price event keeps the name");
        assert_eq!(p["active"], true);
        // Delivered again: nothing more is written.
        let writes = h.sb.inspect().calls("product.product", "write");
        h.applied(&job).await;
        assert_eq!(h.sb.inspect().calls("product.product", "write"), writes);
    }
    assert_eq!(
        h.count(
            "product.product",
            json!([["default_code", "=", "TEA-GRN-100"]])
        ),
        1
    );

    // A price change for a product Odoo does not have creates nothing (it has no name).
    let mut unknown = price_updated(json!(12), json!(5), json!(13.8));
    unknown["id"] = json!(1_500_999_001u64);
    unknown["sku"] = json!("NOT-IN-ODOO");
    let reason = h
        .skipped(&job_from(&envelope(
            "product.price.updated",
            M,
            "2026-03-01 10:08:00",
            unknown,
        )))
        .await;
    assert!(reason.contains("carries too little"), "{reason}");
    assert_eq!(
        h.count(
            "product.product",
            json!([["default_code", "=", "NOT-IN-ODOO"]])
        ),
        0
    );
}

/// A store whose prices include its tax lists `taxed_price`, a plain number in the price event.
#[tokio::test]
async fn product_price_updated_lists_the_taxed_price_when_prices_include_tax() {
    const M: u64 = 1_710_000_002;
    let h = Harness::with(Version::V18, M, |s| {
        s.tax_id = Some(1);
        s.prices_include_tax = true;
    })
    .await;
    h.applied(&job_from(&envelope(
        "product.created",
        M,
        "2026-03-01 10:00:00",
        tea("2026-03-01 10:00:00"),
    )))
    .await;
    assert!(approx(
        &product_by_code(&h, "TEA-GRN-100", &["list_price"])["list_price"],
        92.0
    ));
    h.applied(&job_from(&envelope(
        "product.price.updated",
        M,
        "2026-03-01 10:05:00",
        price_updated(json!(100), json!(41), json!(115)),
    )))
    .await;
    let p = product_by_code(&h, "TEA-GRN-100", &["list_price", "standard_price"]);
    assert!(approx(&p["list_price"], 115.0), "{p}");
    assert!(approx(&p["standard_price"], 41.0), "{p}");
}

/// The product model's events (created, updated with variants in every money form, quantity.low,
/// available, deleted) and the small ones (category, brand, status).
#[tokio::test]
async fn product_model_and_small_events_sync() {
    const M: u64 = 1_710_000_003;
    let h = Harness::new(Version::V17, M).await;
    // A service without SKU, as documented: `sku: ""`, `cost_price: null`.
    let service = json!({"id": 1_180_442_907u64, "sku": "", "mpn": null, "gtin": null, "type": "service",
        "name": "Consultation hour", "price": {"amount": 450, "currency": "SAR"},
        "taxed_price": {"amount": 517.5, "currency": "SAR"}, "tax": {"amount": 67.5, "currency": "SAR"},
        "quantity": 8, "status": "sale", "sale_price": {"amount": 0, "currency": "SAR"}, "cost_price": null,
        "regular_price": {"amount": 450, "currency": "SAR"}, "unlimited_quantity": false,
        "updated_at": "2026-01-20 14:02:11", "options": [], "skus": [], "categories": [], "brand": null,
        "main_image": null, "images": [], "tags": []});
    h.applied(&job_from(&envelope(
        "product.created",
        M,
        "Tue Jan 20 2026 14:02:12 GMT+0300",
        service,
    )))
    .await;
    let p = product_by_code(
        &h,
        "SALLA-1180442907",
        &["list_price", "detailed_type", "active"],
    );
    assert!(approx(&p["list_price"], 450.0), "{p}");
    assert_eq!(p["detailed_type"], "service");

    // A product with variants whose prices are an object, a number and a string.
    let shirt = |updated_at: &str, quantity: u32| {
        json!({"id": 2_300_001, "sku": "SHIRT", "name": "Linen shirt", "type": "product",
        "price": {"amount": 90, "currency": "SAR"}, "quantity": quantity, "status": "sale",
        "updated_at": updated_at, "categories": [{"id": 310_001, "name": "Shirts"}],
        "skus": [
            {"id": 8_100_001, "sku": "SHIRT-S", "price": {"amount": 90, "currency": "SAR"}, "stock_quantity": 4},
            {"id": "8100002", "sku": "SHIRT-M", "price": 95.25, "stock_quantity": "6"},
            {"id": 8_100_003, "sku": "", "price": "99.90", "stock_quantity": null}
        ]})
    };
    h.applied(&job_from(&envelope(
        "product.updated",
        M,
        "2026-02-01 09:00:00",
        shirt("2026-02-01 09:00:00", 10),
    )))
    .await;
    for (code, price) in [
        ("SHIRT", 90.0),
        ("SHIRT-S", 90.0),
        ("SHIRT-M", 95.25),
        ("SALLA-2300001-8100003", 99.9),
    ] {
        let p = product_by_code(&h, code, &["list_price", "categ_id"]);
        assert!(approx(&p["list_price"], price), "{code}: {p}");
    }
    for (event, at) in [
        ("product.quantity.low", "2026-02-01 09:10:00"),
        ("product.available", "2026-02-01 09:20:00"),
    ] {
        h.applied(&job_from(&envelope(event, M, at, shirt(at, 2))))
            .await;
    }

    // product.category.updated: id, SKU and the categories.
    h.applied(&job_from(&envelope(
        "product.category.updated",
        M,
        "2026-02-01 09:30:00",
        json!({"id": 2_300_001, "barcode": null, "sku": "SHIRT", "mpn": "SH1", "gtin": "44556677",
               "categories": [{"id": 310_002, "name": "Summer"}]}),
    )))
    .await;
    let summer = h.one(
        "product.category",
        json!([["name", "=", "Summer"]]),
        &["id"],
    );
    let p = product_by_code(&h, "SHIRT", &["categ_id", "name", "list_price"]);
    assert_eq!(m2o(&p["categ_id"]), summer["id"].as_i64(), "{p}");
    assert_eq!(p["name"], "Linen shirt");
    assert!(approx(&p["list_price"], 90.0));

    // product.brand.updated: nothing the connector maps, applied without a change.
    let writes = h.sb.inspect().calls("product.product", "write");
    h.applied(&job_from(&envelope(
        "product.brand.updated",
        M,
        "2026-02-01 09:40:00",
        json!({"id": 2_300_001, "barcode": null, "sku": "SHIRT", "mpn": "SH1", "gtin": "44556677",
               "brand": {"id": 2_001_900_400u64, "name": "Glow"}}),
    )))
    .await;
    assert_eq!(h.sb.inspect().calls("product.product", "write"), writes);

    // product.status.updated: hidden archives.
    h.applied(&job_from(&envelope(
        "product.status.updated",
        M,
        "2026-02-01 09:50:00",
        json!({"id": 2_300_001, "sku": "SHIRT", "mpn": "SH1", "gtin": "44556677", "status": "hidden"}),
    )))
    .await;
    assert_eq!(product_by_code(&h, "SHIRT", &["active"])["active"], false);

    // product.deleted (the product model): the product and its variants are archived.
    h.applied(&job_from(&envelope(
        "product.deleted",
        M,
        "2026-02-01 10:00:00",
        shirt("2026-02-01 10:00:00", 0),
    )))
    .await;
    assert_eq!(
        h.count(
            "product.product",
            json!([["default_code", "like", "SHIRT"], ["active", "=", true]])
        ),
        0
    );
}

// ----- customers ---------------------------------------------------------------------------------

#[tokio::test]
async fn customer_shapes_sync_to_one_partner() {
    const M: u64 = 1_710_000_004;
    let h = Harness::new(Version::V18, M).await;
    let created = json!({"id": 612_004_981, "first_name": "Reem", "last_name": "Nasser",
        "mobile": 533_210_987, "mobile_code": "+966", "email": "reem@example.test",
        "avatar": "https://cdn.example.test/a.webp", "gender": "female",
        "birthday": {"date": "1994-09-12 00:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "city": "جدة", "country": "السعودية", "country_code": "SA", "currency": "SAR", "location": "3",
        "updated_at": {"date": "2026-01-05 16:20:44.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "groups": [], "source": {"device": "mobile", "ip": "10.1.2.3"}, "is_notifications_enabled": false});
    let (ids, _) = h
        .applied(&job_from(&envelope(
            "customer.created",
            M,
            "Mon Jan 05 2026 16:20:45 GMT+0300",
            created.clone(),
        )))
        .await;
    let pid = ids["res.partner"][0].as_i64().unwrap();
    let p = h.one(
        "res.partner",
        json!([["id", "=", pid]]),
        &["name", "mobile", "email", "city", "ref"],
    );
    assert_eq!(p["name"], "Reem Nasser");
    assert_eq!(p["mobile"], "+966533210987");
    assert_eq!(p["ref"], format!("salla:{M}:612004981"));

    // customer.updated: the id and mobile as strings, the mobile with its code.
    let mut updated = created;
    updated["id"] = json!("612004981");
    updated["mobile"] = json!("+966533210988");
    updated["email"] = json!("reem.n@example.test");
    updated["updated_at"] = json!("2026-01-06 09:00:00");
    let (ids, _) = h
        .applied(&job_from(&envelope(
            "customer.updated",
            M,
            "2026-01-06 09:00:01",
            updated,
        )))
        .await;
    assert_eq!(ids["res.partner"][0].as_i64(), Some(pid));
    let p = h.one(
        "res.partner",
        json!([["id", "=", pid]]),
        &["mobile", "email"],
    );
    assert_eq!(p["mobile"], "+966533210988");
    assert_eq!(p["email"], "reem.n@example.test");
    assert_eq!(
        h.count("res.partner", json!([["ref", "like", "salla:"]])),
        1
    );
}

// ----- orders ------------------------------------------------------------------------------------

/// The order model as the Orders page shows it, with a shipping block, shipments carrying `null`s
/// and options with a list `value`.
fn order(id: u64, slug: &str) -> Value {
    json!({
        "id": id, "reference_id": 50_218_377,
        "date": {"date": "2026-02-11 18:40:12.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "status": {"id": 566_146_469, "name": slug, "slug": slug, "customized": {"id": 12, "name": slug}},
        "payment_method": "cod", "currency": "SAR",
        "amounts": {
            "sub_total": {"amount": 240, "currency": "SAR"},
            "shipping_cost": {"amount": 22.5, "currency": "SAR"},
            "cash_on_delivery": {"amount": "7", "currency": "SAR"},
            "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}},
            "discounts": [{"title": "Ramadan", "type": "special", "code": "RMD", "discount": "12.00"}],
            "total": {"amount": 257.5, "currency": "SAR"}
        },
        "shipping": {
            "id": 448_120_931, "app_id": null, "company": "Quick Courier", "logo": "",
            "receiver": {"name": "Huda Salem", "email": "huda@example.test", "phone": "966512340001"},
            "address": {"country": "SA", "country_code": "SA", "city": "الخبر",
                        "shipping_address": "12 Corniche Rd, Al Khobar", "street_number": "12 Corniche Rd",
                        "block": "Al Yarmouk", "postal_code": "", "geo_coordinates": {"lat": 0, "lng": 0}},
            "shipment": {"id": "0", "pickup_id": null, "tracking_link": "0", "label": []},
            "policy_options": []
        },
        "shipments": [{"id": 771_204_883, "created_at": null, "shipping_number": null,
                       "tracking_number": null, "tracking_link": null, "label": null, "status": "in_progress",
                       "total": {"amount": 29.5, "currency": "SAR"}}],
        "customer": {"id": 331_908_117, "first_name": "Huda", "last_name": "Salem", "mobile": 512_340_001,
                     "mobile_code": "+966", "email": "huda@example.test", "city": "الخبر",
                     "country": "السعودية", "country_code": "SA",
                     "updated_at": {"date": "2026-02-10 08:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"}},
        "items": [{
            "id": 90_001, "name": "Cardamom coffee", "sku": "CARD-250", "quantity": 2,
            "amounts": {"price_without_tax": {"amount": 120, "currency": "SAR"},
                        "total_discount": {"amount": "12.00", "currency": "SAR"},
                        "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}},
                        "total": {"amount": 228, "currency": "SAR"}},
            "product": {"id": 2_204_118_930u64, "sku": "CARD-250", "price": {"amount": 120, "currency": "SAR"}},
            "options": [{"id": 61, "name": "Grind", "type": "checkbox",
                         "value": [{"id": 63, "name": "Fine", "price": {"amount": 0, "currency": "SAR"}}]}],
            "codes": [], "files": []
        }]
    })
}

fn sale_order(h: &Harness, merchant: u64, id: u64, fields: &[&str]) -> Value {
    h.one(
        "sale.order",
        json!([["client_order_ref", "=", format!("salla:{merchant}:{id}")]]),
        fields,
    )
}

fn line_codes(h: &Harness, so: &Value) -> Vec<String> {
    let lines = h.read(
        "sale.order.line",
        json!([["order_id", "=", so["id"]]]),
        &["product_id"],
    );
    let mut codes: Vec<String> = lines
        .iter()
        .map(|l| {
            product_by_code_id(h, m2o(&l["product_id"]).unwrap())["default_code"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    codes.sort();
    codes
}

fn product_by_code_id(h: &Harness, id: i64) -> Value {
    h.one(
        "product.product",
        json!([["id", "=", id], ["active", "in", [true, false]]]),
        &["default_code"],
    )
}

/// The captured `order.created` of §10: `shipping: null`, `shipments: null`, `sku: ""` (the line
/// is the product `items[].product.id`), `options[].value` an object.
#[tokio::test]
async fn order_created_as_captured_with_nulls_syncs() {
    const M: u64 = 1_710_000_005;
    let h = Harness::new(Version::V18, M).await;
    let mut data = order(1_830_114_001, "under_review");
    data["shipping"] = Value::Null;
    data["shipments"] = Value::Null;
    data["items"][0]["sku"] = json!("");
    data["items"][0]["options"][0]["value"] = json!({"id": 63, "name": "Fine", "price": {"amount": 0, "currency": "SAR"}, "option_value": ""});
    h.applied(&job_from(&envelope(
        "order.created",
        M,
        "Wed Feb 11 2026 18:40:15 GMT+0300",
        data,
    )))
    .await;
    let so = sale_order(
        &h,
        M,
        1_830_114_001,
        &[
            "state",
            "partner_id",
            "partner_shipping_id",
            "amount_untaxed",
        ],
    );
    assert_eq!(so["state"], "draft");
    assert_eq!(
        so["partner_shipping_id"], so["partner_id"],
        "no shipping block: no delivery address"
    );
    assert_eq!(
        line_codes(&h, &so),
        ["SALLA-2204118930", "SALLA-COD", "SALLA-SHIPPING"]
    );
    // 2 × 120 less 12, shipping 22.5, cash on delivery 7.
    assert!(approx(&so["amount_untaxed"], 257.5), "{so}");
}

/// The events that share the order model, in the order a merchant's edits send them.
#[tokio::test]
async fn order_model_events_sync() {
    const M: u64 = 1_710_000_006;
    const ID: u64 = 1_830_114_002;
    let h = Harness::new(Version::V18, M).await;
    // `pickup_branch` next to `data`, as in the docs example.
    let mut created = envelope(
        "order.created",
        M,
        "2026-02-11 18:40:15",
        order(ID, "under_review"),
    );
    created["pickup_branch"] = json!({"id": 77, "name": "Main", "type": [], "cod_cost": "15"});
    h.applied(&job_from(&created)).await;
    let so = sale_order(
        &h,
        M,
        ID,
        &["amount_untaxed", "partner_shipping_id", "partner_id"],
    );
    assert!(approx(&so["amount_untaxed"], 257.5), "{so}");
    assert_ne!(so["partner_shipping_id"], so["partner_id"]);

    let step = |event: &'static str, at: &'static str, edit: fn(&mut Value)| {
        let mut data = order(ID, "under_review");
        edit(&mut data);
        job_from(&envelope(event, M, at, data))
    };
    // The total changed: shipping now a plain number.
    h.applied(&step(
        "order.total.price.updated",
        "2026-02-11 18:41:00",
        |d| {
            d["amounts"]["shipping_cost"] = json!(30);
            d["amounts"]["total"] = json!({"amount": 265, "currency": "SAR"});
        },
    ))
    .await;
    assert!(approx(
        &sale_order(&h, M, ID, &["amount_untaxed"])["amount_untaxed"],
        265.0
    ));
    // The lines changed: 3 instead of 2, the discount a string amount.
    h.applied(&step(
        "order.products.updated",
        "2026-02-11 18:42:00",
        |d| {
            d["amounts"]["shipping_cost"] = json!(30);
            d["items"][0]["quantity"] = json!("3");
            d["items"][0]["amounts"]["total_discount"] = json!("18");
            d["amounts"]["total"] = json!({"amount": 379, "currency": "SAR"});
        },
    ))
    .await;
    assert!(approx(
        &sale_order(&h, M, ID, &["amount_untaxed"])["amount_untaxed"],
        379.0
    ));
    // The address changed: a new delivery address.
    h.applied(&step(
        "order.shipping.address.updated",
        "2026-02-11 18:43:00",
        |d| {
            d["amounts"]["shipping_cost"] = json!(30);
            d["items"][0]["quantity"] = json!("3");
            d["items"][0]["amounts"]["total_discount"] = json!("18");
            d["amounts"]["total"] = json!({"amount": 379, "currency": "SAR"});
            d["shipping"]["address"]["city"] = json!("الدمام");
        },
    ))
    .await;
    let so = sale_order(&h, M, ID, &["partner_shipping_id"]);
    let ship = h.one(
        "res.partner",
        json!([["id", "=", m2o(&so["partner_shipping_id"])]]),
        &["city"],
    );
    assert_eq!(ship["city"], "الدمام");
    // The coupon changed; the payment moved the order on (`in_progress`: confirmed).
    h.applied(&step("order.coupon.updated", "2026-02-11 18:44:00", |d| {
        d["amounts"]["shipping_cost"] = json!(30);
        d["items"][0]["quantity"] = json!("3");
        d["items"][0]["amounts"]["total_discount"] = json!({"amount": 36, "currency": "SAR"});
        d["amounts"]["total"] = json!({"amount": 361, "currency": "SAR"});
        d["shipping"]["address"]["city"] = json!("الدمام");
    }))
    .await;
    assert!(approx(
        &sale_order(&h, M, ID, &["amount_untaxed"])["amount_untaxed"],
        361.0
    ));
    let paid = |d: &mut Value| {
        d["status"] = json!({"id": 1_939_592_358, "name": "قيد التنفيذ", "slug": "in_progress"});
        d["amounts"]["shipping_cost"] = json!(30);
        d["items"][0]["quantity"] = json!("3");
        d["items"][0]["amounts"]["total_discount"] = json!({"amount": 36, "currency": "SAR"});
        d["amounts"]["total"] = json!({"amount": 361, "currency": "SAR"});
        d["shipping"]["address"]["city"] = json!("الدمام");
    };
    h.applied(&step("order.payment.updated", "2026-02-11 18:45:00", paid))
        .await;
    assert_eq!(sale_order(&h, M, ID, &["state"])["state"], "sale");
    // Refunded before it was ever invoiced (`restored` is not in the default status map, but
    // order.refunded is a refund whatever the status): cancelled; then cancelled changes nothing.
    let (_, note) = h
        .applied(&step("order.refunded", "2026-02-11 18:46:00", |d| {
            d["status"] = json!({"id": 989_286_562, "name": "مسترجع", "slug": "restored"});
        }))
        .await;
    let note = note.unwrap_or_default();
    assert!(
        note.contains("restored → refund") && note.contains("never invoiced: cancelled"),
        "{note}"
    );
    assert_eq!(sale_order(&h, M, ID, &["state"])["state"], "cancel");
    h.applied(&step("order.cancelled", "2026-02-11 18:47:00", |d| {
        d["status"] = json!({"id": 525_144_736, "name": "ملغي", "slug": "canceled"});
    }))
    .await;
    assert_eq!(sale_order(&h, M, ID, &["state"])["state"], "cancel");
    assert_eq!(h.count("sale.order", json!([])), 1);
}

/// `order.status.updated` as documented: the history entry's own (large) id, the order nested with
/// a customer that has only `name` and a `+` mobile, items with `product_id` and `sku: ""`, the
/// shipping `app_id` and shipment id as strings.
#[tokio::test]
async fn order_status_updated_shape_syncs() {
    const M: u64 = 1_710_000_007;
    let h = Harness::new(Version::V18, M).await;
    let data = json!({
        "id": 4_127_330_918_112_093_184u64, "status": "قيد التنفيذ", "customized": null, "note": "",
        "created_at": {"date": "2026-02-12 10:01:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "order": {
            "id": 733_091_554, "reference_id": 51_004,
            "date": {"date": "2026-02-12 09:58:41.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
            "first_complete_at": null,
            "status": {"id": 1_939_592_358, "name": "قيد التنفيذ", "slug": "in_progress"},
            "payment_method": "mada", "currency": "SAR",
            "amounts": {"sub_total": {"amount": 310, "currency": "SAR"},
                        "shipping_cost": {"amount": 25, "currency": "SAR"},
                        "cash_on_delivery": {"amount": 0, "currency": "SAR"},
                        "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}},
                        "discounts": [{"title": "Gift", "type": "loyalty_prize", "code": "GIFT",
                                       "discount": "40.00", "currency": "SAR"}],
                        "total": {"amount": 295, "currency": "SAR"}},
            "shipping": {"id": 992_110, "app_id": "730114209", "company": "Fast Lane", "logo": "",
                         "receiver": {"name": "Omar Fahad", "email": "omar@example.test", "phone": "96655501234"},
                         "address": {"country": "SA", "country_code": "SA", "city": "الرياض", "postal_code": "12211",
                                     "shipping_address": "Olaya St", "street_number": "Olaya St", "block": "Olaya"},
                         "shipment": {"id": "FL0004411", "pickup_id": "FL0004411001", "tracking_link": "FL0004411",
                                      "label": []},
                         "policy_options": {"boxes": "1", "send_status_sms": true}},
            "shipment_branch": [{"id": 5, "name": "Main", "status": "active", "is_default": true, "type": {}}],
            "customer": {"id": 440_118_209, "name": "Omar Fahad", "mobile": "+96655501234",
                         "email": "omar@example.test", "country": "السعودية", "city": "الرياض"},
            "items": [
                {"id": 2_110_450_001u64, "product_id": 1_400_220_011u64, "name": "Oud oil", "sku": "",
                 "quantity": 1, "weight": 0.2,
                 "amounts": {"price_without_tax": {"amount": 270, "currency": "SAR"},
                             "total_discount": {"amount": 0, "currency": "SAR"},
                             "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}},
                             "total": {"amount": 270, "currency": "SAR"}}},
                {"id": 2_110_450_002u64, "product_id": 1_400_220_012u64, "name": "Sample", "sku": "",
                 "quantity": 1,
                 "amounts": {"price_without_tax": {"amount": 40, "currency": "SAR"},
                             "total_discount": {"amount": 40, "currency": "SAR"},
                             "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}},
                             "total": {"amount": 40, "currency": "SAR"}}}
            ],
            "total": {"amount": 295, "currency": "SAR"}
        }
    });
    let job = job_from(&envelope(
        "order.status.updated",
        M,
        "Thu Feb 12 2026 10:01:00 GMT+0300",
        data,
    ));
    let (_, note) = h.applied(&job).await;
    assert!(note.unwrap_or_default().contains("in_progress"));
    let so = sale_order(
        &h,
        M,
        733_091_554,
        &["state", "partner_id", "amount_untaxed"],
    );
    assert_eq!(so["state"], "sale");
    // 270 + 40 at 100% discount + shipping 25.
    assert!(approx(&so["amount_untaxed"], 295.0), "{so}");
    assert_eq!(
        line_codes(&h, &so),
        ["SALLA-1400220011", "SALLA-1400220012", "SALLA-SHIPPING"]
    );
    let partner = h.one(
        "res.partner",
        json!([["id", "=", m2o(&so["partner_id"])]]),
        &["name", "mobile"],
    );
    assert_eq!(partner["name"], "Omar Fahad");
    assert_eq!(partner["mobile"], "+96655501234");
    h.applied(&job).await;
    assert_eq!(h.count("sale.order", json!([])), 1);
}

// ----- shipments ---------------------------------------------------------------------------------

/// An order confirmed in Odoo (so it has an outgoing delivery).
async fn confirmed(h: &Harness, merchant: u64, id: u64) {
    h.applied(&job_from(&envelope(
        "order.status.updated",
        merchant,
        "2026-02-13 09:00:00",
        json!({"id": 1, "status": "قيد التنفيذ", "order": order(id, "in_progress")}),
    )))
    .await;
}

fn tracking(h: &Harness) -> Value {
    h.one(
        "stock.picking",
        json!([["picking_type_code", "=", "outgoing"]]),
        &["carrier_tracking_ref", "note"],
    )
}

/// The store-side shipment model: label an object, then `[]` with `tracking_number: null` and the
/// shipping number a number, then cancelled.
#[tokio::test]
async fn shipment_shapes_set_and_clear_tracking() {
    const M: u64 = 1_710_000_008;
    const ID: u64 = 1_830_114_003;
    let h = Harness::new(Version::V18, M).await;
    confirmed(&h, M, ID).await;
    let shipment = json!({
        "id": 402_118_766, "order_id": ID, "order_reference_id": 50_218_377,
        "reference": {"external_id": "EXT-88", "external_additional_id": "ADD-88"},
        "created_at": {"date": "2026-02-13 11:05:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "type": "shipment", "courier_id": 1_822_000_001u64, "courier_name": "Quick Courier",
        "shipping_number": "QC-77102", "tracking_number": "TRK-550-11", "pickup_id": null, "trackable": true,
        "tracking_link": "https://track.example.test/?id=TRK-550-11&lang=ar",
        "label": {"format": "pdf", "url": "https://labels.example.test/TRK-550-11.pdf"},
        "payment_method": "pre_paid", "source": "api", "status": "created",
        "total": {"amount": 31.5, "currency": "SAR"}, "cash_on_delivery": {"amount": 0, "currency": "SAR"},
        "total_weight": {"value": 1.5, "units": "kg"}, "service_types": ["normal"],
        "packages": [{"item_id": 90_001, "name": "Cardamom coffee", "sku": "CARD-250",
                      "price": {"amount": 120, "currency": "SAR"}, "quantity": 2}],
        "ship_from": {"type": "branch", "name": "Main", "region": {"id": 1, "name": "Eastern", "code": "EP"},
                      "postal_code": null, "branch_id": 77},
        "ship_to": {"type": "address", "name": "Huda Salem", "city": "الخبر", "postal_code": "34422"},
        "meta": {"app_id": 5_550_001, "policy_options": {"boxes": 1}}
    });
    h.applied(&job_from(&envelope(
        "shipment.created",
        M,
        "Fri Feb 13 2026 11:05:01 GMT+0300",
        shipment.clone(),
    )))
    .await;
    let p = tracking(&h);
    assert_eq!(p["carrier_tracking_ref"], "TRK-550-11");
    let note = p["note"].as_str().unwrap();
    assert!(
        note.contains("TRK-550-11&amp;lang=ar") && note.contains("TRK-550-11.pdf"),
        "{note}"
    );

    let mut updated = shipment.clone();
    updated["label"] = json!([]);
    updated["tracking_number"] = Value::Null;
    updated["tracking_link"] = Value::Null;
    updated["shipping_number"] = json!(77_102);
    updated["order_id"] = json!(ID.to_string());
    h.applied(&job_from(&envelope(
        "shipment.updated",
        M,
        "Fri Feb 13 2026 11:06:00 GMT+0300",
        updated,
    )))
    .await;
    let p = tracking(&h);
    assert_eq!(p["carrier_tracking_ref"], "77102");
    assert!(
        !p["note"]
            .as_str()
            .unwrap_or_default()
            .contains("salla-shipment"),
        "{p}"
    );

    let mut cancelled = shipment;
    cancelled["status"] = json!("cancelled");
    h.applied(&job_from(&envelope(
        "shipment.cancelled",
        M,
        "Fri Feb 13 2026 11:07:00 GMT+0300",
        cancelled,
    )))
    .await;
    assert_eq!(tracking(&h)["carrier_tracking_ref"], false);
}

/// `order.shipment.cancelled` / `return.cancelled` carry `{id, reference_id, shipping_number}`;
/// the creating event carries the order model. Returns never touch the outgoing tracking.
#[tokio::test]
async fn order_shipment_shapes_sync() {
    const M: u64 = 1_710_000_009;
    const ID: u64 = 1_830_114_004;
    let h = Harness::new(Version::V18, M).await;
    confirmed(&h, M, ID).await;
    // The order-shipment model: the order, a customer with `name` only, items with `product_id`.
    let mut creating = order(ID, "in_progress");
    creating["customer"] = json!({"id": 331_908_117, "name": "Huda Salem", "mobile": "+966512340001",
        "email": "huda@example.test", "country": "السعودية", "city": ""});
    creating["items"][0]["product_id"] = json!(2_204_118_930u64);
    creating["shipping"]["app_id"] = json!("2032000009");
    creating["shipping"]["policy_options"] = json!({"boxes": "2"});
    // No shipping number anywhere yet: nothing to set, nothing cleared.
    let reason = h
        .skipped(&job_from(&envelope(
            "order.shipment.creating",
            M,
            "2026-02-13 11:00:00",
            creating.clone(),
        )))
        .await;
    assert!(reason.contains("no shipping number"), "{reason}");
    // The small model, with the shipping number a string then a number.
    let small =
        |number: Value| json!({"id": ID, "reference_id": 50_218_377, "shipping_number": number});
    h.applied(&job_from(&envelope(
        "order.shipment.created",
        M,
        "2026-02-13 11:01:00",
        small(json!("QC-77102")),
    )))
    .await;
    assert_eq!(tracking(&h)["carrier_tracking_ref"], "QC-77102");
    // The full order model again without a number (as `order.shipment.created` is documented):
    // the tracking set before stays.
    h.skipped(&job_from(&envelope(
        "order.shipment.created",
        M,
        "2026-02-13 11:01:30",
        creating.clone(),
    )))
    .await;
    assert_eq!(tracking(&h)["carrier_tracking_ref"], "QC-77102");
    // …and with its number in `shipments[]`, that number is the tracking.
    let mut numbered = creating;
    numbered["shipments"][0]["tracking_number"] = json!("TRK-90-1");
    h.applied(&job_from(&envelope(
        "order.shipment.created",
        M,
        "2026-02-13 11:01:40",
        numbered,
    )))
    .await;
    assert_eq!(tracking(&h)["carrier_tracking_ref"], "TRK-90-1");
    let reason = h
        .skipped(&job_from(&envelope(
            "order.shipment.return.cancelled",
            M,
            "2026-02-13 11:02:00",
            small(json!(88_120_331)),
        )))
        .await;
    assert!(reason.contains("return"), "{reason}");
    assert_eq!(tracking(&h)["carrier_tracking_ref"], "TRK-90-1");
    h.applied(&job_from(&envelope(
        "order.shipment.cancelled",
        M,
        "2026-02-13 11:03:00",
        small(json!(77_102)),
    )))
    .await;
    assert_eq!(tracking(&h)["carrier_tracking_ref"], false);
}

// ----- invoices and app events -------------------------------------------------------------------

#[tokio::test]
async fn invoice_shapes_are_skipped_with_a_reason() {
    const M: u64 = 1_710_000_010;
    let h = Harness::new(Version::V18, M).await;
    let invoice = |number: Value, total: Value| {
        json!({"id": 601_224_330, "invoice_number": number, "uuid": "5d1f0c1e-0000-4000-8000-00000000abcd",
               "order_id": 1_830_114_562u64, "invoice_reference_id": null, "type": "Tax Invoice",
               "date": "2026-02-14 12:00:00", "qr_code": null, "payment_method": "cod",
               "sub_total": {"amount": 228, "currency": "SAR"},
               "shipping_cost": {"amount": 22.5, "taxable": true, "currency": "SAR"},
               "tax": {"percent": 15, "amount": {"amount": 38.63, "currency": "SAR"}},
               "total": total,
               "items": [{"id": 91_000_001, "item_id": 90_001, "product_id": 2_204_118_930u64,
                          "sku": "CARD-250", "quantity": 2, "price": {"amount": 120, "currency": "SAR"},
                          "options": [{"id": 61, "value": {"id": 63, "name": "Fine"}}]}],
               "company": null,
               "customer": {"id": 331_908_117, "mobile": 512_340_001, "mobile_code": "+966"}})
    };
    for (number, total, want) in [
        (
            json!("770211"),
            json!({"amount": 296.13, "currency": "SAR"}),
            "770211",
        ),
        (json!(3), json!("296.13"), "3"),
    ] {
        let reason = h
            .skipped(&job_from(&envelope(
                "invoice.created",
                M,
                "2026-02-14 12:00:01",
                invoice(number, total),
            )))
            .await;
        assert!(
            reason.contains(want) && reason.contains("1830114562") && reason.contains("296.13"),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn app_event_shapes_run_the_store_lifecycle() {
    const M: u64 = 1_710_000_011;
    let mut h = Harness::new(Version::V18, M).await;
    h.ctx.settings = None; // store jobs need no Odoo
    let app = |event: &str, data: Value| job_from(&envelope(event, M, "2026-03-01 09:00:00", data));
    h.applied(&app(
        "app.installed",
        json!({"id": 7_012_345_678u64, "app_name": "Odoo sync", "description": "ERP", "app_type": "app",
               "app_scopes": ["orders.read", "offline_access"], "installation_date": "2026-03-01 08:59:00",
               "store_type": "demo"}),
    ))
    .await;
    // `expires` a string: still the timestamp.
    h.applied(&app(
        "app.store.authorize",
        json!({"access_token": "at-demo-value", "expires": "1780000000", "refresh_token": "rt-demo-value",
               "scope": "settings.read orders.read_write offline_access", "token_type": "bearer"}),
    ))
    .await;
    let token = salla_odoo_store::secrets::get_secret_with_expiry(
        &h.db.pool,
        &test_keyring(),
        MerchantId::new(M),
        "salla_access_token",
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(token.expires_at.unwrap().unix_timestamp(), 1_780_000_000);
    h.applied(&app(
        "app.updated",
        json!({"id": "7012345678", "app_name": "Odoo sync", "app_type": "app",
               "categories": ["Accounting & Finance"], "app_scopes": ["orders.read"],
               "installation_date": "2026-03-01 08:59:00", "update_date": "2026-03-02 10:00:00",
               "store_type": "live"}),
    ))
    .await;
    let row = salla_odoo_store::stores::get(&h.db.pool, MerchantId::new(M))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.app_id, Some(7_012_345_678));
    assert_eq!(row.store_type.as_deref(), Some("live"));
    h.skipped(&app(
        "app.settings.updated",
        json!({"id": 7_012_345_678u64, "app_name": "Odoo sync", "app_type": "public",
               "settings": {"odoo_url": "https://erp.example.test", "warehouses": ["WH"], "port": 8069}}),
    ))
    .await;
    h.skipped(&app(
        "app.uninstalled",
        json!({"id": 7_012_345_678u64, "app_name": "Odoo sync", "refunded": 0,
               "installation_date": "2026-03-01 08:59:00", "uninstallation_date": "2026-03-09 18:00:00",
               "store_type": "live"}),
    ))
    .await;
}
