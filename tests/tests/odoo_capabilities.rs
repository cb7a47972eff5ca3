//! Issue 18: a store's Odoo capabilities are probed once and kept with the store. The production
//! handler (`SyncHandler`, as a worker runs it) against odoo-sandbox and a Postgres store: a store
//! with none kept probes once (five `fields_get`) and keeps them, with the API user's uid; a worker
//! started later (a new handler: a restart, another worker) asks Odoo neither its version nor to
//! authenticate (kept without the uid, as before it was: only those two); a call refused for an
//! unknown field drops what is kept, and the next job probes again and keeps the new probe.

use std::time::Duration;

use odoo_sandbox::{Options, Version};
use salla_odoo_core::settings::SecretsSettings;
use salla_odoo_core::{
    BodyDigest, EntityKind, EntityRef, JobKind, MerchantId, SallaId, SyncError, SyncJobV1,
};
use salla_odoo_store::{Keyring, StoreUpdate, stores};
use salla_odoo_tests::*;
use salla_odoo_worker::{Handled, Handler, StoreLimits, SyncHandler};
use secrecy::SecretString;

const M: MerchantId = MerchantId::new(1_818_000_001);

fn fields_gets(odoo: &odoo_sandbox::Sandbox) -> u64 {
    odoo.inspect()
        .all_calls()
        .iter()
        .filter(|(k, _)| k.ends_with(".fields_get"))
        .map(|(_, n)| n.as_u64().unwrap_or_default())
        .sum()
}

/// How many `common.version` and `common.authenticate` calls the sandbox answered.
fn session_calls(odoo: &odoo_sandbox::Sandbox) -> (u64, u64) {
    let calls = odoo.inspect();
    (
        calls.calls("common", "version"),
        calls.calls("common", "authenticate"),
    )
}

fn order_job(order: u64) -> SyncJobV1 {
    let body: serde_json::Value = serde_json::from_slice(&sample_order(M.get(), order)).unwrap();
    SyncJobV1 {
        id: uuid::Uuid::now_v7(),
        kind: JobKind::OrderUpsert,
        merchant: M,
        event: "order.created".into(),
        entity: Some(EntityRef {
            kind: EntityKind::Order,
            id: SallaId::new(order),
        }),
        digest: BodyDigest::of(format!("{order}:{}", uuid::Uuid::new_v4()).as_bytes()),
        salla_created_at: "2026-11-02 10:00:00".into(),
        received_at: time::OffsetDateTime::now_utc(),
        attempt: 0,
        data: body["data"].clone(),
        history: Vec::new(),
        trace: None,
    }
}

#[tokio::test]
async fn a_worker_probes_a_stores_odoo_once_and_keeps_what_it_found() {
    let odoo = odoo_sandbox::spawn(Options {
        version: Version::V18,
        ..Default::default()
    })
    .await
    .unwrap();
    let db = TestDb::create().await;
    let ns = unique_namespace("odoo-capabilities");
    let queue: salla_odoo_queue::Queue = test_redis_queue(&redis_url(), &ns).into();
    let ring = Keyring::from_settings(&SecretsSettings {
        key: SecretString::from("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        previous_keys: Vec::new(),
    })
    .unwrap();
    stores::upsert_settings(
        &db.pool,
        &ring,
        M,
        &StoreUpdate {
            odoo_url: Some(odoo.url()),
            odoo_database: Some("odoo".into()),
            odoo_login: Some("admin".into()),
            odoo_api_key: Some(SecretString::from("admin")),
            create_unknown_skus: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // A worker process's handler (each new one: a restart, or another worker of the fleet).
    let worker = || {
        SyncHandler::new(
            db.pool.clone(),
            ring.clone(),
            StoreLimits::new(queue.clone(), 4, 1_000, Duration::from_secs(30))
                .with_capabilities_ttl(Duration::from_secs(3_600)),
            queue.clone(),
            Duration::from_secs(3_600),
        )
    };
    let applied = |r: Result<Handled, SyncError>| match r {
        Ok(Handled::Applied { .. }) => {}
        other => panic!("not applied: {other:?}"),
    };

    // None kept: the first worker probes once, and keeps what it found.
    let first = worker();
    applied(first.handle(&order_job(7_001), &db.pool).await);
    assert_eq!(fields_gets(&odoo), 5, "one probe");
    let kept = stores::odoo_capabilities(&db.pool, M)
        .await
        .unwrap()
        .expect("the probe is kept");
    let caps: odoo::Capabilities = serde_json::from_value(kept.capabilities.clone()).unwrap();
    assert_eq!(caps.version.major, 18);
    assert_eq!(caps.uid, Some(2), "kept with the API user's uid");
    applied(first.handle(&order_job(7_002), &db.pool).await);
    assert_eq!(fields_gets(&odoo), 5, "the worker's client keeps its probe");
    assert_eq!(session_calls(&odoo), (1, 1), "one session");

    // Kept: another worker asks Odoo no fields_get, no version and no authenticate.
    applied(worker().handle(&order_job(7_003), &db.pool).await);
    assert_eq!(fields_gets(&odoo), 5, "seeded from the store");
    assert_eq!(
        session_calls(&odoo),
        (1, 1),
        "the session seeded from the store"
    );
    assert_eq!(
        stores::odoo_capabilities(&db.pool, M).await.unwrap(),
        Some(kept.clone()),
        "a seeded client writes nothing back"
    );

    // Kept before the uid was (a row of an earlier connector): no probe, but a session opened as
    // usual, and nothing written back.
    let mut old = kept.capabilities.clone();
    old.as_object_mut().unwrap().remove("uid");
    assert!(
        stores::set_odoo_capabilities(&db.pool, M, &old, kept.probed_at, None)
            .await
            .unwrap()
    );
    applied(worker().handle(&order_job(7_005), &db.pool).await);
    assert_eq!(fields_gets(&odoo), 5, "seeded from the older row");
    assert_eq!(session_calls(&odoo), (2, 2), "its own session");
    assert_eq!(
        stores::odoo_capabilities(&db.pool, M)
            .await
            .unwrap()
            .map(|k| k.capabilities),
        Some(old)
    );

    // Kept with a uid that is no longer the API user's (the user recreated): Odoo refuses the
    // first call, the client authenticates and makes it again; the job is applied.
    let mut stale = kept.capabilities.clone();
    stale["uid"] = serde_json::json!(999);
    assert!(
        stores::set_odoo_capabilities(&db.pool, M, &stale, kept.probed_at, None)
            .await
            .unwrap()
    );
    let fourth = worker();
    applied(fourth.handle(&order_job(7_006), &db.pool).await);
    assert_eq!(
        session_calls(&odoo),
        (3, 3),
        "a session opened after the refusal"
    );
    assert_eq!(fields_gets(&odoo), 5, "not probed in that job");
    // The seed is gone from that client: its next job probes, and the probe, with the real uid,
    // is kept.
    applied(fourth.handle(&order_job(7_007), &db.pool).await);
    assert_eq!(fields_gets(&odoo), 10, "probed again");
    let kept = stores::odoo_capabilities(&db.pool, M)
        .await
        .unwrap()
        .expect("the new probe is kept");
    assert_eq!(kept.capabilities["uid"], serde_json::json!(2));

    // What is kept no longer holds (here: made to name a product field 18 does not have, as if a
    // module had been uninstalled): Odoo refuses the unknown field, and what is kept is dropped.
    let mut wrong = kept.capabilities.clone();
    wrong["storable"] = serde_json::json!("DetailedType");
    assert!(
        stores::set_odoo_capabilities(&db.pool, M, &wrong, kept.probed_at, None)
            .await
            .unwrap()
    );
    let third = worker();
    let mut job = order_job(7_004);
    job.data["items"][0]["sku"] = serde_json::json!("NEW-SKU-1");
    let refused = third.handle(&job, &db.pool).await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("Invalid field")),
        "{refused:?}"
    );
    assert_eq!(stores::odoo_capabilities(&db.pool, M).await.unwrap(), None);
    // The job again (its retry), on the same worker: probed afresh, applied, kept.
    applied(third.handle(&job, &db.pool).await);
    assert_eq!(fields_gets(&odoo), 15, "probed again");
    assert_eq!(
        session_calls(&odoo),
        (4, 4),
        "the seeded session dropped with the seed: the version read again"
    );
    let again = stores::odoo_capabilities(&db.pool, M)
        .await
        .unwrap()
        .expect("the new probe is kept");
    assert_eq!(again.capabilities, kept.capabilities);

    delete_namespace(&redis_url(), &ns);
    odoo.shutdown().await;
}
