//! The expression module against recorded Go behaviour: the 97 `constraintVectors` and the
//! restated Flagr tests of `tests/fixtures/flagr-compat-vectors.json`, and every constraint
//! debug message and panic a real Flagr 1.1 produced, in
//! `tests/fixtures/flagr-1.1-constraint-messages.json` (extracted from the shared oracle corpus,
//! contexts kept as exact JSON text).

use std::path::PathBuf;

use crate::expr::test_support::value_from_json;
use crate::expr::{
    compile_segment, expression_text, go_sprint_map, spew_sdump, Constraint, Dialect, EvalError,
};
use crate::json::{Map, Value};

fn fixture(name: &str) -> Value {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    value_from_json(&text)
}

fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value
        .as_object()
        .and_then(|map| map.get(key))
        .unwrap_or_else(|| panic!("no {key} in {value:?}"))
}

fn opt_field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_object().and_then(|map| map.get(key))
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    field(value, key)
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn array(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

fn flag(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Bool(true)))
}

/// What a vector expects from one Flagr line.
#[derive(Debug, PartialEq)]
enum Outcome {
    Invalid(String),
    Matches(Result<bool, EvalError>),
}

fn evaluate(constraints: &[Constraint<'_>], dialect: Dialect, ctx: &Map) -> Outcome {
    match compile_segment(constraints, dialect) {
        Err(error) => Outcome::Invalid(error.to_string()),
        Ok(expr) => Outcome::Matches(expr.evaluate(ctx)),
    }
}

#[test]
fn constraint_vectors_for_both_versions() {
    let vectors = fixture("flagr-compat-vectors.json");
    let cases = array(field(&vectors, "constraintVectors"));
    assert_eq!(cases.len(), 97);

    for (i, case) in cases.iter().enumerate() {
        let constraints: Vec<Constraint<'_>> = array(field(case, "constraints"))
            .iter()
            .map(|c| Constraint {
                property: text(c, "property"),
                operator: text(c, "operator"),
                value: text(c, "value"),
            })
            .collect();
        let ctx = field(case, "entityContext")
            .as_object()
            .expect("object context");

        for (dialect, suffix) in [(Dialect::Flagr12, "1_2"), (Dialect::Flagr11, "1_1")] {
            let label = format!("vector {i} {dialect:?} {constraints:?} on {ctx:?}");
            let spliced = expression_text(&constraints, dialect).expect("splices");
            assert_eq!(
                spliced,
                text(case, &format!("expression_{suffix}")),
                "{label}"
            );

            let expected = field(case, &format!("expected_flagr_{suffix}_x"));
            let got = evaluate(&constraints, dialect, ctx);
            if flag(opt_field(expected, "invalidConstraint")) {
                let Outcome::Invalid(message) = &got else {
                    panic!("{label}: expected invalid, got {got:?}")
                };
                assert!(
                    message.starts_with(text(expected, "parseError")),
                    "{label}: {message}"
                );
            } else if let Some(panic) = opt_field(expected, "panic") {
                let Outcome::Matches(Err(EvalError::Crash(message))) = got else {
                    panic!("{label}: expected a crash, got {got:?}")
                };
                assert_eq!(Some(message), panic.as_str(), "{label}");
            } else if let Some(error) = opt_field(expected, "evalError") {
                let want = EvalError::Failed(error.as_str().expect("error text").to_owned());
                assert_eq!(got, Outcome::Matches(Err(want)), "{label}");
            } else {
                let matches = flag(opt_field(expected, "segmentMatches"));
                assert_eq!(got, Outcome::Matches(Ok(matches)), "{label}");
            }
        }
    }
}

/// Reads `"prop OP value"` as Flagr's Go tests write constraints.
fn parse_test_constraint(spec: &str) -> Constraint<'_> {
    let (property, rest) = spec.split_once(' ').expect("property");
    let (operator, value) = rest.split_once(' ').expect("operator");
    Constraint {
        property,
        operator,
        value,
    }
}

fn context_of(case: &Value) -> Map {
    field(case, "entityContext")
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn restated_flagr_tests() {
    let vectors = fixture("flagr-compat-vectors.json");
    for group in array(field(&vectors, "fromFlagrTests")) {
        let source = text(group, "source");
        let cases = opt_field(group, "cases").map(array).unwrap_or_default();

        if source.contains("TestEvalSegment_NestedEntityContext") {
            for case in cases {
                let specs = array(field(case, "constraints"));
                let constraints: Vec<_> = specs
                    .iter()
                    .map(|s| parse_test_constraint(s.as_str().expect("spec")))
                    .collect();
                let got = compile_segment(&constraints, Dialect::Flagr12)
                    .expect("valid")
                    .evaluate(&context_of(case));
                let want_error = flag(opt_field(case, "error"));
                match got {
                    Ok(matches) => {
                        assert!(!want_error, "{specs:?}: expected an error");
                        assert_eq!(matches, flag(opt_field(case, "match")), "{specs:?}");
                    }
                    Err(error) => assert!(want_error, "{specs:?}: unexpected {error}"),
                }
            }
        } else if source.contains("TestConstraintToExpr_RegexEscaping") {
            for case in cases {
                let spec = text(case, "c");
                let constraint = match spec.strip_suffix(" (value has surrounding spaces)") {
                    // The untrimmed value keeps the spaces around the quoted pattern.
                    Some(bare) => Constraint {
                        property: "status",
                        operator: "EREG",
                        value: &bare[12..],
                    },
                    None => parse_test_constraint(spec),
                };
                let expr = compile_segment(&[constraint], Dialect::Flagr12).expect("valid");
                assert_eq!(
                    expr.evaluate(&context_of(case)),
                    Ok(flag(opt_field(case, "match"))),
                    "{spec}"
                );
            }
        } else if source.contains("TestCompareOperators_StringNotLexicographic") {
            for case in cases {
                let spec = text(case, "c");
                let ops: Vec<&str> = spec.split(' ').nth(1).expect("ops").split('/').collect();
                for op in ops {
                    let spec = spec.replacen(spec.split(' ').nth(1).expect("ops"), op, 1);
                    let constraint = parse_test_constraint(&spec);
                    let got = compile_segment(&[constraint], Dialect::Flagr12)
                        .expect("valid")
                        .evaluate(&context_of(case));
                    if flag(opt_field(case, "evalError")) {
                        assert!(matches!(got, Err(EvalError::Failed(_))), "{spec}: {got:?}");
                    } else {
                        assert_eq!(got, Ok(flag(opt_field(case, "match"))), "{spec}");
                    }
                }
            }
        } else if source.contains("TestConstraintToExpr (invalid") {
            for invalid in array(field(group, "invalidValues")) {
                let constraint = Constraint {
                    property: "dl_state",
                    operator: text(invalid, "op"),
                    value: text(invalid, "value"),
                };
                for dialect in [Dialect::Flagr11, Dialect::Flagr12] {
                    assert!(
                        compile_segment(&[constraint], dialect).is_err(),
                        "{constraint:?} {dialect:?}"
                    );
                }
            }
        } else if source.contains("TestEvalSegment") {
            for case in cases {
                let constraint = parse_test_constraint(text(case, "constraint"));
                for dialect in [Dialect::Flagr11, Dialect::Flagr12] {
                    let expr = compile_segment(&[constraint], dialect).expect("valid");
                    match field(case, "entityContext") {
                        Value::Object(ctx) => {
                            let got = expr.evaluate(ctx).unwrap_or(false);
                            assert_eq!(got, flag(opt_field(case, "match")), "{constraint:?}");
                        }
                        other => assert_eq!(spew_sdump(Some(other)), "(interface {}) <nil>\n"),
                    }
                }
            }
        }
    }
}

#[test]
fn flagr_eval_test_multi_constraint_segments() {
    type Case<'a> = (&'a [(&'a str, &'a str, &'a str)], &'a str, bool);
    let cases: [Case<'_>; 4] = [
        (
            &[("dl_state", "EQ", r#""CA""#)],
            r#"{"dl_state":"CA"}"#,
            true,
        ),
        (
            &[("dl_state", "EQ", r#""CA""#)],
            r#"{"dl_state":"NY"}"#,
            false,
        ),
        (
            &[
                ("dl_state", "EQ", r#""CA""#),
                ("state", "EQ", "{dl_state}"),
                ("rate", "GT", "1000"),
                ("city-name", "EQ", r#""SF""#),
            ],
            r#"{"dl_state":"CA","state":"CA","rate":2000,"city-name":"SF"}"#,
            true,
        ),
        (
            &[("dl_state", "EQ", r#""CA""#), ("state", "EQ", "{dl_state}")],
            r#"{"dl_state":"CA","state":"NY"}"#,
            false,
        ),
    ];
    for (specs, ctx, expected) in cases {
        let constraints: Vec<_> = specs
            .iter()
            .map(|&(property, operator, value)| Constraint {
                property,
                operator,
                value,
            })
            .collect();
        let ctx = value_from_json(ctx);
        for dialect in [Dialect::Flagr11, Dialect::Flagr12] {
            let expr = compile_segment(&constraints, dialect).expect("valid");
            assert_eq!(
                expr.evaluate(ctx.as_object().expect("object")),
                Ok(expected),
                "{specs:?} {dialect:?}"
            );
        }
    }
}

fn oracle_constraints(record: &Value) -> Vec<Constraint<'_>> {
    array(field(record, "constraints"))
        .iter()
        .map(|c| {
            let parts = array(c);
            let part = |i: usize| parts[i].as_str().expect("constraint text");
            Constraint {
                property: part(0),
                operator: part(1),
                value: part(2),
            }
        })
        .collect()
}

fn oracle_context(record: &Value) -> Option<Value> {
    match field(record, "context") {
        Value::Null => None,
        raw => Some(value_from_json(raw.as_str().expect("context text"))),
    }
}

/// The message Flagr's `evalSegment` logs for a segment with constraints that did not match.
fn segment_message(
    segment_id: &str,
    constraints: &[Constraint<'_>],
    context: Option<&Value>,
) -> String {
    let Some(Value::Object(ctx)) = context else {
        return format!(
            "constraints are present in the segment_id {segment_id}, \
             but got invalid entity_context: {}.",
            spew_sdump(context)
        );
    };
    let expr =
        compile_segment(constraints, Dialect::Flagr11).expect("oracle constraints are valid");
    match expr.evaluate(ctx) {
        Ok(false) => format!(
            "constraint not match. constraint: {expr}, entity_context: {}.",
            go_sprint_map(ctx)
        ),
        Ok(true) => "segment matched".to_owned(),
        Err(error) => error.to_string(),
    }
}

#[test]
fn oracle_debug_messages_are_reproduced() {
    let corpus = fixture("flagr-1.1-constraint-messages.json");
    let records = array(field(&corpus, "messages"));
    assert!(records.len() > 400, "{} records", records.len());

    let mut mismatches = Vec::new();
    for record in records {
        let segment_id = match field(record, "segmentID") {
            Value::Number(n) => n.as_str().to_owned(),
            other => panic!("segment id {other:?}"),
        };
        let context = oracle_context(record);
        let got = segment_message(&segment_id, &oracle_constraints(record), context.as_ref());
        let want = text(record, "msg");
        if got != want {
            mismatches.push(format!(
                "{}\n  want: {want}\n  got:  {got}",
                text(record, "case")
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn oracle_panics_are_crashes() {
    let corpus = fixture("flagr-1.1-constraint-messages.json");
    for record in array(field(&corpus, "crashes")) {
        let context = oracle_context(record).expect("crash contexts are present");
        let ctx = context.as_object().expect("object context");
        let mut crash = None;
        'flags: for flag in array(field(record, "flags")) {
            for segment in array(field(flag, "segments")) {
                let constraints = oracle_constraints(segment);
                if constraints.is_empty() {
                    continue 'flags;
                }
                match compile_segment(&constraints, Dialect::Flagr11)
                    .expect("valid")
                    .evaluate(ctx)
                {
                    Err(EvalError::Crash(message)) => {
                        crash = Some(message);
                        break 'flags;
                    }
                    Ok(true) => continue 'flags,
                    _ => {}
                }
            }
        }
        assert_eq!(
            crash,
            Some(text(record, "panic")),
            "{}",
            text(record, "case")
        );

        let same_in_12 = array(field(record, "flags"))
            .iter()
            .flat_map(|f| array(field(f, "segments")))
            .all(|s| {
                let constraints = oracle_constraints(s);
                constraints.is_empty()
                    || !matches!(
                        compile_segment(&constraints, Dialect::Flagr12)
                            .expect("valid")
                            .evaluate(ctx),
                        Err(EvalError::Crash(_))
                    )
            });
        assert!(
            same_in_12,
            "Flagr 1.2 never crashes: {}",
            text(record, "case")
        );
    }
}
