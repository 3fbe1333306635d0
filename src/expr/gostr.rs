//! Go's text conventions for strings and floats, as the conditions library and Flagr print and
//! read them: `strconv.Quote`, `strconv.Unquote`, `strconv.ParseFloat`, `%v` of a float64, and
//! the Unicode letter/digit/print predicates they rest on. Nothing here knows about expressions.

use std::fmt::Write;
use std::sync::OnceLock;

use regex::Regex;

/// Go's `strconv.Quote`: double quotes, `\"` and `\\`, the C escapes, and `\x`, `\u` or `\U`
/// for every rune that `strconv.IsPrint` rejects.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_go_quoted(&mut out, text);
    out
}

/// Appends `text` quoted as Go's `strconv.Quote` does.
pub(crate) fn push_go_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ if is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            _ if c < ' ' || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            _ if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            _ => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
pub(crate) fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    static PRINT: OnceLock<Regex> = OnceLock::new();
    matches_class(&PRINT, r"\A[\p{L}\p{M}\p{N}\p{P}\p{S}]\z", c)
}

/// Go's `unicode.IsLetter` (general category L).
#[inline]
pub(crate) fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    static LETTER: OnceLock<Regex> = OnceLock::new();
    matches_class(&LETTER, r"\A\p{L}\z", c)
}

/// Go's `unicode.IsDigit` (general category Nd).
#[inline]
pub(crate) fn is_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    static DIGIT: OnceLock<Regex> = OnceLock::new();
    matches_class(&DIGIT, r"\A\p{Nd}\z", c)
}

fn matches_class(cell: &OnceLock<Regex>, pattern: &str, c: char) -> bool {
    let class = cell.get_or_init(|| Regex::new(pattern).expect("a fixed Unicode class compiles"));
    let mut buf = [0u8; 4];
    class.is_match(c.encode_utf8(&mut buf))
}

/// Go's `strconv.Unquote` for a double-quoted literal. `None` where Go returns an error.
///
/// Byte escapes (`\xff`, `\377`) that do not form UTF-8 are replaced by U+FFFD: a Rust string
/// cannot hold them. Go keeps the raw byte, which no JSON-decoded context string can equal either.
pub(crate) fn go_unquote(literal: &str) -> Option<String> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\n') {
        return None;
    }
    if !inner.contains(['\\', '"']) {
        return Some(inner.to_owned());
    }

    let mut bytes = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '"' => return None,
            '\\' => rest = unquote_escape(rest, &mut bytes)?,
            _ => {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Decodes one escape (the part after the backslash) onto `bytes`; returns what follows it.
fn unquote_escape<'a>(rest: &'a str, bytes: &mut Vec<u8>) -> Option<&'a str> {
    let c = rest.chars().next()?;
    let rest = &rest[c.len_utf8()..];
    let simple = match c {
        'a' => Some(7),
        'b' => Some(8),
        'f' => Some(12),
        'n' => Some(b'\n'),
        'r' => Some(b'\r'),
        't' => Some(b'\t'),
        'v' => Some(11),
        '\\' => Some(b'\\'),
        '"' => Some(b'"'),
        _ => None,
    };
    if let Some(byte) = simple {
        bytes.push(byte);
        return Some(rest);
    }

    match c {
        'x' | 'u' | 'U' => {
            let width = match c {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..width)?;
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let value = u32::from_str_radix(digits, 16).ok()?;
            if c == 'x' {
                bytes.push(u8::try_from(value).ok()?);
            } else {
                let rune = char::from_u32(value)?;
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(rune.encode_utf8(&mut buf).as_bytes());
            }
            Some(&rest[width..])
        }
        '0'..='7' => {
            let digits = rest.get(..2)?;
            let mut value = c as u32 - '0' as u32;
            for d in digits.bytes() {
                if !(b'0'..=b'7').contains(&d) {
                    return None;
                }
                value = value * 8 + u32::from(d - b'0');
            }
            bytes.push(u8::try_from(value).ok()?);
            Some(&rest[2..])
        }
        _ => None,
    }
}

/// Go's `strconv.ParseFloat(text, 64)` for number text from Go's scanner. `None` where Go
/// returns an error, including overflow to infinity.
pub(crate) fn go_parse_float(text: &str) -> Option<f64> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if body.contains('_') && !underscores_ok(body) {
        return None;
    }
    let body = body.replace('_', "");

    let hex = body.len() > 2 && body.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    let magnitude = if hex {
        parse_hex_float(&body[2..])?
    } else {
        if !is_decimal_float(&body) {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    if magnitude.is_infinite() {
        return None;
    }
    Some(if negative { -magnitude } else { magnitude })
}

/// Go's rule for digit separators: each `_` sits between digits (a base prefix counts as one).
fn underscores_ok(body: &str) -> bool {
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut saw = b'^';
    let mut hex = false;
    if bytes.len() >= 2 && bytes[0] == b'0' && matches!(bytes[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = bytes[1] | 0x20 == b'x';
    }
    for &b in &bytes[i..] {
        if b.is_ascii_digit() || hex && b.is_ascii_hexdigit() {
            saw = b'0';
        } else if b == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Decimal mantissa with optional fraction and exponent, as Go's `readFloat` accepts it.
fn is_decimal_float(body: &str) -> bool {
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    if i < bytes.len() && bytes[i] | 0x20 == b'e' {
        i += 1;
        if i < bytes.len() && matches!(bytes[i], b'+' | b'-') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == bytes.len()
}

/// A hexadecimal mantissa with a mandatory binary exponent (`1.8p3`), as Go requires.
fn parse_hex_float(body: &str) -> Option<f64> {
    let (mantissa_text, exponent_text) = body.split_once(['p', 'P'])?;
    let (int_part, frac_part) = mantissa_text.split_once('.').unwrap_or((mantissa_text, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut mantissa = 0f64;
    for d in int_part.chars().chain(frac_part.chars()) {
        mantissa = mantissa * 16.0 + f64::from(d.to_digit(16)?);
    }
    let exponent: i32 = exponent_text.parse().ok()?;
    let frac_bits = i32::try_from(frac_part.len() * 4).ok()?;
    Some(mantissa * 2f64.powi(exponent.saturating_sub(frac_bits)))
}

/// Go's `%v` of a float64: shortest digits, exponent form below 1e-4 and from 1e+06.
pub fn go_format_float(value: f64) -> String {
    let mut out = String::new();
    push_go_float(&mut out, value);
    out
}

/// Appends Go's `%v` of a float64 to `out`.
pub(crate) fn push_go_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if value.is_sign_negative() {
        out.push('-');
    }
    let magnitude = value.abs();
    if magnitude == 0.0 {
        out.push('0');
        return;
    }

    // Rust's exponent form carries the same shortest round-trip digits Go prints.
    let scientific = format!("{magnitude:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();

    if !(-4..6).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
        return;
    }
    if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(&digits);
        return;
    }
    let int_len = usize::try_from(exponent).unwrap_or(0) + 1;
    if digits.len() <= int_len {
        out.push_str(&digits);
        for _ in digits.len()..int_len {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..int_len]);
        out.push('.');
        out.push_str(&digits[int_len..]);
    }
}

/// Go's `strconv.FormatFloat(value, 'f', 3, 64)`, the conditions library's number text.
pub(crate) fn push_fixed3(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value:.3}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_strconv() {
        fn check(input: &str, expected: &str) {
            assert_eq!(go_quote(input), expected, "quote of {input:?}");
        }
        check("s", r#""s""#);
        check("a string", r#""a string""#);
        check("a\"b\\c", r#""a\"b\\c""#);
        check("tab\there\nnl", r#""tab\there\nnl""#);
        check("\u{1}\u{7f}", r#""\x01\x7f""#);
        check("café Zürich", r#""café Zürich""#);
        check("\u{a0}\u{ad}", r#""\u00a0\u00ad""#);
        check("\u{e0001}", r#""\U000e0001""#);
        check("\u{7}\u{8}\u{b}\u{c}\r", r#""\a\b\v\f\r""#);
    }

    #[test]
    fn unquote_matches_strconv() {
        fn check(input: &str, expected: Option<&str>) {
            assert_eq!(go_unquote(input).as_deref(), expected, "unquote of {input}");
        }
        check(r#""CA""#, Some("CA"));
        check(r#""a\"b""#, Some("a\"b"));
        check(r#""caf\u00e9""#, Some("café"));
        check(r#""\x41\101\t""#, Some("AA\t"));
        check(r#""\d+""#, None);
        check(r#""\'""#, None);
        check(r#""a"b""#, None);
        check(r#""\ud800""#, None);
        check(r#""\400""#, None);
        check("\"a\nb\"", None);
        check(r#""\U0001F600""#, Some("\u{1f600}"));
    }

    #[test]
    fn parse_float_matches_strconv() {
        fn check(input: &str, expected: Option<f64>) {
            assert_eq!(go_parse_float(input), expected, "parse of {input}");
        }
        check("18", Some(18.0));
        check("-5.5", Some(-5.5));
        check("1e3", Some(1000.0));
        check(".5", Some(0.5));
        check("5.", Some(5.0));
        check("017", Some(17.0));
        check("1_000", Some(1000.0));
        check("1__0", None);
        check("_1", None);
        check("0x10", None);
        check("0x1p4", Some(16.0));
        check("0x1.8p1", Some(3.0));
        check("0b1", None);
        check("0o7", None);
        check("1e", None);
        check("1e400", None);
        check("1e-400", Some(0.0));
        check("9007199254740993", Some(9007199254740992.0));
    }

    #[test]
    fn float_v_matches_fmt() {
        fn check(input: f64, expected: &str) {
            assert_eq!(go_format_float(input), expected, "%v of {input}");
        }
        check(0.0, "0");
        check(-0.0, "-0");
        check(1.0, "1");
        check(0.25, "0.25");
        check(0.999, "0.999");
        check(123456.0, "123456");
        check(1234567.0, "1.234567e+06");
        check(1e6, "1e+06");
        check(9007199254740993.0, "9.007199254740992e+15");
        check(0.0001, "0.0001");
        check(0.00001, "1e-05");
        check(-2.5, "-2.5");
        check(1.5e300, "1.5e+300");
        check(f64::INFINITY, "+Inf");
        check(100.0, "100");
    }

    #[test]
    fn fixed3_matches_format_float() {
        fn check(input: f64, expected: &str) {
            let mut out = String::new();
            push_fixed3(&mut out, input);
            assert_eq!(out, expected, "'f' 3 of {input}");
        }
        check(25.0, "25.000");
        check(-1.0, "-1.000");
        check(0.0625, "0.062");
        check(42.42, "42.420");
        check(-0.0, "-0.000");
        check(9007199254740993.0, "9007199254740992.000");
    }

    #[test]
    fn unicode_predicates_follow_go_categories() {
        assert!(is_letter('é') && is_letter('ж') && !is_letter('1') && !is_letter('_'));
        assert!(is_digit('٣') && !is_digit('a'));
        assert!(is_print('€') && !is_print('\u{2028}') && is_print(' ') && !is_print('\u{3000}'));
    }
}
