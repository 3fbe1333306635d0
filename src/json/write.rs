//! Writing JSON as Go's `encoding/json` encoder with `SetEscapeHTML(false)` does: compact, object
//! keys in sorted order, numbers as their stored text, Go's string escapes. The trailing newline
//! Go's `Encoder` adds is left to the caller. Deep nesting is walked with an explicit stack, so a
//! deep value cannot exhaust the thread's stack here.

use std::collections::btree_map;
use std::slice;

use crate::json::Value;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// An array or object whose closing bracket has not been written yet, with what is left of it.
enum Open<'a> {
    Array(slice::Iter<'a, Value>),
    Object(btree_map::Iter<'a, String, Value>),
}

/// How deep [`write_value`] recurses before it restarts with an explicit stack.
const RECURSION_LIMIT: usize = 32;

/// Appends `value` to `out`.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    // Values as requests carry them are shallow: written recursively, with no stack to
    // allocate. A deeper one is written again from the start with an explicit stack.
    let start = out.len();
    if !write_shallow(out, value, 0) {
        out.truncate(start);
        write_deep(out, value);
    }
}

/// Writes `value` recursively; false (with `out` partly written) past `RECURSION_LIMIT`.
fn write_shallow(out: &mut Vec<u8>, value: &Value, depth: usize) -> bool {
    match value {
        Value::Array(items) => {
            if depth == RECURSION_LIMIT {
                return false;
            }
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                if !write_member(out, item, depth + 1) {
                    return false;
                }
            }
            out.push(b']');
        }
        Value::Object(members) => {
            if depth == RECURSION_LIMIT {
                return false;
            }
            out.push(b'{');
            for (index, (key, item)) in members.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_key(out, key);
                if !write_member(out, item, depth + 1) {
                    return false;
                }
            }
            out.push(b'}');
        }
        scalar => write_scalar(out, scalar),
    }
    true
}

/// Writes an array's element or an object's member value: scalars, most of them, without
/// another round of recursion.
#[inline(always)]
fn write_member(out: &mut Vec<u8>, value: &Value, depth: usize) -> bool {
    match value {
        Value::Array(_) | Value::Object(_) => write_shallow(out, value, depth),
        scalar => {
            write_scalar(out, scalar);
            true
        }
    }
}

/// Writes a value that is neither an array nor an object.
#[inline(always)]
fn write_scalar(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Go writes the zero json.Number, an empty string, as 0.
        Value::Number(number) if number.as_str().is_empty() => out.push(b'0'),
        Value::Number(number) => out.extend_from_slice(number.as_str().as_bytes()),
        Value::String(text) => write_string(out, text),
        Value::Array(_) | Value::Object(_) => {}
    }
}

/// Writes any value with an explicit stack, so depth cannot exhaust the thread's stack.
fn write_deep(out: &mut Vec<u8>, value: &Value) {
    let mut open: Vec<Open<'_>> = Vec::new();
    let mut current = value;

    loop {
        match current {
            Value::Array(items) => {
                out.push(b'[');
                let mut rest = items.iter();
                if let Some(first) = rest.next() {
                    open.push(Open::Array(rest));
                    current = first;
                    continue;
                }
                out.push(b']');
            }
            Value::Object(members) => {
                out.push(b'{');
                let mut rest = members.iter();
                if let Some((key, first)) = rest.next() {
                    write_key(out, key);
                    open.push(Open::Object(rest));
                    current = first;
                    continue;
                }
                out.push(b'}');
            }
            scalar => write_scalar(out, scalar),
        }

        // `current` is written: move to the next element of the innermost open container,
        // closing every container that has none left.
        loop {
            match open.last_mut() {
                None => return,
                Some(Open::Array(rest)) => {
                    if let Some(item) = rest.next() {
                        out.push(b',');
                        current = item;
                        break;
                    }
                    out.push(b']');
                }
                Some(Open::Object(rest)) => {
                    if let Some((key, item)) = rest.next() {
                        out.push(b',');
                        write_key(out, key);
                        current = item;
                        break;
                    }
                    out.push(b'}');
                }
            }
            open.pop();
        }
    }
}

/// `value` in decimal, written into the end of `buffer`.
pub fn u64_digits(value: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut start = buffer.len();
    let mut rest = value;
    loop {
        start -= 1;
        buffer[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    &buffer[start..]
}

/// Appends `value` in decimal without allocating.
pub fn write_u64(out: &mut Vec<u8>, value: u64) {
    if value >= 100_000_000 {
        out.extend_from_slice(u64_digits(value, &mut [0; 20]));
        return;
    }
    // Up to eight digits: gathered in one word, the first digit in its lowest byte, which is
    // appended whole and cut to length rather than copied by a call to `memcpy`.
    let mut word = 0u64;
    let mut length = 0;
    let mut rest = value;
    loop {
        word = word << 8 | (u64::from(b'0') + rest % 10);
        length += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let start = out.len();
    out.extend_from_slice(&word.to_le_bytes());
    out.truncate(start + length);
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    write_string(out, key);
    out.push(b':');
}

/// Appends `text` as a JSON string literal to `out`.
///
/// `"` and `\` are backslashed, newline, carriage return and tab get their short escapes, other
/// control characters below U+0020 become `\u00xx`, and U+2028 and U+2029 become `\u2028` and
/// `\u2029`. Everything else, `<`, `>`, `&` and all other non-ASCII included, is written as is.
/// This is Go before 1.22; Go 1.22 and later write U+0008 and U+000C as `\b` and `\f`.
pub fn write_string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if needs_look(bytes) {
        write_escaped(out, bytes);
    } else {
        // Most strings: written as they are.
        write_plain(out, bytes);
    }
}

/// [`write_string`] for a string that has something to escape; apart, so the common path
/// stays small.
#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');

    let mut run = 0;
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if !NEEDS_LOOK[usize::from(byte)] {
            i += 1;
            continue;
        }
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1F => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xF)],
            ],
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
            0xE2 if bytes.get(i + 1) == Some(&0x80) => match bytes.get(i + 2) {
                Some(0xA8) => b"\\u2028",
                Some(0xA9) => b"\\u2029",
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => {
                i += 1;
                continue;
            }
        };

        out.extend_from_slice(&bytes[run..i]);
        out.extend_from_slice(escape);
        i += if byte == 0xE2 { 3 } else { 1 };
        run = i;
    }

    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// Whether any byte of `bytes` is one [`NEEDS_LOOK`] marks, tested eight at a time. The
/// words may overlap: a byte tested twice changes nothing, so the tail and short strings need
/// no padded copy.
fn needs_look(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n >= 8 {
        let mut found = word_needs_look(u64::from_le_bytes(tail(bytes)));
        for word in bytes.chunks_exact(8) {
            found |= word_needs_look(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        }
        found
    } else if n >= 4 {
        let (first, last) = (
            u32::from_le_bytes(head(bytes)),
            u32::from_le_bytes(tail(bytes)),
        );
        word_needs_look(u64::from(first) | u64::from(last) << 32)
    } else if let (Some(&a), Some(&b)) = (bytes.first(), bytes.last()) {
        // One to three bytes: the first, the middle (for three) and the last, padded with
        // spaces, which need no look.
        let middle = bytes.get(1).copied().unwrap_or(b' ');
        let padded = [a, middle, b, b' ', b' ', b' ', b' ', b' '];
        word_needs_look(u64::from_le_bytes(padded))
    } else {
        false
    }
}

/// Appends `bytes`, which need no escapes, in quotes. A string of up to 16 bytes is assembled
/// in a fixed-size block from at most two overlapping words, and the block is appended whole,
/// then cut to length: fixed-size copies are done inline, where a copy of a length known only
/// at run time is a call to `memcpy` that costs more than the copy.
fn write_plain(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    let mut block = [b'"'; 18];
    match n {
        0 => {}
        1..=3 => {
            // The first, the middle and the last byte: all three of a three-byte string.
            block[1] = bytes[0];
            block[1 + n / 2] = bytes[n / 2];
            block[n] = bytes[n - 1];
        }
        4..=7 => {
            block[1..5].copy_from_slice(&head::<4>(bytes));
            block[n - 3..n + 1].copy_from_slice(&tail::<4>(bytes));
        }
        8..=16 => {
            block[1..9].copy_from_slice(&head::<8>(bytes));
            block[n - 7..n + 1].copy_from_slice(&tail::<8>(bytes));
        }
        _ => {
            out.reserve(n + 2);
            out.push(b'"');
            out.extend_from_slice(bytes);
            out.push(b'"');
            return;
        }
    }
    block[n + 1] = b'"';
    let start = out.len();
    out.extend_from_slice(&block);
    out.truncate(start + n + 2);
}

/// The first `N` bytes (zeros where `bytes` is shorter).
fn head<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes
        .get(..N)
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; N])
}

/// The last `N` bytes (zeros where `bytes` is shorter).
fn tail<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes
        .get(bytes.len().wrapping_sub(N)..)
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; N])
}

/// Whether any byte of `word` is one [`NEEDS_LOOK`] marks. Exact: a byte's test can only be
/// disturbed by a borrow from a lower byte that itself tested positive.
fn word_needs_look(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    (below(word, 0x20)
        | zero_byte(word ^ (ONES * u64::from(b'"')))
        | zero_byte(word ^ (ONES * u64::from(b'\\')))
        | zero_byte(word ^ (ONES * 0xE2)))
        != 0
}

/// The bytes a string writer must look at: controls, `"`, `\\`, and 0xE2 (the lead byte of
/// U+2028 and U+2029).
const NEEDS_LOOK: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0xE2] = true;
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{parse, Map, Number};

    #[test]
    fn word_test_agrees_with_the_byte_table() {
        let fillers = [b'a', b' ', 0x21, 0x7F, 0x80, 0xE1, 0xE3, 0xFF];
        for filler in fillers {
            for byte in 0..=255u8 {
                for position in 0..8 {
                    let mut word = [filler; 8];
                    word[position] = byte;
                    assert_eq!(
                        word_needs_look(u64::from_le_bytes(word)),
                        NEEDS_LOOK[usize::from(byte)] || NEEDS_LOOK[usize::from(filler)],
                        "{word:?}"
                    );
                }
            }
        }
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let any = state
                .to_le_bytes()
                .iter()
                .any(|&b| NEEDS_LOOK[usize::from(b)]);
            assert_eq!(word_needs_look(state), any, "{state:#x}");
        }
    }

    #[test]
    fn escapes_land_right_at_every_offset() {
        for special in [
            "\"", "\\", "\n", "\u{1}", "\u{2028}", "\u{2029}", "\u{2027}", "é",
        ] {
            for (length, position) in (0..=24).flat_map(|n| (0..=n).map(move |p| (n, p))) {
                let mut text = "abcdefghijklmnopqrstuvwx"[..length].to_string();
                text.insert_str(position, special);
                let mut expected = String::from("\"");
                for c in text.chars() {
                    match c {
                        '"' => expected.push_str("\\\""),
                        '\\' => expected.push_str("\\\\"),
                        '\n' => expected.push_str("\\n"),
                        '\u{1}' => expected.push_str("\\u0001"),
                        '\u{2028}' => expected.push_str("\\u2028"),
                        '\u{2029}' => expected.push_str("\\u2029"),
                        other => expected.push(other),
                    }
                }
                expected.push('"');
                let mut out = Vec::new();
                write_string(&mut out, &text);
                assert_eq!(String::from_utf8(out).expect("utf-8"), expected);
            }
        }
    }

    #[test]
    fn integers_of_every_width_write_as_decimal() {
        let mut values = vec![0, 1, 9, 10, 99, 100, u64::MAX, u64::MAX - 1];
        for power in 1..20 {
            let ten = 10u64.pow(power);
            values.extend([ten - 1, ten, ten + 1]);
        }
        for value in values {
            let mut out = b"x".to_vec();
            write_u64(&mut out, value);
            assert_eq!(String::from_utf8(out).expect("ascii"), format!("x{value}"));
        }
    }

    #[test]
    fn plain_strings_of_every_length_copy_exactly() {
        let source = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";
        for length in 0..=source.len() {
            for already in ["", "x", "[1,2,"] {
                let mut out = already.as_bytes().to_vec();
                write_string(&mut out, &source[..length]);
                let expected = format!("{already}\"{}\"", &source[..length]);
                assert_eq!(String::from_utf8(out).expect("utf-8"), expected);
            }
        }
    }

    #[test]
    fn string_escapes() {
        let cases: &[(&str, &str)] = &[
            ("", r#""""#),
            ("plain", r#""plain""#),
            ("say \"hi\"", r#""say \"hi\"""#),
            ("back\\slash", r#""back\\slash""#),
            ("a/b", r#""a/b""#),
            ("line\nfeed\rreturn\ttab", r#""line\nfeed\rreturn\ttab""#),
            ("\u{0}\u{1}\u{1f}", r#""\u0000\u0001\u001f""#),
            ("\u{8}\u{b}\u{c}", r#""\u0008\u000b\u000c""#),
            ("\u{1a}\u{1b}", r#""\u001a\u001b""#),
            (" \u{7f}", "\" \u{7f}\""),
            ("<script>&amp;</script>", r#""<script>&amp;</script>""#),
            (
                "caf\u{e9} \u{20ac} \u{1f600}",
                "\"caf\u{e9} \u{20ac} \u{1f600}\"",
            ),
            ("\u{fffd}", "\"\u{fffd}\""),
            ("a\u{2028}b\u{2029}c", r#""a\u2028b\u2029c""#),
            ("\u{2028}\u{2029}", r#""\u2028\u2029""#),
            ("\u{2027}\u{202a}\u{2020}", "\"\u{2027}\u{202a}\u{2020}\""),
            ("\u{85}\u{a0}\u{feff}", "\"\u{85}\u{a0}\u{feff}\""),
            ("\u{20ac}\"\u{20ac}", "\"\u{20ac}\\\"\u{20ac}\""),
        ];
        for (text, expected) in cases {
            let mut out = Vec::new();
            write_string(&mut out, text);
            assert_eq!(String::from_utf8_lossy(&out), *expected, "text {text:?}");
        }
    }

    #[test]
    fn long_strings_escape_wherever_the_special_character_sits() {
        // The documented rules, one character at a time.
        fn reference(text: &str) -> String {
            let mut out = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{2028}' => out.push_str("\\u2028"),
                    '\u{2029}' => out.push_str("\\u2029"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        let specials = [
            "\"",
            "\\",
            "\n",
            "\u{1}",
            "\u{1f}",
            "\u{2028}",
            "\u{2029}",
            "\u{20ac}",
            "\u{e9}",
            " ",
            "\u{7f}",
            "\u{1f600}",
        ];
        for length in 0..24 {
            for position in 0..=length {
                for special in specials {
                    let text: String = "abcdefghijklmnopqrstuvwx"[..position].to_owned()
                        + special
                        + &"ABCDEFGHIJKLMNOPQRSTUVWX"[position..length];
                    let mut out = Vec::new();
                    write_string(&mut out, &text);
                    assert_eq!(String::from_utf8_lossy(&out), reference(&text), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn values() {
        let object: Map = [
            ("b".to_owned(), Value::Null),
            ("a".to_owned(), Value::Bool(true)),
            ("B".to_owned(), Value::Array(Vec::new())),
            ("\u{e9}".to_owned(), Value::Object(Map::new())),
            ("a\"".to_owned(), Value::Bool(false)),
        ]
        .into_iter()
        .collect();
        let cases: Vec<(Value, &str)> = vec![
            (Value::Null, "null"),
            (Value::Bool(true), "true"),
            (Value::Bool(false), "false"),
            (Value::Number(Number::from_valid_text("25.0")), "25.0"),
            (Value::Number(Number::from_valid_text("1E+2")), "1E+2"),
            (Value::Number(Number::from_valid_text("-0")), "-0"),
            (Value::Number(Number::from_valid_text("")), "0"),
            (Value::Number(Number::from_f64(1e21)), "1e+21"),
            (Value::String("x<y".to_owned()), r#""x<y""#),
            (Value::Array(Vec::new()), "[]"),
            (Value::Object(Map::new()), "{}"),
            (
                Value::Array(vec![Value::Null, Value::Array(vec![Value::Bool(true)])]),
                "[null,[true]]",
            ),
            (
                Value::Object(object.clone()),
                r#"{"B":[],"a":true,"a\"":false,"b":null,"é":{}}"#,
            ),
            (
                Value::Array(vec![
                    Value::Object(object),
                    Value::Array(vec![Value::Array(vec![])]),
                ]),
                r#"[{"B":[],"a":true,"a\"":false,"b":null,"é":{}},[[]]]"#,
            ),
        ];
        for (value, expected) in cases {
            check(&value, expected);
        }
    }

    #[test]
    fn round_trip() {
        let body = br#"
            {
              "flagID": 3, "entityID": "user-<42>&co", "enableDebug": true,
              "entityContext": {
                "country": "US", "age": 25.0, "score": 1e0, "x": 1E+2, "y": 0.10,
                "build": 9007199254740993, "balance": -0,
                "big": 123456789012345678901234567890,
                "tags": ["a", "b\u0000", "\ud83d\ude00", "caf\u00e9", "\u2028"],
                "nested": {"z": null, "a": [{}, [], [1, [2, [3]]]], "m": false},
                "html": "<b>&amp;</b>", "quote": "\"\\\/\b\f\n\r\t"
              },
              "flagTags": []
            } trailing"#;
        let expected = concat!(
            r#"{"enableDebug":true,"entityContext":{"age":25.0,"balance":-0,"big":"#,
            r#"123456789012345678901234567890,"build":9007199254740993,"country":"US","#,
            r#""html":"<b>&amp;</b>","nested":{"a":[{},[],[1,[2,[3]]]],"m":false,"z":null},"#,
            r#""quote":"\"\\/\u0008\u000c\n\r\t","score":1e0,"#,
            "\"tags\":[\"a\",\"b\\u0000\",\"\u{1f600}\",\"caf\u{e9}\",\"\\u2028\"],",
            r#""x":1E+2,"y":0.10},"entityID":"user-<42>&co","flagID":3,"flagTags":[]}"#,
        );
        let value = parse(body);
        assert!(value.is_ok(), "{value:?}");
        if let Ok(value) = value {
            check(&value, expected);
            // What the writer wrote parses back to the same value.
            assert_eq!(parse(expected.as_bytes()).ok(), Some(value));
        }
    }

    #[test]
    fn both_writers_agree_around_the_recursion_limit() {
        for depth in RECURSION_LIMIT - 2..RECURSION_LIMIT + 3 {
            let mut value = Value::String("x\n".into());
            for level in 0..depth {
                value = if level % 2 == 0 {
                    Value::Array(vec![Value::Bool(true), value, Value::Null])
                } else {
                    Value::Object(
                        [("b".to_owned(), value), ("a".to_owned(), Value::Null)]
                            .into_iter()
                            .collect(),
                    )
                };
            }
            let mut written = b"prefix".to_vec();
            write_value(&mut written, &value);
            let mut deep = b"prefix".to_vec();
            write_deep(&mut deep, &value);
            assert_eq!(written, deep, "depth {depth}");
            assert!(written.ends_with(b"]") || written.ends_with(b"}"));
        }
    }

    #[test]
    fn deep_values_fit_a_small_stack() {
        let depth = 10_001;
        let thread = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let mut value = Value::Array(Vec::new());
                for level in 0..depth - 1 {
                    value = if level % 2 == 0 {
                        Value::Array(vec![Value::Null, value])
                    } else {
                        Value::Object([("k".to_owned(), value)].into_iter().collect())
                    };
                }
                let mut out = Vec::new();
                write_value(&mut out, &value);
                dismantle(value);
                out
            });
        let out = thread.map(|handle| handle.join());
        let Ok(Ok(out)) = out else {
            panic!("writing on a 2 MiB stack failed");
        };
        let opened = out.iter().filter(|&&b| b == b'[' || b == b'{').count();
        let closed = out.iter().filter(|&&b| b == b']' || b == b'}').count();
        assert_eq!((opened, closed), (depth, depth));
        assert!(out.starts_with(b"{\"k\":[null,{\"k\":"), "{:?}", &out[..20]);
        let innermost = b"[null,[]]}]}";
        assert!(out
            .windows(innermost.len())
            .any(|window| window == innermost));
        assert!(out.ends_with(b"]}]}"));
    }

    /// Drops a deep value level by level, so the test does not lean on the recursive drop.
    fn dismantle(value: Value) {
        let mut pending = vec![value];
        while let Some(value) = pending.pop() {
            match value {
                Value::Array(items) => pending.extend(items),
                Value::Object(members) => pending.extend(members.into_values()),
                _ => {}
            }
        }
    }

    fn check(value: &Value, expected: &str) {
        let mut out = b"prefix ".to_vec();
        write_value(&mut out, value);
        assert_eq!(String::from_utf8_lossy(&out), format!("prefix {expected}"));
    }
}
