//! Rate-limit facts: what Salla's headers said about one answer ([`RateInfo`]) and which budget a
//! request draws on ([`EndpointClass`], [`RateLimitPolicy`]).
//!
//! The limiter itself is not here: a merchant's budget is shared by every worker, so it lives with
//! the fleet (Redis). This module only says what the budget is and what each answer reported, so the
//! limiter can be fed (docs/salla-platform.md §8.4).

use std::time::Duration;

use http::HeaderMap;
use time::OffsetDateTime;

/// Below this a `X-RateLimit-Reset` (or token `expires`) value is read as seconds from now, above it as a
/// Unix time: 10^9 seconds is 2001-09-09, and no delay is that long.
pub(crate) const EPOCH_THRESHOLD: i64 = 1_000_000_000;

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointClass {
    /// Every endpoint except the customer ones: the plan's requests per minute.
    General,
    /// `/customers…`: 500 requests per 10 minutes, on top of the general budget.
    Customers,
}

/// The rate-limit headers of one answer (success or error). Absent or unreadable headers are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateInfo {
    /// `X-RateLimit-Limit`: calls allowed per window (per minute for the general budget).
    pub limit: Option<u32>,
    /// `X-RateLimit-Remaining`: calls left in the current window.
    pub remaining: Option<u32>,
    /// `X-RateLimit-Reset`: when the window resets (UTC epoch seconds; a small value is read as seconds
    /// from the answer).
    pub reset_at: Option<OffsetDateTime>,
    /// `Retry-After`: the wait Salla asked for (seconds or an HTTP date), usually on a 429.
    pub retry_after: Option<Duration>,
}

impl RateInfo {
    /// Reads the four headers; `now` is the time the answer arrived.
    pub fn from_headers(headers: &HeaderMap, now: OffsetDateTime) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let number = |name: &str| text(name).and_then(|v| v.trim().parse::<u32>().ok());
        RateInfo {
            limit: number("x-ratelimit-limit"),
            remaining: number("x-ratelimit-remaining"),
            reset_at: text("x-ratelimit-reset").and_then(|v| parse_reset(v, now)),
            retry_after: text("retry-after").and_then(|v| parse_retry_after(v, now)),
        }
    }

    /// True when the answer carried none of the headers.
    pub fn is_empty(&self) -> bool {
        *self == RateInfo::default()
    }

    /// How long to wait before the next call, if the answer says so: `Retry-After`, else (when nothing
    /// remains) the time until the reset. `None` when the budget is not exhausted or nothing is known.
    pub fn wait_hint(&self, now: OffsetDateTime) -> Option<Duration> {
        self.retry_after.or_else(|| {
            if self.remaining == Some(0) {
                self.until_reset(now)
            } else {
                None
            }
        })
    }

    /// The time from `now` until `X-RateLimit-Reset` (zero when it has passed).
    pub fn until_reset(&self, now: OffsetDateTime) -> Option<Duration> {
        let delta = self.reset_at? - now;
        Some(Duration::from_secs(delta.whole_seconds().max(0) as u64))
    }
}

/// `X-RateLimit-Reset`: UTC epoch seconds, or (below [`EPOCH_THRESHOLD`]) seconds from now.
fn parse_reset(v: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let n: i64 = v.trim().parse().ok()?;
    if n < 0 {
        return None;
    }
    if n < EPOCH_THRESHOLD {
        now.checked_add(time::Duration::seconds(n))
    } else {
        OffsetDateTime::from_unix_timestamp(n).ok()
    }
}

/// `Retry-After`: delay-seconds or an HTTP date (IMF-fixdate); a date in the past is zero.
pub(crate) fn parse_retry_after(v: &str, now: OffsetDateTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let when = time::PrimitiveDateTime::parse(v, &fmt).ok()?.assume_utc();
    Some(Duration::from_secs(
        (when - now).whole_seconds().max(0) as u64
    ))
}

/// A store's plan, which sets its general budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plan {
    /// 120 requests per minute.
    Plus,
    /// 360 requests per minute.
    Pro,
    /// 720 requests per minute.
    Special,
}

/// A number of requests allowed per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Budget {
    /// Requests allowed in one window.
    pub requests: u32,
    /// The window.
    pub window: Duration,
}

impl Budget {
    /// The spacing between requests that spends the budget evenly (e.g. 500 ms for 120 per minute).
    pub fn interval(&self) -> Duration {
        self.window / self.requests.max(1)
    }
}

/// The budgets of one store (docs/salla-platform.md §8.4): the plan's requests per minute for every
/// endpoint, and 500 per 10 minutes for the customer endpoints.
///
/// Past the general limit Salla lets one request per second through until the minute resets, and
/// repeated abuse can turn into a temporary 403; a limiter should stay under the budget, not probe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimitPolicy {
    /// General requests per minute.
    pub requests_per_minute: u32,
}

impl RateLimitPolicy {
    /// The customer endpoints' budget, whatever the plan.
    pub const CUSTOMERS: Budget = Budget {
        requests: 500,
        window: Duration::from_secs(600),
    };

    /// The policy of a plan.
    pub fn for_plan(plan: Plan) -> Self {
        RateLimitPolicy {
            requests_per_minute: match plan {
                Plan::Plus => 120,
                Plan::Pro => 360,
                Plan::Special => 720,
            },
        }
    }

    /// A policy with an explicit general budget (e.g. one read from `X-RateLimit-Limit`).
    pub fn per_minute(requests_per_minute: u32) -> Self {
        RateLimitPolicy {
            requests_per_minute,
        }
    }

    /// The budget a request of this class draws on. A customer request also counts against the general
    /// budget ([`Self::general`]).
    pub fn budget(&self, class: EndpointClass) -> Budget {
        match class {
            EndpointClass::General => self.general(),
            EndpointClass::Customers => Self::CUSTOMERS,
        }
    }

    /// The general budget.
    pub fn general(&self) -> Budget {
        Budget {
            requests: self.requests_per_minute,
            window: Duration::from_secs(60),
        }
    }
}

impl Default for RateLimitPolicy {
    /// The smallest plan (Plus), the safe assumption when the plan is unknown.
    fn default() -> Self {
        RateLimitPolicy::for_plan(Plan::Plus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn headers_are_read() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let mut h = HeaderMap::new();
        h.insert("X-RateLimit-Limit", HeaderValue::from_static("120"));
        h.insert("X-RateLimit-Remaining", HeaderValue::from_static("0"));
        h.insert("X-RateLimit-Reset", HeaderValue::from_static("1700000042"));
        let r = RateInfo::from_headers(&h, now);
        assert_eq!(r.limit, Some(120));
        assert_eq!(r.remaining, Some(0));
        assert_eq!(r.wait_hint(now), Some(Duration::from_secs(42)));
        h.insert("Retry-After", HeaderValue::from_static("7"));
        let r = RateInfo::from_headers(&h, now);
        assert_eq!(r.wait_hint(now), Some(Duration::from_secs(7)));
        // A small reset value is a delay.
        h.insert("X-RateLimit-Reset", HeaderValue::from_static("30"));
        let r = RateInfo::from_headers(&h, now);
        assert_eq!(r.until_reset(now), Some(Duration::from_secs(30)));
        assert!(RateInfo::from_headers(&HeaderMap::new(), now).is_empty());
    }

    #[test]
    fn retry_after_as_date() {
        let now = OffsetDateTime::from_unix_timestamp(784_111_717).unwrap(); // Sun, 06 Nov 1994 08:48:37
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn budgets() {
        let p = RateLimitPolicy::for_plan(Plan::Pro);
        assert_eq!(p.budget(EndpointClass::General).requests, 360);
        assert_eq!(
            p.budget(EndpointClass::Customers),
            RateLimitPolicy::CUSTOMERS
        );
        assert_eq!(
            RateLimitPolicy::default().general().interval(),
            Duration::from_millis(500)
        );
        assert_eq!(
            RateLimitPolicy::CUSTOMERS.interval(),
            Duration::from_millis(1200)
        );
    }
}
