//! The checks at the end of a run: what each Odoo holds (read through the sandboxes' inspection
//! API) against the model, duplicates in Odoo, and the fate of every delivery (read from the
//! `sync_log` and `dead_letters` tables with plain SQL).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use uuid::Uuid;

use super::generator::{Address, Customer, Order, Product};
use super::model::{self, Model, Step, StoreModel};

/// One distinct body that was delivered (a re-serialised duplicate is a message of its own).
#[derive(Debug, Clone)]
pub struct Message {
    pub event: usize,
    pub merchant: u64,
    pub name: String,
    pub digest: String,
    /// Job ids of the deliveries ingest answered `queued` to.
    pub queued: Vec<Uuid>,
    /// Whether some delivery was answered 200 (queued or duplicate).
    pub accepted: bool,
    /// The job id the dedupe claim in Redis names, read at the end.
    pub claimed: Option<Uuid>,
    /// Salla gave up on it: never sent (the run's share of lost webhooks), or refused (the ingest
    /// down) on the first try and on all three resends. Only reconciliation brings its change.
    pub given_up: bool,
}

impl Message {
    /// The job this message became.
    pub fn job(&self) -> Option<Uuid> {
        self.claimed.or_else(|| self.queued.first().copied())
    }
}

/// A `sync_log` row.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub event: String,
    pub outcome: String,
    pub reason: Option<String>,
}

/// A `dead_letters` row.
#[derive(Debug, Clone)]
pub struct DeadRow {
    pub id: i64,
    pub job_id: Uuid,
    pub class: String,
    pub error: String,
    pub replayed: bool,
}

pub async fn outcomes(pool: &sqlx::PgPool) -> Result<HashMap<Uuid, LogRow>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String, Option<String>)> =
        sqlx::query_as("SELECT job_id, event, outcome, reason FROM sync_log")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, event, outcome, reason)| {
            (
                id,
                LogRow {
                    event,
                    outcome,
                    reason,
                },
            )
        })
        .collect())
}

pub async fn dead_letters(pool: &sqlx::PgPool) -> Result<Vec<DeadRow>, sqlx::Error> {
    let rows: Vec<(i64, Uuid, String, String, bool)> = sqlx::query_as(
        "SELECT id, job_id, class, error, replayed_at IS NOT NULL FROM dead_letters ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, job_id, class, error, replayed)| DeadRow {
            id,
            job_id,
            class,
            error,
            replayed,
        })
        .collect())
}

/// The fate of every delivery.
#[derive(Debug, Default, Clone)]
pub struct Accounting {
    /// Jobs whose final outcome (after any replay) is applied / skipped.
    pub applied: usize,
    pub skipped: usize,
    /// Jobs that went through the outbox (each then replayed).
    pub dead_lettered: usize,
    pub replayed: usize,
    pub replay_applied: usize,
    pub replay_skipped: usize,
    /// Accepted deliveries (or replays) without a job outcome, and deliveries never accepted
    /// that Salla did not give up on.
    pub lost: Vec<String>,
    /// Events Salla gave up on (see [`Message::given_up`]).
    pub given_up: usize,
    /// Jobs reconciliation queued (its own, not deliveries'), by final outcome.
    pub reconciled_applied: usize,
    pub reconciled_skipped: usize,
    /// Outcomes that break the rules (a skip without reason, a dead letter not replayed, …).
    pub problems: Vec<String>,
    /// Skip reasons by their first words, for the report.
    pub skip_reasons: BTreeMap<String, usize>,
    pub dead_classes: BTreeMap<String, usize>,
}

fn reason_kind(reason: &str) -> String {
    reason
        .split([':', '(', ';'])
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
        .take(6)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Jobs that no delivery made: reconciliation's (and a new store's backfill), and the run's own
/// `app.store.authorize` of each store.
pub fn is_reconcile_job(event: &str) -> bool {
    event.ends_with(".reconciled") || event == "app.store.authorize"
}

/// How a job ended, following dead letters through their replays.
enum Fate {
    Applied {
        replayed: bool,
    },
    Skipped {
        replayed: bool,
    },
    /// Lost or a problem (already recorded).
    Broken,
}

/// Follow `job` through dead letters and their replays to its final outcome.
fn follow(
    a: &mut Accounting,
    what: &str,
    job: Uuid,
    log: &HashMap<Uuid, LogRow>,
    dead_by_job: &HashMap<Uuid, &DeadRow>,
    replays: &HashMap<Uuid, Uuid>,
    known: &mut std::collections::HashSet<Uuid>,
) -> Fate {
    known.insert(job);
    let mut current = job;
    let mut first = true;
    loop {
        let Some(row) = log.get(&current) else {
            a.lost.push(format!("{what}: job {current} has no outcome"));
            return Fate::Broken;
        };
        match row.outcome.as_str() {
            "applied" => return Fate::Applied { replayed: !first },
            "skipped" => {
                let reason = row.reason.clone().unwrap_or_default();
                if reason.trim().is_empty() {
                    a.problems
                        .push(format!("{what}: job {current} skipped without a reason"));
                }
                *a.skip_reasons.entry(reason_kind(&reason)).or_default() += 1;
                return Fate::Skipped { replayed: !first };
            }
            "dead_lettered" => {
                if first {
                    a.dead_lettered += 1;
                }
                let Some(d) = dead_by_job.get(&current) else {
                    a.problems.push(format!(
                        "{what}: job {current} logged as dead-lettered but not in dead_letters"
                    ));
                    return Fate::Broken;
                };
                *a.dead_classes.entry(d.class.clone()).or_default() += 1;
                if d.error.trim().is_empty() {
                    a.problems
                        .push(format!("{what}: dead letter {} has no error", d.id));
                }
                let Some(next) = replays.get(&current).copied().filter(|_| d.replayed) else {
                    a.lost.push(format!(
                        "{what}: dead letter {} ({}: {}) was not replayed",
                        d.id, d.class, d.error
                    ));
                    return Fate::Broken;
                };
                a.replayed += 1;
                known.insert(next);
                current = next;
                first = false;
            }
            other => {
                a.problems
                    .push(format!("{what}: job {current} ended as {other:?}"));
                return Fate::Broken;
            }
        }
    }
}

/// `replays`: dead letter job id → the job id its replay was queued under.
pub fn account(
    messages: &[Message],
    log: &HashMap<Uuid, LogRow>,
    dead: &[DeadRow],
    replays: &HashMap<Uuid, Uuid>,
) -> Accounting {
    let mut a = Accounting::default();
    let dead_by_job: HashMap<Uuid, &DeadRow> = dead.iter().map(|d| (d.job_id, d)).collect();
    let mut known: std::collections::HashSet<Uuid> = std::collections::HashSet::new();
    for m in messages {
        let what = format!("{} of merchant {} (event #{})", m.name, m.merchant, m.event);
        if !m.accepted {
            if m.given_up {
                a.given_up += 1;
            } else {
                a.lost.push(format!("{what}: never accepted by ingest"));
            }
            continue;
        }
        if let (Some(c), Some(q)) = (m.claimed, m.queued.first())
            && c != *q
        {
            a.problems.push(format!(
                "{what}: answered job {q} but the dedupe claim names {c}"
            ));
        }
        let Some(job) = m.job() else {
            a.lost.push(format!(
                "{what}: accepted, but no job id (no 'queued' answer and no dedupe claim in Redis)"
            ));
            continue;
        };
        match follow(&mut a, &what, job, log, &dead_by_job, replays, &mut known) {
            Fate::Applied { replayed } => {
                a.applied += 1;
                a.replay_applied += usize::from(replayed);
            }
            Fate::Skipped { replayed } => {
                a.skipped += 1;
                a.replay_skipped += usize::from(replayed);
            }
            Fate::Broken => {}
        }
    }
    // Reconciliation's own jobs (not replays: those are followed from the job they replay).
    let replay_jobs: std::collections::HashSet<Uuid> = replays.values().copied().collect();
    let mut own: Vec<(Uuid, &LogRow)> = log
        .iter()
        .filter(|(id, r)| {
            !known.contains(*id) && !replay_jobs.contains(*id) && is_reconcile_job(&r.event)
        })
        .map(|(id, r)| (*id, r))
        .collect();
    own.sort_by_key(|(id, _)| *id);
    for (id, row) in own {
        if known.contains(&id) {
            continue;
        }
        let what = format!("{} job {id}", row.event);
        match follow(&mut a, &what, id, log, &dead_by_job, replays, &mut known) {
            Fate::Applied { .. } => a.reconciled_applied += 1,
            Fate::Skipped { .. } => a.reconciled_skipped += 1,
            Fate::Broken => {}
        }
    }
    let strays = log.keys().filter(|id| !known.contains(*id)).count();
    if strays > 0 {
        a.problems.push(format!(
            "{strays} job outcome(s) belong to no delivery, no reconciliation and no replay"
        ));
    }
    a
}

// ---- Odoo ----

/// Everything the checks read from one Odoo.
#[derive(Debug, Default)]
pub struct OdooView {
    pub version: u32,
    pub partners: Vec<Value>,
    pub products: Vec<Value>,
    pub categories: Vec<Value>,
    pub orders: Vec<Value>,
    pub lines: Vec<Value>,
    pub pickings: Vec<Value>,
    pub moves: Vec<Value>,
    pub locations: Vec<Value>,
    pub quants: Vec<Value>,
    /// `account.payment`, with the memo as `memo` whatever the version keeps it in.
    pub payments: Vec<Value>,
    pub stock_moves: Vec<Value>,
    pub templates: Vec<Value>,
    /// `account.move.line`s: a credit note's rounding line (see [`super::books`]).
    pub move_lines: Vec<Value>,
}

pub async fn load_odoo(
    admin: &super::faults::Admin,
    url: &str,
    version: u32,
) -> Result<OdooView, String> {
    let phone = if version >= 19 { "phone" } else { "mobile" };
    Ok(OdooView {
        version,
        partners: admin
            .inspect(
                url,
                "res.partner",
                &[
                    "id",
                    "name",
                    "email",
                    phone,
                    "city",
                    "country_id",
                    "ref",
                    "parent_id",
                    "type",
                    "street",
                    "street2",
                    "zip",
                    "active",
                ],
            )
            .await?,
        products: admin
            .inspect(
                url,
                "product.product",
                &[
                    "id",
                    "default_code",
                    "name",
                    "list_price",
                    "active",
                    "categ_id",
                    "type",
                    "create_date",
                    "product_tmpl_id",
                    "product_template_attribute_value_ids",
                    "lst_price",
                ],
            )
            .await?,
        categories: admin
            .inspect(url, "product.category", &["id", "name"])
            .await?,
        orders: admin
            .inspect(
                url,
                "sale.order",
                &[
                    "id",
                    "name",
                    "client_order_ref",
                    "state",
                    "partner_id",
                    "partner_shipping_id",
                    "amount_untaxed",
                    "amount_total",
                    "currency_id",
                    "order_line",
                    "picking_ids",
                    "invoice_ids",
                ],
            )
            .await?,
        lines: admin
            .inspect(
                url,
                "sale.order.line",
                &[
                    "id",
                    "order_id",
                    "product_id",
                    "product_uom_qty",
                    "price_unit",
                    "discount",
                ],
            )
            .await?,
        pickings: admin
            .inspect(
                url,
                "stock.picking",
                &["id", "state", "origin", "picking_type_code"],
            )
            .await?,
        moves: admin
            .inspect(
                url,
                "account.move",
                &[
                    "id",
                    "state",
                    "move_type",
                    "payment_state",
                    "amount_total",
                    "amount_residual",
                    "reversed_entry_id",
                    "ref",
                ],
            )
            .await?,
        locations: admin
            .inspect(url, "stock.location", &["id", "usage"])
            .await?,
        quants: admin
            .inspect(
                url,
                "stock.quant",
                &[
                    "id",
                    "product_id",
                    "location_id",
                    "quantity",
                    "reserved_quantity",
                ],
            )
            .await?,
        payments: {
            let memo = if version >= 18 { "memo" } else { "ref" };
            let mut list = admin
                .inspect(
                    url,
                    "account.payment",
                    &["id", "amount", "payment_type", "journal_id", "state", memo],
                )
                .await?;
            for p in &mut list {
                p["memo"] = p[memo].clone();
            }
            list
        },
        stock_moves: admin
            .inspect(
                url,
                "stock.move",
                &["id", "picking_id", "product_id", "product_uom_qty"],
            )
            .await?,
        templates: admin
            .inspect(
                url,
                "product.template",
                &["id", "name", "list_price", "active", "categ_id"],
            )
            .await?,
        move_lines: admin
            .inspect(
                url,
                "account.move.line",
                &[
                    "id",
                    "move_id",
                    "product_id",
                    "name",
                    "price_unit",
                    "quantity",
                    "tax_ids",
                ],
            )
            .await?,
    })
}

pub fn id_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::Array(a) => a.first().and_then(Value::as_i64),
        _ => None,
    }
}

pub fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

pub fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

pub fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or(f64::NAN) * 100.0).round() as i64
}

/// A difference between an Odoo and the model, about one Salla object (`order:<merchant>:<id>`,
/// `customer:…`, `product:…`, or `odoo` for the Odoo as a whole).
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub object: String,
    pub text: String,
}

/// What the checks of one Odoo found.
#[derive(Debug, Default)]
pub struct OdooFindings {
    pub mismatches: Vec<Mismatch>,
    /// One entry per record too many.
    pub duplicates: Vec<String>,
    /// The books (payments, credit notes, returns, variants) that differ from the model.
    pub accounting: Vec<Mismatch>,
    pub books: super::books::BookCounts,
}

impl OdooFindings {
    fn miss(&mut self, object: impl Into<String>, text: String) {
        self.mismatches.push(Mismatch {
            object: object.into(),
            text,
        });
    }
}

fn group_count<'a>(items: impl Iterator<Item = String> + 'a) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for k in items {
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

/// Checks one Odoo against the model of the stores syncing to it.
/// `books`: the Odoo's journals and stores for the checks of [`super::books`] (`None`: not checked).
pub fn check_odoo(
    odoo: usize,
    view: &OdooView,
    model: &Model,
    merchants: &[u64],
    books: Option<&super::books::Books<'_>>,
) -> OdooFindings {
    let mut f = OdooFindings::default();
    let tag = format!("odoo #{odoo} (v{})", view.version);
    let phone_field = if view.version >= 19 {
        "phone"
    } else {
        "mobile"
    };

    // Duplicates, whatever the model says.
    let top: Vec<&Value> = view
        .partners
        .iter()
        .filter(|p| id_of(&p["parent_id"]).is_none())
        .collect();
    for (what, counts) in [
        (
            "partners with ref",
            group_count(
                top.iter()
                    .map(|p| text(&p["ref"]).to_owned())
                    .filter(|r| r.starts_with("salla:")),
            ),
        ),
        (
            "partners with email",
            group_count(
                top.iter()
                    .map(|p| text(&p["email"]).to_lowercase())
                    .filter(|e| !e.is_empty()),
            ),
        ),
        (
            "products with code",
            group_count(
                view.products
                    .iter()
                    .map(|p| text(&p["default_code"]).to_owned())
                    .filter(|c| !c.is_empty()),
            ),
        ),
        (
            "categories named",
            group_count(view.categories.iter().map(|c| text(&c["name"]).to_owned())),
        ),
        (
            "sale orders with ref",
            group_count(
                view.orders
                    .iter()
                    .map(|o| text(&o["client_order_ref"]).to_owned())
                    .filter(|r| !r.is_empty()),
            ),
        ),
        (
            "delivery addresses",
            group_count(
                view.partners
                    .iter()
                    .filter(|p| id_of(&p["parent_id"]).is_some())
                    .map(|p| {
                        format!(
                            "{}|{}|{}|{}|{}|{}|{}",
                            id_of(&p["parent_id"]).unwrap_or_default(),
                            text(&p["name"]),
                            text(&p["street"]),
                            text(&p["street2"]),
                            text(&p["city"]),
                            text(&p["zip"]),
                            text(&p["email"])
                        )
                    }),
            ),
        ),
    ] {
        for (k, n) in counts {
            for _ in 1..n {
                f.duplicates.push(format!("{tag}: {n} {what} {k:?}"));
            }
        }
    }

    let by_id = |list: &[Value]| -> HashMap<i64, Value> {
        list.iter()
            .filter_map(|v| id_of(&v["id"]).map(|id| (id, v.clone())))
            .collect()
    };
    let products = by_id(&view.products);
    let categories = by_id(&view.categories);
    let pickings = by_id(&view.pickings);
    let moves = by_id(&view.moves);
    let mut lines_of: HashMap<i64, Vec<&Value>> = HashMap::new();
    for l in &view.lines {
        if let Some(o) = id_of(&l["order_id"]) {
            lines_of.entry(o).or_default().push(l);
        }
    }

    let ledger = super::books::Ledger::new(view);
    // Every product code that should exist, exists once (shared SKUs and charges included).
    let codes = model::expected_codes(model, merchants);
    for code in &codes {
        let n = view
            .products
            .iter()
            .filter(|p| text(&p["default_code"]) == code)
            .count();
        if n == 0 {
            f.miss("odoo", format!("{tag}: no product {code:?}"));
        }
    }
    // A product with options kept as separate products has a product of its own SKU too.
    let parents: std::collections::BTreeSet<&str> = merchants
        .iter()
        .filter_map(|m| model.stores.get(m))
        .flat_map(|s| s.products.values())
        .filter(|(_, p)| !p.variants.is_empty())
        .map(|(_, p)| p.sku.as_str())
        .collect();
    for p in &view.products {
        let code = text(&p["default_code"]);
        if parents.contains(code) {
            continue;
        }
        let ours =
            code.starts_with("CH") || code.starts_with("SHARED-") || code.starts_with("SALLA-");
        let seen = merchants
            .iter()
            .any(|m| model.seen_codes.get(m).is_some_and(|c| c.contains(code)));
        // The rounding product is also made for a credit note the tax rounding cannot bring to
        // Salla's refunded amount (which Odoo's taxes decide, not the model).
        let refund_rounding = code == super::books::ROUNDING_CODE
            && id_of(&p["id"]).is_some_and(|id| ledger.rounds_a_credit_note(id));
        if ours && !codes.contains(code) && !seen && !refund_rounding {
            f.miss(
                "odoo",
                format!("{tag}: unexpected product {code:?} ({})", text(&p["name"])),
            );
        }
    }

    for m in merchants {
        let Some(store) = model.stores.get(m) else {
            continue;
        };
        let mut partner_ids: HashMap<u64, i64> = HashMap::new();
        for (cid, (_, c)) in &store.customers {
            if let Some(pid) = check_customer(&mut f, &tag, phone_field, view, *m, c) {
                partner_ids.insert(*cid, pid);
            }
        }
        let addresses = store.addresses();
        let mut child_of: HashMap<(u64, usize), i64> = HashMap::new();
        for (cid, list) in &addresses {
            let Some(pid) = partner_ids.get(cid) else {
                continue;
            };
            let children: Vec<&Value> = view
                .partners
                .iter()
                .filter(|p| id_of(&p["parent_id"]) == Some(*pid))
                .collect();
            for (i, a) in list.iter().enumerate() {
                match children.iter().find(|p| same_address(p, a)) {
                    Some(p) => {
                        child_of.insert((*cid, i), id_of(&p["id"]).unwrap_or_default());
                    }
                    None => f.miss(
                        format!("customer:{m}:{cid}"),
                        format!(
                            "{tag}: customer {cid} of merchant {m}: no delivery address {} / {}",
                            a.street, a.city
                        ),
                    ),
                }
            }
            for p in &children {
                if !list.iter().any(|a| same_address(p, a)) {
                    f.miss(
                        format!("customer:{m}:{cid}"),
                        format!(
                            "{tag}: customer {cid} of merchant {m}: unexpected delivery address {} / {}",
                            text(&p["street"]),
                            text(&p["city"])
                        ),
                    );
                }
            }
        }
        for (_, p) in store.products.values() {
            check_product(&mut f, &tag, *m, view, &categories, p);
            if books.is_some() && !p.variants.is_empty() {
                super::books::check_variants(&mut f.accounting, &mut f.books, view, &tag, *m, p);
            }
        }
        for (_, o) in store.orders.values() {
            let address = addresses
                .get(&o.customer)
                .and_then(|l| l.iter().position(|a| *a == o.address))
                .and_then(|i| child_of.get(&(o.customer, i)).copied());
            let ctx = OrderCtx {
                tag: &tag,
                merchant: *m,
                partner: partner_ids.get(&o.customer).copied(),
                shipping: address,
                products: &products,
                pickings: &pickings,
                moves: &moves,
                lines_of: &lines_of,
                books: books.map(|b| (b, &ledger)),
            };
            check_order(&mut f, view, &ctx, store, o);
        }
    }
    if let Some(b) = books {
        super::books::check_returns(&mut f.accounting, &mut f.books, view, b, &tag, merchants);
    }
    f
}

fn same_address(p: &Value, a: &Address) -> bool {
    text(&p["type"]) == "delivery"
        && text(&p["name"]) == a.receiver
        && text(&p["street"]) == a.street
        && text(&p["street2"]) == a.block
        && text(&p["city"]) == a.city
        && text(&p["zip"]) == a.zip
        && text(&p["email"]) == a.email
}

fn check_customer(
    f: &mut OdooFindings,
    tag: &str,
    phone_field: &str,
    view: &OdooView,
    merchant: u64,
    c: &Customer,
) -> Option<i64> {
    let marker = format!("salla:{merchant}:{}", c.id);
    let found: Vec<&Value> = view
        .partners
        .iter()
        .filter(|p| text(&p["ref"]) == marker && id_of(&p["parent_id"]).is_none())
        .collect();
    let Some(p) = found.first() else {
        f.miss(
            format!("customer:{merchant}:{}", c.id),
            format!("{tag}: no partner {marker}"),
        );
        return None;
    };
    let want = [
        ("name", format!("{} {}", c.first, c.last)),
        ("email", c.email.clone()),
        (phone_field, format!("+966{}", c.mobile)),
        ("city", c.city.clone()),
    ];
    for (field, value) in want {
        if text(&p[field]) != value {
            f.miss(
                format!("customer:{merchant}:{}", c.id),
                format!(
                    "{tag}: partner {marker}: {field} is {:?}, expected {value:?}",
                    p[field]
                ),
            );
        }
    }
    if !p["country_id"]
        .get(1)
        .and_then(Value::as_str)
        .is_some_and(|n| n.contains("Saudi"))
    {
        f.miss(
            format!("customer:{merchant}:{}", c.id),
            format!(
                "{tag}: partner {marker}: country is {}, expected Saudi Arabia",
                p["country_id"]
            ),
        );
    }
    id_of(&p["id"])
}

fn check_product(
    f: &mut OdooFindings,
    tag: &str,
    merchant: u64,
    view: &OdooView,
    categories: &HashMap<i64, Value>,
    p: &Product,
) {
    let Some(rec) = view
        .products
        .iter()
        .find(|r| text(&r["default_code"]) == p.sku)
    else {
        return; // reported with the codes
    };
    let mut bad = Vec::new();
    if text(&rec["name"]) != p.name {
        bad.push(format!("name {:?}, expected {:?}", rec["name"], p.name));
    }
    if cents(&rec["list_price"]) != model::expected_list_price(p) {
        bad.push(format!(
            "list price {}, expected {:.2}",
            rec["list_price"],
            model::expected_list_price(p) as f64 / 100.0
        ));
    }
    if rec["active"].as_bool() != Some(!p.hidden) {
        bad.push(format!("active {}, expected {}", rec["active"], !p.hidden));
    }
    let category = id_of(&rec["categ_id"])
        .and_then(|id| categories.get(&id))
        .map(|c| text(&c["name"]).to_owned())
        .unwrap_or_default();
    if category != p.category {
        bad.push(format!("category {category:?}, expected {:?}", p.category));
    }
    if !bad.is_empty() {
        f.miss(
            format!("product:{merchant}:{}", p.id),
            format!("{tag}: product {}: {}", p.sku, bad.join("; ")),
        );
    }
}

struct OrderCtx<'a> {
    tag: &'a str,
    merchant: u64,
    partner: Option<i64>,
    shipping: Option<i64>,
    products: &'a HashMap<i64, Value>,
    pickings: &'a HashMap<i64, Value>,
    moves: &'a HashMap<i64, Value>,
    lines_of: &'a HashMap<i64, Vec<&'a Value>>,
    books: Option<(&'a super::books::Books<'a>, &'a super::books::Ledger<'a>)>,
}

fn check_order(
    f: &mut OdooFindings,
    view: &OdooView,
    ctx: &OrderCtx<'_>,
    _store: &StoreModel,
    o: &Order,
) {
    let marker = format!("salla:{}:{}", ctx.merchant, o.id);
    let Some(rec) = view
        .orders
        .iter()
        .find(|r| text(&r["client_order_ref"]) == marker)
    else {
        f.miss(
            format!("order:{}:{}", ctx.merchant, o.id),
            format!("{}: no sale order {marker}", ctx.tag),
        );
        return;
    };
    let mut bad = Vec::new();
    let oid = id_of(&rec["id"]).unwrap_or_default();
    if ctx.partner.is_some() && id_of(&rec["partner_id"]) != ctx.partner {
        bad.push(format!(
            "partner {}, expected {:?}",
            rec["partner_id"], ctx.partner
        ));
    }
    if ctx.shipping.is_some() && id_of(&rec["partner_shipping_id"]) != ctx.shipping {
        bad.push(format!(
            "shipping partner {}, expected {:?}",
            rec["partner_shipping_id"], ctx.shipping
        ));
    }
    let mut have: Vec<model::ExpectedLine> = ctx
        .lines_of
        .get(&oid)
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    let code = id_of(&l["product_id"])
                        .and_then(|p| ctx.products.get(&p))
                        .map(|p| text(&p["default_code"]).to_owned())
                        .unwrap_or_default();
                    let qty = l["product_uom_qty"].as_f64().unwrap_or_default().round() as u32;
                    let pct = l["discount"].as_f64().unwrap_or_default().round() as u32;
                    (code, qty, cents(&l["price_unit"]), pct)
                })
                .collect()
        })
        .unwrap_or_default();
    have.sort();
    let want = model::expected_lines(o);
    if have != want {
        bad.push(format!("lines {have:?}, expected {want:?}"));
    }
    let amount = model::expected_amount(o);
    for field in ["amount_untaxed", "amount_total"] {
        if (cents(&rec[field]) - amount).abs() > 1 {
            bad.push(format!(
                "{field} {}, expected {:.2}",
                rec[field],
                amount as f64 / 100.0
            ));
        }
    }
    // Invariant 11: Odoo's total is Salla's `amounts.total`, to the cent, in the order's currency.
    let salla_total = super::generator::salla_total(o);
    if cents(&rec["amount_total"]) != salla_total {
        bad.push(format!(
            "amount_total {} {}, Salla's total {:.2} {}",
            rec["amount_total"],
            rec["currency_id"]
                .get(1)
                .and_then(Value::as_str)
                .unwrap_or("?"),
            salla_total as f64 / 100.0,
            o.currency
        ));
    }
    let currency = rec["currency_id"].get(1).and_then(Value::as_str);
    if currency != Some(o.currency) {
        bad.push(format!(
            "currency {:?}, expected {} (Salla's)",
            currency, o.currency
        ));
    }
    let step = model::step(o.status).unwrap_or(Step::Quotation);
    let state = text(&rec["state"]);
    // Customer invoices only (a credit note is linked to the order too).
    let invoices: Vec<String> = ids(&rec["invoice_ids"])
        .iter()
        .filter_map(|m| ctx.moves.get(m))
        .filter(|m| text(&m["move_type"]) != "out_refund")
        .map(|m| text(&m["state"]).to_owned())
        .collect();
    let picking_states: Vec<String> = ids(&rec["picking_ids"])
        .iter()
        .filter_map(|p| ctx.pickings.get(p))
        .filter(|p| text(&p["picking_type_code"]) != "incoming")
        .map(|p| text(&p["state"]).to_owned())
        .collect();
    let expected_state = match step {
        Step::Quotation => "draft",
        Step::Confirm | Step::Complete => "sale",
        Step::Cancel => "cancel",
        // Refunded in full: credited if it had been invoiced, else cancelled (see books).
        Step::Refund if invoices.iter().any(|s| s == "posted") => "sale",
        Step::Refund if picking_states.iter().any(|s| s == "done") => state,
        Step::Refund => "cancel",
    };
    if state != expected_state && !(step == Step::Quotation && state == "sent") {
        bad.push(format!(
            "state {state:?}, expected {expected_state:?} (status {})",
            o.status
        ));
    }
    match step {
        Step::Complete => {
            if picking_states.is_empty() || picking_states.iter().any(|s| s != "done") {
                bad.push(format!("deliveries {picking_states:?}, expected all done"));
            }
            if invoices != ["posted"] {
                bad.push(format!("invoices {invoices:?}, expected one posted"));
            }
        }
        // Shipped by the warehouse in Odoo: Salla was told (`delivered`), and its echo changes
        // nothing more in Odoo (no invoice: Salla's status is the connector's own).
        Step::Confirm if o.status == model::SHIPPED_IN_ODOO => {
            if picking_states.is_empty()
                || picking_states.iter().any(|s| s != "done")
                || !invoices.is_empty()
            {
                bad.push(format!(
                    "deliveries {picking_states:?} / invoices {invoices:?}, expected all done (the \
                     warehouse shipped it) and none"
                ));
            }
        }
        Step::Confirm => {
            if picking_states.iter().any(|s| s == "done") || !invoices.is_empty() {
                bad.push(format!(
                    "deliveries {picking_states:?} / invoices {invoices:?}, expected open and none"
                ));
            }
        }
        Step::Quotation | Step::Cancel => {
            if invoices.iter().any(|s| s == "posted") {
                bad.push(format!("invoices {invoices:?}, expected none posted"));
            }
        }
        Step::Refund => {}
    }
    if !bad.is_empty() {
        f.miss(
            format!("order:{}:{}", ctx.merchant, o.id),
            format!(
                "{}: sale order {marker} ({}): {}",
                ctx.tag,
                text(&rec["name"]),
                bad.join("; ")
            ),
        );
    }
    if let Some((books, ledger)) = ctx.books {
        let mut wrong = Vec::new();
        super::books::check_order(
            &mut wrong,
            &mut f.duplicates,
            &mut f.books,
            ledger,
            books,
            ctx.merchant,
            rec,
            o,
            picking_states.iter().any(|s| s == "done"),
        );
        if !wrong.is_empty() {
            f.accounting.push(Mismatch {
                object: format!("order:{}:{}", ctx.merchant, o.id),
                text: format!(
                    "{}: books of sale order {marker} ({}, {} {}, {}): {}",
                    ctx.tag,
                    text(&rec["name"]),
                    o.status,
                    o.payment_method,
                    if o.refunded > 0 {
                        format!("refunded {:.2}", o.refunded as f64 / 100.0)
                    } else {
                        "no partial refund".to_owned()
                    },
                    wrong.join("; ")
                ),
            });
        }
    }
}
