//! Fault injection, switchable at run time from Rust ([`Faults`]) or over `/_sandbox/faults`.
//!
//! Faults apply to Odoo calls only (`/jsonrpc`, `/json/2/...`, `/web/session/authenticate`,
//! `/web/dataset/call_kw`; `/web/health` and `/web/version` only see outages), never to the
//! admin API under `/_sandbox`. Per request, in this order:
//!
//! 1. **Outage**: while an outage window is open the listening socket is closed, so new
//!    connections are refused by the kernel; a request arriving on a connection opened before
//!    the window is answered by a TCP reset. The socket is bound again when the window ends.
//! 2. **Latency**: `fixed + uniform(0, jitter)` before the call runs.
//! 3. **Error rules** (first match wins), decided *before* the call runs, so nothing is written:
//!    `Http5xx(status)` answers that status with a proxy-like text body; `TooManyRequests`
//!    answers 429 with `Retry-After`; `ConnectionReset` resets the connection without an answer;
//!    `SerializationFailure` answers the Odoo error `psycopg2.errors.SerializationFailure`
//!    ("could not serialize access due to concurrent update"), as Odoo does after its own retries;
//!    `LoginCooldown` answers `AccessDenied` "Too many login failures, please wait a bit before
//!    trying again.".
//! 4. The call runs and commits.
//! 5. **Commit-then-drop rules**: the connection is closed without an answer *after* the
//!    call committed, so the client cannot know the outcome.
//!
//! Rules match on the model (`None` = any; JSON-RPC `common`/`db` calls have no model) and the
//! method (`None` = any), fire with probability `rate`, and, when `times` is set, only for that
//! many firings (the rule is then removed). **Expired credentials** make every authentication
//! fail: `authenticate` answers `false`, `execute_kw` raises `AccessDenied`, JSON-2 answers 401.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

/// What an error rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// An HTTP error status (e.g. 502, 503, 504) from a proxy in front of Odoo.
    Http5xx(u16),
    /// The TCP connection is reset; no answer.
    ConnectionReset,
    /// Odoo's `psycopg2.errors.SerializationFailure` error (transient).
    SerializationFailure,
    /// HTTP 429 with `Retry-After`.
    TooManyRequests { retry_after_secs: u64 },
    /// Odoo's login cooldown: `odoo.exceptions.AccessDenied` "Too many login failures, please
    /// wait a bit before trying again." (Odoo raises it on its web login after repeated
    /// failures; injectable anywhere for classification tests).
    LoginCooldown,
}

/// Which calls a rule applies to, how often and how many times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    /// Probability in `[0, 1]` that a matching call is hit.
    #[serde(default = "one")]
    pub rate: f64,
    /// Only the next `times` hits, then the rule is removed.
    #[serde(default)]
    pub times: Option<u32>,
}

fn one() -> f64 {
    1.0
}

impl Default for Match {
    fn default() -> Self {
        Match {
            model: None,
            method: None,
            rate: 1.0,
            times: None,
        }
    }
}

impl Match {
    /// Every call.
    pub fn any() -> Self {
        Self::default()
    }
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
    fn matches(&self, model: Option<&str>, method: &str) -> bool {
        self.model.as_deref().is_none_or(|m| Some(m) == model)
            && self.method.as_deref().is_none_or(|m| m == method)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRule {
    #[serde(flatten)]
    pub on: Match,
    pub kind: FaultKind,
}

/// Latency added before each Odoo call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    #[serde(with = "millis")]
    pub fixed: Duration,
    #[serde(with = "millis")]
    pub jitter: Duration,
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// A snapshot of the fault switches (the JSON of `GET /_sandbox/faults`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultConfig {
    pub latency: Latency,
    pub errors: Vec<ErrorRule>,
    pub commit_then_drop: Vec<Match>,
    /// Seconds left in the outage window; `Some(-1.0)` for an outage without end.
    pub outage_remaining_secs: Option<f64>,
    pub expired_credentials: bool,
}

#[derive(Debug, Default)]
struct State {
    latency: Latency,
    errors: Vec<ErrorRule>,
    drops: Vec<Match>,
    /// `Some(None)`: outage until `end_outage`.
    outage: Option<Option<Instant>>,
    expired: bool,
}

/// The run-time fault switches of one sandbox. Cheap to clone; clones share the switches.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

/// What to do with one call before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Before {
    Proceed,
    Fail(FaultKind),
}

fn hit(m: &mut Match, rng: &mut impl Rng) -> bool {
    if m.rate < 1.0 && rng.random::<f64>() >= m.rate {
        return false;
    }
    if let Some(t) = m.times.as_mut() {
        *t = t.saturating_sub(1);
    }
    true
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn touch(&self) {
        self.changed.notify_one();
    }

    /// Fixed latency plus uniform jitter for every call.
    pub fn set_latency(&self, fixed: Duration, jitter: Duration) {
        self.lock().latency = Latency { fixed, jitter };
    }

    /// Add an error rule (rules are tried in insertion order).
    pub fn inject(&self, on: Match, kind: FaultKind) {
        self.lock().errors.push(ErrorRule { on, kind });
    }

    /// Perform matching calls, then close the connection without answering.
    pub fn commit_then_drop(&self, on: Match) {
        self.lock().drops.push(on);
    }

    /// Refuse connections for `duration` (`None`: until [`Faults::end_outage`]).
    pub fn outage(&self, duration: Option<Duration>) {
        self.lock().outage = Some(duration.map(|d| Instant::now() + d));
        self.touch();
    }

    pub fn end_outage(&self) {
        self.lock().outage = None;
        self.touch();
    }

    /// Make every authentication fail (or succeed again).
    pub fn set_expired_credentials(&self, expired: bool) {
        self.lock().expired = expired;
    }

    /// Remove every fault.
    pub fn clear(&self) {
        *self.lock() = State::default();
        self.touch();
    }

    pub fn config(&self) -> FaultConfig {
        let s = self.lock();
        let now = Instant::now();
        FaultConfig {
            latency: s.latency,
            errors: s.errors.clone(),
            commit_then_drop: s.drops.clone(),
            outage_remaining_secs: match s.outage {
                None => None,
                Some(None) => Some(-1.0),
                Some(Some(until)) if until > now => Some((until - now).as_secs_f64()),
                Some(Some(_)) => None,
            },
            expired_credentials: s.expired,
        }
    }

    /// Replace the whole configuration (admin API).
    pub fn apply(&self, cfg: FaultConfig) {
        let mut s = self.lock();
        s.latency = cfg.latency;
        s.errors = cfg.errors;
        s.drops = cfg.commit_then_drop;
        s.expired = cfg.expired_credentials;
        s.outage = match cfg.outage_remaining_secs {
            None => None,
            Some(x) if x < 0.0 => Some(None),
            Some(x) => Some(Some(Instant::now() + Duration::from_secs_f64(x))),
        };
        drop(s);
        self.touch();
    }

    pub(crate) fn expired(&self) -> bool {
        self.lock().expired
    }

    /// The end of the current outage: `None` when there is none, `Some(None)` when open-ended.
    pub(crate) fn outage_until(&self) -> Option<Option<Instant>> {
        let mut s = self.lock();
        if let Some(Some(until)) = s.outage
            && until <= Instant::now()
        {
            s.outage = None;
        }
        s.outage
    }

    pub(crate) fn in_outage(&self) -> bool {
        self.outage_until().is_some()
    }

    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    pub(crate) fn latency(&self) -> Duration {
        let l = self.lock().latency;
        if l.jitter.is_zero() {
            return l.fixed;
        }
        let j = rand::rng().random_range(0..=l.jitter.as_micros() as u64);
        l.fixed + Duration::from_micros(j)
    }

    pub(crate) fn before(&self, model: Option<&str>, method: &str) -> Before {
        let mut s = self.lock();
        let mut rng = rand::rng();
        let mut out = Before::Proceed;
        for r in &mut s.errors {
            if r.on.matches(model, method) && hit(&mut r.on, &mut rng) {
                out = Before::Fail(r.kind);
                break;
            }
        }
        s.errors.retain(|r| r.on.times != Some(0));
        out
    }

    pub(crate) fn drop_after(&self, model: Option<&str>, method: &str) -> bool {
        let mut s = self.lock();
        let mut rng = rand::rng();
        let mut out = false;
        for m in &mut s.drops {
            if m.matches(model, method) && hit(m, &mut rng) {
                out = true;
                break;
            }
        }
        s.drops.retain(|m| m.times != Some(0));
        out
    }
}
