//! The store option `variants` (how a Salla product with options is kept in Odoo) on both
//! backends: new stores get `templates`, stores that existed before the option keep `separate`
//! (the layout their products were synced in), and updates change it.

mod common;

use base64::Engine;
use salla_odoo_core::settings::SecretsSettings;
use salla_odoo_core::{MerchantId, VariantLayout};
use salla_odoo_store::{Keyring, StoreUpdate, stores};
use secrecy::SecretString;

use common::each_backend;

const OLD: MerchantId = MerchantId::new(1_305_418_301);
const NEW: MerchantId = MerchantId::new(1_305_418_302);

fn keyring() -> Keyring {
    Keyring::from_settings(&SecretsSettings {
        key: SecretString::from(base64::engine::general_purpose::STANDARD.encode([7u8; 32])),
        previous_keys: Vec::new(),
    })
    .unwrap()
}

/// The migration that adds `variants`, by its file name.
const VERSION: i64 = 20261216000003;

#[tokio::test]
async fn stores_before_the_option_keep_separate_and_new_ones_get_templates() {
    each_backend(async |db| {
        let ring = keyring();
        // The database as it was before the migration: without the column, the migration not run.
        on_pool!(&db.pool, pool => {
            sqlx::query("ALTER TABLE stores DROP COLUMN variants")
                .execute(pool)
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM _sqlx_migrations WHERE version = {VERSION}"
            )))
            .execute(pool)
            .await
            .unwrap();
        });
        stores::upsert_installed(&db.pool, OLD, None, None)
            .await
            .unwrap();
        let status = salla_odoo_store::migrate(&db.pool).await.unwrap();
        assert!(status.iter().all(|m| m.applied), "{status:?}");
        stores::upsert_installed(&db.pool, NEW, None, None)
            .await
            .unwrap();
        let load = async |m| {
            stores::load_settings(&db.pool, &ring, m)
                .await
                .unwrap()
                .unwrap()
                .variants
        };
        assert_eq!(load(OLD).await, VariantLayout::Separate);
        assert_eq!(load(NEW).await, VariantLayout::Templates);

        // Updates change it; others leave it.
        let update = StoreUpdate {
            variants: Some(VariantLayout::Templates),
            ..Default::default()
        };
        let s = stores::upsert_settings(&db.pool, &ring, OLD, &update)
            .await
            .unwrap();
        assert_eq!(s.variants, VariantLayout::Templates);
        let update = StoreUpdate {
            tax_id: Some(4),
            ..Default::default()
        };
        let s = stores::upsert_settings(&db.pool, &ring, OLD, &update)
            .await
            .unwrap();
        assert_eq!(s.variants, VariantLayout::Templates);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["variants"], "templates");

        // The database refuses anything else.
        let bad = on_pool!(&db.pool, pool => {
            sqlx::query("UPDATE stores SET variants = 'grouped'")
                .execute(pool)
                .await
                .map(|_| ())
        });
        assert!(bad.is_err());
    })
    .await;
}
