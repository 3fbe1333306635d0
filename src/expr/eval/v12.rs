//! conditions v0.2.6, the library of Flagr 1.2: AND/OR short-circuit, `{a.b[0]}` paths are
//! followed into nested objects and arrays, errors are lower-case and nothing panics.

use crate::expr::ast::{Binary, Node, Op, PathStep};
use crate::expr::eval::{
    failed, go_type, literal, logic, regex_match, show, type_name, Lit, NumSeq, StrSeq, EPSILON,
};
use crate::expr::gostr::go_quote;
use crate::expr::EvalError;
use crate::json::{Map, Value};

/// The v0.2.6 evaluator over one context.
pub(super) struct V12<'a> {
    pub(super) ctx: &'a Map,
}

impl<'a> V12<'a> {
    pub(super) fn eval(&self, node: &'a Node) -> Result<Lit<'a>, EvalError> {
        match node {
            Node::Paren(inner) => self.eval(inner),
            Node::Binary(binary) => match binary.op {
                Op::And | Op::Or => {
                    let lhs = boolean_v12(self.eval(&binary.lhs)?)?;
                    if lhs == (binary.op == Op::Or) {
                        return Ok(Lit::Bool(lhs));
                    }
                    Ok(Lit::Bool(boolean_v12(self.eval(&binary.rhs)?)?))
                }
                _ => {
                    let lhs = self.eval(&binary.lhs)?;
                    let rhs = self.eval(&binary.rhs)?;
                    apply_v12(binary, lhs, rhs).map(Lit::Bool)
                }
            },
            Node::Var(name) => match self.ctx.get(&**name) {
                None => Err(failed(format!("argument: {name} not found"))),
                Some(Value::Null) => {
                    Err(failed(format!("unsupported argument nil type for {name}")))
                }
                Some(value) => value_to_lit_v12(value),
            },
            Node::Path(path) => self.resolve_path(&path.root, &path.steps),
            other => Ok(literal(other)),
        }
    }

    pub(super) fn resolve_path(
        &self,
        root: &str,
        steps: &[PathStep],
    ) -> Result<Lit<'a>, EvalError> {
        let Some(mut current) = self.ctx.get(root) else {
            return Err(failed(format!("argument: {root} not found")));
        };
        for step in steps {
            if matches!(current, Value::Null) {
                return Err(failed(format!("nil value encountered traversing {root}")));
            }
            current = match step {
                PathStep::Index(index) => {
                    let Value::Array(items) = current else {
                        return Err(failed(format!(
                            "cannot index non-array value traversing {root}"
                        )));
                    };
                    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
                    let at = if *index < 0 { len + index } else { *index };
                    match usize::try_from(at).ok().and_then(|at| items.get(at)) {
                        Some(item) => item,
                        None => {
                            return Err(failed(format!(
                                "index {index} out of bounds traversing {root}"
                            )))
                        }
                    }
                }
                PathStep::Key(key) => {
                    let Value::Object(map) = current else {
                        return Err(failed(format!(
                            "cannot access key {} on non-map value traversing {root}",
                            go_quote(key)
                        )));
                    };
                    match map.get(&**key) {
                        Some(item) => item,
                        None => {
                            return Err(failed(format!(
                                "key {} not found traversing {root}",
                                go_quote(key)
                            )))
                        }
                    }
                }
            };
        }
        if matches!(current, Value::Null) {
            return Err(failed(format!("nil value at end of path {root}")));
        }
        value_to_lit_v12(current)
    }
}

fn out_of_range(text: &str, in_slice: bool) -> EvalError {
    let place = if in_slice { " in slice" } else { "" };
    failed(format!(
        "unsupported JSON Number {text}{place}: strconv.ParseFloat: parsing {}: value out of range",
        go_quote(text)
    ))
}

fn value_to_lit_v12(value: &Value) -> Result<Lit<'_>, EvalError> {
    match value {
        Value::Null => Err(failed("unsupported nil type".to_owned())),
        Value::Number(n) if n.as_f64().is_infinite() => Err(out_of_range(n.as_str(), false)),
        Value::Number(n) => Ok(Lit::Num(n.as_f64())),
        Value::String(s) => Ok(Lit::Str(s)),
        Value::Bool(b) => Ok(Lit::Bool(*b)),
        Value::Object(_) => Err(failed(
            "unsupported type: map[string]interface {}".to_owned(),
        )),
        Value::Array(items) => match items.first() {
            None => Err(failed("empty slice not castable".to_owned())),
            Some(Value::String(_)) => {
                if items.iter().all(|item| matches!(item, Value::String(_))) {
                    Ok(Lit::StrList(StrSeq::Context(items)))
                } else {
                    Err(failed(
                        "the items in the array are not all the same type".to_owned(),
                    ))
                }
            }
            Some(Value::Number(_)) => {
                if !items.iter().all(|item| matches!(item, Value::Number(_))) {
                    return Err(failed(
                        "the items in the array are not all json.Number".to_owned(),
                    ));
                }
                for item in items {
                    if let Value::Number(n) = item {
                        if n.as_f64().is_infinite() {
                            return Err(out_of_range(n.as_str(), true));
                        }
                    }
                }
                Ok(Lit::NumList(NumSeq::Context(items)))
            }
            Some(first) => {
                let name = match first {
                    Value::Null => "<nil>",
                    other => go_type(other),
                };
                Err(failed(format!("unsupported slice element type: {name}")))
            }
        },
    }
}

fn boolean_v12(lit: Lit<'_>) -> Result<bool, EvalError> {
    match lit {
        Lit::Bool(value) => Ok(value),
        other => Err(failed(format!("literal is not a boolean: {}", show(other)))),
    }
}

fn number_v12(lit: Lit<'_>) -> Result<f64, EvalError> {
    match lit {
        Lit::Num(value) => Ok(value),
        other => Err(failed(format!("literal is not a number: {}", show(other)))),
    }
}

fn apply_v12(binary: &Binary, l: Lit<'_>, r: Lit<'_>) -> Result<bool, EvalError> {
    Ok(match binary.op {
        Op::And | Op::Or | Op::Xor | Op::Nand => {
            let (a, b) = (boolean_v12(l)?, boolean_v12(r)?);
            logic(binary.op, a, b)
        }
        Op::Eq => equal_v12(l, r)?,
        Op::Neq => !equal_v12(l, r)?,
        Op::Gt => number_v12(l)? > number_v12(r)?,
        Op::Lt => number_v12(l)? < number_v12(r)?,
        Op::Gte => {
            let (a, b) = (number_v12(l)?, number_v12(r)?);
            a > b || float_eq_v12(a, b)
        }
        Op::Lte => {
            let (a, b) = (number_v12(l)?, number_v12(r)?);
            a < b || float_eq_v12(a, b)
        }
        Op::In => member_v12(l, r)?,
        Op::NotIn => !member_v12(l, r)?,
        Op::Contains => member_v12(r, l)?,
        Op::NotContains => !member_v12(r, l)?,
        Op::Ereg => regex_v12(binary, l, r)?,
        Op::Nereg => !regex_v12(binary, l, r)?,
    })
}

fn equal_v12(l: Lit<'_>, r: Lit<'_>) -> Result<bool, EvalError> {
    match (l, r) {
        (Lit::Str(a), Lit::Str(b)) => Ok(a == b),
        (Lit::Str(_), _) => Err(failed("cannot compare string with non-string".to_owned())),
        (Lit::Num(a), Lit::Num(b)) => Ok(float_eq_v12(a, b)),
        (Lit::Num(_), _) => Err(failed("cannot compare number with non-number".to_owned())),
        (Lit::Bool(a), Lit::Bool(b)) => Ok(a == b),
        (Lit::Bool(_), _) => Err(failed("cannot compare boolean with non-boolean".to_owned())),
        _ => Err(failed(format!(
            "unsupported equality comparison for types {} and {}",
            type_name(l),
            type_name(r)
        ))),
    }
}

fn member_v12(l: Lit<'_>, r: Lit<'_>) -> Result<bool, EvalError> {
    match (l, r) {
        (Lit::Str(needle), Lit::StrList(seq)) => Ok(seq.contains(needle)),
        (Lit::Str(_), other) => Err(failed(format!(
            "literal is not a slice of string: {}",
            show(other)
        ))),
        (Lit::Num(needle), Lit::NumList(seq)) => Ok(seq.iter().any(|e| float_eq_v12(needle, e))),
        (Lit::Num(_), other) => Err(failed(format!(
            "literal is not a slice of float64: {}",
            show(other)
        ))),
        (other, _) => Err(failed(format!(
            "IN/CONTAINS not supported for type {}",
            type_name(other)
        ))),
    }
}

fn regex_v12(binary: &Binary, l: Lit<'_>, r: Lit<'_>) -> Result<bool, EvalError> {
    let (Lit::Str(text), Lit::Str(pattern)) = (l, r) else {
        return Err(failed(format!(
            "regex match requires string operands, got {} and {}",
            type_name(l),
            type_name(r)
        )));
    };
    regex_match(binary, pattern, text).map_err(|error| {
        failed(format!(
            "invalid regex pattern {}: {error}",
            go_quote(pattern)
        ))
    })
}

fn float_eq_v12(a: f64, b: f64) -> bool {
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if diff > EPSILON {
        return false;
    }
    if a == 0.0 || b == 0.0 {
        return diff < EPSILON * f64::from(f32::from_bits(1));
    }
    diff / a.abs().max(b.abs()) < EPSILON
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::eval::test_run::run;
    use crate::expr::Dialect;

    #[test]
    fn v12_edge_cases() {
        fn check(spec: &str, ctx: &str, expected: &str) {
            assert_eq!(
                run(Dialect::Flagr12, spec, ctx),
                expected,
                "{spec} on {ctx}"
            );
        }
        let operands = "regex match requires string operands, got";
        let bool_operand =
            format!("{operands} *conditions.BooleanLiteral and *conditions.StringLiteral");
        check(r#"d NEREG "^tv$""#, r#"{"d":true}"#, &bool_operand);
        let unclosed =
            r#"invalid regex pattern "(a/b": error parsing regexp: missing closing ): `(a/b`"#;
        check(r#"d EREG "(a/b""#, r#"{"d":"x"}"#, unclosed);
        check("x EQ 1) AND ({y} == 2", r#"{"x":2}"#, "false");
        check("x EQ 1) OR ({y} == 2", r#"{"x":1}"#, "true");
        check(
            r#"g EQ "x""#,
            r#"{"g":[1,"a"]}"#,
            "the items in the array are not all json.Number",
        );
        check(
            r#"g EQ "x""#,
            r#"{"g":[true]}"#,
            "unsupported slice element type: bool",
        );
        check(
            r#"g EQ "x""#,
            r#"{"g":[null]}"#,
            "unsupported slice element type: <nil>",
        );
        let range = r#"strconv.ParseFloat: parsing "1e400": value out of range"#;
        let in_slice = format!("unsupported JSON Number 1e400 in slice: {range}");
        check("g CONTAINS 1", r#"{"g":[1e400]}"#, &in_slice);
        check(
            "n EQ 1",
            r#"{"n":1e400}"#,
            &format!("unsupported JSON Number 1e400: {range}"),
        );
        let bool_in = "IN/CONTAINS not supported for type *conditions.BooleanLiteral";
        check(r#"b IN ["a"]"#, r#"{"b":true}"#, bool_in);
        let tags = r#"{"u":{"tags":["a","b"]}}"#;
        check(r#"u.tags[1] EQ "b""#, tags, "true");
        check(
            r#"u.tags[2] EQ "b""#,
            tags,
            "index 2 out of bounds traversing u",
        );
        let not_map = r#"cannot access key "name" on non-map value traversing u"#;
        check(r#"u.name EQ "b""#, r#"{"u":"x"}"#, not_map);
        check(
            r#"u[0] EQ "b""#,
            r#"{"u":{}}"#,
            "cannot index non-array value traversing u",
        );
        check(
            r#"u.a.b EQ "b""#,
            r#"{"u":{"a":null}}"#,
            "nil value encountered traversing u",
        );
        check(
            r#"u.a EQ "b""#,
            r#"{"u":{"a":null}}"#,
            "nil value at end of path u",
        );
        check(
            r#"u.x EQ "b""#,
            r#"{"u":{}}"#,
            r#"key "x" not found traversing u"#,
        );
        let map_type = "unsupported type: map[string]interface {}";
        check(r#"u.a EQ "b""#, r#"{"u":{"a":{}}}"#, map_type);
        check(r#"x EQ "\u00e9""#, r#"{"x":"é"}"#, "true");
        check(r#"t EREG "^[a-z ]+$""#, r#"{"t":"ab"}"#, "true");
        check(r#"t EREG "^[a-z ]+$""#, r#"{"t":"a b"}"#, "false");
    }

    #[test]
    fn float_equality_divides_by_the_larger() {
        assert!(float_eq_v12(25.0, 25.000_000_1));
        assert!(!float_eq_v12(25.0, 25.000_01));
        assert!(!float_eq_v12(0.0, 1e-7));
        // Within 1e-6 the versions differ: v0.2.3 divides by |a|+|b|, v0.2.6 by max(|a|,|b|).
        assert!(!float_eq_v12(0.6, 0.600_000_8));
    }
}
