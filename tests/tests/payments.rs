//! Issue #17 through the whole pipeline (signed webhook → ingest → queue → worker → odoo-sandbox),
//! in both modes: a cash-on-delivery order's payment refused because the store's Odoo user has no
//! email address is dead-lettered at once (permanent, one attempt, Odoo's message and the fix),
//! then replayed after the fix and paid once; a refund credits and pays it back; a delivered return
//! shipment makes a return picking.

use std::time::Duration;

use odoo_sandbox::{Options, Version};
use salla_odoo_tests::*;
use serde_json::{Map, Value, json};

const STORE: u64 = 6_017;
const ORDER: u64 = 9_301;

/// `order_event`'s order as `event`, its status `slug` (status-carrying events have the whole
/// order in `data`).
fn status_event(event: &str, slug: &str, at: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut body: Value =
        serde_json::from_slice(&order_event(event, STORE, ORDER, at, 2, "DATES-1")).unwrap();
    body["data"]["status"] = json!({"id": 1, "name": slug, "slug": slug});
    edit(&mut body["data"]);
    serde_json::to_vec(&body).unwrap()
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn a_refused_payment_is_dead_lettered_once_then_paid_refunded_and_returned(mode: Mode) {
    // The store's Odoo user (admin here) has no email address, as the recorded connector had none.
    let odoo = odoo_sandbox::spawn(Options {
        version: Version::V18,
        users_without_email: vec!["admin".into()],
        ..Options::default()
    })
    .await
    .unwrap();
    let mut fleet = Fleet::start_in(mode, "e2e-payments", &[]).await;
    fleet.add_store(
        STORE,
        &odoo.url(),
        &["--create-unknown-skus", "--payment-journals", "cod=7"],
    );
    // `store add` said so, and `doctor` does.
    let out = fleet.cli(&["doctor", "--json"], &[]);
    let checks: Value = serde_json::from_slice(&out.stdout).unwrap();
    let user = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == format!("store {STORE} odoo user"))
        .unwrap_or_else(|| panic!("{checks:#}"));
    assert_eq!(user["level"], "fail", "{user}");
    fleet.spawn_worker();

    fleet
        .ingest
        .post_signed(&order_event(
            "order.created",
            STORE,
            ORDER,
            "2026-11-02 10:00:00",
            2,
            "DATES-1",
        ))
        .await;
    fleet.wait_outcomes(1, Duration::from_secs(30)).await;
    fleet
        .ingest
        .post_signed(&status_event(
            "order.payment.updated",
            "delivered",
            "2026-11-02 11:00:00",
            |_| {},
        ))
        .await;
    fleet.wait_outcomes(2, Duration::from_secs(30)).await;
    let (event, outcome, reason) = fleet.log().await.remove(1);
    assert_eq!(
        (event.as_str(), outcome.as_str()),
        ("order.payment.updated", "dead_lettered")
    );
    let reason = reason.unwrap_or_default();
    assert!(
        reason.contains("Unable to send message, please configure the sender's email address.")
            && reason.contains("Give that user an email address"),
        "{reason}"
    );
    let letters = salla_odoo_store::outbox::list(&fleet.db.pool, &Default::default())
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].class, "permanent", "never a retry loop");
    assert_eq!(
        letters[0].attempts.as_array().map(Vec::len),
        Some(1),
        "one attempt: {}",
        letters[0].attempts
    );
    assert_eq!(
        odoo.inspect().count("account.payment", json!([])).unwrap(),
        0
    );

    // Someone gives the user an email address and replays: paid once, in the COD journal.
    let admin = odoo::Client::new(
        odoo::Config::new(&odoo.url(), "odoo", "admin", "admin".to_owned().into()).unwrap(),
    )
    .unwrap();
    let users: Vec<odoo::Record> = admin
        .search_read(
            "res.users",
            &odoo::Domain::new().eq("login", "admin"),
            &["partner_id"],
            &odoo::SearchOptions::limit(1),
        )
        .await
        .unwrap();
    let mut vals = Map::new();
    vals.insert("email".into(), json!("connector@example.com"));
    admin
        .write(
            "res.partner",
            &[odoo::many2one_id(&users[0]["partner_id"]).unwrap()],
            vals,
        )
        .await
        .unwrap();
    ok(&fleet.cli(&["dlq", "replay", &letters[0].id.to_string()], &[]));
    fleet.wait_outcomes(3, Duration::from_secs(30)).await;
    assert_eq!(fleet.log().await[2].1, "applied");
    let payments = odoo
        .inspect()
        .read("account.payment", json!([]), &["journal_id", "memo"])
        .unwrap();
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(odoo::many2one_id(&payments[0]["journal_id"]), Some(7));
    assert_eq!(payments[0]["memo"], format!("salla:{STORE}:{ORDER}"));

    // Refunded in Salla: a credit note, paid back in the same journal.
    fleet
        .ingest
        .post_signed(&status_event(
            "order.refunded",
            "restored",
            "2026-11-02 12:00:00",
            |_| {},
        ))
        .await;
    // A return shipment of one of the two boxes, delivered back to the store.
    let ret = json!({"event": "shipment.updated", "merchant": STORE,
        "created_at": "2026-11-02 13:00:00",
        "data": {"id": 88_001, "order_id": ORDER, "type": "return", "status": "delivered",
                 "shipping_number": "RET-88001",
                 "packages": [{"item_id": ORDER * 10 + 1, "sku": "DATES-1", "quantity": 1}]}});
    fleet
        .ingest
        .post_signed(&serde_json::to_vec(&ret).unwrap())
        .await;
    fleet.wait_outcomes(5, Duration::from_secs(30)).await;
    let log = fleet.log().await;
    assert!(
        log[3..].iter().all(|(_, outcome, _)| outcome == "applied"),
        "{log:?}"
    );
    let notes = odoo
        .inspect()
        .read(
            "account.move",
            json!([["move_type", "=", "out_refund"]]),
            &["state", "payment_state", "amount_total"],
        )
        .unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["payment_state"], "paid");
    assert_eq!(
        odoo.inspect().count("account.payment", json!([])).unwrap(),
        2
    );
    let returns = odoo
        .inspect()
        .read(
            "stock.picking",
            json!([["picking_type_code", "=", "incoming"]]),
            &["state", "origin"],
        )
        .unwrap();
    assert_eq!(returns.len(), 1, "{returns:?}");
    assert_eq!(returns[0]["state"], "done");
    assert!(
        returns[0]["origin"]
            .as_str()
            .unwrap()
            .ends_with(&format!("(salla:{STORE}:shipment:88001)")),
        "{returns:?}"
    );
}

mod fleet {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_payment_is_dead_lettered_once_then_paid_refunded_and_returned() {
        super::a_refused_payment_is_dead_lettered_once_then_paid_refunded_and_returned(
            super::Mode::Fleet,
        )
        .await
    }
}

mod embedded {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_payment_is_dead_lettered_once_then_paid_refunded_and_returned() {
        super::a_refused_payment_is_dead_lettered_once_then_paid_refunded_and_returned(
            super::Mode::Embedded,
        )
        .await
    }
}
