//! Per-store limits, so one merchant's flood or dead Odoo never starves the others: fleet-wide in
//! Redis, or in the process's memory for the embedded queue (`salla-odoo run` is the only process
//! using its data, so its memory is the whole "fleet"; the same rules apply).
//!
//! # Keys (Redis, namespace `ns`)
//! | key | type | holds |
//! |---|---|---|
//! | `ns:limits:running:{merchant}` | ZSET | job id → lease expiry (Unix ms): the store's jobs running now |
//! | `ns:limits:calls:{merchant}:{second}` | STRING | Odoo calls started in that second (expires after 2 s) |
//!
//! # Failure handling
//! A slot is a lease that expires after the job timeout plus a margin, so a worker that dies while
//! holding one cannot block its store for longer than that. When Redis is unreachable the limiter
//! refuses (the job is rescheduled, no attempt spent): the queue is unusable then anyway.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use redis::Script;
use salla_odoo_core::MerchantId;
use salla_odoo_queue::{Queue, QueueError, RedisQueue};

const ACQUIRE: &str = r#"
-- KEYS[1] running ZSET; ARGV[1] now (ms), ARGV[2] limit, ARGV[3] job id, ARGV[4] lease expiry (ms)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1
"#;

const CALL: &str = r#"
-- KEYS[1] this second's counter; ARGV[1] limit
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 2) end
if n > tonumber(ARGV[1]) then return 0 end
return 1
"#;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// Per-store concurrency and call-rate limits shared by every worker of a namespace.
#[derive(Clone, Debug)]
pub struct StoreLimits {
    backend: Backend,
    concurrency: u32,
    calls_per_sec: u32,
    lease: Duration,
}

#[derive(Clone, Debug)]
enum Backend {
    Redis(RedisQueue),
    Local(Arc<Mutex<Local>>),
}

/// The in-process counterpart of the Redis keys: running leases and this second's call counts.
#[derive(Debug, Default)]
struct Local {
    running: HashMap<MerchantId, HashMap<String, u64>>,
    calls: HashMap<MerchantId, (u64, u32)>,
}

impl StoreLimits {
    /// Limits kept where the queue is: in Redis for the fleet, in memory for the embedded queue.
    pub fn new(queue: Queue, concurrency: u32, calls_per_sec: u32, lease: Duration) -> Self {
        let backend = match queue {
            Queue::Redis(q) => Backend::Redis(q),
            Queue::Embedded(_) => Backend::Local(Arc::default()),
        };
        Self {
            backend,
            concurrency,
            calls_per_sec,
            lease,
        }
    }

    fn running_key(queue: &RedisQueue, merchant: MerchantId) -> String {
        format!("{}:limits:running:{merchant}", queue.namespace())
    }

    /// Take one of the store's job slots for `job_id`; `false` when the store is at its limit.
    pub async fn try_acquire(
        &self,
        merchant: MerchantId,
        job_id: &str,
    ) -> Result<bool, QueueError> {
        let now = now_ms();
        let queue = match &self.backend {
            Backend::Redis(q) => q,
            Backend::Local(local) => {
                let mut local = local.lock().unwrap_or_else(|p| p.into_inner());
                let running = local.running.entry(merchant).or_default();
                running.retain(|_, expiry| *expiry > now);
                if !running.contains_key(job_id) && running.len() >= self.concurrency as usize {
                    return Ok(false);
                }
                running.insert(job_id.to_owned(), now + self.lease.as_millis() as u64);
                return Ok(true);
            }
        };
        let mut conn = queue.connection();
        let taken: i64 = Script::new(ACQUIRE)
            .key(Self::running_key(queue, merchant))
            .arg(now)
            .arg(self.concurrency)
            .arg(job_id)
            .arg(now + self.lease.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        Ok(taken == 1)
    }

    pub async fn release(&self, merchant: MerchantId, job_id: &str) -> Result<(), QueueError> {
        let queue = match &self.backend {
            Backend::Redis(q) => q,
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
                Backend::Redis(queue) => {
                    let mut conn = queue.connection();
                    let ok: i64 = Script::new(CALL)
                        .key(format!(
                            "{}:limits:calls:{merchant}:{second}",
                            queue.namespace()
                        ))
                        .arg(self.calls_per_sec)
                        .invoke_async(&mut conn)
                        .await?;
                    ok == 1
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
