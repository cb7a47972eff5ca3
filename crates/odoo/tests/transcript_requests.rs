//! The client speaks like the recorded Odoo 18 session: every `object.execute_kw` request of the transcript
//! is reissued through the client's typed operation for that method, and the request the client sends must
//! equal the recorded one (apart from the JSON-RPC id, the uid and the secret). A double answers with the
//! recorded response, so the typed result (or the classified error) is checked too.
//!
//! The transcript is read from `../shared` at test time and never copied into the repository.

mod support;

use std::sync::{Arc, Mutex};

use odoo::{Call, Client, Domain, ErrorClass, SearchOptions};
use serde_json::{Map, Value, json};
use support::transcript::load;
use support::{Answer, Double, config};

/// `execute_kw` args with the uid and the secret blanked, and the optional kwargs made explicit.
fn normalized(args: &Value) -> Value {
    let mut a = args.as_array().cloned().unwrap_or_default();
    if a.len() == 6 {
        a.push(json!({}));
    }
    a[1] = json!("<uid>");
    a[2] = json!("<secret>");
    Value::Array(a)
}

fn obj(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Issues the recorded call through the matching typed operation; the result as JSON.
async fn reissue(client: &Client, args: &Value) -> Result<Value, odoo::Error> {
    let model = args[3].as_str().unwrap();
    let method = args[4].as_str().unwrap();
    let pos = args[5].as_array().cloned().unwrap_or_default();
    let kw = obj(args.get(6).unwrap_or(&json!({})));
    let ctx = kw.get("context").map(obj).unwrap_or_default();
    let client = if ctx.is_empty() {
        client.clone()
    } else {
        client.with_context(ctx)
    };
    let ids = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_i64().unwrap())
            .collect()
    };
    let field_names = strings(kw.get("fields").unwrap_or(&Value::Null));
    let fields: Vec<&str> = field_names.iter().map(String::as_str).collect();
    let opts = SearchOptions {
        limit: kw.get("limit").and_then(Value::as_u64).map(|l| l as u32),
        offset: kw.get("offset").and_then(Value::as_u64).map(|o| o as u32),
        order: kw.get("order").and_then(Value::as_str).map(str::to_owned),
    };
    Ok(match method {
        "create" if pos[0].is_object() => json!(client.create(model, obj(&pos[0])).await?),
        "create" => json!(
            client
                .create_many(model, pos[0].as_array().unwrap().iter().map(obj).collect())
                .await?
        ),
        "read" => json!(client.read::<Value>(model, &ids(&pos[0]), &fields).await?),
        "search_read" => {
            let domain = Domain::from_value(pos[0].clone())?;
            json!(
                client
                    .search_read::<Value>(model, &domain, &fields, &opts)
                    .await?
            )
        }
        "search" => json!(
            client
                .search(model, &Domain::from_value(pos[0].clone())?, &opts)
                .await?
        ),
        "search_count" => json!(
            client
                .search_count(model, &Domain::from_value(pos[0].clone())?)
                .await?
        ),
        "write" => json!(client.write(model, &ids(&pos[0]), obj(&pos[1])).await?),
        "unlink" => json!(client.unlink(model, &ids(&pos[0])).await?),
        "fields_get" => {
            let all = strings(kw.get("allfields").unwrap_or(&Value::Null));
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            let attrs = strings(kw.get("attributes").unwrap_or(&Value::Null));
            let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
            Value::Object(client.fields_get(model, Some(&all), &attrs).await?)
        }
        _ => {
            let mut call = Call::new(model, method);
            if let Some(first) = pos.first() {
                call = call.ids(&ids(first));
            }
            client.call(&call).await?
        }
    })
}

#[tokio::test]
async fn client_requests_match_the_recorded_ones() {
    let Some(cases) = load() else { return };
    let current: Arc<Mutex<Value>> = Arc::new(Mutex::new(Value::Null));
    let answer = Arc::clone(&current);
    let double = Double::start(18, move |seen| {
        if seen.service_method() != ("object", "execute_kw") {
            return None;
        }
        let mut reply = answer.lock().unwrap().clone();
        reply["id"] = seen.body["id"].clone();
        Some(Answer::json(200, reply))
    })
    .await;
    let client = Client::new(config(&double.url)).unwrap();
    client.uid().await.unwrap();

    let mut checked = 0;
    for case in cases
        .iter()
        .filter(|c| c.request["params"]["service"] == "object")
    {
        *current.lock().unwrap() = case.response.clone();
        let before = double.calls().len();
        let outcome = reissue(&client, &case.request["params"]["args"]).await;
        let calls = double.calls();
        assert_eq!(
            calls.len(),
            before + 1,
            "{}: exactly one request",
            case.label
        );
        let sent = calls.last().unwrap();
        assert_eq!(
            normalized(sent.args()),
            normalized(&case.request["params"]["args"]),
            "{}: request differs",
            case.label
        );
        match (case.response.get("error"), outcome) {
            (Some(err), Err(e)) => {
                assert_eq!(
                    e.fault().unwrap().name,
                    err["data"]["name"].as_str().unwrap()
                );
                assert_eq!(e.class(), ErrorClass::Permanent, "{}", case.label);
            }
            (None, Ok(v)) => {
                let recorded = case.response.get("result").cloned().unwrap_or(Value::Null);
                assert_eq!(v, recorded, "{}: result differs", case.label);
            }
            (want, got) => panic!("{}: expected error {want:?}, got {got:?}", case.label),
        }
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} execute_kw requests checked");
    println!("{checked} recorded execute_kw requests reissued through the client: all match");
}
