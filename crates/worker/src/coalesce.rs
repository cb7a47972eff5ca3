//! Coalescing: the jobs of one entity that wait at the same time become one convergence.
//!
//! An order typically arrives as `order.created`, `order.updated` and one or more status entries
//! within seconds. Run one by one, each converges the order on its own (and all but one wait for
//! the entity lock first). Instead, the worker that holds an entity's lock takes the entity's other
//! waiting jobs ([`Queue::claim_coalesced`](salla_odoo_queue::Queue::claim_coalesced); jobs fetched
//! together are grouped in the process too) and runs only what their newest state needs
//! ([`plan`]). Which jobs may be coalesced at all is
//! [`SyncJobV1::coalesce_entity`](salla_odoo_core::SyncJobV1::coalesce_entity).
//!
//! # What one convergence runs ([`plan`])
//! Jobs are ranked by source version (the order's / customer's `updated_at`, else the envelope's
//! `created_at`: what the id map's watermark compares), ties by job id (UUIDv7: arrival).
//! - **Orders**: at most two of the group's own jobs run, in rank order: the newest job whose body
//!   writes the order's lines (any `order.upsert`, or a status entry whose nested order is whole —
//!   [`order_is_partial`] bodies never rewrite lines), and the newest status job. That is what
//!   running every job in version order leaves in Odoo: older bodies are stale once a newer one
//!   is applied, and a status step is superseded by the newest status (steps read Odoo's state
//!   first). A status-only (partial) body never replaces a whole body's lines: the whole body runs
//!   first. Status entries without a body and `order.refunded` are never folded.
//! - **Customers**: the newest body alone (an older one would be skipped as stale after it).
//! - Anything in the group that cannot be read for folding runs on its own after the others,
//!   still under the lock.
//!
//! # The late claim
//! The claim above happens once, after the lock is taken. A job of the same entity that arrives
//! while the group runs, or that another worker fetched meanwhile and deferred (`entity_locked`),
//! would otherwise run on its own afterwards (usually a stale skip, still Odoo calls). So when
//! every run of the group reached its outcome, the worker claims the entity's waiting jobs a
//! second time, just before it releases the lock, and [`plan`]s them together with the runs that
//! just ended: a late job that a run covers (older than the state that run applied, by the same
//! ranking) is logged coalesced into it without running; one that carries a newer state (or
//! cannot be folded) runs there, still under the lock, when the worker still holds the store slot
//! (a group), and otherwise (a job that ran alone: its slot went with its ack) goes back to the
//! queue due at once, after the lock is released. A newer state is never dropped. A deferred job
//! of a busy entity thus no longer waits out `worker.lock_busy_retry_ms`: the holder takes it.
//! (A job deferred after the holder's late claim still waits; that window is one Redis round
//! trip wide.)
//!
//! # Outcomes (sync log)
//! A job that ran gets its own outcome, as always. A job covered by a run is older than that run
//! (by the ranking above) and superseded by it, as it would have been found stale after it: it is
//! logged **skipped** with the reason `stale: coalesced into job <id> (<event>), which applied a
//! newer state` (with that run's Odoo ids), or `…, which was skipped: <its reason>`. Each covered
//! job is then acknowledged on its own. `salla_odoo_jobs_total{outcome="coalesced"}` counts them.
//!
//! # Failures
//! - Transient (or a timeout) in a run: that job is retried as usual (attempt + 1, backoff); every
//!   job of the group without an outcome yet goes back to the queue with the same delay, without
//!   spending an attempt, and the group forms again when they come due.
//! - Throttled: every job without an outcome is deferred by the throttle's delay.
//! - Permanent: that job is dead-lettered as usual (its own job JSON: replayable); the jobs it
//!   covered go back to the queue and run on their own later (or coalesce among themselves), so
//!   each still gets its own outcome — an older body may well apply — and its own dead letter if it
//!   fails too.
//! - A crash: every claimed job is in the crashed worker's in-flight set; the orphan check re-queues
//!   them all (handlers are idempotent). Their `starts` counted up at the claim, so a group that
//!   kills its worker every time ends as poison dead letters like any job.

use salla_odoo_core::{JobKind, SyncJobV1};
use salla_odoo_salla::payload::{Customer, Order};
use salla_odoo_sync::mapping::{order_is_partial, order_version};
use salla_odoo_sync::version::source_version;
use serde_json::Value;

/// Most jobs one worker takes into one convergence (the lead's included).
pub const MAX_GROUP: usize = 32;

/// What one group runs: `runs` are indexes into the group, in the order they run; `covered[i]` is
/// `Some(r)` when job `i` does not run and its outcome is that of `runs[r]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub runs: Vec<usize>,
    pub covered: Vec<Option<usize>>,
}

/// How a job takes part in a fold.
#[derive(Debug, Clone, Copy)]
enum Fold {
    Order {
        version: i64,
        /// The body rewrites the order's lines.
        lines: bool,
        status: bool,
    },
    Customer {
        version: i64,
    },
    /// Not foldable: runs on its own.
    Alone,
}

fn fold_of(job: &SyncJobV1) -> Fold {
    let created_at = job.salla_created_at.as_str();
    match job.kind {
        JobKind::OrderUpsert => match Order::deserialize_from(&job.data) {
            Some(o) => Fold::Order {
                version: order_version(&o, created_at),
                lines: true,
                status: false,
            },
            None => Fold::Alone,
        },
        JobKind::OrderStatus if job.event != "order.refunded" => {
            let body = if job.event == "order.status.updated" {
                match job.data.get("order") {
                    Some(o) if o.is_object() => o,
                    // A bodiless entry (only an `order_id`) fetches the order: not folded.
                    _ => return Fold::Alone,
                }
            } else {
                &job.data
            };
            match Order::deserialize_from(body) {
                Some(o) => Fold::Order {
                    version: order_version(&o, created_at),
                    lines: !order_is_partial(&o),
                    status: true,
                },
                None => Fold::Alone,
            }
        }
        JobKind::CustomerUpsert => match Customer::deserialize_from(&job.data) {
            Some(c) => Fold::Customer {
                version: source_version(c.updated_at.as_ref(), created_at),
            },
            None => Fold::Alone,
        },
        _ => Fold::Alone,
    }
}

trait FromValue: Sized {
    fn deserialize_from(v: &Value) -> Option<Self>;
}

impl<T: serde::de::DeserializeOwned> FromValue for T {
    fn deserialize_from(v: &Value) -> Option<Self> {
        T::deserialize(v).ok()
    }
}

/// What the group `jobs` (all of one entity) runs: see the module docs.
pub fn plan(jobs: &[&SyncJobV1]) -> Plan {
    let folds: Vec<Fold> = jobs.iter().map(|j| fold_of(j)).collect();
    let rank = |i: usize| -> (i64, uuid::Uuid) {
        let v = match folds[i] {
            Fold::Order { version, .. } | Fold::Customer { version } => version,
            Fold::Alone => i64::MIN,
        };
        (v, jobs[i].id)
    };
    let newest = |pred: &dyn Fn(&Fold) -> bool| -> Option<usize> {
        (0..jobs.len())
            .filter(|&i| pred(&folds[i]))
            .max_by_key(|&i| rank(i))
    };
    let lines = newest(&|f| matches!(f, Fold::Order { lines: true, .. }));
    let status = newest(&|f| matches!(f, Fold::Order { status: true, .. }));
    let customer = newest(&|f| matches!(f, Fold::Customer { .. }));
    let mut runs: Vec<usize> = [lines, status, customer].into_iter().flatten().collect();
    runs.sort_by_key(|&i| rank(i));
    runs.dedup();
    let mut covered = vec![None; jobs.len()];
    for (i, fold) in folds.iter().enumerate() {
        if runs.contains(&i) {
            continue;
        }
        let by = match fold {
            Fold::Order { status: true, .. } => status,
            Fold::Order { .. } => lines,
            Fold::Customer { .. } => customer,
            Fold::Alone => None,
        };
        match by.and_then(|b| runs.iter().position(|&r| r == b)) {
            Some(r) => covered[i] = Some(r),
            None => runs.push(i),
        }
    }
    Plan { runs, covered }
}

#[cfg(test)]
mod tests {
    use super::*;
    use salla_odoo_core::{BodyDigest, EntityKind, EntityRef, MerchantId, SallaId};
    use serde_json::json;

    fn job(n: u128, kind: JobKind, event: &str, data: Value) -> SyncJobV1 {
        SyncJobV1 {
            id: uuid::Uuid::from_u128(n),
            kind,
            merchant: MerchantId::new(1),
            event: event.into(),
            entity: Some(EntityRef {
                kind: EntityKind::Order,
                id: SallaId::new(7),
            }),
            digest: BodyDigest::of(event.as_bytes()),
            salla_created_at: "2026-01-01 10:00:00".into(),
            received_at: time::OffsetDateTime::UNIX_EPOCH,
            attempt: 0,
            data,
            history: Vec::new(),
            trace: None,
        }
    }

    fn full(updated: &str, slug: &str) -> Value {
        json!({
            "id": 7, "updated_at": {"date": updated, "timezone": "UTC"},
            "status": {"slug": slug},
            "customer": {"id": 1},
            "amounts": {"total": {"amount": 10}},
            "items": [{"id": 1, "sku": "A", "quantity": 1,
                       "amounts": {"price_without_tax": {"amount": 10}, "total": {"amount": 10}}}]
        })
    }

    fn partial(updated: &str, slug: &str) -> Value {
        json!({"id": 7, "updated_at": {"date": updated, "timezone": "UTC"}, "status": {"slug": slug}})
    }

    fn upsert(n: u128, updated: &str) -> SyncJobV1 {
        job(
            n,
            JobKind::OrderUpsert,
            "order.updated",
            full(updated, "under_review"),
        )
    }

    fn status(n: u128, body: Value) -> SyncJobV1 {
        job(
            n,
            JobKind::OrderStatus,
            "order.status.updated",
            json!({"id": 900 + n, "order": body}),
        )
    }

    #[test]
    fn created_updated_and_a_whole_status_entry_run_as_the_status_entry() {
        let a = upsert(1, "2026-01-01 10:00:00");
        let b = upsert(2, "2026-01-01 10:00:05");
        let c = status(3, full("2026-01-01 10:00:09", "completed"));
        let p = plan(&[&a, &b, &c]);
        assert_eq!(p.runs, vec![2]);
        assert_eq!(p.covered, vec![Some(0), Some(0), None]);
    }

    #[test]
    fn a_partial_status_entry_runs_after_the_newest_whole_body() {
        let a = upsert(1, "2026-01-01 10:00:00");
        let b = status(2, partial("2026-01-01 10:00:09", "completed"));
        let c = upsert(3, "2026-01-01 10:00:05");
        let d = status(4, partial("2026-01-01 10:00:07", "processing"));
        let p = plan(&[&a, &b, &c, &d]);
        assert_eq!(p.runs, vec![2, 1]);
        assert_eq!(p.covered, vec![Some(0), None, None, Some(1)]);
    }

    #[test]
    fn a_newer_body_runs_after_an_older_status() {
        let a = status(1, full("2026-01-01 10:00:00", "processing"));
        let b = upsert(2, "2026-01-01 10:00:05");
        let p = plan(&[&b, &a]);
        assert_eq!(p.runs, vec![1, 0]);
        assert_eq!(p.covered, vec![None, None]);
    }

    #[test]
    fn equal_versions_go_by_arrival() {
        let a = upsert(5, "2026-01-01 10:00:00");
        let b = upsert(4, "2026-01-01 10:00:00");
        let p = plan(&[&a, &b]);
        assert_eq!(p.runs, vec![0]);
        assert_eq!(p.covered, vec![None, Some(0)]);
    }

    #[test]
    fn what_cannot_be_folded_runs_on_its_own_after_the_rest() {
        let a = upsert(1, "2026-01-01 10:00:00");
        let bodiless = job(
            2,
            JobKind::OrderStatus,
            "order.status.updated",
            json!({"id": 5, "order_id": 7}),
        );
        let refund = job(
            3,
            JobKind::OrderStatus,
            "order.refunded",
            full("2026-01-01 10:00:09", "restored"),
        );
        let p = plan(&[&bodiless, &a, &refund]);
        assert_eq!(p.runs, vec![1, 0, 2]);
        assert_eq!(p.covered, vec![None, None, None]);
    }

    #[test]
    fn the_newest_customer_body_wins() {
        let mut a = job(
            1,
            JobKind::CustomerUpsert,
            "customer.updated",
            json!({"id": 3, "first_name": "A", "updated_at": {"date": "2026-01-01 10:00:09", "timezone": "UTC"}}),
        );
        a.entity = Some(EntityRef {
            kind: EntityKind::Customer,
            id: SallaId::new(3),
        });
        let mut b = a.clone();
        b.id = uuid::Uuid::from_u128(2);
        b.data["updated_at"]["date"] = json!("2026-01-01 10:00:01");
        let p = plan(&[&a, &b]);
        assert_eq!(p.runs, vec![0]);
        assert_eq!(p.covered, vec![None, Some(0)]);
    }
}
