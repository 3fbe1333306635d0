//! An evaluation request body: Go-compatible JSON parsing, request decoding, and a
//! write/parse round trip of every value the parser accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexilla_proxy::json::{self, Document, Value};
use vexilla_proxy::request;

#[path = "common/worker.rs"]
mod worker;

fuzz_target!(|data: &[u8]| {
    let data = data.to_vec();
    worker::run(move || check(&data));
});

fn check(data: &[u8]) {
    // The two request decoders, as the API runs them on a POST body.
    let members = json::parse_members(data);
    if let Ok(document) = &members {
        let _ = request::decode_eval_context(document.clone());
        let _ = request::decode_batch(document);
    }

    // parse_members reads the same value as parse, or fails the same way.
    match (&members, &json::parse(data)) {
        (Ok(Document::Object(members)), Ok(Value::Object(map))) => {
            // Same keys, and the last spelling of a repeated key wins.
            let last: json::Map = members.iter().cloned().collect();
            assert_eq!(&last, map, "parse_members and parse kept different members");
        }
        (Ok(Document::Other(other)), Ok(value)) => assert_eq!(other, value),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "different errors"),
        (a, b) => panic!("parse_members and parse disagree: {a:?} / {b:?}"),
    }

    if let Ok(value) = json::parse(data) {
        round_trip(&value);
        // Numbers rewritten as Go's float64 encoding: valid JSON, and stable when reapplied
        // (a non-finite value is written as null by design).
        let mut floats = value.clone();
        request::numbers_as_float64(&mut floats);
        let mut first = Vec::new();
        json::write_value(&mut first, &floats);
        let mut again = json::parse_document(&first).unwrap_or_else(|e| {
            panic!(
                "float64 JSON does not parse: {e}: {:?}",
                String::from_utf8_lossy(&first)
            )
        });
        request::numbers_as_float64(&mut again);
        let mut second = Vec::new();
        json::write_value(&mut second, &again);
        assert_eq!(
            String::from_utf8_lossy(&first),
            String::from_utf8_lossy(&second),
            "float64 formatting is not stable"
        );
    }

    if let Ok(value) = json::parse_document(data) {
        // A whole document is also a first value.
        let first = json::parse(data).expect("parse_document accepted what parse refused");
        assert_eq!(first, value);
        round_trip(&value);
    }
}

/// What write_value writes parses back to the same value, as a whole document.
fn round_trip(value: &Value) {
    let mut out = Vec::new();
    json::write_value(&mut out, value);
    let again = json::parse_document(&out).unwrap_or_else(|e| {
        panic!(
            "written JSON does not parse: {e}: {:?}",
            String::from_utf8_lossy(&out)
        )
    });
    assert_eq!(
        &again,
        value,
        "round trip changed the value: {:?}",
        String::from_utf8_lossy(&out)
    );
}
