//! Test-only JSON reading into the shared `Value` type, keeping each number's exact text, so the
//! expression tests do not depend on the crate's JSON parser.

use crate::json::{Map, Number, Value};

/// Parses `text` (trusted, well-formed JSON) into a `Value`. Panics on malformed input.
pub(crate) fn value_from_json(text: &str) -> Value {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        text,
        pos: 0,
    };
    let value = reader.value();
    reader.skip_ws();
    assert_eq!(reader.pos, text.len(), "trailing text in {text}");
    value
}

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Reader<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Value {
        self.skip_ws();
        match self.bytes[self.pos] {
            b'{' => {
                self.pos += 1;
                let mut map = Map::new();
                self.skip_ws();
                if self.bytes[self.pos] == b'}' {
                    self.pos += 1;
                    return Value::Object(map);
                }
                loop {
                    self.skip_ws();
                    let key = self.string();
                    self.skip_ws();
                    assert_eq!(self.bytes[self.pos], b':');
                    self.pos += 1;
                    let item = self.value();
                    map.insert(key, item);
                    self.skip_ws();
                    self.pos += 1;
                    if self.bytes[self.pos - 1] == b'}' {
                        return Value::Object(map);
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.bytes[self.pos] == b']' {
                    self.pos += 1;
                    return Value::Array(items);
                }
                loop {
                    items.push(self.value());
                    self.skip_ws();
                    self.pos += 1;
                    if self.bytes[self.pos - 1] == b']' {
                        return Value::Array(items);
                    }
                }
            }
            b'"' => Value::String(self.string()),
            b't' => self.word("true", Value::Bool(true)),
            b'f' => self.word("false", Value::Bool(false)),
            b'n' => self.word("null", Value::Null),
            _ => {
                let start = self.pos;
                while self.pos < self.bytes.len()
                    && matches!(
                        self.bytes[self.pos],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.pos += 1;
                }
                Value::Number(Number::from_valid_text(&self.text[start..self.pos]))
            }
        }
    }

    fn word(&mut self, word: &str, value: Value) -> Value {
        assert!(self.text[self.pos..].starts_with(word));
        self.pos += word.len();
        value
    }

    fn string(&mut self) -> String {
        assert_eq!(self.bytes[self.pos], b'"');
        let start = self.pos;
        self.pos += 1;
        while self.bytes[self.pos] != b'"' {
            self.pos += if self.bytes[self.pos] == b'\\' { 2 } else { 1 };
        }
        self.pos += 1;
        serde_json::from_str(&self.text[start..self.pos]).expect("a valid JSON string")
    }
}
