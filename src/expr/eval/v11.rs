//! conditions v0.2.3, the library of Flagr 1.1.11-1.1.20: both operands of every operator
//! are evaluated, errors start with a capital letter, and two inputs panic (Flagr answers 500):
//! `!~` on a non-string, and a context array whose elements are not all of its first one's type.

use crate::expr::ast::{Binary, Node, Op};
use crate::expr::eval::{
    failed, go_type, literal, logic, regex_match, show, type_name, Lit, NumSeq, StrSeq, EPSILON,
    V12,
};
use crate::expr::EvalError;
use crate::json::{Map, Value};

/// Go's message for the `!~` crash.
const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

/// The v0.2.3 evaluator over one context.
pub(super) struct V11<'a> {
    pub(super) ctx: &'a Map,
}

impl<'a> V11<'a> {
    pub(super) fn eval(&self, node: &'a Node) -> Result<Lit<'a>, EvalError> {
        match node {
            Node::Paren(inner) => self.eval(inner),
            Node::Binary(binary) => {
                let lhs = self.eval(&binary.lhs)?;
                let rhs = self.eval(&binary.rhs)?;
                self.apply(binary, lhs, rhs)
            }
            Node::Var(name) => self.resolve(name),
            // The 1.1 parser never builds paths.
            Node::Path(path) => V12 { ctx: self.ctx }.resolve_path(&path.root, &path.steps),
            other => Ok(literal(other)),
        }
    }

    fn resolve(&self, name: &str) -> Result<Lit<'a>, EvalError> {
        let Some(value) = self.ctx.get(name) else {
            return Err(failed(format!("argument: {name} not found")));
        };
        match value {
            Value::Null => Err(failed("Unsupported argument nil type".to_owned())),
            Value::Number(n) if n.as_f64().is_infinite() => Err(failed(format!(
                "Unsupported JSON Number {} type: string",
                n.as_str()
            ))),
            Value::Number(n) => Ok(Lit::Num(n.as_f64())),
            Value::String(s) => Ok(Lit::Str(s)),
            Value::Bool(b) => Ok(Lit::Bool(*b)),
            Value::Array(items) => match items.first() {
                Some(Value::String(_)) => {
                    if let Some(other) = items.iter().find(|item| !matches!(item, Value::String(_)))
                    {
                        return Err(EvalError::Crash(conversion_panic(other, "string")));
                    }
                    Ok(Lit::StrList(StrSeq::Context(items)))
                }
                Some(Value::Number(_)) => {
                    if let Some(other) = items.iter().find(|item| !matches!(item, Value::Number(_)))
                    {
                        return Err(EvalError::Crash(conversion_panic(other, "json.Number")));
                    }
                    Ok(Lit::NumList(NumSeq::Context(items)))
                }
                _ => Err(failed(format!("Unsupported argument {name} type: slice"))),
            },
            Value::Object(_) => Err(failed(format!("Unsupported argument {name} type: map"))),
        }
    }

    fn apply(&self, binary: &Binary, l: Lit<'a>, r: Lit<'a>) -> Result<Lit<'a>, EvalError> {
        let value = match binary.op {
            Op::And | Op::Or | Op::Xor | Op::Nand => {
                // Both operands are checked before the operator applies.
                let (a, b) = (boolean_v11(l)?, boolean_v11(r)?);
                logic(binary.op, a, b)
            }
            Op::Eq => equal_v11(l, r)?,
            Op::Neq => !equal_v11(l, r)?,
            Op::Gt => number_v11(l)? > number_v11(r)?,
            Op::Lt => number_v11(l)? < number_v11(r)?,
            Op::Gte => {
                let (a, b) = (number_v11(l)?, number_v11(r)?);
                a > b || float_eq_v11(a, b)
            }
            Op::Lte => {
                let (a, b) = (number_v11(l)?, number_v11(r)?);
                a < b || float_eq_v11(a, b)
            }
            Op::In => member_v11(l, r)?,
            Op::NotIn => !member_v11(l, r)?,
            Op::Contains => member_v11(r, l)?,
            Op::NotContains => !member_v11(r, l)?,
            Op::Ereg => regex_v11(binary, l, r)?,
            Op::Nereg => {
                // applyEREG returns a nil result with its error and applyNEREG dereferences it.
                if !matches!((l, r), (Lit::Str(_), Lit::Str(_))) {
                    return Err(EvalError::Crash(NIL_DEREF));
                }
                !regex_v11(binary, l, r)?
            }
        };
        Ok(Lit::Bool(value))
    }
}

/// The panic of a failed type assertion on a context array element.
fn conversion_panic(value: &Value, wanted: &str) -> &'static str {
    match (go_type(value), wanted) {
        ("nil", "string") => "interface conversion: interface {} is nil, not string",
        ("bool", "string") => "interface conversion: interface {} is bool, not string",
        ("json.Number", "string") => {
            "interface conversion: interface {} is json.Number, not string"
        }
        ("[]interface {}", "string") => {
            "interface conversion: interface {} is []interface {}, not string"
        }
        ("map[string]interface {}", "string") => {
            "interface conversion: interface {} is map[string]interface {}, not string"
        }
        ("nil", _) => "interface conversion: interface {} is nil, not json.Number",
        ("bool", _) => "interface conversion: interface {} is bool, not json.Number",
        ("string", _) => "interface conversion: interface {} is string, not json.Number",
        ("[]interface {}", _) => {
            "interface conversion: interface {} is []interface {}, not json.Number"
        }
        _ => "interface conversion: interface {} is map[string]interface {}, not json.Number",
    }
}

fn boolean_v11(lit: Lit<'_>) -> Result<bool, EvalError> {
    match lit {
        Lit::Bool(value) => Ok(value),
        other => Err(failed(format!("Literal is not a boolean: {}", show(other)))),
    }
}

fn number_v11(lit: Lit<'_>) -> Result<f64, EvalError> {
    match lit {
        Lit::Num(value) => Ok(value),
        other => Err(failed(format!("Literal is not a number: {}", show(other)))),
    }
}

fn equal_v11(l: Lit<'_>, r: Lit<'_>) -> Result<bool, EvalError> {
    match (l, r) {
        (Lit::Str(a), Lit::Str(b)) => Ok(a == b),
        (Lit::Str(_), _) => Err(failed("Cannot compare string with non-string".to_owned())),
        (Lit::Num(a), Lit::Num(b)) => Ok(float_eq_v11(a, b)),
        (Lit::Num(_), _) => Err(failed("Cannot compare number with non-number".to_owned())),
        (Lit::Bool(a), Lit::Bool(b)) => Ok(a == b),
        (Lit::Bool(_), _) => Err(failed("Cannot compare boolean with non-boolean".to_owned())),
        // The library answers its shared `false` literal here, without an error.
        _ => Ok(false),
    }
}

fn member_v11(l: Lit<'_>, r: Lit<'_>) -> Result<bool, EvalError> {
    match (l, r) {
        (Lit::Str(needle), Lit::StrList(seq)) => Ok(seq.contains(needle)),
        (Lit::Str(_), other) => Err(failed(format!(
            "Literal is not a slice of string: {}",
            show(other)
        ))),
        (Lit::Num(needle), Lit::NumList(seq)) => Ok(seq.iter().any(|e| float_eq_v11(needle, e))),
        (Lit::Num(_), other) => Err(failed(format!(
            "Literal is not a slice of float64: {}",
            show(other)
        ))),
        (other, _) => Err(failed(format!(
            "Can not evaluate Literal of unknow type {} {}",
            show(other),
            type_name(other)
        ))),
    }
}

fn regex_v11(binary: &Binary, l: Lit<'_>, r: Lit<'_>) -> Result<bool, EvalError> {
    let Lit::Str(text) = l else {
        return Err(failed(format!("Literal is not a string: {}", show(l))));
    };
    let Lit::Str(pattern) = r else {
        return Err(failed(format!("Literal is not a string: {}", show(r))));
    };
    regex_match(binary, pattern, text).map_err(failed)
}

fn float_eq_v11(a: f64, b: f64) -> bool {
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
    diff / (a.abs() + b.abs()).min(f64::MAX) < EPSILON
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::eval::test_run::run;
    use crate::expr::Dialect;

    #[test]
    fn v11_edge_cases() {
        fn check(spec: &str, ctx: &str, expected: &str) {
            assert_eq!(
                run(Dialect::Flagr11, spec, ctx),
                expected,
                "{spec} on {ctx}"
            );
        }
        const NIL_CRASH: &str =
            "CRASH runtime error: invalid memory address or nil pointer dereference";
        check(r#"d NEREG "^tv$""#, r#"{"d":5}"#, NIL_CRASH);
        check(r#"d NEREG "^tv$""#, r#"{"d":[1]}"#, NIL_CRASH);
        check("d NEREG {p}", r#"{"d":"x","p":1}"#, NIL_CRASH);
        check(r#"d NEREG "^tv$""#, "{}", "argument: d not found");
        check(
            r#"d NEREG "(""#,
            r#"{"d":"x"}"#,
            "error parsing regexp: missing closing ): `(`",
        );
        check(
            r#"d EREG "(""#,
            r#"{"d":"x"}"#,
            "error parsing regexp: missing closing ): `(`",
        );
        check("d EREG {p}", r#"{"d":"a1","p":"\\d"}"#, "true");
        let conversion = "CRASH interface conversion: interface {} is ";
        check(
            r#"g EQ "x""#,
            r#"{"g":["a",true]}"#,
            &format!("{conversion}bool, not string"),
        );
        let nested = format!("{conversion}[]interface {{}}, not json.Number");
        check("g IN [1]", r#"{"g":[1,[2]]}"#, &nested);
        check(
            r#"g CONTAINS "a""#,
            r#"{"g":[null,"a"]}"#,
            "Unsupported argument g type: slice",
        );
        check(
            r#"g CONTAINS "a""#,
            r#"{"g":[{"a":1}]}"#,
            "Unsupported argument g type: slice",
        );
        check(r#"g NEQ "x""#, r#"{"g":["a"]}"#, "true");
        check(r#"g EQ "x""#, r#"{"g":["a"]}"#, "false");
        let unknown = "Can not evaluate Literal of unknow type";
        let bool_type = format!("{unknown} true *conditions.BooleanLiteral");
        check(r#"b IN ["a"]"#, r#"{"b":true}"#, &bool_type);
        let list_type = format!("{unknown} [1 2.5] *conditions.SliceNumberLiteral");
        check("g IN [1]", r#"{"g":[1,2.5]}"#, &list_type);
        check(
            "n GT 1",
            r#"{"n":1e400}"#,
            "Unsupported JSON Number 1e400 type: string",
        );
        check("g CONTAINS 1", r#"{"g":[1e400,1]}"#, "true");
        check(
            "x EQ 1) AND ({y} == 2",
            r#"{"x":2}"#,
            "argument: y not found",
        );
        check(
            r#"x EQ 1) OR ("s""#,
            r#"{"x":2}"#,
            r#"Literal is not a boolean: "s""#,
        );
        check("x EQ 1) XOR ({y} == 2", r#"{"x":1,"y":2}"#, "false");
        check("x EQ 1) NAND ({y} == 2", r#"{"x":1,"y":3}"#, "true");
    }

    #[test]
    fn float_equality_divides_by_the_sum() {
        assert!(float_eq_v11(25.0, 25.000_000_1));
        assert!(!float_eq_v11(25.0, 25.000_01));
        assert!(!float_eq_v11(0.0, 1e-7));
        assert!(!float_eq_v11(65.000_006_5, 65.0));
        assert!(float_eq_v11(0.6, 0.600_000_8));
    }
}
