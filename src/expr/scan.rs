//! The token stream the conditions parser reads: Go's `text/scanner` in its `GoTokens` mode (the
//! library sets a narrower mode, but `Init` resets it). Comments are skipped, whitespace is only
//! tab, newline, carriage return and space, and scanning errors never stop the scan: the token is
//! returned with whatever text was consumed, as Go does after printing the error.

use crate::expr::gostr::{is_digit, is_letter};

/// One token: its kind and its exact source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Eof,
    Ident,
    Int,
    Float,
    Char,
    String,
    RawString,
    /// Any other single character, returned as itself.
    Other(char),
}

/// Go's scanner over one expression text.
pub(crate) struct Scanner<'a> {
    src: &'a str,
    /// Byte offset of `ch` in `src` (the source length at the end).
    pos: usize,
    /// The one-character lookahead; `None` at the end of the text.
    ch: Option<char>,
    started: bool,
    /// Runs are taken one character at a time, the reference the faster runs are tested
    /// against.
    #[cfg(test)]
    one_by_one: bool,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(src: &'a str) -> Scanner<'a> {
        Scanner {
            src,
            pos: 0,
            ch: None,
            started: false,
            #[cfg(test)]
            one_by_one: false,
        }
    }

    /// Moves past the lookahead character and reads the next one.
    fn bump(&mut self) {
        if let Some(c) = self.ch {
            self.pos += c.len_utf8();
        }
        self.read();
    }

    /// Moves past the lookahead character and then past every byte `skip` accepts, reading the
    /// character after them: what bumping one character at a time does, in one pass. `skip`
    /// takes all the bytes of a multi-byte character or none of them (it accepts only ASCII
    /// bytes, or every non-ASCII byte), so the run ends on a character boundary.
    fn bump_run(&mut self, skip: impl Fn(u8) -> bool) {
        #[cfg(test)]
        if self.one_by_one {
            self.bump();
            let taken = |c: char| c.encode_utf8(&mut [0; 4]).bytes().all(&skip);
            while self.ch.is_some_and(taken) {
                self.bump();
            }
            return;
        }
        if let Some(c) = self.ch {
            self.pos += c.len_utf8();
        }
        let rest = self.src.as_bytes().get(self.pos..).unwrap_or_default();
        self.pos += rest.iter().take_while(|&&byte| skip(byte)).count();
        self.read();
    }

    /// Reads the character at `pos` into the lookahead.
    fn read(&mut self) {
        // `pos` is always at a character boundary; most text is ASCII, read as one byte.
        self.ch = match self.src.as_bytes().get(self.pos) {
            None => None,
            Some(&byte) if byte.is_ascii() => Some(char::from(byte)),
            Some(_) => self
                .src
                .get(self.pos..)
                .and_then(|rest| rest.chars().next()),
        };
    }

    /// How many bytes of text are left before the next `byte` (or the end): a size guess for
    /// callers that join the tokens up to a closing character.
    pub(crate) fn len_before(&self, byte: u8) -> usize {
        let rest = self.src.as_bytes().get(self.pos..).unwrap_or_default();
        rest.iter().position(|&b| b == byte).unwrap_or(rest.len())
    }

    /// Scans the next token, returning its kind and text.
    pub(crate) fn scan(&mut self) -> (Tok, &'a str) {
        if !self.started {
            self.started = true;
            self.ch = self.src.chars().next();
            if self.ch == Some('\u{feff}') {
                self.bump();
            }
        }

        loop {
            while matches!(self.ch, Some('\t' | '\n' | '\r' | ' ')) {
                self.bump();
            }
            let start = self.pos;
            let Some(c) = self.ch else {
                return (Tok::Eof, "");
            };

            let tok = if c == '_' || is_letter(c) {
                self.bump_run(|byte| byte == b'_' || byte.is_ascii_alphanumeric());
                while self
                    .ch
                    .is_some_and(|c| c == '_' || is_letter(c) || is_digit(c))
                {
                    self.bump();
                }
                Tok::Ident
            } else if c.is_ascii_digit() {
                self.scan_number(false)
            } else {
                match c {
                    '"' => {
                        self.scan_quoted('"');
                        self.bump();
                        Tok::String
                    }
                    '\'' => {
                        self.scan_quoted('\'');
                        self.bump();
                        Tok::Char
                    }
                    '.' => {
                        self.bump();
                        if self.ch.is_some_and(|c| c.is_ascii_digit()) {
                            self.scan_number(true)
                        } else {
                            Tok::Other('.')
                        }
                    }
                    '/' => {
                        self.bump();
                        match self.ch {
                            Some('/') => {
                                self.skip_line_comment();
                                continue;
                            }
                            Some('*') => {
                                self.skip_block_comment();
                                continue;
                            }
                            _ => Tok::Other('/'),
                        }
                    }
                    '`' => {
                        self.bump();
                        while self.ch.is_some_and(|c| c != '`') {
                            self.bump();
                        }
                        self.bump();
                        Tok::RawString
                    }
                    _ => {
                        self.bump();
                        Tok::Other(c)
                    }
                }
            };
            return (tok, &self.src[start..self.pos]);
        }
    }

    /// Go's `scanString`: stops at the closing quote (left as lookahead), a newline or the end.
    fn scan_quoted(&mut self, quote: char) {
        // Only ASCII bytes stop the run.
        let plain = |byte: u8| byte != quote as u8 && byte != b'\\' && byte != b'\n';
        self.bump_run(plain);
        loop {
            match self.ch {
                None | Some('\n') => return,
                Some(c) if c == quote => return,
                Some('\\') => self.scan_escape(quote),
                Some(_) => self.bump_run(plain),
            }
        }
    }

    /// Go's `scanEscape`, entered on the backslash; a bad escape leaves its character unread.
    fn scan_escape(&mut self, quote: char) {
        self.bump();
        match self.ch {
            Some(c) if c == quote || "abfnrtv\\".contains(c) => self.bump(),
            Some('0'..='7') => self.scan_digits(8, 3),
            Some('x') => {
                self.bump();
                self.scan_digits(16, 2);
            }
            Some('u') => {
                self.bump();
                self.scan_digits(16, 4);
            }
            Some('U') => {
                self.bump();
                self.scan_digits(16, 8);
            }
            _ => {}
        }
    }

    fn scan_digits(&mut self, base: u32, mut count: usize) {
        while count > 0
            && self
                .ch
                .is_some_and(|c| c.to_digit(16).is_some_and(|d| d < base))
        {
            self.bump();
            count -= 1;
        }
    }

    fn skip_line_comment(&mut self) {
        while self.ch.is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn skip_block_comment(&mut self) {
        self.bump();
        loop {
            let Some(c) = self.ch else { return };
            self.bump();
            if c == '*' && self.ch == Some('/') {
                self.bump();
                return;
            }
        }
    }

    /// Go's `scanNumber` (Go 1.13+ literals: prefixes, `_` separators, hex floats), entered on
    /// the first digit, or on the digit after a leading `.` when `seen_dot` is set.
    fn scan_number(&mut self, mut seen_dot: bool) -> Tok {
        let mut base = 10;
        let mut prefix = None;
        let mut tok = Tok::Int;
        if !seen_dot {
            if self.ch == Some('0') {
                self.bump();
                match self.ch.map(|c| c.to_ascii_lowercase()) {
                    Some('x') => {
                        self.bump();
                        base = 16;
                        prefix = Some('x');
                    }
                    Some('o') => {
                        self.bump();
                        base = 8;
                        prefix = Some('o');
                    }
                    Some('b') => {
                        self.bump();
                        base = 2;
                        prefix = Some('b');
                    }
                    _ => {}
                }
            }
            self.scan_digit_run(base);
            if self.ch == Some('.') {
                self.bump();
                seen_dot = true;
            }
        }
        if seen_dot {
            tok = Tok::Float;
            self.scan_digit_run(base);
        }
        let exponent = match self.ch.map(|c| c.to_ascii_lowercase()) {
            Some('e') => prefix != Some('x'),
            Some('p') => true,
            _ => false,
        };
        if exponent {
            self.bump();
            tok = Tok::Float;
            if matches!(self.ch, Some('+' | '-')) {
                self.bump();
            }
            self.scan_digit_run(10);
        }
        tok
    }

    /// Go's `digits`: every decimal digit and `_` for bases up to ten, hex digits for sixteen.
    fn scan_digit_run(&mut self, base: u32) {
        let accepts = |byte: u8| {
            byte == b'_'
                || if base <= 10 {
                    byte.is_ascii_digit()
                } else {
                    byte.is_ascii_hexdigit()
                }
        };
        if self.ch.is_some_and(|c| c.is_ascii() && accepts(c as u8)) {
            self.bump_run(accepts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Tok::{Char, Float, Ident, Int, Other, RawString, String};

    fn tokens(mut scanner: Scanner<'_>) -> Vec<(Tok, &str)> {
        let mut got = Vec::new();
        loop {
            match scanner.scan() {
                (Tok::Eof, _) => return got,
                token => got.push(token),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        #[test]
        fn runs_scan_as_one_character_at_a_time_does(
            src in "[a-z_0-9 \t\n\"'\\\\/*.\u{e9}\u{131}\u{feff}\u{1f600}`xXuU{}()\\[\\]=!<>-]{0,40}"
        ) {
            let reference = Scanner { one_by_one: true, ..Scanner::new(&src) };
            proptest::prop_assert_eq!(tokens(Scanner::new(&src)), tokens(reference));
        }
    }

    fn check(src: &str, expected: &[(Tok, &str)]) {
        let mut scanner = Scanner::new(src);
        let mut got = Vec::new();
        loop {
            let (tok, text) = scanner.scan();
            if tok == Tok::Eof {
                break;
            }
            got.push((tok, text));
        }
        assert_eq!(got, expected, "tokens of {src:?}");
    }

    #[test]
    fn scans_like_go_text_scanner() {
        check(
            r#"({dl_state} == "CA")"#,
            &[
                (Other('('), "("),
                (Other('{'), "{"),
                (Ident, "dl_state"),
                (Other('}'), "}"),
                (Other('='), "="),
                (Other('='), "="),
                (String, r#""CA""#),
                (Other(')'), ")"),
            ],
        );
        check(
            "1e3 .5 5. 0x1F 1_000 017 0b102",
            &[
                (Float, "1e3"),
                (Float, ".5"),
                (Float, "5."),
                (Int, "0x1F"),
                (Int, "1_000"),
                (Int, "017"),
                (Int, "0b102"),
            ],
        );
        check(
            "0x1p-2 1e 1.5.3",
            &[
                (Float, "0x1p-2"),
                (Float, "1e"),
                (Float, "1.5"),
                (Float, ".3"),
            ],
        );
        check(
            r#"'CA' `raw` "a\"b" "\d+""#,
            &[
                (Char, "'CA'"),
                (RawString, "`raw`"),
                (String, r#""a\"b""#),
                (String, r#""\d+""#),
            ],
        );
        check(
            "a // comment\nb /* block */ c /d/",
            &[
                (Ident, "a"),
                (Ident, "b"),
                (Ident, "c"),
                (Other('/'), "/"),
                (Ident, "d"),
                (Other('/'), "/"),
            ],
        );
        check("\"open\nx", &[(String, "\"open\n"), (Ident, "x")]);
        check("\"open", &[(String, "\"open")]);
        check(
            "café ın x1 1x \u{b}",
            &[
                (Ident, "café"),
                (Ident, "ın"),
                (Ident, "x1"),
                (Int, "1"),
                (Ident, "x"),
                (Other('\u{b}'), "\u{b}"),
            ],
        );
    }
}
