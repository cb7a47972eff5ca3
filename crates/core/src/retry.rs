//! The retry schedule for transient failures: exponential backoff with full jitter, capped,
//! honouring a server's `Retry-After`. Owned here, not by the queue runtime (see docs on apalis).

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// Attempts (including the first) before a transiently failing job is dead-lettered.
    pub max_attempts: u32,
}

/// What to do after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAfter(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// The ceiling of the jittered delay after `attempt` failed attempts (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(32);
        self.base.saturating_mul(1u32 << exp.min(31)).min(self.cap)
    }

    /// Decide after the `attempt`-th failed attempt (1-based), with the server's `Retry-After` if any.
    pub fn decide(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> RetryDecision {
        if attempt >= self.max_attempts {
            return RetryDecision::GiveUp;
        }
        let ceiling = self.ceiling(attempt);
        let jittered = Duration::from_millis(rng.random_range(0..=ceiling.as_millis() as u64));
        // Never sooner than the server asked, never later than the cap.
        let delay = retry_after.map_or(jittered, |ra| jittered.max(ra.min(self.cap)));
        RetryDecision::RetryAfter(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(3600),
            max_attempts: 64,
        }
    }

    #[test]
    fn ceiling_grows_exponentially_then_caps() {
        let p = policy();
        assert_eq!(p.ceiling(1), Duration::from_secs(2));
        assert_eq!(p.ceiling(2), Duration::from_secs(4));
        assert_eq!(p.ceiling(10), Duration::from_secs(1024));
        assert_eq!(p.ceiling(12), Duration::from_secs(3600));
        assert_eq!(p.ceiling(63), Duration::from_secs(3600));
    }

    #[test]
    fn delays_stay_within_jitter_bounds_and_honour_retry_after() {
        let p = policy();
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..64 {
            let RetryDecision::RetryAfter(d) = p.decide(attempt, None, &mut rng) else {
                panic!("gave up early at {attempt}");
            };
            assert!(d <= p.ceiling(attempt));
            let RetryDecision::RetryAfter(d) =
                p.decide(attempt, Some(Duration::from_secs(90)), &mut rng)
            else {
                panic!()
            };
            assert!(d >= Duration::from_secs(90));
        }
        assert_eq!(p.decide(64, None, &mut rng), RetryDecision::GiveUp);
    }

    #[test]
    fn default_schedule_spans_a_day_on_average() {
        let p = policy();
        let expected: Duration = (1..p.max_attempts).map(|a| p.ceiling(a) / 2).sum();
        assert!(expected >= Duration::from_secs(24 * 3600), "{expected:?}");
    }
}
