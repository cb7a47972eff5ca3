//! A sandbox that costs what Odoo costs (`--cost-model FILE|odoo18-small`, `--capacity N`).
//!
//! A small Odoo answers one heavy call at a time (threaded mode runs Python under one lock) and
//! spends hundreds of milliseconds on `sale.order.create`, `action_confirm`, validation, invoicing
//! and posting. With a cost model each call holds one of `capacity` slots (default 1, like a
//! threaded Odoo; more like `--workers N`) for its service time; calls beyond the capacity wait in
//! line (FIFO: tokio's semaphore is fair). The service time of `model.method` is uniform in the
//! table's `[min, max]` (a fixed-seed generator, so runs are repeatable), `default_ms` for calls
//! the table does not name. One effect besides: creating a product clears Odoo's caches, after
//! which the next call of every client that authenticates with an API key pays
//! `api_key_recheck_ms` more (Odoo checks the password hash again before the key).
//!
//! # State
//! The slots (a semaphore), the generator, the set of API keys that have called since the last
//! cache clear, and the counters behind `GET /_sandbox/stats`: busy time (the sum of service times:
//! with capacity 1, the time Odoo was busy), time spent waiting in line, and calls and busy time
//! per `model.method`. Nothing here survives a restart.
//!
//! The table lives in a file so it can be measured again: `cost-models/odoo18-small.json`
//! (built in), measured on a real Odoo 18 on a 2-core machine with one client.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The built-in table (`--cost-model odoo18-small`).
pub const ODOO18_SMALL: &str = include_str!("../cost-models/odoo18-small.json");

/// A cost table, as its JSON file spells it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostModel {
    /// What it was measured on (informational).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub measured_on: String,
    /// Concurrent calls (overridden by `--capacity`).
    #[serde(default = "one")]
    pub capacity: usize,
    /// `[min, max]` milliseconds for calls the table does not name.
    pub default_ms: [u64; 2],
    /// `[min, max]` milliseconds per `model.method` (`common.authenticate` for the login).
    pub calls: BTreeMap<String, [u64; 2]>,
    /// `[min, max]` added to the next call of each API-key client after a product is created.
    #[serde(default)]
    pub api_key_recheck_ms: [u64; 2],
}

fn one() -> usize {
    1
}

impl CostModel {
    /// `odoo18-small`, or a JSON file.
    pub fn load(spec: &str) -> Result<CostModel, String> {
        let text = match spec {
            "odoo18-small" => ODOO18_SMALL.to_owned(),
            path => std::fs::read_to_string(path)
                .map_err(|e| format!("cost model {path:?}: {e} (or use odoo18-small)"))?,
        };
        let model: CostModel =
            serde_json::from_str(&text).map_err(|e| format!("cost model {spec:?}: {e}"))?;
        if model.capacity == 0 {
            return Err(format!("cost model {spec:?}: capacity must be at least 1"));
        }
        Ok(model)
    }

    fn range(&self, key: &str) -> [u64; 2] {
        self.calls.get(key).copied().unwrap_or(self.default_ms)
    }
}

#[derive(Default)]
struct Counters {
    rng: u64,
    /// API keys that called since the last cache clear (they pay nothing more).
    warm: HashSet<String>,
    busy: Duration,
    waited: Duration,
    calls: u64,
    by_call: BTreeMap<String, (u64, Duration)>,
    cache_clears: u64,
}

/// A cost model at work in one sandbox.
pub struct Cost {
    model: CostModel,
    slots: std::sync::Arc<Semaphore>,
    counters: Mutex<Counters>,
}

/// A call's slot, held while it runs.
pub struct Served {
    _permit: OwnedSemaphorePermit,
}

impl Cost {
    pub fn new(model: CostModel) -> Cost {
        Cost {
            slots: std::sync::Arc::new(Semaphore::new(model.capacity)),
            model,
            counters: Mutex::new(Counters {
                rng: 0x9e37_79b9_7f4a_7c15,
                ..Counters::default()
            }),
        }
    }

    pub fn capacity(&self) -> usize {
        self.model.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn draw(c: &mut Counters, [lo, hi]: [u64; 2]) -> Duration {
        // xorshift64*: repeatable, good enough for a uniform service time.
        c.rng ^= c.rng >> 12;
        c.rng ^= c.rng << 25;
        c.rng ^= c.rng >> 27;
        let r = c.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let span = hi.saturating_sub(lo);
        let ms = lo + if span == 0 { 0 } else { r % (span + 1) };
        Duration::from_millis(ms)
    }

    /// Wait for a slot, then spend the call's service time in it. `api_key`: the credential when
    /// it is a user's API key.
    pub async fn serve(&self, key: &str, api_key: Option<&str>) -> Served {
        let queued = tokio::time::Instant::now();
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let waited = queued.elapsed();
        let service = {
            let mut c = self.lock();
            let mut t = Self::draw(&mut c, self.model.range(key));
            if let Some(k) = api_key
                && !c.warm.contains(k)
            {
                c.warm.insert(k.to_owned());
                if c.cache_clears > 0 {
                    t += Self::draw(&mut c, self.model.api_key_recheck_ms);
                }
            }
            c.busy += t;
            c.waited += waited;
            c.calls += 1;
            let e = c.by_call.entry(key.to_owned()).or_default();
            e.0 += 1;
            e.1 += t;
            t
        };
        tokio::time::sleep(service).await;
        Served { _permit: permit }
    }

    /// A product was created: Odoo's caches are cleared, every API-key client pays again.
    pub fn caches_cleared(&self) {
        let mut c = self.lock();
        c.warm.clear();
        c.cache_clears += 1;
    }

    /// `GET /_sandbox/stats`.
    pub fn stats(&self) -> Value {
        let c = self.lock();
        let by_call: serde_json::Map<String, Value> = c
            .by_call
            .iter()
            .map(|(k, (n, t))| {
                (
                    k.clone(),
                    json!({"calls": n, "busy_ms": t.as_secs_f64() * 1000.0}),
                )
            })
            .collect();
        json!({
            "cost_model": self.model.name,
            "capacity": self.model.capacity,
            "calls": c.calls,
            "busy_ms": c.busy.as_secs_f64() * 1000.0,
            "waited_ms": c.waited.as_secs_f64() * 1000.0,
            "cache_clears": c.cache_clears,
            "by_call": by_call,
        })
    }

    /// Back to zero (`POST /_sandbox/stats/reset`).
    pub fn reset(&self) {
        let mut c = self.lock();
        let rng = c.rng;
        *c = Counters {
            rng,
            ..Counters::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_loads_and_names_the_heavy_calls() {
        let m = CostModel::load("odoo18-small").unwrap();
        assert_eq!(m.capacity, 1);
        assert_eq!(m.range("sale.order.create"), [300, 390]);
        assert_eq!(m.range("common.authenticate"), [600, 600]);
        assert_eq!(m.range("res.partner.search_read"), [65, 100]);
        assert_eq!(m.range("something.else"), m.default_ms);
    }

    #[test]
    fn service_times_stay_in_their_range_and_repeat() {
        let draws = || {
            let mut c = Counters {
                rng: 7,
                ..Counters::default()
            };
            (0..200)
                .map(|_| Cost::draw(&mut c, [300, 390]))
                .collect::<Vec<_>>()
        };
        let a = draws();
        assert!(
            a.iter()
                .all(|d| (300..=390).contains(&(d.as_millis() as u64)))
        );
        assert_eq!(a, draws());
        assert!(a.iter().collect::<HashSet<_>>().len() > 20);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_beyond_the_capacity_wait_in_line() {
        let mut m = CostModel::load("odoo18-small").unwrap();
        m.calls.insert("x.y".into(), [100, 100]);
        let cost = std::sync::Arc::new(Cost::new(m));
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let c = cost.clone();
            tasks.push(tokio::spawn(async move {
                drop(c.serve("x.y", None).await);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // One at a time: 300 ms in all, 100 + 200 ms waited in line.
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        let s = cost.stats();
        assert_eq!(s["busy_ms"], 300.0);
        assert_eq!(s["waited_ms"], 300.0);
        assert_eq!(s["by_call"]["x.y"]["calls"], 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_product_create_makes_each_api_key_client_pay_once() {
        let mut m = CostModel::load("odoo18-small").unwrap();
        m.calls.insert("x.y".into(), [10, 10]);
        m.api_key_recheck_ms = [450, 450];
        let cost = Cost::new(m);
        let timed = |key: Option<&'static str>| {
            let cost = &cost;
            async move {
                let t = tokio::time::Instant::now();
                drop(cost.serve("x.y", key).await);
                t.elapsed()
            }
        };
        // Before any product is created: no recheck.
        assert_eq!(timed(Some("k1")).await, Duration::from_millis(10));
        cost.caches_cleared();
        assert_eq!(timed(Some("k1")).await, Duration::from_millis(460));
        assert_eq!(timed(Some("k1")).await, Duration::from_millis(10));
        assert_eq!(timed(Some("k2")).await, Duration::from_millis(460));
        // A password (session) client is not concerned.
        assert_eq!(timed(None).await, Duration::from_millis(10));
    }
}
