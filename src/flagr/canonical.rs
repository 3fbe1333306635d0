//! A direct reader for export documents as Flagr and this proxy write them: the field names
//! `Deserialize` accepts, plain values, unknown members skipped. It reads such a document in
//! about half the instructions serde's generic machinery takes, and yields the very same
//! `ExportFlag`s.
//!
//! It gives up (`Stop::Unsupported`) on anything it is not sure to read exactly as serde does:
//! a repeated field, a value of an unexpected type, escaped keys, deep nesting, malformed JSON.
//! The caller then reads the document with serde, which also words the error, if any.

use crate::flagr::{
    Attachment, ExportConstraint, ExportDistribution, ExportFlag, ExportSegment, ExportTag,
    ExportVariant,
};
use crate::json::{self, Number, Value};

/// Why reading stopped early.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The document holds something this reader leaves to serde.
    Unsupported,
    /// The receiver of the flags refused one.
    Refused,
    /// The flag list reached the position it was to stop at.
    Reached,
}

type Read<T> = Result<T, Stop>;

/// Nesting deeper than this is left to serde, whose own limit is 128 levels.
const MAX_DEPTH: usize = 100;

/// Reads `text`, handing each flag to `each` in document order.
pub(crate) fn read_export(
    text: &str,
    mut each: impl FnMut(ExportFlag) -> Result<(), ()>,
) -> Read<()> {
    let mut reader = Reader::new(text, 0, usize::MAX);
    reader.document(&mut each)?;
    reader.end()
}

/// [`read_export`] up to `split`, which must be where a flag of the document's flag list
/// starts: `Ok` once the list reaches it, `Stop::Unsupported` if it passes it by or ends.
/// With [`read_export_from`] reading on from there, the two halves of a document can be read
/// at once, and together they read it exactly as [`read_export`] does.
pub(crate) fn read_export_before(
    text: &str,
    split: usize,
    mut each: impl FnMut(ExportFlag) -> Result<(), ()>,
) -> Read<()> {
    let mut reader = Reader::new(text, 0, split);
    match reader.document(&mut each) {
        Err(Stop::Reached) => Ok(()),
        Err(stop) => Err(stop),
        Ok(()) => Err(Stop::Unsupported),
    }
}

/// The flags from `split` on and the rest of the document: the other half of
/// [`read_export_before`]. What it reads is only sound once that half has reached `split`.
pub(crate) fn read_export_from(
    text: &str,
    split: usize,
    mut each: impl FnMut(ExportFlag) -> Result<(), ()>,
) -> Read<()> {
    let mut reader = Reader::new(text, split, usize::MAX);
    loop {
        let flag = reader.flag()?;
        each(flag).map_err(|()| Stop::Refused)?;
        reader.space();
        match reader.peek() {
            Some(b',') => {
                reader.pos += 1;
                reader.space();
            }
            Some(b']') => {
                reader.pos += 1;
                break;
            }
            _ => return Err(Stop::Unsupported),
        }
    }
    // The members after the flag list; a second list is refused, as a whole read refuses it.
    loop {
        reader.space();
        match reader.peek() {
            Some(b'}') => {
                reader.pos += 1;
                return reader.end();
            }
            Some(b',') => {
                reader.pos += 1;
                reader.space();
                if reader.key()?.eq_ignore_ascii_case("flags") {
                    return Err(Stop::Unsupported);
                }
                reader.space();
                reader.eat(b':')?;
                reader.space();
                reader.skip_value(2)?;
            }
            _ => return Err(Stop::Unsupported),
        }
    }
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Where the flag list stops being read ([`read_export_before`]); `usize::MAX` for never.
    stop_at: usize,
}

/// Marks a field as read, refusing a second occurrence (serde's "duplicate field").
fn first_time(seen: &mut u16, field: u16) -> Read<()> {
    if *seen & (1 << field) != 0 {
        return Err(Stop::Unsupported);
    }
    *seen |= 1 << field;
    Ok(())
}

impl<'a> Reader<'a> {
    fn new(text: &'a str, pos: usize, stop_at: usize) -> Reader<'a> {
        Reader {
            text,
            bytes: text.as_bytes(),
            pos,
            stop_at,
        }
    }

    /// Only whitespace may follow the document.
    fn end(&mut self) -> Read<()> {
        self.space();
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(Stop::Unsupported)
        }
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Read<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Stop::Unsupported)
        }
    }

    fn eat_word(&mut self, word: &[u8]) -> Read<()> {
        if self
            .bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word))
        {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Stop::Unsupported)
        }
    }

    /// `{"Flags": [...], ...}`; other top-level members are skipped.
    fn document(&mut self, each: &mut dyn FnMut(ExportFlag) -> Result<(), ()>) -> Read<()> {
        let mut seen = false;
        self.members(1, |reader, key| {
            if !key.eq_ignore_ascii_case("flags") {
                return reader.skip_value(2);
            }
            if std::mem::replace(&mut seen, true) {
                return Err(Stop::Unsupported);
            }
            reader.list(2, |reader| {
                if reader.pos >= reader.stop_at {
                    // Stopping anywhere but at the start of a flag would split one.
                    return Err(if reader.pos == reader.stop_at {
                        Stop::Reached
                    } else {
                        Stop::Unsupported
                    });
                }
                let flag = reader.flag()?;
                each(flag).map_err(|()| Stop::Refused)
            })
        })?;
        if seen {
            Ok(())
        } else {
            Err(Stop::Unsupported)
        }
    }

    /// An object's members, each key handed to `member` with the reader at its value.
    fn members(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&mut Self, &'a str) -> Read<()>,
    ) -> Read<()> {
        if depth > MAX_DEPTH {
            return Err(Stop::Unsupported);
        }
        self.space();
        self.eat(b'{')?;
        self.space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.space();
            let key = self.key()?;
            self.space();
            self.eat(b':')?;
            self.space();
            member(self, key)?;
            self.space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Stop::Unsupported),
            }
        }
    }

    /// A list, or `null` for none (Go's nil slice); each element read by `element`.
    fn list(&mut self, depth: usize, mut element: impl FnMut(&mut Self) -> Read<()>) -> Read<()> {
        if depth > MAX_DEPTH {
            return Err(Stop::Unsupported);
        }
        if self.peek() == Some(b'n') {
            return self.eat_word(b"null");
        }
        self.eat(b'[')?;
        self.space();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.space();
            element(self)?;
            self.space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Stop::Unsupported),
            }
        }
    }

    /// A list read into a vector.
    fn vec<T>(
        &mut self,
        depth: usize,
        mut element: impl FnMut(&mut Self) -> Read<T>,
    ) -> Read<Vec<T>> {
        let mut items = Vec::new();
        self.list(depth, |reader| {
            items.push(element(reader)?);
            Ok(())
        })?;
        Ok(items)
    }

    fn flag(&mut self) -> Read<ExportFlag> {
        let mut flag = ExportFlag::default();
        let mut seen = 0;
        self.members(3, |reader, key| match key {
            "ID" | "id" | "Id" => {
                first_time(&mut seen, 0)?;
                flag.id = reader.number()?;
                Ok(())
            }
            "Key" | "key" => {
                first_time(&mut seen, 1)?;
                flag.key = reader.string()?;
                Ok(())
            }
            "Enabled" | "enabled" => {
                first_time(&mut seen, 2)?;
                flag.enabled = reader.boolean()?;
                Ok(())
            }
            "Segments" | "segments" => {
                first_time(&mut seen, 3)?;
                flag.segments = reader.vec(4, Reader::segment)?;
                Ok(())
            }
            "Variants" | "variants" => {
                first_time(&mut seen, 4)?;
                flag.variants = reader.vec(4, Reader::variant)?;
                Ok(())
            }
            "Tags" | "tags" => {
                first_time(&mut seen, 5)?;
                flag.tags = reader.vec(4, Reader::tag)?;
                Ok(())
            }
            "SnapshotID" | "snapshotID" | "snapshotId" => {
                first_time(&mut seen, 6)?;
                flag.snapshot_id = reader.number()?;
                Ok(())
            }
            "DataRecordsEnabled" | "dataRecordsEnabled" => {
                first_time(&mut seen, 7)?;
                flag.data_records_enabled = reader.boolean()?;
                Ok(())
            }
            "EntityType" | "entityType" => {
                first_time(&mut seen, 8)?;
                flag.entity_type = reader.string()?;
                Ok(())
            }
            _ => reader.skip_value(4),
        })?;
        Ok(flag)
    }

    fn segment(&mut self) -> Read<ExportSegment> {
        let mut segment = ExportSegment::default();
        let mut seen = 0;
        self.members(5, |reader, key| match key {
            "ID" | "id" | "Id" => {
                first_time(&mut seen, 0)?;
                segment.id = reader.number()?;
                Ok(())
            }
            "FlagID" | "flagID" | "flagId" => {
                first_time(&mut seen, 1)?;
                segment.flag_id = reader.number()?;
                Ok(())
            }
            "Rank" | "rank" => {
                first_time(&mut seen, 2)?;
                segment.rank = reader.number()?;
                Ok(())
            }
            "RolloutPercent" | "rolloutPercent" => {
                first_time(&mut seen, 3)?;
                segment.rollout_percent = reader.number()?;
                Ok(())
            }
            "Constraints" | "constraints" => {
                first_time(&mut seen, 4)?;
                segment.constraints = reader.vec(6, Reader::constraint)?;
                Ok(())
            }
            "Distributions" | "distributions" => {
                first_time(&mut seen, 5)?;
                segment.distributions = reader.vec(6, Reader::distribution)?;
                Ok(())
            }
            _ => reader.skip_value(6),
        })?;
        Ok(segment)
    }

    fn constraint(&mut self) -> Read<ExportConstraint> {
        let mut constraint = ExportConstraint::default();
        let mut seen = 0;
        self.members(7, |reader, key| match key {
            "ID" | "id" | "Id" => {
                first_time(&mut seen, 0)?;
                constraint.id = reader.number()?;
                Ok(())
            }
            "Property" | "property" => {
                first_time(&mut seen, 1)?;
                constraint.property = reader.string()?;
                Ok(())
            }
            "Operator" | "operator" => {
                first_time(&mut seen, 2)?;
                constraint.operator = reader.string()?;
                Ok(())
            }
            "Value" | "value" => {
                first_time(&mut seen, 3)?;
                constraint.value = reader.string()?;
                Ok(())
            }
            _ => reader.skip_value(8),
        })?;
        Ok(constraint)
    }

    fn distribution(&mut self) -> Read<ExportDistribution> {
        let mut share = ExportDistribution::default();
        let mut seen = 0;
        self.members(7, |reader, key| match key {
            "ID" | "id" | "Id" => {
                first_time(&mut seen, 0)?;
                share.id = reader.number()?;
                Ok(())
            }
            "VariantID" | "variantID" | "variantId" => {
                first_time(&mut seen, 1)?;
                share.variant_id = reader.number()?;
                Ok(())
            }
            "VariantKey" | "variantKey" => {
                first_time(&mut seen, 2)?;
                share.variant_key = reader.string()?;
                Ok(())
            }
            "Percent" | "percent" => {
                first_time(&mut seen, 3)?;
                share.percent = reader.number()?;
                Ok(())
            }
            _ => reader.skip_value(8),
        })?;
        Ok(share)
    }

    fn variant(&mut self) -> Read<ExportVariant> {
        let mut variant = ExportVariant::default();
        let mut seen = 0;
        self.members(5, |reader, key| match key {
            "ID" | "id" | "Id" => {
                first_time(&mut seen, 0)?;
                variant.id = reader.number()?;
                Ok(())
            }
            "Key" | "key" => {
                first_time(&mut seen, 1)?;
                variant.key = reader.string()?;
                Ok(())
            }
            "Attachment" | "attachment" => {
                first_time(&mut seen, 2)?;
                variant.attachment = reader.attachment()?;
                Ok(())
            }
            _ => reader.skip_value(6),
        })?;
        Ok(variant)
    }

    fn tag(&mut self) -> Read<ExportTag> {
        let mut tag = ExportTag::default();
        let mut seen = 0;
        self.members(5, |reader, key| match key {
            "ID" | "id" | "Id" => {
                first_time(&mut seen, 0)?;
                tag.id = reader.number()?;
                Ok(())
            }
            "Value" | "value" => {
                first_time(&mut seen, 1)?;
                tag.value = reader.string()?;
                Ok(())
            }
            _ => reader.skip_value(6),
        })?;
        Ok(tag)
    }

    /// `null`, or an object kept as the text Flagr answers with (see [`Attachment`]).
    fn attachment(&mut self) -> Read<Option<Attachment>> {
        if self.peek() == Some(b'n') {
            self.eat_word(b"null")?;
            return Ok(None);
        }
        if self.peek() != Some(b'{') {
            return Err(Stop::Unsupported);
        }
        // An attachment this proxy saved is already written as Go writes it: kept as it is.
        let start = self.pos;
        if let Some(end) = go_written_end(self.bytes, start, 6) {
            self.pos = end;
            return Ok(Some(Attachment(Box::from(&self.text[start..end]))));
        }
        let value = self.value(6)?;
        let mut out = Vec::with_capacity(self.pos - start);
        json::write_value(&mut out, &value);
        let text = std::str::from_utf8(&out).map_err(|_| Stop::Unsupported)?;
        Ok(Some(Attachment(Box::from(text))))
    }

    /// Any value, as Go decodes it into an `interface{}`: numbers become float64s.
    fn value(&mut self, depth: usize) -> Read<Value> {
        match self.peek() {
            Some(b'{') => {
                let mut members = json::Map::new();
                self.members(depth, |reader, key| {
                    let value = reader.value(depth + 1)?;
                    members.insert(key.to_owned(), value);
                    Ok(())
                })?;
                Ok(Value::Object(members))
            }
            Some(b'[') => Ok(Value::Array(
                self.vec(depth, |reader| reader.value(depth + 1))?,
            )),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.eat_word(b"true").map(|()| Value::Bool(true)),
            Some(b'f') => self.eat_word(b"false").map(|()| Value::Bool(false)),
            Some(b'n') => self.eat_word(b"null").map(|()| Value::Null),
            _ => {
                let start = self.pos;
                self.skip_number()?;
                let text = &self.text[start..self.pos];
                // Plain digits below 2^53 are exact as a float64; anything else is read by
                // serde_json itself, so the float is the one its document parser makes.
                if text.len() < 16 && text.bytes().all(|b| b.is_ascii_digit()) {
                    let integer = text.parse().map_err(|_| Stop::Unsupported)?;
                    return Ok(Value::Number(Number::from_u64(integer)));
                }
                let float = serde_json::from_str::<f64>(text).map_err(|_| Stop::Unsupported)?;
                Ok(Value::Number(Number::from_f64(float)))
            }
        }
    }

    /// A value that is read only to be passed over: still checked to be JSON.
    fn skip_value(&mut self, depth: usize) -> Read<()> {
        match self.peek() {
            Some(b'{') => self.members(depth, |reader, _| reader.skip_value(depth + 1)),
            Some(b'[') => self.list(depth, |reader| reader.skip_value(depth + 1)),
            Some(b'"') => self.raw_string().map(|_| ()),
            Some(b't') => self.eat_word(b"true"),
            Some(b'f') => self.eat_word(b"false"),
            Some(b'n') => self.eat_word(b"null"),
            _ => self.skip_number(),
        }
    }

    /// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn skip_number(&mut self) -> Read<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Stop::Unsupported),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Read<()> {
        let start = self.pos;
        self.digits();
        if self.pos == start {
            Err(Stop::Unsupported)
        } else {
            Ok(())
        }
    }

    /// An unsigned integer field: plain digits without a leading zero, within `u64`.
    fn number(&mut self) -> Read<u64> {
        let mut value: u64 = match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                0
            }
            Some(digit @ b'1'..=b'9') => {
                self.pos += 1;
                u64::from(digit - b'0')
            }
            _ => return Err(Stop::Unsupported),
        };
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            if value == 0 {
                // A leading zero, which JSON refuses.
                return Err(Stop::Unsupported);
            }
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                .ok_or(Stop::Unsupported)?;
            self.pos += 1;
        }
        // A fraction or an exponent makes it a float, which an integer field refuses.
        match self.peek() {
            Some(b'.' | b'e' | b'E') => Err(Stop::Unsupported),
            _ => Ok(value),
        }
    }

    fn boolean(&mut self) -> Read<bool> {
        match self.peek() {
            Some(b't') => self.eat_word(b"true").map(|()| true),
            Some(b'f') => self.eat_word(b"false").map(|()| false),
            _ => Err(Stop::Unsupported),
        }
    }

    /// An object key, which must be written without escapes.
    fn key(&mut self) -> Read<&'a str> {
        match self.raw_string()? {
            (text, false) => Ok(text),
            (_, true) => Err(Stop::Unsupported),
        }
    }

    /// A string value, its escapes decoded.
    fn string(&mut self) -> Read<String> {
        let start = self.pos;
        match self.raw_string()? {
            (text, false) => Ok(text.to_owned()),
            (text, true) => match unescape(text) {
                Some(decoded) => Ok(decoded),
                // `\u` escapes, surrogates included, are decoded by serde_json itself.
                None => {
                    serde_json::from_str(&self.text[start..self.pos]).map_err(|_| Stop::Unsupported)
                }
            },
        }
    }

    /// A string's text between its quotes, and whether it holds escapes. Control characters
    /// and escapes JSON does not define are refused.
    fn raw_string(&mut self) -> Read<(&'a str, bool)> {
        self.eat(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            let at = special_from(self.bytes, self.pos).ok_or(Stop::Unsupported)?;
            match self.bytes[at] {
                b'"' => {
                    self.pos = at + 1;
                    return Ok((&self.text[start..at], escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.pos = at + 2;
                    match self.bytes.get(at + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                        Some(b'u') => {
                            let hex = self.bytes.get(at + 2..at + 6).ok_or(Stop::Unsupported)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(Stop::Unsupported);
                            }
                            self.pos = at + 6;
                        }
                        _ => return Err(Stop::Unsupported),
                    }
                }
                _ => return Err(Stop::Unsupported),
            }
        }
    }
}

/// Where the value at `at` ends, if it is written exactly as [`json::write_value`] would write
/// it once decoded as Go decodes it: no whitespace, object keys in strictly rising byte order
/// (so none repeats), strings without escapes or U+2028/U+2029, numbers as integers below
/// 2^53 without a minus zero. Anything else is `None`, and is decoded and written again.
fn go_written_end(bytes: &[u8], at: usize, depth: usize) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    match *bytes.get(at)? {
        b'{' => {
            let mut at = at + 1;
            if bytes.get(at) == Some(&b'}') {
                return Some(at + 1);
            }
            let mut previous: Option<&[u8]> = None;
            loop {
                let end = plain_string_end(bytes, at)?;
                let key = &bytes[at + 1..end - 1];
                if previous.is_some_and(|previous| previous >= key) {
                    return None;
                }
                previous = Some(key);
                if bytes.get(end) != Some(&b':') {
                    return None;
                }
                at = go_written_end(bytes, end + 1, depth + 1)?;
                match bytes.get(at)? {
                    b',' => at += 1,
                    b'}' => return Some(at + 1),
                    _ => return None,
                }
            }
        }
        b'[' => {
            let mut at = at + 1;
            if bytes.get(at) == Some(&b']') {
                return Some(at + 1);
            }
            loop {
                at = go_written_end(bytes, at, depth + 1)?;
                match bytes.get(at)? {
                    b',' => at += 1,
                    b']' => return Some(at + 1),
                    _ => return None,
                }
            }
        }
        b'"' => plain_string_end(bytes, at),
        b't' => bytes[at..].starts_with(b"true").then_some(at + 4),
        b'f' => bytes[at..].starts_with(b"false").then_some(at + 5),
        b'n' => bytes[at..].starts_with(b"null").then_some(at + 4),
        first => {
            let digits_from = at + usize::from(first == b'-');
            let digits = bytes[digits_from..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let end = digits_from + digits;
            let plain = match bytes.get(digits_from) {
                // Zero alone; not `-0`, which Go writes as a float.
                Some(b'0') => digits == 1 && first != b'-',
                Some(_) => digits > 0 && digits < 16,
                None => false,
            };
            let float = matches!(bytes.get(end), Some(b'.' | b'e' | b'E'));
            (plain && !float).then_some(end)
        }
    }
}

/// The end (after the closing quote) of the string at `at` if it has no escapes and nothing
/// Go's writer would escape.
fn plain_string_end(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let close = special_from(bytes, at + 1)?;
    let inner = &bytes[at + 1..close];
    // 0xE2 leads U+2028 and U+2029, which Go escapes.
    (bytes[close] == b'"' && !inner.contains(&0xE2)).then_some(close + 1)
}

/// The text with its two-character escapes decoded; `None` when it holds a `\u` escape.
fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        out.push(json::short_escape(*rest.as_bytes().get(at + 1)?)?);
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// The position of the first `"`, `\` or control character at or after `from`.
fn special_from(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = from;
    // Eight bytes at a time. A borrow can only mark a byte above a truly marked one, so the
    // lowest mark is exact.
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let zero = |x: u64| x.wrapping_sub(ONES) & !x;
        let marks = (word.wrapping_sub(ONES * 0x20) & !word
            | zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\'))))
            & HIGHS;
        if marks != 0 {
            return Some(at + marks.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    bytes[at.min(bytes.len())..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|offset| at + offset)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::flagr::parse_export;

    /// The flags this reader yields, or `None` when it leaves the document to serde.
    fn direct(text: &str) -> Option<Vec<ExportFlag>> {
        let mut flags = Vec::new();
        match read_export(text, |flag| {
            flags.push(flag);
            Ok(())
        }) {
            Ok(()) => Some(flags),
            Err(Stop::Unsupported) => None,
            Err(stop) => unreachable!("a whole read cannot stop with {stop:?}"),
        }
    }

    /// Whatever this reader accepts, serde reads to the same flags.
    fn agrees_with_serde(text: &str) -> bool {
        let Some(flags) = direct(text) else {
            return false;
        };
        let serde = parse_export(text.as_bytes()).unwrap_or_else(|error| {
            panic!("serde refuses what was read directly: {error}\n{text}")
        });
        assert_eq!(format!("{flags:?}"), format!("{:?}", serde.flags), "{text}");
        true
    }

    #[test]
    fn reads_the_layouts_flagr_and_the_snapshot_write() {
        let read = [
            r#"{"Flags":[]}"#,
            r#"{"flags":null}"#,
            r#" { "Flags" : [ { "ID" : 1 , "Key" : "a" } ] , "Other" : {"x":[1,2.5,"s",null]} } "#,
            r#"{"VexillaSnapshot":{"FlagrVersion":"1.2"},"Flags":[
                {"ID":7,"Key":"k","Enabled":true,"SnapshotID":3,"EntityType":"user",
                "DataRecordsEnabled":false,"Segments":[{"ID":1,"FlagID":7,"RolloutPercent":50,
                "Constraints":[{"ID":4,"SegmentID":1,"Property":"email","Operator":"EREG",
                "Value":"\"@example[.]com$\""}],"Distributions":[{"SegmentID":1,"VariantID":9,
                "VariantKey":"on","Percent":100}]}],"Variants":[{"ID":9,"FlagID":7,"Key":"on",
                "Attachment":{"a":[1,-2,"x"],"b":{"c":null,"d":true}}}],
                "Tags":[{"ID":1,"Value":"t"}]}]}"#,
            r#"{"flags":[{"id":1,"key":"a","enabled":true,"segments":null,"variants":[{"id":2,
                "key":"on","attachment":{"z":1.50,"a":"\u00e9","n":1e21,"a":"last","m":-0}}],
                "tags":[{"id":1,"value":"tab\tand \"quote\""}],"createdAt":"2024"}]}"#,
            r#"{"Flags":[{"Key":"\ud83d\ude00","Variants":[{"Attachment":null}]}]}"#,
        ];
        for text in read {
            assert!(agrees_with_serde(text), "left to serde: {text}");
        }
    }

    #[test]
    fn leaves_to_serde_what_it_does_not_read_exactly() {
        let left = [
            r#"{"Flags":[{"ID":1,"ID":2}]}"#,
            r#"{"Flags":[{"ID":1,"id":2}]}"#,
            r#"{"Flags":[{"ID":1.0}]}"#,
            r#"{"Flags":[{"ID":-1}]}"#,
            r#"{"Flags":[{"ID":01}]}"#,
            r#"{"Flags":[{"ID":18446744073709551616}]}"#,
            r#"{"Flags":[{"ID":"1"}]}"#,
            r#"{"Flags":[{"Key":null}]}"#,
            r#"{"Flags":[{"K\u0065y":"a"}]}"#,
            r#"{"Flags":[{"Key":"\x"}]}"#,
            r#"{"Flags":[{"Key":"\ud800"}]}"#,
            "{\"Flags\":[{\"Key\":\"a\u{1}\"}]}",
            r#"{"Flags":[{"Variants":[{"Attachment":[1]}]}]}"#,
            r#"{"Flags":[{"Variants":[{"Attachment":{"a":1e999}}]}]}"#,
            r#"{"Flags":[{"Enabled":1}]}"#,
            r#"{"Flags":[1]}"#,
            r#"{"Flags":[[1,"k"]]}"#,
            r#"{"Flags":[],"flags":[]}"#,
            r#"{"Flagz":[]}"#,
            r#"{"Flags":[{"ID":1,}]}"#,
            r#"{"Flags":[]} x"#,
            r#"{"Flags":[{"Extra":01}]}"#,
            r#"[]"#,
            "",
        ];
        for text in left {
            assert!(direct(text).is_none(), "read directly: {text}");
        }
    }

    #[test]
    fn attachments_already_written_as_go_writes_them_are_kept_verbatim() {
        let kept = [
            r#"{"a":1,"b":[true,false,null,"x",-5,0,{}],"c":{"d":[]}}"#,
            r#"{"":"","é":"ü"}"#,
            r#"{"n":999999999999999}"#,
        ];
        for attachment in kept {
            let text = format!(r#"{{"Flags":[{{"Variants":[{{"Attachment":{attachment}}}]}}]}}"#);
            assert!(agrees_with_serde(&text));
            let flags = direct(&text).expect("read directly");
            let written = flags[0].variants[0]
                .attachment
                .as_ref()
                .map(Attachment::as_str);
            assert_eq!(written, Some(attachment));
        }
        // Rewritten: unsorted or repeated keys, floats, big or negative-zero numbers,
        // escapes, U+2028, whitespace.
        let rewritten = [
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"x":1.0,"y":2.50,"z":1e3}"#,
            r#"{"n":9999999999999999,"m":-0}"#,
            r#"{"s":"a\/b","t":"\u0041"}"#,
            "{\"s\":\"\u{2028}\"}",
            r#"{ "a" : [ 1 , 2 ] }"#,
        ];
        for attachment in rewritten {
            let text = format!(r#"{{"Flags":[{{"Variants":[{{"Attachment":{attachment}}}]}}]}}"#);
            assert!(agrees_with_serde(&text), "left to serde: {text}");
        }
    }

    /// JSON text for a value of any kind, written in the many ways JSON allows.
    fn any_json() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            number(),
            string(),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec((key(), space(), inner), 0..4).prop_map(|members| {
                    let members: Vec<String> = members
                        .into_iter()
                        .map(|(key, space, value)| format!("{key}{space}:{space}{value}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    fn space() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just(""), Just(""), Just(" "), Just("\n\t")]
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u64..2000).prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| f.to_string()),
            Just("-0".to_owned()),
            Just("1.50".to_owned()),
            Just("1e21".to_owned()),
            Just("2E-3".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("01".to_owned()),
            Just("1.".to_owned()),
            Just("-".to_owned()),
        ]
    }

    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{0,6}".prop_map(|s| format!("\"{s}\"")),
            Just(r#""a\"b\\c\/d\n""#.to_owned()),
            Just(r#""\u00e9\ud83d\ude00""#.to_owned()),
            Just(r#""\ud800""#.to_owned()),
            Just(r#""\q""#.to_owned()),
            Just("\"é\u{2028}\"".to_owned()),
            Just("\"tab\tinside\"".to_owned()),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-c]{1,2}".prop_map(|s| format!("\"{s}\"")),
            Just(r#""\u0061""#.to_owned()),
        ]
    }

    /// A member of an export object under one of `names` (the field's spellings, other
    /// spellings or unknown names), with a value that fits the field or not.
    fn member(
        names: &'static [&'static str],
        value: impl Strategy<Value = String> + 'static,
    ) -> BoxedStrategy<String> {
        (prop::sample::select(names), space(), value)
            .prop_map(|(name, space, value)| format!("\"{name}\"{space}:{space}{value}"))
            .boxed()
    }

    /// An object of up to six members drawn from `members`, in any order, repeats possible.
    fn object(members: Vec<BoxedStrategy<String>>) -> BoxedStrategy<String> {
        prop::collection::vec(prop::strategy::Union::new(members), 0..5)
            .prop_map(|members| format!("{{{}}}", members.join(",")))
            .boxed()
    }

    fn list(element: BoxedStrategy<String>) -> BoxedStrategy<String> {
        prop_oneof![
            1 => Just("null".to_owned()),
            6 => prop::collection::vec(element, 0..3).prop_map(|items| format!("[{}]", items.join(","))),
        ]
        .boxed()
    }

    fn integer() -> BoxedStrategy<String> {
        prop_oneof![6 => (0u64..100).prop_map(|n| n.to_string()), 1 => number()].boxed()
    }

    fn text() -> BoxedStrategy<String> {
        prop_oneof![
            6 => "[a-z@.$ ]{0,8}".prop_map(|s| format!("\"{s}\"")),
            2 => string(),
            1 => Just("null".to_owned()),
        ]
        .boxed()
    }

    fn boolean() -> BoxedStrategy<String> {
        prop_oneof![
            4 => Just("true".to_owned()),
            4 => Just("false".to_owned()),
            1 => Just("1".to_owned()),
        ]
        .boxed()
    }

    fn unknown() -> BoxedStrategy<String> {
        member(&["Extra", "CreatedAt", "iD"], any_json())
    }

    fn export_flag() -> BoxedStrategy<String> {
        let constraint = object(vec![
            member(&["ID", "id"], integer()),
            member(&["Property", "property"], text()),
            member(&["Operator", "operator"], text()),
            member(&["Value", "value"], text()),
            unknown(),
        ]);
        let distribution = object(vec![
            member(&["ID", "Id"], integer()),
            member(&["VariantID", "variantId"], integer()),
            member(&["VariantKey", "variantKey"], text()),
            member(&["Percent", "percent"], integer()),
            unknown(),
        ]);
        let segment = object(vec![
            member(&["ID", "id"], integer()),
            member(&["FlagID", "flagID"], integer()),
            member(&["Rank", "rank"], integer()),
            member(&["RolloutPercent"], integer()),
            member(&["Constraints", "constraints"], list(constraint)),
            member(&["Distributions"], list(distribution)),
            unknown(),
        ]);
        let attachment = prop_oneof![
            4 => object(vec![
                member(&["a", "b", "c", "é"], any_json()),
                member(&["d"], any_json()),
            ]),
            1 => any_json().boxed(),
        ];
        let variant = object(vec![
            member(&["ID", "id"], integer()),
            member(&["Key", "key"], text()),
            member(&["Attachment", "attachment"], attachment),
            unknown(),
        ]);
        let tag = object(vec![
            member(&["ID"], integer()),
            member(&["Value", "value"], text()),
            unknown(),
        ]);
        object(vec![
            member(&["ID", "id", "Id"], integer()),
            member(&["Key", "key", "KEY"], text()),
            member(&["Enabled", "enabled"], boolean()),
            member(&["SnapshotID", "snapshotId"], integer()),
            member(&["EntityType", "entityType"], text()),
            member(&["DataRecordsEnabled"], boolean()),
            member(&["Segments", "segments"], list(segment)),
            member(&["Variants", "variants"], list(variant)),
            member(&["Tags", "tags"], list(tag)),
            unknown(),
        ])
    }

    fn document() -> impl Strategy<Value = String> {
        let flags = prop_oneof![
            1 => list(export_flag()),
            4 => prop::collection::vec(export_flag(), 1..4)
                .prop_map(|flags| format!("[{}]", flags.join(","))),
        ];
        (flags, prop::option::of(any_json()), space()).prop_map(|(flags, extra, space)| {
            let extra = extra.map_or(String::new(), |value| format!(",\"Other\":{value}"));
            format!("{space}{{\"Flags\"{space}:{space}{flags}{extra}}}{space}")
        })
    }

    /// The flags of `text` read as two halves split at `split`, or `None` if either half
    /// leaves the document to serde.
    fn halves(text: &str, split: usize) -> Option<Vec<ExportFlag>> {
        let mut flags = Vec::new();
        let mut rest = Vec::new();
        read_export_before(text, split, |flag| {
            flags.push(flag);
            Ok(())
        })
        .ok()?;
        read_export_from(text, split, |flag| {
            rest.push(flag);
            Ok(())
        })
        .ok()?;
        flags.extend(rest);
        Some(flags)
    }

    #[test]
    fn two_halves_read_what_one_reader_reads() {
        let flags: Vec<String> = (1..=5)
            .map(|id| format!(r#"{{"ID":{id},"Key":"k{id}","Tags":[{{"Value":"t"}}]}}"#))
            .collect();
        let text = format!(
            r#"{{"Before":[1],"Flags":[{}],"After":{{"x":null}}}}"#,
            flags.join(",\n")
        );
        let whole = format!("{:?}", direct(&text).expect("read directly"));
        let starts: Vec<usize> = text.match_indices("{\"ID\"").map(|(at, _)| at).collect();
        for &split in &starts {
            assert_eq!(
                halves(&text, split).map(|f| format!("{f:?}")),
                Some(whole.clone())
            );
        }
        // Not the start of a flag: the first half passes it by, or the list ends first.
        for split in [
            starts[0] - 1,
            starts[1] + 1,
            text.find("\"x\"").expect("member"),
        ] {
            assert!(
                read_export_before(&text, split, |_| Ok(())).is_err(),
                "{split}"
            );
        }
        // The second half refuses a second flag list and anything after the document.
        let twice = text.replace("\"After\"", "\"flags\"");
        assert_eq!(
            read_export_from(&twice, starts[3], |_| Ok(())),
            Err(Stop::Unsupported)
        );
        let trailing = format!("{text} x");
        assert_eq!(
            read_export_from(&trailing, starts[3], |_| Ok(())),
            Err(Stop::Unsupported)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        #[test]
        fn every_document_read_directly_reads_the_same_with_serde(text in document()) {
            agrees_with_serde(&text);
        }

        #[test]
        fn halves_split_between_any_two_flags_read_as_a_whole_does(
            flags in prop::collection::vec(export_flag(), 2..5),
            at in 1usize..4,
        ) {
            let text = format!("{{\"Flags\":[{}]}}", flags.join(",\n"));
            let at = at.min(flags.len() - 1);
            let split = text
                .match_indices(",\n")
                .nth(at - 1)
                .map(|(position, _)| position + 2)
                .expect("a line per flag");
            if let (Some(whole), Some(halves)) = (direct(&text), halves(&text, split)) {
                prop_assert_eq!(format!("{whole:?}"), format!("{halves:?}"));
            }
        }

        #[test]
        fn any_value_is_kept_or_rewritten_exactly_as_serde_would(value in any_json()) {
            let text = format!(r#"{{"Flags":[{{"Variants":[{{"Attachment":{value}}}]}}]}}"#);
            agrees_with_serde(&text);
        }
    }
}
