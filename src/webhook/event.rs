//! What a verified webhook body may say: the Vexilla-style event
//! (`{"event":"flag.updated","flag_keys":[...],"timestamp":"..."}`) or Flagr 1.2's notifier
//! payload (`{"operation":"update","flag_id":N,"flag_key":"...",...}`), turned into the flag
//! changes to apply. Anything else is refused with a message saying what was wrong.

use serde_json::Value;
use thiserror::Error;

/// The most flags one event may name.
pub const MAX_FLAGS_PER_EVENT: usize = 1000;

/// Which flag a change is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Id(u64),
    Key(String),
}

/// What the sender says happened to the flag. The refresher does not act on it: it asks Flagr
/// whether the flag still exists, so a replayed or out-of-order event cannot mislead it; the
/// action is kept for what the event means, and for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Fetch it again from the source (created, updated, restored).
    Refresh,
    /// Drop it (deleted).
    Delete,
}

/// One flag to refresh or drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub target: Target,
    pub action: Action,
}

/// A parsed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub changes: Vec<Change>,
    /// The sender's timestamp in Unix seconds, when the format carries a checked one.
    pub signed_at: Option<i64>,
}

/// Why a body is not an event.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EventError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("body must be a JSON object")]
    NotObject,
    #[error("unrecognised event: expected {{\"event\",\"flag_keys\",\"timestamp\"}} or Flagr's {{\"operation\",\"flag_id\",...}}")]
    Unknown,
    #[error("\"event\" must be one of flag.updated, flag.created, flag.deleted")]
    EventName,
    #[error("\"flag_keys\" must be a non-empty array of at most {MAX_FLAGS_PER_EVENT} non-empty strings")]
    FlagKeys,
    #[error("\"timestamp\" must be an RFC 3339 date-time such as 2026-12-04T15:04:05Z")]
    Timestamp,
    #[error("\"operation\" must be one of create, update, delete, restore")]
    Operation,
    #[error("\"flag_id\" must be a positive integer (or give a non-empty \"flag_key\")")]
    FlagId,
}

/// Parses a webhook body.
pub fn parse_event(body: &[u8]) -> Result<Event, EventError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| EventError::Json(e.to_string()))?;
    let object = value.as_object().ok_or(EventError::NotObject)?;
    if object.contains_key("event") {
        parse_vexilla(object)
    } else if object.contains_key("operation") {
        parse_flagr(object)
    } else {
        Err(EventError::Unknown)
    }
}

fn parse_vexilla(object: &serde_json::Map<String, Value>) -> Result<Event, EventError> {
    let action = match object.get("event").and_then(Value::as_str) {
        Some("flag.updated" | "flag.created") => Action::Refresh,
        Some("flag.deleted") => Action::Delete,
        _ => return Err(EventError::EventName),
    };
    let keys = object
        .get("flag_keys")
        .and_then(Value::as_array)
        .filter(|keys| !keys.is_empty() && keys.len() <= MAX_FLAGS_PER_EVENT)
        .ok_or(EventError::FlagKeys)?;
    let mut changes = Vec::with_capacity(keys.len());
    for key in keys {
        let key = key
            .as_str()
            .filter(|k| !k.is_empty())
            .ok_or(EventError::FlagKeys)?;
        let change = Change {
            target: Target::Key(key.to_string()),
            action,
        };
        if !changes.contains(&change) {
            changes.push(change);
        }
    }
    let signed_at = object
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .ok_or(EventError::Timestamp)?;
    Ok(Event {
        changes,
        signed_at: Some(signed_at),
    })
}

fn parse_flagr(object: &serde_json::Map<String, Value>) -> Result<Event, EventError> {
    // Deleting a segment, variant, constraint, distribution or tag changes the flag; only a
    // delete of the flag itself removes it.
    let whole_flag = matches!(
        object.get("component_type").and_then(Value::as_str),
        None | Some("flag")
    );
    let action = match object.get("operation").and_then(Value::as_str) {
        Some("create" | "update" | "restore") => Action::Refresh,
        Some("delete") if whole_flag => Action::Delete,
        Some("delete") => Action::Refresh,
        _ => return Err(EventError::Operation),
    };
    let id = object
        .get("flag_id")
        .and_then(Value::as_u64)
        .filter(|id| *id > 0);
    let key = object
        .get("flag_key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty());
    let target = match (id, key) {
        (Some(id), _) => Target::Id(id),
        (None, Some(key)) => Target::Key(key.to_string()),
        (None, None) => return Err(EventError::FlagId),
    };
    // Flagr stamps every notification; when the stamp is there it bounds replays too.
    let signed_at = match object.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(stamp) => Some(
            stamp
                .as_str()
                .and_then(parse_rfc3339)
                .ok_or(EventError::Timestamp)?,
        ),
    };
    Ok(Event {
        changes: vec![Change { target, action }],
        signed_at,
    })
}

/// Unix seconds of an RFC 3339 date-time (`2026-12-04T15:04:05Z`, fractions and offsets
/// allowed).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = bytes.get(range)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let separators_ok = bytes.get(4) == Some(&b'-')
        && bytes.get(7) == Some(&b'-')
        && matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        && bytes.get(13) == Some(&b':')
        && bytes.get(16) == Some(&b':');
    if !separators_ok {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if end == 0 {
            return None;
        }
        rest = &fraction[end..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let zone = rest.as_bytes();
            if zone.len() != 6 || zone[3] != b':' {
                return None;
            }
            let hours =
                i64::from(zone[1].wrapping_sub(b'0')) * 10 + i64::from(zone[2].wrapping_sub(b'0'));
            let minutes =
                i64::from(zone[4].wrapping_sub(b'0')) * 10 + i64::from(zone[5].wrapping_sub(b'0'));
            if !zone[1..3].iter().chain(&zone[4..6]).all(u8::is_ascii_digit)
                || hours > 23
                || minutes > 59
            {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(target: Target, action: Action) -> Change {
        Change { target, action }
    }

    #[test]
    fn vexilla_events() {
        let event = parse_event(
            br#"{"event":"flag.updated","flag_keys":["a","b","a"],"timestamp":"2026-12-04T15:04:05Z"}"#,
        )
        .expect("valid");
        assert_eq!(
            event.changes,
            vec![
                change(Target::Key("a".into()), Action::Refresh),
                change(Target::Key("b".into()), Action::Refresh)
            ]
        );
        assert_eq!(event.signed_at, Some(1_796_396_645));
        let deleted = parse_event(
            br#"{"event":"flag.deleted","flag_keys":["a"],"timestamp":"2026-12-04T15:04:05Z"}"#,
        )
        .expect("valid");
        assert_eq!(
            deleted.changes,
            vec![change(Target::Key("a".into()), Action::Delete)]
        );
    }

    #[test]
    fn flagr_notifier_payloads() {
        let check = |body: &str, expected: Change| {
            let event = parse_event(body.as_bytes()).expect(body);
            assert_eq!(event.changes, vec![expected]);
        };
        let stamped = parse_event(
            br#"{"operation":"update","flag_id":7,"flag_key":"k","component_type":"segment","component_id":3,"timestamp":"2026-12-04T15:04:05.123456789Z"}"#,
        )
        .expect("valid");
        assert_eq!(
            stamped.changes,
            vec![change(Target::Id(7), Action::Refresh)]
        );
        assert_eq!(stamped.signed_at, Some(1_796_396_645));
        check(
            r#"{"operation":"delete","flag_id":7,"component_type":"flag"}"#,
            change(Target::Id(7), Action::Delete),
        );
        check(
            r#"{"operation":"delete","flag_id":7,"component_type":"segment","component_id":12}"#,
            change(Target::Id(7), Action::Refresh),
        );
        check(
            r#"{"operation":"delete","flag_id":7,"flag_key":"k"}"#,
            change(Target::Id(7), Action::Delete),
        );
        check(
            r#"{"operation":"restore","flag_id":7}"#,
            change(Target::Id(7), Action::Refresh),
        );
        check(
            r#"{"operation":"create","flag_key":"k"}"#,
            change(Target::Key("k".into()), Action::Refresh),
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        let check = |body: &str, error: EventError| {
            assert_eq!(parse_event(body.as_bytes()), Err(error), "{body}")
        };
        check("[]", EventError::NotObject);
        check("{}", EventError::Unknown);
        check(
            r#"{"event":"flag.renamed","flag_keys":["a"],"timestamp":"2026-12-04T15:04:05Z"}"#,
            EventError::EventName,
        );
        check(
            r#"{"event":"flag.updated","flag_keys":[],"timestamp":"2026-12-04T15:04:05Z"}"#,
            EventError::FlagKeys,
        );
        check(
            r#"{"event":"flag.updated","flag_keys":[""],"timestamp":"2026-12-04T15:04:05Z"}"#,
            EventError::FlagKeys,
        );
        check(
            r#"{"event":"flag.updated","flag_keys":[1],"timestamp":"2026-12-04T15:04:05Z"}"#,
            EventError::FlagKeys,
        );
        check(
            r#"{"event":"flag.updated","flag_keys":["a"]}"#,
            EventError::Timestamp,
        );
        check(
            r#"{"event":"flag.updated","flag_keys":["a"],"timestamp":"yesterday"}"#,
            EventError::Timestamp,
        );
        check(
            r#"{"operation":"rename","flag_id":1}"#,
            EventError::Operation,
        );
        check(r#"{"operation":"update","flag_id":0}"#, EventError::FlagId);
        check(
            r#"{"operation":"update","flag_id":"1"}"#,
            EventError::FlagId,
        );
        let many: Vec<String> = (0..=MAX_FLAGS_PER_EVENT)
            .map(|i| format!("\"k{i}\""))
            .collect();
        let body = format!(
            r#"{{"event":"flag.updated","flag_keys":[{}],"timestamp":"2026-12-04T15:04:05Z"}}"#,
            many.join(",")
        );
        check(&body, EventError::FlagKeys);
        assert!(matches!(parse_event(b"{"), Err(EventError::Json(_))));
    }

    #[test]
    fn rfc3339_timestamps() {
        let check =
            |text: &str, expected: Option<i64>| assert_eq!(parse_rfc3339(text), expected, "{text}");
        check("1970-01-01T00:00:00Z", Some(0));
        check("2026-12-04T15:04:05Z", Some(1_796_396_645));
        check("2026-12-04T15:04:05.999999999Z", Some(1_796_396_645));
        check("2026-12-04T16:04:05+01:00", Some(1_796_396_645));
        check("2026-12-04T14:04:05-01:00", Some(1_796_396_645));
        check("2000-02-29T00:00:00Z", Some(951_782_400));
        check("2026-12-04T15:04:05", None);
        check("2026-13-04T15:04:05Z", None);
        check("2026-12-04T15:04:05.Z", None);
        check("2026-12-04T15:04:05+0100", None);
        check("2026-12-04", None);
        check("", None);
    }
}
