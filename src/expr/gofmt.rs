//! Go's printing of a decoded entity context for Flagr's debug messages: `%+v` of the map
//! (`map[age:25.0 groups:[admin qa]]`) and go-spew's `Sdump` of a context that is not an object.
//! Values are what Go's decoder builds with `UseNumber`: `json.Number`, string, bool, nil,
//! `[]interface{}` and `map[string]interface{}`.

use std::fmt::Write;

use crate::expr::gostr::push_go_quoted;
use crate::json::{Map, Value};

/// Go's `fmt.Sprintf("%+v", ctx)` of a context map: keys sorted, numbers as their JSON text,
/// strings unquoted, `nil` as `<nil>`. Past `SPEW_LIMIT` bytes the rest is left out and a
/// marker says so, to keep debug logs of huge contexts bounded.
pub fn go_sprint_map(ctx: &Map) -> String {
    let mut out = String::with_capacity(64);
    push_sprint_map(&mut out, ctx);
    if out.len() > SPEW_LIMIT {
        let mut end = SPEW_LIMIT;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str(SPEW_TRUNCATED);
    }
    out
}

fn push_sprint_map(out: &mut String, map: &Map) {
    out.push_str("map[");
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(key);
        out.push(':');
        push_sprint_value(out, value);
    }
    out.push(']');
}

fn push_sprint_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(n.as_str()),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                push_sprint_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => push_sprint_map(out, map),
    }
}

/// go-spew's `Sdump` of an entity context (default config), with its trailing newline.
/// `None` is a missing context, which Go holds as a nil interface: `(interface {}) <nil>`.
///
/// Go iterates map keys in random order here (spew does not sort by default); this prints
/// them sorted, which is one of the orders Go may produce.
///
/// The dump indents every level, so a deeply nested context grows with the square of its
/// size; past `SPEW_LIMIT` bytes the rest is left out and a marker says so (Go prints it all).
pub fn spew_sdump(value: Option<&Value>) -> String {
    let mut out = String::with_capacity(64);
    match value {
        None | Some(Value::Null) => out.push_str("(interface {}) <nil>"),
        Some(value) => push_spew(&mut out, value, 0),
    }
    if out.len() > SPEW_LIMIT {
        out.push_str(SPEW_TRUNCATED);
    }
    out.push('\n');
    out
}

/// Bytes of spew output kept before the rest of a dump is left out.
pub const SPEW_LIMIT: usize = 64 * 1024;
const SPEW_TRUNCATED: &str = " ... (debug dump truncated by vexilla-proxy)";

/// One value as spew's `dump` prints it, without the leading indentation.
fn push_spew(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Null => out.push_str("(interface {}) <nil>"),
        Value::Bool(b) => out.push_str(if *b { "(bool) true" } else { "(bool) false" }),
        Value::Number(n) => {
            // json.Number is a string with a String method: spew prints its length, then the
            // method's result without quotes.
            let _ = write!(
                out,
                "(json.Number) (len={}) {}",
                n.as_str().len(),
                n.as_str()
            );
        }
        Value::String(s) => {
            out.push_str("(string) ");
            if !s.is_empty() {
                let _ = write!(out, "(len={}) ", s.len());
            }
            push_go_quoted(out, s);
        }
        Value::Array(items) => {
            out.push_str("([]interface {}) ");
            if !items.is_empty() {
                let _ = write!(
                    out,
                    "(len={} cap={}) ",
                    items.len(),
                    go_decoded_slice_cap(items.len())
                );
            }
            out.push_str("{\n");
            for (i, item) in items.iter().enumerate() {
                if out.len() > SPEW_LIMIT {
                    return;
                }
                indent(out, depth + 1);
                push_spew(out, item, depth + 1);
                if out.len() > SPEW_LIMIT {
                    return;
                }
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            indent(out, depth);
            out.push('}');
        }
        Value::Object(map) => {
            out.push_str("(map[string]interface {}) ");
            if !map.is_empty() {
                let _ = write!(out, "(len={}) ", map.len());
            }
            out.push_str("{\n");
            for (i, (key, item)) in map.iter().enumerate() {
                if out.len() > SPEW_LIMIT {
                    return;
                }
                indent(out, depth + 1);
                out.push_str("(string) ");
                if !key.is_empty() {
                    let _ = write!(out, "(len={}) ", key.len());
                }
                push_go_quoted(out, key);
                out.push_str(": ");
                push_spew(out, item, depth + 1);
                if out.len() > SPEW_LIMIT {
                    return;
                }
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            indent(out, depth);
            out.push('}');
        }
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push(' ');
    }
}

/// The capacity of the `[]interface{}` Go's JSON decoder builds for an array of `len` elements:
/// it appends one element at a time to an empty slice, so the capacity follows the runtime's
/// growth rule and malloc size classes (Go 1.22+, 16-byte elements that hold pointers).
pub(crate) fn go_decoded_slice_cap(len: usize) -> usize {
    let mut cap = 0usize;
    for new_len in 1..=len {
        if new_len > cap {
            cap = grown_cap(new_len, cap);
        }
    }
    cap
}

/// `runtime.growslice` for a 16-byte element type with pointers.
fn grown_cap(new_len: usize, old_cap: usize) -> usize {
    const ELEM: usize = 16;
    let double = old_cap * 2;
    let wanted = if new_len > double {
        new_len
    } else if old_cap < 256 {
        double
    } else {
        let mut cap = old_cap;
        while cap < new_len {
            cap += (cap + 3 * 256) >> 2;
        }
        cap
    };
    round_up_alloc(wanted * ELEM) / ELEM
}

/// `runtime.roundupsize(size, noscan=false)`: the size class, less the 8-byte malloc header
/// that objects with pointers above 512 bytes carry; page multiples for large objects.
fn round_up_alloc(size: usize) -> usize {
    const CLASSES: [usize; 67] = [
        8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320,
        352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
        2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472,
        9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264,
        28672, 32768,
    ];
    const HEADER: usize = 8;
    const PAGE: usize = 8192;
    if size <= 32768 - HEADER {
        let header = if size > 512 { HEADER } else { 0 };
        let wanted = size + header;
        let class = CLASSES
            .iter()
            .copied()
            .find(|&c| c >= wanted)
            .unwrap_or(wanted);
        return class - header;
    }
    size.div_ceil(PAGE) * PAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(json: &str) -> Value {
        crate::expr::test_support::value_from_json(json)
    }

    #[test]
    fn sprint_map_matches_go() {
        fn check(json: &str, expected: &str) {
            let Value::Object(map) = value(json) else {
                panic!("not an object: {json}")
            };
            assert_eq!(go_sprint_map(&map), expected, "%+v of {json}");
        }
        check(r#"{"dl_state":"NY"}"#, "map[dl_state:NY]");
        check(
            r#"{"nested":{"a":1},"groups":["admin","qa"],"age":25.0}"#,
            "map[age:25.0 groups:[admin qa] nested:map[a:1]]",
        );
        check(
            r#"{"z":null,"e":{},"l":[],"s":"","b":false}"#,
            "map[b:false e:map[] l:[] s: z:<nil>]",
        );
        check(
            r#"{"x":1.5e+300,"y":[1,{"c":null}]}"#,
            "map[x:1.5e+300 y:[1 map[c:<nil>]]]",
        );
        check("{}", "map[]");
    }

    #[test]
    fn huge_dumps_are_cut() {
        let deep = "[".repeat(1500) + &"]".repeat(1500);
        let dump = spew_sdump(Some(&value(&deep)));
        assert!(dump.len() < SPEW_LIMIT + 10_000, "{} bytes", dump.len());
        assert!(dump.ends_with("(debug dump truncated by vexilla-proxy)\n"));
        let small = spew_sdump(Some(&value("[1]")));
        assert!(!small.contains("truncated"));
    }

    #[test]
    fn spew_matches_go_spew() {
        fn check(json: Option<&str>, expected: &str) {
            let parsed = json.map(value);
            assert_eq!(spew_sdump(parsed.as_ref()), expected, "Sdump of {json:?}");
        }
        check(None, "(interface {}) <nil>\n");
        check(Some("null"), "(interface {}) <nil>\n");
        check(Some(r#""s""#), "(string) (len=1) \"s\"\n");
        check(Some(r#""a string""#), "(string) (len=8) \"a string\"\n");
        check(Some(r#""""#), "(string) \"\"\n");
        check(Some("true"), "(bool) true\n");
        check(Some("42"), "(json.Number) (len=2) 42\n");
        check(Some("[]"), "([]interface {}) {\n}\n");
        check(
            Some("[1,2]"),
            "([]interface {}) (len=2 cap=2) {\n (json.Number) (len=1) 1,\n \
             (json.Number) (len=1) 2\n}\n",
        );
        check(
            Some(r#"[1,"a",{"b":null}]"#),
            "([]interface {}) (len=3 cap=4) {\n (json.Number) (len=1) 1,\n \
             (string) (len=1) \"a\",\n (map[string]interface {}) (len=1) {\n  \
             (string) (len=1) \"b\": (interface {}) <nil>\n }\n}\n",
        );
        check(
            Some(r#"[[],[true],{}]"#),
            "([]interface {}) (len=3 cap=4) {\n ([]interface {}) {\n },\n \
             ([]interface {}) (len=1 cap=1) {\n  (bool) true\n },\n \
             (map[string]interface {}) {\n }\n}\n",
        );
        check(Some(r#""é\n""#), "(string) (len=3) \"é\\n\"\n");
    }

    #[test]
    fn decoded_slice_caps_follow_go_growth() {
        fn check(len: usize, expected: usize) {
            assert_eq!(
                go_decoded_slice_cap(len),
                expected,
                "cap after {len} appends"
            );
        }
        check(0, 0);
        check(1, 1);
        check(2, 2);
        check(3, 4);
        check(5, 8);
        check(17, 32);
        check(32, 32);
        check(33, 71);
        check(72, 143);
        check(300, 303);
        check(304, 591);
    }
}
