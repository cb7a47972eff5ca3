//! The store lifecycle the worker applies: `app.uninstalled` disconnects a store and schedules the
//! purge of its data; the retention run purges stores whose grace period is over.

use std::time::Duration;

use salla_odoo_core::{MerchantId, SyncError};
use salla_odoo_queue::Queue;
use salla_odoo_store::Db;
use salla_odoo_store::{secrets, stores};
use time::OffsetDateTime;

use crate::handler::Handled;

/// `app.uninstalled`: the Salla tokens are deleted at once (they stop working anyway), the store's
/// waiting jobs are dropped, and everything else is kept until `now + grace`, then purged. Jobs that
/// arrive for it meanwhile are skipped; `app.installed` before the purge reconnects it intact.
pub async fn uninstall(
    pool: &Db,
    queue: &Queue,
    merchant: MerchantId,
    grace: Duration,
) -> Result<Handled, SyncError> {
    let purge_at = OffsetDateTime::now_utc() + grace;
    if stores::mark_uninstalled(pool, merchant, purge_at)
        .await
        .map_err(|e| salla_odoo_sync::classify_store(&e))?
        .is_none()
    {
        stores::upsert_installed(pool, merchant, None, None)
            .await
            .map_err(|e| salla_odoo_sync::classify_store(&e))?;
        stores::mark_uninstalled(pool, merchant, purge_at)
            .await
            .map_err(|e| salla_odoo_sync::classify_store(&e))?;
    }
    for name in [secrets::SALLA_ACCESS_TOKEN, secrets::SALLA_REFRESH_TOKEN] {
        secrets::delete_secret(pool, merchant, name)
            .await
            .map_err(|e| salla_odoo_sync::classify_store(&e))?;
    }
    // No API call can succeed any more; a new app.store.authorize (a re-install) clears this.
    salla_odoo_store::tokens::mark_needs_reinstall(pool, merchant, "the app was uninstalled")
        .await
        .map_err(|e| salla_odoo_sync::classify_store(&e))?;
    metrics::counter!("salla_odoo_salla_needs_reinstall_total").increment(1);
    let dropped = queue
        .drop_merchant_jobs(merchant, false)
        .await
        .map_err(|e| SyncError::Transient {
            message: e.to_string(),
            retry_after: None,
        })?;
    Ok(Handled::Applied {
        odoo_ids: serde_json::json!({}),
        note: Some(format!(
            "store disconnected: Salla tokens deleted, {dropped} queued job(s) dropped, data purged after {}",
            purge_at.date()
        )),
    })
}

/// Purge every uninstalled store whose grace period is over: queued jobs, then every row.
pub async fn purge_due(
    pool: &Db,
    queue: &Queue,
) -> Result<Vec<MerchantId>, salla_odoo_store::StoreError> {
    let now = OffsetDateTime::now_utc();
    let mut due = stores::due_for_purge(pool, now).await?;
    // The uninstall job records its own outcome just after it returns: leave a few seconds, so that
    // row is purged too instead of outliving the store.
    let mut settled = Vec::with_capacity(due.len());
    for merchant in due.drain(..) {
        let row = stores::get(pool, merchant).await?;
        if row
            .and_then(|r| r.uninstalled_at)
            .is_some_and(|at| now - at > time::Duration::seconds(10))
        {
            settled.push(merchant);
        }
    }
    let due = settled;
    for merchant in &due {
        if let Err(e) = async {
            queue.drop_merchant_jobs(*merchant, false).await?;
            queue.forget_merchant(*merchant).await
        }
        .await
        {
            tracing::warn!(merchant = merchant.get(), error = %e, "queue keys not removed; purging the database anyway");
        }
        let report = salla_odoo_store::purge::purge_merchant(pool, *merchant).await?;
        tracing::info!(
            merchant = merchant.get(),
            rows = report.total(),
            "store purged after its grace period"
        );
    }
    Ok(due)
}
