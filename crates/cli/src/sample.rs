//! `salla-odoo send-sample`: post a signed sample webhook, as Salla would, to try the connector.
//!
//! The samples in `crates/cli/samples/` were written for this project in the shape of Salla's real
//! payloads (one store, merchant [`SAMPLE_MERCHANT`]); they are compiled into the binary, so the
//! command works from any directory.

use std::time::Duration;

use salla_odoo_core::Settings;
use salla_odoo_core::settings::SecurityStrategy;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::CliError;

/// The merchant id of every sample (the quickstart registers this store).
pub const SAMPLE_MERCHANT: u64 = 1_000_001;

/// Event name → sample body.
pub const SAMPLES: &[(&str, &str)] = &[
    (
        "order.created",
        include_str!("../samples/order.created.json"),
    ),
    (
        "order.status.updated",
        include_str!("../samples/order.status.updated.json"),
    ),
    (
        "customer.created",
        include_str!("../samples/customer.created.json"),
    ),
    (
        "product.created",
        include_str!("../samples/product.created.json"),
    ),
];

pub fn events() -> Vec<&'static str> {
    SAMPLES.iter().map(|(e, _)| *e).collect()
}

/// The sample for `event`, with the merchant and the object's id replaced when given (a new id makes
/// a new delivery: the same body twice within the dedupe window is queued once).
pub fn body(event: &str, merchant: Option<u64>, id: Option<u64>) -> Result<Vec<u8>, CliError> {
    let text = SAMPLES
        .iter()
        .find(|(e, _)| *e == event)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "no sample for {event:?}; samples: {}",
                events().join(", ")
            ))
        })?;
    let mut doc: Value = serde_json::from_str(text).expect("samples are valid JSON");
    if let Some(m) = merchant {
        doc["merchant"] = m.into();
    }
    if let Some(id) = id {
        // A status update names its order inside `data.order`; everything else is `data.id`.
        match doc["data"].get_mut("order") {
            Some(order) if event.starts_with("order.status") => order["id"] = id.into(),
            _ => doc["data"]["id"] = id.into(),
        }
    }
    Ok(serde_json::to_vec(&doc).expect("a JSON value serialises"))
}

/// Sign `body` as Salla does for the configured strategy and post it to `url`. Returns the HTTP
/// status and the ingest's JSON answer.
pub async fn send(settings: &Settings, url: &str, body: Vec<u8>) -> Result<(u16, Value), CliError> {
    let secret = settings
        .require_webhook_secret()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| CliError::Failed(format!("http client: {e}")))?;
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "salla-odoo send-sample");
    request = match settings.salla.security_strategy {
        SecurityStrategy::Signature => request
            .header("x-salla-security-strategy", "Signature")
            .header(
                "x-salla-signature",
                salla_odoo_salla::verify::sign(secret.expose_secret(), &body),
            ),
        SecurityStrategy::Token => request
            .header("x-salla-security-strategy", "Token")
            .header("authorization", secret.expose_secret()),
    };
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| CliError::Unavailable(format!("posting to {url}: {}", without_url(&e))))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, answer))
}

/// reqwest's errors repeat the URL; the caller already names it.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_is_a_webhook_of_its_event_for_the_sample_store() {
        for (event, text) in SAMPLES {
            let doc: Value = serde_json::from_str(text).unwrap();
            assert_eq!(doc["event"], *event);
            assert_eq!(doc["merchant"], SAMPLE_MERCHANT);
            assert!(doc["data"].is_object(), "{event}");
        }
    }

    #[test]
    fn ids_and_merchant_can_be_replaced() {
        let doc: Value =
            serde_json::from_slice(&body("order.created", Some(7), Some(42)).unwrap()).unwrap();
        assert_eq!(
            (doc["merchant"].as_u64(), doc["data"]["id"].as_u64()),
            (Some(7), Some(42))
        );
        let doc: Value =
            serde_json::from_slice(&body("order.status.updated", None, Some(42)).unwrap()).unwrap();
        assert_eq!(doc["data"]["order"]["id"], 42);
        assert!(matches!(
            body("order.nope", None, None),
            Err(CliError::Usage(_))
        ));
    }
}
