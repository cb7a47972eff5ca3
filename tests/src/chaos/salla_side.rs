//! The Salla side of a run: one in-process `salla-sandbox` is every store's Salla (its Merchant API
//! and OAuth, over real HTTP), so the connector's reconciliation, token refreshes, stock push and
//! fulfilment report run against it while the stream is delivered.
//!
//! # What Salla holds
//! Salla's own state moves with the true timeline, whether or not a webhook about it ever arrives:
//! before each delivery, every event of the timeline up to the delivered one (posted, late, or
//! never sent at all) has its objects written into the sandbox unless Salla already holds a newer
//! version of them ([`SallaSide::apply`]); at the end every event is applied once more
//! ([`SallaSide::apply_all`]), so the sandbox holds the newest version of every object, which is
//! what the model expects Odoo to converge to. An order is Salla's order JSON (the webhook's
//! `data`, with its customer) with `updated_at` at the event's time; a product keeps the quantity
//! Salla has (pushed by the connector), as a merchant's edit in Salla does.
//!
//! # What is checked
//! - **Stock** ([`stock_mismatches`]): every product Salla has with a SKU Odoo also has shows what
//!   Odoo says it should: on hand less reserved in the warehouse's internal locations, floored,
//!   never negative (the default `stock_quantity`, available).
//! - **Statuses** ([`status_mismatches`]): every order's Salla status is the model's; an order the
//!   warehouse delivered in Odoo (its delivery validated there, not by a Salla status) must have
//!   moved to `delivered` through the fulfilment report.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::generator::{self, Event, Fact, Stream};
use super::model::Model;
use super::verify::OdooView;

pub struct SallaSide {
    pub sandbox: Arc<salla_sandbox::Sandbox>,
    /// The newest version of each object written into Salla: `order:<merchant>:<id>` → Unix secs.
    seeded: Mutex<HashMap<String, i64>>,
}

impl SallaSide {
    pub async fn start() -> Self {
        // Tokens live as long as Salla's (14 days); the fault plan expires them during the run.
        let sandbox = salla_sandbox::spawn(salla_sandbox::Options {
            // Applied quickly, so the final check does not wait for Salla's queue.
            stock_delay: Duration::from_millis(200),
            ..salla_sandbox::Options::default()
        })
        .await
        .expect("salla-sandbox starts");
        SallaSide {
            sandbox: Arc::new(sandbox),
            seeded: Mutex::new(HashMap::new()),
        }
    }

    /// The settings that make the connector use this Salla, with its scheduled loops at the run's
    /// pace: reconciliation every 15 s looking back far enough for the run's simulated day, the
    /// stock push and the fulfilment report every 3 s.
    pub fn env(&self) -> Vec<(String, String)> {
        let o = self.sandbox.options();
        let days_back = (time::OffsetDateTime::now_utc().unix_timestamp() - generator::DAY_START)
            .max(0)
            / 86_400
            + 2;
        [
            ("SALLA_ODOO__SALLA__CLIENT_ID", o.client_id.clone()),
            ("SALLA_ODOO__SALLA__CLIENT_SECRET", o.client_secret.clone()),
            ("SALLA_ODOO__SALLA__API_URL", self.sandbox.admin_url()),
            (
                "SALLA_ODOO__SALLA__OAUTH_URL",
                format!("{}/oauth2", self.sandbox.url()),
            ),
            ("SALLA_ODOO__RECONCILE__INTERVAL_SECS", "15".into()),
            (
                "SALLA_ODOO__RECONCILE__BACKFILL_DAYS",
                days_back.to_string(),
            ),
            ("SALLA_ODOO__STOCK__PUSH_INTERVAL_SECS", "3".into()),
            ("SALLA_ODOO__FULFILMENT__INTERVAL_SECS", "3".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Install the app in every store: fresh tokens, and the `app.store.authorize` body that
    /// carries them to the connector.
    pub fn authorize(&self, merchant: u64) -> Vec<u8> {
        let tokens = self.sandbox.authorize(merchant);
        crate::salla::authorize_event(merchant, &tokens)
    }

    /// Write the objects `e` describes into Salla, unless Salla holds newer versions.
    pub fn apply(&self, e: &Event) {
        let customer = e.facts.iter().find_map(|f| match f {
            Fact::Customer { state, .. } => Some(state),
            _ => None,
        });
        for f in &e.facts {
            match f {
                Fact::Order { version, state } => {
                    let key = format!("order:{}:{}", e.merchant, state.id);
                    let Some(c) = customer else { continue };
                    if self.newer(&key, *version) {
                        let mut v = generator::order_json(state, c, false);
                        v["updated_at"] = json!(generator::plain_date(*version));
                        self.sandbox
                            .seed_order(e.merchant, v)
                            .expect("an order seeds");
                    }
                }
                Fact::Product { version, state } => {
                    let key = format!("product:{}:{}", e.merchant, state.id);
                    if self.newer(&key, *version) {
                        let mut v = generator::product_json(state);
                        if let Some(q) = self
                            .sandbox
                            .product(e.merchant, state.id)
                            .and_then(|p| p.get("quantity").cloned())
                        {
                            v["quantity"] = q;
                        }
                        self.sandbox
                            .seed_product(e.merchant, v)
                            .expect("a product seeds");
                    }
                }
                Fact::Customer { state, .. } => {
                    let key = format!("customer:{}:{}", e.merchant, state.id);
                    if self.newer(&key, state.updated) {
                        self.sandbox
                            .seed_customer(e.merchant, generator::customer_json(state, true))
                            .expect("a customer seeds");
                    }
                }
            }
        }
    }

    /// Every event once more: Salla ends at the newest version of every object.
    pub fn apply_all(&self, stream: &Stream) {
        for e in &stream.events {
            self.apply(e);
        }
    }

    fn newer(&self, key: &str, version: i64) -> bool {
        let mut seeded = self
            .seeded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match seeded.get(key) {
            Some(v) if *v >= version => false,
            _ => {
                seeded.insert(key.to_owned(), version);
                true
            }
        }
    }

    /// An order's status slug in Salla now.
    pub fn status(&self, merchant: u64, order: u64) -> Option<String> {
        self.sandbox
            .order(merchant, order)
            .and_then(|o| o["status"]["slug"].as_str().map(str::to_owned))
    }
}

/// What Salla should show of each Odoo product code: on hand less reserved in internal locations,
/// floored, never negative.
pub fn odoo_available(view: &OdooView) -> BTreeMap<String, (i64, String)> {
    let internal: std::collections::HashSet<i64> = view
        .locations
        .iter()
        .filter(|l| l["usage"] == "internal")
        .filter_map(|l| l["id"].as_i64())
        .collect();
    let mut by_product: HashMap<i64, f64> = HashMap::new();
    for q in &view.quants {
        let location = super::verify::id_of(&q["location_id"]);
        let product = super::verify::id_of(&q["product_id"]);
        if let (Some(l), Some(p)) = (location, product)
            && internal.contains(&l)
        {
            let qty = q["quantity"].as_f64().unwrap_or(0.0)
                - q["reserved_quantity"].as_f64().unwrap_or(0.0);
            *by_product.entry(p).or_default() += qty;
        }
    }
    view.products
        .iter()
        .filter_map(|p| {
            let code = p["default_code"].as_str()?.to_owned();
            let id = p["id"].as_i64()?;
            let qty = by_product.get(&id).copied().unwrap_or(0.0);
            let about = format!(
                "product {id}, type {}, created {}",
                p["type"], p["create_date"]
            );
            Some((code, ((qty.floor() as i64).max(0), about)))
        })
        .collect()
}

/// Products whose Salla quantity is not what Odoo says it should be. The own SKU of a product
/// with options is left out: Salla's quantity of such a product is its SKUs' (each compared on
/// its own), while the product Odoo may have of that SKU (the layout of separate products) is
/// not one Salla sells.
pub fn stock_mismatches(
    side: &SallaSide,
    odoo: &BTreeMap<String, (i64, String)>,
    merchants: &[u64],
    model: &Model,
) -> Vec<String> {
    let mut out = Vec::new();
    for m in merchants {
        let parents: std::collections::BTreeSet<&str> = model
            .stores
            .get(m)
            .into_iter()
            .flat_map(|s| s.products.values())
            .filter(|(_, p)| !p.variants.is_empty())
            .map(|(_, p)| p.sku.as_str())
            .collect();
        for (sku, have) in side.sandbox.quantities(*m) {
            if parents.contains(sku.as_str()) {
                continue;
            }
            if let Some((want, about)) = odoo.get(&sku)
                && *want != have
            {
                out.push(format!(
                    "merchant {m} SKU {sku}: Salla shows {have}, Odoo says {want} ({about})"
                ));
            }
        }
    }
    out
}

/// Orders whose Salla status is not the model's (`delivered` for the warehouse's deliveries).
pub fn status_mismatches(side: &SallaSide, model: &Model) -> Vec<String> {
    let mut out = Vec::new();
    for (merchant, store) in &model.stores {
        for (id, (_, o)) in &store.orders {
            let have = side.status(*merchant, *id);
            let want = match o.status {
                super::model::SHIPPED_IN_ODOO => "delivered",
                s => s,
            };
            if have.as_deref() != Some(want) {
                out.push(format!(
                    "merchant {merchant} order {id}: Salla says {have:?}, expected {want:?}"
                ));
            }
        }
    }
    out
}
