//! The Admin API v2: envelopes, pagination, filters and sorting, status updates, bulk stock.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Env, customer, order, product, start, wait_until};
use reqwest::{Method, StatusCode};
use salla_sandbox::Options;
use serde_json::{Value, json};

const M: u64 = 4_100_000_001; // beyond 2^32, like real store ids can be

const UNDER_REVIEW: (u64, &str) = (566146469, "under_review");
const COMPLETED: (u64, &str) = (1298199463, "completed");

fn ids(v: &Value) -> Vec<u64> {
    v["data"]
        .as_array()
        .expect("data list")
        .iter()
        .map(|o| o["id"].as_u64().expect("numeric id"))
        .collect()
}

#[tokio::test]
async fn envelopes_order_details_and_errors() {
    let env = start(Options::default()).await;
    let seeded = order(
        9_000_000_001,
        UNDER_REVIEW,
        "2024-03-05 10:00:00",
        120.0,
        11,
    );
    let r = env
        .control(
            Method::POST,
            &format!("/_sandbox/merchants/{M}/orders"),
            Some(&seeded),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["ids"], json!([9_000_000_001u64]));
    let t = env.sb.authorize(M);

    let r = env.get(&t.access_token, "/orders/9000000001").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], 200);
    assert_eq!(r.body["success"], true);
    let data = &r.body["data"];
    assert_eq!(data["id"], 9_000_000_001u64);
    assert_eq!(data["items"], seeded["items"]);
    assert_eq!(
        data["updated_at"]["timezone"], "Asia/Riyadh",
        "updated_at set on seed"
    );
    assert_eq!(r.header("x-ratelimit-limit"), Some("120"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("119"));
    assert!(r.header("x-ratelimit-reset").is_some());

    let light = env
        .get(&t.access_token, "/orders/9000000001?format=light")
        .await;
    assert!(light.body["data"].get("items").is_none());
    assert!(light.body["data"].get("shipments").is_none());
    assert!(light.body["data"]["customer"].get("groups").is_none());
    assert_eq!(light.body["data"]["amounts"], seeded["amounts"]);

    let items = env
        .get(&t.access_token, "/orders/items?order_id=9000000001")
        .await;
    assert_eq!(items.body["data"], seeded["items"]);
    let missing = env.get(&t.access_token, "/orders/items").await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.body["error"]["code"], "validation_failed");
    assert!(missing.body["error"]["fields"]["order_id"].is_array());

    let nf = env.get(&t.access_token, "/orders/1").await;
    assert_eq!(nf.status, StatusCode::NOT_FOUND);
    assert_eq!(nf.body["status"], 404);
    assert_eq!(nf.body["success"], false);
    assert_eq!(nf.body["error"]["code"], "not_found");

    let unauth = env.get("nope", "/orders/9000000001").await;
    assert_eq!(unauth.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unauth.body["error"]["code"], "unauthorized");
    assert_eq!(
        unauth.body["error"]["message"],
        "The access token is invalid"
    );
    let no_header = env
        .http
        .get(format!("{}/orders", env.sb.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(no_header.status(), StatusCode::UNAUTHORIZED);

    let shipments = env
        .get(&t.access_token, "/shipments?order_id=9000000001")
        .await;
    assert_eq!(shipments.body["data"][0]["id"], 90_000_000_010u64);
    assert_eq!(shipments.body["data"][0]["order_id"], 9_000_000_001u64);
    let one = env.get(&t.access_token, "/shipments/90000000010").await;
    assert_eq!(one.body["data"]["courier_name"], "Sandbox Courier");

    let statuses = env.get(&t.access_token, "/orders/statuses").await;
    let list = statuses.body["data"].as_array().unwrap();
    assert!(
        list.iter()
            .any(|s| s["slug"] == "completed" && s["id"] == 1298199463)
    );
    assert!(list.iter().any(|s| s["slug"] == "canceled"));
    env.sb.shutdown().await;
}

#[tokio::test]
async fn pagination_loop_clamp_and_links() {
    let env = start(Options::default()).await;
    let orders: Vec<Value> = (1..=130)
        .map(|i| order(1000 + i, UNDER_REVIEW, "2024-03-05 10:00:00", i as f64, 1))
        .collect();
    env.sb.seed_order(M, Value::Array(orders)).unwrap();
    let t = env.sb.authorize(M);

    // Default page size 15, newest (highest id) first.
    let first = env.get(&t.access_token, "/orders").await;
    let p = &first.body["pagination"];
    assert_eq!(p["perPage"], 15);
    assert_eq!(p["count"], 15);
    assert_eq!(p["total"], 130);
    assert_eq!(p["currentPage"], 1);
    assert_eq!(p["totalPages"], 9);
    assert_eq!(ids(&first.body)[0], 1130);
    assert!(p["links"].get("previous").is_none());

    // per_page above 60 is clamped to 60; loop while currentPage < totalPages.
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let r = env
            .get(
                &t.access_token,
                &format!("/orders?per_page=100&page={page}"),
            )
            .await;
        let p = r.body["pagination"].clone();
        assert_eq!(p["perPage"], 60);
        seen.extend(ids(&r.body));
        if p["currentPage"].as_u64() >= p["totalPages"].as_u64() {
            break;
        }
        page += 1;
    }
    assert_eq!(page, 3);
    assert_eq!(seen.len(), 130);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 130);
    assert!(seen.windows(2).all(|w| w[0] > w[1]));

    // Following links.next visits the same pages.
    let mut url = Some(format!("{}/orders?per_page=50", env.sb.admin_url()));
    let mut via_links = 0;
    while let Some(u) = url {
        let r = env.get_url(&t.access_token, &u).await;
        via_links += ids(&r.body).len();
        url = r.body["pagination"]["links"]["next"]
            .as_str()
            .map(str::to_owned);
    }
    assert_eq!(via_links, 130);

    // Beyond the last page: empty data, a previous link.
    let past = env
        .get(&t.access_token, "/orders?page=99&per_page=60")
        .await;
    assert_eq!(past.body["data"], json!([]));
    assert_eq!(past.body["pagination"]["count"], 0);
    assert!(past.body["pagination"]["links"]["previous"].is_string());

    // Summaries, not full orders.
    let s = &first.body["data"][0];
    assert_eq!(s["total"]["amount"], 130.0);
    assert_eq!(s["amounts"]["total"]["amount"], 130.0);
    assert!(s["status"]["slug"].is_string());
    assert!(s["customer"]["id"].is_u64());
    assert!(s.get("shipments").is_none());
    env.sb.shutdown().await;
}

#[tokio::test]
async fn filters_and_sorting() {
    let env = start(Options::default()).await;
    env.sb
        .seed_order(
            M,
            json!([
                order(1, UNDER_REVIEW, "2024-03-01 08:00:00", 50.0, 7),
                order(2, COMPLETED, "2024-03-02 08:00:00", 10.0, 8),
                order(3, UNDER_REVIEW, "2024-03-03 23:59:59", 30.0, 7),
                order(4, COMPLETED, "2024-03-04 00:00:00", 40.0, 9),
            ]),
        )
        .unwrap();
    let t = env.sb.authorize(M);
    let tok = &t.access_token;

    let r = env
        .get(tok, "/orders?from_date=2024-03-02&to_date=2024-03-03")
        .await;
    assert_eq!(ids(&r.body), [3, 2]);
    let r = env.get(tok, "/orders?status[]=1298199463").await;
    assert_eq!(ids(&r.body), [4, 2]);
    let r = env
        .get(
            tok,
            "/orders?status[]=1298199463&status[]=566146469&sort_by=id-asc",
        )
        .await;
    assert_eq!(ids(&r.body), [1, 2, 3, 4]);
    let r = env.get(tok, "/orders?customer_id=7").await;
    assert_eq!(ids(&r.body), [3, 1]);
    let r = env.get(tok, "/orders?reference_id=50003").await;
    assert_eq!(ids(&r.body), [3]);
    let r = env.get(tok, "/orders?sort_by=total-asc").await;
    assert_eq!(ids(&r.body), [2, 3, 4, 1]);
    let r = env.get(tok, "/orders?sort_by=created_at-desc").await;
    assert_eq!(ids(&r.body), [4, 3, 2, 1]);
    let r = env.get(tok, "/orders?payment_method[]=cod").await;
    assert_eq!(ids(&r.body), [4, 2]);

    // updated_at follows writes: order 1 becomes the most recently updated.
    let w = env
        .post(tok, "/orders/1/status", &json!({"slug": "in_progress"}))
        .await;
    assert_eq!(w.status, StatusCode::CREATED);
    let r = env
        .get(tok, "/orders?sort_by=updated_at-desc&per_page=1")
        .await;
    assert_eq!(ids(&r.body), [1]);

    for bad in [
        "/orders?sort_by=name-asc",
        "/orders?from_date=03/01/2024",
        "/orders?status[]=completed",
    ] {
        let r = env.get(tok, bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(r.body["error"]["fields"].is_object(), "{bad}");
    }
    env.sb.shutdown().await;
}

#[tokio::test]
async fn status_update_and_history() {
    let env = start(Options::default()).await;
    let mut seeded = order(77, UNDER_REVIEW, "2024-03-05 10:00:00", 99.0, 1);
    seeded["updated_at"] = json!({"date": "2024-03-05 10:00:00.000000", "timezone_type": 3, "timezone": "Asia/Riyadh"});
    env.sb.seed_order(M, seeded).unwrap();
    let t = env.sb.authorize(M);
    let tok = &t.access_token;

    let r = env
        .post(
            tok,
            "/orders/77/status",
            &json!({"slug": "completed", "note": "packed and paid"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.body,
        json!({"status": 201, "success": true, "data": {"message": "The entity has been updated successfully", "code": 201}})
    );
    let o = env.get(tok, "/orders/77").await.body["data"].clone();
    assert_eq!(o["status"]["slug"], "completed");
    assert_eq!(o["status"]["id"], 1298199463);
    let updated = o["updated_at"]["date"].as_str().unwrap();
    assert!(updated > "2024-03-05 10:00:00.000000", "{updated}");

    let r = env
        .post(tok, "/orders/77/status", &json!({"status_id": 814202285}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let bad = env
        .post(tok, "/orders/77/status", &json!({"slug": "cancelled"}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["error"]["code"], "validation_failed");
    assert!(bad.body["error"]["fields"]["slug"].is_array());
    let nf = env
        .post(tok, "/orders/78/status", &json!({"slug": "completed"}))
        .await;
    assert_eq!(nf.status, StatusCode::NOT_FOUND);

    let h = env
        .control(
            Method::GET,
            &format!("/_sandbox/merchants/{M}/orders/77/status-history"),
            None,
        )
        .await;
    let h = h.body.as_array().unwrap().clone();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["slug"], "completed");
    assert_eq!(h[0]["status_id"], 1298199463);
    assert_eq!(h[0]["note"], "packed and paid");
    assert!(h[0]["created_at"]["date"].is_string());
    assert_eq!(h[1]["slug"], "shipped");
    assert_eq!(h[1]["note"], Value::Null);
    assert_eq!(env.sb.status_history(M, 77), h);

    // A read-only token may not write.
    let ro = env.sb.authorize_with(
        M,
        salla_sandbox::AuthorizeOptions {
            scope: Some("orders.read offline_access".into()),
            plan_per_min: None,
        },
    );
    let r = env
        .post(
            &ro.access_token,
            "/orders/77/status",
            &json!({"slug": "completed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.body["error"]["message"],
        "The access token should have access to one of those scopes: orders.read_write"
    );
    assert_eq!(env.sb.status_history(M, 77).len(), 2);
    env.sb.shutdown().await;
}

#[tokio::test]
async fn bulk_quantities_apply_after_the_delay() {
    let env = start(Options {
        stock_delay: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    env.sb
        .seed_product(
            M,
            json!([
                product(6_000_000_001, "Saffron 1g", "SAF-1", 5, &[]),
                product(
                    6_000_000_002,
                    "Abaya",
                    "ABY",
                    7,
                    &[(8_000_000_001, "ABY-S", 3), (8_000_000_002, "ABY-M", 4)]
                ),
            ]),
        )
        .unwrap();
    let t = env.sb.authorize(M);
    let tok = &t.access_token;
    let before = env.sb.quantities(M);
    assert_eq!(before["SAF-1"], 5);
    assert_eq!(before["ABY-S"], 3);

    let body = json!({"products": [
        {"identifer_type": "sku", "identifer": "SAF-1", "quantity": 97, "mode": "overwrite", "branch": 123},
        {"identifer_type": "variant_id", "identifer": "8000000001", "quantity": 10, "mode": "increment"},
        {"identifer_type": "id", "identifer": 6_000_000_002u64, "quantity": 1, "mode": "decrement"},
        {"identifer_type": "sku", "identifer": "ABY-M", "quantity": 2},
    ]});
    let r = env.post(tok, "/products/quantities/bulk", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["success"], true);
    assert!(
        r.body["data"]["message"]
            .as_str()
            .unwrap()
            .contains("has been queued to update")
    );
    // Not visible right away, neither in the inspection API nor in the Admin API.
    assert_eq!(env.sb.quantities(M), before);
    let p = env.get(tok, "/products/sku/SAF-1").await;
    assert_eq!(p.body["data"]["quantity"], 5);

    let applied = wait_until(Duration::from_secs(5), || async {
        env.sb.quantities(M).get("SAF-1") == Some(&97)
    })
    .await;
    assert!(applied, "the update was not applied in time");
    let q = env
        .control(
            Method::GET,
            &format!("/_sandbox/merchants/{M}/quantities"),
            None,
        )
        .await;
    assert_eq!(
        q.body,
        json!({"SAF-1": 97, "ABY-S": 13, "ABY-M": 2, "ABY": 15})
    );
    let p = env.get(tok, "/products/6000000001").await;
    assert_eq!(p.body["data"]["quantity"], 97);
    assert_ne!(p.body["data"]["updated_at"], "2024-01-02 10:00:00");
    let v = env.get(tok, "/products/variants/8000000001").await;
    assert_eq!(v.body["data"]["stock_quantity"], 13);
    let updates = env.sb.stock_updates(M);
    assert_eq!(updates.len(), 1);
    assert!(updates[0]["applied_at"].is_string());

    // Validation: all or nothing, fields keyed by index; note the real spelling "identifer".
    let bad = json!({"products": [
        {"identifer_type": "sku", "identifer": "SAF-1", "quantity": 1},
        {"identifer_type": "sku", "identifer": "NOPE", "quantity": 1},
        {"identifer_type": "barcode", "identifer": "x", "quantity": 1},
        {"identifer_type": "id", "identifer": "6000000001"},
        {"identifier_type": "sku", "identifier": "SAF-1", "quantity": 1},
    ]});
    let r = env.post(tok, "/products/quantities/bulk", &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let f = &r.body["error"]["fields"];
    assert!(f["products.1.identifer"].is_array(), "{f}");
    assert!(f["products.2.identifer_type"].is_array(), "{f}");
    assert!(f["products.3.quantity"].is_array(), "{f}");
    assert!(f["products.4.identifer_type"].is_array(), "{f}");
    assert!(f.get("products.0.identifer").is_none());
    let empty = env
        .post(tok, "/products/quantities/bulk", &json!({"products": []}))
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(env.sb.quantities(M)["SAF-1"], 97, "nothing was queued");
    env.sb.shutdown().await;
}

#[tokio::test]
async fn products_customers_and_branches() {
    let env = start(Options::default()).await;
    env.sb
        .seed_product(
            M,
            json!([
                product(10, "Dates Box", "DAT-1", 3, &[]),
                product(
                    11,
                    "Oud Oil",
                    "OUD",
                    0,
                    &[(111, "OUD-6ML", 2), (112, "OUD-12ML", 1)]
                ),
            ]),
        )
        .unwrap();
    env.sb
        .seed_customer(
            M,
            json!([
                customer(501, "Sara", "Alqahtani", 551112222, "sara@mail.example"),
                customer(502, "Omar", "Hassan", 553334444, "omar@mail.example"),
            ]),
        )
        .unwrap();
    let t = env.sb.authorize(M);
    let tok = &t.access_token;

    let by_variant_sku = env.get(tok, "/products/sku/OUD-12ML").await;
    assert_eq!(by_variant_sku.body["data"]["id"], 11);
    assert_eq!(
        env.get(tok, "/products/sku/NONE").await.status,
        StatusCode::NOT_FOUND
    );
    let variants = env.get(tok, "/products/11/variants").await;
    assert_eq!(variants.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(variants.body["pagination"]["total"], 2);
    let kw = env.get(tok, "/products?keyword=oud").await;
    assert_eq!(ids(&kw.body), [11]);
    let kw = env.get(tok, "/products?keyword=DAT-1").await;
    assert_eq!(ids(&kw.body), [10]);
    assert_eq!(ids(&env.get(tok, "/products").await.body), [11, 10]);

    let c = env.get(tok, "/customers?keyword=553334444").await;
    assert_eq!(ids(&c.body), [502]);
    let c = env.get(tok, "/customers?keyword=SARA").await;
    assert_eq!(ids(&c.body), [501]);
    let c = env.get(tok, "/customers/501").await;
    assert_eq!(c.body["data"]["email"], "sara@mail.example");
    assert_eq!(c.header("x-ratelimit-limit"), Some("500"));

    let b = env.get(tok, "/branches").await;
    assert_eq!(b.body["data"][0]["id"], salla_sandbox::DEFAULT_BRANCH_ID);
    env.sb
        .seed_branch(M, json!({"id": 1790000001u64, "name": "Jeddah"}))
        .unwrap();
    let b = env.get(tok, "/branches").await;
    assert_eq!(ids(&b.body), [1790000001]);
    let one = env.get(tok, "/branches/1790000001").await;
    assert_eq!(one.body["data"]["name"], "Jeddah");
    env.sb.shutdown().await;
}

#[tokio::test]
async fn merchants_are_isolated() {
    let env: Env = start(Options::default()).await;
    env.sb
        .seed_order(1, order(5, UNDER_REVIEW, "2024-03-05 10:00:00", 1.0, 1))
        .unwrap();
    env.sb
        .seed_order(2, order(6, UNDER_REVIEW, "2024-03-05 10:00:00", 1.0, 1))
        .unwrap();
    let t1 = env.sb.authorize(1);
    assert_eq!(ids(&env.get(&t1.access_token, "/orders").await.body), [5]);
    assert_eq!(
        env.get(&t1.access_token, "/orders/6").await.status,
        StatusCode::NOT_FOUND
    );
    env.sb.shutdown().await;
}
