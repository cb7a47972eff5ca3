//! Models added for accounting (payments, refunds, currencies, pricelists), product variants
//! and stock returns. Wizards whose `fields_get` the Odoo 18 recording shows are declared with
//! exactly those fields, in Odoo's order (magic fields included), so `fields_get` lists them as
//! Odoo does.

use serde_json::json;

use super::{Field, Model, Ty, f, magic, model, sel};
use crate::Version;

/// The groups that may write `res.currency` (recorded AccessError) and, by the sandbox's choice,
/// `res.currency.rate`.
pub const CURRENCY_WRITERS: &[&str] = &["Administration/Settings", "Invoicing/Administrator"];

#[allow(clippy::too_many_lines)]
pub fn accounting_models(v: Version) -> Vec<Model> {
    let v18 = v >= Version::V18;
    let payment_states: Vec<(&str, &str)> = if v18 {
        vec![
            ("draft", "Draft"),
            ("in_process", "In Process"),
            ("paid", "Paid"),
            ("canceled", "Canceled"),
            ("rejected", "Rejected"),
        ]
    } else {
        vec![
            ("draft", "Draft"),
            ("posted", "Posted"),
            ("cancel", "Cancelled"),
        ]
    };
    let memo_field = if v18 { "memo" } else { "ref" };
    let move_types = sel(&[
        ("entry", "Journal Entry"),
        ("out_invoice", "Customer Invoice"),
        ("out_refund", "Customer Credit Note"),
        ("in_invoice", "Vendor Bill"),
        ("in_refund", "Vendor Credit Note"),
        ("out_receipt", "Sales Receipt"),
        ("in_receipt", "Purchase Receipt"),
    ]);

    let mut mv = vec![
        f("name", "Number", Ty::Char).ro(),
        f("move_type", "Type", move_types).req().def(json!("entry")),
        f(
            "state",
            "Status",
            sel(&[
                ("draft", "Draft"),
                ("posted", "Posted"),
                ("cancel", "Cancelled"),
            ]),
        )
        .req()
        .ro()
        .def(json!("draft")),
        f("partner_id", "Partner", Ty::Many2one("res.partner")),
        f(
            "partner_shipping_id",
            "Delivery Address",
            Ty::Many2one("res.partner"),
        ),
        f("invoice_origin", "Origin", Ty::Char),
        f("ref", "Reference", Ty::Char),
        f("payment_reference", "Payment Reference", Ty::Char),
        f("date", "Date", Ty::Date),
        f("invoice_date", "Invoice/Bill Date", Ty::Date),
        f("invoice_date_due", "Due Date", Ty::Date),
        f("journal_id", "Journal", Ty::Many2one("account.journal"))
            .req()
            .def(json!(1)),
        f("currency_id", "Currency", Ty::Many2one("res.currency")),
        f(
            "company_currency_id",
            "Company Currency",
            Ty::Many2one("res.currency"),
        )
        .comp(),
        f("company_id", "Company", Ty::Many2one("res.company")).def(json!(1)),
        f("invoice_user_id", "Salesperson", Ty::Many2one("res.users")),
        f("narration", "Terms and Conditions", Ty::Html),
        f(
            "invoice_line_ids",
            "Invoice lines",
            Ty::One2many("account.move.line", "move_id"),
        )
        .virt(),
        f(
            "line_ids",
            "Journal Items",
            Ty::One2many("account.move.line", "move_id"),
        )
        .virt(),
        f("amount_untaxed", "Untaxed Amount", Ty::Monetary).comp(),
        f("amount_tax", "Tax", Ty::Monetary).comp(),
        f("amount_total", "Total", Ty::Monetary).comp(),
        f("amount_residual", "Amount Due", Ty::Monetary).comp(),
        f(
            "amount_untaxed_signed",
            "Untaxed Amount Signed",
            Ty::Monetary,
        )
        .comp(),
        f("amount_tax_signed", "Tax Signed", Ty::Monetary).comp(),
        f("amount_total_signed", "Total Signed", Ty::Monetary).comp(),
        f(
            "amount_total_in_currency_signed",
            "Total in Currency Signed",
            Ty::Monetary,
        )
        .comp(),
        f("amount_residual_signed", "Amount Due Signed", Ty::Monetary).comp(),
        f("amount_paid", "Amount paid", Ty::Monetary).comp(),
        f(
            "payment_state",
            "Payment Status",
            sel(&[
                ("not_paid", "Not Paid"),
                ("in_payment", "In Payment"),
                ("paid", "Paid"),
                ("partial", "Partially Paid"),
                ("reversed", "Reversed"),
                ("invoicing_legacy", "Invoicing App Legacy"),
            ]),
        )
        .comp(),
        f(
            "reversed_entry_id",
            "Reversal of",
            Ty::Many2one("account.move"),
        ),
        f(
            if v18 {
                "reversal_move_ids"
            } else {
                "reversal_move_id"
            },
            "Reversal Move",
            Ty::One2many("account.move", "reversed_entry_id"),
        )
        .comp(),
    ];
    if v18 {
        mv.push(f("invoice_currency_rate", "Currency Rate", Ty::Float).comp());
        mv.push(
            f(
                "matched_payment_ids",
                "Matched Payments",
                Ty::Many2many("account.payment"),
            )
            .comp(),
        );
        mv.push(
            f(
                "origin_payment_id",
                "Payment",
                Ty::Many2one("account.payment"),
            )
            .ro(),
        );
    } else {
        mv.push(f("payment_id", "Payment", Ty::Many2one("account.payment")).ro());
    }

    let aml = vec![
        f("move_id", "Journal Entry", Ty::Many2one("account.move")).req(),
        f("account_id", "Account", Ty::Many2one("account.account")),
        f("partner_id", "Partner", Ty::Many2one("res.partner")).comp(),
        f("currency_id", "Currency", Ty::Many2one("res.currency")).comp(),
        f("product_id", "Product", Ty::Many2one("product.product")),
        f("name", "Label", Ty::Char),
        f("quantity", "Quantity", Ty::Float).def(json!(1.0)),
        f("price_unit", "Unit Price", Ty::Float).def(json!(0.0)),
        f("discount", "Discount (%)", Ty::Float).def(json!(0.0)),
        f("tax_ids", "Taxes", Ty::Many2many("account.tax")),
        f("product_uom_id", "Unit of Measure", Ty::Many2one("uom.uom")),
        f("price_subtotal", "Subtotal", Ty::Monetary).comp(),
        f("price_total", "Total", Ty::Monetary).comp(),
        f("balance", "Balance", Ty::Monetary).comp(),
        f("amount_currency", "Amount in Currency", Ty::Monetary).comp(),
        f("debit", "Debit", Ty::Monetary).comp(),
        f("credit", "Credit", Ty::Monetary).comp(),
        f("amount_residual", "Residual Amount", Ty::Monetary).comp(),
        f(
            "amount_residual_currency",
            "Residual Amount in Currency",
            Ty::Monetary,
        )
        .comp(),
        f("reconciled", "Reconciled", Ty::Boolean).comp(),
        f(
            "matched_debit_ids",
            "Matched Debits",
            Ty::One2many("account.partial.reconcile", "credit_move_id"),
        )
        .comp(),
        f(
            "matched_credit_ids",
            "Matched Credits",
            Ty::One2many("account.partial.reconcile", "debit_move_id"),
        )
        .comp(),
        f(
            "sale_line_ids",
            "Sales Order Lines",
            Ty::Many2many("sale.order.line"),
        ),
        f(
            "display_type",
            "Display Type",
            sel(&[
                ("product", "Product"),
                ("payment_term", "Payment Term"),
                ("line_section", "Section"),
                ("line_note", "Note"),
            ]),
        )
        .def(json!("product")),
    ];

    let partial = vec![
        f(
            "debit_move_id",
            "Debit Move",
            Ty::Many2one("account.move.line"),
        )
        .req(),
        f(
            "credit_move_id",
            "Credit Move",
            Ty::Many2one("account.move.line"),
        )
        .req(),
        f("amount", "Amount", Ty::Monetary).def(json!(0.0)),
        f(
            "debit_amount_currency",
            "Debit amount in currency",
            Ty::Monetary,
        )
        .def(json!(0.0)),
        f(
            "credit_amount_currency",
            "Credit amount in currency",
            Ty::Monetary,
        )
        .def(json!(0.0)),
        f("company_id", "Company", Ty::Many2one("res.company")).def(json!(1)),
    ];

    let mut pay = vec![
        f("name", "Number", Ty::Char).ro(),
        f("amount", "Amount", Ty::Monetary),
        f(
            "payment_type",
            "Payment Type",
            sel(&[("outbound", "Send"), ("inbound", "Receive")]),
        )
        .req()
        .def(json!("inbound")),
        f(
            "partner_type",
            "Partner Type",
            sel(&[("customer", "Customer"), ("supplier", "Vendor")]),
        )
        .def(json!("customer")),
        f("partner_id", "Customer/Vendor", Ty::Many2one("res.partner")),
        f("date", "Date", Ty::Date),
        f("journal_id", "Journal", Ty::Many2one("account.journal")),
        f(
            "payment_method_line_id",
            "Payment Method",
            Ty::Many2one("account.payment.method.line"),
        ),
        f("currency_id", "Currency", Ty::Many2one("res.currency")),
        f("company_id", "Company", Ty::Many2one("res.company")).def(json!(1)),
        f("state", "Status", Ty::Selection(payment_states))
            .ro()
            .def(json!("draft")),
        f(memo_field, "Memo", Ty::Char),
        f("move_id", "Journal Entry", Ty::Many2one("account.move")).ro(),
        f("is_reconciled", "Is Reconciled", Ty::Boolean).comp(),
        f(
            "is_matched",
            "Is Matched With a Bank Statement",
            Ty::Boolean,
        )
        .comp(),
        f(
            "outstanding_account_id",
            "Outstanding Account",
            Ty::Many2one("account.account"),
        )
        .comp(),
        f(
            "destination_account_id",
            "Destination Account",
            Ty::Many2one("account.account"),
        )
        .comp(),
        f(
            "reconciled_invoice_ids",
            "Reconciled Invoices",
            Ty::Many2many("account.move"),
        )
        .comp(),
    ];
    if v18 {
        pay.push(f("invoice_ids", "Invoices", Ty::Many2many("account.move")));
    }

    let mut reversal = vec![
        f("move_ids", "Move", Ty::Many2many("account.move")),
        f("new_move_ids", "New Move", Ty::Many2many("account.move")),
        f("date", "Reversal date", Ty::Date),
        f("reason", "Reason displayed on Credit Note", Ty::Char),
        f("journal_id", "Journal", Ty::Many2one("account.journal")).req(),
        f("company_id", "Company", Ty::Many2one("res.company"))
            .req()
            .ro(),
        f(
            "available_journal_ids",
            "Available Journal",
            Ty::Many2many("account.journal"),
        )
        .comp(),
        f("country_code", "Country Code", Ty::Char).comp(),
        f("residual", "Residual", Ty::Monetary).comp(),
        f("currency_id", "Currency", Ty::Many2one("res.currency")).comp(),
        f("move_type", "Move Type", Ty::Char).comp(),
    ];
    if v == Version::V16 {
        reversal.push(
            f(
                "refund_method",
                "Credit Method",
                sel(&[
                    ("refund", "Partial Refund"),
                    ("cancel", "Full Refund"),
                    ("modify", "Full refund and new draft invoice"),
                ]),
            )
            .req()
            .def(json!("refund")),
        );
    }
    reversal.extend(magic());

    let mut currency = model(
        "res.currency",
        "Currency",
        "active desc, name",
        vec![
            f("name", "Currency", Ty::Char).req(),
            f("full_name", "Name", Ty::Char),
            f("symbol", "Symbol", Ty::Char).req(),
            f("rounding", "Rounding Factor", Ty::Float).def(json!(0.01)),
            f("decimal_places", "Decimal Places", Ty::Integer).def(json!(2)),
            f("active", "Active", Ty::Boolean).def(json!(true)),
            f(
                "position",
                "Symbol Position",
                sel(&[("after", "After Amount"), ("before", "Before Amount")]),
            )
            .def(json!("after")),
            f("rate", "Current Rate", Ty::Float).comp(),
            f("inverse_rate", "Inverse Rate", Ty::Float).comp(),
            f(
                "rate_ids",
                "Rates",
                Ty::One2many("res.currency.rate", "currency_id"),
            )
            .virt(),
        ],
    );
    currency.write_groups = Some(CURRENCY_WRITERS);
    let mut rate = model(
        "res.currency.rate",
        "Currency Rate",
        "name desc",
        vec![
            f("name", "Date", Ty::Date).req(),
            f("rate", "Technical Rate", Ty::Float).def(json!(1.0)),
            f("company_rate", "Unit per Company Currency", Ty::Float).comp(),
            f(
                "inverse_company_rate",
                "Company Currency per Unit",
                Ty::Float,
            )
            .comp(),
            f("currency_id", "Currency", Ty::Many2one("res.currency")).req(),
            f("company_id", "Company", Ty::Many2one("res.company")).def(json!(1)),
        ],
    );
    rate.write_groups = Some(CURRENCY_WRITERS);

    vec![
        model(
            "account.move",
            "Journal Entry",
            "date desc, name desc, invoice_date desc, id desc",
            mv,
        ),
        model("account.move.line", "Journal Item", "id", aml),
        model(
            "account.partial.reconcile",
            "Partial Reconcile",
            "id desc",
            partial,
        ),
        model(
            "account.payment.register",
            "Pay",
            "id",
            payment_register_fields(),
        ),
        model("account.payment", "Payments", "date desc, name desc", pay),
        model(
            "account.move.reversal",
            "Account move reversal",
            "id",
            reversal,
        ),
        model(
            "account.payment.method.line",
            "Payment Methods",
            "sequence, id",
            vec![
                f("name", "Name", Ty::Char),
                f("journal_id", "Journal", Ty::Many2one("account.journal")),
                f(
                    "payment_type",
                    "Payment Type",
                    sel(&[("outbound", "Send"), ("inbound", "Receive")]),
                ),
                f(
                    "payment_account_id",
                    "Outstanding Receipts/Payments Account",
                    Ty::Many2one("account.account"),
                ),
                f("sequence", "Sequence", Ty::Integer).def(json!(10)),
            ],
        ),
        model(
            "account.journal",
            "Journal",
            "sequence, type, code",
            vec![
                f("name", "Journal Name", Ty::Char).req(),
                f("code", "Short Code", Ty::Char).req(),
                f(
                    "type",
                    "Type",
                    sel(&[
                        ("sale", "Sales"),
                        ("purchase", "Purchase"),
                        ("cash", "Cash"),
                        ("bank", "Bank"),
                        ("general", "Miscellaneous"),
                    ]),
                )
                .req(),
                f("sequence", "Sequence", Ty::Integer).def(json!(10)),
                f("active", "Active", Ty::Boolean).def(json!(true)),
                f("currency_id", "Currency", Ty::Many2one("res.currency")),
                f("company_id", "Company", Ty::Many2one("res.company")).def(json!(1)),
                f(
                    "inbound_payment_method_line_ids",
                    "Inbound Payment Methods",
                    Ty::One2many("account.payment.method.line", "journal_id"),
                )
                .comp(),
                f(
                    "outbound_payment_method_line_ids",
                    "Outbound Payment Methods",
                    Ty::One2many("account.payment.method.line", "journal_id"),
                )
                .comp(),
            ],
        ),
        model(
            "account.account",
            "Account",
            "code, id",
            vec![
                f("code", "Code", Ty::Char).req(),
                f("name", "Account Name", Ty::Char).req(),
                f(
                    "account_type",
                    "Type",
                    sel(&[
                        ("asset_receivable", "Receivable"),
                        ("asset_cash", "Bank and Cash"),
                        ("asset_current", "Current Assets"),
                        ("liability_payable", "Payable"),
                        ("liability_current", "Current Liabilities"),
                        ("income", "Income"),
                        ("expense", "Expenses"),
                        ("equity", "Equity"),
                    ]),
                )
                .req(),
                f("reconcile", "Allow Reconciliation", Ty::Boolean).def(json!(false)),
                f("company_id", "Company", Ty::Many2one("res.company")).def(json!(1)),
            ],
        ),
        currency,
        rate,
        model(
            "res.company",
            "Companies",
            "sequence, name",
            vec![
                f("name", "Company Name", Ty::Char).req(),
                f("partner_id", "Partner", Ty::Many2one("res.partner")).req(),
                f("currency_id", "Currency", Ty::Many2one("res.currency")).req(),
                f("country_id", "Country", Ty::Many2one("res.country")),
                f("email", "Email", Ty::Char),
                f("phone", "Phone", Ty::Char),
                f("vat", "Tax ID", Ty::Char),
                f("sequence", "Sequence", Ty::Integer).def(json!(10)),
                f(
                    "account_journal_payment_debit_account_id",
                    "Journal Outstanding Receipts",
                    Ty::Many2one("account.account"),
                ),
                f(
                    "account_journal_payment_credit_account_id",
                    "Journal Outstanding Payments",
                    Ty::Many2one("account.account"),
                ),
            ],
        ),
        model(
            "product.pricelist",
            "Pricelist",
            "sequence, id",
            vec![
                f("name", "Pricelist Name", Ty::Char).req(),
                f("currency_id", "Currency", Ty::Many2one("res.currency")).req(),
                f("company_id", "Company", Ty::Many2one("res.company")),
                f("active", "Active", Ty::Boolean).def(json!(true)),
                f("sequence", "Sequence", Ty::Integer).def(json!(16)),
            ],
        ),
    ]
}

/// `account.payment.register` as Odoo 18 lists it (recorded `fields_get`, order kept).
fn payment_register_fields() -> Vec<Field> {
    let mut out = vec![
        f("payment_date", "Payment Date", Ty::Date).req(),
        f("amount", "Amount", Ty::Monetary),
        f(
            "hide_writeoff_section",
            "Hide Writeoff Section",
            Ty::Boolean,
        )
        .comp(),
        f("communication", "Memo", Ty::Char),
        f("group_payment", "Group Payments", Ty::Boolean).def(json!(true)),
        f(
            "early_payment_discount_mode",
            "Early Payment Discount Mode",
            Ty::Boolean,
        )
        .comp(),
        f("currency_id", "Currency", Ty::Many2one("res.currency")),
        f("journal_id", "Journal", Ty::Many2one("account.journal")),
        f(
            "available_journal_ids",
            "Available Journal",
            Ty::Many2many("account.journal"),
        )
        .comp(),
        f(
            "available_partner_bank_ids",
            "Available Partner Bank",
            Ty::Many2many("res.partner.bank"),
        )
        .comp(),
        f(
            "partner_bank_id",
            "Recipient Bank Account",
            Ty::Many2one("res.partner.bank"),
        ),
        f(
            "company_currency_id",
            "Company Currency",
            Ty::Many2one("res.currency"),
        )
        .comp(),
        f("qr_code", "QR Code URL", Ty::Html).comp(),
        f("batches", "Batches", Ty::Binary).comp(),
        f(
            "installments_mode",
            "Installments Mode",
            sel(&[
                ("next", "Next Installment"),
                ("overdue", "Overdue Amount"),
                ("before_date", "Before Next Payment Date"),
                ("full", "Full Amount"),
            ]),
        ),
        f(
            "installments_switch_html",
            "Installments Switch Html",
            Ty::Html,
        )
        .comp(),
        f(
            "installments_switch_amount",
            "Installments Switch Amount",
            Ty::Monetary,
        )
        .comp(),
        f("custom_user_amount", "Custom User Amount", Ty::Monetary),
        f(
            "custom_user_currency_id",
            "Custom User Currency",
            Ty::Many2one("res.currency"),
        ),
        f(
            "line_ids",
            "Journal items",
            Ty::Many2many("account.move.line"),
        )
        .ro(),
        f(
            "payment_type",
            "Payment Type",
            sel(&[("outbound", "Send Money"), ("inbound", "Receive Money")]),
        )
        .ro(),
        f(
            "partner_type",
            "Partner Type",
            sel(&[("customer", "Customer"), ("supplier", "Vendor")]),
        )
        .ro(),
        f(
            "source_amount",
            "Amount to Pay (company currency)",
            Ty::Monetary,
        )
        .ro(),
        f(
            "source_amount_currency",
            "Amount to Pay (foreign currency)",
            Ty::Monetary,
        )
        .ro(),
        f(
            "source_currency_id",
            "Source Currency",
            Ty::Many2one("res.currency"),
        )
        .ro(),
        f("can_edit_wizard", "Can Edit Wizard", Ty::Boolean).ro(),
        f("can_group_payments", "Can Group Payments", Ty::Boolean).ro(),
        f("company_id", "Company", Ty::Many2one("res.company")).ro(),
        f("partner_id", "Customer/Vendor", Ty::Many2one("res.partner")).ro(),
        f(
            "payment_method_line_id",
            "Payment Method",
            Ty::Many2one("account.payment.method.line"),
        ),
        f(
            "available_payment_method_line_ids",
            "Available Payment Method Line",
            Ty::Many2many("account.payment.method.line"),
        )
        .comp(),
        f("payment_difference", "Payment Difference", Ty::Monetary).comp(),
        f(
            "payment_difference_handling",
            "Payment Difference Handling",
            sel(&[("open", "Keep open"), ("reconcile", "Mark as fully paid")]),
        )
        .def(json!("open")),
        f(
            "writeoff_account_id",
            "Difference Account",
            Ty::Many2one("account.account"),
        ),
        f("writeoff_label", "Journal Item Label", Ty::Char),
        f(
            "writeoff_is_exchange_account",
            "Writeoff Is Exchange Account",
            Ty::Boolean,
        )
        .comp(),
        f(
            "show_payment_difference",
            "Show Payment Difference",
            Ty::Boolean,
        )
        .comp(),
        f(
            "show_partner_bank_account",
            "Show Partner Bank Account",
            Ty::Boolean,
        )
        .comp(),
        f(
            "require_partner_bank_account",
            "Require Partner Bank Account",
            Ty::Boolean,
        )
        .comp(),
        f("country_code", "Country Code", Ty::Char).comp(),
        f(
            "duplicate_payment_ids",
            "Duplicate Payment",
            Ty::Many2many("account.payment"),
        )
        .comp(),
        f(
            "is_register_payment_on_draft",
            "Is Register Payment On Draft",
            Ty::Boolean,
        )
        .comp(),
        f("actionable_errors", "Actionable Errors", Ty::Json).comp(),
        f(
            "untrusted_bank_ids",
            "Untrusted Bank",
            Ty::Many2many("res.partner.bank"),
        )
        .comp(),
        f(
            "total_payments_amount",
            "Total Payments Amount",
            Ty::Integer,
        )
        .comp(),
        f(
            "untrusted_payments_count",
            "Untrusted Payments Count",
            Ty::Integer,
        )
        .comp(),
        f(
            "missing_account_partners",
            "Missing Account Partners",
            Ty::Many2many("res.partner"),
        )
        .comp(),
    ];
    out.extend(magic());
    out.extend([
        f(
            "payment_token_id",
            "Saved payment token",
            Ty::Many2one("payment.token"),
        ),
        f(
            "suitable_payment_token_ids",
            "Suitable Payment Token",
            Ty::Many2many("payment.token"),
        )
        .comp(),
        f(
            "use_electronic_payment_method",
            "Use Electronic Payment Method",
            Ty::Boolean,
        )
        .comp(),
        f("payment_method_code", "Payment Method Code", Ty::Char).comp(),
    ]);
    out
}

/// Attributes and variants: `product.attribute` (+ values), the template's attribute lines and
/// the template attribute values that carry `price_extra`.
pub fn catalog_models(v: Version) -> Vec<Model> {
    let mut value = vec![
        f("name", "Value", Ty::Char).req(),
        f("sequence", "Sequence", Ty::Integer).def(json!(0)),
        f(
            "attribute_id",
            "Attribute",
            Ty::Many2one("product.attribute"),
        )
        .req(),
        f("html_color", "Color", Ty::Char),
        f("is_custom", "Free text", Ty::Boolean).def(json!(false)),
    ];
    if v >= Version::V17 {
        value.push(f("default_extra_price", "Default Extra Price", Ty::Float).def(json!(0.0)));
    }
    vec![
        model(
            "product.attribute",
            "Product Attribute",
            "sequence, id",
            vec![
                f("name", "Attribute", Ty::Char).req(),
                f(
                    "create_variant",
                    "Variant Creation",
                    sel(&[
                        ("always", "Instantly"),
                        ("dynamic", "Dynamically"),
                        ("no_variant", "Never (option)"),
                    ]),
                )
                .req()
                .def(json!("always")),
                f(
                    "display_type",
                    "Display Type",
                    sel(&[
                        ("radio", "Radio"),
                        ("pills", "Pills"),
                        ("select", "Select"),
                        ("color", "Color"),
                        ("multi", "Multi-checkbox"),
                    ]),
                )
                .req()
                .def(json!("radio")),
                f("sequence", "Sequence", Ty::Integer).def(json!(20)),
                f("active", "Active", Ty::Boolean).def(json!(true)),
                f(
                    "value_ids",
                    "Values",
                    Ty::One2many("product.attribute.value", "attribute_id"),
                )
                .virt(),
                f(
                    "attribute_line_ids",
                    "Lines",
                    Ty::One2many("product.template.attribute.line", "attribute_id"),
                )
                .comp(),
            ],
        ),
        model(
            "product.attribute.value",
            "Attribute Value",
            "attribute_id, sequence, id",
            value,
        ),
        model(
            "product.template.attribute.line",
            "Product Template Attribute Line",
            // Odoo: "attribute_id, id" by the attribute's (sequence, id); lines are made in
            // that order here.
            "id",
            vec![
                f(
                    "product_tmpl_id",
                    "Product Template",
                    Ty::Many2one("product.template"),
                )
                .req(),
                f(
                    "attribute_id",
                    "Attribute",
                    Ty::Many2one("product.attribute"),
                )
                .req(),
                f(
                    "value_ids",
                    "Values",
                    Ty::Many2many("product.attribute.value"),
                ),
                f("sequence", "Sequence", Ty::Integer).def(json!(10)),
                f("active", "Active", Ty::Boolean).def(json!(true)),
                f("value_count", "Value Count", Ty::Integer).comp(),
                f(
                    "product_template_value_ids",
                    "Product Attribute Values",
                    Ty::One2many("product.template.attribute.value", "attribute_line_id"),
                )
                .comp(),
            ],
        ),
        model(
            "product.template.attribute.value",
            "Product Template Attribute Value",
            // Odoo: by line, then by the value's (sequence, id), the order they are made in here.
            "attribute_line_id, id",
            vec![
                f("name", "Value", Ty::Char).comp(),
                f(
                    "product_attribute_value_id",
                    "Attribute Value",
                    Ty::Many2one("product.attribute.value"),
                )
                .req(),
                f(
                    "attribute_line_id",
                    "Attribute Line",
                    Ty::Many2one("product.template.attribute.line"),
                )
                .req(),
                f(
                    "product_tmpl_id",
                    "Product Template",
                    Ty::Many2one("product.template"),
                )
                .ro(),
                f(
                    "attribute_id",
                    "Attribute",
                    Ty::Many2one("product.attribute"),
                )
                .ro(),
                f("price_extra", "Extra Price", Ty::Float).def(json!(0.0)),
                f("ptav_active", "Active", Ty::Boolean).def(json!(true)),
                f(
                    "ptav_product_variant_ids",
                    "Related Variants",
                    Ty::Many2many("product.product"),
                )
                .comp(),
            ],
        ),
    ]
}

/// The return wizard of a done transfer (`stock.return.picking` and its lines), as Odoo 18
/// lists their fields.
pub fn stock_return_models() -> Vec<Model> {
    let mut wizard = vec![
        f("picking_id", "Picking", Ty::Many2one("stock.picking")),
        f(
            "product_return_moves",
            "Moves",
            Ty::One2many("stock.return.picking.line", "wizard_id"),
        )
        .virt(),
        f("company_id", "Company", Ty::Many2one("res.company")).comp(),
    ];
    wizard.extend(magic());
    let mut line = vec![
        f("product_id", "Product", Ty::Many2one("product.product")).req(),
        f("move_quantity", "Move Quantity", Ty::Float).ro(),
        f("quantity", "Quantity", Ty::Float).req().def(json!(0.0)),
        f("uom_id", "Unit of Measure", Ty::Many2one("uom.uom")).comp(),
        f("wizard_id", "Wizard", Ty::Many2one("stock.return.picking")),
        f("move_id", "Move", Ty::Many2one("stock.move")),
    ];
    line.extend(magic());
    line.push(f("to_refund", "Update quantities on SO/PO", Ty::Boolean).def(json!(true)));
    vec![
        model("stock.return.picking", "Return Picking", "id", wizard),
        model(
            "stock.return.picking.line",
            "Return Picking Line",
            "id",
            line,
        ),
    ]
}
