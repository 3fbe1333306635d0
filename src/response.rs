//! Writing evaluation results as the JSON Flagr sends: its field order (alphabetical, as its
//! generated models declare them), its omissions, `null` versus `[]`, and the version-specific
//! fields.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::eval::{EvalContext, EvalResult, FlagRef};
use crate::flag::FlagrVersion;
use crate::json::{write_string, write_value};

/// A flag's own members of an evaluation result, written once when the flag is built:
/// `,"flagID":..,"flagKey":..,"flagSnapshotID":..` (each only when set, as Flagr omits empty
/// ones), then the `,"flagTags":[..]` member the 1.2 line adds (nothing without tags).
#[derive(Debug, Default)]
pub struct FlagMembers {
    bytes: Box<[u8]>,
    tags_at: usize,
}

impl FlagMembers {
    /// The members of the flag with this ID, key, snapshot ID and tags.
    pub fn new(id: u64, key: &str, snapshot_id: u64, tags: &[String]) -> FlagMembers {
        let mut out = Vec::with_capacity(
            key.len() + tags.iter().map(|tag| tag.len() + 3).sum::<usize>() + 96,
        );
        write_flag_members(&mut out, id, key, snapshot_id);
        let tags_at = out.len();
        if !tags.is_empty() {
            out.extend_from_slice(b",\"flagTags\":");
            write_strings(&mut out, tags);
        }
        FlagMembers {
            // A new block of the exact size: one shrunk in place can keep the larger block.
            bytes: out.as_slice().into(),
            tags_at,
        }
    }

    /// `flagID`, `flagKey` and `flagSnapshotID`.
    fn identity(&self) -> &[u8] {
        self.bytes.get(..self.tags_at).unwrap_or_default()
    }

    /// `flagTags`.
    fn tags(&self) -> &[u8] {
        self.bytes.get(self.tags_at..).unwrap_or_default()
    }
}

fn write_flag_members(out: &mut Vec<u8>, id: u64, key: &str, snapshot_id: u64) {
    if id != 0 {
        out.extend_from_slice(b",\"flagID\":");
        push_number(out, id);
    }
    if !key.is_empty() {
        out.extend_from_slice(b",\"flagKey\":");
        write_string(out, key);
    }
    if snapshot_id != 0 {
        out.extend_from_slice(b",\"flagSnapshotID\":");
        push_number(out, snapshot_id);
    }
}

/// Appends one `evalResult` object.
pub fn write_result(
    out: &mut Vec<u8>,
    result: &EvalResult<'_>,
    version: FlagrVersion,
    timestamp: &str,
) {
    write_result_with(out, result, version, timestamp, None);
}

/// [`write_result`] given the result context's `entityContext` already written as JSON: a
/// batch writes an entity's context once for all the flags it evaluates for it. `rendered`
/// must be what `write_value` gives for that context.
pub fn write_result_with(
    out: &mut Vec<u8>,
    result: &EvalResult<'_>,
    version: FlagrVersion,
    timestamp: &str,
    rendered: Option<&[u8]>,
) {
    out.push(b'{');
    let records = match result.flag {
        FlagRef::Found(flag) => flag.data_records_enabled,
        FlagRef::Missing { .. } => false,
    };

    if version == FlagrVersion::V1_2 && records {
        out.extend_from_slice(b"\"dataRecordsEnabled\":true,");
    }
    out.extend_from_slice(b"\"evalContext\":");
    write_context_with(
        out,
        result.context,
        result.entity_id(),
        result.entity_type,
        rendered,
    );

    if result.msg.is_empty() && result.segment_logs.is_none() {
        // What almost every answer without debug carries, in one append.
        out.extend_from_slice(b",\"evalDebugLog\":{\"segmentDebugLogs\":null}");
    } else {
        write_debug_log(out, result);
    }

    match result.flag {
        FlagRef::Found(flag) => {
            out.extend_from_slice(flag.members.identity());
            // The 1.1 line Flagr is matched against (the recorded oracle) predates `flagTags`
            // here.
            if version == FlagrVersion::V1_2 {
                out.extend_from_slice(flag.members.tags());
            }
        }
        FlagRef::Missing { id, key } => write_flag_members(out, id, key, 0),
    }
    if version == FlagrVersion::V1_2 {
        out.extend_from_slice(b",\"recordSource\":\"evaluation\"");
    }
    if result.segment_id != 0 {
        out.extend_from_slice(b",\"segmentID\":");
        push_number(out, result.segment_id);
    }
    out.extend_from_slice(b",\"timestamp\":\"");
    out.extend_from_slice(timestamp.as_bytes());
    out.push(b'"');

    if let Some((variant_id, variant)) = result.variant {
        if let Some(variant) = variant {
            out.extend_from_slice(b",\"variantAttachment\":");
            match &variant.attachment {
                Some(attachment) => out.extend_from_slice(attachment.as_str().as_bytes()),
                None => out.extend_from_slice(b"null"),
            }
        }
        if variant_id != 0 {
            out.extend_from_slice(b",\"variantID\":");
            push_number(out, variant_id);
        }
        if let Some(variant) = variant.filter(|v| !v.key.is_empty()) {
            out.extend_from_slice(b",\"variantKey\":");
            write_string(out, &variant.key);
        }
    }
    out.push(b'}');
}

/// The `evalDebugLog` member of a result that has a message or segment logs.
fn write_debug_log(out: &mut Vec<u8>, result: &EvalResult<'_>) {
    out.extend_from_slice(b",\"evalDebugLog\":{");
    if !result.msg.is_empty() {
        out.extend_from_slice(b"\"msg\":\"flagID ");
        push_number(out, result.msg_flag_id);
        out.push(b' ');
        out.extend_from_slice(result.msg.as_bytes());
        out.extend_from_slice(b"\",");
    }
    out.extend_from_slice(b"\"segmentDebugLogs\":");
    match &result.segment_logs {
        None => out.extend_from_slice(b"null"),
        Some(logs) => {
            out.push(b'[');
            for (index, log) in logs.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                out.push(b'{');
                let mut first = true;
                if !log.msg.is_empty() {
                    out.extend_from_slice(b"\"msg\":");
                    write_string(out, &log.msg);
                    first = false;
                }
                if log.segment_id != 0 {
                    if !first {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"\"segmentID\":");
                    push_number(out, log.segment_id);
                }
                out.push(b'}');
            }
            out.push(b']');
        }
    }
    out.push(b'}');
}

/// Appends an `evalContext` object with the given entity ID and type in place of the context's,
/// omitting empty fields as Flagr does.
pub fn write_context(out: &mut Vec<u8>, context: &EvalContext, entity_id: &str, entity_type: &str) {
    write_context_with(out, context, entity_id, entity_type, None);
}

/// [`write_context`] with the `entityContext` already written, when `rendered` is given.
fn write_context_with(
    out: &mut Vec<u8>,
    context: &EvalContext,
    entity_id: &str,
    entity_type: &str,
    rendered: Option<&[u8]>,
) {
    let mut fields = FieldWriter::new(out);
    if context.enable_debug {
        fields.name(b",\"enableDebug\":").extend_from_slice(b"true");
    }
    if let Some(entity_context) = &context.entity_context {
        let out = fields.name(b",\"entityContext\":");
        match rendered {
            Some(bytes) => out.extend_from_slice(bytes),
            None => write_value(out, entity_context),
        }
    }
    if !entity_id.is_empty() {
        write_string(fields.name(b",\"entityID\":"), entity_id);
    }
    if !entity_type.is_empty() {
        write_string(fields.name(b",\"entityType\":"), entity_type);
    }
    if context.flag_id != 0 {
        push_number(fields.name(b",\"flagID\":"), context.flag_id);
    }
    if !context.flag_key.is_empty() {
        write_string(fields.name(b",\"flagKey\":"), &context.flag_key);
    }
    if !context.flag_tags.is_empty() {
        write_strings(fields.name(b",\"flagTags\":"), &context.flag_tags);
    }
    if !context.flag_tags_operator.is_empty() {
        write_string(
            fields.name(b",\"flagTagsOperator\":"),
            &context.flag_tags_operator,
        );
    }
    fields.finish();
}

fn push_number(out: &mut Vec<u8>, value: u64) {
    crate::json::write_u64(out, value);
}

fn write_strings(out: &mut Vec<u8>, values: &[String]) {
    out.push(b'[');
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(out, value);
    }
    out.push(b']');
}

/// Writes `{"a":..,"b":..}` with commas only between present fields.
struct FieldWriter<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> FieldWriter<'o> {
    fn new(out: &'o mut Vec<u8>) -> FieldWriter<'o> {
        out.push(b'{');
        FieldWriter { out, first: true }
    }

    /// Starts a field given as `,"name":`, the comma left out before the first field: one
    /// append per field name.
    fn name(&mut self, field: &[u8]) -> &mut Vec<u8> {
        let field = match self.first {
            true => field.get(1..).unwrap_or_default(),
            false => field,
        };
        self.first = false;
        self.out.extend_from_slice(field);
        self.out
    }

    fn finish(self) {
        self.out.push(b'}');
    }
}

/// The current time as Flagr writes it: RFC 3339, UTC, whole seconds.
pub fn timestamp_now() -> Rc<str> {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    // Formatted once per second and thread, not once per answer.
    LAST_TIMESTAMP.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != seconds || last.1.is_empty() {
            *last = (seconds, format_timestamp(seconds).into());
        }
        Rc::clone(&last.1)
    })
}

thread_local! {
    static LAST_TIMESTAMP: RefCell<(u64, Rc<str>)> = RefCell::new((0, Rc::from("")));
}

/// Formats Unix seconds as `2006-01-02T15:04:05Z`.
pub fn format_timestamp(unix_seconds: u64) -> String {
    let days = unix_seconds / 86_400;
    let rest = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's method).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_members_are_written_once_as_a_result_writes_them() {
        let tags = ["beta".to_owned(), "t\"2".to_owned()];
        let members = FlagMembers::new(7, "k\u{2028}ey", 3, &tags);
        assert_eq!(
            String::from_utf8_lossy(members.identity()),
            r#","flagID":7,"flagKey":"k\u2028ey","flagSnapshotID":3"#
        );
        assert_eq!(
            String::from_utf8_lossy(members.tags()),
            r#","flagTags":["beta","t\"2"]"#
        );
        let empty = FlagMembers::new(0, "", 0, &[]);
        assert_eq!((empty.identity(), empty.tags()), (&b""[..], &b""[..]));
    }

    #[test]
    fn writes_numbers() {
        for value in [0, 7, 10, 4_033_625_221, u64::MAX] {
            let mut out = Vec::new();
            push_number(&mut out, value);
            assert_eq!(String::from_utf8(out).expect("ascii"), value.to_string());
        }
    }

    #[test]
    fn formats_timestamps() {
        let check = |seconds, expected: &str| assert_eq!(format_timestamp(seconds), expected);
        check(0, "1970-01-01T00:00:00Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(1_798_761_599, "2026-12-31T23:59:59Z");
        check(4_107_542_400, "2100-03-01T00:00:00Z");
    }

    #[test]
    fn writes_context_fields_in_flagr_order_omitting_empty_ones() {
        let context = EvalContext {
            enable_debug: true,
            entity_id: "u1".into(),
            flag_id: 3,
            flag_tags: vec!["a".into()],
            flag_tags_operator: "ANY".into(),
            ..EvalContext::default()
        };
        let mut out = Vec::new();
        write_context(&mut out, &context, &context.entity_id, "");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            r#"{"enableDebug":true,"entityID":"u1","flagID":3,"flagTags":["a"],"flagTagsOperator":"ANY"}"#
        );
        let mut out = Vec::new();
        write_context(&mut out, &EvalContext::default(), "", "");
        assert_eq!(out, b"{}");
    }
}
