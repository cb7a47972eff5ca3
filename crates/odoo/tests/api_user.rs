//! The API user recipes (`user_by_login`, `user_has_group`) and the payment memo look-up against
//! each version personality of odoo-sandbox: `has_group` is a model method on 16 and a record
//! method from 17 (JSON-2 on 19); the memo is `ref` on 16/17 and `memo` from 18.

use odoo::{Client, Config, PaymentRequest, Step};
use odoo_sandbox::{Options, UserSpec, Version};
use serde_json::{Map, Value, json};

fn client(sb: &odoo_sandbox::Sandbox, login: &str, key: &str) -> Client {
    Client::new(Config::new(&sb.url(), "odoo", login, key.to_owned().into()).unwrap()).unwrap()
}

#[tokio::test]
async fn the_api_user_its_email_and_groups_on_16_to_19() {
    for version in [Version::V16, Version::V17, Version::V18, Version::V19] {
        let sb = odoo_sandbox::spawn(Options {
            version,
            extra_users: vec![UserSpec {
                login: "connector".into(),
                name: "Salla Connector".into(),
                password: "pw".into(),
                api_key: "connector-key".into(),
                admin: false,
            }],
            users_without_email: vec!["connector".into()],
            missing_groups: vec![("connector".into(), "stock.group_stock_user".into())],
            ..Options::default()
        })
        .await
        .unwrap();
        let c = client(&sb, "connector", "connector-key");
        let me = c.user_by_login("connector").await.unwrap().unwrap();
        assert_eq!(me.login, "connector", "{version}");
        assert_eq!(me.name, "Salla Connector", "{version}");
        assert_eq!(me.email, None, "{version}");
        assert!(
            c.user_has_group(me.id, "account.group_account_invoice")
                .await
                .unwrap(),
            "{version}"
        );
        assert!(
            !c.user_has_group(me.id, "stock.group_stock_user")
                .await
                .unwrap(),
            "{version}"
        );
        assert!(c.user_by_login("nobody").await.unwrap().is_none());
        let admin = client(&sb, "admin", "admin");
        let a = admin.user_by_login("admin").await.unwrap().unwrap();
        assert!(a.email.is_some(), "{version}");
        assert!(
            admin
                .user_has_group(a.id, "stock.group_stock_user")
                .await
                .unwrap()
        );
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn a_payment_is_found_by_its_memo_before_one_is_registered() {
    for version in [Version::V16, Version::V18] {
        let sb = odoo_sandbox::spawn(Options {
            version,
            ..Options::default()
        })
        .await
        .unwrap();
        let c = client(&sb, "admin", "admin");
        let vals = |v: Value| -> Map<String, Value> { v.as_object().cloned().unwrap() };
        let partner = c
            .create("res.partner", vals(json!({"name": "P"})))
            .await
            .unwrap();
        let product = c
            .create(
                "product.product",
                vals(json!({"name": "S", "type": "service", "list_price": 100})),
            )
            .await
            .unwrap();
        let invoice = || {
            let c = c.clone();
            async move {
                let inv = c
                    .create(
                        "account.move",
                        vals(json!({"move_type": "out_invoice", "partner_id": partner,
                                    "invoice_line_ids": [[0, 0, {"product_id": product, "quantity": 1}]]})),
                    )
                    .await
                    .unwrap();
                c.post_invoice(inv).await.unwrap();
                inv
            }
        };
        let first = invoice().await;
        let req = PaymentRequest {
            journal_id: Some(7),
            memo: Some("salla:1:2".into()),
            ..PaymentRequest::default()
        };
        let paid = c.register_payment(first, &req).await.unwrap();
        assert_eq!(paid.step, Step::Done, "{version}");
        let id = paid.payment_id.expect("the action's res_id");
        let found = c.payments_by_memo("salla:1:2").await.unwrap();
        assert_eq!(found.len(), 1, "{version}");
        assert_eq!(found[0]["id"], id);
        assert_eq!(odoo::many2one_id(&found[0]["journal_id"]), Some(7));
        // Another invoice, the same memo: found, nothing registered.
        let second = invoice().await;
        let again = c.register_payment(second, &req).await.unwrap();
        assert_eq!(again.step, Step::AlreadyDone, "{version}");
        assert_eq!(again.payment_id, Some(id));
        assert_eq!(again.payment_state, "not_paid");
        sb.shutdown().await;
    }
}
