//! The sandbox's replay of the documented examples: each documented answer shape round-trips
//! through the client.
//!
//! The Salla Merchant API client (`salla_odoo_salla::api`) talks to the in-memory Salla double
//! (`salla-sandbox`) over real HTTP. The data is the tests' own, written in the shapes of
//! docs/salla-platform.md §8–§10: ids as numbers and as strings, money as objects, numbers and
//! strings, dates as objects and strings, and the nulls §10 says happen.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use salla_odoo_salla::api::{
    AccessToken, ApiConfig, ApiError, CustomerQuery, EndpointClass, ErrorClass, ErrorCode,
    Identifier, OrderQuery, OrderSort, OrderSummary, ProductQuery, QuantityUpdate, RateInfo,
    RefreshToken, RequestHook, RequestKind, SallaApi, StatusChange,
};
use salla_odoo_salla::lenient::Money;
use salla_odoo_salla::payload::{Order, OrderItem};
use salla_sandbox::{
    AuthorizeOptions, Call, DEFAULT_BRANCH_ID, DEFAULT_SCOPE, ErrorRule, Match, Options, Sandbox,
};
use secrecy::SecretString;
use serde_json::{Value, json};

// ----- helpers ------------------------------------------------------------------------------------

const STORE: u64 = 1_402_771_001;
const OTHER_STORE: u64 = 1_402_771_002;

/// Original statuses of §9.1 the seeded orders start in: (id, slug, name).
const START_STATUSES: [(u64, &str, &str); 4] = [
    (566_146_469, "under_review", "بإنتظار المراجعة"),
    (1_939_592_358, "in_progress", "قيد التنفيذ"),
    (1_298_199_463, "completed", "تم التنفيذ"),
    (1_473_353_380, "payment_pending", "بإنتظار الدفع"),
];

const COMPLETED: u64 = 1_298_199_463;
const DELIVERING: u64 = 349_994_915;

async fn sandbox(opts: Options) -> Sandbox {
    salla_sandbox::spawn(opts)
        .await
        .expect("spawn the Salla sandbox")
}

/// The client, pointed at the sandbox's Admin API and OAuth server.
fn client(sb: &Sandbox) -> SallaApi {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let o = sb.options();
    let mut config = ApiConfig::new(
        o.client_id.clone(),
        SecretString::from(o.client_secret.clone()),
    );
    config.api_url = sb.admin_url();
    config.oauth_url = format!("{}/oauth2", sb.url());
    config.request_timeout = Duration::from_secs(20);
    SallaApi::new(config).expect("build the client")
}

fn access(t: &salla_sandbox::Tokens) -> AccessToken {
    AccessToken::new(t.access_token.clone())
}

/// Money as the client reads it from this JSON (a number, a string or `{amount, currency}`).
fn money(v: Value) -> Money {
    serde_json::from_value(v).expect("money")
}

/// The amount of a money text, for comparisons (`"12.50"` equals `12.5`).
fn amount(text: &str) -> Money {
    money(json!(text))
}

/// `{date, timezone_type, timezone}`, Salla's date object.
fn date_obj(text: &str) -> Value {
    json!({"date": text, "timezone_type": 3, "timezone": "Asia/Riyadh"})
}

/// The query of a logged call, decoded enough for numbers and slugs.
fn query_of(c: &Call) -> BTreeMap<String, String> {
    c.query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.replace("%5B%5D", "[]"), v.to_owned())
        })
        .collect()
}

fn calls_to(sb: &Sandbox, endpoint: &str) -> Vec<Call> {
    sb.calls()
        .into_iter()
        .filter(|c| c.endpoint == endpoint)
        .collect()
}

/// Waits for `cond` with a deadline (polling; the sandbox applies stock on its own timer).
async fn wait_until(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A [`RequestHook`] that records each request's endpoint class and the rate headers of its answer.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(EndpointClass, RateInfo)>>,
}

impl RequestHook for Recorder {
    fn before<'a>(
        &'a self,
        _class: EndpointClass,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }
    fn after(&self, class: EndpointClass, rate: &RateInfo) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((class, rate.clone()));
    }
}

impl Recorder {
    fn take(&self) -> Vec<(EndpointClass, RateInfo)> {
        std::mem::take(
            &mut *self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

// ----- seeded orders ------------------------------------------------------------------------------

/// How many orders the list tests seed: more than one page of 60.
const ORDERS: u64 = 67;

/// What the connector must read back from one seeded order.
#[derive(Debug, Clone)]
struct WantOrder {
    id: u64,
    reference_id: u64,
    status_id: u64,
    customized: Option<u64>,
    slug: &'static str,
    total: Money,
    updated_at: String,
    customer_id: u64,
    mobile: String,
    email: String,
    payment_method: &'static str,
    pickup: bool,
    items: Vec<WantItem>,
}

#[derive(Debug, Clone)]
struct WantItem {
    id: u64,
    sku: Option<String>,
    quantity: Money,
    total: Money,
    product_id: u64,
}

fn cents_text(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Order `i` of the list tests, in the shape of `GET /orders/{id}` (§8.5), with what must come back.
fn seeded_order(i: u64) -> (Value, WantOrder) {
    const FIRST: [&str; 9] = [
        "Lama", "Turki", "Haya", "Saud", "Maha", "Nawaf", "Dana", "Yazeed", "Joud",
    ];
    const PAYMENT: [&str; 4] = ["cod", "credit_card", "bank", "mada"];
    // Ids beyond 32 bits, references as numbers and (every third) as strings.
    let id = 4_310_000_000 + 7 * i;
    let reference_id = 518_200 + i;
    let reference = if i % 3 == 2 {
        json!(reference_id.to_string())
    } else {
        json!(reference_id)
    };
    let (status_id, slug, status_name) = START_STATUSES[(i % 4) as usize];
    // Every fifth order is in a custom sub-status: its own id, the parent's slug.
    let customized = i.is_multiple_of(5).then_some(2_900_000_000 + i);
    let cents = 4_990 + 1_237 * i;
    let total_json = match (i / 2) % 4 {
        0 => json!({"amount": cents as f64 / 100.0, "currency": "SAR"}),
        1 => json!({"amount": cents_text(cents), "currency": "SAR"}),
        2 => json!(cents as f64 / 100.0),
        _ => json!(cents_text(cents)),
    };
    // `updated_at` is a permutation of the ids' order, as an object or a plain string.
    let minute = (i * 37) % ORDERS;
    let updated = format!("2025-02-10 {:02}:{:02}:00", 8 + minute / 60, minute % 60);
    let (updated_json, updated_text) = if i.is_multiple_of(2) {
        let t = format!("{updated}.000000");
        (date_obj(&t), t)
    } else {
        (json!(updated), updated)
    };
    let customer_id = 610_000 + i % 9;
    let (mobile_json, mobile) = if i.is_multiple_of(2) {
        (json!(550_000_000 + i), (550_000_000 + i).to_string())
    } else {
        let m = format!("+9665{:08}", 60_000_000 + i);
        (json!(m), m)
    };
    let email = format!("buyer{customer_id}@example.test");
    let customer = json!({
        "id": if i.is_multiple_of(2) { json!(customer_id.to_string()) } else { json!(customer_id) },
        "first_name": FIRST[(i % 9) as usize],
        "last_name": "Al-Otaibi",
        "mobile": mobile_json,
        "mobile_code": "+966",
        "email": email,
        "urls": {"customer": "https://store.example.test/c", "admin": "https://s.example.test/c"},
        "avatar": "https://cdn.example.test/avatar.png",
        "gender": if i.is_multiple_of(2) { "female" } else { "male" },
        "birthday": if i.is_multiple_of(4) { Value::Null } else { date_obj("1994-03-02 00:00:00.000000") },
        "city": "Riyadh",
        "country": "Saudi Arabia",
        "country_code": "SA",
        "currency": "SAR",
        "location": "",
        "updated_at": date_obj("2025-01-02 10:00:00.000000"),
    });

    let mut items = Vec::new();
    let mut wants = Vec::new();
    for j in 0..(1 + i % 2) {
        let item_id = 6_100_000_000 + i * 10 + j;
        let product_id = 7_700_000_000 + i * 10 + j;
        let (sku_json, sku) = if i % 7 == 3 && j == 0 {
            (json!(""), Some(String::new()))
        } else if i % 11 == 5 && j == 0 {
            (Value::Null, None)
        } else {
            let s = format!("OUD-{i:03}-{j}");
            (json!(s), Some(s))
        };
        let (quantity_json, quantity) = if j == 0 {
            (json!(1 + i % 3), (1 + i % 3).to_string())
        } else {
            (json!("2"), "2".to_owned())
        };
        let unit = 1_500 + 100 * i + 250 * j;
        let line_total = cents_text(unit * if j == 0 { 1 + i % 3 } else { 2 });
        items.push(json!({
            "id": if j == 1 { json!(item_id.to_string()) } else { json!(item_id) },
            "name": format!("Oud oil no. {i}/{j}"),
            "sku": sku_json,
            "quantity": quantity_json,
            "currency": "SAR",
            "weight": 0.25,
            "weight_label": "250 g",
            "amounts": {
                "price_without_tax": {"amount": unit as f64 / 100.0, "currency": "SAR"},
                "total_discount": {"amount": 0, "currency": "SAR"},
                "tax": {"percent": "15.00", "amount": {"amount": "0.00", "currency": "SAR"}},
                "total": {"amount": line_total, "currency": "SAR"},
            },
            "notes": "",
            "product": {
                "id": if j == 1 { json!(product_id.to_string()) } else { json!(product_id) },
                "type": "product",
                "status": "sale",
                "is_available": true,
                "sku": sku_json,
                "name": format!("Oud oil no. {i}/{j}"),
                "price": {"amount": unit as f64 / 100.0, "currency": "SAR"},
                "thumbnail": format!("https://cdn.example.test/p/{product_id}.jpg"),
                "mpn": null,
                "gtin": null,
            },
            "options": if j == 1 {
                // `options[].value` as an object where the docs show a list (§10).
                json!([{"id": 88_001, "product_option_id": 88_101, "name": "Size", "type": "radio",
                        "value": {"id": 88_201, "name": "Large", "price": {"amount": 0, "currency": "SAR"}}}])
            } else {
                json!([])
            },
            "images": [],
            "codes": [],
            "files": [],
        }));
        wants.push(WantItem {
            id: item_id,
            sku,
            quantity: amount(&quantity),
            total: money(json!({"amount": line_total, "currency": "SAR"})),
            product_id,
        });
    }

    let pickup = i.is_multiple_of(3);
    let shipping = if pickup {
        Value::Null
    } else {
        json!({
            "id": 3_300_000 + i,
            "app_id": null,
            "company": "Fast Camel Couriers",
            "receiver": {"name": FIRST[(i % 9) as usize], "email": email, "phone": mobile},
            "address": {
                "country": "Saudi Arabia", "country_code": "SA", "city": "Riyadh",
                "shipping_address": "King Fahd Road 12", "street_number": "12", "block": "Olaya",
                "postal_code": "12211",
            },
            "shipment": {"id": "0", "pickup_id": null, "tracking_link": "", "label": []},
            "policy_options": [],
        })
    };
    let shipments = if pickup {
        Value::Null
    } else {
        json!([{
            "id": 7_300_000_000 + i,
            "created_at": null,
            "type": "shipment",
            "courier_name": "Fast Camel Couriers",
            "shipping_number": null,
            "tracking_number": null,
            "tracking_link": null,
            "label": null,
            "payment_method": "pre_paid",
            "status": "creating",
        }])
    };
    let discounts = if i % 6 == 1 {
        json!([{"title": "Eid offer", "type": "percentage", "code": "EID5", "discount": "5.00",
                "discounted_shipping": 0}])
    } else {
        json!([])
    };
    let mut order = json!({
        "id": id,
        "reference_id": reference,
        "urls": {"customer": "https://store.example.test/o", "admin": "https://s.example.test/o"},
        "date": date_obj(&format!("2025-02-0{} 1{}:00:00.000000", 1 + i % 9, i % 10)),
        "updated_at": updated_json,
        "draft": false,
        "read": true,
        "source": "store",
        "source_device": "desktop",
        "status": {
            "id": status_id,
            "name": status_name,
            "slug": slug,
            "customized": customized.map_or(Value::Null, |c| json!({"id": c, "name": "جاهز للاستلام"})),
        },
        "receipt_image": "",
        "payment_method": PAYMENT[(i % 4) as usize],
        "currency": "SAR",
        "amounts": {
            "sub_total": {"amount": cents_text(cents), "currency": "SAR"},
            "shipping_cost": {"amount": if pickup { 0 } else { 25 }, "currency": "SAR"},
            "cash_on_delivery": {"amount": 0, "currency": "SAR"},
            "tax": {"percent": "15.00", "amount": {"amount": 0, "currency": "SAR"}},
            "discounts": discounts,
            "total": total_json,
        },
        "shipping": shipping,
        "shipments": shipments,
        "can_cancel": true,
        "is_pending_payment": false,
        "pending_payment_ends_at": 0,
        "total_weight": "0.5 kg",
        "customer": customer,
        "items": items,
        "tags": [],
    });
    if pickup {
        order["pickup_branch"] = json!({"id": 4_401_001, "name": "Olaya pickup point"});
    }
    let want = WantOrder {
        id,
        reference_id,
        status_id,
        customized,
        slug,
        total: money(total_json),
        updated_at: updated_text,
        customer_id,
        mobile,
        email,
        payment_method: PAYMENT[(i % 4) as usize],
        pickup,
        items: wants,
    };
    (order, want)
}

fn check_summary(s: &OrderSummary, w: &WantOrder) {
    assert_eq!(s.id, w.id);
    assert_eq!(s.reference_id, Some(w.reference_id), "order {}", w.id);
    let status = s.status.as_ref().expect("summary status");
    assert_eq!(status.slug.as_deref(), Some(w.slug), "order {}", w.id);
    assert_eq!(status.id, Some(w.status_id), "order {}", w.id);
    assert_eq!(s.total.as_ref(), Some(&w.total), "order {}", w.id);
    assert_eq!(
        s.updated_at.as_ref().map(|d| d.date.as_str()),
        Some(w.updated_at.as_str()),
        "order {}",
        w.id
    );
    assert_eq!(s.payment_method.as_deref(), Some(w.payment_method));
}

fn check_items(items: &[OrderItem], want: &[WantItem], order: u64) {
    assert_eq!(items.len(), want.len(), "items of order {order}");
    for (it, w) in items.iter().zip(want) {
        assert_eq!(it.id, w.id, "order {order}");
        assert_eq!(it.sku, w.sku, "item {}", w.id);
        assert_eq!(it.quantity, w.quantity.amount, "item {}", w.id);
        let amounts = it.amounts.as_ref().expect("item amounts");
        assert_eq!(amounts.total.as_ref(), Some(&w.total), "item {}", w.id);
        assert_eq!(
            amounts.tax.as_ref().and_then(|t| t.percent),
            Some(amount("15").amount)
        );
        assert!(amounts.price_without_tax.is_some());
        assert_eq!(it.product_id(), Some(w.product_id), "item {}", w.id);
    }
}

fn check_order(o: &Order, w: &WantOrder) {
    assert_eq!(o.id, w.id);
    assert_eq!(o.reference_id, Some(w.reference_id));
    let status = o.status.as_ref().expect("order status");
    assert_eq!(status.slug.as_deref(), Some(w.slug));
    assert_eq!(status.id, Some(w.status_id));
    let amounts = o.amounts.as_ref().expect("amounts");
    assert_eq!(amounts.total.as_ref(), Some(&w.total), "order {}", w.id);
    assert_eq!(
        amounts.tax.as_ref().and_then(|t| t.percent),
        Some(amount("15.00").amount)
    );
    assert_eq!(
        o.updated_at.as_ref().map(|d| d.date.as_str()),
        Some(w.updated_at.as_str())
    );
    assert!(o.date.is_some());
    assert_eq!(o.payment_method.as_deref(), Some(w.payment_method));
    assert_eq!(o.currency.as_deref(), Some("SAR"));
    let c = o.customer.as_ref().expect("customer");
    assert_eq!(c.id, w.customer_id);
    assert_eq!(c.mobile.as_deref(), Some(w.mobile.as_str()));
    assert_eq!(c.mobile_code.as_deref(), Some("+966"));
    assert_eq!(c.email.as_deref(), Some(w.email.as_str()));
    assert_eq!(c.city.as_deref(), Some("Riyadh"));
    assert_eq!(o.shipping.is_none(), w.pickup, "order {}", w.id);
    if let Some(s) = &o.shipping {
        assert_eq!(s.company.as_deref(), Some("Fast Camel Couriers"));
        let address = s.address.as_ref().expect("address");
        assert_eq!(address.postal_code.as_deref(), Some("12211"));
    }
    check_items(&o.items, &w.items, w.id);
}

fn ids_of(list: &[OrderSummary]) -> Vec<u64> {
    list.iter().map(|o| o.id).collect()
}

// ----- 1. orders ----------------------------------------------------------------------------------

#[tokio::test]
async fn orders_lists_details_and_items_round_trip_every_seeded_order() {
    let sb = sandbox(Options::default()).await;
    let (orders, wants): (Vec<Value>, Vec<WantOrder>) = (0..ORDERS).map(seeded_order).unzip();
    sb.seed_order(STORE, Value::Array(orders)).unwrap();
    // Every order is read three ways: more than the default plan's 120 a minute.
    let tokens = sb.authorize_with(
        STORE,
        AuthorizeOptions {
            scope: None,
            plan_per_min: Some(1_000),
        },
    );
    let api = client(&sb);
    let token = access(&tokens);
    let m = api.merchant(&token);
    let by_id: BTreeMap<u64, &WantOrder> = wants.iter().map(|w| (w.id, w)).collect();

    // Every page, `per_page` asked above the maximum: clamped to 60, followed to the end.
    sb.clear_calls();
    let all = m
        .orders(&OrderQuery {
            per_page: Some(500),
            ..OrderQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.status, 200);
    assert_eq!(all.rate.limit, Some(1_000));
    let pages = calls_to(&sb, "GET /admin/v2/orders");
    assert_eq!(pages.len(), 2, "{pages:?}");
    for (n, c) in pages.iter().enumerate() {
        let q = query_of(c);
        assert_eq!(q.get("per_page").map(String::as_str), Some("60"));
        assert_eq!(q.get("page"), Some(&(n + 1).to_string()));
        assert_eq!(c.status, Some(200));
    }
    // Newest first (Salla's default), each order exactly once.
    let mut newest_first: Vec<u64> = wants.iter().map(|w| w.id).collect();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids_of(&all.data), newest_first);
    for s in &all.data {
        check_summary(s, by_id[&s.id]);
    }

    // One page at a time, as a caller that may stop early does.
    let q = OrderQuery {
        per_page: Some(25),
        ..OrderQuery::default()
    };
    let mut page = 1;
    let mut seen = Vec::new();
    loop {
        let r = m.orders_page(&q, page).await.unwrap().data;
        let p = &r.pagination;
        assert_eq!(p.total, Some(ORDERS));
        assert_eq!(p.per_page, Some(25));
        assert_eq!(p.total_pages, Some(3));
        assert_eq!(p.current_page, Some(u64::from(page)));
        assert_eq!(p.count, Some(r.items.len() as u64));
        let links = p.links.clone().unwrap_or_default();
        assert_eq!(links.next.is_some(), page < 3, "page {page}: {links:?}");
        assert_eq!(links.previous.is_some(), page > 1, "page {page}: {links:?}");
        seen.extend(ids_of(&r.items));
        match r.next_page() {
            Some(n) => page = n,
            None => break,
        }
    }
    assert_eq!(page, 3);
    assert_eq!(seen, newest_first);

    // `status[]` takes ids: an original status matches its orders and the custom sub-statuses
    // under it keep the parent's id; a custom status id matches only its own orders.
    let in_progress = START_STATUSES[1].0;
    let r = m
        .orders(&OrderQuery {
            status_ids: vec![in_progress],
            ..OrderQuery::default()
        })
        .await
        .unwrap();
    let want: BTreeSet<u64> = wants
        .iter()
        .filter(|w| w.status_id == in_progress)
        .map(|w| w.id)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(ids_of(&r.data).into_iter().collect::<BTreeSet<_>>(), want);
    assert!(
        r.data
            .iter()
            .all(|s| { s.status.as_ref().and_then(|x| x.slug.as_deref()) == Some("in_progress") })
    );
    let custom = wants[10]
        .customized
        .expect("order 10 is in a custom status");
    let r = m
        .orders(&OrderQuery {
            status_ids: vec![custom, START_STATUSES[3].0],
            ..OrderQuery::default()
        })
        .await
        .unwrap();
    let want: BTreeSet<u64> = wants
        .iter()
        .filter(|w| w.customized == Some(custom) || w.status_id == START_STATUSES[3].0)
        .map(|w| w.id)
        .collect();
    assert!(want.contains(&wants[10].id));
    assert_eq!(ids_of(&r.data).into_iter().collect::<BTreeSet<_>>(), want);
    let status_calls = calls_to(&sb, "GET /admin/v2/orders");
    let last = status_calls.last().expect("a list call");
    assert!(
        last.query.contains("status%5B%5D=") || last.query.contains("status[]="),
        "{}",
        last.query
    );

    // `reference_id`, whether the order holds it as a number or as a string.
    for i in [42usize, 5] {
        let r = m
            .orders(&OrderQuery {
                reference_id: Some(wants[i].reference_id),
                ..OrderQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(ids_of(&r.data), vec![wants[i].id]);
        check_summary(&r.data[0], &wants[i]);
    }

    // `customer_id` (seeded as a string on some orders).
    let r = m
        .orders(&OrderQuery {
            customer_id: Some(610_003),
            ..OrderQuery::default()
        })
        .await
        .unwrap();
    let want: BTreeSet<u64> = wants
        .iter()
        .filter(|w| w.customer_id == 610_003)
        .map(|w| w.id)
        .collect();
    assert_eq!(ids_of(&r.data).into_iter().collect::<BTreeSet<_>>(), want);

    // `sort_by=updated_at-desc` (reconciliation order), across pages of 10.
    sb.clear_calls();
    let r = m
        .orders(&OrderQuery {
            sort_by: Some(OrderSort::UpdatedAtDesc),
            per_page: Some(10),
            ..OrderQuery::default()
        })
        .await
        .unwrap();
    let mut by_update: Vec<&WantOrder> = wants.iter().collect();
    by_update.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
    assert_eq!(
        ids_of(&r.data),
        by_update.iter().map(|w| w.id).collect::<Vec<_>>()
    );
    let pages = calls_to(&sb, "GET /admin/v2/orders");
    assert_eq!(pages.len(), 7);
    assert!(
        pages
            .iter()
            .all(|c| { query_of(c).get("sort_by").map(String::as_str) == Some("updated_at-desc") })
    );

    // Details and items of every order: the fields the connector uses.
    for w in &wants {
        let o = m.order(w.id).await.unwrap();
        assert_eq!(o.status, 200);
        check_order(&o.data, w);
        let items = m.order_items(w.id).await.unwrap();
        check_items(&items.data, &w.items, w.id);
    }
}

// ----- 2. statuses --------------------------------------------------------------------------------

#[tokio::test]
async fn order_statuses_list_and_a_status_set_by_slug_is_read_back() {
    let sb = sandbox(Options::default()).await;
    let (mut order, _) = seeded_order(1);
    let id = 4_400_000_017;
    order["id"] = json!(id.to_string());
    order["status"] = json!({"id": START_STATUSES[0].0, "name": START_STATUSES[0].2,
                             "slug": "under_review", "customized": null});
    order["updated_at"] = json!("2025-01-05 09:30:00");
    sb.seed_order(STORE, order).unwrap();
    let tokens = sb.authorize(STORE);
    let api = client(&sb);
    let token = access(&tokens);
    let m = api.merchant(&token);

    // The list of §9.1: every documented slug with its documented id.
    let statuses = m.order_statuses().await.unwrap();
    assert_eq!(statuses.status, 200);
    let statuses = statuses.data;
    for (slug, sid) in [
        ("payment_pending", 1_473_353_380),
        ("under_review", 566_146_469),
        ("in_progress", 1_939_592_358),
        ("completed", COMPLETED),
        ("delivering", DELIVERING),
        ("delivered", 1_723_506_348),
        ("shipped", 814_202_285),
        ("canceled", 525_144_736),
        ("restored", 989_286_562),
        ("restoring", 1_548_352_431),
    ] {
        let s = statuses
            .iter()
            .find(|s| s.slug.as_deref() == Some(slug))
            .unwrap_or_else(|| panic!("no status {slug}"));
        assert_eq!(s.id, sid, "{slug}");
        assert_eq!(s.status_type.as_deref(), Some("original"));
        assert_eq!(s.is_active, Some(true));
        assert!(s.name.as_deref().is_some_and(|n| !n.is_empty()));
        assert!(s.sort.is_some());
        assert_eq!(s.original.as_ref().and_then(|o| o.id), Some(sid));
    }
    let parent_of = |slug: &str| {
        statuses
            .iter()
            .find(|s| s.slug.as_deref() == Some(slug))
            .and_then(|s| s.parent.as_ref())
            .and_then(|p| p.id)
    };
    assert_eq!(parent_of("delivered"), Some(COMPLETED));
    assert_eq!(parent_of("shipped"), Some(COMPLETED));
    assert_eq!(parent_of("completed"), None);

    // Set by slug: 201 and the documented acknowledgement.
    let note = "Handed to the courier at the Olaya branch";
    let ack = m
        .set_order_status(id, &StatusChange::slug("completed").with_note(note))
        .await
        .unwrap();
    assert_eq!(ack.status, 201);
    assert_eq!(
        ack.data.message(),
        Some("The entity has been updated successfully")
    );
    assert!(ack.rate.limit.is_some());
    let history = sb.status_history(STORE, id);
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["slug"], json!("completed"));
    assert_eq!(history[0]["status_id"], json!(COMPLETED));
    assert_eq!(history[0]["order_id"], json!(id));
    assert_eq!(history[0]["note"], json!(note));

    // Read back through the client: the new status, a later `updated_at`.
    let o = m.order(id).await.unwrap().data;
    let status = o.status.as_ref().unwrap();
    assert_eq!(status.slug.as_deref(), Some("completed"));
    assert_eq!(status.id, Some(COMPLETED));
    let updated = o.updated_at.as_ref().unwrap().date.clone();
    assert!(
        updated.as_str() > "2025-01-05 09:30:00",
        "updated_at not bumped: {updated}"
    );
    let listed = m
        .orders(&OrderQuery {
            status_ids: vec![COMPLETED],
            ..OrderQuery::default()
        })
        .await
        .unwrap()
        .data;
    assert_eq!(ids_of(&listed), vec![id]);
    assert_eq!(
        listed[0].updated_at.as_ref().map(|d| d.date.as_str()),
        Some(updated.as_str())
    );

    // By status id (a sub-status of `completed`).
    let ack = m
        .set_order_status(id, &StatusChange::status_id(DELIVERING))
        .await
        .unwrap();
    assert_eq!(ack.status, 201);
    let o = m.order(id).await.unwrap().data;
    assert_eq!(
        o.status.as_ref().and_then(|s| s.slug.as_deref()),
        Some("delivering")
    );
    let history = sb.status_history(STORE, id);
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["status_id"], json!(DELIVERING));
    assert_eq!(history[1]["note"], Value::Null);

    // An unknown slug: 422 with `fields`, permanent, nothing recorded.
    let err = m
        .set_order_status(id, &StatusChange::slug("teleported"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(
        err.fields().is_some_and(|f| f.contains_key("slug")),
        "{err}"
    );
    assert_eq!(sb.status_history(STORE, id).len(), 2);
}

// ----- 3. products --------------------------------------------------------------------------------

const HONEY: u64 = 8_120_000_001;
const COFFEE: u64 = 8_120_000_002;
const GIFT_BOX: u64 = 8_120_000_003;
const COFFEE_250: u64 = 8_120_100_021;
const COFFEE_500: u64 = 8_120_100_022;
/// A variant SKU with a slash and a space: one percent-encoded path segment.
const COFFEE_500_SKU: &str = "COF/BLND 500g";

fn seeded_products() -> Value {
    json!([
        {
            "id": HONEY,
            "promotion": {"title": null, "sub_title": null},
            "sku": "HNY-SIDR-1KG",
            "mpn": null,
            "gtin": null,
            "type": "product",
            "name": "Sidr Honey 1kg",
            "price": {"amount": 240, "currency": "SAR"},
            "taxed_price": {"amount": 276.0, "currency": "SAR"},
            "regular_price": {"amount": "260.00", "currency": "SAR"},
            "sale_price": {"amount": 240, "currency": "SAR"},
            "sale_end": null,
            "cost_price": null,
            "quantity": 18,
            "status": "sale",
            "is_available": true,
            "unlimited_quantity": false,
            "managed_by_branches": false,
            "main_image": null,
            "images": [],
            "updated_at": "2025-01-20 10:00:00",
            "options": [],
            "skus": [],
            "categories": [{"id": 510_001, "name": "Honey"}],
            "brand": null,
            "tags": [],
        },
        {
            "id": COFFEE.to_string(),
            "sku": "",
            "type": "product",
            "name": "Arabic Coffee Blend",
            // Plain numbers and strings, and a sale price without a currency (§10).
            "price": 55,
            "regular_price": "60",
            "sale_price": {"amount": 50, "expired_at": "2025-12-31"},
            "cost_price": {"amount": "31.25", "currency": "SAR"},
            "quantity": 9,
            "status": "sale",
            "unlimited_quantity": 0,
            "updated_at": date_obj("2025-01-21 11:00:00.000000"),
            "skus": [
                {
                    "id": COFFEE_250.to_string(),
                    "sku": "COF-BLND-250",
                    "barcode": "6281000000017",
                    "price": {"amount": 55, "currency": "SAR"},
                    "regular_price": {"amount": "60.00", "currency": "SAR"},
                    "sale_price": null,
                    "cost_price": null,
                    "stock_quantity": 4,
                    "unlimited_quantity": false,
                    "related_option_values": [901, 902],
                },
                {
                    "id": COFFEE_500,
                    "sku": COFFEE_500_SKU,
                    "barcode": null,
                    "price": {"amount": "99.90", "currency": "SAR"},
                    "regular_price": {"amount": 105, "currency": "SAR"},
                    "sale_price": {"amount": "", "currency": "SAR"},
                    "cost_price": "61",
                    "stock_quantity": 5,
                    "unlimited_quantity": false,
                    "related_option_values": [903],
                },
            ],
            "categories": {},
        },
        {
            "id": GIFT_BOX,
            "sku": "GIFT-BOX-S",
            "type": "product",
            "name": "Gift Box Small",
            "price": {"amount": "0", "currency": "SAR"},
            "quantity": null,
            "status": "hidden",
            "unlimited_quantity": true,
            "updated_at": "2025-01-22 12:00:00",
            // PHP's empty list.
            "skus": {},
            "categories": [],
        },
    ])
}

#[tokio::test]
async fn products_by_id_by_sku_variants_and_keyword_round_trip() {
    let sb = sandbox(Options::default()).await;
    sb.seed_product(STORE, seeded_products()).unwrap();
    let tokens = sb.authorize(STORE);
    let api = client(&sb);
    let token = access(&tokens);
    let m = api.merchant(&token);

    // Details.
    let p = m.product(HONEY).await.unwrap().data;
    assert_eq!(p.id, HONEY);
    assert_eq!(p.sku.as_deref(), Some("HNY-SIDR-1KG"));
    assert_eq!(p.name.as_deref(), Some("Sidr Honey 1kg"));
    assert_eq!(p.product_type.as_deref(), Some("product"));
    assert_eq!(
        p.price,
        Some(money(json!({"amount": 240, "currency": "SAR"})))
    );
    assert_eq!(
        p.price.as_ref().and_then(|m| m.currency.as_deref()),
        Some("SAR")
    );
    assert_eq!(
        p.regular_price,
        Some(money(json!({"amount": 260, "currency": "SAR"})))
    );
    assert_eq!(
        p.taxed_price.as_ref().map(|m| m.amount),
        Some(amount("276").amount)
    );
    assert_eq!(p.cost(), None);
    assert_eq!(p.quantity, Some(amount("18").amount));
    assert_eq!(p.unlimited_quantity, Some(false));
    assert_eq!(p.status.as_deref(), Some("sale"));
    assert_eq!(
        p.updated_at.as_ref().map(|d| d.date.as_str()),
        Some("2025-01-20 10:00:00")
    );
    assert!(p.skus.is_empty());
    assert_eq!(p.categories.len(), 1);
    assert_eq!(p.categories[0].id, 510_001);

    let p = m.product(COFFEE).await.unwrap().data;
    assert_eq!(p.id, COFFEE);
    assert_eq!(p.sku.as_deref(), Some(""));
    assert_eq!(p.price, Some(amount("55")));
    assert_eq!(p.price.as_ref().and_then(|m| m.currency.clone()), None);
    assert_eq!(p.regular_price, Some(amount("60")));
    assert_eq!(
        p.sale_price.as_ref().map(|m| m.amount),
        Some(amount("50").amount)
    );
    assert_eq!(p.cost().map(|m| m.amount), Some(amount("31.25").amount));
    assert_eq!(p.unlimited_quantity, Some(false));
    assert_eq!(p.quantity, Some(amount("9").amount));
    assert!(p.categories.is_empty());
    let skus: Vec<(u64, Option<&str>)> = p.skus.iter().map(|v| (v.id, v.sku.as_deref())).collect();
    assert_eq!(
        skus,
        vec![
            (COFFEE_250, Some("COF-BLND-250")),
            (COFFEE_500, Some(COFFEE_500_SKU))
        ]
    );
    assert_eq!(
        p.skus[1].price.as_ref().map(|m| m.amount),
        Some(amount("99.90").amount)
    );
    assert_eq!(p.skus[0].stock_quantity, Some(amount("4").amount));

    let p = m.product(GIFT_BOX).await.unwrap().data;
    assert_eq!(p.unlimited_quantity, Some(true));
    assert_eq!(p.quantity, None);
    assert_eq!(p.price.as_ref().map(|m| m.amount), Some(amount("0").amount));
    assert!(p.skus.is_empty());

    // By SKU: a product's own, and a variant's (its parent comes back), encoded as one segment.
    assert_eq!(
        m.product_by_sku("HNY-SIDR-1KG").await.unwrap().data.id,
        HONEY
    );
    assert_eq!(
        m.product_by_sku("COF-BLND-250").await.unwrap().data.id,
        COFFEE
    );
    let by_variant = m.product_by_sku(COFFEE_500_SKU).await.unwrap().data;
    assert_eq!(by_variant.id, COFFEE);
    assert_eq!(by_variant.skus.len(), 2);
    let sku_calls = calls_to(&sb, "GET /admin/v2/products/sku/{sku}");
    assert_eq!(sku_calls.len(), 3);
    assert!(
        sku_calls.iter().all(|c| c.status == Some(200)),
        "{sku_calls:?}"
    );
    let err = m.product_by_sku("NO-SUCH-SKU").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.class(), ErrorClass::Permanent);

    // Variants: the list and one.
    let variants = m.product_variants(COFFEE).await.unwrap().data;
    assert_eq!(variants.len(), 2);
    assert_eq!(variants[0].id, COFFEE_250);
    assert_eq!(variants[0].sku.as_deref(), Some("COF-BLND-250"));
    assert_eq!(variants[0].barcode.as_deref(), Some("6281000000017"));
    assert_eq!(
        variants[0].regular_price.as_ref().map(|m| m.amount),
        Some(amount("60").amount)
    );
    assert_eq!(variants[0].sale_price, None);
    assert_eq!(variants[0].cost_price, None);
    assert_eq!(variants[0].stock_quantity, Some(amount("4").amount));
    assert_eq!(variants[0].unlimited_quantity, Some(false));
    assert_eq!(variants[1].barcode, None);
    assert_eq!(variants[1].sale_price, None, "an empty amount is no price");
    assert_eq!(variants[1].cost_price, Some(amount("61")));
    assert!(m.product_variants(HONEY).await.unwrap().data.is_empty());
    assert!(m.product_variants(GIFT_BOX).await.unwrap().data.is_empty());
    let v = m.variant(COFFEE_500).await.unwrap().data;
    assert_eq!(v.sku.as_deref(), Some(COFFEE_500_SKU));
    assert_eq!(
        v.price,
        Some(money(json!({"amount": "99.9", "currency": "SAR"})))
    );
    assert_eq!(v.stock_quantity, Some(amount("5").amount));
    assert!(m.variant(8_120_199_999).await.unwrap_err().is_not_found());

    // The list: everything (newest first), by keyword (name or SKU, a variant's too), by status.
    let ids = |list: &[salla_odoo_salla::payload::Product]| -> Vec<u64> {
        list.iter().map(|p| p.id).collect()
    };
    let all = m.products(&ProductQuery::default()).await.unwrap().data;
    assert_eq!(ids(&all), vec![GIFT_BOX, COFFEE, HONEY]);
    let honey = m
        .products(&ProductQuery {
            keyword: Some("sidr honey".into()),
            ..ProductQuery::default()
        })
        .await
        .unwrap()
        .data;
    assert_eq!(ids(&honey), vec![HONEY]);
    assert_eq!(
        honey[0].price,
        Some(money(json!({"amount": 240, "currency": "SAR"})))
    );
    let by_variant_sku = m
        .products(&ProductQuery {
            keyword: Some("blnd 500".into()),
            ..ProductQuery::default()
        })
        .await
        .unwrap()
        .data;
    assert_eq!(ids(&by_variant_sku), vec![COFFEE]);
    let hidden = m
        .products(&ProductQuery {
            status: Some("hidden".into()),
            ..ProductQuery::default()
        })
        .await
        .unwrap()
        .data;
    assert_eq!(ids(&hidden), vec![GIFT_BOX]);
    let none = m
        .products(&ProductQuery {
            keyword: Some("saffron".into()),
            ..ProductQuery::default()
        })
        .await
        .unwrap()
        .data;
    assert!(none.is_empty());
    let first = m
        .products_page(
            &ProductQuery {
                per_page: Some(2),
                ..ProductQuery::default()
            },
            1,
        )
        .await
        .unwrap()
        .data;
    assert_eq!(ids(&first.items), vec![GIFT_BOX, COFFEE]);
    assert_eq!(first.pagination.total_pages, Some(2));
    assert_eq!(first.next_page(), Some(2));
}

// ----- 4. customers and branches ------------------------------------------------------------------

#[tokio::test]
async fn customers_and_branches_round_trip_with_their_endpoint_class() {
    let sb = sandbox(Options::default()).await;
    sb.seed_customer(
        STORE,
        json!([
            {
                "id": 71_000_001,
                "first_name": "Noura",
                "last_name": "Al-Harbi",
                "mobile": 501_112_233,
                "mobile_code": "+966",
                "email": "noura@example.test",
                "urls": {"customer": "https://store.example.test/c1", "admin": "https://s.example.test/c1"},
                "avatar": "https://cdn.example.test/a1.png",
                "gender": "female",
                "birthday": date_obj("1990-05-01 00:00:00.000000"),
                "city": "Riyadh",
                "country": "Saudi Arabia",
                "country_code": "SA",
                "currency": "SAR",
                "location": "",
                "updated_at": date_obj("2025-01-10 08:00:00.000000"),
            },
            {
                "id": "71000002",
                "first_name": "Faisal",
                "last_name": "Al-Qahtani",
                "mobile": "+966502223344",
                "mobile_code": "+966",
                "email": null,
                "gender": "male",
                "birthday": null,
                "city": {"id": 1_473_353, "name": "Jeddah"},
                "country": "Saudi Arabia",
                "country_code": "SA",
                "updated_at": "2025-01-11 09:00:00",
            },
            {
                "id": 71_000_003,
                "first_name": "Reem",
                "last_name": "Al-Zahrani",
                "mobile": 503_334_455,
                "mobile_code": "+966",
                "email": "reem@shop.test",
                "city": "Dammam",
                "country": "Saudi Arabia",
                "country_code": "SA",
            },
        ]),
    )
    .unwrap();
    let tokens = sb.authorize(STORE);
    let api = client(&sb);
    let token = access(&tokens);
    let hook = Recorder::default();
    let m = api.merchant(&token).with_hook(&hook);

    // Details.
    let c = m.customer(71_000_001).await.unwrap().data;
    assert_eq!(c.id, 71_000_001);
    assert_eq!(c.first_name.as_deref(), Some("Noura"));
    assert_eq!(c.last_name.as_deref(), Some("Al-Harbi"));
    assert_eq!(c.mobile.as_deref(), Some("501112233"));
    assert_eq!(c.mobile_code.as_deref(), Some("+966"));
    assert_eq!(c.email.as_deref(), Some("noura@example.test"));
    assert_eq!(c.city.as_deref(), Some("Riyadh"));
    assert_eq!(c.country_code.as_deref(), Some("SA"));
    assert_eq!(
        c.updated_at.as_ref().map(|d| d.date.as_str()),
        Some("2025-01-10 08:00:00.000000")
    );
    let c = m.customer(71_000_002).await.unwrap().data;
    assert_eq!(c.id, 71_000_002);
    assert_eq!(c.mobile.as_deref(), Some("+966502223344"));
    assert_eq!(c.email, None);
    assert_eq!(c.city.as_deref(), Some("Jeddah"));
    assert!(m.customer(71_999_999).await.unwrap_err().is_not_found());

    // The list: all, and by keyword (name, email, mobile with or without its code).
    let all = m.customers(&CustomerQuery::default()).await.unwrap().data;
    let ids: Vec<u64> = all.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![71_000_003, 71_000_002, 71_000_001]);
    for (keyword, want) in [
        ("noura", 71_000_001),
        ("QAHTANI", 71_000_002),
        ("502223344", 71_000_002),
        ("+966503334455", 71_000_003),
        ("shop.test", 71_000_003),
    ] {
        let found = m
            .customers(&CustomerQuery {
                keyword: Some(keyword.into()),
                per_page: Some(5),
            })
            .await
            .unwrap()
            .data;
        let ids: Vec<u64> = found.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![want], "keyword {keyword}");
    }

    // Customer endpoints draw on their own budget: the hook is told so, and the answers carry the
    // customers window (500 per 10 minutes), not the plan's.
    let seen = hook.take();
    assert_eq!(seen.len(), 9);
    for (class, rate) in &seen {
        assert_eq!(*class, EndpointClass::Customers);
        assert_eq!(rate.limit, Some(500), "{rate:?}");
        assert!(rate.remaining.is_some_and(|r| r < 500));
        assert!(rate.reset_at.is_some());
    }
    assert_eq!(seen.last().unwrap().1.remaining, Some(500 - 9));

    // Branches: the default one until branches are seeded, then the seeded ones.
    let branches = m.branches().await.unwrap().data;
    assert_eq!(branches.len(), 1);
    assert_eq!(branches[0].id, DEFAULT_BRANCH_ID);
    assert_eq!(branches[0].is_default, Some(true));
    assert!(branches[0].name.is_some());
    sb.seed_branch(
        STORE,
        json!([
            {"id": 4_401_001, "name": "Riyadh Warehouse", "status": "active", "type": "warehouse",
             "is_default": 1, "is_cod_available": true, "city": {"id": 1, "name": "Riyadh"},
             "address_description": "Second industrial city"},
            {"id": "4401002", "name": "Dammam Branch", "status": "inactive", "type": "branch",
             "is_default": false, "city": null, "address_description": ""},
        ]),
    )
    .unwrap();
    let branches = m.branches().await.unwrap().data;
    /// id, name, status, type, is_default.
    type BranchRow<'a> = (
        u64,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<bool>,
    );
    let got: Vec<BranchRow<'_>> = branches
        .iter()
        .map(|b| {
            (
                b.id,
                b.name.as_deref(),
                b.status.as_deref(),
                b.branch_type.as_deref(),
                b.is_default,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                4_401_001,
                Some("Riyadh Warehouse"),
                Some("active"),
                Some("warehouse"),
                Some(true)
            ),
            (
                4_401_002,
                Some("Dammam Branch"),
                Some("inactive"),
                Some("branch"),
                Some(false)
            ),
        ]
    );
    let seen = hook.take();
    assert_eq!(seen.len(), 2);
    for (class, rate) in &seen {
        assert_eq!(*class, EndpointClass::General);
        assert_eq!(rate.limit, Some(120), "{rate:?}");
    }
}

// ----- 5. bulk quantities -------------------------------------------------------------------------

#[tokio::test]
async fn bulk_quantities_are_queued_then_applied_after_the_stock_delay() {
    const SAFFRON: u64 = 8_130_000_001;
    const ABAYA: u64 = 8_130_000_002;
    const ABAYA_M: u64 = 8_130_100_021;
    const ABAYA_L: u64 = 8_130_100_022;
    const MISWAK: u64 = 8_130_000_003;
    const BRANCH: u64 = 4_401_001;
    let delay = Duration::from_millis(800);
    let sb = sandbox(Options {
        stock_delay: delay,
        ..Options::default()
    })
    .await;
    sb.seed_product(
        STORE,
        json!([
            {"id": SAFFRON, "sku": "SAFFRON-5G", "name": "Saffron 5g", "quantity": 3,
             "price": {"amount": 45, "currency": "SAR"}, "status": "sale", "unlimited_quantity": false,
             "updated_at": "2025-01-01 09:00:00", "skus": []},
            {"id": ABAYA, "sku": "", "name": "Black Abaya", "quantity": 3,
             "price": {"amount": "320.00", "currency": "SAR"}, "status": "sale",
             "updated_at": date_obj("2025-01-01 09:00:00.000000"),
             "skus": [
                {"id": ABAYA_M, "sku": "ABAYA-BLK-M", "stock_quantity": 2, "barcode": null,
                 "price": {"amount": 320, "currency": "SAR"}},
                {"id": ABAYA_L.to_string(), "sku": "ABAYA-BLK-L", "stock_quantity": 1, "barcode": "",
                 "price": {"amount": 320, "currency": "SAR"}},
             ]},
            {"id": MISWAK, "sku": "MISWAK-10", "name": "Miswak x10", "quantity": 0,
             "price": 12, "status": "out", "skus": null},
        ]),
    )
    .unwrap();
    let tokens = sb.authorize(STORE);
    let api = client(&sb);
    let token = access(&tokens);
    let m = api.merchant(&token);
    let before = sb.quantities(STORE);
    assert_eq!(
        before,
        BTreeMap::from([
            ("ABAYA-BLK-L".to_owned(), 1),
            ("ABAYA-BLK-M".to_owned(), 2),
            ("MISWAK-10".to_owned(), 0),
            ("SAFFRON-5G".to_owned(), 3),
        ])
    );

    let updates = [
        QuantityUpdate::overwrite(Identifier::Sku("SAFFRON-5G".into()), 40),
        QuantityUpdate::overwrite(Identifier::VariantId(ABAYA_M), 7),
        QuantityUpdate::overwrite(Identifier::Sku("ABAYA-BLK-L".into()), 5).in_branch(BRANCH),
        QuantityUpdate::overwrite(Identifier::Id(MISWAK), 12),
    ];
    assert!(updates.iter().all(QuantityUpdate::is_idempotent));
    let ack = m.update_quantities(&updates).await.unwrap();
    assert_eq!(ack.status, 201);
    assert_eq!(
        ack.data.message(),
        Some("The products quantities has been queued to update")
    );

    // Queued, not applied: the quantities are unchanged, inside the sandbox and through the client.
    assert_eq!(sb.quantities(STORE), before);
    assert_eq!(
        m.product(SAFFRON).await.unwrap().data.quantity,
        Some(amount("3").amount)
    );
    let log = sb.stock_updates(STORE);
    assert_eq!(log.len(), 1);
    // On the wire: Salla's misspelled keys, identifiers as strings.
    assert_eq!(
        log[0]["products"],
        json!([
            {"identifer_type": "sku", "identifer": "SAFFRON-5G", "quantity": 40, "mode": "overwrite"},
            {"identifer_type": "variant_id", "identifer": ABAYA_M.to_string(), "quantity": 7, "mode": "overwrite"},
            {"identifer_type": "sku", "identifer": "ABAYA-BLK-L", "quantity": 5, "mode": "overwrite", "branch": BRANCH},
            {"identifer_type": "id", "identifer": MISWAK.to_string(), "quantity": 12, "mode": "overwrite"},
        ])
    );

    // Applied once the stock delay has passed.
    wait_until(
        "the stock update to be applied",
        Duration::from_secs(15),
        || {
            sb.stock_updates(STORE)
                .first()
                .is_some_and(|u| !u["applied_at"].is_null())
        },
    )
    .await;
    let log = sb.stock_updates(STORE);
    let at = |k: &str| {
        time::OffsetDateTime::parse(
            log[0][k].as_str().expect(k),
            &time::format_description::well_known::Rfc3339,
        )
        .expect(k)
    };
    let waited = at("applied_at") - at("queued_at");
    assert!(
        waited >= time::Duration::try_from(delay).unwrap() - time::Duration::milliseconds(50),
        "applied after {waited}"
    );
    assert_eq!(
        sb.quantities(STORE),
        BTreeMap::from([
            ("ABAYA-BLK-L".to_owned(), 5),
            ("ABAYA-BLK-M".to_owned(), 7),
            ("MISWAK-10".to_owned(), 12),
            ("SAFFRON-5G".to_owned(), 40),
        ])
    );
    // Read back through the client.
    assert_eq!(
        m.product(SAFFRON).await.unwrap().data.quantity,
        Some(amount("40").amount)
    );
    assert_eq!(
        m.product(MISWAK).await.unwrap().data.quantity,
        Some(amount("12").amount)
    );
    let abaya = m.product(ABAYA).await.unwrap().data;
    assert_eq!(
        abaya.quantity,
        Some(amount("12").amount),
        "the sum of its variants"
    );
    let stock: Vec<(u64, Option<String>)> = abaya
        .skus
        .iter()
        .map(|v| (v.id, v.stock_quantity.map(|q| q.to_string())))
        .collect();
    assert_eq!(
        stock,
        vec![(ABAYA_M, Some("7".into())), (ABAYA_L, Some("5".into()))]
    );
    assert_eq!(
        m.variant(ABAYA_L).await.unwrap().data.stock_quantity,
        Some(amount("5").amount)
    );

    // A SKU Salla does not know: 422 naming the entry, permanent, nothing queued.
    let err = m
        .update_quantities(&[QuantityUpdate::overwrite(
            Identifier::Sku("NO-SUCH-SKU".into()),
            1,
        )])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(
        err.fields()
            .is_some_and(|f| f.contains_key("products.0.identifer")),
        "{err}"
    );
    assert_eq!(sb.stock_updates(STORE).len(), 1);
    // An empty update never leaves the client.
    let err = m.update_quantities(&[]).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(matches!(err, ApiError::Config { .. }), "{err}");
    assert_eq!(
        calls_to(&sb, "POST /admin/v2/products/quantities/bulk").len(),
        2
    );
}

// ----- 6. OAuth -----------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_the_pair_and_a_reused_refresh_token_needs_a_reinstall() {
    let sb = sandbox(Options::default()).await;
    let (order, want) = seeded_order(4);
    sb.seed_order(STORE, order).unwrap();
    let first = sb.authorize(STORE);
    let api = client(&sb);
    let old_access = access(&first);
    let old_refresh = RefreshToken::new(first.refresh_token.clone());
    assert!(api.merchant(&old_access).order(want.id).await.is_ok());

    // A refresh gives a new pair that works.
    let started = time::OffsetDateTime::now_utc();
    let fresh = api.refresh(&old_refresh).await.unwrap();
    assert_ne!(fresh.access_token.expose(), old_access.expose());
    assert_ne!(fresh.refresh_token.expose(), old_refresh.expose());
    assert_eq!(fresh.scope.as_deref(), Some(DEFAULT_SCOPE));
    let lifetime = fresh.expires_at - started;
    assert!(
        (lifetime - time::Duration::days(14)).abs() < time::Duration::minutes(1),
        "expires in {lifetime}"
    );
    let o = api
        .merchant(&fresh.access_token)
        .order(want.id)
        .await
        .unwrap();
    check_order(&o.data, &want);

    // The old access token was retired with its refresh token: refresh once (class Auth).
    let err = api.merchant(&old_access).order(want.id).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth, "{err}");
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err}");
    assert_eq!(err.status(), Some(401));

    // The old refresh token again: invalid_grant, the chain is dead.
    let err = api.refresh(&old_refresh).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NeedsReinstall, "{err}");
    assert!(
        matches!(err, ApiError::InvalidGrant { status: 401, .. }),
        "{err:?}"
    );
    // Reuse revoked the whole chain (§7.5): the new pair is dead too.
    let err = api
        .merchant(&fresh.access_token)
        .order(want.id)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth, "{err}");
    let err = api.refresh(&fresh.refresh_token).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NeedsReinstall, "{err}");
    let stats = sb.stats();
    assert_eq!(stats["token_refreshes"], json!(1), "{stats}");
    assert_eq!(stats["token_refresh_failures"], json!(2), "{stats}");

    // A refresh whose answer is lost: unknown outcome, and the token was spent meanwhile.
    let second = sb.authorize(STORE);
    let refresh = RefreshToken::new(second.refresh_token.clone());
    sb.faults()
        .drop_after_write(Match::any().path_prefix("/oauth2/token").times(1));
    let err = api.refresh(&refresh).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::OutcomeUnknown, "{err}");
    let err = api.refresh(&refresh).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::NeedsReinstall, "{err}");

    // Unknown and uninstalled tokens are refused as invalid (class Auth).
    let err = api
        .merchant(&AccessToken::new("ory_at_not-a-token"))
        .order(want.id)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth, "{err}");
    let third = sb.authorize(STORE);
    let token = access(&third);
    assert!(api.merchant(&token).order(want.id).await.is_ok());
    sb.uninstall(STORE);
    let err = api.merchant(&token).order(want.id).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth, "{err}");
    let err = api
        .refresh(&RefreshToken::new(third.refresh_token))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::NeedsReinstall, "{err}");
}

// ----- 7. errors ----------------------------------------------------------------------------------

#[tokio::test]
async fn errors_are_classed_as_the_client_documents() {
    let sb = sandbox(Options::default()).await;
    let (order, want) = seeded_order(7);
    let id = want.id;
    sb.seed_order(STORE, order).unwrap();
    let tokens = sb.authorize(STORE);
    let api = client(&sb);
    let token = access(&tokens);
    let m = api.merchant(&token);

    // A successful answer carries the rate headers.
    let ok = m.order(id).await.unwrap();
    assert_eq!(ok.rate.limit, Some(120));
    assert_eq!(ok.rate.remaining, Some(119));
    assert!(
        ok.rate
            .reset_at
            .is_some_and(|r| r > time::OffsetDateTime::now_utc())
    );
    assert_eq!(ok.rate.retry_after, None);

    // An unknown order: 404, permanent.
    let err = m.order(4_999_999_999).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(
        matches!(&err, ApiError::Status { code: Some(ErrorCode::Text(c)), kind: RequestKind::Read, .. } if c == "not_found"),
        "{err:?}"
    );
    let err = m
        .set_order_status(4_999_999_999, &StatusChange::slug("completed"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    // A token without `orders.read`: missing scope, permanent (refreshing cannot help).
    let narrow = sb.authorize_with(
        STORE,
        AuthorizeOptions {
            scope: Some("products.read offline_access".into()),
            plan_per_min: None,
        },
    );
    let narrow_token = access(&narrow);
    let err = api.merchant(&narrow_token).order(id).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(
        matches!(&err, ApiError::MissingScope { scopes, .. } if scopes == "orders.read"),
        "{err:?}"
    );
    // Read-only orders: reading works, setting a status needs `orders.read_write`.
    let read_only = sb.authorize_with(
        STORE,
        AuthorizeOptions {
            scope: Some("orders.read offline_access".into()),
            plan_per_min: None,
        },
    );
    let read_only_token = access(&read_only);
    let ro = api.merchant(&read_only_token);
    assert!(ro.order(id).await.is_ok());
    let err = ro
        .set_order_status(id, &StatusChange::slug("completed"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::MissingScope { scopes, .. } if scopes == "orders.read_write"),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(sb.status_history(STORE, id).is_empty());

    // A low plan: the rate headers count down, then 429 with a wait.
    sb.seed_order(OTHER_STORE, seeded_order(8).0).unwrap();
    let other_id = seeded_order(8).1.id;
    let other_tokens = sb.authorize(OTHER_STORE);
    sb.set_plan(OTHER_STORE, Some(3));
    let other_token = access(&other_tokens);
    let other = api.merchant(&other_token);
    for left in [2, 1, 0] {
        let r = other.order(other_id).await.unwrap();
        assert_eq!(r.rate.limit, Some(3));
        assert_eq!(r.rate.remaining, Some(left));
    }
    let err = other.order(other_id).await.unwrap_err();
    assert_eq!(err.status(), Some(429), "{err}");
    match err.class() {
        ErrorClass::Transient {
            retry_after: Some(wait),
        } => assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(60),
            "{wait:?}"
        ),
        other => panic!("429 classed {other:?}"),
    }
    let rate = err.rate().expect("the 429's rate headers");
    assert_eq!(rate.limit, Some(3));
    assert_eq!(rate.remaining, Some(0));
    assert!(rate.retry_after.is_some());
    // The other store's budget is its own.
    assert!(m.order(id).await.is_ok());
    assert_eq!(sb.stats()["rate_limited"], json!(1));

    // 503: transient, with the wait when Salla names one; the next call goes through.
    sb.faults().fail(
        Match::any()
            .path_prefix("/orders")
            .method("GET")
            .merchant(STORE)
            .times(1),
        503,
    );
    let err = m.order(id).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    assert_eq!(err.class(), ErrorClass::Transient { retry_after: None });
    assert!(
        matches!(&err, ApiError::Status { code: Some(ErrorCode::Text(c)), .. } if c == "service_unavailable"),
        "{err:?}"
    );
    sb.faults().inject(ErrorRule {
        on: Match::any()
            .path_prefix("/orders")
            .method("POST")
            .merchant(STORE)
            .times(1),
        status: 503,
        retry_after_secs: Some(7),
    });
    let err = m
        .set_order_status(id, &StatusChange::slug("completed"))
        .await
        .unwrap_err();
    assert_eq!(
        err.class(),
        ErrorClass::Transient {
            retry_after: Some(Duration::from_secs(7))
        },
        "{err}"
    );
    assert!(sb.status_history(STORE, id).is_empty(), "a 503 did nothing");
    // A 500 on a write may have been applied; on a read it is transient.
    sb.faults()
        .fail(Match::any().path_prefix("/orders").times(2), 500);
    let err = m
        .set_order_status(id, &StatusChange::slug("completed"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::OutcomeUnknown, "{err}");
    let err = m.order(id).await.unwrap_err();
    assert!(err.class().is_transient(), "{err}");
    assert!(m.order(id).await.is_ok());
    assert_eq!(sb.stats()["injected_errors"], json!(4));

    // The status write takes effect and its answer is lost: unknown outcome. Setting a status is
    // idempotent, so the caller may send it again.
    sb.faults().drop_after_write(
        Match::any()
            .path_prefix(format!("/orders/{id}/status"))
            .method("POST")
            .times(1),
    );
    let err = m
        .set_order_status(
            id,
            &StatusChange::slug("completed").with_note("lost answer"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::OutcomeUnknown, "{err}");
    assert!(err.is_outcome_unknown());
    assert!(
        matches!(
            err,
            ApiError::NoAnswer {
                kind: RequestKind::Write,
                ..
            }
        ),
        "{err:?}"
    );
    let history = sb.status_history(STORE, id);
    assert_eq!(history.len(), 1, "the dropped write was applied");
    assert_eq!(history[0]["slug"], json!("completed"));
    assert_eq!(sb.stats()["dropped"], json!(1));
    let ack = m
        .set_order_status(
            id,
            &StatusChange::slug("completed").with_note("lost answer"),
        )
        .await
        .unwrap();
    assert_eq!(ack.status, 201);
    assert_eq!(sb.status_history(STORE, id).len(), 2);
    let o = m.order(id).await.unwrap().data;
    assert_eq!(
        o.status.as_ref().and_then(|s| s.slug.as_deref()),
        Some("completed")
    );
}
