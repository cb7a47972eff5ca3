//! The Merchant API client against an HTTP double (tests/api_support): envelope decoding of each
//! endpoint with bodies in the documented shapes, pagination, every error class, the OAuth refresh,
//! lost answers, and that no secret reaches an error.

mod api_support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use api_support::{CLIENT_ID, CLIENT_SECRET, Double, Reply, config_for, dropping_server};
use rust_decimal::Decimal;
use salla_odoo_salla::api::{
    AccessToken, ApiError, CustomerQuery, EndpointClass, ErrorClass, ErrorCode, Identifier,
    OrderQuery, OrderSort, ProductQuery, QuantityMode, QuantityUpdate, RateInfo, RefreshToken,
    RequestHook, SallaApi, StatusChange,
};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::date;

const TOKEN: &str = "access-TOKEN-abc123";
const REFRESH: &str = "refresh-TOKEN-def456";

fn token() -> AccessToken {
    AccessToken::new(TOKEN)
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Asserts that no secret appears in an error's Display or Debug.
fn assert_no_secret(e: &ApiError) {
    let text = format!("{e} | {e:?}");
    for secret in [TOKEN, REFRESH, CLIENT_SECRET] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

fn transient(e: &ApiError) -> Option<Duration> {
    match e.class() {
        ErrorClass::Transient { retry_after } => retry_after,
        other => panic!("expected transient, got {other:?}: {e}"),
    }
}

// ----- endpoints -----------------------------------------------------------------------------------

#[tokio::test]
async fn order_details_decode_lenient_shapes_and_send_the_headers() {
    let d = Double::start().await;
    d.reply(
        "GET",
        "/orders/2116149737",
        Reply::data(json!({
            "id": "2116149737",
            "reference_id": 49521474,
            "date": {"date": "2024-03-01 10:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
            "updated_at": "2024-03-02 11:30:00",
            "status": {"id": "566146469", "name": "Under review", "slug": "under_review", "customized": null},
            "payment_method": "cod",
            "currency": "SAR",
            "amounts": {
                "sub_total": {"amount": "186.50", "currency": "SAR"},
                "shipping_cost": {"amount": 15, "currency": "SAR"},
                "tax": {"percent": "15.00", "amount": {"amount": 27.98, "currency": "SAR"}},
                "discounts": [{"title": "promo", "code": 77, "discount": "5.00"}],
                "total": {"amount": 229.48, "currency": "SAR"}
            },
            "shipping": null,
            "shipments": null,
            "customer": {"id": 99, "first_name": "Sara", "mobile": 501806978, "email": null},
            "items": [{"id": 7, "name": "Cup", "sku": "", "quantity": "2", "product": {"id": "9834759404"}}],
            "brand_new_field": {"anything": [1, 2]}
        }))
        .header("X-RateLimit-Limit", "120")
        .header("X-RateLimit-Remaining", "118")
        .header("X-RateLimit-Reset", "1900000000"),
    );
    let api = d.api();
    let t = token();
    let r = api.merchant(&t).order(2_116_149_737).await.unwrap();
    let o = r.data;
    assert_eq!(o.id, 2_116_149_737);
    assert_eq!(o.reference_id, Some(49_521_474));
    assert_eq!(o.updated_at.unwrap().date, "2024-03-02 11:30:00");
    assert_eq!(o.status.unwrap().slug.as_deref(), Some("under_review"));
    let amounts = o.amounts.unwrap();
    assert_eq!(amounts.sub_total.unwrap().amount, dec("186.50"));
    assert_eq!(amounts.total.unwrap().amount, dec("229.48"));
    assert_eq!(amounts.tax.unwrap().percent, Some(dec("15.00")));
    assert_eq!(amounts.discounts[0].code.as_deref(), Some("77"));
    assert!(o.shipping.is_none());
    assert_eq!(o.customer.unwrap().mobile.as_deref(), Some("501806978"));
    assert_eq!(o.items[0].quantity, dec("2"));
    assert_eq!(o.items[0].product.as_ref().unwrap().id, 9_834_759_404);
    assert_eq!(r.status, 200);
    assert_eq!(r.rate.limit, Some(120));
    assert_eq!(r.rate.remaining, Some(118));
    assert_eq!(
        r.rate.reset_at,
        Some(OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap())
    );

    let req = d.last();
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/admin/v2/orders/2116149737");
    assert_eq!(
        req.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(req.header("accept-language"), Some("en"));
    assert!(req.header("user-agent").unwrap().starts_with("salla-odoo/"));
}

fn summary(id: u64) -> serde_json::Value {
    // Ids alternate between numbers and strings, as Salla's examples do.
    let id_value = if id.is_multiple_of(2) {
        json!(id)
    } else {
        json!(id.to_string())
    };
    json!({
        "id": id_value,
        "reference_id": id + 1000,
        "total": match id % 3 {
            0 => json!({"amount": 100, "currency": "SAR"}),
            1 => json!("100.25"),
            _ => json!(99.5),
        },
        "date": {"date": "2024-03-01 10:00:00.000000", "timezone": "Asia/Riyadh"},
        "updated_at": {"date": "2024-03-05 09:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"},
        "status": {"id": 1298199463, "name": "Completed", "slug": "completed", "customized": {"id": 5, "name": "x"}},
        "payment_method": "mada",
        "can_cancel": true,
        "items": [{"name": "Cup", "quantity": 1}]
    })
}

#[tokio::test]
async fn list_orders_follows_three_pages_and_clamps_per_page() {
    let d = Double::start().await;
    d.on("GET", "/orders", |req| {
        let page: u64 = req.param("page").unwrap().parse().unwrap();
        let links = match page {
            1 => json!({"next": "https://api.salla.dev/admin/v2/orders?page=2"}),
            2 => json!([]),
            _ => json!({}),
        };
        Reply::json(
            200,
            json!({
                "status": 200, "success": true,
                "data": [summary(page * 10), summary(page * 10 + 1)],
                "pagination": {"count": 2, "total": "6", "perPage": 60, "currentPage": page, "totalPages": 3, "links": links}
            }),
        )
    });
    let api = d.api();
    let t = token();
    let query = OrderQuery {
        from_date: Some(date!(2024 - 03 - 01)),
        to_date: Some(date!(2024 - 03 - 31)),
        status_ids: vec![1_298_199_463, 566_146_469],
        sort_by: Some(OrderSort::UpdatedAtDesc),
        customer_id: Some(42),
        per_page: Some(100),
        ..Default::default()
    };
    let all = api.merchant(&t).orders(&query).await.unwrap().data;
    let ids: Vec<u64> = all.iter().map(|o| o.id).collect();
    assert_eq!(ids, [10, 11, 20, 21, 30, 31]);
    // Money as an object (30), a string (10) and a number (11).
    assert_eq!(all[4].total.as_ref().unwrap().amount, dec("100"));
    assert_eq!(
        all[4].total.as_ref().unwrap().currency.as_deref(),
        Some("SAR")
    );
    assert_eq!(all[0].total.as_ref().unwrap().amount, dec("100.25"));
    assert_eq!(all[1].total.as_ref().unwrap().amount, dec("99.5"));
    assert_eq!(all[0].reference_id, Some(1010));
    assert_eq!(
        all[0].status.as_ref().unwrap().slug.as_deref(),
        Some("completed")
    );
    assert!(all[0].updated_at.is_some());

    let reqs = d.requests();
    assert_eq!(reqs.len(), 3);
    for (i, req) in reqs.iter().enumerate() {
        assert_eq!(req.param("page"), Some((i + 1).to_string()));
        assert_eq!(req.param("per_page").as_deref(), Some("60"));
        let pairs = req.query_pairs();
        assert!(pairs.contains(&("from_date".into(), "2024-03-01".into())));
        assert!(pairs.contains(&("to_date".into(), "2024-03-31".into())));
        assert!(pairs.contains(&("status[]".into(), "1298199463".into())));
        assert!(pairs.contains(&("status[]".into(), "566146469".into())));
        assert!(pairs.contains(&("sort_by".into(), "updated_at-desc".into())));
        assert!(pairs.contains(&("customer_id".into(), "42".into())));
    }

    // One page at a time, for callers that stop early.
    let page = api
        .merchant(&t)
        .orders_page(&OrderQuery::default(), 2)
        .await
        .unwrap()
        .data;
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.pagination.current_page, Some(2));
    assert_eq!(page.pagination.total, Some(6));
    assert_eq!(page.pagination.links, None, "`[]` links read as absent");
    assert_eq!(page.next_page(), Some(3));
    let last = api
        .merchant(&t)
        .orders_page(&OrderQuery::default(), 3)
        .await
        .unwrap()
        .data;
    assert_eq!(last.next_page(), None);
}

#[tokio::test]
async fn items_shipments_statuses_and_branches() {
    let d = Double::start().await;
    d.reply(
        "GET",
        "/orders/items",
        Reply::data(json!([
            {"id": 1, "name": "Cup", "sku": "CW-100", "quantity": 2,
             "amounts": {"price_without_tax": {"amount": "10.00", "currency": "SAR"},
                         "total_discount": {"amount": 0, "currency": "SAR"},
                         "tax": {"percent": 15, "amount": {"amount": "3.00", "currency": "SAR"}},
                         "total": {"amount": 23, "currency": "SAR"}},
             "options": [{"name": "size", "value": {"id": 1, "name": "L"}}], "weight": "0.5"},
            {"id": "2", "name": "Mug", "sku": null, "quantity": "1", "product": {"id": 55}}
        ])),
    );
    d.reply(
        "GET",
        "/shipments",
        Reply::json(
            200,
            json!({"status": 200, "success": true, "data": [
                {"id": 501, "order_id": "9001", "shipping_number": "SALLA000121", "tracking_number": null,
                 "label": [], "status": "created", "courier_name": "Aramex"},
                {"id": "502", "order_id": 9001, "tracking_number": 123456, "label": {"format": "pdf", "url": "https://l/x.pdf"},
                 "status": "in_transit"}
            ], "pagination": {"count": 2, "total": 2, "perPage": 60, "currentPage": 1, "totalPages": 1, "links": {}}}),
        ),
    );
    d.reply(
        "GET",
        "/shipments/502",
        Reply::data(json!({"id": 502, "order_id": 9001, "label": null, "status": "delivered"})),
    );
    d.reply(
        "GET",
        "/orders/statuses",
        Reply::data(json!([
            {"id": 1298199463, "name": "Completed", "type": "original", "slug": "completed", "sort": 4,
             "message": "done", "icon": "x", "is_active": true, "parent": null, "original": {"id": 1298199463, "name": "Completed"}},
            {"id": "77", "name": "Packed", "type": "custom", "slug": "in_progress", "sort": "9",
             "is_active": 1, "parent": {"id": "1939592358", "name": "In progress"}, "original": []}
        ])),
    );
    d.reply(
        "GET",
        "/branches",
        Reply::data(json!([
            {"id": 1790435930, "name": "Main", "status": "active", "type": "warehouse", "is_default": true, "city": {"id": 1}},
            {"id": "1790435931", "name": "Jeddah", "status": "active", "type": [], "is_default": "0"}
        ])),
    );
    let api = d.api();
    let t = token();
    let m = api.merchant(&t);

    let items = m.order_items(9001).await.unwrap().data;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].sku.as_deref(), Some("CW-100"));
    let a = items[0].amounts.as_ref().unwrap();
    assert_eq!(a.price_without_tax.as_ref().unwrap().amount, dec("10.00"));
    assert_eq!(a.tax.as_ref().unwrap().percent, Some(dec("15")));
    assert_eq!(items[1].id, 2);
    assert_eq!(items[1].sku, None);
    assert_eq!(d.last().param("order_id").as_deref(), Some("9001"));

    let shipments = m.order_shipments(9001).await.unwrap().data;
    assert_eq!(shipments.len(), 2);
    assert_eq!(shipments[0].order_id, Some(9001));
    assert_eq!(shipments[0].label_url(), None);
    assert_eq!(shipments[1].id, 502);
    assert_eq!(shipments[1].tracking_number.as_deref(), Some("123456"));
    assert_eq!(shipments[1].label_url(), Some("https://l/x.pdf"));
    assert_eq!(d.last().param("order_id").as_deref(), Some("9001"));
    let one = m.shipment(502).await.unwrap().data;
    assert_eq!(one.status.as_deref(), Some("delivered"));

    let statuses = m.order_statuses().await.unwrap().data;
    assert_eq!(
        statuses[0].original.as_ref().unwrap().id,
        Some(1_298_199_463)
    );
    assert!(statuses[0].parent.is_none());
    assert_eq!(statuses[1].id, 77);
    assert_eq!(statuses[1].sort, Some(9));
    assert_eq!(statuses[1].is_active, Some(true));
    assert_eq!(statuses[1].parent.as_ref().unwrap().id, Some(1_939_592_358));
    assert!(statuses[1].original.is_none(), "`[]` reads as absent");

    let branches = m.branches().await.unwrap().data;
    assert_eq!(branches[0].branch_type.as_deref(), Some("warehouse"));
    assert_eq!(branches[0].is_default, Some(true));
    assert_eq!(branches[1].id, 1_790_435_931);
    assert_eq!(branches[1].branch_type, None);
    assert_eq!(branches[1].is_default, Some(false));
}

fn product_body(id: serde_json::Value) -> serde_json::Value {
    json!({
        "id": id, "sku": "CW-100", "name": "Cup", "type": "product",
        "price": {"amount": "50.00", "currency": "SAR"},
        "sale_price": {"amount": 45, "currency": "SAR"},
        "quantity": "12", "unlimited_quantity": false, "status": "sale",
        "updated_at": "2024-03-02 11:30:00",
        "options": [], "managed_by_branches": false,
        "skus": [{"id": "3498732894", "sku": "CW-100-L", "barcode": "123", "price": {"amount": 50, "currency": "SAR"}, "stock_quantity": 3}],
        "categories": [{"id": "12", "name": "Kitchen"}]
    })
}

#[tokio::test]
async fn products_by_id_sku_list_and_variants() {
    let d = Double::start().await;
    d.reply(
        "GET",
        "/products/9834759404",
        Reply::data(product_body(json!(9834759404u64))),
    );
    // The SKU is one path segment: `/`, space, `?`, `#` and `%` are percent-encoded.
    d.reply(
        "GET",
        "/products/sku/A%2FB%201%3F%23%25",
        Reply::data(product_body(json!("9834759404"))),
    );
    d.reply(
        "GET",
        "/products",
        Reply::json(
            200,
            json!({"status": 200, "success": true, "data": [product_body(json!(1)), product_body(json!("2"))],
                   "pagination": {"count": 2, "total": 2, "perPage": "15", "currentPage": "1", "totalPages": "1", "links": []}}),
        ),
    );
    d.reply(
        "GET",
        "/products/9834759404/variants",
        Reply::data(json!([
            {"id": 3498732894u64, "sku": "CW-100-L", "barcode": 6281000000001u64, "price": {"amount": "50.00", "currency": "SAR"},
             "stock_quantity": "3", "unlimited_quantity": 0, "related_option_values": [1]},
            {"id": "3498732895", "sku": null, "price": null, "sale_price": {}, "regular_price": 55, "cost_price": "20.5", "stock_quantity": null}
        ])),
    );
    d.reply(
        "GET",
        "/products/variants/3498732894",
        Reply::data(json!({"id": "3498732894", "sku": "CW-100-L", "sale_price": {"amount": 40, "expired_at": "2025-01-01"}})),
    );
    let api = d.api();
    let t = token();
    let m = api.merchant(&t);

    let p = m.product(9_834_759_404).await.unwrap().data;
    assert_eq!(p.id, 9_834_759_404);
    assert_eq!(p.price.unwrap().amount, dec("50.00"));
    assert_eq!(p.quantity, Some(dec("12")));
    assert_eq!(p.skus[0].id, 3_498_732_894);
    assert_eq!(p.categories[0].id, 12);

    let by_sku = m.product_by_sku("A/B 1?#%").await.unwrap().data;
    assert_eq!(by_sku.id, 9_834_759_404);
    assert_eq!(d.last().path, "/admin/v2/products/sku/A%2FB%201%3F%23%25");
    for bad in ["", " ", ".", ".."] {
        let e = m.product_by_sku(bad).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Permanent, "{bad:?}");
    }

    let q = ProductQuery {
        keyword: Some("CW-100".into()),
        status: Some("sale".into()),
        per_page: Some(15),
        ..Default::default()
    };
    let list = m.products(&q).await.unwrap().data;
    assert_eq!(list.iter().map(|p| p.id).collect::<Vec<_>>(), [1, 2]);
    let req = d.last();
    assert_eq!(req.param("keyword").as_deref(), Some("CW-100"));
    assert_eq!(req.param("status").as_deref(), Some("sale"));
    assert_eq!(req.param("per_page").as_deref(), Some("15"));
    let page = m.products_page(&q, 1).await.unwrap().data;
    assert_eq!(page.pagination.per_page, Some(15));
    assert_eq!(page.next_page(), None);

    let variants = m.product_variants(9_834_759_404).await.unwrap().data;
    assert_eq!(variants[0].barcode.as_deref(), Some("6281000000001"));
    assert_eq!(variants[0].stock_quantity, Some(dec("3")));
    assert_eq!(variants[0].unlimited_quantity, Some(false));
    assert_eq!(variants[1].id, 3_498_732_895);
    assert!(variants[1].price.is_none());
    assert!(variants[1].sale_price.is_none());
    assert_eq!(
        variants[1].regular_price.as_ref().unwrap().amount,
        dec("55")
    );
    assert_eq!(variants[1].cost_price.as_ref().unwrap().amount, dec("20.5"));
    let v = m.variant(3_498_732_894).await.unwrap().data;
    assert_eq!(v.sale_price.unwrap().amount, dec("40"));
}

/// Records the classes the hook saw.
#[derive(Default)]
struct Recorder {
    before: Mutex<Vec<EndpointClass>>,
    after: Mutex<Vec<(EndpointClass, RateInfo)>>,
}

impl RequestHook for Recorder {
    fn before<'a>(&'a self, class: EndpointClass) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        self.before.lock().unwrap().push(class);
        Box::pin(async {})
    }
    fn after(&self, class: EndpointClass, rate: &RateInfo) {
        self.after.lock().unwrap().push((class, rate.clone()));
    }
}

#[tokio::test]
async fn customers_use_their_own_budget_and_the_hook_sees_every_answer() {
    let d = Double::start().await;
    d.reply(
        "GET",
        "/customers",
        Reply::data(json!([
            {"id": 1, "first_name": "Sara", "mobile": "+96652318526", "email": "s@example.com"},
            {"id": "2", "first_name": "Ali", "mobile": 501806978, "updated_at": {"date": "2024-01-01 00:00:00.000000"}}
        ]))
        .header("X-RateLimit-Limit", "500")
        .header("X-RateLimit-Remaining", "499"),
    );
    d.reply(
        "GET",
        "/customers/2",
        Reply::error(
            404,
            json!({"code": "not_found", "message": "Customer not found"}),
        )
        .header("X-RateLimit-Remaining", "498"),
    );
    let api = d.api();
    let t = token();
    let hook = Recorder::default();
    let m = api.merchant(&t).with_hook(&hook);
    let q = CustomerQuery {
        keyword: Some("0501806978".into()),
        per_page: None,
    };
    let customers = m.customers(&q).await.unwrap().data;
    assert_eq!(customers[1].id, 2);
    assert_eq!(customers[1].mobile.as_deref(), Some("501806978"));
    assert_eq!(d.last().param("keyword").as_deref(), Some("0501806978"));
    assert_eq!(d.last().param("per_page").as_deref(), Some("60"));
    let e = m.customer(2).await.unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(e.rate().unwrap().remaining, Some(498));
    assert_eq!(
        *hook.before.lock().unwrap(),
        [EndpointClass::Customers, EndpointClass::Customers]
    );
    let after = hook.after.lock().unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].1.remaining, Some(499));
    assert_eq!(after[1].1.remaining, Some(498));
}

// ----- writes --------------------------------------------------------------------------------------

#[tokio::test]
async fn bulk_quantities_use_the_misspelled_keys_and_chunk() {
    let d = Double::start().await;
    d.reply(
        "POST",
        "/products/quantities/bulk",
        Reply::json(
            201,
            json!({"status": 201, "success": true, "data": {"message": "The products quantities details has been queued to update", "code": 201}}),
        ),
    );
    let api = d.api();
    let t = token();
    let m = api.merchant(&t);
    let updates = vec![
        QuantityUpdate::overwrite(Identifier::Sku("CW-100".into()), 97).in_branch(1_790_435_930),
        QuantityUpdate::overwrite(Identifier::VariantId(3_498_732_894), 12),
        QuantityUpdate {
            mode: QuantityMode::Decrement,
            unlimited_quantity: Some(false),
            ..QuantityUpdate::overwrite(Identifier::Id(9_834_759_404), 1)
        },
    ];
    let r = m.update_quantities(&updates).await.unwrap();
    assert_eq!(r.status, 201);
    assert!(r.data.message().unwrap().contains("queued"));
    let req = d.last();
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"products": [
            {"identifer_type": "sku", "identifer": "CW-100", "quantity": 97, "mode": "overwrite", "branch": 1790435930u64},
            {"identifer_type": "variant_id", "identifer": "3498732894", "quantity": 12, "mode": "overwrite"},
            {"identifer_type": "id", "identifer": "9834759404", "quantity": 1, "mode": "decrement", "unlimited_quantity": false}
        ]})
    );
    let body = String::from_utf8(req.body).unwrap();
    assert!(!body.contains("identifier"), "{body}");

    let five: Vec<_> = (0..5)
        .map(|i| QuantityUpdate::overwrite(Identifier::Id(i), 1))
        .collect();
    let before = d.requests().len();
    let acks = m.update_quantities_chunked(&five, 2).await.unwrap();
    assert_eq!(acks.len(), 3);
    let sizes: Vec<usize> = d.requests()[before..]
        .iter()
        .map(|r| r.json()["products"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
    assert!(m.update_quantities(&[]).await.is_err());
    assert!(
        m.update_quantities_chunked(&[], 2)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn bulk_chunks_stop_at_the_first_failure() {
    let d = Double::start().await;
    d.on("POST", "/products/quantities/bulk", |req| {
        let first = req.json()["products"][0]["identifer"].as_str().unwrap().to_owned();
        if first == "2" {
            Reply::error(
                422,
                json!({"code": "validation_failed", "message": "invalid", "fields": {"products.0.identifer": ["not found"]}}),
            )
        } else {
            Reply::empty(202)
        }
    });
    let api = d.api();
    let t = token();
    let five: Vec<_> = (0..5)
        .map(|i| QuantityUpdate::overwrite(Identifier::Id(i), 1))
        .collect();
    let e = api
        .merchant(&t)
        .update_quantities_chunked(&five, 2)
        .await
        .unwrap_err();
    assert_eq!(e.accepted, 2);
    assert_eq!(e.total, 5);
    assert_eq!(e.error.class(), ErrorClass::Permanent);
    assert_eq!(d.requests().len(), 2);
}

#[tokio::test]
async fn order_status_change_bodies_and_empty_answers() {
    let d = Double::start().await;
    d.reply(
        "POST",
        "/orders/2116149737/status",
        Reply::json(
            201,
            json!({"status": 201, "success": true, "data": {"message": "The entity has been updated successfully", "code": 201}}),
        ),
    );
    d.reply("POST", "/orders/5/status", Reply::empty(204));
    let api = d.api();
    let t = token();
    let m = api.merchant(&t);
    let r = m
        .set_order_status(
            2_116_149_737,
            &StatusChange::slug("completed").with_note("shipped from Odoo"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(
        r.data.message(),
        Some("The entity has been updated successfully")
    );
    assert_eq!(
        d.last().json(),
        json!({"slug": "completed", "note": "shipped from Odoo"})
    );
    let r = m
        .set_order_status(5, &StatusChange::status_id(1_548_352_431))
        .await
        .unwrap();
    assert_eq!(r.status, 204);
    assert!(r.data.data.is_null());
    assert_eq!(d.last().json(), json!({"status_id": 1548352431u64}));
}

// ----- errors --------------------------------------------------------------------------------------

#[tokio::test]
async fn error_statuses_are_classified() {
    let d = Double::start().await;
    d.reply(
        "GET",
        "/orders/1",
        Reply::error(
            404,
            json!({"code": "not_found", "message": "The order was not found"}),
        ),
    );
    d.reply(
        "GET",
        "/orders/2",
        Reply::error(404, json!({"code": 404, "message": "Not Found"})),
    );
    d.reply(
        "POST",
        "/orders/3/status",
        Reply::error(
            422,
            json!({"code": "validation_failed", "message": "alert.invalid_fields",
                   "fields": {"slug": ["The selected slug is invalid."], "note": "too long"}}),
        ),
    );
    d.reply(
        "GET",
        "/orders/4",
        Reply::error(
            401,
            json!({"code": "unauthorized", "message": "The access token is invalid"}),
        ),
    );
    d.reply(
        "GET",
        "/shipments/5",
        Reply::error(
            401,
            json!({"code": "unauthorized", "message": "The access token should have access to one of those scopes: shipping.read, shippings.read_write"}),
        ),
    );
    d.reply(
        "GET",
        "/orders/6",
        Reply::error(
            429,
            json!({"code": "too_many_requests", "message": "Too Many Attempts."}),
        )
        .header("Retry-After", "7")
        .header("X-RateLimit-Limit", "120")
        .header("X-RateLimit-Remaining", "0"),
    );
    let reset = (OffsetDateTime::now_utc().unix_timestamp() + 30).to_string();
    d.reply(
        "GET",
        "/orders/7",
        Reply::error(
            429,
            json!({"code": "too_many_requests", "message": "slow down"}),
        )
        .header("X-RateLimit-Reset", &reset),
    );
    d.reply(
        "GET",
        "/orders/8",
        Reply::error(
            503,
            json!({"code": "service_unavailable", "message": "Service Unavailable"}),
        ),
    );
    d.reply(
        "GET",
        "/orders/9",
        Reply::raw(
            502,
            "text/html; charset=UTF-8",
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>",
        ),
    );
    d.reply("GET", "/orders/10", Reply::empty(500));
    d.reply(
        "GET",
        "/orders/11",
        Reply::error(403, json!({"code": "forbidden", "message": "blocked due to many errors in particular time"})),
    );
    d.reply(
        "GET",
        "/orders/12",
        Reply::json(200, json!({"status": 404, "success": false, "error": {"code": "not_found", "message": "gone"}})),
    );
    d.reply(
        "GET",
        "/orders/13",
        Reply::raw(200, "text/html", "<html>login</html>"),
    );
    d.reply(
        "POST",
        "/orders/14/status",
        Reply::raw(502, "text/html", "<h1>Bad Gateway</h1>"),
    );
    let api = d.api();
    let t = token();
    let m = api.merchant(&t);

    let e = m.order(1).await.unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(
        matches!(&e, ApiError::Status { code: Some(ErrorCode::Text(c)), .. } if c == "not_found")
    );
    assert!(e.to_string().contains("The order was not found"), "{e}");

    let e = m.order(2).await.unwrap_err();
    assert!(e.is_not_found());
    assert!(matches!(
        &e,
        ApiError::Status {
            code: Some(ErrorCode::Number(404)),
            ..
        }
    ));

    let e = m
        .set_order_status(3, &StatusChange::slug("nope"))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent);
    let fields = e.fields().unwrap();
    assert_eq!(fields["slug"], ["The selected slug is invalid."]);
    assert_eq!(fields["note"], ["too long"]);
    assert!(
        e.to_string()
            .contains("slug: The selected slug is invalid."),
        "{e}"
    );

    let e = m.order(4).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Auth);
    assert!(matches!(e, ApiError::Unauthorized { .. }));

    let e = m.shipment(5).await.unwrap_err();
    assert_eq!(
        e.class(),
        ErrorClass::Permanent,
        "a missing scope is not Auth"
    );
    assert!(
        e.to_string()
            .starts_with("missing scope: shipping.read, shippings.read_write"),
        "{e}"
    );

    let e = m.order(6).await.unwrap_err();
    assert_eq!(transient(&e), Some(Duration::from_secs(7)));
    assert_eq!(e.rate().unwrap().remaining, Some(0));

    let e = m.order(7).await.unwrap_err();
    let wait = transient(&e).expect("a wait from X-RateLimit-Reset");
    assert!((25..=30).contains(&wait.as_secs()), "{wait:?}");

    let e = m.order(8).await.unwrap_err();
    assert_eq!(transient(&e), None);

    let e = m.order(9).await.unwrap_err();
    transient(&e);
    assert_eq!(e.status(), Some(502));
    let text = e.to_string();
    assert!(
        text.contains("text/html") && text.contains("502 Bad Gateway"),
        "{text}"
    );
    assert!(!text.contains("<html>"), "{text}");

    let e = m.order(10).await.unwrap_err();
    transient(&e);
    assert!(e.to_string().contains("empty body"), "{e}");

    let e = m.order(11).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent);

    // `success: false` inside a 200 is an error, with the envelope's status.
    let e = m.order(12).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");

    // A 200 that is not JSON (a login page): the read cannot succeed by retrying.
    let e = m.order(13).await.unwrap_err();
    assert!(matches!(e, ApiError::Decode { .. }), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);

    // A gateway error on a write: it may have reached Salla.
    let e = m
        .set_order_status(14, &StatusChange::slug("completed"))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
}

#[tokio::test]
async fn data_of_the_wrong_shape_is_a_decode_error_and_php_lists_are_lists() {
    let d = Double::start().await;
    d.reply("GET", "/orders/1", Reply::data(json!({"reference_id": 5})));
    d.reply("GET", "/branches", Reply::data(json!({"id": 1})));
    d.reply("GET", "/products/1/variants", Reply::data(json!({})));
    d.reply(
        "GET",
        "/products/2/variants",
        Reply::data(json!({"1": {"id": 12}, "0": {"id": "11"}})),
    );
    d.reply(
        "GET",
        "/orders/items",
        Reply::data(json!([{"id": 1, "quantity": 1}, {"id": "x", "quantity": 1}])),
    );
    let api = d.api();
    let t = token();
    let m = api.merchant(&t);
    let e = m.order(1).await.unwrap_err();
    assert!(e.to_string().contains("missing field `id`"), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    let e = m.branches().await.unwrap_err();
    assert!(e.to_string().contains("an object instead of a list"), "{e}");
    // PHP's empty list and list-as-object are lists.
    assert!(m.product_variants(1).await.unwrap().data.is_empty());
    let ids: Vec<u64> = m
        .product_variants(2)
        .await
        .unwrap()
        .data
        .iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(ids, [11, 12]);
    let e = m.order_items(1).await.unwrap_err();
    assert!(e.to_string().contains("item 1"), "{e}");
}

#[tokio::test]
async fn answers_over_the_limit_are_refused() {
    let d = Double::start().await;
    d.reply(
        "GET",
        "/products",
        Reply::data(json!([{"id": 1, "name": "x".repeat(4096)}])),
    );
    let mut config = d.config();
    config.max_answer_bytes = 1024;
    let api = SallaApi::new(config).unwrap();
    let t = token();
    let e = api
        .merchant(&t)
        .products(&ProductQuery::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, ApiError::AnswerTooLarge { limit: 1024, .. }),
        "{e}"
    );
    assert_eq!(e.class(), ErrorClass::Permanent);
}

// ----- transport failures --------------------------------------------------------------------------

#[tokio::test]
async fn lost_answers_depend_on_the_method() {
    let (addr, seen) = dropping_server().await;
    let api = SallaApi::new(config_for(addr)).unwrap();
    let t = token();
    let m = api.merchant(&t);

    let e = m
        .set_order_status(77, &StatusChange::slug("completed"))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown, "{e}");
    assert!(matches!(e, ApiError::NoAnswer { .. }));
    assert_no_secret(&e);
    {
        let seen = seen.lock().unwrap();
        assert!(
            seen[0].starts_with("POST /admin/v2/orders/77/status "),
            "{}",
            seen[0]
        );
        assert!(seen[0].ends_with(r#"{"slug":"completed"}"#), "{}", seen[0]);
    }

    // The same loss on a read is transient: a GET can be sent again.
    let e = m.order(77).await.unwrap_err();
    assert_eq!(transient(&e), None);
    assert_no_secret(&e);
}

#[tokio::test]
async fn timeouts_after_sending() {
    let d = Double::start().await;
    d.reply(
        "GET",
        "/orders/1",
        Reply::data(json!({"id": 1})).after(Duration::from_secs(3)),
    );
    d.reply(
        "POST",
        "/products/quantities/bulk",
        Reply::empty(201).after(Duration::from_secs(3)),
    );
    let mut config = d.config();
    config.request_timeout = Duration::from_millis(300);
    let api = SallaApi::new(config).unwrap();
    let t = token();
    let m = api.merchant(&t);
    let e = m.order(1).await.unwrap_err();
    assert_eq!(transient(&e), None);
    assert!(e.to_string().contains("timed out"), "{e}");
    let e = m
        .update_quantities(&[QuantityUpdate::overwrite(Identifier::Id(1), 1)])
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
}

#[tokio::test]
async fn refused_connections_are_transient_even_for_writes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let api = SallaApi::new(config_for(addr)).unwrap();
    let t = token();
    let e = api
        .merchant(&t)
        .set_order_status(1, &StatusChange::slug("completed"))
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::Connect { .. }), "{e}");
    assert_eq!(transient(&e), None);
    let e = api.refresh(&RefreshToken::new(REFRESH)).await.unwrap_err();
    assert!(matches!(e, ApiError::Connect { .. }), "{e}");
    assert_no_secret(&e);
}

// ----- OAuth refresh -------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_posts_the_form_and_normalises_expires_in() {
    let d = Double::start().await;
    d.reply(
        "POST",
        "/oauth2/token",
        Reply::json(
            200,
            json!({"access_token": "new-access", "expires_in": 1209599, "refresh_token": "new-refresh",
                   "scope": "orders.read_write products.read_write offline_access", "token_type": "bearer"}),
        ),
    );
    let api = d.api();
    let before = OffsetDateTime::now_utc();
    let set = api.refresh(&RefreshToken::new(REFRESH)).await.unwrap();
    let after = OffsetDateTime::now_utc();
    assert_eq!(set.access_token.expose(), "new-access");
    assert_eq!(set.refresh_token.expose(), "new-refresh");
    let lifetime = time::Duration::seconds(1_209_599);
    assert!(set.expires_at >= before + lifetime && set.expires_at <= after + lifetime);
    assert_eq!(
        set.scopes().collect::<Vec<_>>(),
        ["orders.read_write", "products.read_write", "offline_access"]
    );
    assert!(!set.expires_within(after, Duration::from_secs(86_400)));
    assert!(set.expires_within(after, Duration::from_secs(15 * 86_400)));

    let req = d.last();
    assert_eq!(req.path, "/oauth2/token");
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.header("authorization"), None);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    assert_eq!(
        form,
        [
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".to_owned(), REFRESH.to_owned()),
            ("client_id".to_owned(), CLIENT_ID.to_owned()),
            ("client_secret".to_owned(), CLIENT_SECRET.to_owned()),
        ]
    );
}

#[tokio::test]
async fn refresh_refused_with_invalid_grant_needs_a_reinstall() {
    for status in [401, 400] {
        let d = Double::start().await;
        d.reply(
            "POST",
            "/oauth2/token",
            Reply::json(
                status,
                json!({"error": "invalid_grant",
                       "error_description": format!("The refresh token {REFRESH} is invalid, expired, revoked"),
                       "hint": "Token has been revoked"}),
            ),
        );
        let e = d
            .api()
            .refresh(&RefreshToken::new(REFRESH))
            .await
            .unwrap_err();
        assert!(matches!(e, ApiError::InvalidGrant { .. }), "{e}");
        assert_eq!(e.class(), ErrorClass::NeedsReinstall);
        assert_eq!(e.status(), Some(status));
        assert_no_secret(&e);
    }
    // Another OAuth error is permanent (a wrong client secret will not fix itself).
    let d = Double::start().await;
    d.reply(
        "POST",
        "/oauth2/token",
        Reply::json(
            401,
            json!({"error": "invalid_client", "error_description": format!("Client authentication failed for {CLIENT_SECRET}")}),
        ),
    );
    let e = d
        .api()
        .refresh(&RefreshToken::new(REFRESH))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent, "{e}");
    assert!(e.to_string().contains("invalid_client"), "{e}");
    assert_no_secret(&e);
}

#[tokio::test]
async fn refresh_whose_answer_never_came_is_an_unknown_outcome() {
    let (addr, seen) = dropping_server().await;
    let api = SallaApi::new(config_for(addr)).unwrap();
    let e = api.refresh(&RefreshToken::new(REFRESH)).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown, "{e}");
    assert_no_secret(&e);
    // The server did receive it: the old refresh token may already be spent.
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].contains("grant_type=refresh_token"), "{}", seen[0]);
    }

    // A 200 whose body cannot be used is the same situation.
    let d = Double::start().await;
    d.reply(
        "POST",
        "/oauth2/token",
        Reply::json(
            200,
            json!({"access_token": "new-access", "token_type": "bearer"}),
        ),
    );
    let e = d
        .api()
        .refresh(&RefreshToken::new(REFRESH))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown, "{e}");
    assert!(!format!("{e:?}").contains("new-access"));
    // And a 5xx from the token endpoint.
    let d = Double::start().await;
    d.reply("POST", "/oauth2/token", Reply::empty(500));
    let e = d
        .api()
        .refresh(&RefreshToken::new(REFRESH))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown, "{e}");
}

// ----- secrets -------------------------------------------------------------------------------------

#[tokio::test]
async fn no_secret_reaches_an_error_even_when_echoed() {
    let d = Double::start().await;
    let echo = format!("The access token is invalid: Bearer {TOKEN}");
    d.reply(
        "GET",
        "/orders/1",
        Reply::error(401, json!({"code": "unauthorized", "message": echo})),
    );
    d.reply(
        "GET",
        "/orders/2",
        Reply::error(
            422,
            json!({"code": "validation_failed", "message": "bad", "fields": {"token": [TOKEN]}}),
        ),
    );
    d.reply(
        "GET",
        "/orders/3",
        Reply::raw(502, "text/html", &format!("<p>upstream said {TOKEN}</p>")),
    );
    let api = d.api();
    let t = token();
    let m = api.merchant(&t);
    for id in 1..=3 {
        let e = m.order(id).await.unwrap_err();
        assert_no_secret(&e);
        assert!(format!("{e}").contains("[REDACTED]"), "{e}");
    }
    // Debug of the client, its config, the view and the tokens.
    let text = format!(
        "{api:?} {:?} {:?} {t:?} {:?}",
        d.config(),
        m,
        RefreshToken::new(REFRESH)
    );
    for secret in [TOKEN, REFRESH, CLIENT_SECRET] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}
