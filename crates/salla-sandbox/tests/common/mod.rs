//! Helpers shared by the integration tests: a sandbox plus an HTTP client, and builders for
//! orders, products and customers in Salla's shapes (own values).
#![allow(dead_code)]

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use salla_sandbox::{Options, Sandbox};
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "sandbox-client";
pub const CLIENT_SECRET: &str = "sandbox-secret";

pub struct Env {
    pub sb: Sandbox,
    pub http: reqwest::Client,
}

/// An answer: status, headers, JSON body (`null` when not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn start(opts: Options) -> Env {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sb = salla_sandbox::spawn(opts).await.expect("spawn sandbox");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    Env { sb, http }
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sb.url())
    }

    /// `GET /admin/v2{path}` with a bearer token.
    pub async fn get(&self, token: &str, path: &str) -> Answer {
        let r = self
            .http
            .get(format!("{}{path}", self.sb.admin_url()))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        answer(r).await
    }

    /// `GET` of an absolute URL (e.g. a pagination link) with a bearer token.
    pub async fn get_url(&self, token: &str, url: &str) -> Answer {
        let r = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        answer(r).await
    }

    /// `POST /admin/v2{path}` with a JSON body and a bearer token.
    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Answer {
        let r = self
            .http
            .post(format!("{}{path}", self.sb.admin_url()))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("send");
        answer(r).await
    }

    /// `POST /oauth2/token` (form-encoded) with the given fields.
    pub async fn token_request(&self, fields: &[(&str, &str)]) -> Result<Answer, reqwest::Error> {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            ser.append_pair(k, v);
        }
        let r = self
            .http
            .post(self.sb.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(ser.finish())
            .send()
            .await?;
        Ok(answer(r).await)
    }

    /// A refresh with the right client credentials.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Answer, reqwest::Error> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .await
    }

    /// A control-API call (`/_sandbox…`).
    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        let mut rb = self.http.request(method, self.url(path));
        if let Some(b) = body {
            rb = rb.json(b);
        }
        answer(rb.send().await.expect("send")).await
    }
}

/// Poll `cond` every 20 ms until it holds or `within` passes.
pub async fn wait_until<F, Fut>(within: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn money(amount: f64) -> Value {
    json!({"amount": amount, "currency": "SAR"})
}

fn date(d: &str) -> Value {
    json!({"date": format!("{d}.000000"), "timezone_type": 3, "timezone": "Asia/Riyadh"})
}

/// An order in the shape of `GET /orders/{id}` (`when`: `"2024-03-05 10:00:00"`).
pub fn order(id: u64, status: (u64, &str), when: &str, total: f64, customer_id: u64) -> Value {
    json!({
        "id": id,
        "reference_id": id + 50_000,
        "urls": {"customer": format!("https://shop.example/order/{id}"), "admin": format!("https://admin.example/orders/{id}")},
        "date": date(when),
        "source": "store",
        "status": {"id": status.0, "name": status.1, "slug": status.1, "customized": null},
        "payment_method": if id.is_multiple_of(2) { "cod" } else { "mada" },
        "currency": "SAR",
        "amounts": {
            "sub_total": money(total),
            "shipping_cost": money(0.0),
            "tax": {"percent": "15.00", "amount": money(0.0)},
            "total": money(total),
        },
        "shipping": null,
        "shipments": [{
            "id": id * 10,
            "type": "shipment",
            "courier_name": "Sandbox Courier",
            "tracking_number": null,
            "status": "in_progress",
            "payment_method": "pre_paid",
            "total": money(total),
        }],
        "customer": {
            "id": customer_id,
            "first_name": "Huda",
            "last_name": format!("Customer{customer_id}"),
            "mobile": 512345000 + customer_id,
            "mobile_code": "+966",
            "email": format!("c{customer_id}@mail.example"),
            "groups": [1],
        },
        "items": [{
            "id": id * 100 + 1,
            "name": "Cardamom Coffee 250g",
            "sku": "CAF-250",
            "quantity": 2,
            "currency": "SAR",
            "weight": 0.25,
            "amounts": {
                "price_without_tax": money(total / 2.0),
                "total_discount": money(0.0),
                "tax": {"percent": "0.00", "amount": money(0.0)},
                "total": money(total),
            },
            "product": {"id": 7001, "sku": "CAF-250", "name": "Cardamom Coffee 250g", "thumbnail": "https://cdn.example/caf.png"},
            "options": [],
        }],
    })
}

/// A product with optional variants `(id, sku, stock)`.
pub fn product(
    id: u64,
    name: &str,
    sku: &str,
    quantity: i64,
    variants: &[(u64, &str, i64)],
) -> Value {
    let skus: Vec<Value> = variants
        .iter()
        .map(|(vid, vsku, q)| {
            json!({
                "id": vid,
                "sku": vsku,
                "barcode": "",
                "price": money(10.0),
                "stock_quantity": q,
                "unlimited_quantity": false,
            })
        })
        .collect();
    json!({
        "id": id,
        "sku": sku,
        "type": "product",
        "name": name,
        "price": money(10.0),
        "quantity": quantity,
        "status": "sale",
        "unlimited_quantity": false,
        "managed_by_branches": false,
        "updated_at": "2024-01-02 10:00:00",
        "options": [],
        "skus": skus,
    })
}

pub fn customer(id: u64, first: &str, last: &str, mobile: u64, email: &str) -> Value {
    json!({
        "id": id,
        "first_name": first,
        "last_name": last,
        "mobile": mobile,
        "mobile_code": "+966",
        "email": email,
        "city": "Riyadh",
        "country": "SA",
        "updated_at": date("2024-01-01 09:00:00"),
    })
}
