//! The reconciliation watermarks of products and customers (`reconcile::pass_*`) on both
//! backends: a pass paused at a page resumes there with the instant it began, a complete pass
//! moves the watermark forward only, and each list keeps its own.

mod common;

use salla_odoo_core::MerchantId;
use salla_odoo_store::reconcile::{self, ListEntity, PassState, SyncScope};
use salla_odoo_store::stores;
use time::macros::datetime;

use common::each_backend;

const M: MerchantId = MerchantId::new(1_305_418_777);

#[tokio::test]
async fn passes_resume_where_they_stopped_and_their_watermarks_only_move_forward() {
    each_backend(async |db| {
        let pool = &db.pool;
        assert_eq!(
            reconcile::pass_state(pool, M, ListEntity::Products)
                .await
                .unwrap(),
            None
        );
        assert_eq!(reconcile::sync_scope(pool, M).await.unwrap(), None);
        stores::upsert_installed(pool, M, None, None).await.unwrap();
        assert_eq!(
            reconcile::sync_scope(pool, M).await.unwrap(),
            Some(SyncScope {
                has_odoo: false,
                create_unknown_skus: false
            })
        );
        let fresh = reconcile::pass_state(pool, M, ListEntity::Products)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fresh, PassState::default());

        // A pass begun at 10:00 stops at its page limit: the next run resumes at page 101.
        let began = datetime!(2026-12-07 10:00:00 UTC);
        reconcile::pass_paused(pool, M, ListEntity::Products, 101, began)
            .await
            .unwrap();
        let paused = reconcile::pass_state(pool, M, ListEntity::Products)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(paused.next_page, Some(101));
        assert_eq!(paused.pass_started, Some(began));
        assert_eq!(paused.watermark, None);
        assert!(paused.reconciled_at.is_some());

        // It ends: the watermark is when it began; the next run starts a new pass.
        reconcile::pass_complete(pool, M, ListEntity::Products, began)
            .await
            .unwrap();
        let done = reconcile::pass_state(pool, M, ListEntity::Products)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (done.watermark, done.next_page, done.pass_started),
            (Some(began), None, None)
        );
        // An older pass never moves it back.
        reconcile::pass_complete(pool, M, ListEntity::Products, began - time::Duration::HOUR)
            .await
            .unwrap();
        let still = reconcile::pass_state(pool, M, ListEntity::Products)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(still.watermark, Some(began));

        // The customers' pass and the orders' watermark are apart.
        let customers = reconcile::pass_state(pool, M, ListEntity::Customers)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(customers.watermark, None);
        assert_eq!(
            reconcile::get(pool, M).await.unwrap().unwrap().watermark,
            None
        );
    })
    .await;
}
