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

    /// An integer as Go holds it once decoded into a `float64`. Up to 2^53 in magnitude the
    /// float is the integer exactly and Go writes its plain digits, so those skip float
    /// formatting; larger ones are rounded and formatted as [`Number::from_f64`] does.
    pub fn from_i64(value: i64) -> Number {
        const EXACT: u64 = 1 << 53;
        if value.unsigned_abs() > EXACT {
            return Number::from_f64(value as f64);
        }
        let mut buffer = [0; 20];
        let digits = crate::json::u64_digits(value.unsigned_abs(), &mut buffer);
        // Only digits were written.
        let digits = std::str::from_utf8(digits).unwrap_or_default();
        Number {
            text: if value < 0 {
                format!("-{digits}").into()
            } else {
                digits.into()
            },
            value: value as f64,
        }
    }

    /// [`Number::from_i64`] for an unsigned integer.
    pub fn from_u64(value: u64) -> Number {
        match i64::try_from(value) {
            Ok(value) => Number::from_i64(value),
            Err(_) => Number::from_f64(value as f64),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_same(value: impl std::fmt::Display, fast: Number, slow: Number) {
        assert!(
            fast.as_str() == slow.as_str() && fast.as_f64().to_bits() == slow.as_f64().to_bits(),
            "{value}: {} vs {}",
            fast.as_str(),
            slow.as_str()
        );
    }

    #[test]
    fn integers_read_as_go_reads_them_into_a_float() {
        let mut signed: Vec<i64> = (-100_000..=100_000).collect();
        let edge = 1i64 << 53;
        for step in [-3, -2, -1, 0, 1, 2, 3] {
            signed.extend([edge + step, -(edge + step)]);
        }
        signed.extend([i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1]);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Every magnitude from one digit to nineteen.
            let shift = state % 63;
            signed.push((state >> shift) as i64 * if state & 1 == 0 { 1 } else { -1 });
        }
        for value in signed {
            assert_same(
                value,
                Number::from_i64(value),
                Number::from_f64(value as f64),
            );
        }
        for value in [
            0,
            1,
            1 << 53,
            (1 << 53) + 1,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
        ] {
            assert_same(
                value,
                Number::from_u64(value),
                Number::from_f64(value as f64),
            );
        }
    }
}
