//! Go regular expressions (RE2 syntax with Go's Perl flags) run on Rust's `regex` crate. The
//! pattern is read with Go's grammar, refused with Go's error text where Go refuses it, and
//! rewritten so every construct means what it means in Go: `\d`, `\s`, `\w` and `\b` are ASCII,
//! `[a&&b]` is three characters, `\<` is a literal, an unparsable `{` is a literal.
//!
//! Known limits: Unicode tables follow the `regex` crate's Unicode version, script names are
//! checked against that crate rather than Go's list, and Go's "expression too large" limits are
//! approximated by the crate's own size limit.

mod atoms;

use std::sync::{Arc, OnceLock};

use moka::sync::Cache;
use regex::{Regex, RegexBuilder};

use atoms::{literal, parse_class, parse_escape, parse_repeat, perl_class, unicode_class};

/// A Go regular expression compiled for matching.
#[derive(Clone, Debug)]
pub(crate) struct GoRegex(Arc<Regex>);

impl GoRegex {
    /// Go's `MatchString`: an unanchored search.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

/// Compiles `pattern` as Go's `regexp.Compile` would. The error is Go's message, for example
/// ``error parsing regexp: missing closing ): `(a` ``.
///
/// Compiled patterns are shared through a bounded process-wide cache: fleets repeat the same
/// patterns across many flags, and a compiled regex costs tens of kilobytes and tens of
/// microseconds, so 50,000 flags with one pattern hold one compiled copy, not 50,000.
pub(crate) fn compile(pattern: &str) -> Result<GoRegex, String> {
    let cache = COMPILED.get_or_init(|| Cache::builder().max_capacity(COMPILED_PATTERNS).build());
    if let Some(regex) = cache.get(pattern) {
        return Ok(GoRegex(regex));
    }
    let translated = Translator::new(pattern).run()?;
    let regex = RegexBuilder::new(&translated)
        .size_limit(64 << 20)
        .nest_limit(2000)
        .build()
        .map_err(|_| go_error("expression too large", pattern))?;
    // Shared, not cloned: a cloned `Regex` gets a search-cache pool of its own.
    let regex = Arc::new(regex);
    cache.insert(pattern.to_string(), Arc::clone(&regex));
    Ok(GoRegex(regex))
}

/// How many distinct compiled patterns the cache keeps.
const COMPILED_PATTERNS: u64 = 10_000;

static COMPILED: OnceLock<Cache<String, Arc<Regex>>> = OnceLock::new();

/// Go's `syntax.Error` text.
pub(super) fn go_error(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

/// Matches nothing, as Go's empty character class does.
pub(super) const NEVER: &str = r"[^\x{0}-\x{10FFFF}]";

/// Go's `maxRepeat`: the largest count, and the largest product of nested counts.
pub(super) const MAX_REPEAT: u64 = 1000;

enum Piece {
    /// Something a repetition operator can apply to, with the repeat budget its nested counted
    /// repetitions need (Go's `repeatIsValid`).
    Atom { text: String, need: u64 },
    /// A `(?i)`-style flag change: it takes effect where it stands but is not an operand.
    Flags(String),
}

struct Frame {
    open: String,
    alternatives: Vec<String>,
    pieces: Vec<Piece>,
    need: u64,
}

impl Frame {
    fn new(open: &str) -> Frame {
        Frame {
            open: open.to_owned(),
            alternatives: Vec::new(),
            pieces: Vec::new(),
            need: 0,
        }
    }

    fn finish_alternative(&mut self) {
        let mut text = String::new();
        for piece in self.pieces.drain(..) {
            match piece {
                Piece::Atom { text: atom, need } => {
                    text.push_str(&atom);
                    self.need = self.need.max(need);
                }
                Piece::Flags(flags) => text.push_str(&flags),
            }
        }
        self.alternatives.push(text);
    }
}

struct Translator<'p> {
    whole: &'p str,
    frames: Vec<Frame>,
}

impl<'p> Translator<'p> {
    fn new(whole: &'p str) -> Translator<'p> {
        Translator {
            whole,
            frames: vec![Frame::new("")],
        }
    }

    fn frame(&mut self) -> &mut Frame {
        self.frames
            .last_mut()
            .expect("the top-level frame is never popped")
    }

    fn atom(&mut self, text: impl Into<String>, need: u64) {
        self.frame().pieces.push(Piece::Atom {
            text: text.into(),
            need,
        });
    }

    fn run(mut self) -> Result<String, String> {
        let mut t = self.whole;
        let mut last_repeat: Option<&'p str> = None;
        while let Some(c) = t.chars().next() {
            let mut repeat = None;
            match c {
                '(' if t.starts_with("(?") => t = self.perl_group(t)?,
                '(' => {
                    self.frames.push(Frame::new("(?:"));
                    t = &t[1..];
                }
                '|' => {
                    self.frame().finish_alternative();
                    t = &t[1..];
                }
                ')' => {
                    if self.frames.len() < 2 {
                        return Err(go_error("unexpected )", self.whole));
                    }
                    let mut frame = self.frames.pop().expect("checked above");
                    frame.finish_alternative();
                    let text = format!("{}{})", frame.open, frame.alternatives.join("|"));
                    self.atom(text, frame.need);
                    t = &t[1..];
                }
                '^' | '$' | '.' => {
                    self.atom(c.to_string(), 0);
                    t = &t[1..];
                }
                '[' => {
                    let (text, rest) = parse_class(t)?;
                    self.atom(text, 0);
                    t = rest;
                }
                '*' | '+' | '?' => {
                    let before = t;
                    t = self.repeat(&before[..1], None, before, &before[1..], last_repeat)?;
                    repeat = Some(before);
                }
                '{' => match parse_repeat(t) {
                    None => {
                        self.atom(literal('{'), 0);
                        t = &t[1..];
                    }
                    Some((min, max, after)) => {
                        let op_text = &t[..t.len() - after.len()];
                        let too_big = min < 0 || min > MAX_REPEAT as i64 || max > MAX_REPEAT as i64;
                        if too_big || max >= 0 && min > max {
                            return Err(go_error("invalid repeat count", op_text));
                        }
                        let before = t;
                        t = self.repeat(op_text, Some((min, max)), before, after, last_repeat)?;
                        repeat = Some(before);
                    }
                },
                '\\' => t = self.escape(t)?,
                _ => {
                    self.atom(literal(c), 0);
                    t = &t[c.len_utf8()..];
                }
            }
            last_repeat = repeat;
        }

        if self.frames.len() > 1 {
            return Err(go_error("missing closing )", self.whole));
        }
        let mut top = self.frames.pop().expect("the top-level frame exists");
        top.finish_alternative();
        Ok(top.alternatives.join("|"))
    }

    /// Go's `repeat`: applies an operator to the last operand. `before` starts at the operator,
    /// `after` follows it; returns the text after an optional non-greedy `?`.
    fn repeat(
        &mut self,
        op_text: &str,
        counts: Option<(i64, i64)>,
        before: &'p str,
        after: &'p str,
        last_repeat: Option<&'p str>,
    ) -> Result<&'p str, String> {
        let (after, lazy) = match after.strip_prefix('?') {
            Some(rest) => (rest, true),
            None => (after, false),
        };
        if let Some(last) = last_repeat {
            return Err(go_error(
                "invalid nested repetition operator",
                &last[..last.len() - after.len()],
            ));
        }
        let op_full = &before[..before.len() - after.len()];

        let frame = self.frame();
        let Some(index) = frame
            .pieces
            .iter()
            .rposition(|p| matches!(p, Piece::Atom { .. }))
        else {
            return Err(go_error("missing argument to repetition operator", op_full));
        };
        let trailing_flags = frame.pieces.split_off(index + 1);
        let Some(Piece::Atom { text, need }) = frame.pieces.pop() else {
            return Err(go_error("missing argument to repetition operator", op_full));
        };

        let need = match counts {
            None => need,
            Some((min, max)) => {
                let count = if max == 0 {
                    0
                } else if max < 0 {
                    min
                } else {
                    max
                };
                let count = u64::try_from(count).unwrap_or(0);
                let total = if max == 0 {
                    0
                } else if count == 0 {
                    need
                } else {
                    count.saturating_mul(need.max(1))
                };
                if (min >= 2 || max >= 2) && total > MAX_REPEAT {
                    return Err(go_error("invalid repeat count", op_full));
                }
                total
            }
        };
        let lazy_suffix = if lazy { "?" } else { "" };
        let text = format!("(?:{text}){op_text}{lazy_suffix}");
        let frame = self.frame();
        frame.pieces.push(Piece::Atom { text, need });
        frame.pieces.extend(trailing_flags);
        Ok(after)
    }

    /// `(?flags)`, `(?flags:...`, `(?P<name>...` and `(?<name>...`.
    fn perl_group(&mut self, t: &'p str) -> Result<&'p str, String> {
        let bytes = t.as_bytes();
        let named_p = bytes.len() > 4 && bytes[2] == b'P' && bytes[3] == b'<';
        let named = bytes.len() > 3 && bytes[2] == b'<';
        if named_p || named {
            let start = if named_p { 4 } else { 3 };
            let Some(end) = t.find('>') else {
                return Err(go_error("invalid named capture", t));
            };
            let name = &t[start..end];
            if name.is_empty() || !name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) {
                return Err(go_error("invalid named capture", &t[..=end]));
            }
            self.frames.push(Frame::new("(?:"));
            return Ok(&t[end + 1..]);
        }

        let mut rest = &t[2..];
        let mut on = String::new();
        let mut off = String::new();
        let mut negated = false;
        let mut saw_flag = false;
        while let Some(c) = rest.chars().next() {
            rest = &rest[c.len_utf8()..];
            match c {
                'i' | 'm' | 's' | 'U' => {
                    on.retain(|f| f != c);
                    off.retain(|f| f != c);
                    if negated { &mut off } else { &mut on }.push(c);
                    saw_flag = true;
                }
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' if !negated || saw_flag => {
                    let mut flags = on;
                    if !off.is_empty() {
                        flags.push('-');
                        flags.push_str(&off);
                    }
                    if c == ':' {
                        self.frames.push(Frame::new(&format!("(?{flags}:")));
                    } else if !flags.is_empty() {
                        self.frame()
                            .pieces
                            .push(Piece::Flags(format!("(?{flags})")));
                    }
                    return Ok(rest);
                }
                _ => break,
            }
        }
        Err(go_error(
            "invalid or unsupported Perl syntax",
            &t[..t.len() - rest.len()],
        ))
    }

    /// A backslash sequence outside a class.
    fn escape(&mut self, t: &'p str) -> Result<&'p str, String> {
        match t.as_bytes().get(1) {
            Some(b'A') => return self.fixed(t, r"\A"),
            Some(b'z') => return self.fixed(t, r"\z"),
            Some(b'b') => return self.fixed(t, r"(?-u:\b)"),
            Some(b'B') => return self.fixed(t, r"(?-u:\B)"),
            Some(b'C') => return Err(go_error("invalid escape sequence", &t[..2])),
            Some(b'Q') => {
                let (quoted, rest) = t[2..].split_once(r"\E").unwrap_or((&t[2..], ""));
                for c in quoted.chars() {
                    self.atom(literal(c), 0);
                }
                return Ok(rest);
            }
            Some(b'p' | b'P') => {
                let (text, rest) = unicode_class(t)?;
                self.atom(text, 0);
                return Ok(rest);
            }
            _ => {}
        }
        if let Some((class, rest)) = perl_class(t) {
            self.atom(format!("[{class}]"), 0);
            return Ok(rest);
        }
        let (c, rest) = parse_escape(t)?;
        self.atom(c.map_or_else(|| NEVER.to_owned(), literal), 0);
        Ok(rest)
    }

    fn fixed(&mut self, t: &'p str, text: &str) -> Result<&'p str, String> {
        self.atom(text, 0);
        Ok(&t[2..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        compile(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .is_match(text)
    }

    #[test]
    fn matches_with_go_semantics() {
        fn check(pattern: &str, text: &str, expected: bool) {
            assert_eq!(matches(pattern, text), expected, "{pattern} on {text:?}");
        }
        check(r"^5[0-9][0-9]$", "503", true);
        check(r"^\w+$", "café", false);
        check(r"^\w+$", "cafe_1", true);
        check(r"\d", "٣", false);
        check(r"\s", "\u{b}", false);
        check(r"\s", "\u{c}", true);
        check(r"\bword\b", "a word", true);
        check(r"\bé", "xé", true);
        check(r"(?i)^alice$", "ALICE", true);
        check(r"[a&&b]", "&", true);
        check(r"[a-c-e]", "-", true);
        check(r"[a-c-e]", "d", false);
        check(r"a{,5}", "a{,5}", true);
        check(r"a{,5}", "aa", false);
        check(r"x{01}", "x{01}", true);
        check(r"\<a\>", "<a>", true);
        check(r"\Q.*\E", ".*", true);
        check(r"\Q.*\E", "ab", false);
        check(r"[[:alpha:]]+\z", "abc", true);
        check(r"[[:^digit:]]", "5", false);
        check(r"\pL", "ж", true);
        check(r"\p{Greek}", "λ", true);
        check(r"\P{Greek}", "λ", false);
        check(r"[\d\s]", " ", true);
        check(r"[^\D]", "7", true);
        check(r"a(?i)*", "aaa", true);
        check(r"^*x", "x", true);
        check(r"(?P<n>a)(?<m>b)", "ab", true);
        check(r"(?i)k", "\u{212a}", true);
        check(r"\x41\101\x{42}", "AAB", true);
        check(r"[]a]", "]", true);
        check(r"a|", "zzz", true);
        check(r"^(US|CA)$", "US", true);
        check(r"(?m)^b$", "a\nb\nc", true);
        check(r"^b$", "a\nb", false);
        check(r"\x{D800}|z", "z", true);
        check(r"(?i)É", "é", true);
        check(r"(?i)[^é]", "É", false);
        check(r"(?i)\W", "\u{17f}", false);
        check(r"[\x{D7FF}-\x{E001}]", "\u{e000}", true);
    }

    #[test]
    fn refuses_with_go_errors() {
        fn check(pattern: &str, expected: &str) {
            assert_eq!(
                compile(pattern).err().as_deref(),
                Some(expected),
                "{pattern}"
            );
        }
        check("(", "error parsing regexp: missing closing ): `(`");
        check("a(b", "error parsing regexp: missing closing ): `a(b`");
        check("a)", "error parsing regexp: unexpected ): `a)`");
        check("[a", "error parsing regexp: missing closing ]: `[a`");
        check("x[]", "error parsing regexp: missing closing ]: `[]`");
        check(
            "a**",
            "error parsing regexp: invalid nested repetition operator: `**`",
        );
        check(
            "a*?+",
            "error parsing regexp: invalid nested repetition operator: `*?+`",
        );
        check(
            "a{2}*",
            "error parsing regexp: invalid nested repetition operator: `{2}*`",
        );
        check(
            "*a",
            "error parsing regexp: missing argument to repetition operator: `*`",
        );
        check(
            "(?i)+",
            "error parsing regexp: missing argument to repetition operator: `+`",
        );
        check(
            "a|??",
            "error parsing regexp: missing argument to repetition operator: `??`",
        );
        check(
            r"\q",
            r"error parsing regexp: invalid escape sequence: `\q`",
        );
        check(
            r"\1",
            r"error parsing regexp: invalid escape sequence: `\1`",
        );
        check(
            r"\C",
            r"error parsing regexp: invalid escape sequence: `\C`",
        );
        check(
            r"[\b]",
            r"error parsing regexp: invalid escape sequence: `\b`",
        );
        check(
            r"\x{zz}",
            r"error parsing regexp: invalid escape sequence: `\x{z`",
        );
        check(
            "a{1001}",
            "error parsing regexp: invalid repeat count: `{1001}`",
        );
        check(
            "a{3,2}",
            "error parsing regexp: invalid repeat count: `{3,2}`",
        );
        check(
            "(a{100}){11}",
            "error parsing regexp: invalid repeat count: `{11}`",
        );
        check(
            "(?x)a",
            "error parsing regexp: invalid or unsupported Perl syntax: `(?x`",
        );
        check(
            "(?=a)",
            "error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
        );
        check(
            "(?i-)a",
            "error parsing regexp: invalid or unsupported Perl syntax: `(?i-)`",
        );
        check(
            "[z-a]",
            "error parsing regexp: invalid character class range: `z-a`",
        );
        check(
            "[[:foo:]]",
            "error parsing regexp: invalid character class range: `[:foo:]`",
        );
        check(
            r"\p{Foo}",
            r"error parsing regexp: invalid character class range: `\p{Foo}`",
        );
        check(
            r"\pé",
            r"error parsing regexp: invalid character class range: `\pé`",
        );
        check(
            r"a\",
            "error parsing regexp: trailing backslash at end of expression: ``",
        );
        check(
            "(?P<n-m>a)",
            "error parsing regexp: invalid named capture: `(?P<n-m>`",
        );
        check(
            "(?P<n",
            "error parsing regexp: invalid named capture: `(?P<n`",
        );
    }
}
