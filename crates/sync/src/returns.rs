//! Return shipments → return pickings. A `shipment.*` event whose shipment is of type `return`
//! and whose status is `delivered` (the parcel came back to the store) makes a return of the
//! order's done delivery for the shipment's items (`packages`: SKU and quantity; none listed: all
//! of it), through Odoo's return wizard (`stock.return.picking`, transcript Part S), and validates
//! it: the goods are back in the stock location the delivery left from, the store's warehouse.
//! A return shipment never touches the outgoing delivery's tracking.
//!
//! # Never twice
//! The return picking is recorded in the id map (`return_shipment`, by Salla shipment id) and its
//! `origin` becomes "Return of <delivery> (salla:<merchant>:shipment:<id>)". A crash between the
//! wizard and those two writes leaves a return whose origin is Odoo's own "Return of <delivery>":
//! the retry adopts one with exactly the shipment's quantities instead of making another.
//! Creating a return posts a chatter note as the calling user, so a connector user without an
//! email address fails here permanently (see [`crate::classify_odoo`]).

use std::collections::BTreeMap;

use odoo::{Domain, Id, Record, SearchOptions, Step, many2one_id, x2many_ids};
use salla_odoo_salla::payload::Shipment;
use serde_json::{Map, Value, json};

use crate::Applied;
use crate::engine::Engine;
use crate::error::{Res, permanent};
use crate::idmap::{self, IdMap, entity};

/// The marker of a return shipment, in its return picking's `origin`.
pub fn return_marker(merchant: salla_odoo_core::MerchantId, shipment_id: u64) -> String {
    format!("salla:{merchant}:shipment:{shipment_id}")
}

/// Whether a shipment is a return (Salla's `type` `return`).
pub fn is_return(s: &Shipment) -> bool {
    s.shipment_type
        .as_deref()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("return"))
}

fn text<'a>(rec: &'a Record, field: &str) -> &'a str {
    rec.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn id_of(rec: &Record) -> Option<Id> {
    rec.get("id").and_then(Value::as_i64)
}

impl<M: IdMap> Engine<'_, M> {
    /// A return shipment (see the module docs).
    pub async fn return_shipment(&self, s: &Shipment) -> Res<Applied> {
        let status = s
            .status
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !self.opts.return_pickings {
            return Ok(Applied::Skipped {
                reason: format!(
                    "return shipment {} ({status}): return pickings are off for this store \
                     (salla-odoo store update --return-pickings on)",
                    s.id
                ),
            });
        }
        if status != "delivered" {
            return Ok(Applied::Skipped {
                reason: format!(
                    "return shipment {} is {}: its return picking is made when it is delivered \
                     back to the store",
                    s.id,
                    if status.is_empty() {
                        "without status"
                    } else {
                        &status
                    }
                ),
            });
        }
        let order_id = s
            .order_id
            .ok_or_else(|| permanent(format!("return shipment {} names no order", s.id)))?;
        let merchant = self.merchant();
        // Made before: validate it if a crash came between creating and validating.
        if let Some(m) = idmap::get(self.ids, merchant, entity::RETURN_SHIPMENT, s.id).await?
            && let Some(p) = self
                .read("stock.picking", m.odoo_id, &["state", "name"])
                .await?
        {
            self.touch("stock.picking", m.odoo_id);
            let step = self.odoo.validate_delivery(m.odoo_id).await?;
            return Ok(Applied::Applied {
                odoo_ids: self.touched(),
                note: Some(match step {
                    Step::Done => format!(
                        "return shipment {}: return picking {} validated",
                        s.id,
                        text(&p, "name")
                    ),
                    Step::AlreadyDone => format!(
                        "return shipment {}: return picking {} already done",
                        s.id,
                        text(&p, "name")
                    ),
                }),
            });
        }
        let Some(so) = self.find_order(order_id).await? else {
            return Ok(Applied::Skipped {
                reason: format!(
                    "return shipment {}: order {order_id} is not in Odoo, so nothing was delivered \
                     from Odoo to return",
                    s.id
                ),
            });
        };
        let order = self
            .read("sale.order", so, &["picking_ids"])
            .await?
            .unwrap_or_default();
        let pickings: Vec<Record> = self
            .odoo
            .read(
                "stock.picking",
                &x2many_ids(order.get("picking_ids").unwrap_or(&Value::Null)),
                &["name", "state", "picking_type_code", "move_ids"],
            )
            .await?;
        let deliveries: Vec<&Record> = pickings
            .iter()
            .filter(|p| text(p, "picking_type_code") == "outgoing" && text(p, "state") == "done")
            .collect();
        if deliveries.is_empty() {
            return Ok(Applied::Skipped {
                reason: format!(
                    "return shipment {}: order {order_id} has no done delivery in Odoo; nothing \
                     to return",
                    s.id
                ),
            });
        }
        // The shipment's items by product.
        let mut wanted: BTreeMap<Id, f64> = BTreeMap::new();
        let mut unknown = Vec::new();
        for p in &s.packages {
            let qty = p
                .quantity
                .and_then(|q| rust_decimal::prelude::ToPrimitive::to_f64(&q))
                .unwrap_or(1.0);
            let sku = p.sku.as_deref().map(str::trim).filter(|k| !k.is_empty());
            let product = match sku {
                Some(sku) => self.product_by_code(sku).await?,
                None => None,
            };
            match product {
                Some(id) => *wanted.entry(id).or_default() += qty,
                None => unknown.push(
                    sku.map(str::to_owned)
                        .or_else(|| p.item_id.map(|i| format!("item {i}")))
                        .unwrap_or_else(|| "an item without SKU".into()),
                ),
            }
        }
        if !s.packages.is_empty() && wanted.is_empty() {
            return Err(permanent(format!(
                "return shipment {}: none of its items ({}) is an Odoo product",
                s.id,
                unknown.join(", ")
            )));
        }
        // The delivery that carried them: the first with all the products, else the first.
        let mut delivery = deliveries[0];
        if !wanted.is_empty() {
            for d in &deliveries {
                let moves: Vec<Record> = self
                    .odoo
                    .read(
                        "stock.move",
                        &x2many_ids(d.get("move_ids").unwrap_or(&Value::Null)),
                        &["product_id"],
                    )
                    .await?;
                let products: Vec<Id> = moves
                    .iter()
                    .filter_map(|m| m.get("product_id").and_then(many2one_id))
                    .collect();
                if wanted.keys().all(|p| products.contains(p)) {
                    delivery = d;
                    break;
                }
            }
        }
        let delivery_id = id_of(delivery).unwrap_or_default();
        let delivery_name = text(delivery, "name").to_owned();
        let mark = return_marker(merchant, s.id);
        let origin = format!("Return of {delivery_name} ({mark})");
        let ret = match self.find_return(&mark, &delivery_name, &wanted).await? {
            Some(r) => r,
            None => {
                let quantities: Vec<(Id, f64)> = wanted.iter().map(|(p, q)| (*p, *q)).collect();
                self.odoo.create_return(delivery_id, &quantities).await?
            }
        };
        let mut vals = Map::new();
        vals.insert("origin".into(), json!(origin));
        self.odoo.write("stock.picking", &[ret], vals).await?;
        idmap::put(
            self.ids,
            merchant,
            entity::RETURN_SHIPMENT,
            s.id,
            "stock.picking",
            ret,
            0,
        )
        .await?;
        self.touch("stock.picking", delivery_id);
        self.touch("stock.picking", ret);
        self.touch("sale.order", so);
        self.odoo.validate_delivery(ret).await?;
        let what = if wanted.is_empty() {
            "everything it delivered".to_owned()
        } else {
            format!(
                "{} unit(s) of {} product(s)",
                wanted.values().sum::<f64>(),
                wanted.len()
            )
        };
        let mut note = format!(
            "return shipment {} delivered: return picking {ret} of delivery {delivery_name} \
             validated ({what})",
            s.id
        );
        if !unknown.is_empty() {
            note.push_str(&format!(
                "; not returned (no Odoo product): {}",
                unknown.join(", ")
            ));
        }
        Ok(Applied::Applied {
            odoo_ids: self.touched(),
            note: Some(note),
        })
    }

    /// A return made for this shipment before: marked with `mark`, or (a crash before the mark)
    /// an unmarked return of the delivery with exactly the wanted quantities.
    async fn find_return(
        &self,
        mark: &str,
        delivery_name: &str,
        wanted: &BTreeMap<Id, f64>,
    ) -> Res<Option<Id>> {
        let marked = self
            .odoo
            .search(
                "stock.picking",
                &Domain::new()
                    .ilike("origin", format!("({mark})"))
                    .ne("state", "cancel"),
                &SearchOptions::limit(1),
            )
            .await?;
        if let Some(r) = marked.first() {
            return Ok(Some(*r));
        }
        let unmarked: Vec<Record> = self
            .odoo
            .search_read(
                "stock.picking",
                &Domain::new()
                    .eq("origin", format!("Return of {delivery_name}"))
                    .ne("state", "cancel"),
                &["move_ids"],
                &SearchOptions::default(),
            )
            .await?;
        for r in &unmarked {
            let moves: Vec<Record> = self
                .odoo
                .read(
                    "stock.move",
                    &x2many_ids(r.get("move_ids").unwrap_or(&Value::Null)),
                    &["product_id", "product_uom_qty"],
                )
                .await?;
            let mut got: BTreeMap<Id, f64> = BTreeMap::new();
            for m in &moves {
                if let Some(p) = m.get("product_id").and_then(many2one_id) {
                    *got.entry(p).or_default() += m
                        .get("product_uom_qty")
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0);
                }
            }
            let same = !wanted.is_empty()
                && got.len() == wanted.len()
                && wanted
                    .iter()
                    .all(|(p, q)| got.get(p).is_some_and(|g| (g - q).abs() < 1e-6));
            if same {
                return Ok(id_of(r));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_are_shipments_of_type_return() {
        let s = |t: Value| -> Shipment {
            serde_json::from_value(json!({"id": 1, "type": t, "packages": [
                {"item_id": 5, "sku": "W-1", "quantity": "2"}]}))
            .unwrap()
        };
        assert!(is_return(&s(json!("return"))));
        assert!(is_return(&s(json!(" Return "))));
        assert!(!is_return(&s(json!("shipment"))));
        assert!(!is_return(&s(Value::Null)));
        let r = s(json!("return"));
        assert_eq!(r.packages[0].sku.as_deref(), Some("W-1"));
        assert_eq!(r.packages[0].quantity, Some(rust_decimal::Decimal::from(2)));
        assert_eq!(
            return_marker(salla_odoo_core::MerchantId::new(9), 77),
            "salla:9:shipment:77"
        );
    }
}
