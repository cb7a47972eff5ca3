//! What every handler shares: the Odoo client with its probed capabilities, the id map, the store's options,
//! the record of Odoo ids touched, and small Odoo helpers (diffing, look-ups by marker).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use odoo::{Capabilities, Client, Domain, Id, Record, SearchOptions};
use salla_odoo_core::MerchantId;
use serde_json::{Map, Value, json};

use crate::error::{Res, permanent};
use crate::fetch::SallaFetch;
use crate::idmap::IdMap;
use crate::options::StoreOptions;

/// How long configuration ids (countries, service products) are kept on the client.
pub const CONFIG_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

const COUNTRY_KEY: &str = "country|";

/// How long a product found or made for a code is kept on the client for later orders (see
/// [`Engine::kept_product`]).
pub const PRODUCT_TTL: std::time::Duration = std::time::Duration::from_secs(600);

fn product_key(code: &str) -> String {
    format!("product_code|{code}")
}

pub(crate) struct Engine<'a, M: IdMap> {
    pub odoo: &'a Client,
    pub caps: Arc<Capabilities>,
    pub ids: &'a M,
    pub opts: &'a StoreOptions,
    /// Envelope `created_at` of the job (fallback source version).
    pub created_at: &'a str,
    touched: Mutex<BTreeMap<String, BTreeSet<Id>>>,
    /// The job's `sale.order` as last read or written ([`Engine::order_snapshot`]): its id and the
    /// fields the status steps need ([`Engine::snapshot_fields`]), so one read serves the look-up,
    /// the update and every step after it.
    order_snap: Mutex<Option<(Id, Record)>>,
    /// A partner's active delivery addresses, read or made with the partner in this job (taken by
    /// the order's delivery address look-up).
    pub addresses: Mutex<Option<(Id, crate::customer::KeptAddresses)>>,
    /// The delivery-address lock of a partner made in this job with its delivery child, held
    /// until its order is created ([`Engine::release_address_hold`]): no other address may join
    /// the child before Odoo picks it for the order (see `customer::ShipTo::LeftToOdoo`).
    pub address_hold: Mutex<Option<crate::idmap::Guard>>,
    /// The store's Salla API for fetch on demand ([`crate::fetch`]); `None`: the behaviour without
    /// the API, exactly.
    pub fetch: Option<&'a dyn SallaFetch>,
    /// The job is `order.refunded`: its order is refunded whatever its status says.
    pub refund_event: bool,
}

impl<'a, M: IdMap> Engine<'a, M> {
    pub async fn new(
        odoo: &'a Client,
        ids: &'a M,
        opts: &'a StoreOptions,
        created_at: &'a str,
    ) -> Res<Self> {
        let caps = odoo.capabilities().await?;
        Ok(Engine {
            odoo,
            caps,
            ids,
            opts,
            created_at,
            touched: Mutex::new(BTreeMap::new()),
            order_snap: Mutex::new(None),
            addresses: Mutex::new(None),
            address_hold: Mutex::new(None),
            fetch: None,
            refund_event: false,
        })
    }

    pub fn merchant(&self) -> MerchantId {
        self.opts.merchant
    }

    /// Notes an Odoo record this job created, changed or relied on (reported as `odoo_ids`).
    pub fn touch(&self, model: &str, id: Id) {
        self.touched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(model.to_owned())
            .or_default()
            .insert(id);
    }

    pub fn touched(&self) -> Value {
        let t = self.touched.lock().unwrap_or_else(|p| p.into_inner());
        Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), json!(v.iter().collect::<Vec<_>>())))
                .collect(),
        )
    }

    /// The id of the single record matching `domain` (archived included when the domain says so); several
    /// matches are a permanent error naming the marker, because guessing could merge two records.
    pub async fn find_one(&self, model: &str, domain: Domain, what: &str) -> Res<Option<Id>> {
        match self.odoo.lookup(model, &domain).await? {
            odoo::Lookup::None => Ok(None),
            odoo::Lookup::One(id) => Ok(Some(id)),
            odoo::Lookup::Several => Err(several(model, what)),
        }
    }

    /// The creation lock for a shared record (see [`IdMap::lock`]). Scoped to the Odoo database, not
    /// the store: several Salla stores may share one Odoo, and its products, categories and partners.
    pub async fn lock(&self, key: &str) -> Res<crate::idmap::Guard> {
        let scoped = format!("{}/{key}", self.odoo.scope());
        Ok(self.ids.lock(self.merchant(), &scoped).await?)
    }

    /// The creation counts of these codes' buckets in this Odoo database, read before an unlocked
    /// look-up of the codes (see `salla_odoo_store::creations`). `None` while they cannot be
    /// trusted: until the store's `order_intents_since` a rolling upgrade's older workers may make
    /// codes without counting them.
    pub async fn code_counts<'c>(
        &self,
        codes: impl IntoIterator<Item = &'c str>,
    ) -> Res<Option<BTreeMap<i32, crate::idmap::Counts>>> {
        let trusted = self
            .opts
            .order_intents_since
            .is_some_and(|since| since <= time::OffsetDateTime::now_utc());
        if !trusted {
            return Ok(None);
        }
        let buckets = code_buckets(codes);
        Ok(Some(
            self.ids
                .creation_counts(&self.odoo.scope(), &buckets)
                .await?,
        ))
    }

    /// The product kept on the client for `code` by an earlier order ([`Engine::keep_product`]),
    /// while it can be trusted: no connector has created or written a code of its bucket since
    /// it was kept (`counted`: its counts read now, before this order's look-up), and it is
    /// younger than [`PRODUCT_TTL`] (which bounds what a person changes in Odoo by hand).
    pub fn kept_product(
        &self,
        code: &str,
        counted: &BTreeMap<i32, crate::idmap::Counts>,
    ) -> Option<Id> {
        let kept = self.odoo.memo(&product_key(code))?;
        let (id, started) = (kept.get(0)?.as_i64()?, kept.get(1)?.as_i64()?);
        let now = counted.get(&salla_odoo_store::creations::bucket(code))?;
        (now.started == started).then_some(id)
    }

    /// Keeps `id` as the product of `code` for later orders, with the count of its bucket it is
    /// valid for: `counted` was read before the look-up that found it (`made`: before the create
    /// this job made, which counted once more). Not kept when a code of the bucket was in flight
    /// then: that call may have changed what the look-up saw.
    pub fn keep_product(
        &self,
        code: &str,
        id: Id,
        counted: &BTreeMap<i32, crate::idmap::Counts>,
        made: bool,
    ) {
        let Some(then) = counted.get(&salla_odoo_store::creations::bucket(code)) else {
            return;
        };
        if !then.settled() {
            return;
        }
        // Any other count than this one later means a code of the bucket was made or written
        // since (or, when `made`, that another call counted before this job's create).
        let started = then.started + i64::from(made);
        self.odoo
            .remember(&product_key(code), json!([id, started]), PRODUCT_TTL);
    }

    /// Forgets the product kept for `code`.
    pub fn forget_product(&self, code: &str) {
        self.odoo.forget(&product_key(code));
    }

    /// Whether none of `codes` can have become visible in Odoo since `before` was read (nothing of
    /// their buckets in flight then, nothing started since): a look-up made after `before` that
    /// did not find them needs no repeating under their creation locks, which the caller holds.
    pub async fn codes_unmade_since<'c>(
        &self,
        before: Option<&BTreeMap<i32, crate::idmap::Counts>>,
        codes: impl IntoIterator<Item = &'c str>,
    ) -> Res<bool> {
        let Some(before) = before else {
            return Ok(false);
        };
        let buckets = code_buckets(codes);
        if buckets.iter().any(|b| !before.contains_key(b)) {
            return Ok(false);
        }
        let now = self
            .ids
            .creation_counts(&self.odoo.scope(), &buckets)
            .await?;
        Ok(buckets.iter().all(|b| {
            let (then, now) = (before[b], now.get(b).copied().unwrap_or_default());
            then.settled() && now.started == then.started
        }))
    }

    /// Runs `call`, an Odoo create or write that gives products these `codes`, counted as started
    /// before it and as finished once Odoo answered (not when the outcome is unknown: see
    /// `salla_odoo_store::creations`). The caller holds the codes' creation locks.
    pub async fn making_codes<'c, T, F>(
        &self,
        codes: impl IntoIterator<Item = &'c str>,
        call: F,
    ) -> Res<T>
    where
        F: std::future::Future<Output = odoo::Result<T>>,
    {
        let buckets = code_buckets(codes);
        let scope = self.odoo.scope();
        self.ids.count_creations(&scope, &buckets, false).await?;
        let result = call.await;
        let answered = match &result {
            Ok(_) => true,
            Err(e) => !e.is_outcome_unknown(),
        };
        if answered {
            // Not finished: the bucket looks in flight, which costs look-ups, never a duplicate.
            if let Err(e) = self.ids.count_creations(&scope, &buckets, true).await {
                tracing::warn!(error = %e, "creation not counted as finished");
            }
        }
        Ok(result?)
    }

    /// Releases [`Engine::address_hold`] (dropped with the job otherwise, which frees it too).
    pub async fn release_address_hold(&self) {
        let hold = self
            .address_hold
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(guard) = hold {
            guard.release().await;
        }
    }

    /// `res.country` by ISO code (e.g. `SA`), kept on the client (countries are configuration: a
    /// customer and its address, and every order after them, share a few). A kept id that turns
    /// out missing is forgotten ([`Engine::forget_countries`]) so the retry asks again.
    pub async fn country_id(&self, code: Option<&str>) -> Res<Option<Id>> {
        let Some(code) = code.map(str::trim).filter(|c| c.len() == 2) else {
            return Ok(None);
        };
        let code = code.to_ascii_uppercase();
        let key = format!("{COUNTRY_KEY}{code}");
        let found = self
            .odoo
            .memo_fill(&key, CONFIG_TTL, || async {
                let ids = self
                    .odoo
                    .search(
                        "res.country",
                        &Domain::new().eq("code", code.as_str()),
                        &SearchOptions::limit(1),
                    )
                    .await?;
                // An unknown code is not kept: an administrator may add (or activate) the country.
                Ok::<_, odoo::Error>(ids.first().map(|id| json!(id)))
            })
            .await?;
        Ok(found.and_then(|v| v.as_i64()))
    }

    /// Forgets the kept country ids (a write naming one failed: it may no longer exist).
    pub fn forget_countries(&self, codes: &[Option<&str>]) {
        for code in codes.iter().flatten() {
            self.odoo.forget(&format!(
                "{COUNTRY_KEY}{}",
                code.trim().to_ascii_uppercase()
            ));
        }
    }

    /// The fields of the job's `sale.order` the status steps need: state (and `locked`), its
    /// deliveries and its invoices.
    pub fn snapshot_fields(&self) -> Vec<&'static str> {
        let mut f = vec!["state", "picking_ids", "invoice_ids"];
        if self.caps.sale_order_locked {
            f.push("locked");
        }
        f
    }

    /// The job's `sale.order` `id` as last read or written in this job, or read now (`None`: it
    /// does not exist), with at least [`Engine::snapshot_fields`].
    pub async fn order_snapshot(&self, id: Id) -> Res<Option<Record>> {
        if let Some(rec) = self.cached_order(id) {
            return Ok(Some(rec));
        }
        let rec = self.read("sale.order", id, &self.snapshot_fields()).await?;
        if let Some(r) = &rec {
            self.keep_order(id, r.clone());
        }
        Ok(rec)
    }

    /// The job's `sale.order` as kept, if it is `id`.
    pub fn cached_order(&self, id: Id) -> Option<Record> {
        match &*self.order_snap.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((i, r)) if *i == id => Some(r.clone()),
            _ => None,
        }
    }

    /// The job's `sale.order` id as kept, if any.
    pub fn kept_order_id(&self) -> Option<Id> {
        self.order_snap
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(i, _)| *i)
    }

    /// Keeps what is known of the job's `sale.order` (fields merged over what was kept of it).
    pub fn keep_order(&self, id: Id, rec: Record) {
        let mut snap = self.order_snap.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *snap {
            Some((i, kept)) if *i == id => kept.extend(rec),
            other => *other = Some((id, rec)),
        }
    }

    /// Forgets what was kept of the job's `sale.order` (after a step whose effect is not known).
    pub fn forget_order(&self) {
        *self.order_snap.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Reads one record; `None` if it no longer exists.
    pub async fn read(&self, model: &str, id: Id, fields: &[&str]) -> Res<Option<Record>> {
        Ok(self.odoo.read_one(model, id, fields).await?)
    }

    /// Writes only the fields whose value differs from `current`: `true` when something was written.
    pub async fn write_diff(
        &self,
        model: &str,
        id: Id,
        current: &Record,
        desired: &Map<String, Value>,
    ) -> Res<bool> {
        let changes = diff(current, desired);
        if changes.is_empty() {
            return Ok(false);
        }
        self.odoo.write(model, &[id], changes).await?;
        Ok(true)
    }

    /// The stock location of the store's warehouse (default: Odoo's first warehouse).
    pub async fn stock_location(&self) -> Res<Id> {
        match self.opts.warehouse_id {
            Some(wh) => {
                let rec = self
                    .read("stock.warehouse", wh, &["lot_stock_id"])
                    .await?
                    .ok_or_else(|| {
                        permanent(format!(
                            "the store's warehouse {wh} does not exist in Odoo; fix the store settings"
                        ))
                    })?;
                rec.get("lot_stock_id")
                    .and_then(odoo::many2one_id)
                    .ok_or_else(|| permanent(format!("warehouse {wh} has no stock location")))
            }
            None => Ok(self.odoo.default_stock_location().await?),
        }
    }
}

/// The fields of `desired` whose values differ from `current` (as `read` returns them). Many2one values
/// compare by id, floats to 1e-6, and `false`/`null`/`""` are all "empty". x2many values are compared as
/// sets of ids only for SET commands (`[[6, 0, ids]]`); other commands always count as changes.
pub fn diff(current: &Record, desired: &Map<String, Value>) -> Map<String, Value> {
    desired
        .iter()
        .filter(|(k, v)| !same_value(current.get(k.as_str()).unwrap_or(&Value::Null), v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Several `model` records carry one marker (`what`): a permanent error, because guessing could
/// merge two records.
pub(crate) fn several(model: &str, what: &str) -> crate::error::Fail {
    permanent(format!(
        "several {model} records match {what}; merge them in Odoo, then replay"
    ))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Whether a value read from Odoo equals a value to write.
pub fn same_value(current: &Value, desired: &Value) -> bool {
    match (current, desired) {
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() < 1e-6,
            _ => a == b,
        },
        // many2one read as [id, "name"]
        (Value::Array(a), Value::Number(b)) if a.len() == 2 && a[1].is_string() => {
            a[0].as_i64() == b.as_i64()
        }
        // x2many SET command against the ids read
        (Value::Array(ids), Value::Array(cmds))
            if cmds.len() == 1 && cmds[0].get(0).and_then(Value::as_i64) == Some(6) =>
        {
            let want: BTreeSet<i64> = cmds[0]
                .get(2)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            let have: BTreeSet<i64> = ids.iter().filter_map(Value::as_i64).collect();
            want == have
        }
        (a, b) if is_empty(a) && is_empty(b) => true,
        (Value::String(a), Value::String(b)) => a == b,
        _ => false,
    }
}

/// `"salla:<merchant>:<id>"`: the deterministic marker written on records this connector creates, looked up
/// before every create that has no id-map row.
pub fn marker(merchant: MerchantId, salla_id: u64) -> String {
    format!("salla:{merchant}:{salla_id}")
}

/// Rounds to cents for Odoo floats (never formatted through `f64` arithmetic before rounding).
pub fn money(d: rust_decimal::Decimal) -> Value {
    use rust_decimal::prelude::ToPrimitive;
    json!(round2(d).to_f64().unwrap_or_default())
}

/// Half away from zero, to cents (Odoo's rounding of monetary values).
pub fn round2(d: rust_decimal::Decimal) -> rust_decimal::Decimal {
    d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// The distinct buckets of these codes (`salla_odoo_store::creations::bucket`).
fn code_buckets<'c>(codes: impl IntoIterator<Item = &'c str>) -> Vec<i32> {
    codes
        .into_iter()
        .map(salla_odoo_store::creations::bucket)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_ignores_equal_values_in_their_read_shapes() {
        let current: Record = serde_json::from_value(json!({
            "name": "A", "email": false, "country_id": [192, "Saudi Arabia"], "list_price": 25.0,
            "taxes_id": [3, 1], "active": true
        }))
        .unwrap();
        let desired: Map<String, Value> = serde_json::from_value(json!({
            "name": "A", "email": "", "country_id": 192, "list_price": 25, "taxes_id": [[6, 0, [1, 3]]],
            "active": true
        }))
        .unwrap();
        assert!(diff(&current, &desired).is_empty());
        let desired2: Map<String, Value> = serde_json::from_value(json!({
            "name": "B", "country_id": 2, "list_price": 25.01, "taxes_id": [[6, 0, [1]]], "active": false,
            "email": "x@y"
        }))
        .unwrap();
        let d = diff(&current, &desired2);
        assert_eq!(d.len(), 6, "{d:?}");
    }

    #[test]
    fn markers_and_money() {
        assert_eq!(marker(MerchantId::new(7), 42), "salla:7:42");
        assert_eq!(money("186.004".parse().unwrap()), json!(186.0));
        assert_eq!(money("2.675".parse().unwrap()), json!(2.68));
        assert_eq!(money("2.665".parse().unwrap()), json!(2.67));
    }
}
