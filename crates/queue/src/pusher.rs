//! Group commit for [`RedisQueue::enqueue`](crate::RedisQueue::enqueue): enqueues that arrive
//! together share one run of apalis' push script (`queries::push_tasks`, which takes many tasks).
//!
//! # Why
//! Under load, most of an enqueue's cost is the script call itself (Redis reading, parsing and
//! answering one request; our side encoding it and waking for the answer), not the five writes
//! per job inside it. A busy ingest makes one call for the jobs of many requests instead.
//!
//! # Data flow
//! Callers hand their task to one batcher task through a channel and wait for its answer. The
//! batcher takes whatever is waiting (up to [`MAX_TASKS`] jobs or [`MAX_BYTES`] of job JSON) and
//! runs the script once for it, with up to [`IN_FLIGHT`] calls outstanding. A quiet queue sends
//! batches of one: a caller never waits for others to arrive.
//!
//! # Failure handling
//! - One batch is one script run: Redis runs it with nothing in between. An error or a timeout is
//!   every caller's error, so each answers 503 and Salla resends; a resend of a job that was stored
//!   after all is then a duplicate, as for a single push.
//! - The script answers only how many jobs it stored. When that is fewer than the batch, the batch's
//!   dedupe keys are read back (one `MGET`): a caller's job was stored iff its key holds its job id
//!   (ids are fresh per request, so no earlier delivery can hold the same one). If that read fails,
//!   every caller of the batch gets the error, as above.
//! - Each stored job that can be coalesced is then added to its entity's index
//!   (`ns:sync:entity:{merchant}:{kind}:{id}`, see [`crate::consumer`]) in one pipelined call. The
//!   index is advisory: should that call fail, the enqueue still succeeded (the job is stored) and
//!   the job simply runs on its own; it is never a reason to answer an error.
//! - In the same pipelined call, one wake-up token per stored job goes to `ns:sync:wake` (see
//!   [`crate::wake`]); should it be lost, idle workers find the jobs at their next poll.
//! - A caller that stops waiting (its client went away) does not stop its batch.
//! - The first enqueue starts the batcher, on its runtime (where the queue's connection lives too);
//!   it ends when the queue is dropped. Should it ever have stopped, the next enqueue starts another.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis_redis::{Config as ApalisConfig, RedisTask};
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::{Enqueued, QueueError};

/// Most jobs in one script call (7 arguments each).
pub(crate) const MAX_TASKS: usize = 128;
/// Most job JSON in one script call: a batch stays a modest request even when bodies are large.
pub(crate) const MAX_BYTES: usize = 512 * 1024;
/// Script calls outstanding at once: enough to keep Redis busy while answers travel back.
pub(crate) const IN_FLIGHT: usize = 2;

/// One caller's job, waiting for a batch.
struct Push {
    task: RedisTask,
    /// The job id the script stores under, and writes into the dedupe key when it claims it.
    id: String,
    /// The full dedupe key (`ns:sync:idempotency:{key}`).
    dedupe_key: String,
    /// The job's entity index (`ns:sync:entity:…`), when it can be coalesced.
    index: Option<String>,
    reply: oneshot::Sender<Result<Enqueued, QueueError>>,
}

impl Push {
    /// The job JSON's size, which bounds a batch.
    fn bytes(&self) -> usize {
        self.task.args.len()
    }
}

/// What the batcher needs of the queue (not the queue itself: the batcher must not keep the channel
/// it drains alive).
#[derive(Clone)]
pub(crate) struct Target {
    pub conn: ConnectionManager,
    pub apalis: ApalisConfig,
    /// Bound on one script call, including waiting on a reconnect in progress.
    pub limit: Duration,
    /// The wake-up list (`ns:sync:wake`, see [`crate::wake`]).
    pub wake: String,
}

/// The sending side, shared by every clone of a [`RedisQueue`](crate::RedisQueue).
pub(crate) struct Pusher {
    /// Handed to each batcher it starts.
    target: Target,
    tx: Mutex<Option<mpsc::UnboundedSender<Push>>>,
}

impl Pusher {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            tx: Mutex::new(None),
        }
    }

    /// Queue `task` (job `id`, claiming `dedupe_key`) for the next batch, starting the batcher if
    /// there is none, and wait for the outcome.
    pub async fn push(
        &self,
        task: RedisTask,
        id: String,
        dedupe_key: String,
        index: Option<String>,
    ) -> Result<Enqueued, QueueError> {
        let (reply, answer) = oneshot::channel();
        let push = Push {
            task,
            id,
            dedupe_key,
            index,
            reply,
        };
        {
            let mut tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            let push = match tx.as_ref() {
                Some(sender) => sender.send(push).err().map(|e| e.0),
                None => Some(push),
            };
            if let Some(push) = push {
                let (new_tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run(self.target.clone(), rx));
                // The receiver is alive: it was just made.
                let _ = new_tx.send(push);
                *tx = Some(new_tx);
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(QueueError::Protocol(
                "the enqueue batcher stopped before answering".to_owned(),
            ))
        })
    }
}

/// The batcher: take what is waiting, push it, answer; until every sender is gone.
async fn run(target: Target, mut rx: mpsc::UnboundedReceiver<Push>) {
    let mut calls = JoinSet::new();
    // A job that did not fit the previous batch starts the next one.
    let mut carried: Option<Push> = None;
    loop {
        if calls.len() >= IN_FLIGHT {
            calls.join_next().await;
            continue;
        }
        let first = match carried.take() {
            Some(push) => push,
            None => tokio::select! {
                Some(_) = calls.join_next(), if !calls.is_empty() => continue,
                next = rx.recv() => match next {
                    Some(push) => push,
                    None => break,
                },
            },
        };
        let mut bytes = first.bytes();
        let mut batch = vec![first];
        while batch.len() < MAX_TASKS {
            match rx.try_recv() {
                Ok(push) if bytes + push.bytes() > MAX_BYTES => {
                    carried = Some(push);
                    break;
                }
                Ok(push) => {
                    bytes += push.bytes();
                    batch.push(push);
                }
                Err(_) => break,
            }
        }
        calls.spawn(push_batch(target.clone(), batch));
    }
    while calls.join_next().await.is_some() {}
}

async fn push_batch(target: Target, batch: Vec<Push>) {
    let mut tasks = Vec::with_capacity(batch.len());
    let mut waiters = Vec::with_capacity(batch.len());
    let mut indexes = Vec::with_capacity(batch.len());
    for push in batch {
        tasks.push(push.task);
        indexes.push(push.index);
        waiters.push((push.id, push.dedupe_key, push.reply));
    }
    let Target {
        mut conn,
        apalis,
        limit,
        wake,
    } = target;
    let outcome = tokio::time::timeout(limit, async {
        let (now, later) = apalis_redis::queries::push_tasks(&mut conn, &apalis, &tasks).await?;
        if (now + later) as usize == tasks.len() {
            return Ok(vec![Enqueued::Queued; tasks.len()]);
        }
        // Some were duplicates: each key names the job that claimed it.
        let keys: Vec<&str> = waiters.iter().map(|(_, key, _)| key.as_str()).collect();
        let owners: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        Ok(owners
            .iter()
            .zip(&waiters)
            .map(|(owner, (id, _, _))| {
                if owner.as_deref() == Some(id.as_str()) {
                    Enqueued::Queued
                } else {
                    Enqueued::Duplicate
                }
            })
            .collect())
    })
    .await
    .unwrap_or(Err(QueueError::Timeout(limit)));
    if let Ok(outcomes) = &outcome {
        let mut pipe = redis::pipe();
        let mut queued = 0;
        for ((index, (id, _, _)), outcome) in indexes.iter().zip(&waiters).zip(outcomes) {
            if *outcome == Enqueued::Queued {
                queued += 1;
            }
            if let (Some(index), Enqueued::Queued) = (index, outcome) {
                pipe.sadd(index, id).ignore();
                pipe.expire(index, crate::consumer::INDEX_TTL_SECS).ignore();
            }
        }
        if queued > 0 {
            // One token per new job (up to the cap): as many idle workers wake as there is work.
            let tokens = vec![1u8; queued.min(crate::wake::WAKE_CAP as usize)];
            pipe.lpush(&wake, tokens).ignore();
            pipe.ltrim(&wake, 0, (crate::wake::WAKE_CAP - 1) as isize)
                .ignore();
            let written = tokio::time::timeout(limit, pipe.query_async::<()>(&mut conn)).await;
            if !matches!(written, Ok(Ok(()))) {
                tracing::warn!(
                    "coalescing index or wake-up not written; those jobs run on their own, at the next poll"
                );
            }
        }
    }
    match outcome {
        Ok(outcomes) => {
            for ((_, _, reply), outcome) in waiters.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) if waiters.len() == 1 => {
            if let Some((_, _, reply)) = waiters.pop() {
                let _ = reply.send(Err(e));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for (_, _, reply) in waiters {
                let _ = reply.send(Err(QueueError::Batch(e.clone())));
            }
        }
    }
}
