//! The conditions library's parser, for both versions Flagr uses: v0.2.3 (Flagr 1.1) and v0.2.6
//! (Flagr 1.2). It follows the library's token mapping, its one-token `unscan` buffer and its
//! precedence rotation exactly, so the same text yields the same tree and the same leftovers
//! are ignored. What it builds is evaluated by `eval`; regex patterns given as literals are
//! compiled here, once.

use std::borrow::Cow;

use crate::expr::array::array_literal;
use crate::expr::ast::{Binary, Node, Op, Path, PathStep};
use crate::expr::goregex;
use crate::expr::gostr::{go_parse_float, go_unquote};
use crate::expr::scan::{Scanner, Tok};
use crate::expr::Dialect;

/// The library reads at most this many tokens looking for an array's `]`.
const MAX_ARRAY_TOKENS: usize = 65536;

/// Deeper parenthesis nesting is refused here; Go's growable stacks accept it.
const MAX_DEPTH: usize = 256;

/// A token after the library's mapping of scanner tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mapped {
    Illegal,
    Eof,
    Ident,
    Path,
    Number,
    Str,
    Array,
    True,
    False,
    Operator(Op),
    LParen,
    RParen,
}

impl Mapped {
    /// Go's `Token.String()`, used in parse errors.
    fn name(self) -> &'static str {
        match self {
            Mapped::Illegal => "ILLEGAL",
            Mapped::Eof => "EOF",
            Mapped::Ident => "IDENT",
            Mapped::Path => "PATH",
            Mapped::Number => "NUMBER",
            Mapped::Str => "STRING",
            Mapped::Array => "ARRAY",
            Mapped::True => "TRUE",
            Mapped::False => "FALSE",
            Mapped::Operator(op) => op.as_str(),
            Mapped::LParen => "(",
            Mapped::RParen => ")",
        }
    }
}

/// Parses `text` as the given library version does. The error is the library's message.
pub(crate) fn parse(text: &str, dialect: Dialect) -> Result<Node, String> {
    let mut parser = Parser {
        scanner: Scanner::new(text),
        buf: (Tok::Eof, ""),
        buffered: false,
        dialect,
        path_buf: Vec::new(),
        depth: 0,
    };
    parser.parse_expr()
}

struct Parser<'a> {
    scanner: Scanner<'a>,
    /// The last raw token, re-delivered after `unscan`.
    buf: (Tok, &'a str),
    buffered: bool,
    dialect: Dialect,
    /// Path steps of the last `{a.b[0]}` token (1.2 only).
    path_buf: Vec<PathStep>,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn v11(&self) -> bool {
        self.dialect == Dialect::Flagr11
    }

    fn scan(&mut self) -> (Tok, &'a str) {
        if self.buffered {
            self.buffered = false;
        } else {
            self.buf = self.scanner.scan();
        }
        self.buf
    }

    /// Pushes back the last raw token (not the mapped one, as the library does).
    fn unscan(&mut self) {
        self.buffered = true;
    }

    fn parse_expr(&mut self) -> Result<Node, String> {
        let mut expr = self.parse_unary()?;
        loop {
            let (tok, text) = self.scan_mapped();
            let op = match tok {
                Mapped::Illegal => return Err(format!("ILLEGAL {text}")),
                Mapped::Operator(op) => op,
                _ => {
                    self.unscan();
                    return Ok(expr);
                }
            };
            let rhs = self.parse_unary()?;

            // The library rotates only one level: a new operator of equal or higher
            // precedence takes the previous binary's right operand.
            expr = match expr {
                Node::Binary(prev)
                    if prev.parens == 0 && prev.op.precedence() <= op.precedence() =>
                {
                    let Binary {
                        op: prev_op,
                        lhs: prev_lhs,
                        rhs: prev_rhs,
                        ..
                    } = *prev;
                    let inner = make_binary(op, prev_rhs, rhs);
                    make_binary(prev_op, prev_lhs, inner)
                }
                other => make_binary(op, other, rhs),
            };
        }
    }

    fn parse_unary(&mut self) -> Result<Node, String> {
        let (tok, lit) = self.scan_mapped();
        if tok == Mapped::LParen {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err("expression nests too deeply".to_owned());
            }
            let inner = self.parse_expr()?;
            self.depth -= 1;
            let (close, _) = self.scan_mapped();
            if close != Mapped::RParen {
                return Err(if self.v11() { "Missing )" } else { "missing )" }.to_owned());
            }
            return Ok(match inner {
                Node::Binary(mut binary) if binary.parens < u8::MAX => {
                    binary.parens += 1;
                    Node::Binary(binary)
                }
                other => Node::Paren(Box::new(other)),
            });
        }

        match tok {
            Mapped::Ident => Ok(Node::Var(lit.into())),
            Mapped::Path => Ok(Node::Path(Box::new(Path {
                root: lit.into(),
                steps: std::mem::take(&mut self.path_buf).into_boxed_slice(),
            }))),
            Mapped::Str => self.string_literal(&lit),
            Mapped::Number => match go_parse_float(&lit) {
                Some(value) => Ok(Node::Num(value)),
                None if self.v11() => Err("Unable to parse number".to_owned()),
                None => Err(format!("unable to parse number: {lit}")),
            },
            Mapped::True => Ok(Node::Bool(true)),
            Mapped::False => Ok(Node::Bool(false)),
            Mapped::Array => array_literal(&lit, self.dialect),
            _ if self.v11() => Err(format!("Parsing error: tok={}, lit={lit}", tok.name())),
            _ => Err(format!("parsing error: tok={}, lit={lit}", tok.name())),
        }
    }

    /// v0.2.3 keeps the raw text between the delimiters; v0.2.6 unquotes `"..."` literals with
    /// Go's rules and falls back to the raw text when that fails (for example on `\d`).
    fn string_literal(&self, lit: &str) -> Result<Node, String> {
        let raw = strip_delimiters(lit);
        if self.v11() {
            return raw
                .map(|s| Node::Str(s.into()))
                .ok_or_else(|| "invalid string literal".to_owned());
        }
        let Some(raw) = raw else {
            return Err(format!("invalid string literal: {lit}"));
        };
        if lit.starts_with('"') && lit.ends_with('"') {
            if let Some(unquoted) = go_unquote(lit) {
                return Ok(Node::Str(unquoted.into()));
            }
        }
        Ok(Node::Str(raw.into()))
    }

    /// The library's `scanWithMapping`.
    fn scan_mapped(&mut self) -> (Mapped, Cow<'a, str>) {
        let (tok, text) = self.scan();
        match tok {
            Tok::Eof => (Mapped::Eof, Cow::Borrowed("")),
            Tok::Int | Tok::Float => (Mapped::Number, Cow::Borrowed(text)),
            Tok::String => (Mapped::Str, Cow::Borrowed(text)),
            Tok::Ident => self.keyword(text),
            Tok::Other('(') => (Mapped::LParen, Cow::Borrowed(text)),
            Tok::Other(')') => (Mapped::RParen, Cow::Borrowed(text)),
            Tok::Other('-') => match self.scan() {
                (Tok::Int | Tok::Float, number) => {
                    (Mapped::Number, Cow::Owned(format!("-{number}")))
                }
                (_, next) => (Mapped::Illegal, Cow::Borrowed(next)),
            },
            Tok::Other('{') => self.scan_arg(),
            Tok::Other('[') => self.scan_array(),
            Tok::Other('!') => match self.scan() {
                (Tok::Other('='), _) => (Mapped::Operator(Op::Neq), Cow::Borrowed("!=")),
                (Tok::Other('~'), _) => (Mapped::Operator(Op::Nereg), Cow::Borrowed("!~")),
                (_, next) => (Mapped::Illegal, Cow::Borrowed(next)),
            },
            Tok::Other('=') => match self.scan() {
                (Tok::Other('='), _) => (Mapped::Operator(Op::Eq), Cow::Borrowed("==")),
                (Tok::Other('~'), _) => (Mapped::Operator(Op::Ereg), Cow::Borrowed("=~")),
                (_, next) => (Mapped::Illegal, Cow::Borrowed(next)),
            },
            Tok::Other(c @ ('>' | '<')) => {
                let (with_eq, without) = if c == '>' {
                    (Op::Gte, Op::Gt)
                } else {
                    (Op::Lte, Op::Lt)
                };
                if self.scan().0 == Tok::Other('=') {
                    (Mapped::Operator(with_eq), Cow::Borrowed(with_eq.as_str()))
                } else {
                    self.unscan();
                    (Mapped::Operator(without), Cow::Borrowed(without.as_str()))
                }
            }
            Tok::Other('/') => self.scan_regex_literal(),
            _ => (Mapped::Illegal, Cow::Borrowed(text)),
        }
    }

    fn keyword(&mut self, text: &'a str) -> (Mapped, Cow<'a, str>) {
        let mapped = match upper(text, &mut [0; UPPER_ON_STACK]).as_ref() {
            "AND" => Mapped::Operator(Op::And),
            "OR" => Mapped::Operator(Op::Or),
            "XOR" => Mapped::Operator(Op::Xor),
            "NAND" => Mapped::Operator(Op::Nand),
            "IN" => Mapped::Operator(Op::In),
            "CONTAINS" => Mapped::Operator(Op::Contains),
            "TRUE" => Mapped::True,
            "FALSE" => Mapped::False,
            "NOT" => {
                let (_, next) = self.scan();
                return match upper(next, &mut [0; UPPER_ON_STACK]).as_ref() {
                    "IN" => (Mapped::Operator(Op::NotIn), Cow::Borrowed("NOT IN")),
                    "CONTAINS" => (
                        Mapped::Operator(Op::NotContains),
                        Cow::Borrowed("NOT CONTAINS"),
                    ),
                    _ => {
                        self.unscan();
                        (Mapped::Illegal, Cow::Borrowed(text))
                    }
                };
            }
            _ => Mapped::Illegal,
        };
        (mapped, Cow::Borrowed(text))
    }

    /// `{name}`, `{a}{b}` (flat key `a.b`), `{city-name}`, `{@ts}`; in 1.2 also `{a.b[0]}`.
    fn scan_arg(&mut self) -> (Mapped, Cow<'a, str>) {
        // Most names are one token, borrowed from the text; joined ones are built.
        let mut name = Cow::Borrowed("");
        let mut sep = "";
        let mut first = true;
        loop {
            let (tok, text) = self.scan();
            if tok == Tok::Eof && !self.v11() {
                return (Mapped::Illegal, Cow::Borrowed("{"));
            }
            if name.is_empty() && sep.is_empty() {
                name = Cow::Borrowed(text);
            } else {
                let joined = name.to_mut();
                joined.push_str(sep);
                joined.push_str(text);
            }
            if tok == Tok::Other('@') {
                continue;
            }

            let (next, _) = self.scan();
            if !self.v11() {
                if next == Tok::Eof {
                    return (Mapped::Illegal, Cow::Borrowed("{"));
                }
                if first && matches!(next, Tok::Other('.' | '[')) {
                    return match self.scan_path_steps(next) {
                        Some(steps) => {
                            self.path_buf = steps;
                            (Mapped::Path, name)
                        }
                        None => (Mapped::Illegal, Cow::Borrowed("{")),
                    };
                }
                first = false;
            }
            match next {
                Tok::Other('-') => sep = "-",
                Tok::Other('}') => {
                    if self.scan().0 == Tok::Other('{') {
                        sep = ".";
                        continue;
                    }
                    self.unscan();
                    return (Mapped::Ident, name);
                }
                _ if self.v11() => return (Mapped::Illegal, name),
                _ => return (Mapped::Illegal, Cow::Borrowed("{")),
            }
        }
    }

    /// The steps of a 1.2 nested path, after its root; `first` is the `.` or `[` already read.
    fn scan_path_steps(&mut self, first: Tok) -> Option<Vec<PathStep>> {
        let mut steps = Vec::new();
        let mut delimiter = first;
        loop {
            match delimiter {
                Tok::Other('.') => match self.scan() {
                    (Tok::Ident, key) => steps.push(PathStep::Key(key.into())),
                    _ => return None,
                },
                Tok::Other('[') => steps.push(PathStep::Index(self.scan_index()?)),
                Tok::Other('}') => return Some(steps),
                _ => return None,
            }
            delimiter = self.scan().0;
        }
    }

    /// The token texts up to `]`, read as Go's `strconv.Atoi` does.
    fn scan_index(&mut self) -> Option<i64> {
        let mut digits = String::new();
        loop {
            match self.scan() {
                (Tok::Eof, _) => return None,
                (Tok::Other(']'), _) => break,
                (_, text) => digits.push_str(text),
            }
        }
        digits.parse().ok()
    }

    /// The token texts between `[` and the first `]`, concatenated without separators.
    fn scan_array(&mut self) -> (Mapped, Cow<'a, str>) {
        let mut content = String::with_capacity(self.scanner.len_before(b']'));
        for _ in 0..MAX_ARRAY_TOKENS {
            match self.scan() {
                (Tok::Other(']'), _) => return (Mapped::Array, Cow::Owned(content)),
                // v0.2.3 keeps reading past the end until its token limit; both refuse.
                (Tok::Eof, _) => return (Mapped::Illegal, Cow::Owned(content)),
                (_, text) => content.push_str(text),
            }
        }
        (Mapped::Illegal, Cow::Owned(content))
    }

    /// `/.../`: token texts up to the next `/` token, so whitespace between tokens is lost.
    /// Without a closing `/`, v0.2.6 fails and v0.2.3 never returns; both are refusals here.
    fn scan_regex_literal(&mut self) -> (Mapped, Cow<'a, str>) {
        let mut pattern = String::with_capacity(self.scanner.len_before(b'/') + 2);
        pattern.push('/');
        loop {
            match self.scan() {
                (Tok::Eof, _) => return (Mapped::Illegal, Cow::Borrowed("")),
                (tok, text) => {
                    pattern.push_str(text);
                    if tok == Tok::Other('/') {
                        return (Mapped::Str, Cow::Owned(pattern));
                    }
                }
            }
        }
    }
}

/// Builds a binary node, compiling a literal regex pattern once.
fn make_binary(op: Op, lhs: Node, rhs: Node) -> Node {
    let pattern = match (&rhs, op) {
        (Node::Str(pattern), Op::Ereg | Op::Nereg) => Some(Box::new(goregex::compile(pattern))),
        _ => None,
    };
    Node::Binary(Box::new(Binary {
        op,
        parens: 0,
        lhs,
        rhs,
        pattern,
    }))
}

/// The text between a literal's first and last characters; `None` if it is shorter than two.
fn strip_delimiters(lit: &str) -> Option<&str> {
    let mut chars = lit.chars();
    chars.next()?;
    chars.next_back()?;
    Some(chars.as_str())
}

/// Room for the uppercase form of an ASCII identifier; keywords are at most 8 letters.
const UPPER_ON_STACK: usize = 16;

/// `text` in upper case for keyword matching, as Go's `strings.ToUpper` maps it. A short ASCII
/// identifier is mapped in `buffer`; anything else (non-ASCII letters such as `ı` can map to
/// ASCII ones) goes through the full mapping.
fn upper<'b>(text: &str, buffer: &'b mut [u8; UPPER_ON_STACK]) -> Cow<'b, str> {
    match buffer.get_mut(..text.len()) {
        Some(upper) if text.is_ascii() => {
            upper.copy_from_slice(text.as_bytes());
            upper.make_ascii_uppercase();
            // ASCII in, ASCII out.
            Cow::Borrowed(std::str::from_utf8(upper).unwrap_or_default())
        }
        _ => Cow::Owned(go_upper(text)),
    }
}

/// Go's `strings.ToUpper` for keyword matching (simple per-character mapping).
fn go_upper(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::{Flagr11 as V11, Flagr12 as V12};

    fn check(text: &str, dialect: Dialect, expected: Result<&str, &str>) {
        let got = parse(text, dialect).map(|node| node.to_string());
        let expected = expected.map(str::to_owned).map_err(str::to_owned);
        assert_eq!(got, expected, "{dialect:?} parse of {text}");
    }

    #[test]
    fn parses_both_dialects() {
        check(r#"({dl_state} == "CA")"#, V11, Ok(r#"(dl_state == "CA")"#));
        check(
            r#"({city-name} NOT IN ["New York"])"#,
            V11,
            Ok(r#"("city-name" NOT IN [New York])"#),
        );
        check(
            "({age} <= 25.0) AND ({b} != true)",
            V11,
            Ok("(age <= 25.000) AND (b != true)"),
        );
        check("({a}{b} == 1)", V11, Ok("(a.b == 1.000)"));
        check("({@ts_hour} >= 0)", V12, Ok(r#"("@ts_hour" >= 0.000)"#));
        check("({x} == 1) OR (true)", V11, Ok("(x == 1.000) OR (true)"));
        check("({x} == 1) (junk AND", V11, Ok("(x == 1.000)"));
        check("(1 {a})", V11, Ok("(1.000)"));
        check("({x} in [1, -2, 3.5])", V12, Ok("(x IN [1 -2 3.5])"));
        check("({x} == - 5)", V12, Ok("(x == -5.000)"));
        check(r#"({n} == "a\"b")"#, V11, Ok(r#"(n == "a\\\"b")"#));
        check(r#"({n} == "a\"b")"#, V12, Ok(r#"(n == "a\"b")"#));
        check(r#"({n} =~ "\d+")"#, V12, Ok(r#"(n =~ "\\d+")"#));
        check("({t} =~ /hello world/)", V12, Ok(r#"(t =~ "helloworld")"#));
        check("({user.name} == 1)", V12, Ok("(user.name == 1.000)"));
        check(
            "({users[-1].tier} == 1)",
            V12,
            Ok("(users[-1].tier == 1.000)"),
        );
        check(
            "({user.name} == 1)",
            V11,
            Err("Parsing error: tok=ILLEGAL, lit=user"),
        );
        check(
            "({name} == 'CA')",
            V11,
            Err("Parsing error: tok=ILLEGAL, lit='CA'"),
        );
        check(
            "({name} == CA)",
            V12,
            Err("parsing error: tok=ILLEGAL, lit=CA"),
        );
        check("({x} IN [])", V11, Err("Empty Slice not castable"));
        check("({x} IN [])", V12, Err("empty slice not castable"));
        check(
            r#"({x} IN ["CA",1])"#,
            V12,
            Err("the items in the array are not all string"),
        );
        check("({x} IN [NY])", V11, Err("Empty Slice not castable"));
        check("({x} IN [true])", V11, Err("Slice of unknow type"));
        check(r#"({x} == "CA"])"#, V11, Err("ILLEGAL ]"));
        check("({x} === 1)", V11, Err("Parsing error: tok=ILLEGAL, lit=1"));
        check("({x} == 0x10)", V11, Err("Unable to parse number"));
        check("({x} =~ //)", V12, Err("parsing error: tok=EOF, lit="));
        check("({x} == 1/2)", V11, Err("ILLEGAL "));
        check(
            "({x} == `raw`)",
            V11,
            Err("Parsing error: tok=ILLEGAL, lit=`raw`"),
        );
    }

    #[test]
    fn precedence_rotation_matches_library() {
        let node = parse("{a} OR {b} AND {c} == 1", Dialect::Flagr12).expect("parses");
        assert_eq!(node.to_string(), "a OR b AND c == 1.000");
        let Node::Binary(top) = node else {
            panic!("not binary")
        };
        assert_eq!(top.op, Op::Or);

        // A parenthesized binary is one operand: nothing rotates into it.
        for (text, printed, op) in [
            (
                "({a} OR {b}) AND {c} == 1",
                "(a OR b) AND c == 1.000",
                Op::And,
            ),
            ("(({a} == 1)) OR {b}", "((a == 1.000)) OR b", Op::Or),
            ("{a} AND ({b} OR {c})", "a AND (b OR c)", Op::And),
        ] {
            let node = parse(text, Dialect::Flagr12).expect("parses");
            assert_eq!(node.to_string(), printed);
            let Node::Binary(top) = node else {
                panic!("not binary")
            };
            assert_eq!(top.op, op, "{text}");
        }
    }

    #[test]
    fn array_literals_decode_like_go_json() {
        let node = parse(
            r#"({x} IN ["caf\u00e9", "\ud800x", "a b"])"#,
            Dialect::Flagr11,
        )
        .expect("parses");
        assert_eq!(node.to_string(), "(x IN [café \u{fffd}x a b])");
        assert!(parse("({x} IN [1 2])", Dialect::Flagr12)
            .expect("parses")
            .to_string()
            .contains("[12]"));
        assert!(parse("({x} IN [1e400])", Dialect::Flagr12).is_err());
        assert!(parse("({x} IN [01])", Dialect::Flagr12).is_err());
        assert_eq!(
            parse(r#"({x} IN [{"a":{"b":null}}, 1])"#, Dialect::Flagr11)
                .err()
                .as_deref(),
            Some("Slice of unknow type")
        );
        assert_eq!(
            parse(r#"({x} IN ["a",{"a" 1}])"#, Dialect::Flagr11)
                .err()
                .as_deref(),
            Some("Empty Slice not castable")
        );
    }
}
