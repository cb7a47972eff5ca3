//! Every body shape Salla documents for the events the connector routes, written again here with
//! other ids, names and values (Salla's own examples stay in `../shared/fixtures/salla`, see
//! `fixtures.rs`): each goes through `Envelope::from_slice` and `payload()`, and the fields the sync
//! reads come out right, amounts as exact decimals. Then every money field of every model in each of
//! the forms Salla writes money in, and the bodies that must stay errors.
//!
//! Shapes, by the docs page they come from (docs.salla.dev):
//! - 433804m0 Orders: the order model shared by `order.created` and the other order events
//!   (`shipping` object, `shipments[]` with `null`s, `options[].value` a list, `pickup_branch` next
//!   to `data`); the order-shipment model (`order.shipment.creating`: items with `product_id`, a
//!   customer with `name` only, `policy_options` an object); `order.shipment.cancelled`
//!   (`{id, reference_id, shipping_number}`); `order.status.updated` (a history entry, the order
//!   nested). §10 adds a captured `order.created` with `shipping: null`, `shipments: null`,
//!   `items[].sku: ""` and `options[].value` an object.
//! - 433805m0 Products: the product model (created/updated/deleted/available/quantity.low), and the
//!   small events `product.price.updated` (plain numbers, `sale_price: {amount, expired_at}`),
//!   `product.status.updated`, `product.category.updated`, `product.brand.updated`.
//! - 433808m0 Customers: one model for created/updated/login (`mobile` a number).
//! - 433807m0 Shipments: one model for `shipment.creating/created/updated/cancelled`.
//! - 433813m0 Invoice: `invoice.created` (`data` only in the docs); the App Functions copy
//!   (1726815m0) writes `invoice_number` as a number and `company` as `null`.
//! - 421413m0 App events: `app.store.authorize`, `app.installed`, `app.updated`,
//!   `app.uninstalled`, `app.settings.updated`.

#![recursion_limit = "256"]

use proptest::prelude::*;
use rust_decimal::Decimal;
use salla_odoo_salla::payload::{
    Customer, Invoice, ItemAmounts, Order, OrderAmounts, OrderShipmentRef, OrderStatusUpdate,
    Product, Shipment,
};
use salla_odoo_salla::{Envelope, ParseError, Payload};
use serde_json::{Value, json};

const MERCHANT: u64 = 987_650_123;

fn body(event: &str, created_at: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"event": event, "merchant": MERCHANT, "created_at": created_at, "data": data}),
    )
    .unwrap()
}

fn parse(event: &str, data: Value) -> Payload {
    let env = Envelope::from_slice(&body(event, "Tue Mar 03 2026 09:15:02 GMT+0300", data))
        .unwrap_or_else(|e| panic!("{event}: {e}"));
    assert_eq!(env.event, event);
    env.payload().unwrap_or_else(|e| panic!("{event}: {e}"))
}

fn parse_err(event: &str, data: Value) -> String {
    let env = Envelope::from_slice(&body(event, "2026-03-03 09:15:02", data)).unwrap();
    match env.payload() {
        Err(e @ ParseError::InvalidPayload { .. }) => e.to_string(),
        other => panic!("{event}: expected an invalid payload, got {other:?}"),
    }
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn order_of(p: Payload) -> Order {
    match p {
        Payload::Order(o) => *o,
        other => panic!("not an order: {other:?}"),
    }
}

fn product_of(p: Payload) -> Product {
    match p {
        Payload::Product(p) => *p,
        other => panic!("not a product: {other:?}"),
    }
}

// ----- orders ------------------------------------------------------------------------------------

/// The order model as the Orders page shows it (433804m0).
fn documented_order() -> Value {
    json!({
        "id": 1_830_114_562u64,
        "reference_id": 50_218_377,
        "urls": {"customer": "https://shop.example.test/o/abc", "admin": "https://s.example.test/o/abc"},
        "date": {"date": "2026-02-11 18:40:12.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "draft": false,
        "source": "store",
        "source_details": {"type": "direct", "value": null, "ip": "10.0.0.7"},
        "status": {"id": 566_146_469, "name": "بإنتظار المراجعة", "slug": "under_review",
                   "customized": {"id": 1_200_300_400, "name": "مراجعة"}},
        "payment_method": "cod",
        "currency": "SAR",
        "amounts": {
            "sub_total": {"amount": 240, "currency": "SAR"},
            "shipping_cost": {"amount": 22.5, "currency": "SAR"},
            "cash_on_delivery": {"amount": "7", "currency": "SAR"},
            "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}},
            "discounts": [{"title": "Ramadan", "type": "special", "code": "RMD", "discount": "12.00",
                           "discounted_shipping": 0}],
            "total": {"amount": 257.5, "currency": "SAR"}
        },
        "shipping": {
            "id": 448_120_931, "app_id": null, "company": "Quick Courier", "logo": "",
            "receiver": {"name": "Huda Salem", "email": "huda@example.test", "phone": "966512340001"},
            "shipper": {"name": "Shop", "company_name": "shop", "email": "shop@example.test", "phone": "966500000009"},
            "pickup_address": {"country": "السعودية", "country_code": "SA", "city": "الدمام",
                               "geo_coordinates": {"lat": 26.4, "lng": 50.1}},
            "address": {"country": "SA", "country_code": "SA", "city": "الخبر",
                        "shipping_address": "12 Corniche Rd, Al Khobar", "street_number": "12 Corniche Rd",
                        "block": "Al Yarmouk", "postal_code": "", "geo_coordinates": {"lat": 0, "lng": 0}},
            "shipment": {"id": "0", "pickup_id": null, "tracking_link": "0", "label": []},
            "policy_options": []
        },
        "shipments": [{
            "id": 771_204_883, "created_at": null, "type": "shipment", "courier_id": 41,
            "courier_name": "Quick Courier", "shipping_number": null, "tracking_number": null,
            "pickup_id": null, "trackable": false, "tracking_link": null, "label": null,
            "payment_method": "cod", "status": "in_progress",
            "total": {"amount": 29.5, "currency": "SAR"},
            "cash_on_delivery": {"amount": 0, "currency": "SAR"},
            "packages": [{"item_id": 90_001, "external_id": null, "quantity": 2}],
            "meta": {"app_id": 5_550_001, "policy_options": {"dimensions": {"length": ""}}}
        }],
        "shipment_branch": [],
        "customer": {
            "id": 331_908_117, "first_name": "Huda", "last_name": "Salem", "mobile": 512_340_001,
            "mobile_code": "+966", "email": "huda@example.test",
            "birthday": {"date": "1991-04-02 00:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
            "city": "الخبر", "country": "السعودية", "country_code": "SA", "currency": "SAR", "location": "",
            "updated_at": {"date": "2026-02-10 08:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"}
        },
        "items": [{
            "id": 90_001, "name": "Cardamom coffee", "sku": "CARD-250", "quantity": 2, "currency": "SAR",
            "weight": 0.5,
            "amounts": {
                "price_without_tax": {"amount": 120, "currency": "SAR"},
                "total_discount": {"amount": "12.00", "currency": "SAR"},
                "tax": {"percent": "0.00", "amount": {"amount": 0, "currency": "SAR"}},
                "total": {"amount": 228, "currency": "SAR"}
            },
            "notes": "",
            "product": {"id": 2_204_118_930u64, "type": "product", "status": "sale", "sku": "CARD-250",
                        "price": {"amount": 120, "currency": "SAR"}, "sale_price": {"amount": 0, "currency": "SAR"},
                        "regular_price": {"amount": 120, "currency": "SAR"}},
            "options": [{"id": 61, "product_option_id": 62, "name": "Grind", "type": "checkbox",
                         "value": [{"id": 63, "name": "Fine", "price": {"amount": 0, "currency": "SAR"}}]}],
            "images": [], "codes": [], "files": []
        }],
        "bank": null,
        "tags": []
    })
}

#[test]
fn order_created_as_documented() {
    // `pickup_branch` sits next to `data` in the docs example: the envelope ignores it.
    let mut env = json!({"event": "order.created", "merchant": MERCHANT,
        "created_at": "Wed Feb 11 2026 18:40:15 GMT+0300", "data": documented_order(),
        "pickup_branch": {"id": 77, "name": "Main", "type": [], "cod_cost": "15"}});
    let parsed = Envelope::from_slice(&serde_json::to_vec(&env).unwrap()).unwrap();
    let o = order_of(parsed.payload().unwrap());
    assert_eq!(o.id, 1_830_114_562);
    assert_eq!(o.reference_id, Some(50_218_377));
    assert_eq!(
        o.status.as_ref().unwrap().slug.as_deref(),
        Some("under_review")
    );
    let a = o.amounts.as_ref().unwrap();
    assert_eq!(a.sub_total.as_ref().unwrap().amount, dec("240"));
    assert_eq!(a.shipping_cost.as_ref().unwrap().amount, dec("22.5"));
    assert_eq!(a.cash_on_delivery.as_ref().unwrap().amount, dec("7"));
    assert_eq!(a.total.as_ref().unwrap().currency.as_deref(), Some("SAR"));
    assert_eq!(a.discounts[0].discount, Some(dec("12.00")));
    assert_eq!(a.tax.as_ref().unwrap().percent, Some(Decimal::ZERO));
    let s = o.shipping.as_ref().unwrap();
    assert_eq!(s.address.as_ref().unwrap().city.as_deref(), Some("الخبر"));
    assert_eq!(s.address.as_ref().unwrap().postal_code.as_deref(), Some(""));
    assert_eq!(
        s.receiver.as_ref().unwrap().phone.as_deref(),
        Some("966512340001")
    );
    let c = o.customer.as_ref().unwrap();
    assert_eq!(c.mobile.as_deref(), Some("512340001"));
    assert_eq!(
        c.updated_at.as_ref().unwrap().timezone.as_deref(),
        Some("Asia/Riyadh")
    );
    let item = &o.items[0];
    assert_eq!(item.sku.as_deref(), Some("CARD-250"));
    assert_eq!(item.quantity, dec("2"));
    assert_eq!(item.product_id(), Some(2_204_118_930));
    let ia = item.amounts.as_ref().unwrap();
    assert_eq!(ia.price_without_tax.as_ref().unwrap().amount, dec("120"));
    assert_eq!(ia.total_discount.as_ref().unwrap().amount, dec("12.00"));

    // The other events the docs say share this model.
    env["data"]["status"] = json!({"id": 525_144_736, "name": "ملغي", "slug": "canceled"});
    for event in [
        "order.updated",
        "order.cancelled",
        "order.refunded",
        "order.deleted",
        "order.products.updated",
        "order.payment.updated",
        "order.coupon.updated",
        "order.total.price.updated",
        "order.shipping.address.updated",
    ] {
        let o = order_of(parse(event, env["data"].clone()));
        assert_eq!(o.id, 1_830_114_562, "{event}");
        assert_eq!(o.items.len(), 1, "{event}");
    }
}

/// A captured `order.created` (§10): `shipping` and `shipments` are `null`, the SKU is `""` (the
/// product is `items[].product.id`), `options[].value` is an object.
#[test]
fn order_created_as_captured_with_nulls() {
    let mut data = documented_order();
    data["shipping"] = Value::Null;
    data["shipments"] = Value::Null;
    data["items"][0]["sku"] = json!("");
    data["items"][0]["options"][0]["value"] = json!({"id": 63, "name": "Fine", "price": {"amount": 0, "currency": "SAR"}, "option_value": ""});
    let o = order_of(parse("order.created", data));
    assert!(o.shipping.is_none());
    assert_eq!(o.items[0].sku.as_deref(), Some(""));
    assert_eq!(o.items[0].product_id(), Some(2_204_118_930));
}

/// `order.status.updated` (433804m0): a history entry (its own id, the Arabic name, `customized`
/// null) with the order nested, whose customer has only `name` and a `+` mobile, whose items carry
/// `product_id` and an empty SKU, and whose shipment ids are strings.
#[test]
fn order_status_updated_as_documented() {
    let data = json!({
        "id": 4_127_330_918_112_093_184u64,
        "status": "قيد التنفيذ",
        "customized": null,
        "note": "",
        "created_at": {"date": "2026-02-12 10:01:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "order": {
            "id": 733_091_554,
            "reference_id": 51_004,
            "date": {"date": "2026-02-12 09:58:41.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
            "first_complete_at": null,
            "status": {"id": 1_939_592_358, "name": "قيد التنفيذ", "slug": "in_progress"},
            "payment_method": "mada",
            "currency": "SAR",
            "amounts": {
                "sub_total": {"amount": 310, "currency": "SAR"},
                "shipping_cost": {"amount": 25, "currency": "SAR"},
                "cash_on_delivery": {"amount": 0, "currency": "SAR"},
                "tax": {"percent": "15.00", "amount": {"amount": 50.25, "currency": "SAR"}},
                "discounts": [{"title": "Gift", "type": "loyalty_prize", "code": "GIFT", "discount": "40.00",
                               "currency": "SAR"}],
                "total": {"amount": 345.25, "currency": "SAR"}
            },
            "shipping": {
                "id": 992_110, "app_id": "730114209", "company": "Fast Lane", "logo": "",
                "receiver": {"name": "Omar Fahad", "email": "omar@example.test", "phone": "96655501234"},
                "address": {"country": "SA", "country_code": "SA", "city": "الرياض", "postal_code": "12211",
                            "shipping_address": "Olaya St", "street_number": "Olaya St", "block": "Olaya"},
                "shipment": {"id": "FL0004411", "pickup_id": "FL0004411001", "tracking_link": "FL0004411", "label": []},
                "policy_options": {"boxes": "1", "send_status_sms": true}
            },
            "shipment_branch": [{"id": 5, "name": "Main", "status": "active", "is_default": true, "type": {}}],
            "customer": {"id": 440_118_209, "name": "Omar Fahad", "mobile": "+96655501234",
                         "email": "omar@example.test", "country": "السعودية", "city": "الرياض"},
            "items": [
                {"id": 2_110_450_001u64, "product_id": 1_400_220_011u64, "name": "Oud oil", "sku": "",
                 "quantity": 1, "weight": 0.2,
                 "amounts": {"price_without_tax": {"amount": 270, "currency": "SAR"},
                             "total_discount": {"amount": 0, "currency": "SAR"},
                             "tax": {"percent": "15.00", "amount": {"amount": 40.5, "currency": "SAR"}},
                             "total": {"amount": 270, "currency": "SAR"}}},
                {"id": 2_110_450_002u64, "product_id": 1_400_220_012u64, "name": "Sample", "sku": "",
                 "quantity": 1,
                 "amounts": {"price_without_tax": {"amount": 40, "currency": "SAR"},
                             "total_discount": {"amount": 40, "currency": "SAR"},
                             "tax": {"percent": "15.00", "amount": {"amount": 0, "currency": "SAR"}},
                             "total": {"amount": 40, "currency": "SAR"}}}
            ],
            "total": {"amount": 345.25, "currency": "SAR"}
        }
    });
    let s: OrderStatusUpdate = match parse("order.status.updated", data) {
        Payload::OrderStatus(s) => *s,
        other => panic!("{other:?}"),
    };
    assert_eq!(s.id, 4_127_330_918_112_093_184);
    assert_eq!(s.status.as_deref(), Some("قيد التنفيذ"));
    assert_eq!(s.slug(), Some("in_progress"));
    assert_eq!(s.order.id, 733_091_554);
    let c = s.order.customer.as_ref().unwrap();
    assert_eq!(
        (c.first_name.as_deref(), c.mobile.as_deref()),
        (None, Some("+96655501234"))
    );
    assert_eq!(s.order.items[0].product_id(), Some(1_400_220_011));
    assert_eq!(s.order.items[1].sku.as_deref(), Some(""));
    let tax = s.order.amounts.as_ref().unwrap().tax.as_ref().unwrap();
    assert_eq!(tax.percent, Some(dec("15.00")));
    assert_eq!(tax.amount.as_ref().unwrap().amount, dec("50.25"));
    assert_eq!(s.order.shipping.as_ref().unwrap().id, Some(992_110));
}

/// `order.shipment.creating` / `created` carry the order model (433804m0, "Order Shipments"), and
/// `order.shipment.cancelled` / `return.cancelled` only `{id, reference_id, shipping_number}`.
#[test]
fn order_shipment_events_as_documented() {
    let mut creating = documented_order();
    creating["customer"] = json!({"id": 1_661_000_123, "name": "Lina K", "mobile": "+97150000111",
        "email": "lina@example.test", "country": "الامارات", "city": ""});
    creating["items"] = json!([{"id": 1_907_000_001u64, "product_id": 1_994_000_001u64, "name": "Skirt",
        "sku": "SK-22-", "quantity": 1, "weight": 0.25,
        "amounts": {"price_without_tax": {"amount": 79, "currency": "SAR"}}}]);
    creating["shipping"]["app_id"] = json!("2032000009");
    creating["shipping"]["policy_options"] = json!({"boxes": "2"});
    for event in [
        "order.shipment.creating",
        "order.shipment.created",
        "order.shipment.return.creating",
        "order.shipment.return.created",
    ] {
        let r: OrderShipmentRef = match parse(event, creating.clone()) {
            Payload::OrderShipment(r) => r,
            other => panic!("{event}: {other:?}"),
        };
        assert_eq!(r.id, 1_830_114_562, "{event}");
        assert_eq!(r.shipping_number, None, "{event}");
    }
    // The order in it is an order like any other.
    let o: Order = serde_json::from_value(creating).unwrap();
    assert_eq!(o.items[0].product_id(), Some(1_994_000_001));
    for (event, number) in [
        ("order.shipment.cancelled", json!("5521004411")),
        ("order.shipment.return.cancelled", json!(5_521_004_412u64)),
    ] {
        let r = match parse(
            event,
            json!({"id": 1_530_000_777, "reference_id": 42_001, "shipping_number": number}),
        ) {
            Payload::OrderShipment(r) => r,
            other => panic!("{event}: {other:?}"),
        };
        assert_eq!(r.id, 1_530_000_777);
        assert_eq!(r.reference_id, Some(42_001));
        assert!(r.shipping_number.unwrap().starts_with("552100441"));
    }
}

// ----- products ----------------------------------------------------------------------------------

/// The product model (433805m0): money objects, `sku: ""`, `cost_price: null`, `updated_at` a plain
/// string, empty `skus`/`categories`/`options`, `brand: null`.
fn documented_product() -> Value {
    json!({
        "id": 1_180_442_907u64,
        "promotion": {"title": null, "sub_title": null},
        "sku": "",
        "mpn": null,
        "gtin": null,
        "type": "service",
        "name": "Consultation hour",
        "urls": {"customer": "https://shop.example.test/p1", "admin": "https://s.example.test/p1"},
        "price": {"amount": 450, "currency": "SAR"},
        "taxed_price": {"amount": 517.5, "currency": "SAR"},
        "pre_tax_price": {"amount": 450, "currency": "SAR"},
        "tax": {"amount": 67.5, "currency": "SAR"},
        "description": "",
        "quantity": 8,
        "status": "sale",
        "is_available": true,
        "sale_price": {"amount": 0, "currency": "SAR"},
        "sale_end": null,
        "cost_price": null,
        "weight": 0,
        "with_tax": true,
        "main_image": null,
        "images": [],
        "rating": {"total": 0, "count": 0, "rate": 0},
        "regular_price": {"amount": 450, "currency": "SAR"},
        "unlimited_quantity": false,
        "services_blocks": {"installments": []},
        "channels": [],
        "metadata": {"title": null, "description": null},
        "updated_at": "2026-01-20 14:02:11",
        "options": [],
        "skus": [],
        "categories": [],
        "brand": null,
        "tags": []
    })
}

#[test]
fn product_model_events_as_documented() {
    for event in [
        "product.created",
        "product.updated",
        "product.deleted",
        "product.available",
        "product.quantity.low",
    ] {
        let p = product_of(parse(event, documented_product()));
        assert_eq!(p.id, 1_180_442_907, "{event}");
        assert_eq!(p.sku.as_deref(), Some(""));
        assert_eq!(p.product_type.as_deref(), Some("service"));
        assert_eq!(p.price.as_ref().unwrap().amount, dec("450"));
        assert_eq!(p.taxed_price.as_ref().unwrap().amount, dec("517.5"));
        assert_eq!(p.sale_price.as_ref().unwrap().amount, Decimal::ZERO);
        assert!(p.cost_price.is_none() && p.cost().is_none());
        assert_eq!(p.quantity, Some(dec("8")));
        assert_eq!(p.unlimited_quantity, Some(false));
        assert_eq!(p.updated_at.as_ref().unwrap().date, "2026-01-20 14:02:11");
        assert!(p.skus.is_empty() && p.categories.is_empty());
    }
}

/// Variants carry their own price, in any money form.
#[test]
fn product_with_variants() {
    let mut data = documented_product();
    data["type"] = json!("product");
    data["categories"] = json!([{"id": 310_001, "name": "Shirts", "urls": {}, "sort_order": 2}]);
    data["skus"] = json!([
        {"id": 8_100_001, "sku": "SH-S", "price": {"amount": 90, "currency": "SAR"}, "stock_quantity": 4,
         "regular_price": {"amount": 90, "currency": "SAR"}, "barcode": ""},
        {"id": "8100002", "sku": "SH-M", "price": 95.25, "stock_quantity": "6"},
        {"id": 8_100_003, "sku": null, "price": "99.90", "stock_quantity": null}
    ]);
    let p = product_of(parse("product.updated", data));
    let prices: Vec<Decimal> = p
        .skus
        .iter()
        .map(|v| v.price.as_ref().unwrap().amount)
        .collect();
    assert_eq!(prices, [dec("90"), dec("95.25"), dec("99.90")]);
    assert_eq!(p.skus[1].id, 8_100_002);
    assert_eq!(p.skus[1].stock_quantity, Some(dec("6")));
    assert_eq!(p.skus[2].sku, None);
    assert_eq!(p.categories[0].name.as_deref(), Some("Shirts"));
}

/// `product.price.updated` (433805m0): `price`, `regular_price`, `cost`, `tax` and `taxed_price`
/// are plain numbers and `sale_price` is `{amount, expired_at}` without a currency. This is the
/// body that was dead-lettered as `invalid type: integer …, expected struct Money`.
#[test]
fn product_price_updated_with_plain_numbers() {
    let data = json!({
        "id": 1_500_310_442u64,
        "sku": "TEA-GRN-100",
        "mpn": "MPN-4410",
        "gtin": "62810001",
        "cost": 41,
        "starting_price": null,
        "price": 100,
        "sale_price": {"amount": 79.5, "expired_at": "2026-04-30"},
        "tax": 15,
        "taxed_price": 115,
        "regular_price": 100,
        "currency": "SAR",
        "with_tax": true
    });
    let p = product_of(parse("product.price.updated", data));
    assert_eq!(p.id, 1_500_310_442);
    assert_eq!(p.sku.as_deref(), Some("TEA-GRN-100"));
    assert_eq!(p.price.as_ref().unwrap().amount, dec("100"));
    assert_eq!(p.price.as_ref().unwrap().currency, None);
    assert_eq!(p.regular_price.as_ref().unwrap().amount, dec("100"));
    let sale = p.sale_price.as_ref().unwrap();
    assert_eq!((sale.amount, sale.currency.as_deref()), (dec("79.5"), None));
    assert_eq!(p.taxed_price.as_ref().unwrap().amount, dec("115"));
    assert_eq!(p.cost().unwrap().amount, dec("41"));
    assert!(p.name.is_none() && p.status.is_none());

    // The same event with the amounts as numeric strings and as money objects.
    let p = product_of(parse(
        "product.price.updated",
        json!({"id": "1500310442", "sku": "TEA-GRN-100", "price": "100.50", "regular_price": "100.50",
               "sale_price": {"amount": "80.25", "expired_at": null}, "cost": "41.10",
               "taxed_price": "115.58"}),
    ));
    assert_eq!(p.price.unwrap().amount.to_string(), "100.50");
    assert_eq!(p.sale_price.unwrap().amount.to_string(), "80.25");
    assert_eq!(p.cost.unwrap().amount.to_string(), "41.10");
    assert_eq!(p.taxed_price.unwrap().amount.to_string(), "115.58");
    let p = product_of(parse(
        "product.price.updated",
        json!({"id": 1_500_310_442u64, "price": {"amount": 99.5, "currency": "SAR"},
               "sale_price": null, "cost": null, "taxed_price": {"amount": "114.43", "currency": "SAR"}}),
    ));
    assert_eq!(p.price.as_ref().unwrap().amount.to_string(), "99.5");
    assert_eq!(p.price.as_ref().unwrap().currency.as_deref(), Some("SAR"));
    assert!(p.sale_price.is_none() && p.cost().is_none());
}

/// The other small product events (433805m0): status, category, brand.
#[test]
fn small_product_events_as_documented() {
    let p = product_of(parse(
        "product.status.updated",
        json!({"id": 904_117_220, "sku": "LMP-07", "mpn": "M-77", "gtin": "99001122", "status": "out"}),
    ));
    assert_eq!((p.id, p.status.as_deref()), (904_117_220, Some("out")));
    assert!(p.price.is_none() && p.name.is_none());

    let p = product_of(parse(
        "product.category.updated",
        json!({"id": 1_290_333_001u64, "barcode": null, "sku": "CND-3", "mpn": "C3", "gtin": "44556677",
               "categories": [{"id": 711_050_001, "name": "شموع"}]}),
    ));
    assert_eq!(p.categories.len(), 1);
    assert_eq!(p.categories[0].name.as_deref(), Some("شموع"));

    let p = product_of(parse(
        "product.brand.updated",
        json!({"id": 1_290_333_001u64, "barcode": null, "sku": "CND-3", "mpn": "C3", "gtin": "44556677",
               "brand": {"id": 2_001_900_400u64, "name": "Glow"}}),
    ));
    assert_eq!(p.sku.as_deref(), Some("CND-3"));
}

// ----- customers ---------------------------------------------------------------------------------

#[test]
fn customer_events_as_documented() {
    let data = json!({
        "id": 612_004_981,
        "first_name": "Reem",
        "last_name": "Nasser",
        "mobile": 533_210_987,
        "mobile_code": "+966",
        "email": "reem@example.test",
        "urls": {"customer": "https://shop.example.test/profile", "admin": "https://s.example.test/c/1"},
        "avatar": "https://cdn.example.test/a.webp",
        "gender": "female",
        "birthday": {"date": "1994-09-12 00:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "city": "جدة",
        "country": "السعودية",
        "country_code": "SA",
        "currency": "SAR",
        "location": "3",
        "updated_at": {"date": "2026-01-05 16:20:44.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "groups": [],
        "source": {"device": "mobile", "user-agent": "Test/1.0", "ip": "10.1.2.3"},
        "is_notifications_enabled": false
    });
    for event in ["customer.created", "customer.updated", "customer.login"] {
        let c: Customer = match parse(event, data.clone()) {
            Payload::Customer(c) => *c,
            other => panic!("{event}: {other:?}"),
        };
        assert_eq!(c.id, 612_004_981);
        assert_eq!(c.mobile.as_deref(), Some("533210987"));
        assert_eq!(c.mobile_code.as_deref(), Some("+966"));
        assert_eq!(c.updated_at.unwrap().date, "2026-01-05 16:20:44.000000");
    }
    // Mobile as a string with its code, the id as a string, no names (the review and order shapes).
    let c: Customer = match parse(
        "customer.updated",
        json!({"id": "612004981", "name": "Reem N", "mobile": "+966533210987", "email": null,
               "country": "السعودية", "city": "جدة"}),
    ) {
        Payload::Customer(c) => *c,
        other => panic!("{other:?}"),
    };
    assert_eq!(c.id, 612_004_981);
    assert_eq!(c.mobile.as_deref(), Some("+966533210987"));
    assert!(c.first_name.is_none() && c.email.is_none());
}

// ----- shipments ---------------------------------------------------------------------------------

fn documented_shipment() -> Value {
    json!({
        "id": 402_118_766,
        "order_id": 1_830_114_562u64,
        "order_reference_id": 50_218_377,
        "reference": {"external_id": "EXT-88", "external_additional_id": "ADD-88"},
        "created_at": {"date": "2026-02-13 11:05:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "type": "shipment",
        "courier_id": 1_822_000_001u64,
        "courier_name": "Quick Courier",
        "courier_logo": "https://cdn.example.test/qc.png",
        "shipping_number": "QC-77102",
        "tracking_number": "TRK-550-11",
        "pickup_id": null,
        "trackable": true,
        "tracking_link": "https://track.example.test/?id=TRK-550-11&lang=ar",
        "label": {"format": "pdf", "url": "https://labels.example.test/TRK-550-11.pdf"},
        "payment_method": "pre_paid",
        "source": "api",
        "status": "created",
        "total": {"amount": 31.5, "currency": "SAR"},
        "cash_on_delivery": {"amount": 0, "currency": "SAR"},
        "is_international": false,
        "total_weight": {"value": 1.5, "units": "kg"},
        "shipping_route": {"id": 12, "name": "Default Route"},
        "service_types": ["normal"],
        "packages": [{"item_id": 90_001, "external_id": null, "name": "Cardamom coffee", "sku": "CARD-250",
                      "price": {"amount": 120, "currency": "SAR"}, "quantity": 2,
                      "weight": {"value": 0.5, "unit": "kg"}}],
        "ship_from": {"type": "branch", "name": "Main", "phone": "966500000009", "country": "السعودية",
                      "city": "Dammam", "region": {"id": 1, "name": "Eastern", "code": "EP"},
                      "postal_code": null, "latitude": 26.4, "longitude": 50.1, "branch_id": 77},
        "ship_to": {"type": "address", "name": "Huda Salem", "phone": "966512340001", "country": "السعودية",
                    "city": "الخبر", "street_number": "12", "postal_code": "34422"},
        "meta": {"app_id": 5_550_001, "policy_options": {"boxes": 1}}
    })
}

#[test]
fn shipment_events_as_documented() {
    for event in [
        "shipment.creating",
        "shipment.created",
        "shipment.updated",
        "shipment.cancelled",
    ] {
        let s: Shipment = match parse(event, documented_shipment()) {
            Payload::Shipment(s) => *s,
            other => panic!("{event}: {other:?}"),
        };
        assert_eq!(s.order_id, Some(1_830_114_562));
        assert_eq!(s.tracking_number.as_deref(), Some("TRK-550-11"));
        assert_eq!(
            s.label_url(),
            Some("https://labels.example.test/TRK-550-11.pdf")
        );
    }
    // Nothing yet: label `[]` or `null`, tracking `null`, numbers as numbers.
    let mut data = documented_shipment();
    data["label"] = json!([]);
    data["tracking_number"] = Value::Null;
    data["tracking_link"] = Value::Null;
    data["shipping_number"] = json!(77_102);
    data["order_id"] = json!("1830114562");
    let s = match parse("shipment.updated", data.clone()) {
        Payload::Shipment(s) => *s,
        other => panic!("{other:?}"),
    };
    assert_eq!(s.label_url(), None);
    assert_eq!(s.tracking_number, None);
    assert_eq!(s.shipping_number.as_deref(), Some("77102"));
    assert_eq!(s.order_id, Some(1_830_114_562));
    data["label"] = Value::Null;
    assert!(matches!(
        parse("shipment.updated", data),
        Payload::Shipment(_)
    ));
}

// ----- invoices ----------------------------------------------------------------------------------

fn documented_invoice() -> Value {
    json!({
        "id": 601_224_330,
        "invoice_number": "770211",
        "uuid": "5d1f0c1e-0000-4000-8000-00000000abcd",
        "order_id": 1_830_114_562u64,
        "invoice_reference_id": null,
        "type": "Tax Invoice",
        "date": "2026-02-14 12:00:00",
        "qr_code": null,
        "payment_method": "cod",
        "sub_total": {"amount": 228, "currency": "SAR"},
        "shipping_cost": {"amount": 22.5, "taxable": true, "currency": "SAR"},
        "cod_cost": {"amount": 7, "taxable": true, "currency": "SAR"},
        "discount": {"amount": 12, "currency": "SAR"},
        "tax": {"percent": 15, "amount": {"amount": 38.63, "currency": "SAR"}},
        "total": {"amount": 296.13, "currency": "SAR"},
        "shipping_cost_discount": {"amount": 0, "currency": "SAR"},
        "items": [{
            "id": 91_000_001, "item_id": 90_001, "product_id": 2_204_118_930u64, "name": "Cardamom coffee",
            "sku": "CARD-250", "quantity": 2, "type": "product",
            "price": {"amount": 120, "currency": "SAR"},
            "discount": {"amount": 12, "currency": "SAR"},
            "tax": {"percent": 15, "amount": {"amount": 34.2, "currency": "SAR"}},
            "total": {"amount": 262.2, "currency": "SAR"},
            "options": [{"id": 61, "product_option_id": 62, "name": "Grind", "type": "radio",
                         "value": {"id": 63, "name": "Fine", "price": {"amount": 0, "currency": "SAR"}, "option_value": ""}}]
        }],
        "company": {"name": "Coffee Co", "tax_number": "300000000000003", "commercial_number": "1010000000"},
        "customer": {"id": 331_908_117, "first_name": "Huda", "last_name": "Salem", "mobile": 512_340_001,
                     "mobile_code": "+966", "email": "huda@example.test",
                     "address": {"country": "السعودية", "city": "الخبر", "district": null, "postal_code": "34422"}}
    })
}

#[test]
fn invoice_created_as_documented() {
    let i: Invoice = match parse("invoice.created", documented_invoice()) {
        Payload::Invoice(i) => *i,
        other => panic!("{other:?}"),
    };
    assert_eq!(i.order_id, 1_830_114_562);
    assert_eq!(i.invoice_number.as_deref(), Some("770211"));
    assert_eq!(i.total.unwrap().amount, dec("296.13"));
    assert_eq!(i.items[0].price.as_ref().unwrap().amount, dec("120"));
    assert_eq!(i.items[0].quantity, dec("2"));
    // The App Functions copy: `invoice_number` a number, `company` null.
    let mut data = documented_invoice();
    data["invoice_number"] = json!(3);
    data["company"] = Value::Null;
    let i: Invoice = match parse("invoice.created", data) {
        Payload::Invoice(i) => *i,
        other => panic!("{other:?}"),
    };
    assert_eq!(i.invoice_number.as_deref(), Some("3"));
}

// ----- app events --------------------------------------------------------------------------------

#[test]
fn app_events_as_documented() {
    let created_at = "2026-03-01 09:00:00";
    let env = Envelope::from_slice(&body(
        "app.store.authorize",
        created_at,
        json!({"access_token": "at-demo-value", "expires": 1_780_000_000, "refresh_token": "rt-demo-value",
               "scope": "settings.read orders.read_write offline_access", "token_type": "bearer"}),
    ))
    .unwrap();
    assert!(env.created_at_instant().is_some());
    match env.payload().unwrap() {
        Payload::StoreAuthorize(a) => assert_eq!(a.expires, 1_780_000_000),
        other => panic!("{other:?}"),
    }
    // `expires` as a string still reads.
    match parse(
        "app.store.authorize",
        json!({"access_token": "at", "expires": "1780000000"}),
    ) {
        Payload::StoreAuthorize(a) => assert_eq!(a.expires, 1_780_000_000),
        other => panic!("{other:?}"),
    }
    let cases = [
        (
            "app.installed",
            json!({"id": 7_012_345_678u64, "app_name": "Odoo sync", "description": "ERP",
                   "app_type": "app", "app_scopes": ["orders.read", "offline_access"],
                   "installation_date": "2026-03-01 08:59:00", "store_type": "demo"}),
        ),
        (
            "app.updated",
            json!({"id": 7_012_345_678u64, "app_name": "Odoo sync", "app_type": "app",
                   "categories": ["Accounting & Finance"], "app_scopes": ["orders.read"],
                   "installation_date": "2026-03-01 08:59:00", "update_date": "2026-03-02 10:00:00",
                   "store_type": "live"}),
        ),
        (
            "app.uninstalled",
            json!({"id": "7012345678", "app_name": "Odoo sync", "app_description": "ERP",
                   "app_type": "public", "categories": [], "installation_date": "2026-03-01 08:59:00",
                   "uninstallation_date": "2026-03-09 18:00:00", "refunded": 0, "store_type": "live"}),
        ),
        (
            "app.settings.updated",
            json!({"id": 7_012_345_678u64, "app_name": "Odoo sync", "app_type": "public",
                   "settings": {"odoo_url": "https://erp.example.test", "database": "prod",
                                "warehouses": ["WH", "WH2"], "sync_stock": true, "port": 8069}}),
        ),
    ];
    for (event, data) in cases {
        match parse(event, data) {
            Payload::App(a) => assert_eq!(a.id, Some(7_012_345_678), "{event}"),
            other => panic!("{event}: {other:?}"),
        }
    }
    match parse(
        "app.uninstalled",
        json!({"id": 1, "refunded": 0, "store_type": "live"}),
    ) {
        Payload::App(a) => assert_eq!(a.refunded, Some(false)),
        other => panic!("{other:?}"),
    }
}

// ----- lists and objects in PHP's other spellings ---------------------------------------------------

#[test]
fn lists_and_objects_in_their_other_spellings() {
    let mut data = documented_order();
    // A list as PHP writes a non-sequential array, `null` for an empty list, `[]` for an empty object.
    let item = data["items"][0].clone();
    data["items"] = json!({"0": item});
    data["amounts"]["discounts"] = Value::Null;
    data["shipping"]["receiver"] = json!([]);
    data["customer"]["updated_at"] = json!("2026-02-10 08:00:00");
    let o = order_of(parse("order.updated", data));
    assert_eq!(o.items.len(), 1);
    assert!(o.amounts.unwrap().discounts.is_empty());
    assert!(o.shipping.unwrap().receiver.is_none());
    assert_eq!(o.customer.unwrap().updated_at.unwrap().timezone, None);

    // One category where a list was documented; a flag as 1.
    let mut p = documented_product();
    p["categories"] = json!({"id": 5, "name": "Solo"});
    p["unlimited_quantity"] = json!(1);
    let p = product_of(parse("product.updated", p));
    assert_eq!(p.categories[0].id, 5);
    assert_eq!(p.unlimited_quantity, Some(true));
}

// ----- every money field, every form -------------------------------------------------------------

type Read = fn(&Payload) -> Option<Decimal>;

fn order(p: &Payload) -> &Order {
    match p {
        Payload::Order(o) => o,
        Payload::OrderStatus(s) => &s.order,
        other => panic!("{other:?}"),
    }
}

fn product(p: &Payload) -> &Product {
    match p {
        Payload::Product(p) => p,
        other => panic!("{other:?}"),
    }
}

fn invoice(p: &Payload) -> &Invoice {
    match p {
        Payload::Invoice(i) => i,
        other => panic!("{other:?}"),
    }
}

fn amounts(p: &Payload) -> OrderAmounts {
    order(p).amounts.clone().unwrap()
}

fn item(p: &Payload) -> ItemAmounts {
    order(p).items[0].amounts.clone().unwrap()
}

/// `(event, base data, pointer of the money field, how the parsed payload gives it back)`.
fn money_fields() -> Vec<(&'static str, Value, &'static str, Read)> {
    let o = documented_order();
    let s = json!({"id": 1, "status": "x", "order": documented_order()});
    let p = documented_product();
    let mut pv = documented_product();
    pv["skus"] = json!([{"id": 1, "sku": "V", "price": 1}]);
    // `cost` is `product.price.updated`'s name for the cost.
    let mut pc = documented_product();
    pc["cost"] = json!(1);
    let i = documented_invoice();
    vec![
        ("order.created", o.clone(), "/amounts/sub_total", |p| {
            amounts(p).sub_total.map(|m| m.amount)
        }),
        ("order.updated", o.clone(), "/amounts/shipping_cost", |p| {
            amounts(p).shipping_cost.map(|m| m.amount)
        }),
        (
            "order.created",
            o.clone(),
            "/amounts/cash_on_delivery",
            |p| amounts(p).cash_on_delivery.map(|m| m.amount),
        ),
        (
            "order.total.price.updated",
            o.clone(),
            "/amounts/total",
            |p| amounts(p).total.map(|m| m.amount),
        ),
        ("order.created", o.clone(), "/amounts/tax/amount", |p| {
            amounts(p).tax.and_then(|t| t.amount).map(|m| m.amount)
        }),
        (
            "order.coupon.updated",
            o.clone(),
            "/amounts/discounts/0/discount",
            |p| amounts(p).discounts[0].discount,
        ),
        (
            "order.products.updated",
            o.clone(),
            "/items/0/amounts/price_without_tax",
            |p| item(p).price_without_tax.map(|m| m.amount),
        ),
        (
            "order.created",
            o.clone(),
            "/items/0/amounts/total_discount",
            |p| item(p).total_discount.map(|m| m.amount),
        ),
        ("order.created", o.clone(), "/items/0/amounts/total", |p| {
            item(p).total.map(|m| m.amount)
        }),
        ("order.created", o, "/items/0/amounts/tax/amount", |p| {
            item(p).tax.and_then(|t| t.amount).map(|m| m.amount)
        }),
        ("order.status.updated", s, "/order/amounts/total", |p| {
            amounts(p).total.map(|m| m.amount)
        }),
        ("product.created", p.clone(), "/price", |p| {
            product(p).price.as_ref().map(|m| m.amount)
        }),
        ("product.price.updated", p.clone(), "/regular_price", |p| {
            product(p).regular_price.as_ref().map(|m| m.amount)
        }),
        ("product.price.updated", p.clone(), "/sale_price", |p| {
            product(p).sale_price.as_ref().map(|m| m.amount)
        }),
        ("product.updated", p.clone(), "/taxed_price", |p| {
            product(p).taxed_price.as_ref().map(|m| m.amount)
        }),
        ("product.created", p, "/cost_price", |p| {
            product(p).cost_price.as_ref().map(|m| m.amount)
        }),
        ("product.price.updated", pc, "/cost", |p| {
            product(p).cost.as_ref().map(|m| m.amount)
        }),
        ("product.updated", pv, "/skus/0/price", |p| {
            product(p).skus[0].price.as_ref().map(|m| m.amount)
        }),
        ("invoice.created", i.clone(), "/total", |p| {
            invoice(p).total.as_ref().map(|m| m.amount)
        }),
        ("invoice.created", i, "/items/0/price", |p| {
            invoice(p).items[0].price.as_ref().map(|m| m.amount)
        }),
    ]
}

fn with_field(data: &Value, pointer: &str, v: Value) -> Value {
    let mut data = data.clone();
    *data
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}")) = v;
    data
}

/// The forms money arrives in, for an amount written as `text`.
fn forms(text: &str) -> Vec<Value> {
    let number: Value = serde_json::from_str(text).unwrap();
    vec![
        number.clone(),
        json!(text),
        json!({"amount": number, "currency": "SAR"}),
        json!({"amount": text, "currency": "SAR"}),
        json!({"amount": number, "expired_at": "2026-12-31"}),
        json!({"amount": text}),
    ]
}

#[test]
fn every_money_field_reads_every_form() {
    for (event, base, pointer, read) in money_fields() {
        for (text, want) in [
            ("100", "100"),
            ("100.50", "100.50"),
            ("99.5", "99.5"),
            ("0", "0"),
        ] {
            for form in forms(text) {
                let data = with_field(&base, pointer, form.clone());
                let got = read(&parse(event, data));
                assert_eq!(got, Some(dec(want)), "{event} {pointer} = {form}");
                // Exact: the string form keeps its scale.
                if form.is_string() {
                    assert_eq!(got.unwrap().to_string(), want, "{event} {pointer} = {form}");
                }
            }
        }
        // Absent where the model allows it.
        for none in [
            json!(null),
            json!(""),
            json!({}),
            json!([]),
            json!({"amount": null, "currency": "SAR"}),
        ] {
            let data = with_field(&base, pointer, none.clone());
            assert_eq!(
                read(&parse(event, data)),
                None,
                "{event} {pointer} = {none}"
            );
        }
    }
}

#[test]
fn money_that_is_not_money_is_still_an_error() {
    for (event, base, pointer, _) in money_fields() {
        for bad in [
            json!("lots"),
            json!(true),
            json!({"amount": "lots", "currency": "SAR"}),
            json!({"currency": "SAR"}),
            json!({"amount": [1], "currency": "SAR"}),
            json!([1, 2]),
        ] {
            let e = parse_err(event, with_field(&base, pointer, bad.clone()));
            assert!(e.contains(event), "{event} {pointer} = {bad}: {e}");
        }
    }
}

proptest! {
    /// Any amount, in any form, in any money field, reads back as the same decimal.
    #[test]
    fn money_fields_agree_on_every_form(
        mantissa in -99_999_999_999i64..=99_999_999_999,
        scale in 0u32..=4,
        field in any::<prop::sample::Index>(),
    ) {
        let fields = money_fields();
        let (event, base, pointer, read) = &fields[field.index(fields.len())];
        let d = Decimal::new(mantissa, scale);
        for form in forms(&d.to_string()) {
            let got = read(&parse(event, with_field(base, pointer, form.clone())));
            prop_assert_eq!(got.map(|g| g.normalize()), Some(d.normalize()), "{} {} = {}", event, pointer, form);
        }
    }
}

// ----- what stays an error -----------------------------------------------------------------------

#[test]
fn required_ids_and_quantities_are_still_required() {
    let mut no_id = documented_order();
    no_id.as_object_mut().unwrap().remove("id");
    assert!(parse_err("order.created", no_id).contains("id"));
    let bad_id = with_field(&documented_order(), "/id", json!("ORD-1"));
    parse_err("order.updated", bad_id);
    let no_item_id = with_field(&documented_order(), "/items/0/id", Value::Null);
    parse_err("order.created", no_item_id);
    let mut no_qty = documented_order();
    no_qty["items"][0]
        .as_object_mut()
        .unwrap()
        .remove("quantity");
    assert!(parse_err("order.created", no_qty).contains("quantity"));
    assert!(parse_err("order.status.updated", json!({"id": 5, "status": "x"})).contains("order"));
    assert!(parse_err("product.price.updated", json!({"sku": "A", "price": 100})).contains("id"));
    assert!(
        parse_err(
            "product.status.updated",
            json!({"id": -3, "status": "hidden"})
        )
        .contains("id")
    );
    assert!(parse_err("customer.created", json!({"first_name": "No", "mobile": 5})).contains("id"));
    let mut inv = documented_invoice();
    inv.as_object_mut().unwrap().remove("order_id");
    assert!(parse_err("invoice.created", inv).contains("order_id"));
    assert!(parse_err("shipment.created", json!({"order_id": 4})).contains("id"));
    assert!(parse_err("order.shipment.cancelled", json!({"shipping_number": "1"})).contains("id"));
    parse_err(
        "app.store.authorize",
        json!({"access_token": "a", "expires": "soon"}),
    );
    // A mobile must be text or a number, a flag a flag.
    parse_err("customer.created", json!({"id": 1, "mobile": {"n": 5}}));
    parse_err(
        "product.updated",
        json!({"id": 1, "unlimited_quantity": "maybe"}),
    );
}
