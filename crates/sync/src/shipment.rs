//! Shipments → tracking data on the order's outgoing delivery (`stock.picking`): `carrier_tracking_ref`,
//! and the tracking link and label URL in the picking's note (a paragraph marked `[salla-shipment]`, replaced
//! on each update, so the rest of the note is kept). A cancelled shipment clears them.

use odoo::{Id, Record, x2many_ids};
use salla_odoo_salla::payload::{OrderShipmentRef, Shipment};
use serde_json::{Map, Value, json};

use crate::Applied;
use crate::engine::Engine;
use crate::error::{Res, transient};
use crate::fetch::OrderFromSalla;
use crate::idmap::{self, IdMap};
use crate::version::stale_reason;

/// The tracking data a shipment event sets (or clears).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tracking {
    pub reference: Option<String>,
    pub link: Option<String>,
    pub label_url: Option<String>,
    pub cancelled: bool,
}

/// Salla writes `"0"` where there is nothing yet.
fn meaningful(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty() && *s != "0")
        .map(str::to_owned)
}

/// `shipment.*`: tracking number (else shipping number), link and label; `shipment.cancelled` or a
/// cancelled status clears.
pub fn shipment_tracking(event: &str, s: &Shipment) -> Tracking {
    let cancelled = event.ends_with(".cancelled")
        || matches!(s.status.as_deref(), Some("cancelled" | "canceled"));
    if cancelled {
        return Tracking {
            cancelled: true,
            ..Tracking::default()
        };
    }
    Tracking {
        reference: meaningful(s.tracking_number.as_deref())
            .or_else(|| meaningful(s.shipping_number.as_deref())),
        link: meaningful(s.tracking_link.as_deref()),
        label_url: meaningful(s.label_url()),
        cancelled: false,
    }
}

/// `order.shipment.*`: the shipping number; `order.shipment.cancelled` clears.
pub fn order_shipment_tracking(event: &str, r: &OrderShipmentRef) -> Tracking {
    if event.ends_with(".cancelled") {
        return Tracking {
            cancelled: true,
            ..Tracking::default()
        };
    }
    Tracking {
        reference: meaningful(r.shipping_number.as_deref()),
        ..Tracking::default()
    }
}

/// The shipping number an order body carries: its first shipment's tracking or shipping number
/// (`shipments[]`), else `shipping.shipment`'s.
pub fn order_body_shipping_number(order: &Value) -> Option<String> {
    let of = |s: &Value| {
        ["tracking_number", "shipping_number"]
            .iter()
            .find_map(|k| match s.get(k) {
                Some(Value::String(v)) => meaningful(Some(v)),
                Some(Value::Number(n)) => meaningful(Some(&n.to_string())),
                _ => None,
            })
    };
    order
        .get("shipments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(of)
        .or_else(|| order.pointer("/shipping/shipment").and_then(of))
}

const NOTE_MARK: &str = "[salla-shipment]";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The picking note with the shipment paragraph replaced (or removed when there is nothing to say). The
/// reference is written in it only when set in `t` (callers clear it when the picking has a field for it).
pub fn note_with_tracking(current: &str, t: &Tracking) -> String {
    let mut rest = String::new();
    let mut s = current;
    while let Some(start) = s.find(&format!("<p>{NOTE_MARK}")) {
        rest.push_str(&s[..start]);
        s = &s[start..];
        match s.find("</p>") {
            Some(end) => s = &s[end + 4..],
            None => s = "",
        }
    }
    rest.push_str(s);
    let mut parts = Vec::new();
    if let Some(r) = &t.reference {
        parts.push(format!("reference: {}", escape(r)));
    }
    if let Some(l) = &t.link {
        parts.push(format!("tracking: {}", escape(l)));
    }
    if let Some(l) = &t.label_url {
        parts.push(format!("label: {}", escape(l)));
    }
    if !parts.is_empty() && !t.cancelled {
        rest.push_str(&format!("<p>{NOTE_MARK} {}</p>", parts.join(" | ")));
    }
    rest
}

fn text(rec: &Record, f: &str) -> String {
    rec.get(f)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl<M: IdMap> Engine<'_, M> {
    /// Sets (or clears) tracking data on the order's outgoing deliveries. `entity`/`salla_id` key the
    /// watermark of this shipment in the id map.
    pub async fn apply_tracking(
        &self,
        order_id: u64,
        entity: &str,
        salla_id: u64,
        t: &Tracking,
        version: i64,
    ) -> Res<Applied> {
        let merchant = self.merchant();
        if let Some(m) = idmap::get(self.ids, merchant, entity, salla_id).await?
            && let Some(reason) = stale_reason(entity, salla_id, m.source_version, version)
        {
            return Ok(Applied::Skipped { reason });
        }
        // An order Odoo does not have is fetched from Salla and synced first, in this job.
        let mut fetched_note = None;
        let so = match self.find_order(order_id).await? {
            Some(so) => so,
            None => {
                let missing = |why: Option<String>| {
                    let why = why.map(|w| format!("; {w}")).unwrap_or_default();
                    transient(format!(
                        "order {order_id} is not in Odoo yet{why}; the shipment is applied once the order is \
                         synced"
                    ))
                };
                match self.order_from_salla(order_id).await? {
                    OrderFromSalla::NoFetcher => return Err(missing(None)),
                    OrderFromSalla::Unavailable(reason) => {
                        return Err(missing(Some(format!(
                            "fetching it from Salla is not possible: {reason}"
                        ))));
                    }
                    OrderFromSalla::Synced { outcome, note } => {
                        let found = self.find_order(order_id).await?;
                        match (outcome, found) {
                            (Applied::Skipped { reason }, None) => {
                                return Err(missing(Some(format!(
                                    "the order fetched from Salla was not synced: {reason}"
                                ))));
                            }
                            (_, None) => {
                                return Err(transient(format!(
                                    "order {order_id} was just synced from Salla but is not found in Odoo"
                                )));
                            }
                            (Applied::Applied { note: Some(n), .. }, Some(so)) => {
                                fetched_note = Some(format!("{note} ({n})"));
                                so
                            }
                            (Applied::Skipped { reason: n }, Some(so)) => {
                                fetched_note = Some(format!("{note} ({n})"));
                                so
                            }
                            (Applied::Applied { note: None, .. }, Some(so)) => {
                                fetched_note = Some(note);
                                so
                            }
                        }
                    }
                }
            }
        };
        let order = self
            .read("sale.order", so, &["state", "picking_ids"])
            .await?
            .unwrap_or_default();
        let picking_ids = x2many_ids(order.get("picking_ids").unwrap_or(&Value::Null));
        // `carrier_tracking_ref` comes with the delivery module (`stock_delivery` on 17+); without it the
        // reference goes into the note paragraph too.
        let has_ref_field = self
            .odoo
            .fields_get("stock.picking", Some(&["carrier_tracking_ref"]), &["type"])
            .await?
            .contains_key("carrier_tracking_ref");
        let mut fields = vec!["picking_type_code", "state", "note"];
        if has_ref_field {
            fields.push("carrier_tracking_ref");
        }
        let pickings: Vec<Record> = self
            .odoo
            .read("stock.picking", &picking_ids, &fields)
            .await?;
        let mut note_tracking = t.clone();
        if has_ref_field {
            note_tracking.reference = None;
        }
        let outgoing: Vec<(Id, &Record)> = pickings
            .iter()
            .filter(|p| text(p, "picking_type_code") == "outgoing" && text(p, "state") != "cancel")
            .filter_map(|p| p.get("id").and_then(Value::as_i64).map(|id| (id, p)))
            .collect();
        if outgoing.is_empty() {
            let state = text(&order, "state");
            if t.cancelled || state == "cancel" {
                let skipped = Applied::Skipped {
                    reason: format!(
                        "order {order_id} has no open delivery in Odoo (state {state}); nothing to track"
                    ),
                };
                return Ok(match &fetched_note {
                    Some(n) => crate::fetch::with_note(skipped, n),
                    None => skipped,
                });
            }
            return Err(transient(format!(
                "order {order_id} has no delivery in Odoo yet (state {state}); the tracking waits for the order's confirmation"
            )));
        }
        for (id, p) in &outgoing {
            let mut vals = Map::new();
            if has_ref_field {
                vals.insert(
                    "carrier_tracking_ref".into(),
                    t.reference.as_ref().map_or(json!(false), |r| json!(r)),
                );
            }
            vals.insert(
                "note".into(),
                json!(note_with_tracking(&text(p, "note"), &note_tracking)),
            );
            self.write_diff("stock.picking", *id, p, &vals).await?;
            self.touch("stock.picking", *id);
        }
        idmap::put(
            self.ids,
            merchant,
            entity,
            salla_id,
            "stock.picking",
            outgoing[0].0,
            version,
        )
        .await?;
        self.touch("sale.order", so);
        Ok(Applied::Applied {
            odoo_ids: self.touched(),
            note: fetched_note,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_shipments_carry_number_link_and_label() {
        let s: Shipment = serde_json::from_value(
            json!({"id": 1, "order_id": 2, "shipping_number": "846984645",
            "tracking_number": "4324233", "tracking_link": "https://t/1", "status": "delivered",
            "label": {"format": "pdf", "url": "https://l/1.pdf"}}),
        )
        .unwrap();
        let t = shipment_tracking("shipment.creating", &s);
        assert_eq!(t.reference.as_deref(), Some("4324233"));
        assert_eq!(t.link.as_deref(), Some("https://t/1"));
        assert_eq!(t.label_url.as_deref(), Some("https://l/1.pdf"));
        assert!(shipment_tracking("shipment.cancelled", &s).cancelled);
        let bare: Shipment = serde_json::from_value(
            json!({"id": 1, "shipping_number": "9", "tracking_link": "0", "label": []}),
        )
        .unwrap();
        let t = shipment_tracking("shipment.updated", &bare);
        assert_eq!(
            (t.reference.as_deref(), t.link, t.label_url),
            (Some("9"), None, None)
        );
    }

    #[test]
    fn order_shipment_events_carry_the_shipping_number() {
        let r: OrderShipmentRef =
            serde_json::from_value(json!({"id": 1, "shipping_number": "846984645"})).unwrap();
        assert_eq!(
            order_shipment_tracking("order.shipment.created", &r)
                .reference
                .as_deref(),
            Some("846984645")
        );
        assert!(order_shipment_tracking("order.shipment.cancelled", &r).cancelled);
    }

    #[test]
    fn the_note_paragraph_is_replaced_and_cleared() {
        let t = Tracking {
            reference: None,
            link: Some("https://t/?a=1&b=2".into()),
            label_url: Some("u".into()),
            cancelled: false,
        };
        let n1 = note_with_tracking("<p>keep me</p>", &t);
        assert_eq!(
            n1,
            "<p>keep me</p><p>[salla-shipment] tracking: https://t/?a=1&amp;b=2 | label: u</p>"
        );
        assert_eq!(note_with_tracking(&n1, &t), n1);
        let cleared = note_with_tracking(
            &n1,
            &Tracking {
                cancelled: true,
                ..Tracking::default()
            },
        );
        assert_eq!(cleared, "<p>keep me</p>");
        assert_eq!(note_with_tracking("", &Tracking::default()), "");
        let with_ref = Tracking {
            reference: Some("R1".into()),
            ..Tracking::default()
        };
        assert_eq!(
            note_with_tracking("", &with_ref),
            "<p>[salla-shipment] reference: R1</p>"
        );
    }
}
