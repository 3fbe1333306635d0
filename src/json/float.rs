//! Go's `encoding/json` formatting of a float64.

/// Formats `value` as Go's `encoding/json` writes a float64.
pub fn format_float(value: f64) -> String {
    format!("{value}")
}
