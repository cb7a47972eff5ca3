//! Per-store limits, so one merchant's flood or dead Odoo never starves the others: fleet-wide in
//! Redis, or in the process's memory for the embedded queue (`salla-odoo run` is the only process
//! using its data, so its memory is the whole "fleet"; the same rules apply).
//!
//! # Keys (Redis, namespace `ns`)
//! | key | type | holds |
//! |---|---|---|
//! | `ns:limits:running:{merchant}` | ZSET | job id → lease expiry (Unix ms): the store's jobs running now |
//! | `ns:limits:calls:{merchant}:{second}` | STRING | Odoo calls started in that second (expires after 2 s) |
//! | `ns:limits:salla:{merchant}:{class}:{window}` | STRING | Salla Admin API requests started in that window (a minute, or 10 minutes for customer endpoints; expires with it) |
//! | `ns:limits:salla-block:{merchant}` | STRING | set (with its TTL) when Salla answered 429: no request of the store before it expires |
//!
//! # Adaptive concurrency (AIMD, [`Aimd`])
//! `limits.store_concurrency` is a ceiling, not a target: how many of a store's jobs may run at once
//! follows its Odoo. Each worker process keeps, per store, an estimate from the latency of the Odoo
//! calls it makes itself (no shared state: every worker that talks to a store's Odoo sees the same
//! queueing, so their estimates agree, and nothing is lost when a worker dies). Each call's latency
//! is compared with the lowest seen for that method (a slowly forgetting floor). After every
//! window of calls (as many as the limit, at least 4), the limit grows by one when the window's
//! median ratio to the floor stays below 2 (Odoo is not queueing), and halves when it exceeds 4
//! (calls wait in Odoo's line: a threaded Odoo serves one at a time per worker thread) or when a
//! call took longer than 10 s; never above the ceiling nor below 1. It starts at the ceiling, so
//! a fast Odoo keeps today's behaviour. The limit is what [`StoreLimits::try_acquire`] compares the
//! fleet-wide count of running jobs (`ns:limits:running:{merchant}`) with. Exported as
//! `salla_odoo_store_concurrency_limit{merchant}`.
//!
//! # Failure handling
//! A slot is a lease that expires after the job timeout plus a margin, so a worker that dies while
//! holding one cannot block its store for longer than that. When Redis is unreachable the limiter
//! refuses (the job is rescheduled, no attempt spent): the queue is unusable then anyway.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;
use salla_odoo_core::MerchantId;
use salla_odoo_queue::{Queue, QueueError, RedisQueue};

// Built once: `Script::new` hashes the source (SHA-1) for EVALSHA, which is per-call work otherwise.
static ACQUIRE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(&format!("{GRANT}{ACQUIRE}")));
static CALL_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{GRANT}{CALL}")));

/// Shared by both scripts: count `want` calls in a second's counter and return how many were granted
/// (0 to `want`): never more than the limit in one second, whoever asks.
const GRANT: &str = r#"
local function grant(key, limit, want)
  local n = redis.call('INCRBY', key, want)
  if n == want then redis.call('EXPIRE', key, 2) end
  local granted = math.min(want, limit - (n - want))
  if granted < 0 then return 0 end
  return granted
end
"#;

const ACQUIRE: &str = r#"
-- KEYS[1] running ZSET, KEYS[2] this second's call counter; ARGV[1] now (ms), ARGV[2] limit,
-- ARGV[3] job id, ARGV[4] lease expiry (ms), ARGV[5] calls per second, ARGV[6] calls wanted (0: none).
-- Returns {1 if the slot is taken else 0, calls granted}: the job's first Odoo calls need no round
-- trip of their own.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return {0, 0} end
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
local want = tonumber(ARGV[6])
if want == 0 then return {1, 0} end
return {1, grant(KEYS[2], tonumber(ARGV[5]), want)}
"#;

static SALLA_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SALLA));

/// One Salla Admin API request of a store: 0 when it may go now, else the milliseconds to wait
/// (the store is blocked after a 429, or its window's budget is spent).
const SALLA: &str = r#"
-- KEYS[1] the store's block key, KEYS[2] the window's counter; ARGV[1] limit, ARGV[2] window end (ms
-- from now).
local blocked = redis.call('PTTL', KEYS[1])
if blocked > 0 then return blocked end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) + 1000) end
if n > tonumber(ARGV[1]) then return tonumber(ARGV[2]) end
return 0
"#;

const CALL: &str = r#"
-- KEYS[1] this second's counter; ARGV[1] limit, ARGV[2] calls wanted. Returns how many were granted.
return grant(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
"#;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// `odoo.capabilities_ttl_secs` of config/default.toml.
pub const DEFAULT_CAPABILITIES_TTL: Duration = Duration::from_secs(86_400);

/// Per-store concurrency and call-rate limits shared by every worker of a namespace.
#[derive(Clone, Debug)]
pub struct StoreLimits {
    backend: Backend,
    /// The ceiling of every store's adaptive limit.
    concurrency: u32,
    /// Each store's adaptive limit (this process's estimate; see the module docs).
    adaptive: Arc<Mutex<HashMap<MerchantId, Aimd>>>,
    calls_per_sec: u32,
    lease: Duration,
    /// How long a store's kept Odoo capabilities seed its new clients (`odoo.capabilities_ttl_secs`):
    /// a probe is five Odoo calls of the store's budget.
    capabilities_ttl: Duration,
}

#[derive(Clone, Debug)]
enum Backend {
    Redis(RedisQueue, Reserved),
    Local(Arc<Mutex<Local>>),
}

/// The in-process counterpart of the Redis keys: running leases and this second's call counts.
#[derive(Debug, Default)]
struct Local {
    running: HashMap<MerchantId, HashMap<String, u64>>,
    calls: HashMap<MerchantId, (u64, u32)>,
    /// Salla requests per (store, class): (window index, count).
    salla: HashMap<(MerchantId, bool), (u64, u32)>,
    /// Stores blocked after a 429, until (Unix ms).
    salla_block: HashMap<MerchantId, u64>,
}

/// Calls granted by Redis in one round trip and not used yet, per store: (Unix second, how many).
/// Only usable within that second, so the fleet-wide budget is never exceeded; at worst a few go
/// unused at the end of a second.
type Reserved = Arc<Mutex<HashMap<MerchantId, (u64, u32)>>>;

impl StoreLimits {
    /// Limits kept where the queue is: in Redis for the fleet, in memory for the embedded queue.
    pub fn new(queue: Queue, concurrency: u32, calls_per_sec: u32, lease: Duration) -> Self {
        let backend = match queue {
            Queue::Redis(q) => Backend::Redis(q, Reserved::default()),
            Queue::Embedded(_) => Backend::Local(Arc::default()),
        };
        Self {
            backend,
            concurrency,
            adaptive: Arc::default(),
            calls_per_sec,
            lease,
            capabilities_ttl: DEFAULT_CAPABILITIES_TTL,
        }
    }

    /// Seed the stores' new Odoo clients with capabilities probed less than `ttl` ago (zero:
    /// never); a day unless set.
    pub fn with_capabilities_ttl(mut self, ttl: Duration) -> Self {
        self.capabilities_ttl = ttl;
        self
    }

    /// See [`StoreLimits::with_capabilities_ttl`].
    pub fn capabilities_ttl(&self) -> Duration {
        self.capabilities_ttl
    }

    /// The store's concurrency limit now: its adaptive limit, within the ceiling.
    pub fn concurrency_of(&self, merchant: MerchantId) -> u32 {
        let adaptive = self.adaptive.lock().unwrap_or_else(|p| p.into_inner());
        adaptive
            .get(&merchant)
            .map_or(self.concurrency, Aimd::limit)
    }

    /// One Odoo call of the store took `elapsed`: feed the store's adaptive limit.
    pub fn observe_odoo_call(&self, merchant: MerchantId, method: &str, elapsed: Duration) {
        let changed = {
            let mut adaptive = self.adaptive.lock().unwrap_or_else(|p| p.into_inner());
            adaptive
                .entry(merchant)
                .or_insert_with(|| Aimd::new(self.concurrency))
                .observe(method, elapsed)
        };
        if let Some(limit) = changed {
            metrics::gauge!("salla_odoo_store_concurrency_limit", "merchant" => merchant.to_string())
                .set(f64::from(limit));
            tracing::debug!(%merchant, limit, "store concurrency limit changed");
        }
    }

    fn running_key(queue: &RedisQueue, merchant: MerchantId) -> String {
        format!("{}:limits:running:{merchant}", queue.namespace())
    }

    /// Take one of the store's job slots for `job_id`; `false` when the store is at its limit.
    /// For a job that calls Odoo (`calls_odoo`), the same round trip asks for its first calls of
    /// this second's budget (see [`StoreLimits::before_odoo_call`]).
    pub async fn try_acquire(
        &self,
        merchant: MerchantId,
        job_id: &str,
        calls_odoo: bool,
    ) -> Result<bool, QueueError> {
        let now = now_ms();
        let (queue, reserved) = match &self.backend {
            Backend::Redis(q, reserved) => (q, reserved),
            Backend::Local(local) => {
                let mut local = local.lock().unwrap_or_else(|p| p.into_inner());
                let running = local.running.entry(merchant).or_default();
                running.retain(|_, expiry| *expiry > now);
                if !running.contains_key(job_id)
                    && running.len() >= self.concurrency_of(merchant) as usize
                {
                    return Ok(false);
                }
                running.insert(job_id.to_owned(), now + self.lease.as_millis() as u64);
                return Ok(true);
            }
        };
        let second = now / 1000;
        let want = if calls_odoo { self.calls_at_once() } else { 0 };
        let mut conn = queue.connection();
        let (taken, granted): (i64, u32) = (*ACQUIRE_SCRIPT)
            .key(Self::running_key(queue, merchant))
            .key(Self::calls_key(queue, merchant, second))
            .arg(now)
            .arg(self.concurrency_of(merchant))
            .arg(job_id)
            .arg(now + self.lease.as_millis() as u64)
            .arg(self.calls_per_sec)
            .arg(want)
            .invoke_async(&mut conn)
            .await?;
        if granted > 0 {
            keep(reserved, merchant, second, granted);
        }
        Ok(taken == 1)
    }

    /// Calls to ask Redis for at once: a job makes a handful, so a tenth of the budget, at most 4,
    /// lets most calls go without a round trip of their own. 0 when calls are not limited.
    fn calls_at_once(&self) -> u32 {
        if self.calls_per_sec == 0 {
            0
        } else {
            (self.calls_per_sec / 10).clamp(1, 4)
        }
    }

    fn calls_key(queue: &RedisQueue, merchant: MerchantId, second: u64) -> String {
        format!("{}:limits:calls:{merchant}:{second}", queue.namespace())
    }

    pub async fn release(&self, merchant: MerchantId, job_id: &str) -> Result<(), QueueError> {
        let queue = match &self.backend {
            Backend::Redis(q, _) => q,
            Backend::Local(local) => {
                let mut local = local.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(running) = local.running.get_mut(&merchant) {
                    running.remove(job_id);
                    if running.is_empty() {
                        local.running.remove(&merchant);
                    }
                }
                return Ok(());
            }
        };
        let mut conn = queue.connection();
        let _: i64 = redis::cmd("ZREM")
            .arg(Self::running_key(queue, merchant))
            .arg(job_id)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Wait until the store may make one more Odoo call this second (fleet-wide). Returns the Unix
    /// second whose budget the call was counted in.
    pub async fn before_odoo_call(&self, merchant: MerchantId) -> Result<u64, QueueError> {
        if self.calls_per_sec == 0 {
            return Ok(now_ms() / 1000);
        }
        loop {
            let now = now_ms();
            let second = now / 1000;
            let ok = match &self.backend {
                Backend::Redis(queue, reserved) => {
                    {
                        let mut reserved = reserved.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some((at, left)) = reserved.get_mut(&merchant)
                            && *at == second
                            && *left > 0
                        {
                            *left -= 1;
                            return Ok(second);
                        }
                    }
                    let mut conn = queue.connection();
                    let granted: u32 = (*CALL_SCRIPT)
                        .key(Self::calls_key(queue, merchant, second))
                        .arg(self.calls_per_sec)
                        .arg(self.calls_at_once())
                        .invoke_async(&mut conn)
                        .await?;
                    if granted > 1 {
                        keep(reserved, merchant, second, granted - 1);
                    }
                    granted > 0
                }
                Backend::Local(local) => {
                    let mut local = local.lock().unwrap_or_else(|p| p.into_inner());
                    let entry = local.calls.entry(merchant).or_insert((second, 0));
                    if entry.0 != second {
                        *entry = (second, 0);
                    }
                    entry.1 += 1;
                    entry.1 <= self.calls_per_sec
                }
            };
            if ok {
                return Ok(second);
            }
            // Over budget: wait for the next second.
            tokio::time::sleep(Duration::from_millis(1000 - now % 1000 + 1)).await;
        }
    }
}

impl StoreLimits {
    /// May the store make one more Salla Admin API request now? `Ok(None)`: yes, counted;
    /// `Ok(Some(wait))`: not before `wait` (it was blocked by a 429, or its window's budget of
    /// `budget.requests` is spent). Fleet-wide in Redis, per process on the embedded queue.
    pub async fn salla_request(
        &self,
        merchant: MerchantId,
        customers: bool,
        requests: u32,
        window: Duration,
    ) -> Result<Option<Duration>, QueueError> {
        if requests == 0 {
            return Ok(None);
        }
        let now = now_ms();
        let window_ms = window.as_millis().max(1) as u64;
        let index = now / window_ms;
        let left_ms = (index + 1) * window_ms - now;
        let class = if customers { "customers" } else { "general" };
        let wait_ms: u64 = match &self.backend {
            Backend::Redis(queue, _) => {
                let mut conn = queue.connection();
                let wait: i64 = (*SALLA_SCRIPT)
                    .key(format!(
                        "{}:limits:salla-block:{merchant}",
                        queue.namespace()
                    ))
                    .key(format!(
                        "{}:limits:salla:{merchant}:{class}:{index}",
                        queue.namespace()
                    ))
                    .arg(requests)
                    .arg(left_ms)
                    .invoke_async(&mut conn)
                    .await?;
                u64::try_from(wait).unwrap_or(0)
            }
            Backend::Local(local) => {
                let mut local = local.lock().unwrap_or_else(|p| p.into_inner());
                match local.salla_block.get(&merchant) {
                    Some(until) if *until > now => until - now,
                    _ => {
                        let entry = local
                            .salla
                            .entry((merchant, customers))
                            .or_insert((index, 0));
                        if entry.0 != index {
                            *entry = (index, 0);
                        }
                        entry.1 += 1;
                        if entry.1 > requests { left_ms } else { 0 }
                    }
                }
            }
        };
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms)))
    }

    /// Salla answered 429 for the store: no request of its, from any worker, for `wait`.
    pub async fn block_salla(
        &self,
        merchant: MerchantId,
        wait: Duration,
    ) -> Result<(), QueueError> {
        let ms = wait.as_millis().max(1) as u64;
        match &self.backend {
            Backend::Redis(queue, _) => {
                let mut conn = queue.connection();
                let _: () = redis::cmd("SET")
                    .arg(format!(
                        "{}:limits:salla-block:{merchant}",
                        queue.namespace()
                    ))
                    .arg(1)
                    .arg("PX")
                    .arg(ms)
                    .query_async(&mut conn)
                    .await?;
            }
            Backend::Local(local) => {
                let mut local = local.lock().unwrap_or_else(|p| p.into_inner());
                local.salla_block.insert(merchant, now_ms() + ms);
            }
        }
        Ok(())
    }
}

/// Keep `granted` calls of `second` for this process's next calls to the store's Odoo (added to
/// what is left of that second; what is left of an earlier one can no longer be used).
fn keep(reserved: &Reserved, merchant: MerchantId, second: u64, granted: u32) {
    let mut reserved = reserved.lock().unwrap_or_else(|p| p.into_inner());
    let entry = reserved.entry(merchant).or_insert((second, 0));
    if entry.0 != second {
        *entry = (second, 0);
    }
    entry.1 += granted;
}

/// Additive increase, multiplicative decrease of one store's concurrency limit, from the latency
/// of its Odoo calls (see the module docs).
#[derive(Debug, Clone)]
pub struct Aimd {
    ceiling: u32,
    limit: u32,
    /// The lowest latency seen per method, in µs (forgets slowly: see [`Aimd::observe`]).
    floor: HashMap<String, f64>,
    /// This window's latency ratios to the floor.
    window: Vec<f64>,
}

/// Below this median ratio to the floor, Odoo is not queueing: one more job may run.
const GROW_BELOW: f64 = 2.0;
/// Above this median ratio, calls wait in Odoo's line: halve.
const SHRINK_ABOVE: f64 = 4.0;
/// A call this slow halves the limit at once (a timeout is near).
const TOO_SLOW: Duration = Duration::from_secs(10);
/// How fast a floor forgets (per call of its method): a new Odoo host, or a store's data growing,
/// raises the floor within a few hundred calls instead of never.
const FLOOR_DRIFT: f64 = 1.002;

impl Aimd {
    pub fn new(ceiling: u32) -> Self {
        let ceiling = ceiling.max(1);
        Self {
            ceiling,
            limit: ceiling,
            floor: HashMap::new(),
            window: Vec::new(),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Count one call; `Some(new limit)` when the limit changed.
    pub fn observe(&mut self, method: &str, elapsed: Duration) -> Option<u32> {
        let us = (elapsed.as_secs_f64() * 1e6).max(1.0);
        let floor = match self.floor.get_mut(method) {
            Some(f) => {
                *f = (*f * FLOOR_DRIFT).min(us);
                *f
            }
            None => {
                self.floor.insert(method.to_owned(), us);
                us
            }
        };
        let before = self.limit;
        if elapsed >= TOO_SLOW {
            self.limit = (self.limit / 2).max(1);
            self.window.clear();
        } else {
            self.window.push(us / floor);
            if self.window.len() >= self.limit.max(4) as usize {
                self.window.sort_by(f64::total_cmp);
                let median = self.window[self.window.len() / 2];
                self.window.clear();
                if median > SHRINK_ABOVE {
                    self.limit = (self.limit / 2).max(1);
                } else if median < GROW_BELOW {
                    self.limit = (self.limit + 1).min(self.ceiling);
                }
            }
        }
        (self.limit != before).then_some(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn starts_at_the_ceiling_and_stays_there_while_odoo_is_fast() {
        let mut a = Aimd::new(4);
        for _ in 0..100 {
            a.observe("read", ms(20));
        }
        assert_eq!(a.limit(), 4);
    }

    #[test]
    fn halves_when_calls_queue_then_grows_back_one_at_a_time() {
        let mut a = Aimd::new(8);
        for _ in 0..8 {
            a.observe("read", ms(20));
        }
        // Calls now wait in Odoo's line: five times the floor.
        let mut seen = vec![];
        for _ in 0..40 {
            if let Some(l) = a.observe("read", ms(100)) {
                seen.push(l);
            }
        }
        assert_eq!(seen, vec![4, 2, 1], "halved down to the floor of 1");
        assert_eq!(a.limit(), 1);
        // The line is gone: one more every window.
        let mut grown = vec![];
        for _ in 0..40 {
            if let Some(l) = a.observe("read", ms(21)) {
                grown.push(l);
            }
        }
        assert_eq!(grown, vec![2, 3, 4, 5, 6, 7, 8], "never above the ceiling");
    }

    #[test]
    fn each_method_has_its_own_floor() {
        let mut a = Aimd::new(4);
        // A create is slower than a read by nature, not because Odoo queues.
        for _ in 0..50 {
            a.observe("read", ms(10));
            assert_eq!(a.observe("create", ms(200)), None);
        }
        assert_eq!(a.limit(), 4);
    }

    #[test]
    fn a_call_near_a_timeout_halves_at_once() {
        let mut a = Aimd::new(4);
        a.observe("read", ms(10));
        assert_eq!(a.observe("read", Duration::from_secs(12)), Some(2));
        assert_eq!(a.observe("read", Duration::from_secs(12)), Some(1));
        assert_eq!(a.observe("read", Duration::from_secs(12)), None);
    }
}
