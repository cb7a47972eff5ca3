//! Fault injection, switchable at run time from Rust ([`Faults`]) or over `/_sandbox/faults`.
//!
//! Faults apply to the Salla routes (`/admin/v2/…`, `/oauth2/…`), never to the control API under
//! `/_sandbox`. Per request, in this order:
//!
//! 1. **Outage**: while an outage window is open the listening socket is closed, so new
//!    connections are refused by the kernel; a request arriving on a connection opened before
//!    the window is closed without an answer. The socket is bound again when the window ends.
//! 2. **Latency**: `fixed + uniform(0, jitter)` before the request runs.
//! 3. **Error rules** (first match wins), decided *before* the request runs, so nothing is
//!    written and no rate-limit budget is used: the rule's HTTP `status` with Salla's error
//!    envelope `{"status", "success": false, "error": {"code", "message"}}` (the code is the
//!    slug of §8.2 for that status, e.g. `service_unavailable` for 503), plus `Retry-After`
//!    when the rule has `retry_after_secs`. The token endpoint gets the same envelope.
//! 4. The request runs (tokens rotate, statuses change, quantities are queued).
//! 5. **Drop-after-write rules**: the connection is closed without an answer *after* the
//!    request took effect, so the client cannot know the outcome (a refresh whose answer is lost
//!    leaves the client holding a used refresh token).
//!
//! A rule ([`Match`]) matches on the request path (`path_prefix`: a prefix of the full path such
//! as `/oauth2/token` or `/admin/v2/orders`; a prefix that does not start with `/admin` or
//! `/oauth2` is also tried against the path below `/admin/v2`, so `/orders` works), the HTTP
//! `method` (case-insensitive) and the `merchant` (known from the bearer token, or from the
//! refresh token at the token endpoint; requests without a known merchant never match a rule
//! that names one). It fires with probability `rate` and, when `times` is set, only for that
//! many firings (the rule is then removed).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Which requests a rule applies to, how often and how many times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub merchant: Option<u64>,
    /// Probability in `[0, 1]` that a matching request is hit.
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
            path_prefix: None,
            method: None,
            merchant: None,
            rate: 1.0,
            times: None,
        }
    }
}

impl Match {
    /// Every request.
    pub fn any() -> Self {
        Self::default()
    }
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }
    pub fn merchant(mut self, merchant: u64) -> Self {
        self.merchant = Some(merchant);
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

    fn matches(&self, method: &str, path: &str, merchant: Option<u64>) -> bool {
        let path_ok = self.path_prefix.as_deref().is_none_or(|p| {
            let relative = !p.starts_with("/admin") && !p.starts_with("/oauth2");
            path.starts_with(p)
                || (relative
                    && path
                        .strip_prefix("/admin/v2")
                        .is_some_and(|rest| rest.starts_with(p)))
        });
        path_ok
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.merchant.is_none_or(|m| Some(m) == merchant)
    }
}

/// Answer matching requests with `status` (Salla's error envelope) before they run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRule {
    #[serde(flatten)]
    pub on: Match,
    pub status: u16,
    /// Sent as `Retry-After` (seconds).
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
}

/// Latency added before each Salla request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    #[serde(with = "millis", rename = "fixed_ms", default)]
    pub fixed: Duration,
    #[serde(with = "millis", rename = "jitter_ms", default)]
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
    #[serde(default)]
    pub latency: Latency,
    #[serde(default)]
    pub errors: Vec<ErrorRule>,
    #[serde(default)]
    pub drop_after_write: Vec<Match>,
    /// Seconds left in the outage window; `-1` for an outage without end.
    #[serde(default)]
    pub outage_remaining_secs: Option<f64>,
}

#[derive(Debug, Default)]
struct State {
    latency: Latency,
    errors: Vec<ErrorRule>,
    drops: Vec<Match>,
    /// `Some(None)`: outage until [`Faults::end_outage`].
    outage: Option<Option<Instant>>,
}

/// The run-time fault switches of one sandbox. Cheap to clone; clones share the switches.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
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

    /// Fixed latency plus uniform jitter before every Salla request.
    pub fn set_latency(&self, fixed: Duration, jitter: Duration) {
        self.lock().latency = Latency { fixed, jitter };
    }

    /// Add an error rule (rules are tried in insertion order).
    pub fn inject(&self, rule: ErrorRule) {
        self.lock().errors.push(rule);
    }

    /// Shorthand for [`Faults::inject`] without `Retry-After`.
    pub fn fail(&self, on: Match, status: u16) {
        self.inject(ErrorRule {
            on,
            status,
            retry_after_secs: None,
        });
    }

    /// Let matching requests take effect, then close the connection without answering.
    pub fn drop_after_write(&self, on: Match) {
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
            drop_after_write: s.drops.clone(),
            outage_remaining_secs: match s.outage {
                None => None,
                Some(None) => Some(-1.0),
                Some(Some(until)) if until > now => Some((until - now).as_secs_f64()),
                Some(Some(_)) => None,
            },
        }
    }

    /// Replace the whole configuration.
    pub fn apply(&self, cfg: FaultConfig) {
        let mut s = self.lock();
        s.latency = cfg.latency;
        s.errors = cfg.errors;
        s.drops = cfg.drop_after_write;
        s.outage = match cfg.outage_remaining_secs {
            None => None,
            Some(x) if x < 0.0 => Some(None),
            Some(x) => Some(Some(Instant::now() + Duration::from_secs_f64(x))),
        };
        drop(s);
        self.touch();
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

    /// The error rule hitting this request, if any.
    pub(crate) fn before(
        &self,
        method: &str,
        path: &str,
        merchant: Option<u64>,
    ) -> Option<ErrorRule> {
        let mut s = self.lock();
        let mut rng = rand::rng();
        let mut out = None;
        for r in &mut s.errors {
            if r.on.matches(method, path, merchant) && hit(&mut r.on, &mut rng) {
                out = Some(r.clone());
                break;
            }
        }
        s.errors.retain(|r| r.on.times != Some(0));
        out
    }

    /// Whether to drop the connection after this request took effect.
    pub(crate) fn drop_after(&self, method: &str, path: &str, merchant: Option<u64>) -> bool {
        let mut s = self.lock();
        let mut rng = rand::rng();
        let mut out = false;
        for m in &mut s.drops {
            if m.matches(method, path, merchant) && hit(m, &mut rng) {
                out = true;
                break;
            }
        }
        s.drops.retain(|m| m.times != Some(0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let m = Match::any().path_prefix("/orders").method("get");
        assert!(m.matches("GET", "/admin/v2/orders/1", Some(1)));
        assert!(!m.matches("POST", "/admin/v2/orders/1", Some(1)));
        assert!(!m.matches("GET", "/admin/v2/products", None));
        let t = Match::any().path_prefix("/oauth2/token").merchant(7);
        assert!(t.matches("POST", "/oauth2/token", Some(7)));
        assert!(!t.matches("POST", "/oauth2/token", None));
        assert!(
            !Match::any()
                .path_prefix("/token")
                .matches("POST", "/oauth2/token", None)
        );
    }

    #[test]
    fn times_removes_rule() {
        let f = Faults::default();
        f.fail(Match::any().times(1), 503);
        assert_eq!(
            f.before("GET", "/admin/v2/orders", None).map(|r| r.status),
            Some(503)
        );
        assert!(f.before("GET", "/admin/v2/orders", None).is_none());
        assert!(f.config().errors.is_empty());
    }

    #[test]
    fn config_json() {
        let cfg: FaultConfig = serde_json::from_str(
            r#"{"latency": {"fixed_ms": 5}, "errors": [{"path_prefix": "/orders", "status": 503}],
                "drop_after_write": [{"method": "POST", "times": 1}]}"#,
        )
        .unwrap();
        assert_eq!(cfg.latency.fixed, Duration::from_millis(5));
        assert_eq!(cfg.errors[0].on.rate, 1.0);
        assert_eq!(cfg.drop_after_write[0].times, Some(1));
    }
}
