//! The recorded Odoo 18 session in `../shared/reference/odoo18-jsonrpc-transcript.md`, read at test
//! time and never copied into the repository. One reader of its format for the integration tests
//! (`support::transcript`) and the crate's unit tests (included by `#[path]` in `src/envelope.rs`).

use serde_json::Value;

const TRANSCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/odoo18-jsonrpc-transcript.md"
);

/// One recorded call: its step label (e.g. "B28"), request and response JSON, and the response as
/// written.
pub struct Case {
    pub label: String,
    pub request: Value,
    pub response: Value,
    pub raw_response: String,
}

/// Every recorded call in order, or `None` (saying so) when `../shared` is not there.
pub fn load() -> Option<Vec<Case>> {
    let Ok(text) = std::fs::read_to_string(TRANSCRIPT) else {
        println!("skipping: ../shared not present (CI always has it)");
        return None;
    };
    let mut cases = Vec::new();
    for section in text.split("\n### ").skip(1) {
        let label = section
            .split('.')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let blocks: Vec<&str> = section
            .split("```json\n")
            .skip(1)
            .filter_map(|b| b.split("\n```").next())
            .collect();
        assert_eq!(
            blocks.len(),
            2,
            "{label}: expected a request and a response"
        );
        cases.push(Case {
            label,
            request: serde_json::from_str(blocks[0]).expect("request JSON"),
            response: serde_json::from_str(blocks[1]).expect("response JSON"),
            raw_response: blocks[1].to_owned(),
        });
    }
    Some(cases)
}
