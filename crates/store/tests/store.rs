//! The repositories against both backends: every test runs its body twice (see `common`), on a
//! freshly migrated Postgres database of its own and on a freshly migrated SQLite file.

mod common;

use std::time::Duration;

use base64::Engine;
use salla_odoo_core::settings::SecretsSettings;
use salla_odoo_core::{MerchantId, OrderStep, StatusMap, StockMaster};
use salla_odoo_store::outbox::{self, DeadLetterFilter, NewDeadLetter};
use salla_odoo_store::sync_log::{self, LogFilter, NewLogEntry, Outcome};
use salla_odoo_store::{Db, Keyring, StoreError, StoreUpdate, id_map, locks, secrets, stores};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use common::{each_backend, pool_on};

fn b64_key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn keyring(current: u8, previous: &[u8]) -> Keyring {
    Keyring::from_settings(&SecretsSettings {
        key: SecretString::from(b64_key(current)),
        previous_keys: previous
            .iter()
            .map(|b| SecretString::from(b64_key(*b)))
            .collect(),
    })
    .unwrap()
}

const M1: MerchantId = MerchantId::new(1_305_418_202);
const M2: MerchantId = MerchantId::new(3_187_825_903_901_094_400);

// ---------------------------------------------------------------------------------------------
// secrets

#[tokio::test]
async fn secrets_round_trip_and_only_ciphertext_is_stored() {
    each_backend(async |db| {
        let ring = keyring(1, &[]);
        let token = "salla-access-token-3f9a1c77e2";
        let expiry = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap()
            + time::Duration::days(14);
        secrets::put_secret(
            &db.pool,
            &ring,
            M1,
            secrets::SALLA_ACCESS_TOKEN,
            token,
            Some(expiry),
        )
        .await
        .unwrap();
        secrets::put_secret(
            &db.pool,
            &ring,
            M1,
            secrets::SALLA_REFRESH_TOKEN,
            "refresh-token-55d0",
            None,
        )
        .await
        .unwrap();
        stores::upsert_settings(
            &db.pool,
            &ring,
            M2,
            &StoreUpdate {
                odoo_url: Some("https://odoo.example".into()),
                odoo_database: Some("prod".into()),
                odoo_login: Some("bot@example.com".into()),
                odoo_api_key: Some(SecretString::from("odoo-api-key-9b1e")),
                ..Default::default()
            },
        )
        .await
        .unwrap();

        let got = secrets::get_secret_with_expiry(&db.pool, &ring, M1, secrets::SALLA_ACCESS_TOKEN)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.value.expose_secret(), token);
        assert_eq!(got.expires_at, Some(expiry));
        assert!(
            secrets::get_secret(&db.pool, &ring, M1, "nope")
                .await
                .unwrap()
                .is_none()
        );

        // Replacing a secret keeps one row and a new nonce.
        secrets::put_secret(
            &db.pool,
            &ring,
            M1,
            secrets::SALLA_ACCESS_TOKEN,
            "salla-access-token-second",
            None,
        )
        .await
        .unwrap();
        let got = secrets::get_secret(&db.pool, &ring, M1, secrets::SALLA_ACCESS_TOKEN)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.expose_secret(), "salla-access-token-second");
        assert_eq!(
            secrets::secret_names(&db.pool, M1).await.unwrap(),
            ["salla_access_token", "salla_refresh_token"]
        );

        let dump = db.dump().await;
        assert!(dump.contains("== secrets"), "{dump}");
        for plain in [
            token,
            "salla-access-token-second",
            "refresh-token-55d0",
            "odoo-api-key-9b1e",
        ] {
            assert!(!dump.contains(plain), "{plain} stored in clear:\n{dump}");
            assert!(
                !dump.contains(&hex::encode(plain)),
                "{plain} stored as bytes:\n{dump}"
            );
        }
        assert!(dump.contains(ring.current_key_id()));

        assert_eq!(secrets::delete_secrets(&db.pool, M1).await.unwrap(), 2);
        assert!(
            secrets::secret_names(&db.pool, M1)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            secrets::secret_names(&db.pool, M2).await.unwrap(),
            ["odoo_api_key"]
        );
    })
    .await;
}

#[tokio::test]
async fn a_wrong_key_or_a_moved_ciphertext_is_a_permanent_error() {
    each_backend(async |db| {
        let ring = keyring(1, &[]);
        secrets::put_secret(&db.pool, &ring, M1, "odoo_api_key", "k-one", None)
            .await
            .unwrap();
        secrets::put_secret(&db.pool, &ring, M2, "odoo_api_key", "k-two", None)
            .await
            .unwrap();

        let other = keyring(9, &[]);
        let err = secrets::get_secret(&db.pool, &other, M1, "odoo_api_key")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Crypto(_)), "{err:?}");
        assert!(!err.is_transient());
        let text = err.to_string();
        assert!(text.contains(ring.current_key_id()), "{text}");
        assert!(
            !text.contains("k-one") && !text.contains(&b64_key(1)),
            "{text}"
        );

        // Copy merchant 2's ciphertext onto merchant 1's row: it must not open there.
        on_pool!(&db.pool, pool => {
            sqlx::query(
                "UPDATE secrets AS s SET nonce = o.nonce, ciphertext = o.ciphertext
                 FROM secrets AS o WHERE s.merchant_id = $1 AND o.merchant_id = $2",
            )
            .bind(M1.get() as i64)
            .bind(M2.get() as i64)
            .execute(pool)
            .await
            .unwrap();
        });
        let err = secrets::get_secret(&db.pool, &ring, M1, "odoo_api_key")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not authenticate"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn rotation_re_encrypts_everything_and_the_old_key_is_no_longer_needed() {
    each_backend(async |db| {
        let old = keyring(1, &[]);
        let mut expected = Vec::new();
        for m in 1..=5u64 {
            for name in ["salla_access_token", "salla_refresh_token"] {
                let value = format!("{name}-{m}-plaintext");
                secrets::put_secret(&db.pool, &old, MerchantId::new(m), name, &value, None)
                    .await
                    .unwrap();
                expected.push((MerchantId::new(m), name, value));
            }
        }
        stores::upsert_settings(
            &db.pool,
            &old,
            MerchantId::new(6),
            &StoreUpdate {
                odoo_url: Some("https://o".into()),
                odoo_database: Some("d".into()),
                odoo_login: Some("l".into()),
                odoo_api_key: Some(SecretString::from("api-key-6-plaintext")),
                ..Default::default()
            },
        )
        .await
        .unwrap();

        // New key current, old key previous: everything still reads before rotating.
        let both = keyring(2, &[1]);
        for (m, name, value) in &expected {
            let got = secrets::get_secret(&db.pool, &both, *m, name)
                .await
                .unwrap();
            assert_eq!(got.unwrap().expose_secret(), value);
        }
        assert_eq!(secrets::rotate(&db.pool, &both).await.unwrap(), 11);
        assert_eq!(
            secrets::rotate(&db.pool, &both).await.unwrap(),
            0,
            "idempotent"
        );
        assert_eq!(
            secrets::count_by_key(&db.pool).await.unwrap(),
            [(both.current_key_id().to_owned(), 11)]
        );

        // The old key is gone from the configuration: every secret still reads.
        let new_only = keyring(2, &[]);
        for (m, name, value) in &expected {
            let got = secrets::get_secret(&db.pool, &new_only, *m, name)
                .await
                .unwrap();
            assert_eq!(got.unwrap().expose_secret(), value);
        }
        let settings = stores::load_settings(&db.pool, &new_only, MerchantId::new(6))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            settings.odoo.unwrap().api_key.expose_secret(),
            "api-key-6-plaintext"
        );
        // And the old key alone reads nothing.
        assert!(
            secrets::get_secret(&db.pool, &old, MerchantId::new(1), "salla_access_token")
                .await
                .is_err()
        );
        let dump = db.dump().await;
        assert!(!dump.contains("plaintext"), "{dump}");
    })
    .await;
}

#[tokio::test]
async fn rotation_reports_rows_no_key_opens_and_rotates_the_rest() {
    each_backend(async |db| {
        let lost = keyring(7, &[]);
        let old = keyring(1, &[]);
        secrets::put_secret(&db.pool, &lost, M1, "salla_access_token", "a", None)
            .await
            .unwrap();
        secrets::put_secret(&db.pool, &old, M2, "salla_access_token", "b", None)
            .await
            .unwrap();
        let ring = keyring(2, &[1]);
        let err = secrets::rotate(&db.pool, &ring).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("rotated 1 secret(s)"), "{text}");
        assert!(text.contains(lost.current_key_id()), "{text}");
        assert!(!err.is_transient());
        let b = secrets::get_secret(&db.pool, &keyring(2, &[]), M2, "salla_access_token")
            .await
            .unwrap();
        assert_eq!(b.unwrap().expose_secret(), "b");
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// store settings

#[tokio::test]
async fn settings_upsert_and_load_round_trip_with_defaults() {
    each_backend(async |db| {
        let ring = keyring(1, &[]);
        assert!(
            stores::load_settings(&db.pool, &ring, M1)
                .await
                .unwrap()
                .is_none()
        );

        // A store created by app.installed keeps its lifecycle fields when settings are added.
        stores::upsert_installed(&db.pool, M1, Some(77), Some("live"))
            .await
            .unwrap();
        let s = stores::load_settings(&db.pool, &ring, M1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.merchant, M1);
        assert_eq!(s.status, "installed");
        assert!(s.odoo.is_none());
        assert_eq!(s.status_map, StatusMap::default());
        assert!(!s.create_unknown_skus);
        assert_eq!(s.stock_master, StockMaster::Odoo);
        assert!(s.prices_include_tax);
        assert_eq!(s.warehouse_id, None);

        let map = StatusMap::default()
            .with_overrides("shipped=deliver,restored=cancel")
            .unwrap();
        let s = stores::upsert_settings(
            &db.pool,
            &ring,
            M1,
            &StoreUpdate {
                odoo_url: Some("https://acme.odoo.com".into()),
                odoo_database: Some("acme".into()),
                odoo_login: Some("sync@acme.sa".into()),
                odoo_api_key: Some(SecretString::from("key-first-31c8")),
                odoo_version_override: Some(17),
                warehouse_id: Some(3),
                pricelist_id: Some(4),
                currency: Some("SAR".into()),
                tax_id: Some(15),
                prices_include_tax: Some(false),
                status_map: Some(map.clone()),
                create_unknown_skus: Some(true),
                stock_master: Some(StockMaster::Salla),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let odoo = s.odoo.as_ref().unwrap();
        assert_eq!(odoo.url, "https://acme.odoo.com");
        assert_eq!(odoo.database, "acme");
        assert_eq!(odoo.login, "sync@acme.sa");
        assert_eq!(odoo.api_key.expose_secret(), "key-first-31c8");
        assert_eq!(odoo.version_override, Some(17));
        assert_eq!(
            (s.warehouse_id, s.pricelist_id, s.tax_id),
            (Some(3), Some(4), Some(15))
        );
        assert_eq!(s.currency.as_deref(), Some("SAR"));
        assert!(!s.prices_include_tax && s.create_unknown_skus);
        assert_eq!(s.stock_master, StockMaster::Salla);
        assert_eq!(s.status_map.step("shipped"), Some(OrderStep::Deliver));
        assert_eq!(s.status_map.step("restored"), Some(OrderStep::Cancel));
        assert_eq!(s.status_map, map);

        // Loading gives the same; the lifecycle fields survived.
        let loaded = stores::load_settings(&db.pool, &ring, M1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(format!("{loaded:?}"), format!("{s:?}"));
        assert_eq!(
            stores::get(&db.pool, M1).await.unwrap().unwrap().app_id,
            Some(77)
        );

        // A partial update changes only what it names.
        let s2 = stores::upsert_settings(
            &db.pool,
            &ring,
            M1,
            &StoreUpdate {
                odoo_api_key: Some(SecretString::from("key-second-77aa")),
                warehouse_id: Some(9),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            s2.odoo.as_ref().unwrap().api_key.expose_secret(),
            "key-second-77aa"
        );
        assert_eq!(s2.odoo.as_ref().unwrap().url, "https://acme.odoo.com");
        assert_eq!(s2.warehouse_id, Some(9));
        assert_eq!(s2.pricelist_id, Some(4));
        assert_eq!(s2.status_map, map);
        assert!(s2.updated_at >= s.updated_at);

        // Neither Debug nor the serialised view contains the key.
        let debug = format!("{s2:?}");
        let view = serde_json::to_value(&s2).unwrap();
        assert!(!debug.contains("key-second-77aa"), "{debug}");
        assert!(!view.to_string().contains("key-second-77aa"), "{view}");
        assert_eq!(view["odoo"]["api_key"], "[set]");
        assert_eq!(view["merchant"], json!(M1.get()));
        assert_eq!(view["status_map"]["shipped"], "deliver");
        assert_eq!(view["stock_master"], "salla");

        // upsert_settings creates a missing store, installed, with the defaults.
        let fresh = stores::upsert_settings(
            &db.pool,
            &ring,
            M2,
            &StoreUpdate {
                currency: Some("SAR".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(fresh.status, "installed");
        assert_eq!(fresh.status_map, StatusMap::default());
        assert!(fresh.odoo.is_none());
        let all = stores::list_settings(&db.pool, &ring).await.unwrap();
        assert_eq!(all.iter().map(|s| s.merchant).collect::<Vec<_>>(), [M1, M2]);

        // Nonsense is refused and changes nothing.
        let err = stores::upsert_settings(
            &db.pool,
            &ring,
            M2,
            &StoreUpdate {
                status: Some("paused".into()),
                currency: Some("USD".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert!(!err.is_transient(), "{err}");
        let again = stores::load_settings(&db.pool, &ring, M2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.currency.as_deref(), Some("SAR"));
    })
    .await;
}

#[tokio::test]
async fn settings_whose_api_key_no_key_opens_fail_permanently() {
    each_backend(async |db| {
        stores::upsert_settings(
            &db.pool,
            &keyring(1, &[]),
            M1,
            &StoreUpdate {
                odoo_url: Some("https://o".into()),
                odoo_database: Some("d".into()),
                odoo_login: Some("l".into()),
                odoo_api_key: Some(SecretString::from("k")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let err = stores::load_settings(&db.pool, &keyring(2, &[]), M1)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Crypto(_)) && !err.is_transient());
        assert!(err.to_string().contains("odoo_api_key"), "{err}");
        // Without its key secret the store has no Odoo connection (e.g. after an uninstall).
        secrets::delete_secrets(&db.pool, M1).await.unwrap();
        let s = stores::load_settings(&db.pool, &keyring(2, &[]), M1)
            .await
            .unwrap()
            .unwrap();
        assert!(s.odoo.is_none());
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// id map

#[tokio::test]
async fn id_map_watermark_never_goes_down() {
    each_backend(async |db| {
        assert!(
            id_map::get(&db.pool, M1, "order", 9001)
                .await
                .unwrap()
                .is_none()
        );
        let m = id_map::put(&db.pool, M1, "order", 9001, "sale.order", 40, 100)
            .await
            .unwrap();
        assert_eq!(
            (m.odoo_model.as_str(), m.odoo_id, m.source_version),
            ("sale.order", 40, 100)
        );

        // Older: refused, the newer row comes back.
        let m = id_map::put(&db.pool, M1, "order", 9001, "sale.order", 41, 99)
            .await
            .unwrap();
        assert_eq!((m.odoo_id, m.source_version), (40, 100));
        // Equal or newer: written.
        let m = id_map::put(&db.pool, M1, "order", 9001, "sale.order", 40, 100)
            .await
            .unwrap();
        assert_eq!(m.source_version, 100);
        let m = id_map::put(&db.pool, M1, "order", 9001, "sale.order", 40, 250)
            .await
            .unwrap();
        assert_eq!(m.source_version, 250);
        assert_eq!(
            id_map::get(&db.pool, M1, "order", 9001)
                .await
                .unwrap()
                .unwrap()
                .source_version,
            250
        );

        // Unique per store + entity + Salla id: other stores and entities are separate rows.
        id_map::put(&db.pool, M2, "order", 9001, "sale.order", 7, 1)
            .await
            .unwrap();
        id_map::put(&db.pool, M1, "customer", 9001, "res.partner", 40, 1)
            .await
            .unwrap();
        assert_eq!(id_map::count_merchant(&db.pool, M1).await.unwrap(), 2);
        assert_eq!(
            id_map::find_by_odoo(&db.pool, M1, "order", 40)
                .await
                .unwrap(),
            Some(9001)
        );
        assert_eq!(
            id_map::find_by_odoo(&db.pool, M2, "order", 40)
                .await
                .unwrap(),
            None
        );

        // Concurrent writers with shuffled versions end at the highest.
        let mut tasks = Vec::new();
        for v in [5i64, 17, 3, 42, 11, 42, 8, 30, 1, 29] {
            let pool = db.pool.clone();
            tasks.push(tokio::spawn(async move {
                id_map::put(&pool, M1, "product", 555, "product.product", v * 10, v)
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            let stored = t.await.unwrap();
            assert!(stored.source_version >= 1);
        }
        let m = id_map::get(&db.pool, M1, "product", 555)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((m.source_version, m.odoo_id), (42, 420));

        assert!(id_map::delete(&db.pool, M1, "product", 555).await.unwrap());
        assert_eq!(id_map::delete_merchant(&db.pool, M1).await.unwrap(), 2);
        assert_eq!(id_map::count_merchant(&db.pool, M2).await.unwrap(), 1);
        assert!(matches!(
            id_map::put(&db.pool, M1, "order", u64::MAX, "sale.order", 1, 1).await,
            Err(StoreError::Invalid(_))
        ));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// sync log

fn log_entry(job_id: Uuid, merchant: MerchantId, event: &str, outcome: Outcome) -> NewLogEntry {
    NewLogEntry {
        job_id,
        merchant,
        event: event.into(),
        kind: "order.upsert".into(),
        entity: Some("order:9001".into()),
        outcome,
        reason: (outcome == Outcome::Skipped).then(|| "stale".into()),
        attempt: 2,
        duration_ms: 37,
        odoo_ids: json!({"sale.order": [40]}),
    }
}

#[tokio::test]
async fn sync_log_keeps_one_outcome_per_job() {
    each_backend(async |db| {
        let job = Uuid::now_v7();
        assert_eq!(sync_log::outcome_of(&db.pool, job).await.unwrap(), None);
        assert!(
            sync_log::record(
                &db.pool,
                &log_entry(job, M1, "order.created", Outcome::Applied)
            )
            .await
            .unwrap()
        );
        // A re-run after a crash, or a racing worker, cannot record a second outcome.
        assert!(
            !sync_log::record(
                &db.pool,
                &log_entry(job, M1, "order.created", Outcome::DeadLettered)
            )
            .await
            .unwrap()
        );
        assert_eq!(
            sync_log::outcome_of(&db.pool, job).await.unwrap(),
            Some(Outcome::Applied)
        );

        // Racing recorders of one job: exactly one wins.
        let raced = Uuid::now_v7();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let pool = db.pool.clone();
            let outcome = if i % 2 == 0 {
                Outcome::Applied
            } else {
                Outcome::Skipped
            };
            tasks.push(tokio::spawn(async move {
                sync_log::record(&pool, &log_entry(raced, M1, "order.updated", outcome))
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);

        sync_log::record(
            &db.pool,
            &log_entry(Uuid::now_v7(), M2, "customer.created", Outcome::Skipped),
        )
        .await
        .unwrap();
        let mut dropped = log_entry(Uuid::now_v7(), M2, "order.created", Outcome::Dropped);
        dropped.odoo_ids = serde_json::Value::Null;
        assert!(sync_log::record(&db.pool, &dropped).await.unwrap());

        let all = sync_log::list(&db.pool, &LogFilter::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 4);
        assert!(all.windows(2).all(|w| w[0].recorded_at >= w[1].recorded_at));
        let first = all.iter().find(|e| e.job_id == job).unwrap();
        assert_eq!(first.odoo_ids, json!({"sale.order": [40]}));
        assert_eq!((first.attempt, first.duration_ms), (2, 37));
        assert_eq!(first.entity.as_deref(), Some("order:9001"));
        let d = all.iter().find(|e| e.job_id == dropped.job_id).unwrap();
        assert_eq!(
            (d.outcome, &d.odoo_ids),
            (Outcome::Dropped, &serde_json::Value::Null)
        );

        let m2 = sync_log::list(
            &db.pool,
            &LogFilter {
                merchant: Some(M2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(m2.len(), 2);
        let skipped = sync_log::list(
            &db.pool,
            &LogFilter {
                merchant: Some(M2),
                outcome: Some(Outcome::Skipped),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].reason.as_deref(), Some("stale"));
        let by_event = sync_log::list(
            &db.pool,
            &LogFilter {
                event: Some("order.created".into()),
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(by_event.len(), 1);
        let future = sync_log::list(
            &db.pool,
            &LogFilter {
                since: Some(time::OffsetDateTime::now_utc() + time::Duration::hours(1)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(future.is_empty());

        // Retention and purge.
        let cutoff = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
        assert_eq!(
            sync_log::count_older_than(&db.pool, cutoff).await.unwrap(),
            4
        );
        assert_eq!(sync_log::delete_merchant(&db.pool, M2).await.unwrap(), 2);
        assert_eq!(
            sync_log::delete_older_than(&db.pool, cutoff).await.unwrap(),
            2
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// outbox

fn letter(merchant: MerchantId, event: &str, error: &str) -> NewDeadLetter {
    let job_id = Uuid::now_v7();
    NewDeadLetter {
        job_id,
        merchant,
        event: event.into(),
        kind: "order.upsert".into(),
        salla_id: Some(9001),
        job: json!({"v": 1, "id": job_id, "data": {"id": 9001}}),
        attempts: json!([
            {"attempt": 1, "at": "2026-11-29T00:00:00Z", "error": "502 from Odoo", "class": "transient"},
            {"attempt": 2, "at": "2026-11-29T00:00:05Z", "error": error, "class": "permanent"}
        ]),
        error: error.into(),
        class: "permanent".into(),
    }
}

#[tokio::test]
async fn outbox_inserts_once_and_replays_once() {
    each_backend(async |db| {
        let l = letter(
            M1,
            "order.created",
            "ValidationError: Missing required field 'partner_id'",
        );
        let id = outbox::insert(&db.pool, &l).await.unwrap().unwrap();
        assert_eq!(outbox::insert(&db.pool, &l).await.unwrap(), None);

        let stored = outbox::get(&db.pool, id).await.unwrap().unwrap();
        assert_eq!(stored.job_id, l.job_id);
        assert_eq!(stored.merchant, M1);
        assert_eq!(stored.salla_id, Some(9001));
        assert_eq!(stored.job, l.job);
        assert_eq!(stored.attempts.as_array().unwrap().len(), 2);
        assert!(stored.is_pending());
        assert_eq!(
            outbox::get_by_job(&db.pool, l.job_id)
                .await
                .unwrap()
                .unwrap()
                .id,
            id
        );
        assert!(outbox::get(&db.pool, id + 1000).await.unwrap().is_none());

        let other = outbox::insert(&db.pool, &letter(M2, "customer.updated", "AccessError"))
            .await
            .unwrap()
            .unwrap();
        let third = outbox::insert(&db.pool, &letter(M2, "order.created", "Odoo down for 30h"))
            .await
            .unwrap()
            .unwrap();

        let found = |f: DeadLetterFilter| {
            let pool = db.pool.clone();
            async move {
                outbox::list(&pool, &f)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|d| d.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(found(DeadLetterFilter::default()).await, [third, other, id]);
        assert_eq!(
            found(DeadLetterFilter {
                merchant: Some(M2),
                ..Default::default()
            })
            .await,
            [third, other]
        );
        assert_eq!(
            found(DeadLetterFilter {
                error_contains: Some("missing REQUIRED".into()),
                ..Default::default()
            })
            .await,
            [id]
        );
        assert_eq!(
            found(DeadLetterFilter {
                event: Some("order.created".into()),
                merchant: Some(M2),
                ..Default::default()
            })
            .await,
            [third]
        );
        assert_eq!(
            found(DeadLetterFilter {
                kind: Some("order.upsert".into()),
                limit: Some(2),
                ..Default::default()
            })
            .await,
            [third, other]
        );
        assert!(
            found(DeadLetterFilter {
                until: Some(time::OffsetDateTime::now_utc() - time::Duration::hours(1)),
                ..Default::default()
            })
            .await
            .is_empty()
        );

        let stats = outbox::stats(&db.pool).await.unwrap();
        assert_eq!((stats.pending, stats.replayed, stats.discarded), (3, 0, 0));
        assert_eq!(stats.by_store[&M2.to_string()], 2);
        assert_eq!(stats.by_event["order.created"], 2);
        assert_eq!(stats.by_class["permanent"], 3);
        assert_eq!(stats.by_age["<1h"], 3);

        // Two operators replay the same dead letter at once: exactly one wins.
        let mut tasks = Vec::new();
        for i in 0..6 {
            let pool = db.pool.clone();
            tasks.push(tokio::spawn(async move {
                outbox::mark_replayed(&pool, id, &format!("ops-{i}"))
                    .await
                    .unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
        assert!(
            !outbox::mark_replayed(&db.pool, id, "ops-late")
                .await
                .unwrap()
        );
        assert!(!outbox::mark_discarded(&db.pool, id, "ops").await.unwrap());
        let replayed = outbox::get(&db.pool, id).await.unwrap().unwrap();
        assert!(replayed.replayed_at.is_some() && !replayed.is_pending());
        assert!(replayed.replayed_by.unwrap().starts_with("ops-"));

        // Replayed ones are hidden unless asked for.
        assert_eq!(found(DeadLetterFilter::default()).await, [third, other]);
        assert_eq!(
            found(DeadLetterFilter {
                include_replayed: true,
                ..Default::default()
            })
            .await,
            [third, other, id]
        );

        assert!(
            outbox::mark_discarded(&db.pool, other, "ops")
                .await
                .unwrap()
        );
        assert!(!outbox::mark_replayed(&db.pool, other, "ops").await.unwrap());
        assert!(
            !outbox::mark_replayed(&db.pool, 424242, "ops")
                .await
                .unwrap()
        );

        // A failed requeue can be undone by whoever marked it.
        assert!(
            outbox::mark_replayed(&db.pool, third, "ops-a")
                .await
                .unwrap()
        );
        assert!(
            !outbox::unmark_replayed(&db.pool, third, "ops-b")
                .await
                .unwrap()
        );
        assert!(
            outbox::unmark_replayed(&db.pool, third, "ops-a")
                .await
                .unwrap()
        );
        assert!(
            outbox::get(&db.pool, third)
                .await
                .unwrap()
                .unwrap()
                .is_pending()
        );

        // An undecodable job that names no merchant is still dead-lettered (merchant 0).
        let mut unknown = letter(MerchantId::new(0), "-", "expected value at line 1 column 1");
        unknown.class = "undecodable".into();
        unknown.salla_id = None;
        let unknown_id = outbox::insert(&db.pool, &unknown).await.unwrap().unwrap();
        assert_eq!(
            found(DeadLetterFilter {
                merchant: Some(MerchantId::new(0)),
                ..Default::default()
            })
            .await,
            [unknown_id]
        );
        assert!(
            outbox::mark_discarded(&db.pool, unknown_id, "ops")
                .await
                .unwrap()
        );

        // Bad class is refused; retention and purge.
        let mut bad = letter(M1, "order.created", "x");
        bad.class = "weird".into();
        assert!(matches!(
            outbox::insert(&db.pool, &bad).await,
            Err(StoreError::Invalid(_))
        ));
        let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(5);
        assert_eq!(
            outbox::delete_handled_before(&db.pool, later)
                .await
                .unwrap(),
            3
        );
        assert_eq!(outbox::delete_merchant(&db.pool, M2).await.unwrap(), 1);
        assert_eq!(outbox::delete_older_than(&db.pool, later).await.unwrap(), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// locks

async fn wait_for_lock(pool: &Db, merchant: MerchantId, key: &str) -> locks::EntityLock {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(lock) = locks::try_lock(pool, merchant, key).await.unwrap() {
            return lock;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lock {key} never became free"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn advisory_locks_exclude_across_pools_and_release() {
    each_backend(async |db| {
        let worker_a = db.another_pool().await;
        let worker_b = db.another_pool().await;

        let held = locks::try_lock(&worker_a, M1, "order:9001")
            .await
            .unwrap()
            .expect("free");
        assert_eq!(held.label(), format!("{M1}/order:9001"));
        assert!(
            locks::try_lock(&worker_b, M1, "order:9001")
                .await
                .unwrap()
                .is_none()
        );
        // The same pool (another task of the same worker) is excluded too.
        assert!(
            locks::try_lock(&worker_a, M1, "order:9001")
                .await
                .unwrap()
                .is_none()
        );
        // Other entities and other stores are independent.
        let other = locks::try_lock(&worker_b, M1, "order:9002")
            .await
            .unwrap()
            .expect("other entity");
        let other_store = locks::try_lock(&worker_b, M2, "order:9001")
            .await
            .unwrap()
            .expect("other store");

        held.release().await.unwrap();
        let now_b = locks::try_lock(&worker_b, M1, "order:9001")
            .await
            .unwrap()
            .expect("released");
        now_b.release().await.unwrap();
        other.release().await.unwrap();
        other_store.release().await.unwrap();

        // Released connections went back to their pool holding no lock.
        if let Some(pg) = db.pool.as_postgres() {
            let held_locks: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
            .fetch_one(pg)
            .await
            .unwrap();
            assert_eq!(held_locks, 0);
        }

        // Singleton locks.
        let g = locks::try_lock_global(&worker_a, "retention")
            .await
            .unwrap()
            .expect("free");
        assert!(
            locks::try_lock_global(&worker_b, "retention")
                .await
                .unwrap()
                .is_none()
        );
        g.release().await.unwrap();
        assert!(
            locks::try_lock_global(&worker_b, "retention")
                .await
                .unwrap()
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn a_lock_dropped_without_release_is_freed_not_leaked() {
    each_backend(async |db| {
    let worker_a = pool_on(&db.url, 1).await;
    let worker_b = db.another_pool().await;

    // Dropped (a panic or a timeout): the connection is closed, so the lock is free again.
    let held = locks::try_lock(&worker_a, M1, "product:1")
        .await
        .unwrap()
        .unwrap();
    drop(held);
    let b = wait_for_lock(&worker_b, M1, "product:1").await;
    b.release().await.unwrap();

    // A job that times out while holding the lock.
    let pool = worker_a.clone();
    let job = tokio::spawn(async move {
        let _lock = locks::try_lock(&pool, M1, "product:2")
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        locks::try_lock(&worker_b, M1, "product:2")
            .await
            .unwrap()
            .is_none()
    );
    job.abort();
    let _ = job.await;
    wait_for_lock(&worker_b, M1, "product:2")
        .await
        .release()
        .await
        .unwrap();

    // A panicking job.
    let pool = worker_a.clone();
    let job = tokio::spawn(async move {
        let _lock = locks::try_lock(&pool, M1, "product:3")
            .await
            .unwrap()
            .unwrap();
        panic!("handler bug");
    });
    assert!(job.await.is_err());
    wait_for_lock(&worker_b, M1, "product:3")
        .await
        .release()
        .await
        .unwrap();

    // The one-connection pool of worker A still works: no lock leaked into a pooled connection.
    let again = tokio::time::timeout(
        Duration::from_secs(10),
        locks::try_lock(&worker_a, M1, "product:1"),
    )
    .await
    .expect("pool not exhausted")
    .unwrap()
    .expect("free");
    // Only the lock just taken is held.
    assert!(
        locks::try_lock(&worker_b, M1, "product:1")
            .await
            .unwrap()
            .is_none()
    );
    for freed in ["product:2", "product:3"] {
        locks::try_lock(&worker_b, M1, freed)
            .await
            .unwrap()
            .expect("freed")
            .release()
            .await
            .unwrap();
    }
    if let Some(pg) = db.pool.as_postgres() {
        let mine: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND granted")
                .fetch_one(pg)
                .await
                .unwrap();
        assert_eq!(mine, 1, "only the lock just taken is held");
    }
    again.release().await.unwrap();
    })
    .await;
}

/// A worker's job takes its locks on its session (`Db::session`): on Postgres on the session's own
/// connection, with no connection of its own. They exclude every other taker, the session itself
/// included (Postgres' session locks are re-entrant: the session must refuse a second taker on its
/// own), and a session that ends with a lock not released closes its connection instead of pooling
/// it, so the lock is freed and never leaks into the pool.
#[tokio::test]
async fn session_locks_exclude_others_and_never_leak_into_the_pool() {
    each_backend(async |db| {
        // One connection: the session holds it, so a lock taking a connection of its own could not
        // be had at all.
        let worker_a = pool_on(&db.url, 1).await;
        let worker_b = db.another_pool().await;

        let session = worker_a.session().await.unwrap();
        let order = tokio::time::timeout(
            Duration::from_secs(5),
            locks::try_lock(&session, M1, "order:1"),
        )
        .await
        .expect("a session lock needs no second connection")
        .unwrap()
        .expect("free");
        let partner = locks::try_lock_global(&session, "create:partner:a@example.com")
            .await
            .unwrap()
            .expect("free");
        // Busy to another worker, and to the session itself.
        assert!(
            locks::try_lock(&worker_b, M1, "order:1")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            locks::try_lock(&session, M1, "order:1")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            locks::try_lock_global(&worker_b, "create:partner:a@example.com")
                .await
                .unwrap()
                .is_none()
        );
        // The session's queries run beside its locks.
        id_map::put(&session, M1, "order", 1, "sale.order", 7, 1)
            .await
            .unwrap();

        // Released: free for others at once, and for the session again.
        partner.release().await.unwrap();
        locks::try_lock_global(&worker_b, "create:partner:a@example.com")
            .await
            .unwrap()
            .expect("released")
            .release()
            .await
            .unwrap();
        order.release().await.unwrap();
        let again = locks::try_lock(&session, M1, "order:1")
            .await
            .unwrap()
            .expect("released, the session may take it again");
        again.release().await.unwrap();
        drop(session);
        // A clean session goes back to the pool holding nothing.
        if let Some(pg) = db.pool.as_postgres() {
            assert_eq!(advisory_locks_held(pg).await, 0);
        }

        // A lock dropped without release (a panic, a timeout): when the session ends, its
        // connection is closed, which frees the lock.
        let session = worker_a.session().await.unwrap();
        let dropped = locks::try_lock(&session, M1, "order:2")
            .await
            .unwrap()
            .unwrap();
        drop(dropped);
        if db.pool.as_postgres().is_some() {
            // Still held by the session's connection until the session ends (SQLite's in-process
            // locks are freed with the guard).
            assert!(
                locks::try_lock(&worker_b, M1, "order:2")
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        drop(session);
        wait_for_lock(&worker_b, M1, "order:2")
            .await
            .release()
            .await
            .unwrap();

        // A session dropped with its lock still in hand (the job's future cancelled).
        let session = worker_a.session().await.unwrap();
        let held = locks::try_lock(&session, M1, "order:3")
            .await
            .unwrap()
            .unwrap();
        drop(session);
        assert!(
            locks::try_lock(&worker_b, M1, "order:3")
                .await
                .unwrap()
                .is_none()
        );
        drop(held);
        wait_for_lock(&worker_b, M1, "order:3")
            .await
            .release()
            .await
            .unwrap();

        // The one-connection pool still works, and nothing is held.
        let session = tokio::time::timeout(Duration::from_secs(10), worker_a.session())
            .await
            .expect("pool not exhausted")
            .unwrap();
        assert_eq!(
            id_map::get(&session, M1, "order", 1)
                .await
                .unwrap()
                .map(|m| m.odoo_id),
            Some(7)
        );
        drop(session);
        if let Some(pg) = db.pool.as_postgres() {
            assert_eq!(advisory_locks_held(pg).await, 0);
        }
    })
    .await;
}

/// Advisory locks held in the current database.
async fn advisory_locks_held(pg: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(pg)
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// lifecycle and purge

#[tokio::test]
async fn purge_leaves_no_row_that_mentions_the_merchant() {
    each_backend(async |db| {
        let ring = keyring(1, &[]);
        for m in [M1, M2] {
            stores::upsert_installed(&db.pool, m, Some(5), None)
                .await
                .unwrap();
            stores::upsert_settings(
                &db.pool,
                &ring,
                m,
                &StoreUpdate {
                    odoo_url: Some("https://o".into()),
                    odoo_database: Some("d".into()),
                    odoo_login: Some("l".into()),
                    odoo_api_key: Some(SecretString::from("k")),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            secrets::put_secret(&db.pool, &ring, m, "salla_access_token", "t", None)
                .await
                .unwrap();
            id_map::put(&db.pool, m, "order", 1, "sale.order", 1, 1)
                .await
                .unwrap();
            id_map::put(&db.pool, m, "customer", 2, "res.partner", 2, 1)
                .await
                .unwrap();
            sync_log::record(
                &db.pool,
                &log_entry(Uuid::now_v7(), m, "order.created", Outcome::Applied),
            )
            .await
            .unwrap();
            outbox::insert(&db.pool, &letter(m, "order.created", "boom"))
                .await
                .unwrap();
        }

        // Uninstall schedules the purge; re-installing cancels it and keeps the mappings.
        let soon = time::OffsetDateTime::now_utc() + time::Duration::days(30);
        let row = stores::mark_uninstalled(&db.pool, M2, soon)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, "uninstalled");
        assert_eq!(
            stores::purge_after(&db.pool, M2).await.unwrap(),
            Some(
                soon.replace_nanosecond(soon.nanosecond() / 1000 * 1000)
                    .unwrap()
            )
        );
        assert!(
            stores::due_for_purge(&db.pool, time::OffsetDateTime::now_utc())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            stores::due_for_purge(&db.pool, soon + time::Duration::seconds(1))
                .await
                .unwrap(),
            [M2]
        );
        stores::upsert_installed(&db.pool, M2, None, None)
            .await
            .unwrap();
        assert_eq!(stores::purge_after(&db.pool, M2).await.unwrap(), None);
        assert_eq!(id_map::count_merchant(&db.pool, M2).await.unwrap(), 2);
        stores::mark_uninstalled(&db.pool, M2, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert!(
            stores::mark_uninstalled(&db.pool, MerchantId::new(999), soon)
                .await
                .unwrap()
                .is_none()
        );

        let expected = salla_odoo_store::purge::PurgeReport {
            stores: 1,
            secrets: 2,
            id_map: 2,
            sync_log: 1,
            dead_letters: 1,
        };
        assert_eq!(
            salla_odoo_store::purge::count(&db.pool, M2).await.unwrap(),
            expected
        );
        let report = salla_odoo_store::purge::purge_merchant(&db.pool, M2)
            .await
            .unwrap();
        assert_eq!(report, expected);
        assert_eq!(report.total(), 7);
        assert_eq!(
            salla_odoo_store::purge::purge_merchant(&db.pool, M2)
                .await
                .unwrap()
                .total(),
            0
        );

        let dump = db.dump().await;
        assert!(!dump.contains(&M2.to_string()), "{dump}");
        assert!(
            dump.contains(&M1.to_string()),
            "the other store is untouched"
        );
        assert_eq!(
            salla_odoo_store::purge::count(&db.pool, M1)
                .await
                .unwrap()
                .total(),
            7
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// currencies and amounts (issue 17)

/// `pricelists` and `rounding_max_cents`: defaults (none named, 1.00), set, kept when other
/// settings change, replaced as a whole map, refused when negative, on both backends; the columns
/// refuse a negative limit and (SQLite) a map that is not JSON.
/// An update of M1 that changes a setting unrelated to the ones under test (its tax).
async fn change_the_tax(pool: &Db, ring: &Keyring) -> stores::StoreSettings {
    stores::upsert_settings(
        pool,
        ring,
        M1,
        &StoreUpdate {
            tax_id: Some(4),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn pricelists_and_the_rounding_limit_round_trip_on_both_backends() {
    use salla_odoo_core::PricelistMap;
    each_backend(async |db| {
        let ring = keyring(1, &[]);
        let fresh = stores::upsert_settings(&db.pool, &ring, M1, &StoreUpdate::default())
            .await
            .unwrap();
        assert!(fresh.pricelists.is_empty());
        assert_eq!(fresh.rounding_max_cents, 100);

        let map = PricelistMap::default()
            .with_overrides("SAR=1,USD=3")
            .unwrap();
        let set = stores::upsert_settings(
            &db.pool,
            &ring,
            M1,
            &StoreUpdate {
                pricelists: Some(map.clone()),
                rounding_max_cents: Some(25),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(set.pricelists, map);
        assert_eq!(set.rounding_max_cents, 25);
        let json = serde_json::to_value(&set).unwrap();
        assert_eq!(json["pricelists"], json!({"SAR": 1, "USD": 3}));
        assert_eq!(json["rounding_max_cents"], 25);

        // Other settings change: these stay.
        let other = change_the_tax(&db.pool, &ring).await;
        assert_eq!(other.pricelists, map);
        assert_eq!(other.rounding_max_cents, 25);

        // The whole map is replaced; 0 is a valid limit.
        let emptied = stores::upsert_settings(
            &db.pool,
            &ring,
            M1,
            &StoreUpdate {
                pricelists: Some(PricelistMap::default()),
                rounding_max_cents: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(emptied.pricelists.is_empty());
        assert_eq!(emptied.rounding_max_cents, 0);

        let negative = stores::upsert_settings(
            &db.pool,
            &ring,
            M1,
            &StoreUpdate {
                rounding_max_cents: Some(-1),
                ..Default::default()
            },
        )
        .await;
        assert!(
            matches!(negative, Err(StoreError::Invalid(_))),
            "{negative:?}"
        );

        let refused = on_pool!(&db.pool, pool => {
            sqlx::query("INSERT INTO stores (merchant_id, rounding_max_cents) VALUES (5, -1)")
                .execute(pool)
                .await
                .map(|_| ())
        });
        assert!(refused.is_err());
        if let Some(pool) = db.pool.as_sqlite() {
            let bad = sqlx::query("INSERT INTO stores (merchant_id, pricelists) VALUES (6, '{x')")
                .execute(pool)
                .await;
            assert!(bad.is_err());
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Odoo capabilities kept per store (issue 18)

/// A store's probed Odoo capabilities round-trip (in the settings too), leave `updated_at` alone,
/// are not written over settings that changed meanwhile, are cleared on demand and by any change
/// of the Odoo connection (not by other settings), on both backends.
#[tokio::test]
async fn odoo_capabilities_round_trip_on_both_backends() {
    each_backend(async |db| {
        let ring = keyring(1, &[]);
        assert_eq!(stores::odoo_capabilities(&db.pool, M1).await.unwrap(), None);
        let connect = StoreUpdate {
            odoo_url: Some("https://erp.example.com".into()),
            odoo_database: Some("odoo".into()),
            odoo_login: Some("connector".into()),
            odoo_api_key: Some(SecretString::from("k1")),
            ..Default::default()
        };
        let fresh = stores::upsert_settings(&db.pool, &ring, M1, &connect)
            .await
            .unwrap();
        assert_eq!(fresh.odoo_capabilities, None);
        let caps = json!({"version": {"major": 18, "minor": 0, "serie": "18.0", "saas": false},
                          "transport": "JsonRpc", "sale_line_tax_field": "tax_id"});
        // Microseconds: what both backends keep.
        let at =
            time::OffsetDateTime::from_unix_timestamp_nanos(1_800_000_000_123_456_000).unwrap();
        assert!(
            stores::set_odoo_capabilities(&db.pool, M1, &caps, at, Some(fresh.updated_at))
                .await
                .unwrap()
        );
        let kept = stores::odoo_capabilities(&db.pool, M1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (kept.capabilities.clone(), kept.probed_at),
            (caps.clone(), at)
        );
        let settings = stores::load_settings(&db.pool, &ring, M1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(settings.odoo_capabilities, Some(kept.clone()));
        assert_eq!(
            settings.updated_at, fresh.updated_at,
            "not a settings change"
        );
        assert!(
            serde_json::to_value(&settings)
                .unwrap()
                .get("odoo_capabilities")
                .is_none(),
            "not in the operator's view"
        );

        // Other settings change: kept; but a probe from before that change is not written.
        let other = change_the_tax(&db.pool, &ring).await;
        assert_eq!(other.odoo_capabilities, Some(kept.clone()));
        assert!(
            !stores::set_odoo_capabilities(&db.pool, M1, &json!({}), at, Some(fresh.updated_at))
                .await
                .unwrap()
        );
        assert_eq!(
            stores::odoo_capabilities(&db.pool, M1).await.unwrap(),
            Some(kept.clone())
        );

        // Cleared on demand.
        assert!(stores::clear_odoo_capabilities(&db.pool, M1).await.unwrap());
        assert!(!stores::clear_odoo_capabilities(&db.pool, M1).await.unwrap());
        assert_eq!(stores::odoo_capabilities(&db.pool, M1).await.unwrap(), None);

        // Any change of the Odoo connection clears them, the API key's included.
        for change in [
            StoreUpdate {
                odoo_url: Some("https://erp2.example.com".into()),
                ..Default::default()
            },
            StoreUpdate {
                odoo_api_key: Some(SecretString::from("k2")),
                ..Default::default()
            },
            StoreUpdate {
                odoo_version_override: Some(17),
                ..Default::default()
            },
        ] {
            assert!(
                stores::set_odoo_capabilities(&db.pool, M1, &caps, at, None)
                    .await
                    .unwrap()
            );
            let changed = stores::upsert_settings(&db.pool, &ring, M1, &change)
                .await
                .unwrap();
            assert_eq!(changed.odoo_capabilities, None, "{change:?}");
        }
        // An unknown store: nothing written.
        assert!(
            !stores::set_odoo_capabilities(&db.pool, M2, &caps, at, None)
                .await
                .unwrap()
        );
    })
    .await;
}
