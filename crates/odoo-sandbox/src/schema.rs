//! Model and field definitions, per version personality.
//!
//! Every model the sandbox knows is declared here once, with the fields a real Odoo of the
//! chosen version exposes (and only those: an unknown field is a `ValueError`, exactly like Odoo).
//! Fields are either *stored* (kept in the record map of [`crate::db::Db`]) or *computed* (derived
//! at read time by [`crate::business::compute`]). `One2many` fields are always computed from
//! their inverse many2one.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::Version;

#[path = "schema_models.rs"]
mod more;

/// The type of a field, as `fields_get` reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Char,
    Text,
    Html,
    Integer,
    Float,
    Monetary,
    Boolean,
    Date,
    Datetime,
    Binary,
    Json,
    Selection(Vec<(&'static str, &'static str)>),
    Many2one(&'static str),
    One2many(&'static str, &'static str),
    Many2many(&'static str),
}

impl Ty {
    pub fn name(&self) -> &'static str {
        match self {
            Ty::Char => "char",
            Ty::Text => "text",
            Ty::Html => "html",
            Ty::Integer => "integer",
            Ty::Float => "float",
            Ty::Monetary => "monetary",
            Ty::Boolean => "boolean",
            Ty::Date => "date",
            Ty::Datetime => "datetime",
            Ty::Binary => "binary",
            Ty::Json => "json",
            Ty::Selection(_) => "selection",
            Ty::Many2one(_) => "many2one",
            Ty::One2many(..) => "one2many",
            Ty::Many2many(_) => "many2many",
        }
    }

    pub fn relation(&self) -> Option<&'static str> {
        match self {
            Ty::Many2one(r) | Ty::One2many(r, _) | Ty::Many2many(r) => Some(r),
            _ => None,
        }
    }

    pub fn is_x2many(&self) -> bool {
        matches!(self, Ty::One2many(..) | Ty::Many2many(_))
    }
}

/// One field of a model.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub string: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub readonly: bool,
    /// Stored fields live in the record; others are computed at read time.
    pub store: bool,
    /// Default for create when the value is absent (stored fields only).
    pub default: Option<Value>,
}

fn f(name: &'static str, string: &'static str, ty: Ty) -> Field {
    Field {
        name,
        string,
        ty,
        required: false,
        readonly: false,
        store: true,
        default: None,
    }
}

impl Field {
    fn req(mut self) -> Self {
        self.required = true;
        self
    }
    fn comp(mut self) -> Self {
        self.store = false;
        self.readonly = true;
        self
    }
    /// Computed (not stored as such) but writable: the business layer handles the inverse.
    fn virt(mut self) -> Self {
        self.store = false;
        self
    }
    fn ro(mut self) -> Self {
        self.readonly = true;
        self
    }
    fn def(mut self, v: Value) -> Self {
        self.default = Some(v);
        self
    }
}

/// One model.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: &'static str,
    pub description: &'static str,
    /// Default `order`, as Odoo's `_order`.
    pub order: &'static str,
    pub fields: Vec<Field>,
    /// `_inherits`: (parent model, link field). product.product delegates to product.template.
    pub inherits: Option<(&'static str, &'static str)>,
    /// Only administrators may access it (ir.config_parameter).
    pub admin_only: Option<&'static str>,
    /// Only administrators may create, write or delete it; the groups the `AccessError` names
    /// (res.currency: Administration/Settings and Invoicing/Administrator).
    pub write_groups: Option<&'static [&'static str]>,
    /// The fields are declared in Odoo's own order (magic fields included), which `fields_get`
    /// keeps, instead of the alphabetical order used for the other models.
    pub ordered: bool,
    /// Position of each field in `fields`.
    index: HashMap<&'static str, usize>,
}

impl Model {
    pub fn own_field(&self, name: &str) -> Option<&Field> {
        self.index.get(name).map(|i| &self.fields[*i])
    }
}

/// All models of one version personality.
#[derive(Debug, Clone)]
pub struct Schema {
    pub version: Version,
    pub models: BTreeMap<&'static str, Model>,
}

impl Schema {
    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.get(name)
    }

    /// A field of `model`, looking through `_inherits` delegation.
    pub fn field(&self, model: &str, name: &str) -> Option<&Field> {
        let m = self.models.get(model)?;
        if let Some(fl) = m.own_field(name) {
            return Some(fl);
        }
        let (parent, _) = m.inherits?;
        self.models.get(parent)?.own_field(name)
    }

    /// Whether `name` on `model` is delegated to the `_inherits` parent.
    pub fn delegated(&self, model: &str, name: &str) -> Option<(&'static str, &'static str)> {
        let m = self.models.get(model)?;
        if m.own_field(name).is_some() {
            return None;
        }
        let (parent, link) = m.inherits?;
        self.models.get(parent)?.own_field(name)?;
        Some((parent, link))
    }

    /// All field names of a model (own first, then delegated), in declaration order.
    pub fn field_names(&self, model: &str) -> Vec<&'static str> {
        let Some(m) = self.models.get(model) else {
            return Vec::new();
        };
        let mut out: Vec<&'static str> = m.fields.iter().map(|f| f.name).collect();
        if let Some((parent, _)) = m.inherits
            && let Some(p) = self.models.get(parent)
        {
            for fl in &p.fields {
                if !out.contains(&fl.name) {
                    out.push(fl.name);
                }
            }
        }
        out
    }

    pub fn build(version: Version) -> Schema {
        let mut models = BTreeMap::new();
        for mut m in all_models(version) {
            if m.fields.iter().any(|f| f.name == "id") {
                m.ordered = true;
                m.index = m
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.name, i))
                    .collect();
                models.insert(m.name, m);
                continue;
            }
            let mut base = vec![
                f("id", "ID", Ty::Integer).ro(),
                f("display_name", "Display Name", Ty::Char).comp(),
                f("create_date", "Created on", Ty::Datetime).ro(),
                f("write_date", "Last Updated on", Ty::Datetime).ro(),
                f("create_uid", "Created by", Ty::Many2one("res.users")).ro(),
                f("write_uid", "Last Updated by", Ty::Many2one("res.users")).ro(),
            ];
            base.append(&mut m.fields);
            m.fields = base;
            m.index = m
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name, i))
                .collect();
            models.insert(m.name, m);
        }
        Schema { version, models }
    }
}

fn model(
    name: &'static str,
    description: &'static str,
    order: &'static str,
    fields: Vec<Field>,
) -> Model {
    Model {
        name,
        description,
        order,
        fields,
        inherits: None,
        admin_only: None,
        write_groups: None,
        ordered: false,
        index: HashMap::new(),
    }
}

fn sel(v: &[(&'static str, &'static str)]) -> Ty {
    Ty::Selection(v.to_vec())
}

fn advance_payment_fields(v: Version) -> Vec<Field> {
    let method = f(
        "advance_payment_method",
        "Create Invoice",
        sel(&[
            ("delivered", "Regular invoice"),
            ("percentage", "Down payment (percentage)"),
            ("fixed", "Down payment (fixed amount)"),
        ]),
    )
    .req()
    .def(json!("delivered"));
    if v < Version::V18 {
        return vec![
            method,
            f("sale_order_ids", "Sale Order", Ty::Many2many("sale.order")),
            f("amount", "Down Payment", Ty::Float).def(json!(0.0)),
            f("fixed_amount", "Down Payment Amount (Fixed)", Ty::Monetary).def(json!(0.0)),
            f("deduct_down_payments", "Deduct down payments", Ty::Boolean).def(json!(true)),
            f("count", "Order Count", Ty::Integer).comp(),
        ];
    }
    // Odoo 18's fields, in its order (recorded fields_get).
    let mut out = vec![
        method,
        f("count", "Order Count", Ty::Integer).comp(),
        f("sale_order_ids", "Sale Order", Ty::Many2many("sale.order")),
        f("has_down_payments", "Has down payments", Ty::Boolean).comp(),
        f("deduct_down_payments", "Deduct down payments", Ty::Boolean).def(json!(true)),
        f("amount", "Down Payment", Ty::Float).def(json!(0.0)),
        f("fixed_amount", "Down Payment Amount (Fixed)", Ty::Monetary).def(json!(0.0)),
        f("currency_id", "Currency", Ty::Many2one("res.currency")).comp(),
        f("company_id", "Company", Ty::Many2one("res.company")).comp(),
        f("amount_invoiced", "Already invoiced", Ty::Monetary).comp(),
        f("amount_to_invoice", "Amount to invoice", Ty::Monetary).comp(),
        f(
            "display_draft_invoice_warning",
            "Display Draft Invoice Warning",
            Ty::Boolean,
        )
        .comp(),
        f(
            "display_invoice_amount_warning",
            "Display Invoice Amount Warning",
            Ty::Boolean,
        )
        .comp(),
        f("consolidated_billing", "Consolidated Billing", Ty::Boolean).def(json!(true)),
    ];
    out.extend(magic());
    out
}

/// Odoo's magic fields, in the order its `fields_get` lists them (for `ordered` models).
fn magic() -> Vec<Field> {
    vec![
        f("id", "ID", Ty::Integer).ro(),
        f("display_name", "Display Name", Ty::Char).comp(),
        f("create_uid", "Created by", Ty::Many2one("res.users")).ro(),
        f("create_date", "Created on", Ty::Datetime).ro(),
        f("write_uid", "Last Updated by", Ty::Many2one("res.users")).ro(),
        f("write_date", "Last Updated on", Ty::Datetime).ro(),
    ]
}

#[allow(clippy::too_many_lines)]
fn all_models(v: Version) -> Vec<Model> {
    let v16 = v == Version::V16;
    let v19 = v == Version::V19;
    let storable_18 = v >= Version::V18;

    // res.partner
    let mut partner_types = vec![
        ("contact", "Contact"),
        ("invoice", "Invoice Address"),
        ("delivery", "Delivery Address"),
    ];
    if v16 {
        partner_types.push(("private", "Private Address"));
    }
    partner_types.push(("other", "Other Address"));
    let mut partner = vec![
        f("name", "Name", Ty::Char),
        f("complete_name", "Complete Name", Ty::Char).comp(),
        f("email", "Email", Ty::Char),
        f("phone", "Phone", Ty::Char),
    ];
    if !v19 {
        partner.push(f("mobile", "Mobile", Ty::Char));
    }
    partner.extend([
        f("street", "Street", Ty::Char),
        f("street2", "Street2", Ty::Char),
        f("city", "City", Ty::Char),
        f("zip", "Zip", Ty::Char),
        f("country_id", "Country", Ty::Many2one("res.country")),
        f("country_code", "Country Code", Ty::Char).comp(),
        f("vat", "Tax ID", Ty::Char),
        f("ref", "Reference", Ty::Char),
        f(
            "lang",
            "Language",
            Ty::Selection(vec![("en_US", "English (US)"), ("ar_001", "Arabic")]),
        )
        .def(json!("en_US")),
        f("comment", "Notes", Ty::Html),
        f("is_company", "Is a Company", Ty::Boolean).def(json!(false)),
        f(
            "company_type",
            "Company Type",
            sel(&[("person", "Individual"), ("company", "Company")]),
        )
        .comp(),
        f("parent_id", "Related Company", Ty::Many2one("res.partner")),
        f(
            "child_ids",
            "Contact",
            Ty::One2many("res.partner", "parent_id"),
        )
        .comp(),
        f(
            "commercial_partner_id",
            "Commercial Entity",
            Ty::Many2one("res.partner"),
        )
        .comp(),
        f("type", "Address Type", Ty::Selection(partner_types)).def(json!("contact")),
        f("active", "Active", Ty::Boolean).def(json!(true)),
        f("company_id", "Company", Ty::Many2one("res.company")),
        f("customer_rank", "Customer Rank", Ty::Integer).def(json!(0)),
        f("supplier_rank", "Supplier Rank", Ty::Integer).def(json!(0)),
        f(
            "sale_order_ids",
            "Sales Order",
            Ty::One2many("sale.order", "partner_id"),
        )
        .comp(),
    ]);

    // product.template
    // default_code and barcode live on the variants; the template's are its single variant's.
    let mut tmpl = vec![
        f("name", "Name", Ty::Char).req(),
        f("default_code", "Internal Reference", Ty::Char).virt(),
        f("barcode", "Barcode", Ty::Char).virt(),
    ];
    if storable_18 {
        tmpl.push(
            f(
                "type",
                "Product Type",
                sel(&[
                    ("consu", "Goods"),
                    ("service", "Service"),
                    ("combo", "Combo"),
                ]),
            )
            .req()
            .def(json!("consu")),
        );
        tmpl.push(f("is_storable", "Track Inventory", Ty::Boolean).def(json!(false)));
    } else {
        tmpl.push(
            f(
                "detailed_type",
                "Product Type",
                sel(&[
                    ("consu", "Consumable"),
                    ("service", "Service"),
                    ("product", "Storable Product"),
                ]),
            )
            .req()
            .def(json!("consu")),
        );
        tmpl.push(
            f(
                "type",
                "Type",
                sel(&[
                    ("consu", "Consumable"),
                    ("service", "Service"),
                    ("product", "Storable Product"),
                ]),
            )
            .req()
            .def(json!("consu")),
        );
    }
    tmpl.extend([
        f("list_price", "Sales Price", Ty::Float).def(json!(1.0)),
        f("standard_price", "Cost", Ty::Float).def(json!(0.0)),
        f(
            "categ_id",
            "Product Category",
            Ty::Many2one("product.category"),
        )
        .req()
        .def(json!(1)),
        f("uom_id", "Unit of Measure", Ty::Many2one("uom.uom"))
            .req()
            .def(json!(1)),
        f("uom_po_id", "Purchase Unit", Ty::Many2one("uom.uom")).def(json!(1)),
        f("taxes_id", "Sales Taxes", Ty::Many2many("account.tax")).def(json!([1])),
        f(
            "supplier_taxes_id",
            "Purchase Taxes",
            Ty::Many2many("account.tax"),
        )
        .def(json!([2])),
        f(
            "invoice_policy",
            "Invoicing Policy",
            sel(&[
                ("order", "Ordered quantities"),
                ("delivery", "Delivered quantities"),
            ]),
        )
        .def(json!("order")),
        f("sale_ok", "Can be Sold", Ty::Boolean).def(json!(true)),
        f("purchase_ok", "Can be Purchased", Ty::Boolean).def(json!(true)),
        f("active", "Active", Ty::Boolean).def(json!(true)),
        f("description_sale", "Sales Description", Ty::Text),
        f("weight", "Weight", Ty::Float).def(json!(0.0)),
        f("company_id", "Company", Ty::Many2one("res.company")),
        f("currency_id", "Currency", Ty::Many2one("res.currency")).comp(),
        f("qty_available", "Quantity On Hand", Ty::Float).comp(),
        f("virtual_available", "Forecasted Quantity", Ty::Float).comp(),
        f(
            "product_variant_ids",
            "Products",
            Ty::One2many("product.product", "product_tmpl_id"),
        )
        .comp(),
        f(
            "product_variant_id",
            "Product",
            Ty::Many2one("product.product"),
        )
        .comp(),
        f("product_variant_count", "# Product Variants", Ty::Integer).comp(),
        f(
            "attribute_line_ids",
            "Product Attributes",
            Ty::One2many("product.template.attribute.line", "product_tmpl_id"),
        )
        .virt(),
    ]);

    let mut product = model(
        "product.product",
        "Product Variant",
        "default_code, name, id",
        vec![
            f(
                "product_tmpl_id",
                "Product Template",
                Ty::Many2one("product.template"),
            )
            .req(),
            f("default_code", "Internal Reference", Ty::Char),
            f("barcode", "Barcode", Ty::Char),
            f("active", "Active", Ty::Boolean).def(json!(true)),
            f(
                "product_template_attribute_value_ids",
                "Attribute Values",
                Ty::Many2many("product.template.attribute.value"),
            ),
            f("combination_indices", "Combination Indices", Ty::Char).comp(),
            f("price_extra", "Variant Price Extra", Ty::Float).comp(),
            f("lst_price", "Sales Price", Ty::Float).virt(),
            f("qty_available", "Quantity On Hand", Ty::Float).comp(),
            f("virtual_available", "Forecasted Quantity", Ty::Float).comp(),
            f("free_qty", "Free To Use Quantity ", Ty::Float).comp(),
            f(
                "stock_quant_ids",
                "Stock Quant",
                Ty::One2many("stock.quant", "product_id"),
            )
            .comp(),
        ],
    );
    product.inherits = Some(("product.template", "product_tmpl_id"));

    let mut so_states = vec![
        ("draft", "Quotation"),
        ("sent", "Quotation Sent"),
        ("sale", "Sales Order"),
    ];
    if v16 {
        so_states.push(("done", "Locked"));
    }
    so_states.push(("cancel", "Cancelled"));

    let mut so = vec![
        f("name", "Order Reference", Ty::Char)
            .req()
            .def(json!("New")),
        f("partner_id", "Customer", Ty::Many2one("res.partner")).req(),
        f(
            "partner_invoice_id",
            "Invoice Address",
            Ty::Many2one("res.partner"),
        )
        .req(),
        f(
            "partner_shipping_id",
            "Delivery Address",
            Ty::Many2one("res.partner"),
        )
        .req(),
        f("client_order_ref", "Customer Reference", Ty::Char),
        f("origin", "Source Document", Ty::Char),
        f("date_order", "Order Date", Ty::Datetime).req(),
        f("validity_date", "Expiration", Ty::Date),
        f("commitment_date", "Delivery Date", Ty::Datetime),
        f("state", "Status", Ty::Selection(so_states.clone()))
            .ro()
            .def(json!("draft")),
    ];
    if !v16 {
        so.push(f("locked", "Locked", Ty::Boolean).def(json!(false)));
    }
    so.extend([
        f(
            "order_line",
            "Order Lines",
            Ty::One2many("sale.order.line", "order_id"),
        )
        .comp(),
        f("amount_untaxed", "Untaxed Amount", Ty::Monetary).comp(),
        f("amount_tax", "Taxes", Ty::Monetary).comp(),
        f("amount_total", "Total", Ty::Monetary).comp(),
        f(
            "pricelist_id",
            "Pricelist",
            Ty::Many2one("product.pricelist"),
        ),
        f("currency_id", "Currency", Ty::Many2one("res.currency")).comp(),
        f("currency_rate", "Currency Rate", Ty::Float).comp(),
        f("company_id", "Company", Ty::Many2one("res.company"))
            .req()
            .def(json!(1)),
        f("user_id", "Salesperson", Ty::Many2one("res.users")),
        f("warehouse_id", "Warehouse", Ty::Many2one("stock.warehouse"))
            .req()
            .def(json!(1)),
        f(
            "picking_policy",
            "Shipping Policy",
            sel(&[
                ("direct", "As soon as possible"),
                ("one", "When all products are ready"),
            ]),
        )
        .req()
        .def(json!("direct")),
        f(
            "picking_ids",
            "Transfers",
            Ty::One2many("stock.picking", "sale_id"),
        )
        .comp(),
        f("delivery_count", "Delivery Orders", Ty::Integer).comp(),
        f("invoice_ids", "Invoices", Ty::Many2many("account.move")).comp(),
        f("invoice_count", "Invoice Count", Ty::Integer).comp(),
        f(
            "invoice_status",
            "Invoice Status",
            sel(&[
                ("upselling", "Upselling Opportunity"),
                ("invoiced", "Fully Invoiced"),
                ("to invoice", "To Invoice"),
                ("no", "Nothing to Invoice"),
            ]),
        )
        .comp(),
        f("note", "Terms and conditions", Ty::Html),
        f(
            "carrier_id",
            "Delivery Method",
            Ty::Many2one("delivery.carrier"),
        ),
    ]);

    let (tax_field, uom_field) = if v19 {
        ("tax_ids", "product_uom_id")
    } else {
        ("tax_id", "product_uom")
    };
    let sol = vec![
        f("order_id", "Order Reference", Ty::Many2one("sale.order")).req(),
        f("sequence", "Sequence", Ty::Integer).def(json!(10)),
        f("product_id", "Product", Ty::Many2one("product.product")),
        f(
            "product_template_id",
            "Product Template",
            Ty::Many2one("product.template"),
        )
        .comp(),
        f("name", "Description", Ty::Text).req(),
        f(
            "display_type",
            "Display Type",
            sel(&[("line_section", "Section"), ("line_note", "Note")]),
        ),
        f("product_uom_qty", "Quantity", Ty::Float)
            .req()
            .def(json!(1.0)),
        f(uom_field, "Unit of Measure", Ty::Many2one("uom.uom")),
        f("price_unit", "Unit Price", Ty::Float).req(),
        f("discount", "Discount (%)", Ty::Float).def(json!(0.0)),
        f(tax_field, "Taxes", Ty::Many2many("account.tax")),
        f("price_subtotal", "Subtotal", Ty::Monetary).comp(),
        f("price_tax", "Total Tax", Ty::Float).comp(),
        f("price_total", "Total", Ty::Monetary).comp(),
        f("qty_delivered", "Delivery Quantity", Ty::Float).comp(),
        f("qty_invoiced", "Invoiced Quantity", Ty::Float).comp(),
        f("qty_to_invoice", "Quantity To Invoice", Ty::Float).comp(),
        f(
            "invoice_status",
            "Invoice Status",
            sel(&[
                ("upselling", "Upselling Opportunity"),
                ("invoiced", "Fully Invoiced"),
                ("to invoice", "To Invoice"),
                ("no", "Nothing to Invoice"),
            ]),
        )
        .comp(),
        f(
            "invoice_lines",
            "Invoice Lines",
            Ty::Many2many("account.move.line"),
        )
        .comp(),
        f(
            "move_ids",
            "Stock Moves",
            Ty::One2many("stock.move", "sale_line_id"),
        )
        .comp(),
        f("is_delivery", "Is a Delivery", Ty::Boolean).def(json!(false)),
        f("state", "Order Status", Ty::Selection(so_states)).comp(),
        f("currency_id", "Currency", Ty::Many2one("res.currency")).comp(),
        f("company_id", "Company", Ty::Many2one("res.company")).comp(),
        f("order_partner_id", "Customer", Ty::Many2one("res.partner")).comp(),
    ];

    let location_usage = sel(&[
        ("supplier", "Vendor Location"),
        ("view", "View"),
        ("internal", "Internal Location"),
        ("customer", "Customer Location"),
        ("inventory", "Inventory Loss"),
        ("production", "Production"),
        ("transit", "Transit Location"),
    ]);
    let picking_states = sel(&[
        ("draft", "Draft"),
        ("waiting", "Waiting Another Operation"),
        ("confirmed", "Waiting"),
        ("assigned", "Ready"),
        ("done", "Done"),
        ("cancel", "Cancelled"),
    ]);
    let picking_codes = sel(&[
        ("incoming", "Receipt"),
        ("outgoing", "Delivery"),
        ("internal", "Internal Transfer"),
    ]);

    let mut mv = vec![
        f("name", "Description", Ty::Char).req(),
        f("reference", "Reference", Ty::Char).comp(),
        f("product_id", "Product", Ty::Many2one("product.product")).req(),
        f("product_uom_qty", "Demand", Ty::Float)
            .req()
            .def(json!(0.0)),
        f("product_uom", "UoM", Ty::Many2one("uom.uom"))
            .req()
            .def(json!(1)),
    ];
    if v16 {
        mv.push(f("quantity_done", "Quantity Done", Ty::Float).def(json!(0.0)));
        mv.push(
            f("reserved_availability", "Quantity Reserved", Ty::Float)
                .ro()
                .def(json!(0.0)),
        );
    } else {
        mv.push(f("quantity", "Quantity", Ty::Float).def(json!(0.0)));
        mv.push(f("picked", "Picked", Ty::Boolean).def(json!(false)));
    }
    mv.extend([
        f(
            "state",
            "Status",
            sel(&[
                ("draft", "New"),
                ("waiting", "Waiting Another Move"),
                ("confirmed", "Waiting Availability"),
                ("partially_available", "Partially Available"),
                ("assigned", "Available"),
                ("done", "Done"),
                ("cancel", "Cancelled"),
            ]),
        )
        .ro()
        .def(json!("draft")),
        f(
            "location_id",
            "Source Location",
            Ty::Many2one("stock.location"),
        )
        .req(),
        f(
            "location_dest_id",
            "Destination Location",
            Ty::Many2one("stock.location"),
        )
        .req(),
        f("picking_id", "Transfer", Ty::Many2one("stock.picking")),
        f(
            "picking_type_id",
            "Operation Type",
            Ty::Many2one("stock.picking.type"),
        ),
        f("sale_line_id", "Sale Line", Ty::Many2one("sale.order.line")),
        f("origin", "Source Document", Ty::Char),
        f("date", "Date Scheduled", Ty::Datetime),
        f("is_inventory", "Inventory", Ty::Boolean).def(json!(false)),
        f(
            "origin_returned_move_id",
            "Origin return move",
            Ty::Many2one("stock.move"),
        ),
        f("to_refund", "Update quantities on SO/PO", Ty::Boolean).def(json!(false)),
        f("company_id", "Company", Ty::Many2one("res.company")).def(json!(1)),
    ]);

    let mut tax_fields = vec![
        f("name", "Tax Name", Ty::Char).req(),
        f("amount", "Amount", Ty::Float).req().def(json!(0.0)),
        f(
            "amount_type",
            "Tax Computation",
            sel(&[
                ("group", "Group of Taxes"),
                ("fixed", "Fixed"),
                ("percent", "Percentage"),
                ("division", "Percentage Tax Included"),
            ]),
        )
        .req()
        .def(json!("percent")),
        f(
            "type_tax_use",
            "Tax Type",
            sel(&[
                ("sale", "Sales"),
                ("purchase", "Purchases"),
                ("none", "None"),
            ]),
        )
        .req()
        .def(json!("sale")),
        f("description", "Description", Ty::Char),
        f("sequence", "Sequence", Ty::Integer).def(json!(1)),
        f("active", "Active", Ty::Boolean).def(json!(true)),
        f("company_id", "Company", Ty::Many2one("res.company"))
            .req()
            .def(json!(1)),
    ];
    if v >= Version::V18 {
        // 18 turned "Included in Price" into a selection with a company default.
        tax_fields.push(f(
            "price_include_override",
            "Included in Price",
            sel(&[
                ("tax_included", "Tax Included"),
                ("tax_excluded", "Tax Excluded"),
            ]),
        ));
        tax_fields.push(f("price_include", "Included in Price", Ty::Boolean).comp());
    } else {
        tax_fields.push(f("price_include", "Included in Price", Ty::Boolean).def(json!(false)));
    }

    let mut out = vec![
        model(
            "res.partner",
            "Contact",
            "complete_name ASC, id DESC",
            partner,
        ),
        model("product.template", "Product", "name, id", tmpl),
        product,
        model(
            "product.category",
            "Product Category",
            "complete_name",
            vec![
                f("name", "Name", Ty::Char).req(),
                f("complete_name", "Complete Name", Ty::Char).comp(),
                f(
                    "parent_id",
                    "Parent Category",
                    Ty::Many2one("product.category"),
                ),
                f(
                    "child_id",
                    "Child Categories",
                    Ty::One2many("product.category", "parent_id"),
                )
                .comp(),
            ],
        ),
        model(
            "uom.uom",
            "Product Unit of Measure",
            "factor DESC, id",
            vec![
                f("name", "Unit of Measure", Ty::Char).req(),
                f("factor", "Ratio", Ty::Float).def(json!(1.0)),
                f("rounding", "Rounding Precision", Ty::Float).def(json!(0.01)),
                f("active", "Active", Ty::Boolean).def(json!(true)),
            ],
        ),
        model("sale.order", "Sales Order", "date_order desc, id desc", so),
        model(
            "sale.order.line",
            "Sales Order Line",
            "order_id, sequence, id",
            sol,
        ),
        model(
            "sale.order.cancel",
            "Sales Order Cancel",
            "id",
            vec![f("order_id", "Sale Order", Ty::Many2one("sale.order")).req()],
        ),
        model(
            "sale.advance.payment.inv",
            "Sales Advance Payment Invoice",
            "id",
            advance_payment_fields(v),
        ),
        model(
            "stock.warehouse",
            "Warehouse",
            "sequence,id",
            vec![
                f("name", "Warehouse", Ty::Char).req(),
                f("code", "Short Name", Ty::Char).req(),
                f("active", "Active", Ty::Boolean).def(json!(true)),
                f("company_id", "Company", Ty::Many2one("res.company"))
                    .req()
                    .def(json!(1)),
                f("partner_id", "Address", Ty::Many2one("res.partner")),
                f(
                    "view_location_id",
                    "View Location",
                    Ty::Many2one("stock.location"),
                ),
                f(
                    "lot_stock_id",
                    "Location Stock",
                    Ty::Many2one("stock.location"),
                ),
                f("in_type_id", "In Type", Ty::Many2one("stock.picking.type")),
                f(
                    "out_type_id",
                    "Out Type",
                    Ty::Many2one("stock.picking.type"),
                ),
                f("sequence", "Sequence", Ty::Integer).def(json!(10)),
            ],
        ),
        model(
            "stock.location",
            "Inventory Locations",
            "complete_name, id",
            vec![
                f("name", "Location Name", Ty::Char).req(),
                f("complete_name", "Full Location Name", Ty::Char).ro(),
                f(
                    "location_id",
                    "Parent Location",
                    Ty::Many2one("stock.location"),
                ),
                f("usage", "Location Type", location_usage)
                    .req()
                    .def(json!("internal")),
                f("active", "Active", Ty::Boolean).def(json!(true)),
                f("company_id", "Company", Ty::Many2one("res.company")),
                f("warehouse_id", "Warehouse", Ty::Many2one("stock.warehouse")),
            ],
        ),
        model(
            "stock.picking.type",
            "Picking Type",
            "sequence, id",
            vec![
                f("name", "Operation Type", Ty::Char).req(),
                f("code", "Type of Operation", picking_codes.clone()).req(),
                f("sequence_code", "Sequence Prefix", Ty::Char).req(),
                f("sequence", "Sequence", Ty::Integer).def(json!(1)),
                f("warehouse_id", "Warehouse", Ty::Many2one("stock.warehouse")),
                f(
                    "default_location_src_id",
                    "Default Source Location",
                    Ty::Many2one("stock.location"),
                ),
                f(
                    "default_location_dest_id",
                    "Default Destination Location",
                    Ty::Many2one("stock.location"),
                ),
                f("active", "Active", Ty::Boolean).def(json!(true)),
                f("company_id", "Company", Ty::Many2one("res.company")).def(json!(1)),
            ],
        ),
        model(
            "stock.picking",
            "Transfer",
            "priority desc, scheduled_date asc, id desc",
            vec![
                f("name", "Reference", Ty::Char).def(json!("/")),
                f("origin", "Source Document", Ty::Char),
                f("note", "Notes", Ty::Html),
                f("partner_id", "Contact", Ty::Many2one("res.partner")),
                f(
                    "picking_type_id",
                    "Operation Type",
                    Ty::Many2one("stock.picking.type"),
                )
                .req(),
                f("picking_type_code", "Type of Operation", picking_codes).comp(),
                f(
                    "location_id",
                    "Source Location",
                    Ty::Many2one("stock.location"),
                )
                .req(),
                f(
                    "location_dest_id",
                    "Destination Location",
                    Ty::Many2one("stock.location"),
                )
                .req(),
                f(
                    "move_ids",
                    "Stock Moves",
                    Ty::One2many("stock.move", "picking_id"),
                )
                .comp(),
                f(
                    "move_ids_without_package",
                    "Stock moves not in package",
                    Ty::One2many("stock.move", "picking_id"),
                )
                .comp(),
                f("state", "Status", picking_states)
                    .ro()
                    .def(json!("draft")),
                f(
                    "move_type",
                    "Shipping Policy",
                    sel(&[
                        ("direct", "As soon as possible"),
                        ("one", "When all products are ready"),
                    ]),
                )
                .req()
                .def(json!("direct")),
                f(
                    "priority",
                    "Priority",
                    sel(&[("0", "Normal"), ("1", "Urgent")]),
                )
                .def(json!("0")),
                f("scheduled_date", "Scheduled Date", Ty::Datetime),
                f("date_done", "Date of Transfer", Ty::Datetime).ro(),
                f("sale_id", "Sales Order", Ty::Many2one("sale.order")),
                f("carrier_id", "Carrier", Ty::Many2one("delivery.carrier")),
                f("carrier_tracking_ref", "Tracking Reference", Ty::Char),
                f(
                    "backorder_id",
                    "Back Order of",
                    Ty::Many2one("stock.picking"),
                ),
                f("return_id", "Return of", Ty::Many2one("stock.picking")),
                f(
                    "return_ids",
                    "Returns",
                    Ty::One2many("stock.picking", "return_id"),
                )
                .comp(),
                f("user_id", "Responsible", Ty::Many2one("res.users")),
                f("company_id", "Company", Ty::Many2one("res.company")).def(json!(1)),
            ],
        ),
        model("stock.move", "Stock Move", "id", mv),
        model(
            "stock.quant",
            "Quants",
            "id",
            vec![
                f("product_id", "Product", Ty::Many2one("product.product")).req(),
                f("location_id", "Location", Ty::Many2one("stock.location")).req(),
                f("quantity", "Quantity", Ty::Float).ro().def(json!(0.0)),
                f("reserved_quantity", "Reserved Quantity", Ty::Float)
                    .ro()
                    .def(json!(0.0)),
                f("available_quantity", "Available Quantity", Ty::Float).comp(),
                f("inventory_quantity", "Counted Quantity", Ty::Float).def(json!(0.0)),
                f("inventory_diff_quantity", "Difference", Ty::Float).comp(),
                f(
                    "inventory_quantity_set",
                    "Inventory Quantity Set",
                    Ty::Boolean,
                )
                .def(json!(false)),
                f(
                    "inventory_quantity_auto_apply",
                    "Inventoried Quantity",
                    Ty::Float,
                )
                .comp(),
                f("inventory_date", "Scheduled Date", Ty::Date),
                f("user_id", "Assigned To", Ty::Many2one("res.users")),
                f("in_date", "Incoming Date", Ty::Datetime).ro(),
                f("product_uom_id", "Unit of Measure", Ty::Many2one("uom.uom")).comp(),
                f("company_id", "Company", Ty::Many2one("res.company")).comp(),
            ],
        ),
        model("account.tax", "Tax", "sequence,id", tax_fields),
        model(
            "delivery.carrier",
            "Shipping Methods",
            "sequence, id",
            vec![
                f("name", "Delivery Method", Ty::Char).req(),
                f(
                    "product_id",
                    "Delivery Product",
                    Ty::Many2one("product.product"),
                )
                .req(),
                f(
                    "delivery_type",
                    "Provider",
                    sel(&[("base_on_rule", "Based on Rules"), ("fixed", "Fixed Price")]),
                )
                .req()
                .def(json!("fixed")),
                f("fixed_price", "Fixed Price", Ty::Float).def(json!(0.0)),
                f("sequence", "Sequence", Ty::Integer).def(json!(10)),
                f("active", "Active", Ty::Boolean).def(json!(true)),
                f("company_id", "Company", Ty::Many2one("res.company")),
            ],
        ),
        model(
            "choose.delivery.carrier",
            "Delivery Method Selection Wizard",
            "id",
            vec![
                f("order_id", "Order", Ty::Many2one("sale.order")).req(),
                f(
                    "carrier_id",
                    "Shipping Method",
                    Ty::Many2one("delivery.carrier"),
                )
                .req(),
                f("delivery_price", "Cost", Ty::Float),
                f("display_price", "Display Price", Ty::Float),
                f("partner_id", "Partner", Ty::Many2one("res.partner")).comp(),
                f("currency_id", "Currency", Ty::Many2one("res.currency")).comp(),
                f("delivery_message", "Message", Ty::Text).ro(),
            ],
        ),
        model(
            "ir.model.data",
            "Model Data",
            "module, model, name",
            vec![
                f("name", "External Identifier", Ty::Char).req(),
                f("complete_name", "Complete ID", Ty::Char).comp(),
                f("module", "Module", Ty::Char).req().def(json!("")),
                f("model", "Model Name", Ty::Char).req(),
                f("res_id", "Record ID", Ty::Integer),
                f("noupdate", "Non Updatable", Ty::Boolean).def(json!(false)),
            ],
        ),
        model(
            "res.country",
            "Country",
            "name, id",
            vec![
                f("name", "Country Name", Ty::Char).req(),
                f("code", "Country Code", Ty::Char),
                f("currency_id", "Currency", Ty::Many2one("res.currency")),
                f("phone_code", "Country Calling Code", Ty::Integer),
            ],
        ),
        model(
            "res.users",
            "User",
            "name, login",
            vec![
                f("name", "Name", Ty::Char).req(),
                f("login", "Login", Ty::Char).req(),
                f("partner_id", "Related Partner", Ty::Many2one("res.partner")).req(),
                f("company_id", "Company", Ty::Many2one("res.company"))
                    .req()
                    .def(json!(1)),
                f("active", "Active", Ty::Boolean).def(json!(true)),
                f("share", "Share User", Ty::Boolean).def(json!(false)),
                f("email", "Email", Ty::Char).virt(),
                f("lang", "Language", Ty::Char).def(json!("en_US")),
                f("tz", "Timezone", Ty::Char),
            ],
        ),
        {
            let mut m = model(
                "ir.config_parameter",
                "System Parameter",
                "key",
                vec![
                    f("key", "Key", Ty::Char).req(),
                    f("value", "Value", Ty::Text).req(),
                ],
            );
            m.admin_only = Some("Administration/Settings");
            m
        },
    ];
    if v16 {
        out.push(model(
            "stock.immediate.transfer",
            "Immediate Transfer",
            "id",
            vec![f("pick_ids", "Pick", Ty::Many2many("stock.picking"))],
        ));
    }
    out.extend(more::accounting_models(v));
    out.extend(more::catalog_models(v));
    out.extend(more::stock_return_models());
    out.push(model(
        "stock.backorder.confirmation",
        "Backorder Confirmation",
        "id",
        vec![f("pick_ids", "Pick", Ty::Many2many("stock.picking"))],
    ));
    out
}
