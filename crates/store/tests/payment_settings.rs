//! The payment, refund and return options of a store (migration 20261216000001) on both backends:
//! defaults, a round trip, partial updates and nonsense refused.

mod common;

use std::collections::BTreeMap;

use base64::Engine;
use salla_odoo_core::MerchantId;
use salla_odoo_core::settings::SecretsSettings;
use salla_odoo_store::{Keyring, StoreUpdate, stores};
use secrecy::SecretString;

use common::each_backend;

const M: MerchantId = MerchantId::new(1_305_418_202);

fn keyring() -> Keyring {
    Keyring::from_settings(&SecretsSettings {
        key: SecretString::from(base64::engine::general_purpose::STANDARD.encode([7u8; 32])),
        previous_keys: Vec::new(),
    })
    .unwrap()
}

#[tokio::test]
async fn payment_journals_refunds_and_returns_round_trip_with_defaults() {
    each_backend(async |db| {
        let ring = keyring();
        // Defaults: no journal (payments off), refunds and returns on.
        let s = stores::upsert_settings(&db.pool, &ring, M, &StoreUpdate::default())
            .await
            .unwrap();
        assert_eq!(s.payment_journal_id, None);
        assert!(s.payment_journals.is_empty());
        assert!(s.refund_credit_notes);
        assert!(s.return_pickings);

        let journals: BTreeMap<String, i64> =
            [("mada".to_owned(), 6), ("cod".to_owned(), 7)].into();
        let s = stores::upsert_settings(
            &db.pool,
            &ring,
            M,
            &StoreUpdate {
                payment_journal_id: Some(Some(6)),
                payment_journals: Some(journals.clone()),
                refund_credit_notes: Some(false),
                return_pickings: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(s.payment_journal_id, Some(6));
        assert_eq!(s.payment_journals, journals);
        assert!(!s.refund_credit_notes && !s.return_pickings);
        let loaded = stores::load_settings(&db.pool, &ring, M)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(format!("{loaded:?}"), format!("{s:?}"));
        let view = serde_json::to_value(&loaded).unwrap();
        assert_eq!(view["payment_journals"]["mada"], 6);
        assert_eq!(view["payment_journal_id"], 6);

        // Other updates leave them alone; Some(None) clears the fallback journal.
        let s = stores::upsert_settings(
            &db.pool,
            &ring,
            M,
            &StoreUpdate {
                warehouse_id: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(s.payment_journal_id, Some(6));
        assert_eq!(s.payment_journals, journals);
        assert!(!s.refund_credit_notes);
        let s = stores::upsert_settings(
            &db.pool,
            &ring,
            M,
            &StoreUpdate {
                payment_journal_id: Some(None),
                refund_credit_notes: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(s.payment_journal_id, None);
        assert_eq!(s.payment_journals, journals);
        assert!(s.refund_credit_notes);

        // A journal id that cannot be one is refused, and nothing changes.
        let err = stores::upsert_settings(
            &db.pool,
            &ring,
            M,
            &StoreUpdate {
                payment_journals: Some([("mada".to_owned(), 0)].into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert!(!err.is_transient(), "{err}");
        assert!(err.to_string().contains("mada"), "{err}");
        let again = stores::load_settings(&db.pool, &ring, M)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.payment_journals, journals);
    })
    .await;
}
