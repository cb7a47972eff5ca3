//! Wake-ups for idle workers: a job queued (or put back) reaches an idle worker without waiting for
//! its next poll.
//!
//! # Redis
//! Every path that makes work available — the push (see `pusher`), a reschedule, a give-back, a
//! release and the orphan re-queue — also does `LPUSH ns:sync:wake 1` and trims the list to
//! [`WAKE_CAP`] tokens, in the same script or pipeline. (apalis' own `ns:sync:signal` is no use:
//! its push script only writes it for a job that goes straight to `active`, and apalis-redis 1.0
//! sends every job to `scheduled`; its fetch script deletes it.) Each worker process has one waiter
//! task with a connection of its own, so that the blocking call never holds up the commands of the
//! jobs: while the worker has room for more jobs it loops on `BLPOP ns:sync:wake 1`, and each token
//! wakes the worker's run loop ([`Wakeups::notified`]), which then fetches. A token taken while the
//! worker has no room is pushed back for another worker.
//!
//! Tokens are hints, never the only way a job is found: a lost token (Redis restarted, the waiter
//! reconnecting, a token taken by a worker that then filled up) costs at most one `worker.poll_ms`,
//! the fallback poll that stays in place. Stale tokens (left while every worker was busy) cost one
//! empty fetch each, and there are at most [`WAKE_CAP`] of them.
//!
//! # Embedded
//! One process: the queue bumps a counter in a `tokio::sync::watch` channel at each enqueue,
//! reschedule, give-back, release and orphan re-queue; every worker's run loop waits on it.

use std::time::Duration;

use tokio::sync::watch;

/// Most wake tokens kept in `ns:sync:wake`.
pub(crate) const WAKE_CAP: i64 = 64;

/// How long one `BLPOP` blocks (whole seconds: every Redis version takes them).
const BLOCK_SECS: u64 = 1;

/// What an idle worker waits on besides its poll timer. Dropping it stops its waiter task.
pub struct Wakeups {
    rx: watch::Receiver<u64>,
    wanted: watch::Sender<bool>,
    _task: Option<AbortOnDrop>,
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups").finish_non_exhaustive()
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Wakeups {
    /// Wake-ups from an in-process source (the embedded queue).
    pub(crate) fn local(rx: watch::Receiver<u64>) -> Self {
        let (wanted, _) = watch::channel(true);
        Self {
            rx,
            wanted,
            _task: None,
        }
    }

    /// Wake-ups from `key` on the Redis of `client`, through a connection of their own.
    pub(crate) fn redis(client: redis::Client, key: String, connect_timeout: Duration) -> Self {
        let (tx, rx) = watch::channel(0u64);
        let (wanted, wanted_rx) = watch::channel(false);
        let task = tokio::spawn(waiter(client, key, connect_timeout, tx, wanted_rx));
        Self {
            rx,
            wanted,
            _task: Some(AbortOnDrop(task)),
        }
    }

    /// Whether this worker has room for more jobs: only then does it take tokens.
    pub fn want(&self, room: bool) {
        self.wanted
            .send_if_modified(|w| std::mem::replace(w, room) != room);
    }

    /// Resolves once work may have arrived since the last time it resolved (at once if it already
    /// has); never, when the source is gone (the poll timer still runs).
    pub async fn notified(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn waiter(
    client: redis::Client,
    key: String,
    connect_timeout: Duration,
    tx: watch::Sender<u64>,
    mut wanted: watch::Receiver<bool>,
) {
    let block = Duration::from_secs(BLOCK_SECS);
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    loop {
        if wanted.wait_for(|w| *w).await.is_err() {
            return;
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    // Bounded below, around the whole call.
                    .set_response_timeout(None);
                match client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        tracing::debug!(error = %e, "wake-up connection failed; polling meanwhile");
                        tokio::time::sleep(block).await;
                        continue;
                    }
                }
            }
        };
        let popped = tokio::time::timeout(
            block + connect_timeout,
            redis::cmd("BLPOP")
                .arg(&key)
                .arg(BLOCK_SECS)
                .query_async::<Option<(String, String)>>(c),
        )
        .await;
        match popped {
            Ok(Ok(Some(_))) => {
                if *wanted.borrow() {
                    tx.send_modify(|n| *n = n.wrapping_add(1));
                } else {
                    // Filled up meanwhile: the token is another worker's.
                    let _: Result<(), _> =
                        redis::cmd("LPUSH").arg(&key).arg(1).query_async(c).await;
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(_)) | Err(_) => {
                // Dropping the connection also ends a BLPOP still blocked on the server.
                conn = None;
                tokio::time::sleep(block).await;
            }
        }
    }
}
