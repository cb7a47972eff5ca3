//! The data of a fresh database, as a new Odoo with sale_management, stock, account and
//! contacts (no demo data) has it. Ids follow a real Odoo 18 database where it matters to
//! clients: user `admin` is uid 2, the warehouse's stock location is 8 ("WH/Stock"), the customer
//! location is 5 ("Partners/Customers"), the 15% sales tax is 1, the journals are 1 Customer
//! Invoices, 6 Bank and 7 Cash (payment method lines 1/2 and 4/3), the outstanding accounts 49
//! and 50 and the default pricelist 1 "Default" (as the recorded Odoo 18 accounting database).
//! Currencies: SAR (3, the company's), USD (2), AED (4) active, EUR (1) archived, with no rates.

use serde_json::{Map, Value, json};

use crate::db::{Credential, Db, Table, fmt_datetime};
use crate::{Options, accounting};

fn insert(db: &mut Db, model: &str, id: i64, row: Value, now: &str) {
    let table = db.tables.entry(model.to_owned()).or_insert_with(|| Table {
        next_id: 1,
        rows: Default::default(),
    });
    let mut r: Map<String, Value> = match row {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for k in ["create_date", "write_date"] {
        r.entry(k).or_insert(json!(now));
    }
    for k in ["create_uid", "write_uid"] {
        r.entry(k).or_insert(json!(1));
    }
    table.rows.insert(id, r);
    table.next_id = table.next_id.max(id + 1);
}

/// Build the fresh database for `opts`.
pub fn fresh(opts: &Options) -> Db {
    let mut db = Db::empty(opts.version);
    let now = fmt_datetime(time::OffsetDateTime::now_utc());
    let now = now.as_str();
    let d = &mut db;

    // Currencies (no rates: every rate is 1.0, as recorded) and countries.
    let pricelist_currency = pricelist_currency_id(opts).unwrap_or(CURRENCY_SAR);
    for (id, name, symbol, full, position) in [
        (1, "EUR", "€", "Euro", "after"),
        (2, "USD", "$", "United States dollar", "before"),
        (CURRENCY_SAR, "SAR", "SR", "Saudi riyal", "after"),
        (4, "AED", "AED", "United Arab Emirates dirham", "after"),
    ] {
        insert(
            d,
            "res.currency",
            id,
            json!({"name": name, "symbol": symbol, "full_name": full, "rounding": 0.01, "decimal_places": 2,
                   "position": position, "active": id != 1 || pricelist_currency == 1}),
            now,
        );
    }
    for (id, code, name, phone, cur) in [
        (2, "AE", "United Arab Emirates", 971, 4),
        (22, "BH", "Bahrain", 973, false_id()),
        (65, "EG", "Egypt", 20, false_id()),
        (112, "JO", "Jordan", 962, false_id()),
        (118, "KW", "Kuwait", 965, false_id()),
        (169, "OM", "Oman", 968, false_id()),
        (185, "QA", "Qatar", 974, false_id()),
        (192, "SA", "Saudi Arabia", 966, 3),
        (233, "US", "United States", 1, 2),
    ] {
        let cur = if cur == 0 { json!(false) } else { json!(cur) };
        insert(
            d,
            "res.country",
            id,
            json!({"code": code, "name": name, "phone_code": phone, "currency_id": cur}),
            now,
        );
    }
    if let Some(t) = d.tables.get_mut("res.country") {
        t.next_id = 251;
    }

    // Partners, company, users.
    let partners = [
        (1, "My Company", true, true),
        (2, "OdooBot", false, false),
        (3, "Administrator", false, true),
        (4, "Public user", false, false),
        (5, "Default User Template", false, false),
        (6, "Portal User Template", false, false),
    ];
    let has_email = |login: &str| !opts.users_without_email.iter().any(|l| l == login);
    for (id, name, company, active) in partners {
        let mut row = json!({"name": name, "is_company": company, "active": active, "type": "contact",
                             "lang": "en_US", "customer_rank": 0, "supplier_rank": 0, "company_id": false});
        if id == 1 {
            row["country_id"] = json!(192);
            row["email"] = json!("info@yourcompany.com");
        }
        if id == 3 {
            if has_email(&opts.login) {
                row["email"] = json!("admin@yourcompany.example.com");
            }
            row["company_id"] = json!(1);
        }
        insert(d, "res.partner", id, row, now);
    }
    insert(
        d,
        "res.company",
        1,
        json!({"name": "My Company", "partner_id": 1, "currency_id": CURRENCY_SAR, "country_id": 192, "sequence": 0,
               "account_journal_payment_debit_account_id": accounting::ACCOUNT_OUTSTANDING_RECEIPTS,
               "account_journal_payment_credit_account_id": accounting::ACCOUNT_OUTSTANDING_PAYMENTS}),
        now,
    );
    let users = [
        (1, "OdooBot", "__system__", 2, false, false),
        (2, "Administrator", opts.login.as_str(), 3, true, false),
        (3, "Default User Template", "default", 5, false, false),
        (4, "Public user", "public", 4, false, true),
        (5, "Portal User Template", "portaltemplate", 6, false, true),
    ];
    for (id, name, login, partner, active, share) in users {
        insert(
            d,
            "res.users",
            id,
            json!({"name": name, "login": login, "partner_id": partner, "company_id": 1, "active": active,
                   "share": share, "lang": "en_US", "tz": false}),
            now,
        );
    }
    d.credentials.insert(
        2,
        Credential {
            password: opts.password.clone(),
            api_key: opts.api_key.clone(),
            admin: true,
        },
    );
    for u in &opts.extra_users {
        let pid = d.tables.get("res.partner").map_or(7, |t| t.next_id);
        let mut partner = json!({"name": u.name, "active": true, "type": "contact", "lang": "en_US", "company_id": 1, "is_company": false});
        if has_email(&u.login) {
            partner["email"] = json!(if u.login.contains('@') {
                u.login.clone()
            } else {
                format!("{}@example.com", u.login)
            });
        }
        insert(d, "res.partner", pid, partner, now);
        let uid = d.tables.get("res.users").map_or(6, |t| t.next_id);
        insert(
            d,
            "res.users",
            uid,
            json!({"name": u.name, "login": u.login, "partner_id": pid, "company_id": 1, "active": true,
                   "share": false, "lang": "en_US", "tz": false}),
            now,
        );
        d.credentials.insert(
            uid,
            Credential {
                password: u.password.clone(),
                api_key: u.api_key.clone(),
                admin: u.admin,
            },
        );
    }

    // Units and categories.
    for (id, name, factor) in [
        (1, "Units", 1.0),
        (2, "Dozens", 1.0 / 12.0),
        (3, "kg", 1.0),
        (4, "g", 1000.0),
        (5, "Hours", 1.0),
    ] {
        insert(
            d,
            "uom.uom",
            id,
            json!({"name": name, "factor": factor, "rounding": 0.01, "active": true}),
            now,
        );
    }
    insert(
        d,
        "product.category",
        1,
        json!({"name": "All", "parent_id": false}),
        now,
    );
    insert(
        d,
        "product.category",
        2,
        json!({"name": "Saleable", "parent_id": 1}),
        now,
    );

    // Accounting.
    insert(
        d,
        "account.tax",
        1,
        json!({"name": "15%", "description": "15%", "amount": 15.0, "amount_type": "percent", "type_tax_use": "sale", "sequence": 1, "active": true, "company_id": 1}),
        now,
    );
    insert(
        d,
        "account.tax",
        2,
        json!({"name": "15%", "description": "15%", "amount": 15.0, "amount_type": "percent", "type_tax_use": "purchase", "sequence": 1, "active": true, "company_id": 1}),
        now,
    );
    for (id, code, name, kind, seq) in [
        (1, "INV", "Customer Invoices", "sale", 5),
        (2, "BILL", "Vendor Bills", "purchase", 6),
        (3, "MISC", "Miscellaneous Operations", "general", 9),
        (4, "EXCH", "Exchange Difference", "general", 9),
        (5, "CABA", "Cash Basis Taxes", "general", 10),
        (6, "BNK1", "Bank", "bank", 10),
        (7, "CSH1", "Cash", "cash", 10),
        (8, "STJ", "Inventory Valuation", "general", 10),
    ] {
        insert(
            d,
            "account.journal",
            id,
            json!({"name": name, "code": code, "type": kind, "sequence": seq, "active": true, "company_id": 1}),
            now,
        );
    }
    // Payment method lines as recorded: Bank in 1 / out 2, Cash out 3 / in 4; no account of
    // their own, so payments use the company's outstanding accounts (49, 50).
    for (id, journal, ptype) in [
        (1, 6, "inbound"),
        (2, 6, "outbound"),
        (3, 7, "outbound"),
        (4, 7, "inbound"),
    ] {
        insert(
            d,
            "account.payment.method.line",
            id,
            json!({"name": "Manual Payment", "journal_id": journal, "payment_type": ptype, "sequence": 10,
                   "payment_account_id": false}),
            now,
        );
    }
    // Accounts of the generic chart the flows use (49 and 50 as recorded; the others' ids are
    // the sandbox's).
    for (id, code, name, kind, reconcile) in [
        (
            accounting::ACCOUNT_RECEIVABLE,
            "121000",
            "Account Receivable",
            "asset_receivable",
            true,
        ),
        (
            accounting::ACCOUNT_PAYABLE,
            "211000",
            "Account Payable",
            "liability_payable",
            true,
        ),
        (
            accounting::ACCOUNT_INCOME,
            "400000",
            "Product Sales",
            "income",
            false,
        ),
        (
            accounting::ACCOUNT_EXPENSE,
            "600000",
            "Expenses",
            "expense",
            false,
        ),
        (
            accounting::ACCOUNT_OUTSTANDING_RECEIPTS,
            "101403",
            "Outstanding Receipts",
            "asset_current",
            true,
        ),
        (
            accounting::ACCOUNT_OUTSTANDING_PAYMENTS,
            "101404",
            "Outstanding Payments",
            "asset_current",
            true,
        ),
    ] {
        insert(
            d,
            "account.account",
            id,
            json!({"code": code, "name": name, "account_type": kind, "reconcile": reconcile, "company_id": 1}),
            now,
        );
    }
    if let Some(t) = d.tables.get_mut("account.account") {
        t.next_id = 52;
    }
    // The default pricelist (recorded in USD; here the company's currency unless
    // `Options::pricelist_currency` says otherwise).
    insert(
        d,
        "product.pricelist",
        1,
        json!({"name": "Default", "currency_id": pricelist_currency, "company_id": 1, "active": true, "sequence": 16}),
        now,
    );

    // Stock.
    for (id, name, complete, parent, usage) in [
        (1, "Physical Locations", "Physical Locations", 0, "view"),
        (2, "Partners", "Partners", 0, "view"),
        (3, "Virtual Locations", "Virtual Locations", 0, "view"),
        (4, "Vendors", "Partners/Vendors", 2, "supplier"),
        (5, "Customers", "Partners/Customers", 2, "customer"),
        (
            6,
            "Inventory adjustment",
            "Virtual Locations/Inventory adjustment",
            3,
            "inventory",
        ),
        (7, "WH", "WH", 1, "view"),
        (8, "Stock", "WH/Stock", 7, "internal"),
        (
            9,
            "Production",
            "Virtual Locations/Production",
            3,
            "production",
        ),
        (10, "Scrap", "Virtual Locations/Scrap", 3, "inventory"),
    ] {
        let parent = if parent == 0 {
            json!(false)
        } else {
            json!(parent)
        };
        let company = if id >= 7 { json!(1) } else { json!(false) };
        let wh = if (7..=8).contains(&id) {
            json!(1)
        } else {
            json!(false)
        };
        insert(
            d,
            "stock.location",
            id,
            json!({"name": name, "complete_name": complete, "location_id": parent, "usage": usage, "active": true, "company_id": company, "warehouse_id": wh}),
            now,
        );
    }
    insert(
        d,
        "stock.warehouse",
        1,
        json!({"name": "My Company", "code": "WH", "active": true, "company_id": 1, "partner_id": 1, "view_location_id": 7, "lot_stock_id": 8, "in_type_id": 1, "out_type_id": 2, "sequence": 10}),
        now,
    );
    for (id, name, code, seq_code, src, dst) in [
        (1, "Receipts", "incoming", "IN", json!(4), json!(8)),
        (2, "Delivery Orders", "outgoing", "OUT", json!(8), json!(5)),
        (
            3,
            "Internal Transfers",
            "internal",
            "INT",
            json!(8),
            json!(8),
        ),
    ] {
        insert(
            d,
            "stock.picking.type",
            id,
            json!({"name": name, "code": code, "sequence_code": seq_code, "sequence": id, "warehouse_id": 1, "default_location_src_id": src, "default_location_dest_id": dst, "active": true, "company_id": 1}),
            now,
        );
    }

    // External identifiers and parameters.
    let xmlids: &[(&str, &str, &str, i64)] = &[
        ("base", "main_company", "res.company", 1),
        ("base", "main_partner", "res.partner", 1),
        ("base", "partner_admin", "res.partner", 3),
        ("base", "user_root", "res.users", 1),
        ("base", "user_admin", "res.users", 2),
        ("base", "EUR", "res.currency", 1),
        ("base", "USD", "res.currency", 2),
        ("base", "SAR", "res.currency", 3),
        ("base", "AED", "res.currency", 4),
        ("base", "ae", "res.country", 2),
        ("base", "sa", "res.country", 192),
        ("base", "us", "res.country", 233),
        ("uom", "product_uom_unit", "uom.uom", 1),
        ("product", "product_category_all", "product.category", 1),
        ("stock", "warehouse0", "stock.warehouse", 1),
        ("stock", "stock_location_stock", "stock.location", 8),
        ("stock", "stock_location_customers", "stock.location", 5),
        ("stock", "stock_location_suppliers", "stock.location", 4),
        ("stock", "picking_type_in", "stock.picking.type", 1),
        ("stock", "picking_type_out", "stock.picking.type", 2),
        ("account", "1_sale_tax_template", "account.tax", 1),
        ("account", "1_purchase_tax_template", "account.tax", 2),
    ];
    for (i, (module, name, model, res_id)) in xmlids.iter().enumerate() {
        insert(
            d,
            "ir.model.data",
            i as i64 + 1,
            json!({"module": module, "name": name, "model": model, "res_id": res_id, "noupdate": true}),
            now,
        );
    }
    for (id, key, value) in [
        (1, "web.base.url", "http://localhost:8069"),
        (2, "database.create_date", now),
        (3, "database.uuid", "00000000-0000-4000-8000-000000000000"),
        (4, "base.login_cooldown_after", "10"),
        (5, "base.login_cooldown_duration", "60"),
    ] {
        insert(
            d,
            "ir.config_parameter",
            id,
            json!({"key": key, "value": value}),
            now,
        );
    }
    db.in_payment_state = opts.in_payment_state;
    db.missing_groups = opts.missing_groups.clone();
    db
}

/// The seeded company currency (SAR).
pub const CURRENCY_SAR: i64 = 3;

/// The id of the seeded currency named by [`Options::pricelist_currency`] (`None`: unset;
/// `Some(Err)`: not a seeded currency).
pub fn pricelist_currency(opts: &Options) -> Option<Result<i64, String>> {
    let code = opts.pricelist_currency.as_deref()?;
    Some(match code.trim().to_ascii_uppercase().as_str() {
        "EUR" => Ok(1),
        "USD" => Ok(2),
        "SAR" => Ok(CURRENCY_SAR),
        "AED" => Ok(4),
        _ => Err(format!(
            "unknown pricelist currency {code:?} (expected EUR, USD, SAR or AED)"
        )),
    })
}

fn pricelist_currency_id(opts: &Options) -> Option<i64> {
    pricelist_currency(opts).and_then(Result::ok)
}

const fn false_id() -> i64 {
    0
}
