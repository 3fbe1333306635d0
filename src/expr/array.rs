//! Array literals of the conditions language (`["a","b"]`, `[1,2.5]`): the library decodes the
//! bracket's token texts with Go's `encoding/json` and keeps the result only when every element
//! is a string, or every element is a number. The decoder here accepts exactly what Go's does
//! for that purpose and reports the library's message for each refusal.

use crate::expr::ast::{Node, StrList};
use crate::expr::Dialect;

/// An array literal: the library decodes `[` + content + `]` with Go's JSON decoder and keeps
/// it only if every element is a string, or every element is a number.
pub(crate) fn array_literal(content: &str, dialect: Dialect) -> Result<Node, String> {
    let v11 = dialect == Dialect::Flagr11;
    let mut text = String::with_capacity(content.len() + 2);
    text.push('[');
    text.push_str(content);
    text.push(']');
    let elements = match decode_json_array(&text) {
        Some(elements) if !elements.is_empty() => elements,
        // v0.2.3 ignores the decoding error and then finds no element.
        Some(_) | None if v11 => return Err("Empty Slice not castable".to_owned()),
        Some(_) => return Err("empty slice not castable".to_owned()),
        None => return Err(format!("unable to parse array: [{content}]")),
    };

    match elements.first() {
        Some(Element::Str(_)) => {
            let mut items = Vec::with_capacity(elements.len());
            for element in elements {
                match element {
                    Element::Str(s) => items.push(s.into_boxed_str()),
                    _ => return Err("the items in the array are not all string".to_owned()),
                }
            }
            Ok(Node::StrList(Box::new(StrList::new(items))))
        }
        Some(Element::Num(_)) => {
            let mut items = Vec::with_capacity(elements.len());
            for element in elements {
                match element {
                    Element::Num(n) => items.push(n),
                    _ => return Err("the items in the array are not all number".to_owned()),
                }
            }
            Ok(Node::NumList(items.into_boxed_slice()))
        }
        _ if v11 => Err("Slice of unknow type".to_owned()),
        _ => Err("slice of unknown type".to_owned()),
    }
}

enum Element {
    Str(String),
    Num(f64),
    /// Any other JSON value: never part of a usable array literal.
    Other,
}

/// Decodes a JSON array of strings and numbers as Go's `encoding/json` would; `None` when Go
/// reports an error. Other element kinds are only checked for syntax: any of them makes the
/// literal unusable, but the library's message differs between invalid JSON and a wrong type.
fn decode_json_array(text: &str) -> Option<Vec<Element>> {
    let bytes = text.as_bytes();
    let mut pos = skip_ws(bytes, 0);
    if bytes.get(pos) != Some(&b'[') {
        return None;
    }
    pos = skip_ws(bytes, pos + 1);
    let mut elements = Vec::new();
    if bytes.get(pos) == Some(&b']') {
        pos += 1;
    } else {
        loop {
            let (element, next) = match bytes.get(pos)? {
                b'"' => {
                    let (s, next) = decode_json_string(text, pos)?;
                    (Element::Str(s), next)
                }
                b'-' | b'0'..=b'9' => {
                    let end = json_number_end(bytes, pos)?;
                    let value: f64 = text[pos..end].parse().ok()?;
                    if value.is_infinite() {
                        return None;
                    }
                    (Element::Num(value), end)
                }
                _ => (Element::Other, skip_json_value(text, pos, 0)?),
            };
            elements.push(element);
            pos = skip_ws(bytes, next);
            match bytes.get(pos)? {
                b',' => pos = skip_ws(bytes, pos + 1),
                b']' => {
                    pos += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(bytes, pos) == bytes.len()).then_some(elements)
}

/// The end of the JSON value at `pos` (after leading whitespace), checking its syntax.
fn skip_json_value(text: &str, pos: usize, depth: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let pos = skip_ws(bytes, pos);
    if depth > 1000 {
        return None;
    }
    match bytes.get(pos)? {
        b'"' => decode_json_string(text, pos).map(|(_, end)| end),
        b'-' | b'0'..=b'9' => json_number_end(bytes, pos),
        b't' => text[pos..].starts_with("true").then_some(pos + 4),
        b'f' => text[pos..].starts_with("false").then_some(pos + 5),
        b'n' => text[pos..].starts_with("null").then_some(pos + 4),
        open @ (b'[' | b'{') => {
            let close = if *open == b'[' { b']' } else { b'}' };
            let mut at = skip_ws(bytes, pos + 1);
            if bytes.get(at) == Some(&close) {
                return Some(at + 1);
            }
            loop {
                if close == b'}' {
                    at = skip_ws(bytes, at);
                    if bytes.get(at) != Some(&b'"') {
                        return None;
                    }
                    at = skip_ws(bytes, decode_json_string(text, at)?.1);
                    if bytes.get(at) != Some(&b':') {
                        return None;
                    }
                    at += 1;
                }
                at = skip_ws(bytes, skip_json_value(text, at, depth + 1)?);
                match bytes.get(at)? {
                    b',' => at += 1,
                    b if *b == close => return Some(at + 1),
                    _ => return None,
                }
            }
        }
        _ => None,
    }
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while matches!(bytes.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        pos += 1;
    }
    pos
}

/// The end of a JSON number starting at `pos`, checked against JSON's grammar.
fn json_number_end(bytes: &[u8], mut pos: usize) -> Option<usize> {
    let digits = |bytes: &[u8], mut pos: usize| {
        let start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        (pos > start).then_some(pos)
    };
    if bytes[pos] == b'-' {
        pos += 1;
    }
    if bytes.get(pos) == Some(&b'0') {
        pos += 1;
    } else {
        pos = digits(bytes, pos)?;
    }
    if bytes.get(pos) == Some(&b'.') {
        pos = digits(bytes, pos + 1)?;
    }
    if matches!(bytes.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        if matches!(bytes.get(pos), Some(b'+' | b'-')) {
            pos += 1;
        }
        pos = digits(bytes, pos)?;
    }
    Some(pos)
}

/// A JSON string starting at the quote at `pos`, decoded as Go does (a lone surrogate escape
/// becomes U+FFFD); returns the string and the position after the closing quote.
fn decode_json_string(text: &str, pos: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut rest = text[pos + 1..].char_indices();
    loop {
        let (i, c) = rest.next()?;
        match c {
            '"' => return Some((out, pos + 1 + i + 1)),
            '\\' => {
                let (_, e) = rest.next()?;
                match e {
                    '"' | '\\' | '/' => out.push(e),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let start = pos + 1 + i + 2;
                        let unit = hex4(text, start)?;
                        for _ in 0..4 {
                            rest.next();
                        }
                        if (0xd800..0xdc00).contains(&unit) && text[start + 4..].starts_with("\\u")
                        {
                            if let Some(low) =
                                hex4(text, start + 6).filter(|l| (0xdc00..0xe000).contains(l))
                            {
                                let combined = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                                out.push(char::from_u32(combined).unwrap_or('\u{fffd}'));
                                for _ in 0..6 {
                                    rest.next();
                                }
                                continue;
                            }
                        }
                        out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                    }
                    _ => return None,
                }
            }
            c if c < ' ' => return None,
            c => out.push(c),
        }
    }
}

fn hex4(text: &str, start: usize) -> Option<u32> {
    let digits = text.get(start..start + 4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}
