//! A segment's constraints and an entity context: compiling in both dialects, evaluating,
//! printing the expression, and Go's printing of the context.
//!
//! Input: NUL-separated fields `property \0 operator \0 value [\0 property \0 operator \0 value
//! ...] \0 context-json`. With fewer than four fields there is one constraint and the context
//! is `{}`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexilla_proxy::expr::{self, Constraint, Dialect};
use vexilla_proxy::json::{self, Map, Value};

#[path = "common/worker.rs"]
mod worker;

fuzz_target!(|data: &[u8]| {
    let data = data.to_vec();
    worker::run(move || check(&data));
});

fn check(data: &[u8]) {
    let fields: Vec<String> = data
        .split(|&b| b == 0)
        .map(|field| String::from_utf8_lossy(field).into_owned())
        .collect();
    let (constraint_fields, context_text) = if fields.len() >= 4 {
        (
            &fields[..fields.len() - 1],
            fields[fields.len() - 1].as_str(),
        )
    } else {
        (&fields[..], "{}")
    };
    let field = |i: usize| constraint_fields.get(i).map_or("", String::as_str);
    let constraints: Vec<Constraint<'_>> = (0..constraint_fields.len().div_ceil(3).max(1))
        .map(|i| Constraint {
            property: field(3 * i),
            operator: field(3 * i + 1),
            value: field(3 * i + 2),
        })
        .collect();

    let context = json::parse(context_text.as_bytes()).ok();
    let empty = Map::new();
    let map = match &context {
        Some(Value::Object(map)) => map,
        _ => &empty,
    };
    let _ = expr::go_sprint_map(map);
    let _ = expr::spew_sdump(context.as_ref());

    for dialect in [Dialect::Flagr11, Dialect::Flagr12] {
        let text = expr::expression_text(&constraints, dialect);
        let compiled = expr::compile_segment(&constraints, dialect);
        // The text is built before parsing, so a refused text refuses the segment.
        if text.is_err() {
            assert!(
                compiled.is_err(),
                "compiled a segment whose text was refused"
            );
        }
        let _ = expr::validate_constraint(constraints[0], dialect);
        if let Ok(expression) = compiled {
            assert_eq!(expression.dialect(), dialect);
            let _ = expression.to_string();
            let first = expression.evaluate(map);
            // Evaluation holds no state between calls.
            assert_eq!(
                first,
                expression.evaluate(map),
                "evaluation is not repeatable"
            );
        }
    }
}
