//! The client against scripted HTTP doubles: request shapes on both transports, transport selection,
//! result and error envelopes, and the classification of every HTTP-level failure (docs/odoo-api.md §8).

mod support;

use std::time::Duration;

use odoo::{
    Call, Client, Domain, ErrorClass, FaultKind, SearchOptions, Transport, TransportChoice,
};
use serde_json::{Map, Value, json};
use support::{Answer, Double, Misbehave, config};

fn vals(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[tokio::test]
async fn jsonrpc_requests_have_the_execute_kw_shape() {
    let double = Double::start(18, |s| match s.model_method() {
        ("res.partner", "search_read") => {
            Some(Answer::rpc_result(s, json!([{"id": 8, "name": "A"}])))
        }
        ("res.partner", "create") => Some(Answer::rpc_result(s, json!(8))),
        ("res.partner", "write") => Some(Answer::rpc_result(s, json!(true))),
        _ => None,
    })
    .await;
    let client = Client::new(config(&double.url)).unwrap();
    assert_eq!(client.transport().await.unwrap(), Transport::JsonRpc);
    assert_eq!(client.uid().await.unwrap(), Some(2));

    let rows: Vec<odoo::Record> = client
        .search_read(
            "res.partner",
            &Domain::new().eq("email", "a@b.sa"),
            &["id", "name"],
            &SearchOptions::limit(1),
        )
        .await
        .unwrap();
    assert_eq!(rows[0]["id"], 8);
    let id = client
        .create("res.partner", vals(json!({"name": "A"})))
        .await
        .unwrap();
    assert_eq!(id, 8);
    assert!(
        client
            .write("res.partner", &[8], vals(json!({"name": "B"})))
            .await
            .unwrap()
    );

    let calls = double.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].body["jsonrpc"], "2.0");
    assert_eq!(calls[0].body["method"], "call");
    assert_eq!(calls[0].service_method(), ("object", "execute_kw"));
    assert_eq!(
        calls[0].args(),
        &json!(["odoo", 2, "admin", "res.partner", "search_read",
                [[["email", "=", "a@b.sa"]]], {"fields": ["id", "name"], "limit": 1}])
    );
    assert_eq!(
        calls[1].args(),
        &json!(["odoo", 2, "admin", "res.partner", "create", [{"name": "A"}], {}])
    );
    assert_eq!(
        calls[2].args(),
        &json!(["odoo", 2, "admin", "res.partner", "write", [[8], {"name": "B"}], {}])
    );
    // The session ran common.version then common.authenticate once.
    let session: Vec<_> = double
        .seen()
        .iter()
        .filter(|s| s.service_method().0 == "common")
        .map(|s| s.service_method().1.to_owned())
        .collect();
    assert_eq!(session, ["version", "authenticate"]);
}

#[tokio::test]
async fn version_19_selects_json2_with_bearer_key_and_database_header() {
    let double = Double::start(19, |s| match s.path.as_str() {
        "/json/2/res.partner/create" => Some(Answer::json(200, json!([41]))),
        "/json/2/res.partner/search_read" => Some(Answer::json(200, json!([{"id": 41}]))),
        "/json/2/stock.quant/action_apply_inventory" => Some(Answer::json(200, Value::Null)),
        _ => None,
    })
    .await;
    let client = Client::new(config(&double.url)).unwrap();
    assert_eq!(client.transport().await.unwrap(), Transport::Json2);
    assert_eq!(client.uid().await.unwrap(), None);
    let id = client
        .create("res.partner", vals(json!({"name": "A"})))
        .await
        .unwrap();
    assert_eq!(id, 41);
    let rows: Vec<odoo::Record> = client
        .search_read(
            "res.partner",
            &Domain::new().eq("ref", "x"),
            &["id"],
            &SearchOptions {
                limit: Some(1),
                offset: Some(0),
                order: Some("id desc".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let none = client
        .with_context(vals(json!({"inventory_mode": true})))
        .call(&Call::new("stock.quant", "action_apply_inventory").ids(&[1]))
        .await
        .unwrap();
    assert_eq!(none, Value::Null);

    let calls = double.calls();
    assert_eq!(calls.len(), 3);
    for c in &calls {
        assert_eq!(c.headers["authorization"], "bearer admin");
        assert_eq!(c.headers["x-odoo-database"], "odoo");
        assert_eq!(c.headers["content-type"], "application/json");
    }
    assert_eq!(calls[0].body, json!({"vals_list": [{"name": "A"}]}));
    assert_eq!(
        calls[1].body,
        json!({"domain": [["ref", "=", "x"]], "fields": ["id"], "offset": 0, "limit": 1, "order": "id desc"})
    );
    assert_eq!(
        calls[2].body,
        json!({"ids": [1], "context": {"inventory_mode": true}})
    );
    // No authenticate on JSON-2.
    assert!(
        !double
            .seen()
            .iter()
            .any(|s| s.service_method() == ("common", "authenticate"))
    );
}

#[tokio::test]
async fn configured_transport_overrides_the_version() {
    let double = Double::start(19, |_| None).await;
    let mut cfg = config(&double.url);
    cfg.transport = TransportChoice::JsonRpc;
    let client = Client::new(cfg).unwrap();
    assert_eq!(client.transport().await.unwrap(), Transport::JsonRpc);
    assert!(client.unlink("res.partner", &[1]).await.unwrap());
    assert_eq!(double.calls()[0].path, "/jsonrpc");
}

#[tokio::test]
async fn jsonrpc_switched_off_falls_back_to_web_version() {
    let double = Double::start(19, |s| {
        (s.path == "/jsonrpc").then(|| Answer::text(404, "Not Found"))
    })
    .await;
    let client = Client::new(config(&double.url)).unwrap();
    assert_eq!(client.version().await.unwrap().major, 19);
    assert_eq!(client.transport().await.unwrap(), Transport::Json2);
}

#[tokio::test]
async fn missing_result_key_is_null() {
    let double = Double::start(18, |s| {
        (s.model_method().1 == "action_apply_inventory").then(|| Answer::rpc_none(s))
    })
    .await;
    let client = Client::new(config(&double.url)).unwrap();
    let v = client
        .call(
            &Call::new("stock.quant", "action_apply_inventory")
                .ids(&[1])
                .with_context("inventory_mode", true),
        )
        .await
        .unwrap();
    assert_eq!(v, Value::Null);
    assert_eq!(
        double.calls()[0].args()[6],
        json!({"context": {"inventory_mode": true}})
    );
}

#[tokio::test]
async fn authenticate_false_is_a_permanent_auth_error_and_is_not_cached() {
    let double = Double::start(18, |_| None).await;
    let bad = odoo::Config::new(&double.url, "odoo", "admin", "wrong".to_owned().into()).unwrap();
    let client = Client::new(bad).unwrap();
    let e = client
        .search_count("res.partner", &Domain::new())
        .await
        .unwrap_err();
    assert!(
        matches!(e, odoo::Error::AuthenticationFailed { .. }),
        "{e:?}"
    );
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert_eq!(e.fault_kind(), Some(FaultKind::AccessDenied));
    let _ = client
        .search_count("res.partner", &Domain::new())
        .await
        .unwrap_err();
    let auths = double
        .seen()
        .iter()
        .filter(|s| s.service_method() == ("common", "authenticate"))
        .count();
    assert_eq!(auths, 2, "a failed session is tried again");
    assert!(!format!("{e} {e:?}").contains("wrong"));
}

#[tokio::test]
async fn odoo_errors_keep_name_and_message_on_both_transports() {
    let double = Double::start(18, |s| {
        (s.model_method().1 == "write").then(|| {
            Answer::rpc_error(
                s,
                200,
                "odoo.exceptions.MissingError",
                "Record does not exist or has been deleted.",
            )
        })
    })
    .await;
    let client = Client::new(config(&double.url)).unwrap();
    let e = client
        .write("res.partner", &[999], Map::new())
        .await
        .unwrap_err();
    let f = e.fault().unwrap();
    assert_eq!(f.name, "odoo.exceptions.MissingError");
    assert_eq!(f.message, "Record does not exist or has been deleted.");
    assert_eq!(f.kind(), FaultKind::Missing);
    assert_eq!(e.class(), ErrorClass::Permanent);

    let double = Double::start(19, |s| match s.path.as_str() {
        "/json/2/account.move/action_post" => Some(Answer::json2_error(
            422,
            "odoo.exceptions.UserError",
            "The entry INV/1 (id 1) must be in draft.",
        )),
        "/json/2/no.model/search" => Some(Answer::json2_error(
            404,
            "werkzeug.exceptions.NotFound",
            "404",
        )),
        "/json/2/sale.order/search" => Some(Answer::json2_error(
            500,
            "psycopg2.errors.SerializationFailure",
            "could not serialize access due to concurrent update",
        )),
        _ => None,
    })
    .await;
    let client = Client::new(config(&double.url)).unwrap();
    let e = client
        .call(&Call::new("account.move", "action_post").ids(&[1]))
        .await
        .unwrap_err();
    assert_eq!(e.fault().unwrap().http_status, 422);
    assert_eq!(e.fault().unwrap().kind(), FaultKind::User);
    assert_eq!(e.class(), ErrorClass::Permanent);
    let e = client
        .search("no.model", &Domain::new(), &SearchOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent);
    let e = client
        .search("sale.order", &Domain::new(), &SearchOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Transient { retry_after: None });
    // A bad key on JSON-2: 401.
    let bad =
        odoo::Config::new(&double.url, "odoo", "admin", "nope-key".to_owned().into()).unwrap();
    let e = Client::new(bad)
        .unwrap()
        .search("res.partner", &Domain::new(), &SearchOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.fault_kind(), Some(FaultKind::AccessDenied));
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(!format!("{e} {e:?}").contains("nope-key"));
}

#[tokio::test]
async fn http_statuses_are_classified() {
    let double = Double::start(18, |s| {
        let model = s.model_method().0;
        Some(match model {
            "m429" => Answer::text(429, "slow down").header("retry-after", "7"),
            "m503" => Answer::text(503, "maintenance").header("retry-after", "2"),
            "m502" => Answer::text(502, "Bad Gateway"),
            "m504" => Answer::text(504, "Gateway Timeout"),
            "m400" => Answer::text(400, "Invalid JSON data"),
            _ => return None,
        })
    })
    .await;
    let client = Client::new(config(&double.url)).unwrap();
    let class = |model: &'static str| {
        let client = client.clone();
        async move {
            client
                .call(&Call::new(model, "x"))
                .await
                .unwrap_err()
                .class()
        }
    };
    assert_eq!(
        class("m429").await,
        ErrorClass::Transient {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(
        class("m503").await,
        ErrorClass::Transient {
            retry_after: Some(Duration::from_secs(2))
        }
    );
    assert_eq!(class("m502").await, ErrorClass::OutcomeUnknown);
    assert_eq!(class("m504").await, ErrorClass::OutcomeUnknown);
    assert_eq!(class("m400").await, ErrorClass::Permanent);
}

#[tokio::test]
async fn login_cooldown_waits_a_minute() {
    let double = Double::start(18, |s| {
        Some(Answer::rpc_error(
            s,
            200,
            "odoo.exceptions.AccessDenied",
            "Too many login failures, please wait a bit before trying again.",
        ))
    })
    .await;
    let e = Client::new(config(&double.url))
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert_eq!(
        e.class(),
        ErrorClass::Transient {
            retry_after: Some(Duration::from_secs(60))
        }
    );
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let e = Client::new(config(&url))
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(matches!(e, odoo::Error::Connect { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Transient { retry_after: None });
    assert!(e.to_string().to_lowercase().contains("refused"), "{e}");
}

#[tokio::test]
async fn dropped_connection_after_the_request_is_outcome_unknown() {
    let (url, task) = support::misbehaving(Misbehave::Drop).await;
    let client = Client::new(config(&url)).unwrap();
    let e = client
        .create("sale.order", vals(json!({"partner_id": 1})))
        .await
        .unwrap_err();
    assert!(matches!(e, odoo::Error::NoAnswer { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown);
    assert!(e.to_string().contains("outcome is unknown"), "{e}");
    task.abort();
}

#[tokio::test]
async fn timeout_after_the_request_is_outcome_unknown() {
    let (url, task) = support::misbehaving(Misbehave::Stall).await;
    let mut cfg = config(&url);
    cfg.request_timeout = Duration::from_millis(300);
    let client = Client::new(cfg).unwrap();
    let e = client
        .create("sale.order", vals(json!({"partner_id": 1})))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown, "{e:?}");
    task.abort();
}

#[tokio::test]
async fn truncated_answer_is_outcome_unknown() {
    let (url, task) = support::misbehaving(Misbehave::Truncate).await;
    let client = Client::new(config(&url)).unwrap();
    let e = client
        .create("sale.order", vals(json!({"partner_id": 1})))
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::OutcomeUnknown, "{e:?}");
    task.abort();
}

/// An answer larger than `max_answer_bytes` is refused, whether its length is announced or it
/// streams without one (it would otherwise be read until memory runs out): a permanent error, since
/// asking again gets the same answer.
#[tokio::test]
async fn an_answer_over_the_size_limit_is_refused_not_read() {
    let rows: Vec<Value> = (0..2_000)
        .map(|i| json!({"id": i, "name": format!("Partner {i}")}))
        .collect();
    let double = Double::start(18, move |s| {
        (s.model_method() == ("res.partner", "search_read"))
            .then(|| Answer::rpc_result(s, Value::Array(rows.clone())))
    })
    .await;
    let mut cfg = config(&double.url);
    cfg.max_answer_bytes = 16 * 1024;
    let client = Client::new(cfg).unwrap();
    let e = client
        .search_read::<odoo::Record>(
            "res.partner",
            &Domain::new(),
            &["id", "name"],
            &SearchOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, odoo::Error::AnswerTooLarge { limit: 16_384 }),
        "{e:?}"
    );
    assert_eq!(e.class(), ErrorClass::Permanent);
    // Small answers on the same client are read as usual (the session's own calls were).
    assert_eq!(client.uid().await.unwrap(), Some(2));

    let (url, task) = support::misbehaving(Misbehave::Endless).await;
    let mut cfg = config(&url);
    cfg.max_answer_bytes = 1024 * 1024;
    let client = Client::new(cfg).unwrap();
    let e = client
        .search_read::<odoo::Record>(
            "res.partner",
            &Domain::new(),
            &["id"],
            &SearchOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, odoo::Error::AnswerTooLarge { .. }), "{e:?}");
    assert!(e.to_string().contains("larger than 1048576 bytes"), "{e}");
    task.abort();
}

#[tokio::test]
async fn calls_in_flight_are_bounded_and_connections_reused() {
    let double = Double::start(18, |s| {
        (s.model_method().1 == "slow")
            .then(|| Answer::rpc_result(s, json!(true)).delayed(Duration::from_millis(50)))
    })
    .await;
    let mut cfg = config(&double.url);
    cfg.max_concurrency = 2;
    let client = Client::new(cfg).unwrap();
    client.version().await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.call(&Call::new("res.partner", "slow")).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(double.max_in_flight(), 2);
    // Ten calls (two for the session) over a handful of pooled connections; a connection handed back while
    // another task is checking one out may add one, so the bound is loose.
    assert!(
        double.distinct_connections() <= 4,
        "{}",
        double.distinct_connections()
    );
}

#[tokio::test]
async fn sequential_calls_reuse_one_connection() {
    let double = Double::start(18, |_| None).await;
    let client = Client::new(config(&double.url)).unwrap();
    for _ in 0..10 {
        client.call(&Call::new("res.partner", "x")).await.unwrap();
    }
    assert_eq!(double.distinct_connections(), 1);
}

#[tokio::test]
async fn api_key_never_shows_in_debug_or_errors() {
    let secret = "sk-very-secret-123";
    let double = Double::start(18, move |s| {
        // A server that (wrongly) echoes the key in its message.
        let key = s.args()[2].as_str().unwrap_or_default().to_owned();
        (s.service_method() == ("object", "execute_kw"))
            .then(|| Answer::rpc_error(s, 200, "builtins.ValueError", &format!("bad value {key}")))
    })
    .await;
    let mut cfg =
        odoo::Config::new(&double.url, "odoo", "admin", secret.to_owned().into()).unwrap();
    cfg.transport = TransportChoice::JsonRpc;
    assert!(!format!("{cfg:?}").contains(secret));
    let client = Client::new(cfg).unwrap();
    assert!(!format!("{client:?}").contains(secret));
    // authenticate answers false for this key in the double: build a session-less call instead.
    let e = client
        .rpc(
            "object",
            "execute_kw",
            json!(["odoo", 2, secret, "m", "x", [], {}]),
        )
        .await
        .unwrap_err();
    let shown = format!("{e} | {e:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[tokio::test]
async fn context_merges_client_and_call() {
    let double = Double::start(18, |_| None).await;
    let mut cfg = config(&double.url);
    cfg.context = vals(json!({"lang": "en_US", "tz": "Asia/Riyadh"}));
    let client = Client::new(cfg).unwrap();
    client
        .with_context(vals(json!({"tracking_disable": true})))
        .call(
            &Call::new("sale.order", "action_cancel")
                .ids(&[3])
                .with_context("lang", "ar_001"),
        )
        .await
        .unwrap();
    assert_eq!(
        double.calls()[0].args()[6],
        json!({"context": {"lang": "ar_001", "tz": "Asia/Riyadh", "tracking_disable": true}})
    );
}

#[test]
fn client_and_error_cross_tasks() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Client>();
    assert_send_sync::<odoo::Error>();
    assert_send_sync::<odoo::Capabilities>();
}

#[tokio::test]
async fn health_and_lookup() {
    let double = Double::start(18, |s| {
        if s.model_method() != ("sale.order", "search") {
            return None;
        }
        let reference = s.args()[5][0][0][2].as_str().unwrap_or_default().to_owned();
        let ids = match reference.as_str() {
            "NONE" => json!([]),
            "ONE" => json!([7]),
            _ => json!([7, 9]),
        };
        Some(Answer::rpc_result(s, ids))
    })
    .await;
    let client = Client::new(config(&double.url)).unwrap();
    client.health().await.unwrap();
    let by_ref = |r: &str| Domain::new().eq("client_order_ref", r);
    assert_eq!(
        client.lookup("sale.order", &by_ref("NONE")).await.unwrap(),
        odoo::Lookup::None
    );
    assert_eq!(
        client.lookup("sale.order", &by_ref("ONE")).await.unwrap(),
        odoo::Lookup::One(7)
    );
    assert_eq!(
        client.lookup("sale.order", &by_ref("TWO")).await.unwrap(),
        odoo::Lookup::Several
    );
    assert_eq!(
        double.calls().last().unwrap().args()[6],
        json!({"limit": 2})
    );
}

#[tokio::test]
async fn refresh_makes_a_new_session_and_probe() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let major = Arc::new(AtomicU32::new(18));
    let m = Arc::clone(&major);
    let double = Double::start(18, move |s| {
        let v = m.load(Ordering::SeqCst);
        if s.service_method() == ("common", "version") {
            return Some(Answer::rpc_result(
                s,
                json!({"server_version": format!("{v}.0"), "server_version_info": [v, 0, 0, "final", 0, ""],
                       "server_serie": format!("{v}.0"), "protocol_version": 1}),
            ));
        }
        None
    })
    .await;
    let client = Client::new(config(&double.url)).unwrap();
    assert_eq!(client.transport().await.unwrap(), Transport::JsonRpc);
    major.store(19, Ordering::SeqCst);
    assert_eq!(
        client.transport().await.unwrap(),
        Transport::JsonRpc,
        "cached"
    );
    let clone = client.clone();
    client.refresh();
    assert_eq!(
        clone.transport().await.unwrap(),
        Transport::Json2,
        "clones share the refresh"
    );
    assert_eq!(client.version().await.unwrap().major, 19);
}

#[tokio::test]
async fn tls_failure_is_transient_nothing_sent() {
    // An https URL pointing at a plain-HTTP server: the TLS handshake fails before any request is written.
    let double = Double::start(18, |_| None).await;
    let url = double.url.replace("http://", "https://");
    let e = Client::new(config(&url))
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(matches!(e, odoo::Error::Connect { .. }), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Transient { retry_after: None });
    assert!(double.seen().is_empty());
}
