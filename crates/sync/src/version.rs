//! Source versions: the watermark that keeps an older event from overwriting newer state.
//!
//! Salla sends no sequence numbers. The version of an event is the changed object's own `updated_at` when the
//! payload has one, else the envelope's `created_at`; both have one-second resolution and are turned into Unix
//! seconds. Equal versions are not stale (events of the same second are applied in arrival order).

use salla_odoo_salla::Envelope;
use salla_odoo_salla::lenient::SallaDate;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

const PLAIN: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// Riyadh has no daylight saving time: UTC+3 all year.
const RIYADH_SECONDS: i32 = 3 * 3600;

fn offset_of(timezone: Option<&str>) -> UtcOffset {
    let secs = match timezone.map(str::trim) {
        Some("UTC" | "Z" | "GMT" | "Etc/UTC") => 0,
        Some(tz) if tz.starts_with('+') || tz.starts_with('-') => {
            parse_offset(tz).unwrap_or(RIYADH_SECONDS)
        }
        _ => RIYADH_SECONDS,
    };
    UtcOffset::from_whole_seconds(secs).unwrap_or(UtcOffset::UTC)
}

fn parse_offset(tz: &str) -> Option<i32> {
    let sign = if tz.starts_with('-') { -1 } else { 1 };
    let digits: String = tz[1..].chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 4 {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

/// A date inside `data` (`"2022-06-26 12:21:45.000000"` with a zone name, or a plain string taken as
/// Asia/Riyadh) as an instant.
pub fn salla_date_instant(d: &SallaDate) -> Option<OffsetDateTime> {
    let s = d.date.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Some(t);
    }
    let head = s.get(..19)?;
    let t = PrimitiveDateTime::parse(head, PLAIN).ok()?;
    Some(t.assume_offset(offset_of(d.timezone.as_deref())))
}

/// The envelope's `created_at` (`"Sun Jun 26 2022 12:21:48 GMT+0300"` or `"2022-12-31 12:31:25"`) in Unix
/// seconds.
pub fn envelope_unix(created_at: &str) -> Option<i64> {
    let env = Envelope {
        event: String::new(),
        merchant: 0,
        created_at: created_at.to_owned(),
        data: serde_json::Value::Null,
    };
    env.created_at_instant().map(OffsetDateTime::unix_timestamp)
}

/// The source version of an event: the object's `updated_at` when present and readable, else the
/// envelope's `created_at`, in Unix seconds; 0 when neither can be read (such an event is never newer than
/// anything recorded, and never makes anything recorded stale).
pub fn source_version(updated_at: Option<&SallaDate>, envelope_created_at: &str) -> i64 {
    updated_at
        .and_then(salla_date_instant)
        .map(OffsetDateTime::unix_timestamp)
        .or_else(|| envelope_unix(envelope_created_at))
        .unwrap_or(0)
}

/// `Some(reason)` when the recorded version is newer than this event's.
pub fn stale_reason(entity: &str, salla_id: u64, recorded: i64, event: i64) -> Option<String> {
    (recorded > event).then(|| {
        format!("stale: {entity} {salla_id} was synced at source version {recorded}, this event is {event}")
    })
}

/// Odoo's datetime format (UTC, no zone): `2022-06-26 09:21:45`.
pub fn odoo_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str, tz: Option<&str>) -> SallaDate {
        SallaDate {
            date: s.into(),
            timezone: tz.map(Into::into),
        }
    }

    #[test]
    fn object_dates_are_riyadh_time_unless_named() {
        let a =
            salla_date_instant(&date("2022-06-26 12:21:45.000000", Some("Asia/Riyadh"))).unwrap();
        let b = salla_date_instant(&date("2022-06-26 12:21:45", None)).unwrap();
        let c = salla_date_instant(&date("2022-06-26 09:21:45", Some("UTC"))).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(odoo_datetime(a), "2022-06-26 09:21:45");
        assert!(salla_date_instant(&date("soon", None)).is_none());
    }

    #[test]
    fn both_envelope_formats_give_the_same_seconds() {
        let a = envelope_unix("Sun Jun 26 2022 12:21:48 GMT+0300").unwrap();
        let b = envelope_unix("2022-06-26 12:21:48").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, 1_656_235_308);
        assert_eq!(envelope_unix("yesterday"), None);
    }

    #[test]
    fn updated_at_wins_over_the_envelope_and_zero_is_the_floor() {
        let upd = date("2022-06-22 10:20:14.000000", Some("Asia/Riyadh"));
        let v = source_version(Some(&upd), "Sun Jun 26 2022 12:21:48 GMT+0300");
        assert_eq!(v, salla_date_instant(&upd).unwrap().unix_timestamp());
        assert_eq!(
            source_version(None, "Sun Jun 26 2022 12:21:48 GMT+0300"),
            1_656_235_308
        );
        let bad = date("garbage", None);
        assert_eq!(
            source_version(Some(&bad), "2022-06-26 12:21:48"),
            1_656_235_308
        );
        assert_eq!(source_version(None, "?"), 0);
    }

    #[test]
    fn only_strictly_newer_records_make_an_event_stale() {
        assert!(
            stale_reason("order", 1, 10, 9)
                .unwrap()
                .starts_with("stale: ")
        );
        assert_eq!(stale_reason("order", 1, 10, 10), None);
        assert_eq!(stale_reason("order", 1, 9, 10), None);
    }
}
