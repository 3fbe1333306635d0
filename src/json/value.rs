//! A JSON value as Flagr's Go decoder sees it: numbers keep their source text (Go's
//! `json.Number`), objects are maps whose keys iterate in sorted order (Go's encoder sorts map
//! keys), and a repeated key keeps its last value.

use std::collections::BTreeMap;
use std::fmt;

/// A JSON object. Keys iterate in byte order, which is the order Go's encoder writes them.
pub type Map = BTreeMap<String, Value>;

/// Any JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

/// A JSON number that remembers the exact text it was written with, so `25.0` is echoed as
/// `25.0`, and also carries its value as Go's `strconv.ParseFloat(text, 64)` reads it.
#[derive(Clone)]
pub struct Number {
    text: Box<str>,
    value: f64,
}

impl Number {
    /// Wraps number text that the caller has already checked against JSON's number grammar.
    pub fn from_valid_text(text: &str) -> Number {
        // Rust's parser rounds like Go's ParseFloat and saturates to infinity on overflow,
        // which is the value Go returns alongside its range error.
        let value = text.parse::<f64>().unwrap_or(f64::NAN);
        Number {
            text: text.into(),
            value,
        }
    }

    /// The number as Go's `encoding/json` writes a `float64` (shortest round-trip digits).
    pub fn from_f64(value: f64) -> Number {
        Number {
            text: crate::json::format_float(value).into(),
            value,
        }
    }

    /// The exact text of the number.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The number as a float64.
    pub fn as_f64(&self) -> f64 {
        self.value
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Value {
    /// The object map, if this is an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(map) => Some(map),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }
}
