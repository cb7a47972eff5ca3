//! Salla's original order statuses (platform notes §9.1).
//!
//! Ids and Arabic names are those of the docs examples; `waiting_for_payment_confirmation` and
//! `payment_failed` have no example, so their ids and names are the sandbox's own. `delivering`,
//! `delivered` and `shipped` are children of `completed`, as in the docs example. Custom
//! statuses are not modelled: `POST /orders/{id}/status` accepts these slugs and ids only.

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusDef {
    pub id: u64,
    pub slug: &'static str,
    pub name: &'static str,
    /// The parent's slug, for sub-statuses.
    pub parent: Option<&'static str>,
}

const fn s(id: u64, slug: &'static str, name: &'static str) -> StatusDef {
    StatusDef {
        id,
        slug,
        name,
        parent: None,
    }
}

const fn child(id: u64, slug: &'static str, name: &'static str) -> StatusDef {
    StatusDef {
        id,
        slug,
        name,
        parent: Some("completed"),
    }
}

pub const STATUSES: &[StatusDef] = &[
    s(1473353380, "payment_pending", "بإنتظار الدفع"),
    s(
        1815163390,
        "waiting_for_payment_confirmation",
        "بإنتظار تأكيد الدفع",
    ),
    s(1207453210, "payment_failed", "فشل الدفع"),
    s(566146469, "under_review", "بإنتظار المراجعة"),
    s(1939592358, "in_progress", "قيد التنفيذ"),
    s(1298199463, "completed", "تم التنفيذ"),
    child(349994915, "delivering", "جاري التوصيل"),
    child(1723506348, "delivered", "تم التوصيل"),
    child(814202285, "shipped", "تم الشحن"),
    s(525144736, "canceled", "ملغي"),
    s(989286562, "restored", "مسترجع"),
    s(1548352431, "restoring", "قيد الإسترجاع"),
];

pub fn by_slug(slug: &str) -> Option<&'static StatusDef> {
    STATUSES.iter().find(|s| s.slug == slug)
}

pub fn by_id(id: u64) -> Option<&'static StatusDef> {
    STATUSES.iter().find(|s| s.id == id)
}

/// The `GET /orders/statuses` list.
pub fn list() -> Vec<Value> {
    STATUSES
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let parent = st
                .parent
                .and_then(by_slug)
                .map_or(Value::Null, |p| json!({"id": p.id, "name": p.name}));
            json!({
                "id": st.id,
                "name": st.name,
                "type": "original",
                "slug": st.slug,
                "sort": i + 1,
                "message": "",
                "icon": "sicon-sync",
                "is_active": true,
                "original": {"id": st.id, "name": st.name},
                "parent": parent,
            })
        })
        .collect()
}
