//! The pieces of Go's regex syntax, read as `regexp/syntax` reads them and written in Rust's
//! syntax: escapes, character classes (Perl, POSIX and Unicode), and repeat counts. Go's
//! classes are ASCII where Rust's are Unicode, so every class is spelled out as ranges.

use regex::Regex;

use crate::expr::goregex::{go_error, NEVER};

/// Go's `parseClass`, entered on `[`; returns the Rust class and the text after `]`.
pub(super) fn parse_class(whole_class: &str) -> Result<(String, &str), String> {
    let mut t = &whole_class[1..];
    let negated = t.starts_with('^');
    if negated {
        t = &t[1..];
    }
    let mut items = String::new();
    let mut first = true;
    while t.is_empty() || !t.starts_with(']') || first {
        first = false;
        if t.len() > 2 && t.starts_with("[:") {
            if let Some((set, rest)) = posix_class(t)? {
                items.push_str(&set);
                t = rest;
                continue;
            }
        }
        if t.starts_with(r"\p") || t.starts_with(r"\P") {
            let (text, rest) = unicode_class(t)?;
            items.push_str(&text);
            t = rest;
            continue;
        }
        if let Some((class, rest)) = perl_class(t) {
            items.push_str(&class);
            t = rest;
            continue;
        }

        let range = t;
        let (lo, rest) = class_char(t, whole_class)?;
        t = rest;
        let mut hi = lo;
        if t.len() >= 2 && t.starts_with('-') && !t[1..].starts_with(']') {
            let (h, rest) = class_char(&t[1..], whole_class)?;
            t = rest;
            hi = h;
            if hi < lo {
                return Err(go_error(
                    "invalid character class range",
                    &range[..range.len() - t.len()],
                ));
            }
        }
        push_class_range(&mut items, lo, hi);
    }
    let rest = &t[1..];
    let text = match (items.is_empty(), negated) {
        (true, false) => NEVER.to_owned(),
        (true, true) => r"[\x{0}-\x{10FFFF}]".to_owned(),
        (false, false) => format!("[{items}]"),
        (false, true) => format!("[^{items}]"),
    };
    Ok((text, rest))
}

/// A literal character for the Rust pattern, escaped unless it is an ASCII letter or digit.
pub(super) fn literal(c: char) -> String {
    if c.is_ascii_alphanumeric() {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", c as u32)
    }
}

/// Appends the range `lo-hi` (code points) to a Rust class body, leaving out surrogates, which
/// no Rust string contains (and no UTF-8 text Go matches).
fn push_class_range(items: &mut String, lo: u32, hi: u32) {
    let (lo, hi) = (
        if (0xd800..0xe000).contains(&lo) {
            0xe000
        } else {
            lo
        },
        if (0xd800..0xe000).contains(&hi) {
            0xd7ff
        } else {
            hi
        },
    );
    if lo > hi {
        return;
    }
    items.push_str(&format!("\\x{{{lo:X}}}"));
    if hi != lo {
        items.push_str(&format!("-\\x{{{hi:X}}}"));
    }
}

/// One class character: an escape or a single code point.
fn class_char<'t>(t: &'t str, whole_class: &str) -> Result<(u32, &'t str), String> {
    let Some(c) = t.chars().next() else {
        return Err(go_error("missing closing ]", whole_class));
    };
    if c == '\\' {
        let (value, rest) = parse_escape_value(t)?;
        return Ok((value, rest));
    }
    Ok((c as u32, &t[c.len_utf8()..]))
}

/// Go's `parseEscape` as a character (`None` for a surrogate, which matches nothing).
pub(super) fn parse_escape(t: &str) -> Result<(Option<char>, &str), String> {
    let (value, rest) = parse_escape_value(t)?;
    Ok((char::from_u32(value), rest))
}

/// Go's `parseEscape`: the code point of a single-character escape at the start of `s`.
fn parse_escape_value(s: &str) -> Result<(u32, &str), String> {
    let invalid = |rest: &str| go_error("invalid escape sequence", &s[..s.len() - rest.len()]);
    let t = &s[1..];
    let Some(c) = t.chars().next() else {
        return Err(go_error("trailing backslash at end of expression", ""));
    };
    let mut t = &t[c.len_utf8()..];
    let octal = |b: Option<&u8>| b.is_some_and(|b| (b'0'..=b'7').contains(b));
    match c {
        '1'..='7' if !octal(t.as_bytes().first()) => Err(invalid(t)),
        '0'..='7' => {
            let mut value = c as u32 - '0' as u32;
            for _ in 1..3 {
                if !octal(t.as_bytes().first()) {
                    break;
                }
                value = value * 8 + u32::from(t.as_bytes()[0] - b'0');
                t = &t[1..];
            }
            Ok((value, t))
        }
        'x' => {
            let Some(c) = t.chars().next() else {
                return Err(invalid(t));
            };
            t = &t[c.len_utf8()..];
            if c == '{' {
                let mut value = 0u32;
                let mut digits = 0;
                loop {
                    let Some(d) = t.chars().next() else {
                        return Err(invalid(t));
                    };
                    t = &t[d.len_utf8()..];
                    if d == '}' {
                        break;
                    }
                    let Some(v) = d.to_digit(16) else {
                        return Err(invalid(t));
                    };
                    value = value * 16 + v;
                    if value > 0x10ffff {
                        return Err(invalid(t));
                    }
                    digits += 1;
                }
                if digits == 0 {
                    return Err(invalid(t));
                }
                return Ok((value, t));
            }
            let x = c.to_digit(16);
            let next = t.chars().next();
            if let Some(n) = next {
                t = &t[n.len_utf8()..];
            }
            match (x, next.and_then(|n| n.to_digit(16))) {
                (Some(x), Some(y)) => Ok((x * 16 + y, t)),
                _ => Err(invalid(t)),
            }
        }
        'a' => Ok((7, t)),
        'f' => Ok((12, t)),
        'n' => Ok((10, t)),
        'r' => Ok((13, t)),
        't' => Ok((9, t)),
        'v' => Ok((11, t)),
        _ if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c as u32, t)),
        _ => Err(invalid(t)),
    }
}

/// `\d \D \s \S \w \W` (ASCII in Go) as a Rust class body.
pub(super) fn perl_class(t: &str) -> Option<(String, &str)> {
    let body = match t.get(..2)? {
        r"\d" => "0-9",
        r"\D" => "[^0-9]",
        r"\s" => r"\x{9}\x{A}\x{C}\x{D}\x{20}",
        r"\S" => r"[^\x{9}\x{A}\x{C}\x{D}\x{20}]",
        r"\w" => "0-9A-Za-z_",
        r"\W" => "[^0-9A-Za-z_]",
        _ => return None,
    };
    Some((body.to_owned(), &t[2..]))
}

/// A POSIX class `[:name:]` or `[:^name:]` (ASCII in Go) at the start of `t`, as a class body.
/// `None` when there is no closing `:]`, so the `[` is an ordinary character.
fn posix_class(t: &str) -> Result<Option<(String, &str)>, String> {
    let Some(i) = t[2..].find(":]") else {
        return Ok(None);
    };
    let name = &t[..i + 4];
    let (negated, bare) = match name[2..name.len() - 2].strip_prefix('^') {
        Some(bare) => (true, bare),
        None => (false, &name[2..name.len() - 2]),
    };
    let body = match bare {
        "alnum" => "0-9A-Za-z",
        "alpha" => "A-Za-z",
        "ascii" => r"\x{0}-\x{7F}",
        "blank" => r"\x{9}\x{20}",
        "cntrl" => r"\x{0}-\x{1F}\x{7F}",
        "digit" => "0-9",
        "graph" => r"\x{21}-\x{7E}",
        "lower" => "a-z",
        "print" => r"\x{20}-\x{7E}",
        "punct" => r"\x{21}-\x{2F}\x{3A}-\x{40}\x{5B}-\x{60}\x{7B}-\x{7E}",
        "space" => r"\x{9}-\x{D}\x{20}",
        "upper" => "A-Z",
        "word" => "0-9A-Za-z_",
        "xdigit" => "0-9A-Fa-f",
        _ => return Err(go_error("invalid character class range", name)),
    };
    let set = if negated {
        format!("[^{body}]")
    } else {
        body.to_owned()
    };
    Ok(Some((set, &t[i + 4..])))
}

/// `\pL`, `\p{Greek}`, `\P{^Lu}`: Go's categories, `Any` and scripts.
pub(super) fn unicode_class(t: &str) -> Result<(String, &str), String> {
    let mut positive = t.as_bytes()[1] == b'p';
    let after = &t[2..];
    let (seq, mut name, rest) = match after.chars().next() {
        Some('{') => {
            let Some(end) = t.find('}') else {
                return Err(go_error("invalid character class range", t));
            };
            (&t[..=end], &t[3..end], &t[end + 1..])
        }
        Some(c) => (
            &t[..2 + c.len_utf8()],
            &after[..c.len_utf8()],
            &after[c.len_utf8()..],
        ),
        None => (t, "", ""),
    };
    if let Some(bare) = name.strip_prefix('^') {
        positive = !positive;
        name = bare;
    }
    let Some(property) = unicode_property(name) else {
        return Err(go_error("invalid character class range", seq));
    };
    let sign = if positive { 'p' } else { 'P' };
    Ok((format!("\\{sign}{{{property}}}"), rest))
}

/// The Rust spelling of a Go Unicode table name, if Go knows the name.
fn unicode_property(name: &str) -> Option<String> {
    const CATEGORIES: [&str; 36] = [
        "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
        "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm",
        "So", "Z", "Zl", "Zp", "Zs",
    ];
    if name == "Any" {
        return Some("Any".to_owned());
    }
    if CATEGORIES.contains(&name) {
        return Some(format!("gc={name}"));
    }
    // Go's script names are capitalised words joined by `_` (and `SignWriting`).
    let shaped = name == "SignWriting"
        || name.split('_').all(|word| {
            let mut chars = word.chars();
            chars.next().is_some_and(|c| c.is_ascii_uppercase())
                && chars.all(|c| c.is_ascii_lowercase())
        });
    let property = format!("sc={name}");
    (shaped && Regex::new(&format!(r"\p{{{property}}}")).is_ok()).then_some(property)
}

/// Go's `parseRepeat`: `{n}`, `{n,}` or `{n,m}` at the start of `s`, with the text after it.
/// A count too large to read makes `min` -1; `None` means the `{` is a literal.
pub(super) fn parse_repeat(s: &str) -> Option<(i64, i64, &str)> {
    let s = s.strip_prefix('{')?;
    let (mut min, s) = parse_count(s)?;
    let (max, s) = match s.strip_prefix(',') {
        None => (min, s),
        Some(s) if s.starts_with('}') => (-1, s),
        Some(s) => {
            let (max, s) = parse_count(s)?;
            if max < 0 {
                min = -1;
            }
            (max, s)
        }
    };
    let rest = s.strip_prefix('}')?;
    Some((min, max, rest))
}

/// A decimal count without leading zeros; -1 when it reaches 1e8.
fn parse_count(s: &str) -> Option<(i64, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits >= 2 && s.starts_with('0') {
        return None;
    }
    let mut value: i64 = 0;
    for b in s[..digits].bytes() {
        if value >= 100_000_000 {
            value = -1;
            break;
        }
        value = value * 10 + i64::from(b - b'0');
    }
    Some((value, &s[digits..]))
}
