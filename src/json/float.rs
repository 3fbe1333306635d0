//! Go's `encoding/json` formatting of a float64: the shortest digits that read back as the same
//! float, in plain decimal from 1e-6 up to 1e21 and in exponent form (`1e+21`, `1e-7`) outside.
//! Parsing number text is left to `Number`.

use std::fmt::Write;

/// Formats `value` as Go's `encoding/json` writes a float64.
///
/// JSON has no NaN or infinity and Go refuses to encode them; here they come out as `null`, so
/// the text stays valid JSON.
pub fn format_float(value: f64) -> String {
    if !value.is_finite() {
        return "null".to_owned();
    }

    let mut text = String::with_capacity(24);
    if value.is_sign_negative() {
        text.push('-');
    }
    let magnitude = value.abs();
    if magnitude == 0.0 {
        text.push('0');
        return text;
    }

    let Some((digits, exponent)) = shortest_digits(magnitude) else {
        // Not reached: Rust's exponent form always splits as expected.
        let _ = write!(text, "{magnitude}");
        return text;
    };

    if (1e-6..1e21).contains(&magnitude) {
        write_plain(&mut text, &digits, exponent);
    } else {
        write_exponent(&mut text, &digits, exponent);
    }
    text
}

/// The shortest decimal digits that read back as `magnitude` (finite, above zero), with the
/// power of ten of the first digit. Among equally short candidates equally near the float, Go
/// takes the one with an even last digit where Rust rounds up: `1500000000000000.25` is
/// `1500000000000000.2` in Go, and that is what this gives.
fn shortest_digits(magnitude: f64) -> Option<(String, i32)> {
    let text = format!("{magnitude:e}");
    let (mantissa, exponent) = text.split_once('e')?;
    let exponent: i32 = exponent.parse().ok()?;
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let count = i32::try_from(digits.len()).ok()?;
    let mut number: u64 = digits.parse().ok()?;

    // Break a tie towards the even neighbour, as Go's shortest formatting does.
    let unit = exponent - (count - 1);
    if number % 2 == 1 {
        if is_halfway(magnitude, 2 * number - 1, unit) {
            number -= 1;
        } else if is_halfway(magnitude, 2 * number + 1, unit) {
            number += 1;
        }
    }

    let mut digits = number.to_string();
    let kept = digits.trim_end_matches('0').len().max(1);
    let dropped = i32::try_from(digits.len() - kept).ok()?;
    digits.truncate(kept);
    let count = i32::try_from(kept).ok()?;
    Some((digits, unit + dropped + count - 1))
}

/// Whether `magnitude` is exactly `odd / 2 * 10^unit`, the point halfway between two decimals
/// of the same length. It works on the float's exact binary value, so no rounding can fool it.
fn is_halfway(magnitude: f64, odd: u64, unit: i32) -> bool {
    let bits = magnitude.to_bits();
    let biased = i32::try_from(bits >> 52).unwrap_or(0);
    let fraction = bits & ((1 << 52) - 1);
    let (mut mantissa, mut power_of_two) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, biased - 1075)
    };
    if mantissa == 0 {
        return false;
    }
    let zeros = mantissa.trailing_zeros();
    mantissa >>= zeros;
    power_of_two += i32::try_from(zeros).unwrap_or(0);

    // odd / 2 * 10^unit is (odd * 5^unit) * 2^(unit - 1), whose first factor is odd, so it must
    // match the float's odd mantissa and power of two exactly.
    if power_of_two != unit - 1 {
        return false;
    }
    let Some(fives) = 5u128.checked_pow(unit.unsigned_abs()) else {
        return false;
    };
    let (odd, mantissa) = (u128::from(odd), u128::from(mantissa));
    if unit >= 0 {
        odd.checked_mul(fives) == Some(mantissa)
    } else {
        odd % fives == 0 && odd / fives == mantissa
    }
}

/// Writes the digits in plain decimal, as Go's 'f' format does.
fn write_plain(text: &mut String, digits: &str, exponent: i32) {
    let whole = usize::try_from(exponent + 1).unwrap_or(0);
    if exponent < 0 {
        text.push_str("0.");
        let zeros = usize::try_from(exponent.unsigned_abs() - 1).unwrap_or(0);
        text.push_str(&"0".repeat(zeros));
        text.push_str(digits);
    } else if whole >= digits.len() {
        text.push_str(digits);
        text.push_str(&"0".repeat(whole - digits.len()));
    } else {
        let (integer, fraction) = digits.split_at(whole);
        text.push_str(integer);
        text.push('.');
        text.push_str(fraction);
    }
}

/// Writes the digits in Go's 'e' format, then trims a two-digit negative exponent's leading
/// zero as `encoding/json` does (`1e-07` becomes `1e-7`).
fn write_exponent(text: &mut String, digits: &str, exponent: i32) {
    let (first, rest) = digits.split_at(1);
    text.push_str(first);
    if !rest.is_empty() {
        text.push('.');
        text.push_str(rest);
    }
    if exponent < 0 {
        let _ = write!(text, "e-{}", exponent.unsigned_abs());
    } else {
        let _ = write!(text, "e+{exponent:02}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_format() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (100.0, "100"),
            (25.0, "25"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (123456.789, "123456.789"),
            (9007199254740992.0, "9007199254740992"),
            (9007199254740993.0, "9007199254740992"),
            (123456789012345678901234567890.0, "1.2345678901234568e+29"),
            (1e20, "100000000000000000000"),
            (9.999999999999999e20, "999999999999999900000"),
            (1e21, "1e+21"),
            (-1e21, "-1e+21"),
            (1.5e300, "1.5e+300"),
            (1e100, "1e+100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-f64::MAX, "-1.7976931348623157e+308"),
            (1e-6, "0.000001"),
            (-1e-6, "-0.000001"),
            (0.000001234, "0.000001234"),
            (9.99999e-7, "9.99999e-7"),
            (1e-7, "1e-7"),
            (-1e-7, "-1e-7"),
            (1.2345678e-8, "1.2345678e-8"),
            (1e-9, "1e-9"),
            (1e-10, "1e-10"),
            (3.14e-100, "3.14e-100"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (-5e-324, "-5e-324"),
            // Exact halves between two shortest candidates go to the even one, as in Go.
            (1.5e15 + 0.25, "1500000000000000.2"),
            (-1.5e15 - 0.25, "-1500000000000000.2"),
            (1.5e15 + 0.75, "1500000000000000.8"),
            (27375056340814.0 + 0.5625, "27375056340814.562"),
            (139340262991237.0 + 0.125, "139340262991237.12"),
            (0.5, "0.5"),
            (2.5, "2.5"),
            (1e15, "1000000000000000"),
            (12345678901234567890.0, "12345678901234567000"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
            (f64::NEG_INFINITY, "null"),
        ];
        for (value, expected) in cases {
            check(*value, expected);
        }
    }

    fn check(value: f64, expected: &str) {
        assert_eq!(format_float(value), expected, "value {value:e}");
    }
}
