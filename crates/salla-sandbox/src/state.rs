//! The sandbox's data, all in memory behind one mutex.
//!
//! - **Merchants** (keyed by the store id, a `u64`) are created on first use by any seeding or
//!   `authorize` call. Each holds its orders, products, customers and branches as the JSON
//!   objects the Admin API returns (keyed by id), the status history of its orders (only the
//!   entries posted through `POST /orders/{id}/status`; seeding adds none), the log of bulk
//!   stock updates (queued and applied), its `uninstalled` flag, an optional plan limit, and two
//!   rate-limit windows (plan, customers).
//! - **Token chains.** `authorize` starts a chain: an access token plus a refresh token. A
//!   refresh marks the refresh token used, retires the access token issued with it, and adds a
//!   new pair to the same chain. Presenting a used refresh token again revokes the whole chain
//!   (every access and refresh token in it). `uninstall` revokes every chain of the merchant;
//!   a later `authorize` starts a fresh one (older chains are not touched by `authorize`).
//!   Tokens are never deleted, so a revoked token is told apart from an unknown one only in the
//!   inspection API; both answer `invalid_grant` / "The access token is invalid".
//! - **Rate limits** are fixed windows per merchant: a window opens with the first request after
//!   the previous one ended and lasts [`crate::Options::rate_window`] (60 s); the customers
//!   window lasts [`crate::Options::customers_window`] (10 min). Anchoring the window at the
//!   first request (rather than at the clock minute) keeps short tests away from a reset.
//! - **Stock updates** are validated and resolved to their targets (product or variant) when
//!   posted, then applied by the server's stock worker after the configured delay, in the order
//!   they were posted. Only applied quantities are visible (Admin API and inspection).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::util::{self, as_text, as_u64};

/// Number of the first status-history entry (ids beyond 2^32, as Salla's are).
const FIRST_HISTORY_ID: u64 = 5_000_000_001;

/// The id of the branch every merchant has until branches are seeded.
pub const DEFAULT_BRANCH_ID: u64 = 1_000_000_001;

#[derive(Debug, Default)]
pub(crate) struct State {
    pub merchants: BTreeMap<u64, Merchant>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    /// Indexed by chain id.
    chains: Vec<Chain>,
    next_history_id: u64,
    next_stock_update_id: u64,
    /// Successful refreshes.
    pub refreshes: u64,
    /// Refresh attempts answered with an OAuth error.
    pub refresh_failures: u64,
}

#[derive(Debug)]
struct Chain {
    merchant: u64,
    revoked: bool,
}

#[derive(Debug)]
struct AccessToken {
    merchant: u64,
    chain: usize,
    scope: String,
    expires_at: OffsetDateTime,
    /// Replaced by a refresh.
    retired: bool,
}

#[derive(Debug)]
struct RefreshToken {
    merchant: u64,
    chain: usize,
    scope: String,
    used: bool,
    /// The access token issued together with this refresh token.
    access: String,
}

/// A fixed rate-limit window.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Window {
    start: f64,
    count: u32,
}

/// What the rate limiter says about one request (the `X-RateLimit-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// UTC epoch seconds at which the window ends.
    pub reset: u64,
    /// Set when the request is refused (429).
    pub retry_after: Option<u64>,
}

impl Window {
    /// The window's state at `now` (a window that ended is reopened empty).
    fn status(&mut self, limit: u32, len: f64, now: f64) -> RateInfo {
        if self.count == 0 || now >= self.start + len {
            self.start = now;
            self.count = 0;
        }
        let end = self.start + len;
        let remaining = limit.saturating_sub(self.count);
        RateInfo {
            limit,
            remaining,
            reset: end.ceil() as u64,
            retry_after: (remaining == 0).then(|| ((end - now).ceil() as u64).max(1)),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Merchant {
    pub orders: BTreeMap<u64, Value>,
    pub products: BTreeMap<u64, Value>,
    pub customers: BTreeMap<u64, Value>,
    pub branches: BTreeMap<u64, Value>,
    /// Order id → status-history entries, oldest first.
    pub history: BTreeMap<u64, Vec<Value>>,
    /// Bulk stock updates, oldest first.
    pub stock_updates: Vec<Value>,
    pub uninstalled: bool,
    /// Requests per minute; `None`: the sandbox default.
    pub plan_per_min: Option<u32>,
    plan_window: Window,
    customers_window: Window,
}

/// Limits for one rate check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub plan: u32,
    pub plan_window_secs: f64,
    pub customers: u32,
    pub customers_window_secs: f64,
}

impl Merchant {
    /// Count one request against the plan window (and the customers window for customer
    /// endpoints). `Err` when a window is full; then nothing is counted.
    pub fn take_rate(
        &mut self,
        customers: bool,
        limits: Limits,
        now: f64,
    ) -> Result<RateInfo, RateInfo> {
        let plan_limit = self.plan_per_min.unwrap_or(limits.plan);
        let plan = self
            .plan_window
            .status(plan_limit, limits.plan_window_secs, now);
        if plan.retry_after.is_some() {
            return Err(plan);
        }
        let cust = if customers {
            let c =
                self.customers_window
                    .status(limits.customers, limits.customers_window_secs, now);
            if c.retry_after.is_some() {
                return Err(c);
            }
            Some(c)
        } else {
            None
        };
        self.plan_window.count += 1;
        if customers {
            self.customers_window.count += 1;
        }
        let mut shown = cust.unwrap_or(plan);
        shown.remaining -= 1;
        Ok(shown)
    }

    /// The branches: the seeded ones, or the default branch while none is seeded.
    pub fn branch_list(&self) -> Vec<Value> {
        if self.branches.is_empty() {
            vec![default_branch()]
        } else {
            self.branches.values().cloned().collect()
        }
    }

    /// The product (and variant) a SKU names: a product's own `sku` first, then `skus[].sku`.
    pub fn find_sku(&self, sku: &str) -> Option<Target> {
        if sku.is_empty() {
            return None;
        }
        for (id, p) in &self.products {
            if p.get("sku").and_then(Value::as_str) == Some(sku) {
                return Some(Target::Product(*id));
            }
        }
        for (id, p) in &self.products {
            for v in variants(p) {
                if v.get("sku").and_then(Value::as_str) == Some(sku)
                    && let Some(vid) = as_u64(v.get("id"))
                {
                    return Some(Target::Variant {
                        product: *id,
                        variant: vid,
                    });
                }
            }
        }
        None
    }

    /// The product holding variant `variant`.
    pub fn find_variant(&self, variant: u64) -> Option<(u64, &Value)> {
        self.products.iter().find_map(|(id, p)| {
            variants(p)
                .iter()
                .find(|v| as_u64(v.get("id")) == Some(variant))
                .map(|v| (*id, v))
        })
    }

    /// Every shipment of the merchant's orders, with `order_id`/`order_reference_id` filled in.
    pub fn shipments(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for (oid, o) in &self.orders {
            let Some(Value::Array(list)) = o.get("shipments") else {
                continue;
            };
            for s in list {
                let mut s = s.clone();
                if let Some(obj) = s.as_object_mut() {
                    obj.entry("order_id").or_insert(json!(oid));
                    if let Some(r) = o.get("reference_id") {
                        obj.entry("order_reference_id").or_insert(r.clone());
                    }
                }
                out.push(s);
            }
        }
        out
    }

    /// `{sku: quantity}` for products and variants with a SKU and an integer quantity.
    pub fn quantities(&self) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for p in self.products.values() {
            if let (Some(sku), Some(q)) = (
                p.get("sku")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty()),
                p.get("quantity").and_then(Value::as_i64),
            ) {
                out.insert(sku.to_owned(), q);
            }
            for v in variants(p) {
                if let (Some(sku), Some(q)) = (
                    v.get("sku")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty()),
                    v.get("stock_quantity").and_then(Value::as_i64),
                ) {
                    out.insert(sku.to_owned(), q);
                }
            }
        }
        out
    }
}

/// The `skus[]` of a product (its variants).
pub(crate) fn variants(product: &Value) -> &[Value] {
    product
        .get("skus")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn default_branch() -> Value {
    json!({
        "id": DEFAULT_BRANCH_ID,
        "name": "الفرع الرئيسي",
        "status": "active",
        "type": "branch",
        "is_default": true,
        "is_cod_available": true,
        "city": null,
        "address_description": "",
    })
}

/// What a stock update changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Product(u64),
    Variant { product: u64, variant: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Overwrite,
    Increment,
    Decrement,
}

#[derive(Debug, Clone)]
pub(crate) struct StockOp {
    pub target: Target,
    pub quantity: i64,
    pub mode: Mode,
    pub unlimited: Option<bool>,
}

/// A validated bulk update waiting for its delay.
#[derive(Debug)]
pub(crate) struct StockJob {
    pub merchant: u64,
    pub update_id: u64,
    pub ops: Vec<StockOp>,
    pub due: tokio::time::Instant,
}

/// What seeding stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Order,
    Product,
    Customer,
    Branch,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Order => "order",
            Kind::Product => "product",
            Kind::Customer => "customer",
            Kind::Branch => "branch",
        }
    }
}

/// Tokens handed out by `authorize` or a refresh.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: OffsetDateTime,
    pub scope: String,
}

/// Why a refresh failed (both answer `invalid_grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshError {
    /// Unknown token, revoked chain, or uninstalled merchant.
    Invalid,
    /// The token was already used: the chain is now revoked.
    Reused,
}

impl State {
    pub fn new() -> State {
        State {
            next_history_id: FIRST_HISTORY_ID,
            next_stock_update_id: 1,
            ..State::default()
        }
    }

    pub fn merchant(&mut self, id: u64) -> &mut Merchant {
        self.merchants.entry(id).or_default()
    }

    fn issue(
        &mut self,
        merchant: u64,
        chain: usize,
        scope: &str,
        lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Issued {
        let access = util::random_token("ory_at_");
        let refresh = util::random_token("ory_rt_");
        let expires_at = now + lifetime;
        self.access.insert(
            access.clone(),
            AccessToken {
                merchant,
                chain,
                scope: scope.to_owned(),
                expires_at,
                retired: false,
            },
        );
        self.refresh.insert(
            refresh.clone(),
            RefreshToken {
                merchant,
                chain,
                scope: scope.to_owned(),
                used: false,
                access: access.clone(),
            },
        );
        Issued {
            access_token: access,
            refresh_token: refresh,
            expires_at,
            scope: scope.to_owned(),
        }
    }

    /// Install (or reinstall): clear `uninstalled`, start a new token chain.
    pub fn authorize(
        &mut self,
        merchant: u64,
        scope: &str,
        plan_per_min: Option<u32>,
        lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Issued {
        let m = self.merchant(merchant);
        m.uninstalled = false;
        if plan_per_min.is_some() {
            m.plan_per_min = plan_per_min;
        }
        self.chains.push(Chain {
            merchant,
            revoked: false,
        });
        let chain = self.chains.len() - 1;
        self.issue(merchant, chain, scope, lifetime, now)
    }

    /// Uninstall: every token of the merchant stops working.
    pub fn uninstall(&mut self, merchant: u64) {
        self.merchant(merchant).uninstalled = true;
        for c in self.chains.iter_mut().filter(|c| c.merchant == merchant) {
            c.revoked = true;
        }
    }

    /// Every current access token of the merchant expires now.
    pub fn expire_tokens(&mut self, merchant: u64, now: OffsetDateTime) -> usize {
        let mut n = 0;
        for t in self.access.values_mut().filter(|t| t.merchant == merchant) {
            if t.expires_at > now {
                t.expires_at = now;
                n += 1;
            }
        }
        n
    }

    /// The merchant of a refresh token (for fault matching), whatever its state.
    pub fn refresh_owner(&self, token: &str) -> Option<u64> {
        self.refresh.get(token).map(|t| t.merchant)
    }

    /// The merchant of an access token (for fault matching), whatever its state.
    pub fn access_owner(&self, token: &str) -> Option<u64> {
        self.access.get(token).map(|t| t.merchant)
    }

    /// Rotate a refresh token (single use; reuse revokes the chain).
    pub fn refresh(
        &mut self,
        token: &str,
        lifetime: time::Duration,
        now: OffsetDateTime,
    ) -> Result<(u64, Issued), RefreshError> {
        let Some(rt) = self.refresh.get(token) else {
            return Err(RefreshError::Invalid);
        };
        let (merchant, chain, used) = (rt.merchant, rt.chain, rt.used);
        let scope = rt.scope.clone();
        let old_access = rt.access.clone();
        let uninstalled = self.merchants.get(&merchant).is_none_or(|m| m.uninstalled);
        if uninstalled || self.chains[chain].revoked {
            return Err(RefreshError::Invalid);
        }
        if used {
            self.chains[chain].revoked = true;
            return Err(RefreshError::Reused);
        }
        if let Some(rt) = self.refresh.get_mut(token) {
            rt.used = true;
        }
        if let Some(at) = self.access.get_mut(&old_access) {
            at.retired = true;
        }
        Ok((merchant, self.issue(merchant, chain, &scope, lifetime, now)))
    }

    /// The merchant and scope of a working access token.
    pub fn authenticate(&self, token: &str, now: OffsetDateTime) -> Option<(u64, String)> {
        let t = self.access.get(token)?;
        let ok = !t.retired
            && t.expires_at > now
            && !self.chains[t.chain].revoked
            && self
                .merchants
                .get(&t.merchant)
                .is_some_and(|m| !m.uninstalled);
        ok.then(|| (t.merchant, t.scope.clone()))
    }

    /// Every token of the merchant, for the inspection API.
    pub fn tokens(&self, merchant: u64, now: OffsetDateTime) -> Vec<Value> {
        let mut out: Vec<(usize, OffsetDateTime, Value)> = Vec::new();
        for (rt_token, rt) in self.refresh.iter().filter(|(_, t)| t.merchant == merchant) {
            let at = self.access.get(&rt.access);
            let revoked = self.chains[rt.chain].revoked;
            let expires_at = at.map_or(now, |a| a.expires_at);
            out.push((
                rt.chain,
                expires_at,
                json!({
                    "chain": rt.chain,
                    "access_token": rt.access,
                    "refresh_token": rt_token,
                    "scope": rt.scope,
                    "expires": expires_at.unix_timestamp(),
                    "access_valid": self.authenticate(&rt.access, now).is_some(),
                    "refresh_used": rt.used,
                    "revoked": revoked,
                }),
            ));
        }
        out.sort_by_key(|a| (a.0, a.1));
        out.into_iter().map(|(_, _, v)| v).collect()
    }

    /// Upsert one object or an array of objects; all or nothing. Returns the ids.
    pub fn seed(
        &mut self,
        merchant: u64,
        kind: Kind,
        body: Value,
        now: OffsetDateTime,
    ) -> Result<Vec<u64>, String> {
        let items = match body {
            Value::Array(a) => a,
            v @ Value::Object(_) => vec![v],
            _ => return Err(format!("expected a {} object or an array", kind.name())),
        };
        let mut ready = Vec::with_capacity(items.len());
        for (i, mut v) in items.into_iter().enumerate() {
            if !v.is_object() {
                return Err(format!("item {i}: expected a {} object", kind.name()));
            }
            util::number_id(&mut v, "id");
            let Some(id) = v.get("id").and_then(Value::as_u64) else {
                return Err(format!(
                    "item {i}: \"id\" (a number or a numeric string) is required"
                ));
            };
            match kind {
                Kind::Order => {
                    util::number_ids_in(&mut v, "items");
                    util::number_ids_in(&mut v, "shipments");
                    if let Some(c) = v.get_mut("customer") {
                        util::number_id(c, "id");
                    }
                    if v.get("updated_at").is_none_or(Value::is_null) {
                        v["updated_at"] = util::salla_date(now);
                    }
                }
                Kind::Product => util::number_ids_in(&mut v, "skus"),
                Kind::Customer | Kind::Branch => {}
            }
            ready.push((id, v));
        }
        let m = self.merchant(merchant);
        let table = match kind {
            Kind::Order => &mut m.orders,
            Kind::Product => &mut m.products,
            Kind::Customer => &mut m.customers,
            Kind::Branch => &mut m.branches,
        };
        let ids = ready.iter().map(|(id, _)| *id).collect();
        table.extend(ready);
        Ok(ids)
    }

    /// Change an order's status, bump `updated_at`, append a history entry.
    pub fn set_order_status(
        &mut self,
        merchant: u64,
        order: u64,
        status: &crate::statuses::StatusDef,
        note: Option<String>,
        now: OffsetDateTime,
    ) -> bool {
        let id = self.next_history_id;
        let m = self.merchant(merchant);
        let Some(o) = m.orders.get_mut(&order) else {
            return false;
        };
        o["status"] = json!({
            "id": status.id,
            "name": status.name,
            "slug": status.slug,
            "customized": null,
        });
        bump_updated_at(o, now, true);
        m.history.entry(order).or_default().push(json!({
            "id": id,
            "order_id": order,
            "slug": status.slug,
            "status_id": status.id,
            "status": status.name,
            "note": note,
            "created_at": util::salla_date(now),
        }));
        self.next_history_id += 1;
        true
    }

    /// Log a queued bulk update; returns its id.
    pub fn log_stock_update(&mut self, merchant: u64, entries: Value, now: OffsetDateTime) -> u64 {
        let id = self.next_stock_update_id;
        self.next_stock_update_id += 1;
        self.merchant(merchant).stock_updates.push(json!({
            "id": id,
            "queued_at": util::rfc3339(now),
            "applied_at": null,
            "products": entries,
        }));
        id
    }

    /// Apply a bulk update whose delay has passed.
    pub fn apply_stock(&mut self, job: &StockJob, now: OffsetDateTime) {
        let m = self.merchant(job.merchant);
        for op in &job.ops {
            match op.target {
                Target::Product(pid) => {
                    let Some(p) = m.products.get_mut(&pid) else {
                        continue;
                    };
                    let cur = p.get("quantity").and_then(Value::as_i64).unwrap_or(0);
                    p["quantity"] = json!(next_quantity(cur, op));
                    if let Some(u) = op.unlimited {
                        p["unlimited_quantity"] = json!(u);
                    }
                    bump_updated_at(p, now, false);
                }
                Target::Variant { product, variant } => {
                    let Some(p) = m.products.get_mut(&product) else {
                        continue;
                    };
                    let Some(Value::Array(skus)) = p.get_mut("skus") else {
                        continue;
                    };
                    let Some(v) = skus
                        .iter_mut()
                        .find(|v| as_u64(v.get("id")) == Some(variant))
                    else {
                        continue;
                    };
                    let cur = v.get("stock_quantity").and_then(Value::as_i64).unwrap_or(0);
                    v["stock_quantity"] = json!(next_quantity(cur, op));
                    if let Some(u) = op.unlimited {
                        v["unlimited_quantity"] = json!(u);
                    }
                    // The product's quantity is the sum of its variants'.
                    let total: i64 = skus
                        .iter()
                        .filter_map(|v| v.get("stock_quantity").and_then(Value::as_i64))
                        .sum();
                    p["quantity"] = json!(total);
                    bump_updated_at(p, now, false);
                }
            }
        }
        if let Some(u) = m
            .stock_updates
            .iter_mut()
            .find(|u| u.get("id").and_then(Value::as_u64) == Some(job.update_id))
        {
            u["applied_at"] = json!(util::rfc3339(now));
        }
    }
}

fn next_quantity(cur: i64, op: &StockOp) -> i64 {
    match op.mode {
        Mode::Overwrite => op.quantity,
        Mode::Increment => cur.saturating_add(op.quantity),
        Mode::Decrement => cur.saturating_sub(op.quantity).max(0),
    }
}

/// Set `updated_at` to now, keeping the seed's shape (a plain string stays a string). Without
/// one, orders get the date object and products the plain string (as Salla's examples show).
fn bump_updated_at(obj: &mut Value, now: OffsetDateTime, object_by_default: bool) {
    let as_string = match obj.get("updated_at") {
        Some(Value::String(_)) => true,
        Some(Value::Object(_)) => false,
        _ => !object_by_default,
    };
    obj["updated_at"] = if as_string {
        json!(util::plain_string(now))
    } else {
        util::salla_date(now)
    };
}

/// The summary `GET /orders` lists for an order.
pub(crate) fn order_summary(o: &Value) -> Value {
    let mut s = Map::new();
    for k in [
        "id",
        "reference_id",
        "date",
        "updated_at",
        "status",
        "payment_method",
        "currency",
        "source",
        "source_device",
        "can_cancel",
        "is_pending_payment",
        "urls",
    ] {
        if let Some(v) = o.get(k) {
            s.insert(k.to_owned(), v.clone());
        }
    }
    let total = o
        .get("amounts")
        .and_then(|a| a.get("total"))
        .cloned()
        .or_else(|| o.get("total").cloned())
        .unwrap_or(Value::Null);
    s.insert("total".into(), total.clone());
    s.insert("amounts".into(), json!({ "total": total }));
    if let Some(c) = o.get("customer").and_then(Value::as_object) {
        let mut cs = Map::new();
        for k in [
            "id",
            "first_name",
            "last_name",
            "full_name",
            "mobile",
            "mobile_code",
            "email",
            "avatar",
            "city",
            "country",
        ] {
            if let Some(v) = c.get(k) {
                cs.insert(k.to_owned(), v.clone());
            }
        }
        s.insert("customer".into(), Value::Object(cs));
    }
    if let Some(Value::Array(items)) = o.get("items") {
        let list: Vec<Value> = items
            .iter()
            .map(|it| {
                json!({
                    "name": it.get("name").cloned().unwrap_or(Value::Null),
                    "quantity": it.get("quantity").cloned().unwrap_or(Value::Null),
                    "thumbnail": it
                        .get("product")
                        .and_then(|p| p.get("thumbnail"))
                        .cloned()
                        .unwrap_or(Value::Null),
                })
            })
            .collect();
        s.insert("items".into(), Value::Array(list));
    }
    Value::Object(s)
}

/// `?format=light`: no items, shipments, pickup branch or customer groups.
pub(crate) fn light_order(o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(obj) = o.as_object_mut() {
        obj.remove("items");
        obj.remove("shipments");
        obj.remove("pickup_branch");
        if let Some(c) = obj.get_mut("customer").and_then(Value::as_object_mut) {
            c.remove("groups");
        }
    }
    o
}

/// Whether `text` contains `needle`, case-insensitively.
pub(crate) fn contains_ci(text: &str, needle_lower: &str) -> bool {
    text.to_lowercase().contains(needle_lower)
}

/// A customer's searchable texts: names, email, mobile with and without its code.
pub(crate) fn customer_texts(c: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let first = c.get("first_name").and_then(Value::as_str).unwrap_or("");
    let last = c.get("last_name").and_then(Value::as_str).unwrap_or("");
    out.push(format!("{first} {last}"));
    for k in ["full_name", "email"] {
        if let Some(s) = c.get(k).and_then(Value::as_str) {
            out.push(s.to_owned());
        }
    }
    if let Some(mobile) = as_text(c.get("mobile")) {
        let code = c.get("mobile_code").and_then(Value::as_str).unwrap_or("");
        out.push(format!("{code}{mobile}"));
        out.push(mobile);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_fixed_and_anchored() {
        let mut w = Window::default();
        assert_eq!(w.status(2, 60.0, 100.0).remaining, 2);
        w.count = 2;
        let full = w.status(2, 60.0, 130.0);
        assert_eq!(full.remaining, 0);
        assert_eq!(full.retry_after, Some(30));
        assert_eq!(full.reset, 160);
        assert_eq!(w.status(2, 60.0, 160.0).remaining, 2);
    }

    #[test]
    fn refresh_chain() {
        let mut s = State::new();
        let now = util::now();
        let life = time::Duration::hours(1);
        let a = s.authorize(1, "orders.read", None, life, now);
        let (_, b) = s.refresh(&a.refresh_token, life, now).unwrap();
        assert!(s.authenticate(&a.access_token, now).is_none());
        assert!(s.authenticate(&b.access_token, now).is_some());
        assert_eq!(
            s.refresh(&a.refresh_token, life, now).unwrap_err(),
            RefreshError::Reused
        );
        assert!(s.authenticate(&b.access_token, now).is_none());
        assert_eq!(
            s.refresh(&b.refresh_token, life, now).unwrap_err(),
            RefreshError::Invalid
        );
    }
}
