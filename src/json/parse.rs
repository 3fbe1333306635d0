//! Parsing JSON text with Go's `encoding/json` decoder rules and error messages: the first value
//! is read and whatever follows it is ignored, numbers keep their text, strings are decoded as
//! Go decodes them (bad UTF-8 and lone surrogates become U+FFFD), and errors read exactly as
//! Go's. Nesting is tracked on an explicit stack, so hostile input cannot exhaust the thread's
//! stack here. Mapping values onto request fields is left to the callers.

use std::fmt;

use crate::json::{Map, Number, Value};

/// The deepest nesting of arrays and objects Go's scanner accepts.
const MAX_DEPTH: usize = 10_000;

const BEGIN_VALUE: &str = "looking for beginning of value";
const BEGIN_KEY: &str = "looking for beginning of object key string";
const AFTER_KEY: &str = "after object key";
const AFTER_PAIR: &str = "after object key:value pair";
const AFTER_ELEMENT: &str = "after array element";
const IN_STRING: &str = "in string literal";
const IN_ESCAPE: &str = "in string escape code";
const IN_HEX_ESCAPE: &str = "in \\u hexadecimal character escape";
const IN_NUMBER: &str = "in numeric literal";
const AFTER_POINT: &str = "after decimal point in numeric literal";
const IN_EXPONENT: &str = "in exponent of numeric literal";
const TOO_DEEP: &str = "exceeded max depth";

/// The letters after the first one of each literal, with Go's complaint when another byte
/// stands in a letter's place.
const TRUE_REST: [(u8, &str); 3] = [
    (b'r', "in literal true (expecting 'r')"),
    (b'u', "in literal true (expecting 'u')"),
    (b'e', "in literal true (expecting 'e')"),
];
const FALSE_REST: [(u8, &str); 4] = [
    (b'a', "in literal false (expecting 'a')"),
    (b'l', "in literal false (expecting 'l')"),
    (b's', "in literal false (expecting 's')"),
    (b'e', "in literal false (expecting 'e')"),
];
const NULL_REST: [(u8, &str); 3] = [
    (b'u', "in literal null (expecting 'u')"),
    (b'l', "in literal null (expecting 'l')"),
    (b'l', "in literal null (expecting 'l')"),
];

/// A syntax error, displayed with the text Go's decoder would give.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    problem: Problem,
}

#[derive(Debug, Clone, PartialEq)]
enum Problem {
    /// Nothing but whitespace: Go's `io.EOF`.
    Eof,
    /// The input ended inside a value: Go's `io.ErrUnexpectedEOF`.
    UnexpectedEof,
    /// `json.Unmarshal` found no complete value: its own wording of the two cases above.
    EndOfInput,
    /// A byte that cannot stand where it stands: Go's `*json.SyntaxError`.
    Invalid { byte: u8, context: &'static str },
}

impl SyntaxError {
    /// True when the input held no value at all, only whitespace or nothing. Go reports this as
    /// `io.EOF` (text `EOF`), which callers usually treat as a missing body, not a bad one.
    pub fn is_eof(&self) -> bool {
        self.problem == Problem::Eof
    }

    /// True when the input ended inside a value (Go's `unexpected EOF`).
    pub fn is_unexpected_eof(&self) -> bool {
        self.problem == Problem::UnexpectedEof
    }

    fn invalid(byte: u8, context: &'static str) -> SyntaxError {
        SyntaxError {
            problem: Problem::Invalid { byte, context },
        }
    }

    fn unexpected_eof() -> SyntaxError {
        SyntaxError {
            problem: Problem::UnexpectedEof,
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem {
            Problem::Eof => f.write_str("EOF"),
            Problem::UnexpectedEof => f.write_str("unexpected EOF"),
            Problem::EndOfInput => f.write_str("unexpected end of JSON input"),
            Problem::Invalid { byte, context } => {
                f.write_str("invalid character ")?;
                write_quoted_byte(f, byte)?;
                write!(f, " {context}")
            }
        }
    }
}

impl std::error::Error for SyntaxError {}

/// Writes `byte` quoted as Go's scanner quotes it in messages: the byte is taken as the code
/// point of the same number (so 0xC3 shows as `'Ã'`) and escaped as `strconv.Quote` would,
/// except that the quotes are single and `'` and `"` get special forms.
fn write_quoted_byte(f: &mut fmt::Formatter<'_>, byte: u8) -> fmt::Result {
    match byte {
        b'\'' => f.write_str(r"'\''"),
        b'"' => f.write_str(r#"'"'"#),
        b'\\' => f.write_str(r"'\\'"),
        0x07 => f.write_str(r"'\a'"),
        0x08 => f.write_str(r"'\b'"),
        0x0C => f.write_str(r"'\f'"),
        b'\n' => f.write_str(r"'\n'"),
        b'\r' => f.write_str(r"'\r'"),
        b'\t' => f.write_str(r"'\t'"),
        0x0B => f.write_str(r"'\v'"),
        0x00..=0x1F | 0x7F => write!(f, "'\\x{byte:02x}'"),
        // C1 controls, no-break space and soft hyphen are not printable to strconv.
        0x80..=0xA0 | 0xAD => write!(f, "'\\u{byte:04x}'"),
        _ => write!(f, "'{}'", char::from(byte)),
    }
}

/// Parses the first JSON value in `input`, as Go's `json.Decoder` with `UseNumber` does.
///
/// Bytes after the first complete value are not looked at, so `{"a":1} trailing` parses as
/// `{"a":1}`. Input of only whitespace gives an error for which [`SyntaxError::is_eof`] holds.
pub fn parse(input: &[u8]) -> Result<Value, SyntaxError> {
    let mut parser = Parser {
        input,
        pos: 0,
        depth: 0,
    };

    parser.skip_whitespace();
    if parser.pos == input.len() {
        return Err(SyntaxError {
            problem: Problem::Eof,
        });
    }

    parser.document()
}

/// Parses `input` as exactly one JSON value, as Go's `json.Unmarshal` does: anything but
/// whitespace after the value is an error, and so is a missing or unfinished value.
pub fn parse_document(input: &[u8]) -> Result<Value, SyntaxError> {
    let end_of_input = SyntaxError {
        problem: Problem::EndOfInput,
    };
    let mut parser = Parser {
        input,
        pos: 0,
        depth: 0,
    };

    parser.skip_whitespace();
    if parser.pos == input.len() {
        return Err(end_of_input);
    }
    let value = parser.document().map_err(|error| {
        if error.is_unexpected_eof() {
            end_of_input
        } else {
            error
        }
    })?;

    parser.skip_whitespace();
    match input.get(parser.pos) {
        None => Ok(value),
        Some(&byte) => {
            discard(value);
            Err(SyntaxError::invalid(byte, "after top-level value"))
        }
    }
}

/// A top-level JSON value; an object keeps its members in document order, repeats included.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    Object(Vec<(String, Value)>),
    Other(Value),
}

impl From<Value> for Document {
    fn from(value: Value) -> Document {
        match value {
            Value::Object(map) => Document::Object(map.into_iter().collect()),
            other => Document::Other(other),
        }
    }
}

/// Parses the first JSON value in `input` as [`parse`] does, but keeps a top-level object's
/// members in document order with every repeat: Go decodes a struct member by member in that
/// order, so the last of several spellings of a field wins and the first bad one is reported.
pub fn parse_members(input: &[u8]) -> Result<Document, SyntaxError> {
    let mut parser = Parser {
        input,
        pos: 0,
        depth: 0,
    };

    parser.skip_whitespace();
    if parser.pos == input.len() {
        return Err(SyntaxError {
            problem: Problem::Eof,
        });
    }
    if parser.peek() != Some(b'{') {
        return parser.document().map(Document::Other);
    }
    parser.pos += 1;
    parser.depth = 1;

    let mut members = Vec::new();
    let result = parser.members(&mut members);
    match result {
        Ok(()) => Ok(Document::Object(members)),
        Err(error) => {
            members.into_iter().for_each(|(_, value)| discard(value));
            Err(error)
        }
    }
}

/// An array or object whose closing bracket has not been read yet.
enum Frame {
    Array(Vec<Value>),
    /// The members so far and the key of the member whose value is being read.
    Object(Map, String),
}

impl Frame {
    fn into_value(self) -> Value {
        match self {
            Frame::Array(items) => Value::Array(items),
            Frame::Object(members, _) => Value::Object(members),
        }
    }
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// Containers already open around the value being read, for the depth limit.
    depth: usize,
}

/// What a JSON two-character escape (`\\` and this byte) stands for; `None` for `u`, which
/// takes four hex digits, and for any byte JSON does not define an escape for.
pub(crate) fn short_escape(byte: u8) -> Option<char> {
    Some(match byte {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        _ => return None,
    })
}

impl Parser<'_> {
    /// Reads one value, nested containers included, leaving `pos` just after it.
    fn document(&mut self) -> Result<Value, SyntaxError> {
        let mut open: Vec<Frame> = Vec::new();
        let result = self.fill(&mut open);

        // After an error the containers still open can hold deep values: take them apart
        // level by level rather than by the recursive drop.
        for frame in open {
            match frame {
                Frame::Array(items) => items.into_iter().for_each(discard),
                Frame::Object(members, _) => members.into_values().for_each(discard),
            }
        }
        result
    }

    /// Reads one value into the containers of `open`, which starts empty and ends empty unless
    /// there is an error.
    fn fill(&mut self, open: &mut Vec<Frame>) -> Result<Value, SyntaxError> {
        'value: loop {
            let first = self.next_non_space()?;
            let mut value = match first {
                b'{' => {
                    check_depth(open.len() + self.depth, first)?;
                    match self.next_non_space()? {
                        b'}' => Value::Object(Map::new()),
                        b'"' => {
                            let key = self.object_key()?;
                            open.push(Frame::Object(Map::new(), key));
                            continue 'value;
                        }
                        other => return Err(SyntaxError::invalid(other, BEGIN_KEY)),
                    }
                }
                b'[' => {
                    check_depth(open.len() + self.depth, first)?;
                    self.skip_whitespace();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        Value::Array(Vec::new())
                    } else {
                        open.push(Frame::Array(Vec::new()));
                        continue 'value;
                    }
                }
                b'"' => Value::String(self.string_body()?),
                b'-' | b'0'..=b'9' => self.number(first)?,
                b't' => self.literal(&TRUE_REST, Value::Bool(true))?,
                b'f' => self.literal(&FALSE_REST, Value::Bool(false))?,
                b'n' => self.literal(&NULL_REST, Value::Null)?,
                other => return Err(SyntaxError::invalid(other, BEGIN_VALUE)),
            };

            // Hand the finished value to the containers around it, closing each one whose
            // closing bracket comes next, until one needs another value or none is left. The
            // containers stay on `open` until they close, so an error leaves nothing deep in
            // a local here for the recursive drop.
            loop {
                let Some(frame) = open.last_mut() else {
                    return Ok(value);
                };
                match frame {
                    Frame::Array(items) => {
                        items.push(value);
                        match self.next_non_space()? {
                            b',' => continue 'value,
                            b']' => {}
                            other => return Err(SyntaxError::invalid(other, AFTER_ELEMENT)),
                        }
                    }
                    Frame::Object(members, key) => {
                        // A repeated key replaces the value before it, as in Go.
                        if let Some(replaced) = members.insert(std::mem::take(key), value) {
                            discard(replaced);
                        }
                        match self.next_non_space()? {
                            b',' => {
                                let next = self.next_non_space()?;
                                if next != b'"' {
                                    return Err(SyntaxError::invalid(next, BEGIN_KEY));
                                }
                                *key = self.object_key()?;
                                continue 'value;
                            }
                            b'}' => {}
                            other => return Err(SyntaxError::invalid(other, AFTER_PAIR)),
                        }
                    }
                }
                value = open
                    .pop()
                    .map(Frame::into_value)
                    .expect("the container just given a value is still open");
            }
        }
    }

    /// Reads the members of an object whose `{` has been read, through its `}`.
    fn members(&mut self, members: &mut Vec<(String, Value)>) -> Result<(), SyntaxError> {
        match self.next_non_space()? {
            b'}' => return Ok(()),
            b'"' => {}
            other => return Err(SyntaxError::invalid(other, BEGIN_KEY)),
        }
        loop {
            let key = self.object_key()?;
            let value = self.document()?;
            members.push((key, value));
            match self.next_non_space()? {
                b',' => {
                    let next = self.next_non_space()?;
                    if next != b'"' {
                        return Err(SyntaxError::invalid(next, BEGIN_KEY));
                    }
                }
                b'}' => return Ok(()),
                other => return Err(SyntaxError::invalid(other, AFTER_PAIR)),
            }
        }
    }

    /// Reads a key whose opening quote has been read, and the colon after it.
    fn object_key(&mut self) -> Result<String, SyntaxError> {
        let key = self.string_body()?;
        match self.next_non_space()? {
            b':' => Ok(key),
            other => Err(SyntaxError::invalid(other, AFTER_KEY)),
        }
    }

    /// Reads the rest of a string whose opening quote has been read, and its closing quote.
    fn string_body(&mut self) -> Result<String, SyntaxError> {
        let mut text = String::new();
        loop {
            // Copy everything up to the next quote, backslash or control byte in one go; most
            // strings have no escapes and are done in one step.
            let rest = self.input.get(self.pos..).unwrap_or_default();
            let stop = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .ok_or_else(SyntaxError::unexpected_eof)?;
            push_lossy(&mut text, &rest[..stop]);
            self.pos += stop + 1;
            match rest[stop] {
                b'"' => return Ok(text),
                b'\\' => self.escape(&mut text)?,
                control => return Err(SyntaxError::invalid(control, IN_STRING)),
            }
        }
    }

    /// Decodes one escape whose backslash has been read, appending what it stands for.
    fn escape(&mut self, text: &mut String) -> Result<(), SyntaxError> {
        let byte = self.next_byte()?;
        let decoded = match short_escape(byte) {
            Some(decoded) => decoded,
            None if byte == b'u' => {
                let unit = self.hex4()?;
                if (0xD800..0xE000).contains(&unit) {
                    self.surrogate(unit)
                } else {
                    char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
            }
            None => return Err(SyntaxError::invalid(byte, IN_ESCAPE)),
        };
        text.push(decoded);
        Ok(())
    }

    /// Pairs a surrogate from a `\u` escape with a low surrogate escaped right after it, as Go
    /// does; anything else makes it U+FFFD and leaves the next escape to be read on its own.
    fn surrogate(&mut self, high: u32) -> char {
        if !(0xD800..0xDC00).contains(&high) {
            return char::REPLACEMENT_CHARACTER;
        }

        let next = self.input.get(self.pos..self.pos + 6);
        let Some([b'\\', b'u', digits @ ..]) = next else {
            return char::REPLACEMENT_CHARACTER;
        };
        let Some(low) = hex_value(digits) else {
            return char::REPLACEMENT_CHARACTER;
        };
        if !(0xDC00..0xE000).contains(&low) {
            return char::REPLACEMENT_CHARACTER;
        }

        self.pos += 6;
        let combined = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        char::from_u32(combined).unwrap_or(char::REPLACEMENT_CHARACTER)
    }

    /// Reads the four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut unit = 0;
        for _ in 0..4 {
            let byte = self.next_byte()?;
            let digit = char::from(byte)
                .to_digit(16)
                .ok_or(SyntaxError::invalid(byte, IN_HEX_ESCAPE))?;
            unit = unit * 16 + digit;
        }
        Ok(unit)
    }

    /// Reads the rest of a number whose first byte (`-` or a digit) has been read.
    fn number(&mut self, first: u8) -> Result<Value, SyntaxError> {
        let start = self.pos - 1;

        let mut lead = first;
        if first == b'-' {
            lead = self.next_byte()?;
            if !lead.is_ascii_digit() {
                return Err(SyntaxError::invalid(lead, IN_NUMBER));
            }
        }
        if lead != b'0' {
            self.skip_digits();
        }

        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.required_digit(AFTER_POINT)?;
        }

        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.required_digit(IN_EXPONENT)?;
        }

        let text = std::str::from_utf8(&self.input[start..self.pos])
            .expect("number text holds only ASCII signs, digits, points and exponents");
        Ok(Value::Number(Number::from_valid_text(text)))
    }

    /// Reads one digit that must come next, then any digits after it.
    fn required_digit(&mut self, context: &'static str) -> Result<(), SyntaxError> {
        let byte = self.next_byte()?;
        if !byte.is_ascii_digit() {
            return Err(SyntaxError::invalid(byte, context));
        }
        self.skip_digits();
        Ok(())
    }

    /// Reads the letters of a literal after its first one.
    fn literal(&mut self, rest: &[(u8, &'static str)], value: Value) -> Result<Value, SyntaxError> {
        for &(expected, context) in rest {
            let byte = self.next_byte()?;
            if byte != expected {
                return Err(SyntaxError::invalid(byte, context));
            }
        }
        Ok(value)
    }

    fn skip_digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// Skips the four bytes Go counts as whitespace.
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Takes the next byte; the input ending here is the input ending inside a value.
    fn next_byte(&mut self) -> Result<u8, SyntaxError> {
        let byte = self.peek().ok_or_else(SyntaxError::unexpected_eof)?;
        self.pos += 1;
        Ok(byte)
    }

    fn next_non_space(&mut self) -> Result<u8, SyntaxError> {
        self.skip_whitespace();
        self.next_byte()
    }
}

/// Fails when opening one more array or object would nest deeper than Go allows.
fn check_depth(open: usize, bracket: u8) -> Result<(), SyntaxError> {
    if open >= MAX_DEPTH {
        return Err(SyntaxError::invalid(bracket, TOO_DEEP));
    }
    Ok(())
}

/// Drops `value` level by level: the derived drop recurses once per level of nesting, which
/// can exhaust a small thread stack on values nested thousands deep.
fn discard(value: Value) {
    if !matches!(&value, Value::Array(_) | Value::Object(_)) {
        return;
    }

    let mut pending = vec![value];
    while let Some(mut value) = pending.pop() {
        match &mut value {
            Value::Array(items) => pending.append(items),
            Value::Object(members) => pending.extend(std::mem::take(members).into_values()),
            _ => {}
        }
    }
}

/// The value of four hex digits.
fn hex_value(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0, |unit, &byte| {
        Some(unit * 16 + char::from(byte).to_digit(16)?)
    })
}

/// Appends `bytes` as text, each byte that is not part of a well-formed UTF-8 sequence becoming
/// one U+FFFD, as Go's decoder does (this differs from Rust's lossy conversion, which makes one
/// U+FFFD of a truncated sequence).
fn push_lossy(text: &mut String, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for _ in chunk.invalid() {
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::write_value;

    /// Go's message for an array opened one level deeper than it allows.
    const DEEP: &str = "invalid character '[' exceeded max depth";

    #[test]
    fn values_and_trailing_data() {
        #[rustfmt::skip]
        let cases: &[(&[u8], Result<&str, &str>)] = &[
            (b"null", Ok("null")),
            (b"true", Ok("true")),
            (b"false", Ok("false")),
            (b"0", Ok("0")),
            (b"\"\"", Ok("\"\"")),
            (b"[]", Ok("[]")),
            (b"{}", Ok("{}")),
            (b" \t\r\n[ ] ", Ok("[]")),
            (b"[ 1 , 2 ,\n3 ]", Ok("[1,2,3]")),
            (b"{ \"b\" : 1 , \"a\" : [ true , null ] }", Ok(r#"{"a":[true,null],"b":1}"#)),
            (b"{\"a\":{}}", Ok(r#"{"a":{}}"#)),
            (b"[[[]],{}]", Ok("[[[]],{}]")),
            (b"{\"flagID\":1} trailing", Ok(r#"{"flagID":1}"#)),
            (b"[1]]", Ok("[1]")),
            (b"{}{}", Ok("{}")),
            (b"1x", Ok("1")),
            (b"01", Ok("0")),
            (b"-0.5e3,", Ok("-0.5e3")),
            (b"truex", Ok("true")),
            (b"null null", Ok("null")),
            (b"\"a\"\"b\"", Ok("\"a\"")),
            (b"\"a\" \xff", Ok("\"a\"")),
            (b"{\"flagID\":1,\"entityID\":\"dup\",\"flagID\":3}",
                Ok(r#"{"entityID":"dup","flagID":3}"#)),
            (b"{\"a\":1,\"a\":{\"b\":2}}", Ok(r#"{"a":{"b":2}}"#)),
            (b" \n {\"flagID\" : 1 , \"entityID\" : \"ws\"}\n",
                Ok(r#"{"entityID":"ws","flagID":1}"#)),
        ];
        for (input, expected) in cases {
            check(input, *expected);
        }
    }

    #[test]
    fn end_of_input() {
        #[rustfmt::skip]
        let cases: &[(&[u8], Result<&str, &str>)] = &[
            (b"", Err("EOF")),
            (b" \n\t\r ", Err("EOF")),
            (b"{", Err("unexpected EOF")),
            (b"{\"flagID\": 1,", Err("unexpected EOF")),
            (b"[1,", Err("unexpected EOF")),
            (b"[1 ", Err("unexpected EOF")),
            (b"[", Err("unexpected EOF")),
            (b"{\"a\"", Err("unexpected EOF")),
            (b"{\"a\":", Err("unexpected EOF")),
            (b"{\"a", Err("unexpected EOF")),
            (b"\"abc", Err("unexpected EOF")),
            (b"\"abc\\", Err("unexpected EOF")),
            (b"\"\\u12", Err("unexpected EOF")),
            (b"\"\\ud800", Err("unexpected EOF")),
            (b"\"\\ud800\\u", Err("unexpected EOF")),
            (b"tru", Err("unexpected EOF")),
            (b"f", Err("unexpected EOF")),
            (b"nul", Err("unexpected EOF")),
            (b"-", Err("unexpected EOF")),
            (b"1.", Err("unexpected EOF")),
            (b"1e", Err("unexpected EOF")),
            (b"1e+", Err("unexpected EOF")),
            (b"  -", Err("unexpected EOF")),
            (b"[1.5", Err("unexpected EOF")),
            (b"[true", Err("unexpected EOF")),
            (b"12", Ok("12")),
            (b"-0", Ok("-0")),
            (b"1.5", Ok("1.5")),
            (b"1e5", Ok("1e5")),
            (b"true", Ok("true")),
        ];
        for (input, expected) in cases {
            check(input, *expected);
        }

        assert!(parse(b" ").is_err_and(|e| e.is_eof() && !e.is_unexpected_eof()));
        assert!(parse(b"[").is_err_and(|e| e.is_unexpected_eof() && !e.is_eof()));
        assert!(parse(b"x").is_err_and(|e| !e.is_unexpected_eof() && !e.is_eof()));
    }

    #[test]
    fn structure_errors() {
        #[rustfmt::skip]
        let cases: &[(&[u8], Result<&str, &str>)] = &[
            (b"x", Err("invalid character 'x' looking for beginning of value")),
            (b"  }", Err("invalid character '}' looking for beginning of value")),
            (b"]", Err("invalid character ']' looking for beginning of value")),
            (b",", Err("invalid character ',' looking for beginning of value")),
            (b"+1", Err("invalid character '+' looking for beginning of value")),
            (b".5", Err("invalid character '.' looking for beginning of value")),
            (b"{flagID: 1}",
                Err("invalid character 'f' looking for beginning of object key string")),
            (b"{\"a\":1,}",
                Err("invalid character '}' looking for beginning of object key string")),
            (b"{,}", Err("invalid character ',' looking for beginning of object key string")),
            (b"{\"a\":1, 'b':2}",
                Err(r"invalid character '\'' looking for beginning of object key string")),
            (b"{\"entities\": [}", Err("invalid character '}' looking for beginning of value")),
            (b"[1,]", Err("invalid character ']' looking for beginning of value")),
            (b"[,1]", Err("invalid character ',' looking for beginning of value")),
            (b"{\"a\":}", Err("invalid character '}' looking for beginning of value")),
            (b"{\"a\":1]", Err("invalid character ']' after object key:value pair")),
            (b"{\"a\":1 \"b\":2}", Err("invalid character '\"' after object key:value pair")),
            (b"{\"a\":01}", Err("invalid character '1' after object key:value pair")),
            (b"{\"a\" 1}", Err("invalid character '1' after object key")),
            (b"{\"a\"a}", Err("invalid character 'a' after object key")),
            (b"{\"a\"=1}", Err("invalid character '=' after object key")),
            (b"[1x]", Err("invalid character 'x' after array element")),
            (b"[1 2]", Err("invalid character '2' after array element")),
            (b"[1}", Err("invalid character '}' after array element")),
            (b"[truex]", Err("invalid character 'x' after array element")),
            (b"[\"a\":1]", Err("invalid character ':' after array element")),
            (b"[[1,2],[3}]", Err("invalid character '}' after array element")),
        ];
        for (input, expected) in cases {
            check(input, *expected);
        }
    }

    #[test]
    fn literal_and_number_errors() {
        #[rustfmt::skip]
        let cases: &[(&[u8], Result<&str, &str>)] = &[
            (b"txue", Err("invalid character 'x' in literal true (expecting 'r')")),
            (b"trxe", Err("invalid character 'x' in literal true (expecting 'u')")),
            (b"trux", Err("invalid character 'x' in literal true (expecting 'e')")),
            (b"True", Err("invalid character 'T' looking for beginning of value")),
            (b"fxlse", Err("invalid character 'x' in literal false (expecting 'a')")),
            (b"faxse", Err("invalid character 'x' in literal false (expecting 'l')")),
            (b"falxe", Err("invalid character 'x' in literal false (expecting 's')")),
            (b"falsx", Err("invalid character 'x' in literal false (expecting 'e')")),
            (b"nxll", Err("invalid character 'x' in literal null (expecting 'u')")),
            (b"nuxl", Err("invalid character 'x' in literal null (expecting 'l')")),
            (b"nulx", Err("invalid character 'x' in literal null (expecting 'l')")),
            (b"[nul]", Err("invalid character ']' in literal null (expecting 'l')")),
            (b"-x", Err("invalid character 'x' in numeric literal")),
            (b"--1", Err("invalid character '-' in numeric literal")),
            (b"[-]", Err("invalid character ']' in numeric literal")),
            (b"- 1", Err("invalid character ' ' in numeric literal")),
            (b"1.x", Err("invalid character 'x' after decimal point in numeric literal")),
            (b"1.e5", Err("invalid character 'e' after decimal point in numeric literal")),
            (b"[1.]", Err("invalid character ']' after decimal point in numeric literal")),
            (b"1ex", Err("invalid character 'x' in exponent of numeric literal")),
            (b"1e+x", Err("invalid character 'x' in exponent of numeric literal")),
            (b"1E-}", Err("invalid character '}' in exponent of numeric literal")),
            (b"1e+-1", Err("invalid character '-' in exponent of numeric literal")),
        ];
        for (input, expected) in cases {
            check(input, *expected);
        }
    }

    #[test]
    fn string_errors() {
        #[rustfmt::skip]
        let cases: &[(&[u8], Result<&str, &str>)] = &[
            (b"\"a\nb\"", Err(r"invalid character '\n' in string literal")),
            (b"\"\t\"", Err(r"invalid character '\t' in string literal")),
            (b"\"\x01\"", Err(r"invalid character '\x01' in string literal")),
            (b"\"\x00\"", Err(r"invalid character '\x00' in string literal")),
            (b"\"\x1f\"", Err(r"invalid character '\x1f' in string literal")),
            (b"\"\\n\x07\"", Err(r"invalid character '\a' in string literal")),
            (b"{\"a\x08\":1}", Err(r"invalid character '\b' in string literal")),
            (b"\"\x0b\"", Err(r"invalid character '\v' in string literal")),
            (b"\"\x0c\"", Err(r"invalid character '\f' in string literal")),
            (b"\"\r\"", Err(r"invalid character '\r' in string literal")),
            (b"\"\\x\"", Err(r"invalid character 'x' in string escape code")),
            (b"\"\\'\"", Err(r"invalid character '\'' in string escape code")),
            (b"\"ok\\U0041\"", Err(r"invalid character 'U' in string escape code")),
            (b"\"\\\n\"", Err(r"invalid character '\n' in string escape code")),
            (b"\"\\u00g1\"", Err(r"invalid character 'g' in \u hexadecimal character escape")),
            (b"\"\\u\"", Err(r#"invalid character '"' in \u hexadecimal character escape"#)),
            (b"\"\\ud800\\u00x0\"",
                Err(r"invalid character 'x' in \u hexadecimal character escape")),
            (b"\"\\ud800\\x\"", Err(r"invalid character 'x' in string escape code")),
        ];
        for (input, expected) in cases {
            check(input, *expected);
        }
    }

    #[test]
    fn quoted_bytes_in_messages() {
        #[rustfmt::skip]
        let cases: &[(&[u8], Result<&str, &str>)] = &[
            (b"'", Err(r"invalid character '\'' looking for beginning of value")),
            (b"\\", Err(r"invalid character '\\' looking for beginning of value")),
            (b":", Err("invalid character ':' looking for beginning of value")),
            (b"\x7f", Err(r"invalid character '\x7f' looking for beginning of value")),
            (b"\x00", Err(r"invalid character '\x00' looking for beginning of value")),
            (b"\x0c", Err(r"invalid character '\f' looking for beginning of value")),
            (b"\xc3\xa9", Err("invalid character '\u{c3}' looking for beginning of value")),
            (b"\xef\xbb\xbf{}", Err("invalid character '\u{ef}' looking for beginning of value")),
            (b"\x80", Err(r"invalid character '\u0080' looking for beginning of value")),
            (b"\x9f", Err(r"invalid character '\u009f' looking for beginning of value")),
            (b"\xa0", Err(r"invalid character '\u00a0' looking for beginning of value")),
            (b"\xad", Err(r"invalid character '\u00ad' looking for beginning of value")),
            (b"\xa1", Err("invalid character '\u{a1}' looking for beginning of value")),
            (b"\xff", Err("invalid character '\u{ff}' looking for beginning of value")),
        ];
        for (input, expected) in cases {
            check(input, *expected);
        }
    }

    #[test]
    fn string_decoding() {
        #[rustfmt::skip]
        let cases: &[(&[u8], &str)] = &[
            (b"\"plain\"", "plain"),
            (b"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "caf\u{e9} \u{20ac} \u{1f600}"),
            (b"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\u{8}\u{c}\n\r\t"),
            (b"\"a\\u0041\\u00e9\\u20AC\"", "aA\u{e9}\u{20ac}"),
            (b"\"\\u0000\"", "\u{0}"),
            (b"\"<&>'\x7f\"", "<&>'\u{7f}"),
            (b"\"\\ud83d\\ude00\"", "\u{1f600}"),
            (b"\"\\uD83D\\uDE00x\"", "\u{1f600}x"),
            (b"\"\\udbff\\udfff\"", "\u{10ffff}"),
            (b"\"\\ud800\"", "\u{fffd}"),
            (b"\"\\udc00\"", "\u{fffd}"),
            (b"\"\\ude00\\ud83d\"", "\u{fffd}\u{fffd}"),
            (b"\"\\ud800x\"", "\u{fffd}x"),
            (b"\"\\ud800\\n\"", "\u{fffd}\n"),
            (b"\"\\ud800\\u0041\"", "\u{fffd}A"),
            (b"\"\\ud800\\ud800\\udc00\"", "\u{fffd}\u{10000}"),
            (b"\"\\udc00\\udc00\"", "\u{fffd}\u{fffd}"),
            (b"\"\xff\"", "\u{fffd}"),
            (b"\"a\xc3\"", "a\u{fffd}"),
            (b"\"\xe2\x82\"", "\u{fffd}\u{fffd}"),
            (b"\"\xf0\x9f\x98x\"", "\u{fffd}\u{fffd}\u{fffd}x"),
            (b"\"\xed\xa0\x80\"", "\u{fffd}\u{fffd}\u{fffd}"),
            (b"\"\xc0\xaf\"", "\u{fffd}\u{fffd}"),
            (b"\"\xf5\x80\x80\x80\"", "\u{fffd}\u{fffd}\u{fffd}\u{fffd}"),
            (b"\"\xe0\x80\x80\"", "\u{fffd}\u{fffd}\u{fffd}"),
            (b"\"\xef\xbf\xbd\"", "\u{fffd}"),
            (b"\"\xff\\n\xfe\"", "\u{fffd}\n\u{fffd}"),
            (b"\"\\u00e9\xe9\"", "\u{e9}\u{fffd}"),
        ];
        for (input, expected) in cases {
            let parsed = parse(input);
            assert_eq!(
                parsed.as_ref().ok().and_then(Value::as_str),
                Some(*expected),
                "input {:?} gave {parsed:?}",
                String::from_utf8_lossy(input)
            );
        }

        let key = parse(b"{\"\\u0061\xff\":1}");
        let members = key.as_ref().ok().and_then(Value::as_object);
        assert_eq!(
            members.map(|m| m.contains_key("a\u{fffd}")),
            Some(true),
            "{key:?}"
        );
    }

    #[test]
    fn number_text_is_kept() {
        #[rustfmt::skip]
        let cases: &[(&[u8], Result<&str, &str>)] = &[
            (b"25.0", Ok("25.0")),
            (b"1E+2", Ok("1E+2")),
            (b"1e-2", Ok("1e-2")),
            (b"-0", Ok("-0")),
            (b"-0.0", Ok("-0.0")),
            (b"0.10", Ok("0.10")),
            (b"1e0", Ok("1e0")),
            (b"9007199254740993", Ok("9007199254740993")),
            (b"123456789012345678901234567890", Ok("123456789012345678901234567890")),
            (b"1e400", Ok("1e400")),
            (b"[25.0,1E+2,-0]", Ok("[25.0,1E+2,-0]")),
            (b"{\"age\":25.0,\"x\":1E+2}", Ok(r#"{"age":25.0,"x":1E+2}"#)),
        ];
        for (input, expected) in cases {
            check(input, *expected);
        }

        let values: &[(&[u8], f64)] = &[
            (b"25.0", 25.0),
            (b"1E+2", 100.0),
            (b"0.10", 0.1),
            (b"-0", -0.0),
            (b"9007199254740993", 9007199254740992.0),
            (b"1e400", f64::INFINITY),
        ];
        for (input, expected) in values {
            match parse(input) {
                Ok(Value::Number(number)) => assert_eq!(number.as_f64(), *expected),
                other => panic!("{input:?} gave {other:?}"),
            }
        }
        assert!(matches!(parse(b"-0"), Ok(Value::Number(n)) if n.as_f64().is_sign_negative()));
    }

    #[test]
    fn nesting_depth() {
        let deepest = nested(MAX_DEPTH);
        let too_deep = nested(MAX_DEPTH + 1);
        let deepest_objects = nested_objects(MAX_DEPTH);
        let too_deep_objects = nested_objects(MAX_DEPTH + 1);
        let unclosed = "[".repeat(MAX_DEPTH);
        let mixed_too_deep = "[{\"a\":".repeat(MAX_DEPTH / 2) + "[";
        let deep_then_error = "[".to_owned() + &nested_objects(MAX_DEPTH - 1) + "x";
        let deep_then_repeat = "{\"a\":".to_owned() + &nested_objects(MAX_DEPTH - 1) + ",\"a\":1}";

        // A tokio worker thread has a stack of this size.
        on_small_stack(move || {
            let parsed = parse(&deepest);
            assert!(parsed.is_ok(), "{:?}", parsed.err());
            let mut written = Vec::new();
            if let Ok(value) = &parsed {
                write_value(&mut written, value);
            }
            assert_eq!(written, deepest);
            parsed.map(discard).ok();

            let objects = parse(deepest_objects.as_bytes());
            assert!(objects.is_ok(), "{:?}", objects.err());
            objects.map(discard).ok();

            let error = |input: &[u8]| parse(input).map_err(|e| e.to_string()).err();
            assert_eq!(error(&too_deep).as_deref(), Some(DEEP));
            assert_eq!(error(mixed_too_deep.as_bytes()).as_deref(), Some(DEEP));
            let objects = error(too_deep_objects.as_bytes());
            assert_eq!(
                objects.as_deref(),
                Some("invalid character '{' exceeded max depth")
            );
            let unclosed = parse(unclosed.as_bytes());
            assert_eq!(unclosed.err().map(|e| e.is_unexpected_eof()), Some(true));

            // Deep values the parser lets go of itself are taken apart without recursion.
            let message = error(deep_then_error.as_bytes());
            assert_eq!(
                message.as_deref(),
                Some("invalid character 'x' after array element")
            );
            let repeated = parse(deep_then_repeat.as_bytes());
            let member = repeated.as_ref().ok().and_then(Value::as_object);
            assert_eq!(member.map(Map::len), Some(1));
            let number = member.and_then(|m| m.get("a"));
            assert!(matches!(number, Some(Value::Number(n)) if n.as_str() == "1"));
        });
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let alphabet = b"{}[]\":,\\/ubfnrt0123456789-+.eEaxl \t\n\xff\xc3\xa9\x01";
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for length in 0..3000 {
            let input: Vec<u8> = (0..length % 64)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            // Any answer will do; a panic fails the test.
            let _ = parse(&input).map_err(|e| e.to_string());
        }

        let brackets = "[".repeat(200_000);
        let message = parse(brackets.as_bytes()).map_err(|e| e.to_string());
        assert_eq!(message.err().as_deref(), Some(DEEP));
    }

    /// `depth` arrays, one inside the other.
    fn nested(depth: usize) -> Vec<u8> {
        let mut text = vec![b'['; depth];
        text.resize(depth * 2, b']');
        text
    }

    /// `depth` objects, one inside the other.
    fn nested_objects(depth: usize) -> String {
        "{\"a\":".repeat(depth - 1) + "{}" + &"}".repeat(depth - 1)
    }

    #[test]
    fn whole_documents_follow_unmarshal() {
        let check = |input: &str, expected: Result<&str, &str>| {
            let got = parse_document(input.as_bytes())
                .map_err(|e| e.to_string())
                .map(|value| {
                    let mut out = Vec::new();
                    write_value(&mut out, &value);
                    String::from_utf8_lossy(&out).into_owned()
                });
            assert_eq!(
                got.as_deref().map_err(String::as_str),
                expected,
                "input {input:?}"
            );
        };
        check(" {\"a\":1} \n", Ok("{\"a\":1}"));
        check("12", Ok("12"));
        check("", Err("unexpected end of JSON input"));
        check("  ", Err("unexpected end of JSON input"));
        check("{\"a\":", Err("unexpected end of JSON input"));
        check(
            "{\"a\":1} x",
            Err("invalid character 'x' after top-level value"),
        );
        check("1 2", Err("invalid character '2' after top-level value"));
        check(
            "{a}",
            Err("invalid character 'a' looking for beginning of object key string"),
        );
    }

    #[test]
    fn members_keep_document_order_and_repeats() {
        let members = |input: &str| match parse_members(input.as_bytes()) {
            Ok(Document::Object(members)) => Ok(members
                .iter()
                .map(|(k, v)| {
                    let mut out = Vec::new();
                    write_value(&mut out, v);
                    format!("{k}={}", String::from_utf8_lossy(&out))
                })
                .collect::<Vec<_>>()
                .join(" ")),
            Ok(Document::Other(_)) => Err("not an object".to_string()),
            Err(error) => Err(error.to_string()),
        };
        assert_eq!(
            members(r#" {"b":1,"a":{"x":[2]},"b":"s"} tail"#)
                .as_deref()
                .map_err(String::as_str),
            Ok(r#"b=1 a={"x":[2]} b="s""#)
        );
        assert_eq!(members("{}").as_deref().map_err(String::as_str), Ok(""));
        assert_eq!(
            members("[1]").as_deref().map_err(String::as_str),
            Err("not an object")
        );
        assert_eq!(
            members(r#"{"a":1"#).as_deref().map_err(String::as_str),
            Err("unexpected EOF")
        );
        assert_eq!(
            members(r#"{"a":1]"#).as_deref().map_err(String::as_str),
            Err("invalid character ']' after object key:value pair")
        );
        assert_eq!(
            members(r#"{"a" 1}"#).as_deref().map_err(String::as_str),
            Err("invalid character '1' after object key")
        );
        assert_eq!(
            members(r#"{,}"#).as_deref().map_err(String::as_str),
            Err("invalid character ',' looking for beginning of object key string")
        );
        assert_eq!(members("").as_deref().map_err(String::as_str), Err("EOF"));
        let deepest =
            "{\"a\":".to_owned() + &"[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1) + "}";
        assert!(members(&deepest).is_ok());
        let too_deep = "{\"a\":".to_owned() + &"[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH) + "}";
        assert_eq!(
            members(&too_deep).as_deref().map_err(String::as_str),
            Err("invalid character '[' exceeded max depth")
        );
    }

    /// Runs `test` on a thread with a 2 MiB stack and fails if it panics or overflows.
    fn on_small_stack(test: impl FnOnce() + Send + 'static) {
        let thread = std::thread::Builder::new().stack_size(2 << 20).spawn(test);
        let joined = thread.map(|handle| handle.join());
        assert!(matches!(joined, Ok(Ok(()))), "test thread failed");
    }

    /// Parses `input` and compares the value, written back compactly, or the error message.
    fn check(input: &[u8], expected: Result<&str, &str>) {
        let got = parse(input).map_err(|e| e.to_string()).map(|value| {
            let mut out = Vec::new();
            write_value(&mut out, &value);
            String::from_utf8_lossy(&out).into_owned()
        });
        assert_eq!(
            got.as_deref().map_err(String::as_str),
            expected,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}
