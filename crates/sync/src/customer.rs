//! Customers → `res.partner` (+ `delivery` children for shipping addresses).
//!
//! Matching order: id map, then the `ref` marker `salla:<merchant>:<customer id>` (finds what an attempt
//! whose answer was lost created), then the email (case-insensitive, exact), then the normalised phone;
//! else create. A matched partner gets the marker, so the next look-up is exact.

use odoo::{Domain, Id, Record, SearchOptions};
use salla_odoo_salla::payload::{Customer, Shipping};
use serde_json::{Map, Value, json};

use crate::engine::{Engine, marker, several};
use crate::error::Res;
use crate::idmap::{self, IdMap, entity};
use crate::version::{source_version, stale_reason};

/// The partner fields a Salla customer maps to (country resolved separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerInput {
    pub name: String,
    pub email: Option<String>,
    /// `+<digits>`, country code included.
    pub phone: Option<String>,
    pub city: Option<String>,
    pub country_code: Option<String>,
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The digits of a phone number, without the international `00` prefix.
pub fn phone_digits(s: &str) -> String {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    d.strip_prefix("00").map(str::to_owned).unwrap_or(d)
}

/// `mobile_code` + `mobile` as `+<digits>`: `("+966", "501806978")` → `+966501806978`. A mobile that
/// already carries the code (`"+96652318526"`) is kept; a local trunk `0` is dropped after a code.
pub fn normalise_phone(code: Option<&str>, mobile: Option<&str>) -> Option<String> {
    let raw = mobile.map(str::trim).filter(|m| !m.is_empty())?;
    let explicit = raw.starts_with('+') || raw.starts_with("00");
    let number = phone_digits(raw);
    if number.is_empty() {
        return None;
    }
    let code = code.map(phone_digits).unwrap_or_default();
    let full = if explicit || code.is_empty() || number.starts_with(&code) && number.len() > 10 {
        number
    } else {
        format!("{code}{}", number.trim_start_matches('0'))
    };
    Some(format!("+{full}"))
}

/// Whether two phone numbers are the same line: equal digits, or one is the other without its country code
/// (a local number, possibly with a trunk `0`, of at least 8 digits).
pub fn same_phone(a: &str, b: &str) -> bool {
    let (a, b) = (phone_digits(a), phone_digits(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a == b {
        return true;
    }
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let short = short.trim_start_matches('0');
    short.len() >= 8 && short.len() < long.len() && long.ends_with(short)
}

/// The customer's display name: first + last name, else `name` (some payloads carry only that), else the
/// email, else `Salla customer <id>`.
pub fn customer_name(c: &Customer, raw_name: Option<&str>) -> String {
    let full = [c.first_name.as_deref(), c.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if !full.is_empty() {
        return full;
    }
    non_empty(raw_name)
        .or_else(|| non_empty(c.email.as_deref()))
        .unwrap_or_else(|| format!("Salla customer {}", c.id))
}

/// The partner input of a Salla customer; `raw` is the customer's JSON (for `name`, which the typed model
/// does not carry).
pub fn partner_input(c: &Customer, raw: &Value) -> PartnerInput {
    PartnerInput {
        name: customer_name(c, raw.get("name").and_then(Value::as_str)),
        email: non_empty(c.email.as_deref()),
        phone: normalise_phone(c.mobile_code.as_deref(), c.mobile.as_deref()),
        city: non_empty(c.city.as_deref()),
        country_code: non_empty(c.country_code.as_deref())
            .or_else(|| non_empty(c.country.as_deref()).filter(|c| c.len() == 2)),
    }
}

/// `res.partner` values for a customer. Absent data never clears what Odoo has. The number goes to `mobile`
/// where the server has it (≤ 18), else to `phone`.
pub fn partner_vals(
    p: &PartnerInput,
    country_id: Option<Id>,
    use_mobile: bool,
    marker: &str,
) -> Map<String, Value> {
    let mut v = Map::new();
    v.insert("name".into(), json!(p.name));
    v.insert("ref".into(), json!(marker));
    if let Some(e) = &p.email {
        v.insert("email".into(), json!(e));
    }
    if let Some(ph) = &p.phone {
        v.insert(
            if use_mobile { "mobile" } else { "phone" }.into(),
            json!(ph),
        );
    }
    if let Some(c) = &p.city {
        v.insert("city".into(), json!(c));
    }
    if let Some(c) = country_id {
        v.insert("country_id".into(), json!(c));
    }
    v
}

/// `res.partner` values of the delivery child for a Salla shipping block (`None` without an address).
pub fn delivery_vals(
    shipping: &Shipping,
    fallback_name: &str,
    parent_id: Id,
    country_id: Option<Id>,
) -> Option<Map<String, Value>> {
    let addr = shipping.address.as_ref()?;
    let receiver = shipping.receiver.as_ref();
    let street = non_empty(addr.street_number.as_deref())
        .or_else(|| non_empty(addr.shipping_address.as_deref()));
    let mut v = Map::new();
    v.insert("parent_id".into(), json!(parent_id));
    v.insert("type".into(), json!("delivery"));
    v.insert(
        "name".into(),
        json!(
            non_empty(receiver.and_then(|r| r.name.as_deref()))
                .unwrap_or_else(|| fallback_name.to_owned())
        ),
    );
    v.insert("street".into(), json!(street.unwrap_or_default()));
    v.insert(
        "street2".into(),
        json!(non_empty(addr.block.as_deref()).unwrap_or_default()),
    );
    v.insert(
        "city".into(),
        json!(non_empty(addr.city.as_deref()).unwrap_or_default()),
    );
    v.insert(
        "zip".into(),
        json!(non_empty(addr.postal_code.as_deref()).unwrap_or_default()),
    );
    v.insert(
        "country_id".into(),
        country_id.map_or(json!(false), |c| json!(c)),
    );
    if let Some(ph) = receiver.and_then(|r| normalise_phone(None, r.phone.as_deref())) {
        v.insert("phone".into(), json!(ph));
    }
    if let Some(e) = receiver.and_then(|r| non_empty(r.email.as_deref())) {
        v.insert("email".into(), json!(e));
    }
    Some(v)
}

/// The country code of a shipping block (`country_code`, else a two-letter `country`).
pub fn shipping_country(shipping: &Shipping) -> Option<String> {
    let a = shipping.address.as_ref()?;
    non_empty(a.country_code.as_deref())
        .or_else(|| non_empty(a.country.as_deref()).filter(|c| c.len() == 2))
}

/// A partner matched by email or phone that already carries someone else's reference (the merchant's own
/// customer code, or another store's marker) keeps it; the id map finds it from now on.
pub fn keep_foreign_ref(current: &Record, mut vals: Map<String, Value>) -> Map<String, Value> {
    let have = current
        .get("ref")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !have.is_empty() && Some(have) != vals.get("ref").and_then(Value::as_str) {
        vals.remove("ref");
    }
    vals
}

/// Every field [`delivery_vals`] may set.
const DELIVERY_FIELDS: &[&str] = &[
    "parent_id",
    "type",
    "name",
    "street",
    "street2",
    "city",
    "zip",
    "country_id",
    "phone",
    "email",
];

/// Whether the child made with a partner (`made`, without `parent_id`) has exactly these values.
fn made_as(made: &Map<String, Value>, vals: &Map<String, Value>) -> bool {
    vals.iter()
        .filter(|(k, _)| k.as_str() != "parent_id")
        .count()
        == made.len()
        && made.iter().all(|(k, v)| vals.get(k) == Some(v))
}

/// The first of `children` with exactly these values.
fn identical(children: &[Record], vals: &Map<String, Value>) -> Option<Id> {
    children
        .iter()
        .find(|c| crate::engine::diff(c, vals).is_empty())
        .and_then(|c| c.get("id").and_then(Value::as_i64))
}

const PARTNER_FIELDS: &[&str] = &["name", "email", "phone", "city", "country_id", "ref"];

/// Rows asked for when matching a partner by marker and email at once.
const MATCH_LIMIT: usize = 6;

/// A record found by `search_read`, with its id.
fn with_id(rec: Record) -> (Id, Record) {
    (
        rec.get("id").and_then(Value::as_i64).unwrap_or_default(),
        rec,
    )
}

/// Rows asked for when matching a partner by marker and phone at once (as many as the phone's own
/// look-up asks for).
const PHONE_LIMIT: usize = 20;

/// What this job knows of a partner's delivery addresses, kept for
/// [`Engine::ensure_delivery_address`].
#[derive(Debug, Clone)]
pub(crate) enum KeptAddresses {
    /// Its active delivery children, read with the partner.
    Read(Vec<Record>),
    /// Its only child, a delivery address made with it in this job (these values, `parent_id`
    /// aside); its id was not read back.
    Made(Map<String, Value>),
}

/// Where an order ships to ([`Engine::ensure_delivery_address`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShipTo {
    /// The shipping block has no address.
    NoAddress,
    /// This delivery child.
    Child(Id),
    /// The delivery child made with the customer in this job, its id not read back: a sale order
    /// created for the customer without `partner_shipping_id` gets it from Odoo, whose
    /// `_compute_partner_shipping_id` (16+) takes `partner_id.address_get(['delivery'])`: the
    /// partner's first active delivery child, and this is its only child.
    LeftToOdoo,
}

/// The marker's partner and the partners another domain finds, asked together
/// ([`Engine::marker_or`]).
enum Together {
    /// The marker's partner (it takes precedence).
    Marked((Id, Record)),
    /// No partner has the marker; every partner the other domain finds.
    Others(Vec<Record>),
    /// The limit cut the rows: the marker's partner may be further down.
    Cut,
}

impl<M: IdMap> Engine<'_, M> {
    fn partner_fields(&self) -> Vec<&'static str> {
        let mut f = PARTNER_FIELDS.to_vec();
        if self.caps.partner_mobile {
            f.push("mobile");
        }
        f
    }

    /// Finds or creates the partner of a Salla customer and brings it up to date (unless the id map has a
    /// newer version). Returns the partner id. `raw` is the customer JSON.
    ///
    /// The whole read-compare-write runs under the customer's fleet-wide lock: a customer job and an
    /// order job carrying the same customer must not interleave, or the older data could be written
    /// after the newer (and two partners could be created).
    pub async fn ensure_customer(
        &self,
        c: &Customer,
        raw: &Value,
        fallback_version: i64,
    ) -> Res<Id> {
        self.ensure_customer_with(c, raw, fallback_version, None)
            .await
    }

    /// [`Engine::ensure_customer`] for an order shipped to `address` ([`delivery_vals`]): a
    /// partner made now is made with that delivery child in the same `create` (one Odoo call
    /// instead of two, and no moment when the partner exists without it), and the child is kept
    /// for [`Engine::ensure_delivery_address`].
    pub async fn ensure_customer_with(
        &self,
        c: &Customer,
        raw: &Value,
        fallback_version: i64,
        address: Option<&Map<String, Value>>,
    ) -> Res<Id> {
        let guard = self.lock(&format!("partner:{}", c.id)).await?;
        let result = self
            .ensure_customer_locked(c, raw, fallback_version, address)
            .await;
        guard.release().await;
        result
    }

    async fn ensure_customer_locked(
        &self,
        c: &Customer,
        raw: &Value,
        fallback_version: i64,
        address: Option<&Map<String, Value>>,
    ) -> Res<Id> {
        let merchant = self.merchant();
        let version = match c.updated_at.as_ref() {
            Some(_) => source_version(c.updated_at.as_ref(), self.created_at),
            None => fallback_version,
        };
        let mark = marker(merchant, c.id);
        let input = partner_input(c, raw);
        let mapped = idmap::get(self.ids, merchant, entity::CUSTOMER, c.id).await?;
        let fields = self.partner_fields();

        let mut found: Option<(Id, Record)> = None;
        if let Some(m) = mapped {
            if stale_reason(entity::CUSTOMER, c.id, m.source_version, version).is_some() {
                // Newer data is already in Odoo: use the partner, change nothing, read nothing (the
                // id map names it; partners are archived, not deleted, and an order naming one that
                // was deleted fails in Odoo rather than writing anything).
                self.touch("res.partner", m.odoo_id);
                return Ok(m.odoo_id);
            } else if let Some(rec) = self.partner_with_addresses(m.odoo_id, &fields).await? {
                found = Some((m.odoo_id, rec));
            }
        }
        if found.is_none() {
            found = self.match_partner(&mark, &input, &fields).await?;
        }
        let country_id = self.country_id(input.country_code.as_deref()).await?;
        let vals = partner_vals(&input, country_id, self.caps.partner_mobile, &mark);
        let created = found.is_none();
        let written = match found {
            Some((id, rec)) => self
                .write_diff("res.partner", id, &rec, &keep_foreign_ref(&rec, vals))
                .await
                .map(|_| id),
            // Under the customer's lock, nobody else is creating it.
            None => {
                let mut vals = vals;
                if let Some(a) = address {
                    let mut child = a.clone();
                    child.remove("parent_id");
                    vals.insert("child_ids".into(), json!([[0, 0, child]]));
                }
                self.odoo
                    .create("res.partner", vals)
                    .await
                    .map_err(Into::into)
            }
        };
        if written.is_err() && country_id.is_some() {
            // The kept country id may be what Odoo refused: the retry asks again (the address's
            // country is forgotten by the caller).
            self.forget_countries(&[input.country_code.as_deref()]);
        }
        let id = written?;
        if created {
            // A partner made now has no delivery addresses but the one made with it: the order's
            // address look-up need not ask, and the child's id is not read back (an order created
            // now gets it from Odoo, see `ShipTo::LeftToOdoo`).
            let kept = match address {
                // Taken under the customer's lock, so before any other job can know the partner:
                // until the order is created, another job's new address for it waits (Odoo
                // would pick the first of two by name). Not had: the order's look-up asks.
                Some(a) => match self.lock(&format!("delivery:{id}")).await {
                    Ok(hold) => {
                        *self.address_hold.lock().unwrap_or_else(|p| p.into_inner()) = Some(hold);
                        let mut child = a.clone();
                        child.remove("parent_id");
                        Some(KeptAddresses::Made(child))
                    }
                    Err(_) => None,
                },
                None => Some(KeptAddresses::Read(Vec::new())),
            };
            *self.addresses.lock().unwrap_or_else(|p| p.into_inner()) = kept.map(|kept| (id, kept));
        }
        idmap::put(
            self.ids,
            merchant,
            entity::CUSTOMER,
            c.id,
            "res.partner",
            id,
            version,
        )
        .await?;
        self.touch("res.partner", id);
        Ok(id)
    }

    /// The partner `id` (archived included) read with `fields`, and in the same `search_read` its
    /// active delivery addresses, kept for [`Engine::ensure_delivery_address`] (an order's customer
    /// and its address cost one call, not two).
    async fn partner_with_addresses(&self, id: Id, fields: &[&str]) -> Res<Option<Record>> {
        let mut all: Vec<&str> = fields.to_vec();
        for f in DELIVERY_FIELDS {
            if !all.contains(f) {
                all.push(f);
            }
        }
        // Naming `active` lifts Odoo's implicit active filter for the whole domain: each side
        // says what it wants.
        let domain = Domain::or(
            Domain::new().eq("id", id).is_in("active", [true, false]),
            Domain::new()
                .eq("parent_id", id)
                .eq("type", "delivery")
                .eq("active", true),
        );
        let recs: Vec<Record> = self
            .odoo
            .search_read(
                "res.partner",
                &domain,
                &all,
                &SearchOptions {
                    order: Some("id".into()),
                    ..Default::default()
                },
            )
            .await?;
        let (mut me, children): (Vec<Record>, Vec<Record>) = recs
            .into_iter()
            .partition(|r| r.get("id").and_then(Value::as_i64) == Some(id));
        *self.addresses.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((id, KeptAddresses::Read(children)));
        Ok(me.pop())
    }

    /// Marker, then email, then phone, among top-level partners (archived included for the marker).
    /// The marker is asked in one look-up with the email, or without an email with the phone (the
    /// usual case for a new customer: one Odoo call fewer per order).
    async fn match_partner(
        &self,
        mark: &str,
        input: &PartnerInput,
        fields: &[&str],
    ) -> Res<Option<(Id, Record)>> {
        let by_ref = || Domain::new().eq("ref", mark).is_in("active", [true, false]);
        let by_email = |email: &str| {
            Domain::new()
                .eq("parent_id", false)
                .leaf("email", "=ilike", email)
        };
        // Marker, email and phone in one look-up, for whichever of the two the customer has: its
        // rows (the marker's aside) are confirmed exactly below, the email's before the phone's,
        // so one list serves both.
        let together = match (&input.email, &input.phone) {
            (Some(email), Some(phone)) => Some((
                Domain::or(by_email(email), self.phone_domain(phone)),
                MATCH_LIMIT + PHONE_LIMIT,
            )),
            (Some(email), None) => Some((by_email(email), MATCH_LIMIT)),
            (None, Some(phone)) => Some((self.phone_domain(phone), PHONE_LIMIT)),
            (None, None) => None,
        };
        let mut asked: Option<Vec<Record>> = None;
        if let Some((other, limit)) = together {
            match self.marker_or(mark, other, limit, fields).await? {
                Together::Marked(found) => return Ok(Some(found)),
                Together::Others(others) => asked = Some(others),
                // Asked apart below.
                Together::Cut => {}
            }
        }
        // Partners with the customer's address, to confirm exactly below.
        let by_address = match (&asked, &input.email) {
            (Some(rows), Some(_)) => Some(rows.clone()),
            (Some(_), None) => None,
            (None, email) => {
                if let Some(id) = self.find_one("res.partner", by_ref(), mark).await? {
                    return Ok(self.read("res.partner", id, fields).await?.map(|r| (id, r)));
                }
                match email {
                    Some(email) => Some(
                        self.odoo
                            .search_read(
                                "res.partner",
                                &by_email(email),
                                fields,
                                &SearchOptions {
                                    limit: Some(5),
                                    order: Some("id".into()),
                                    ..Default::default()
                                },
                            )
                            .await?,
                    ),
                    None => None,
                }
            }
        };
        if let (Some(recs), Some(email)) = (by_address, &input.email) {
            // `=ilike` treats `_` and `%` as wildcards: confirm the exact address.
            if let Some(rec) = recs.into_iter().find(|r| {
                r.get("email")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.trim().eq_ignore_ascii_case(email))
            }) {
                return Ok(Some(with_id(rec)));
            }
        }
        if let Some(phone) = &input.phone {
            let recs: Vec<Record> = match asked {
                Some(recs) => recs,
                None => {
                    self.odoo
                        .search_read(
                            "res.partner",
                            &self.phone_domain(phone),
                            fields,
                            &SearchOptions {
                                limit: Some(PHONE_LIMIT as u32),
                                order: Some("id".into()),
                                ..Default::default()
                            },
                        )
                        .await?
                }
            };
            // The pattern is loose: confirm the normalised number.
            if let Some(rec) = recs.into_iter().find(|r| {
                ["phone", "mobile"].iter().any(|f| {
                    r.get(*f)
                        .and_then(Value::as_str)
                        .is_some_and(|p| same_phone(p, phone))
                })
            }) {
                return Ok(Some(with_id(rec)));
            }
        }
        Ok(None)
    }

    /// Top-level partners whose number may be `phone`. Stored numbers are formatted freely
    /// ("0555 555 555"): the last 7 digits with anything between them, to confirm with
    /// [`same_phone`]. Odoo's implicit active filter applies (the domain does not name `active`).
    fn phone_domain(&self, phone: &str) -> Domain {
        let digits = phone_digits(phone);
        let tail: Vec<String> = digits[digits.len().saturating_sub(7)..]
            .chars()
            .map(String::from)
            .collect();
        // `=ilike` takes the pattern as given (no implicit `%…%`): numbers ending in these digits.
        let pattern = format!("%{}", tail.join("%"));
        let pattern = pattern.as_str();
        let top = Domain::new().eq("parent_id", false);
        if self.caps.partner_mobile {
            top.and(Domain::or(
                Domain::new().leaf("phone", "=ilike", pattern),
                Domain::new().leaf("mobile", "=ilike", pattern),
            ))
        } else {
            top.leaf("phone", "=ilike", pattern)
        }
    }

    /// One `search_read` (by id, at most `limit` rows) for the marker's partner, archived
    /// included, and the active partners `other` finds.
    async fn marker_or(
        &self,
        mark: &str,
        other: Domain,
        limit: usize,
        fields: &[&str],
    ) -> Res<Together> {
        // Naming `active` lifts Odoo's implicit active filter for the whole domain: each side
        // says what it wants.
        let by_ref = Domain::new().eq("ref", mark).is_in("active", [true, false]);
        let recs: Vec<Record> = self
            .odoo
            .search_read(
                "res.partner",
                &Domain::or(by_ref, other.eq("active", true)),
                fields,
                &SearchOptions {
                    limit: Some(limit as u32),
                    order: Some("id".into()),
                    ..Default::default()
                },
            )
            .await?;
        // `ref` tells the marker's partner from the others (PARTNER_FIELDS has it).
        debug_assert!(fields.contains(&"ref"));
        let (mut marked, others): (Vec<Record>, Vec<Record>) = recs
            .into_iter()
            .partition(|r| r.get("ref").and_then(Value::as_str) == Some(mark));
        Ok(match marked.len() {
            0 if others.len() < limit => Together::Others(others),
            0 => Together::Cut,
            1 => Together::Marked(with_id(marked.remove(0))),
            _ => return Err(several("res.partner", mark)),
        })
    }

    /// The delivery child for a shipping block: an identical existing one is reused, else one is created.
    /// `new_order`: the order is to be created (not updated), so the child made with its customer
    /// in this job can be left to Odoo ([`ShipTo::LeftToOdoo`]); an update names it (it is looked
    /// up).
    pub(crate) async fn ensure_delivery_address(
        &self,
        shipping: &Shipping,
        parent_id: Id,
        fallback_name: &str,
        new_order: bool,
    ) -> Res<ShipTo> {
        let country_id = self
            .country_id(shipping_country(shipping).as_deref())
            .await?;
        let Some(vals) = delivery_vals(shipping, fallback_name, parent_id, country_id) else {
            return Ok(ShipTo::NoAddress);
        };
        // The addresses read (or made) with the customer in this job, else a look-up.
        let kept = self
            .addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|(p, _)| *p == parent_id)
            .map(|(_, kept)| kept);
        let hit = match kept {
            Some(KeptAddresses::Read(children)) => identical(&children, &vals),
            Some(KeptAddresses::Made(child)) if new_order && made_as(&child, &vals) => {
                // Its id is not known here, so it is missing from the job's `odoo_ids`; the next
                // job for the order finds it with the customer and names it.
                return Ok(ShipTo::LeftToOdoo);
            }
            Some(KeptAddresses::Made(_)) | None => self.identical_child(parent_id, &vals).await?,
        };
        // The order names its address: no need to hold the partner's addresses still (and the
        // lock below is the same one).
        self.release_address_hold().await;
        if let Some(id) = hit {
            self.touch("res.partner", id);
            return Ok(ShipTo::Child(id));
        }
        let guard = self.lock(&format!("delivery:{parent_id}")).await?;
        let id = match self.identical_child(parent_id, &vals).await {
            Ok(Some(id)) => Ok(id),
            Ok(None) => self
                .odoo
                .create("res.partner", vals)
                .await
                .map_err(Into::into),
            Err(e) => Err(e),
        };
        guard.release().await;
        if id.is_err() && country_id.is_some() {
            self.forget_countries(&[shipping_country(shipping).as_deref()]);
        }
        let id = id?;
        self.touch("res.partner", id);
        Ok(ShipTo::Child(id))
    }

    /// The delivery children of `parent_id`, with every field [`delivery_vals`] may set.
    async fn delivery_children(&self, parent_id: Id) -> Res<Vec<Record>> {
        Ok(self
            .odoo
            .search_read(
                "res.partner",
                &Domain::new()
                    .eq("parent_id", parent_id)
                    .eq("type", "delivery"),
                DELIVERY_FIELDS,
                &SearchOptions {
                    order: Some("id".into()),
                    ..Default::default()
                },
            )
            .await?)
    }

    /// A delivery child of `parent_id` with exactly these values.
    async fn identical_child(&self, parent_id: Id, vals: &Map<String, Value>) -> Res<Option<Id>> {
        Ok(identical(&self.delivery_children(parent_id).await?, vals))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(v: Value) -> Customer {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn phones_normalise_to_international_digits() {
        assert_eq!(
            normalise_phone(Some("+966"), Some("501806978")).as_deref(),
            Some("+966501806978")
        );
        assert_eq!(
            normalise_phone(Some("+966"), Some("0501806978")).as_deref(),
            Some("+966501806978")
        );
        assert_eq!(
            normalise_phone(None, Some("+96652318526")).as_deref(),
            Some("+96652318526")
        );
        assert_eq!(
            normalise_phone(Some("+966"), Some("+96652318526")).as_deref(),
            Some("+96652318526")
        );
        assert_eq!(
            normalise_phone(Some("966"), Some("00966 50 180 6978")).as_deref(),
            Some("+966501806978")
        );
        assert_eq!(normalise_phone(Some("+966"), Some("  ")), None);
        assert_eq!(normalise_phone(Some("+966"), None), None);
    }

    #[test]
    fn phones_compare_normalised() {
        assert!(same_phone("+966 50 180 6978", "00966501806978"));
        assert!(same_phone("0501806978", "+966501806978"));
        assert!(!same_phone("+966501806978", "+966501806979"));
        assert!(!same_phone("6978", "+966501806978"));
        assert!(!same_phone("", ""));
    }

    #[test]
    fn partner_values_follow_the_server() {
        let c = customer(
            json!({"id": 225167971, "first_name": "User", "last_name": "Mohammed",
            "mobile": 555555555, "mobile_code": "+966", "email": "test@gmail.com", "city": "الرياض",
            "country": "السعودية", "country_code": "SA"}),
        );
        let input = partner_input(&c, &json!({}));
        assert_eq!(input.name, "User Mohammed");
        assert_eq!(input.country_code.as_deref(), Some("SA"));
        let v = partner_vals(&input, Some(192), true, "salla:1:225167971");
        assert_eq!(v["mobile"], json!("+966555555555"));
        assert_eq!(v["ref"], json!("salla:1:225167971"));
        assert_eq!(v["country_id"], json!(192));
        assert!(!v.contains_key("phone"));
        let v19 = partner_vals(&input, None, false, "m");
        assert_eq!(v19["phone"], json!("+966555555555"));
        assert!(!v19.contains_key("mobile") && !v19.contains_key("country_id"));
    }

    #[test]
    fn a_foreign_reference_is_kept() {
        let vals = partner_vals(
            &partner_input(&customer(json!({"id": 1})), &json!({})),
            None,
            true,
            "salla:1:1",
        );
        let theirs: Record = serde_json::from_value(json!({"ref": "C-001"})).unwrap();
        assert!(!keep_foreign_ref(&theirs, vals.clone()).contains_key("ref"));
        let empty: Record = serde_json::from_value(json!({"ref": false})).unwrap();
        assert_eq!(
            keep_foreign_ref(&empty, vals.clone())["ref"],
            json!("salla:1:1")
        );
        let ours: Record = serde_json::from_value(json!({"ref": "salla:1:1"})).unwrap();
        assert_eq!(keep_foreign_ref(&ours, vals)["ref"], json!("salla:1:1"));
    }

    #[test]
    fn names_fall_back_in_order() {
        let only_name = customer(json!({"id": 1, "mobile": "+96652318526", "email": "a@b.c"}));
        assert_eq!(customer_name(&only_name, Some("Test Salla")), "Test Salla");
        assert_eq!(customer_name(&only_name, None), "a@b.c");
        let nothing = customer(json!({"id": 9}));
        assert_eq!(customer_name(&nothing, Some("  ")), "Salla customer 9");
        let missing = partner_input(&nothing, &json!({}));
        let v = partner_vals(&missing, None, true, "m");
        assert!(!v.contains_key("email") && !v.contains_key("mobile") && !v.contains_key("city"));
    }

    #[test]
    fn shipping_address_becomes_a_delivery_child() {
        let s: Shipping = serde_json::from_value(json!({
            "receiver": {"name": "Mohammed Ali", "email": "usertest@gmail.com", "phone": "999123456789"},
            "address": {"country": "SA", "country_code": "SA", "city": "جدة",
                "shipping_address": " شارع ابو امية الضمري", "street_number": "ابو امية الضمري",
                "block": "الزهراء", "postal_code": ""}
        }))
        .unwrap();
        assert_eq!(shipping_country(&s).as_deref(), Some("SA"));
        let v = delivery_vals(&s, "fallback", 7, Some(192)).unwrap();
        assert_eq!(v["parent_id"], json!(7));
        assert_eq!(v["type"], json!("delivery"));
        assert_eq!(v["name"], json!("Mohammed Ali"));
        assert_eq!(v["street"], json!("ابو امية الضمري"));
        assert_eq!(v["street2"], json!("الزهراء"));
        assert_eq!(v["zip"], json!(""));
        assert_eq!(v["phone"], json!("+999123456789"));
        let none: Shipping = serde_json::from_value(json!({"id": 1})).unwrap();
        assert!(delivery_vals(&none, "x", 7, None).is_none());
    }
}
