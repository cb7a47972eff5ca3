//! The Odoo user a store's connector acts as: its email address and the groups each enabled sync
//! step needs, checked by `store add` and `doctor` (read-only: two reads and a few `has_group`
//! calls).
//!
//! Recorded on a real Odoo 18: when that user has no email address, Odoo refuses every call that
//! posts a chatter message in its name (the full payment of an invoice that came from a sale order,
//! the refund payment of its credit note, creating a return picking) with `UserError: Unable to
//! send message, please configure the sender's email address.`, and rolls the call back. The sync
//! then dead-letters the job (permanent: it fails the same way until the user has an address).

use std::time::Duration;

use salla_odoo_core::OrderStep;
use salla_odoo_store::stores::{OdooConnection, StoreSettings};

use crate::doctor::{Check, Level, leveled};

/// A group the connector's user needs, with what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededGroup {
    /// External id, e.g. `account.group_account_invoice`.
    pub xml_id: &'static str,
    /// As Odoo's user form names it.
    pub label: &'static str,
    /// The enabled steps that need it.
    pub why: Vec<&'static str>,
}

/// The sync steps that post a chatter message as the connector's user (so need its email
/// address), enabled for this store.
pub fn steps_needing_email(s: &StoreSettings) -> Vec<&'static str> {
    let mut out = Vec::new();
    let completes = s.status_map.0.values().any(|st| *st == OrderStep::Complete);
    if completes && (s.payment_journal_id.is_some() || !s.payment_journals.is_empty()) {
        out.push("registering the payment of an invoice from a sale order");
    }
    if s.refund_credit_notes {
        out.push(
            "a credit note's refund payment (and posting a credit note that settles an invoice)",
        );
    }
    if s.return_pickings {
        out.push("creating a return picking");
    }
    out
}

/// The groups the store's enabled steps need.
pub fn needed_groups(s: &StoreSettings) -> Vec<NeededGroup> {
    let steps: Vec<OrderStep> = s.status_map.0.values().copied().collect();
    let has = |st: OrderStep| steps.contains(&st);
    let mut sales = vec!["orders (quotations, confirmation, cancellation)"];
    if has(OrderStep::Refund) || s.refund_credit_notes {
        sales.push("cancelling refunded orders never invoiced");
    }
    let mut billing = Vec::new();
    if has(OrderStep::Complete) {
        billing.push("invoices (status → complete)");
    }
    if s.payment_journal_id.is_some() || !s.payment_journals.is_empty() {
        billing.push("payments");
    }
    if s.refund_credit_notes || has(OrderStep::Refund) {
        billing.push("credit notes and refund payments");
    }
    let mut stock = Vec::new();
    if has(OrderStep::Deliver) || has(OrderStep::Complete) {
        stock.push("validating deliveries (status → deliver, complete)");
    }
    if s.return_pickings {
        stock.push("return pickings");
    }
    if s.stock_master == salla_odoo_core::StockMaster::Salla {
        stock.push("stock adjustments (Salla as stock master)");
    }
    let mut out = vec![NeededGroup {
        xml_id: "sales_team.group_sale_salesman",
        label: "Sales / User: Own Documents Only",
        why: sales,
    }];
    if !billing.is_empty() {
        out.push(NeededGroup {
            xml_id: "account.group_account_invoice",
            label: "Invoicing / Billing",
            why: billing,
        });
    }
    if !stock.is_empty() {
        out.push(NeededGroup {
            xml_id: "stock.group_stock_user",
            label: "Inventory / User",
            why: stock,
        });
    }
    out
}

/// A client for one check: short timeouts, so an unreachable Odoo does not hold the command up.
pub fn check_client(c: &OdooConnection) -> Result<odoo::Client, String> {
    let mut config = odoo::Config::new(&c.url, &c.database, &c.login, c.api_key.clone())
        .map_err(|e| e.to_string())?;
    config.request_timeout = Duration::from_secs(10);
    config.connect_timeout = Duration::from_secs(5);
    odoo::Client::new(config).map_err(|e| e.to_string())
}

/// The user checks of one store against its Odoo: `store <merchant> odoo user` (the email
/// address, a failure when a step that needs one is enabled) and `store <merchant> odoo groups`
/// (each needed group; a failure names the missing ones and what needs them). Each failure says
/// exactly what to change in Odoo.
pub async fn checks(client: &odoo::Client, s: &StoreSettings) -> Vec<Check> {
    let Some(conn) = &s.odoo else {
        return Vec::new();
    };
    let login = conn.login.as_str();
    let user_check = format!("store {} odoo user", s.merchant);
    let groups_check = format!("store {} odoo groups", s.merchant);
    let user = match client.user_by_login(login).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return vec![leveled(
                user_check,
                Level::Warn,
                format!(
                    "no Odoo user with login {login:?} is visible to the connector; its email \
                     address and groups were not checked"
                ),
            )];
        }
        Err(e) => {
            return vec![leveled(
                user_check,
                Level::Warn,
                format!("could not read the Odoo user {login:?}: {e}"),
            )];
        }
    };
    let mut out = Vec::new();
    let needs = steps_needing_email(s);
    out.push(match (&user.email, needs.is_empty()) {
        (Some(email), _) => leveled(
            user_check,
            Level::Ok,
            format!("{login} (uid {}) has the email address {email}", user.id),
        ),
        (None, true) => leveled(
            user_check,
            Level::Note,
            format!(
                "{login} (uid {}) has no email address; no enabled step needs one now",
                user.id
            ),
        ),
        (None, false) => leveled(
            user_check,
            Level::Fail,
            format!(
                "{login} (uid {}) has no email address, and Odoo refuses every call that posts a \
                 chatter message in its name (\"Unable to send message, please configure the \
                 sender's email address.\"): {} would fail. Fix: in Odoo, Settings > Users & \
                 Companies > Users > {} > Email: give it an address",
                user.id,
                needs.join(", "),
                if user.name.is_empty() {
                    login
                } else {
                    &user.name
                }
            ),
        ),
    });
    let mut missing = Vec::new();
    let mut unknown = Vec::new();
    let groups = needed_groups(s);
    for g in &groups {
        match client.user_has_group(user.id, g.xml_id).await {
            Ok(true) => {}
            Ok(false) => missing.push(g),
            Err(e) => unknown.push(format!("{}: {e}", g.xml_id)),
        }
    }
    out.push(if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|g| format!("{} ({}) for {}", g.label, g.xml_id, g.why.join(", ")))
            .collect();
        leveled(
            groups_check,
            Level::Fail,
            format!(
                "{login} lacks {}. Fix: in Odoo, Settings > Users & Companies > Users > {login} > \
                 Access Rights: {}",
                if missing.len() == 1 {
                    "a group"
                } else {
                    "groups"
                },
                list.join("; ")
            ),
        )
    } else if !unknown.is_empty() {
        leveled(
            groups_check,
            Level::Warn,
            format!(
                "could not check the groups of {login}: {}",
                unknown.join("; ")
            ),
        )
    } else {
        leveled(
            groups_check,
            Level::Ok,
            format!(
                "{login} has {}",
                groups
                    .iter()
                    .map(|g| g.label)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use salla_odoo_core::{MerchantId, StatusMap, StockMaster};

    fn settings() -> StoreSettings {
        StoreSettings {
            merchant: MerchantId::new(1),
            status: "installed".into(),
            odoo: None,
            warehouse_id: None,
            pricelist_id: None,
            currency: None,
            tax_id: None,
            prices_include_tax: true,
            status_map: StatusMap::default(),
            create_unknown_skus: false,
            stock_master: StockMaster::Odoo,
            stock_quantity: Default::default(),
            fulfilment_status: None,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
            payment_journal_id: None,
            payment_journals: Default::default(),
            refund_credit_notes: true,
            return_pickings: true,
            variants: Default::default(),
            pricelists: Default::default(),
            rounding_max_cents: 100,
            order_intents_since: time::OffsetDateTime::UNIX_EPOCH,
            odoo_capabilities: None,
        }
    }

    #[test]
    fn each_enabled_step_names_what_it_needs() {
        let mut s = settings();
        assert_eq!(steps_needing_email(&s).len(), 2, "refunds and returns");
        let xml: Vec<&str> = needed_groups(&s).iter().map(|g| g.xml_id).collect();
        assert_eq!(
            xml,
            [
                "sales_team.group_sale_salesman",
                "account.group_account_invoice",
                "stock.group_stock_user"
            ]
        );
        s.payment_journals = [("mada".to_owned(), 6)].into();
        assert_eq!(steps_needing_email(&s).len(), 3);
        assert!(
            needed_groups(&s)[1].why.contains(&"payments"),
            "{:?}",
            needed_groups(&s)
        );
        // Nothing that posts a message, nothing that invoices or moves stock.
        s.payment_journals.clear();
        s.refund_credit_notes = false;
        s.return_pickings = false;
        s.status_map = StatusMap::default()
            .with_overrides("delivered=confirm,completed=confirm,refunded=cancel")
            .unwrap();
        assert!(steps_needing_email(&s).is_empty());
        let xml: Vec<&str> = needed_groups(&s).iter().map(|g| g.xml_id).collect();
        assert_eq!(xml, ["sales_team.group_sale_salesman"]);
    }
}
