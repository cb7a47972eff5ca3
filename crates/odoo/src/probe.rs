//! The capability probe: the server version and the field names that changed between 16 and 19
//! (docs/odoo-api.md §11), resolved once per client with one `fields_get` per model the connector writes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::client::{Client, Session};
use crate::error::{Error, Result};
use crate::transport::Transport;

/// The version reported by `common.version` (or `/web/version`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVersion {
    /// Major version, e.g. 18 (also for Odoo Online `"saas~18"`).
    pub major: u32,
    /// Minor version, e.g. 0 (4 for saas-18.4).
    pub minor: u32,
    /// `server_serie` / `version`, e.g. `"18.0"`.
    pub serie: String,
    /// An Odoo Online (saas) build.
    pub saas: bool,
}

impl ServerVersion {
    /// From the `common.version` result:
    /// `{"server_version": "18.0", "server_version_info": [18, 0, 0, "final", 0, ""], "server_serie": "18.0", …}`.
    pub fn from_common_version(v: &Value) -> Result<Self> {
        let info = v
            .get("server_version_info")
            .ok_or_else(|| Error::config("common.version has no server_version_info"))?;
        let serie = v
            .get("server_serie")
            .or_else(|| v.get("server_version"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        Self::from_info(info, serie)
    }

    /// From `GET /web/version`: `{"version_info": [19, 0, 0, "final", 0, ""], "version": "19.0"}`.
    pub fn from_web_version(v: &Value) -> Result<Self> {
        let info = v
            .get("version_info")
            .ok_or_else(|| Error::config("/web/version has no version_info"))?;
        let serie = v.get("version").and_then(Value::as_str).unwrap_or_default();
        Self::from_info(info, serie)
    }

    fn from_info(info: &Value, serie: &str) -> Result<Self> {
        let arr = info
            .as_array()
            .ok_or_else(|| Error::config("version_info is not a list"))?;
        let (major, saas) = match arr.first() {
            Some(Value::Number(n)) => (n.as_u64().unwrap_or_default() as u32, false),
            // Odoo Online: "saas~18"
            Some(Value::String(s)) => {
                let digits = s.rsplit('~').next().unwrap_or(s);
                let major = digits
                    .parse::<u32>()
                    .map_err(|_| Error::config(format!("unknown major version {s:?}")))?;
                (major, s.starts_with("saas"))
            }
            _ => return Err(Error::config("version_info has no major version")),
        };
        if major == 0 {
            return Err(Error::config("version_info has no major version"));
        }
        let minor = arr.get(1).and_then(Value::as_u64).unwrap_or_default() as u32;
        let serie = if serie.is_empty() {
            format!("{major}.{minor}")
        } else {
            serie.to_owned()
        };
        Ok(ServerVersion {
            major,
            minor,
            serie,
            saas,
        })
    }
}

/// How a storable (stock-tracked) product is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorableProduct {
    /// 16, 17: `detailed_type: "product"` (`type` is computed from it).
    DetailedType,
    /// Before `detailed_type` existed: `type: "product"`.
    TypeProduct,
    /// 18+: `type: "consu"` + `is_storable: true` (`"product"` is rejected).
    IsStorable,
}

/// How a delivered quantity is written on `stock.move`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MoveQuantity {
    /// 16: `quantity_done`.
    QuantityDone,
    /// 17+: `quantity` + `picked: true`.
    QuantityPicked,
}

/// What one server supports, probed once per client (or seeded from an earlier probe of the same
/// server version with [`Client::seed_capabilities`]). Serialisable, so that a caller can keep it
/// between processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The server version.
    pub version: ServerVersion,
    /// The transport in use.
    pub transport: Transport,
    /// `sale.order.line` taxes: `tax_id` (16–18) or `tax_ids` (19).
    pub sale_line_tax_field: String,
    /// `sale.order.line` unit of measure: `product_uom` (16–18) or `product_uom_id` (19).
    pub sale_line_uom_field: String,
    /// Product taxes: `taxes_id` (or `tax_ids` where renamed).
    pub product_taxes_field: String,
    /// How storable products are declared.
    pub storable: StorableProduct,
    /// `res.partner.mobile` exists (removed in 19).
    pub partner_mobile: bool,
    /// `sale.order.locked` exists (17+; 16 uses the `done` state).
    pub sale_order_locked: bool,
    /// How delivered quantities are set on moves.
    pub move_quantity: MoveQuantity,
    /// `button_validate` may return the immediate-transfer wizard (16): send `skip_immediate`.
    pub immediate_transfer: bool,
    /// `sale.order.line.is_delivery` exists (the delivery module is installed).
    pub delivery_lines: bool,
    /// The API user's uid on the session the probe ran on (JSON-RPC; `None` on JSON-2, which has
    /// none, and in capabilities kept before it was). With it, a client seeded with these
    /// capabilities opens its session without asking Odoo anything ([`Client::seed_capabilities`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<crate::Id>,
}

impl Capabilities {
    /// The values that make a product storable on this server, to merge into a product's create values.
    pub fn storable_product_values(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match self.storable {
            StorableProduct::IsStorable => {
                m.insert("type".into(), json!("consu"));
                m.insert("is_storable".into(), json!(true));
            }
            StorableProduct::DetailedType => {
                m.insert("detailed_type".into(), json!("product"));
            }
            StorableProduct::TypeProduct => {
                m.insert("type".into(), json!("product"));
            }
        }
        m
    }

    /// The `account.payment` field holding the payment's memo (the register wizard's
    /// `communication`): `memo` from 18 (a domain on `ref` is a `ValueError` there), `ref` on 16
    /// and 17.
    pub fn payment_memo_field(&self) -> &'static str {
        if self.version.major >= 18 {
            "memo"
        } else {
            "ref"
        }
    }

    /// The reversal wizard (`account.move.reversal`) of 16 needs `refund_method` ("refund": a
    /// draft credit note) and its button is `reverse_moves`; from 17 the button that leaves a draft
    /// credit note is `refund_moves`.
    pub fn reversal_button(&self) -> &'static str {
        if self.version.major <= 16 {
            "reverse_moves"
        } else {
            "refund_moves"
        }
    }

    /// Whether the reversal wizard takes `refund_method` (16).
    pub fn reversal_refund_method(&self) -> bool {
        self.version.major <= 16
    }

    /// The return wizard's (`stock.return.picking`) button: `action_create_returns` from 18,
    /// `create_returns` on 16 and 17.
    pub fn return_button(&self) -> &'static str {
        if self.version.major >= 18 {
            "action_create_returns"
        } else {
            "create_returns"
        }
    }

    /// `res.users.has_group` is a model method checking the calling user on 16 and a record method
    /// (`ensure_one`) from 17.
    pub fn has_group_on_record(&self) -> bool {
        self.version.major >= 17
    }

    /// Decides the capabilities from `fields_get` answers (each limited to the candidate names).
    pub fn from_fields(
        version: ServerVersion,
        transport: Transport,
        sale_line: &Map<String, Value>,
        product: &Map<String, Value>,
        partner: &Map<String, Value>,
        sale_order: &Map<String, Value>,
        stock_move: &Map<String, Value>,
    ) -> Self {
        let v19 = version.major >= 19;
        let pick = |fields: &Map<String, Value>, old: &str, new: &str, new_by_version: bool| {
            if fields.contains_key(old) {
                old.to_owned()
            } else if fields.contains_key(new) || new_by_version {
                new.to_owned()
            } else {
                old.to_owned()
            }
        };
        let storable = if product.contains_key("is_storable") {
            StorableProduct::IsStorable
        } else if product.contains_key("detailed_type") {
            StorableProduct::DetailedType
        } else if selection_has(product.get("type"), "product") {
            StorableProduct::TypeProduct
        } else if version.major >= 18 {
            StorableProduct::IsStorable
        } else {
            StorableProduct::DetailedType
        };
        let move_quantity = if stock_move.contains_key("picked") {
            MoveQuantity::QuantityPicked
        } else if stock_move.contains_key("quantity_done") || version.major <= 16 {
            MoveQuantity::QuantityDone
        } else {
            MoveQuantity::QuantityPicked
        };
        Capabilities {
            sale_line_tax_field: pick(sale_line, "tax_id", "tax_ids", v19),
            sale_line_uom_field: pick(sale_line, "product_uom", "product_uom_id", v19),
            product_taxes_field: pick(product, "taxes_id", "tax_ids", false),
            storable,
            partner_mobile: partner.contains_key("mobile"),
            sale_order_locked: sale_order.contains_key("locked"),
            move_quantity,
            immediate_transfer: version.major <= 16,
            delivery_lines: sale_line.contains_key("is_delivery"),
            version,
            transport,
            uid: None,
        }
    }
}

fn selection_has(field: Option<&Value>, key: &str) -> bool {
    field
        .and_then(|f| f.get("selection"))
        .and_then(Value::as_array)
        .is_some_and(|opts| {
            opts.iter()
                .any(|o| o.get(0).and_then(Value::as_str) == Some(key))
        })
}

pub(crate) async fn probe(client: &Client, session: &Session) -> Result<Capabilities> {
    const ATTRS: &[&str] = &["type", "selection"];
    let (sale_line, product, partner, sale_order, stock_move) = tokio::try_join!(
        client.fields_get(
            "sale.order.line",
            Some(&[
                "tax_id",
                "tax_ids",
                "product_uom",
                "product_uom_id",
                "is_delivery"
            ]),
            ATTRS,
        ),
        client.fields_get(
            "product.template",
            Some(&[
                "type",
                "detailed_type",
                "is_storable",
                "taxes_id",
                "tax_ids"
            ]),
            ATTRS,
        ),
        client.fields_get("res.partner", Some(&["mobile"]), ATTRS),
        client.fields_get("sale.order", Some(&["locked", "state"]), ATTRS),
        client.fields_get(
            "stock.move",
            Some(&["quantity_done", "quantity", "picked"]),
            ATTRS,
        ),
    )?;
    let mut caps = Capabilities::from_fields(
        session.version.clone(),
        session.transport,
        &sale_line,
        &product,
        &partner,
        &sale_order,
        &stock_move,
    );
    tracing::debug!(?caps, "odoo capabilities probed");
    // Set after the log line: the uid is no secret, but logs carry nothing they did not before.
    caps.uid = session.uid;
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(names: &[&str]) -> Map<String, Value> {
        names
            .iter()
            .map(|n| (n.to_string(), json!({"type": "char"})))
            .collect()
    }

    #[test]
    fn version_parsing() {
        let v = ServerVersion::from_common_version(&json!({
            "server_version": "17.0", "server_version_info": [17, 0, 0, "final", 0, ""],
            "server_serie": "17.0", "protocol_version": 1
        }))
        .unwrap();
        assert_eq!(
            (v.major, v.minor, v.saas, v.serie.as_str()),
            (17, 0, false, "17.0")
        );
        let v = ServerVersion::from_common_version(&json!({
            "server_version": "saas~18.4", "server_version_info": ["saas~18", 4, 0, "final", 0, ""],
            "server_serie": "saas~18.4", "protocol_version": 1
        }))
        .unwrap();
        assert_eq!((v.major, v.minor, v.saas), (18, 4, true));
        let v = ServerVersion::from_web_version(
            &json!({"version_info": [19, 0, 0, "final", 0, ""], "version": "19.0"}),
        )
        .unwrap();
        assert_eq!(v.major, 19);
        assert!(ServerVersion::from_common_version(&json!({"x": 1})).is_err());
    }

    fn version(major: u32) -> ServerVersion {
        ServerVersion {
            major,
            minor: 0,
            serie: format!("{major}.0"),
            saas: false,
        }
    }

    #[test]
    fn v16_fields() {
        let c = Capabilities::from_fields(
            version(16),
            Transport::JsonRpc,
            &fields(&["tax_id", "product_uom"]),
            &fields(&["type", "detailed_type", "taxes_id"]),
            &fields(&["mobile"]),
            &fields(&["state"]),
            &fields(&["quantity_done"]),
        );
        assert_eq!(c.sale_line_tax_field, "tax_id");
        assert_eq!(c.sale_line_uom_field, "product_uom");
        assert_eq!(c.storable, StorableProduct::DetailedType);
        assert_eq!(
            c.storable_product_values(),
            fields_json(json!({"detailed_type": "product"}))
        );
        assert!(c.partner_mobile);
        assert!(!c.sale_order_locked);
        assert_eq!(c.move_quantity, MoveQuantity::QuantityDone);
        assert!(c.immediate_transfer);
    }

    #[test]
    fn v18_fields() {
        let c = Capabilities::from_fields(
            version(18),
            Transport::JsonRpc,
            &fields(&["tax_id", "product_uom"]),
            &fields(&["type", "is_storable", "taxes_id"]),
            &fields(&["mobile"]),
            &fields(&["state", "locked"]),
            &fields(&["quantity", "picked"]),
        );
        assert_eq!(c.storable, StorableProduct::IsStorable);
        assert_eq!(
            c.storable_product_values(),
            fields_json(json!({"type": "consu", "is_storable": true}))
        );
        assert!(c.sale_order_locked);
        assert_eq!(c.move_quantity, MoveQuantity::QuantityPicked);
        assert!(!c.immediate_transfer);
    }

    #[test]
    fn v19_fields() {
        let c = Capabilities::from_fields(
            version(19),
            Transport::Json2,
            &fields(&["tax_ids", "product_uom_id"]),
            &fields(&["type", "is_storable", "taxes_id"]),
            &fields(&[]),
            &fields(&["state", "locked"]),
            &fields(&["quantity", "picked"]),
        );
        assert_eq!(c.sale_line_tax_field, "tax_ids");
        assert_eq!(c.sale_line_uom_field, "product_uom_id");
        assert!(!c.partner_mobile);
    }

    #[test]
    fn type_product_selection() {
        let mut product = Map::new();
        product.insert(
            "type".into(),
            json!({"type": "selection", "selection": [["consu", "Consumable"], ["product", "Storable"]]}),
        );
        let c = Capabilities::from_fields(
            version(15),
            Transport::JsonRpc,
            &fields(&[]),
            &product,
            &fields(&[]),
            &fields(&[]),
            &fields(&[]),
        );
        assert_eq!(c.storable, StorableProduct::TypeProduct);
    }

    #[test]
    fn accounting_names_follow_the_version() {
        let caps = |major| {
            Capabilities::from_fields(
                version(major),
                Transport::JsonRpc,
                &fields(&[]),
                &fields(&[]),
                &fields(&[]),
                &fields(&[]),
                &fields(&[]),
            )
        };
        for (major, memo, reversal, ret, record) in [
            (16, "ref", "reverse_moves", "create_returns", false),
            (17, "ref", "refund_moves", "create_returns", true),
            (18, "memo", "refund_moves", "action_create_returns", true),
            (19, "memo", "refund_moves", "action_create_returns", true),
        ] {
            let c = caps(major);
            assert_eq!(c.payment_memo_field(), memo, "{major}");
            assert_eq!(c.reversal_button(), reversal, "{major}");
            assert_eq!(c.reversal_refund_method(), major == 16, "{major}");
            assert_eq!(c.return_button(), ret, "{major}");
            assert_eq!(c.has_group_on_record(), record, "{major}");
        }
    }

    fn fields_json(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }
}
