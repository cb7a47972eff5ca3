//! Which Salla events become jobs, and which are acknowledged and counted but not queued.
//!
//! Every event named in Salla's webhook documentation has a row here. An event that is not listed
//! (Salla adds events over time) is acknowledged with 200 and counted as `unknown`: answering an
//! error would only make Salla resend it three times.

use crate::job::JobKind;

/// What ingest does with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Job(JobKind),
    Ignored(IgnoreReason),
}

/// Why an event is acknowledged without a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// A documented event the Odoo sync does not need (logins, carts, reviews, billing, …).
    NotSynced,
    /// An event name the routing table does not know.
    Unknown,
}

impl IgnoreReason {
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::NotSynced => "not_synced",
            IgnoreReason::Unknown => "unknown_event",
        }
    }
}

/// The routing table. Event names are case-sensitive, as Salla sends them.
pub fn route(event: &str) -> Route {
    use JobKind::*;
    let kind = match event {
        "customer.created" | "customer.updated" => CustomerUpsert,

        "product.created"
        | "product.updated"
        | "product.price.updated"
        | "product.status.updated"
        | "product.available"
        | "product.quantity.low"
        | "product.category.updated"
        | "product.brand.updated" => ProductUpsert,
        "product.deleted" => ProductDelete,

        "order.created"
        | "order.updated"
        | "order.products.updated"
        | "order.total.price.updated"
        | "order.shipping.address.updated"
        | "order.coupon.updated" => OrderUpsert,
        "order.status.updated" | "order.cancelled" | "order.refunded" | "order.payment.updated" => {
            OrderStatus
        }
        "order.deleted" => OrderDelete,

        "shipment.creating"
        | "shipment.created"
        | "shipment.updated"
        | "shipment.cancelled"
        | "order.shipment.creating"
        | "order.shipment.created"
        | "order.shipment.cancelled"
        | "order.shipment.return.creating"
        | "order.shipment.return.created"
        | "order.shipment.return.cancelled" => ShipmentSync,

        "invoice.created" => InvoiceCheck,

        "app.store.authorize" => StoreAuthorize,
        "app.installed" | "app.updated" => StoreInstall,
        "app.uninstalled" => StoreUninstall,
        "app.settings.updated" => StoreSettings,

        _ if NOT_SYNCED.contains(&event) => return Route::Ignored(IgnoreReason::NotSynced),
        _ => return Route::Ignored(IgnoreReason::Unknown),
    };
    Route::Job(kind)
}

/// Documented events that carry nothing the Odoo sync uses.
pub const NOT_SYNCED: &[&str] = &[
    "customer.login",
    "customer.otp.request",
    "product.image.updated",
    "product.tags.updated",
    "product.channels.changed",
    "shipping.zone.created",
    "shipping.zone.updated",
    "shipping.company.created",
    "shipping.company.updated",
    "shipping.company.deleted",
    "store.branch.created",
    "store.branch.updated",
    "store.branch.setDefault",
    "store.branch.activated",
    "store.branch.deleted",
    "storetax.created",
    "store.owner.changed",
    "category.created",
    "category.updated",
    "brand.created",
    "brand.updated",
    "brand.deleted",
    "abandoned.cart",
    "abandoned.cart.status.changed",
    "abandoned.cart.purchased",
    "coupon.applied",
    "specialoffer.created",
    "specialoffer.updated",
    "review.added",
    "communication.sms.send",
    "communication.email.send",
    "communication.whatsapp.send",
    "subscription.created",
    "subscription.charge.succeeded",
    "subscription.charge.failed",
    "subscription.cancelled",
    "app.trial.started",
    "app.trial.expired",
    "app.trial.canceled",
    "app.subscription.started",
    "app.subscription.expired",
    "app.subscription.canceled",
    "app.subscription.renewed",
    "app.feedback.created",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erp_events_become_jobs() {
        assert_eq!(route("order.created"), Route::Job(JobKind::OrderUpsert));
        assert_eq!(
            route("order.status.updated"),
            Route::Job(JobKind::OrderStatus)
        );
        assert_eq!(route("order.cancelled"), Route::Job(JobKind::OrderStatus));
        assert_eq!(
            route("app.store.authorize"),
            Route::Job(JobKind::StoreAuthorize)
        );
        assert_eq!(
            route("order.shipment.cancelled"),
            Route::Job(JobKind::ShipmentSync)
        );
    }

    #[test]
    fn other_events_are_ignored_with_a_reason() {
        assert_eq!(
            route("customer.login"),
            Route::Ignored(IgnoreReason::NotSynced)
        );
        assert_eq!(
            route("review.added"),
            Route::Ignored(IgnoreReason::NotSynced)
        );
        assert_eq!(
            route("order.teleported"),
            Route::Ignored(IgnoreReason::Unknown)
        );
        // Names are case-sensitive, and the order event has two "l"s.
        assert_eq!(
            route("Order.Created"),
            Route::Ignored(IgnoreReason::Unknown)
        );
        assert_eq!(
            route("order.canceled"),
            Route::Ignored(IgnoreReason::Unknown)
        );
    }

    #[test]
    fn no_event_is_both_synced_and_ignored() {
        for e in NOT_SYNCED {
            assert_eq!(route(e), Route::Ignored(IgnoreReason::NotSynced), "{e}");
        }
    }
}
