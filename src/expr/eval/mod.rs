//! Evaluation of a parsed expression against an entity context, with each library version's
//! type rules, error texts and crashes: v0.2.3 (Flagr 1.1) evaluates both sides of AND/OR and
//! panics in two places; v0.2.6 (Flagr 1.2) short-circuits, reads nested paths and returns
//! errors instead. v0.2.3's shared `false` literal, which `!=` on an array flips for the rest of
//! the process, is deliberately not reproduced: results are those of a fresh Flagr process.

mod v11;
mod v12;

use crate::expr::ast::{push_lib_quoted, push_num_list, push_str_list, Binary, Node, Op, StrList};
use crate::expr::goregex;
use crate::expr::gostr::{go_quote, push_fixed3, push_go_float};
use crate::expr::{Dialect, EvalError};
use crate::json::{Map, Value};

use v11::V11;
use v12::V12;

/// The library's default epsilon for float equality.
pub(super) const EPSILON: f64 = 1e-6;

/// A value during evaluation: a literal of the expression or a context value read as one.
#[derive(Clone, Copy)]
pub(super) enum Lit<'a> {
    Num(f64),
    Str(&'a str),
    Bool(bool),
    StrList(StrSeq<'a>),
    NumList(NumSeq<'a>),
}

#[derive(Clone, Copy)]
pub(super) enum StrSeq<'a> {
    Literal(&'a StrList),
    /// A context array already checked to hold only strings.
    Context(&'a [Value]),
}

#[derive(Clone, Copy)]
pub(super) enum NumSeq<'a> {
    Literal(&'a [f64]),
    /// A context array already checked to hold only numbers.
    Context(&'a [Value]),
}

impl<'a> StrSeq<'a> {
    pub(super) fn contains(self, needle: &str) -> bool {
        match self {
            StrSeq::Literal(list) => list.contains(needle),
            StrSeq::Context(items) => items.iter().any(|item| item.as_str() == Some(needle)),
        }
    }

    pub(super) fn iter(self) -> impl Iterator<Item = &'a str> {
        let (literal, context) = match self {
            StrSeq::Literal(list) => (Some(list.items.iter().map(|s| &**s)), None),
            StrSeq::Context(items) => (None, Some(items.iter().filter_map(Value::as_str))),
        };
        literal
            .into_iter()
            .flatten()
            .chain(context.into_iter().flatten())
    }
}

impl<'a> NumSeq<'a> {
    pub(super) fn iter(self) -> impl Iterator<Item = f64> + 'a {
        let (literal, context) = match self {
            NumSeq::Literal(values) => (Some(values.iter().copied()), None),
            NumSeq::Context(items) => (None, Some(items.iter().map(number_value))),
        };
        literal
            .into_iter()
            .flatten()
            .chain(context.into_iter().flatten())
    }
}

fn number_value(value: &Value) -> f64 {
    match value {
        Value::Number(n) => n.as_f64(),
        _ => f64::NAN,
    }
}

/// The literal's `String()`, as `%v` prints it in the library's errors.
pub(super) fn show(lit: Lit<'_>) -> String {
    let mut out = String::new();
    match lit {
        Lit::Num(value) => push_fixed3(&mut out, value),
        Lit::Str(value) => push_lib_quoted(&mut out, value),
        Lit::Bool(value) => out.push_str(if value { "true" } else { "false" }),
        Lit::StrList(seq) => push_str_list(&mut out, seq.iter()),
        Lit::NumList(seq) => push_num_list(&mut out, seq.iter()),
    }
    out
}

/// The literal's Go type, as `%T` prints it.
pub(super) fn type_name(lit: Lit<'_>) -> &'static str {
    match lit {
        Lit::Num(_) => "*conditions.NumberLiteral",
        Lit::Str(_) => "*conditions.StringLiteral",
        Lit::Bool(_) => "*conditions.BooleanLiteral",
        Lit::StrList(_) => "*conditions.SliceStringLiteral",
        Lit::NumList(_) => "*conditions.SliceNumberLiteral",
    }
}

/// The Go type of a decoded context value, as a panic or `%T` names it.
pub(super) fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "json.Number",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

pub(super) fn failed(message: String) -> EvalError {
    EvalError::Failed(message)
}

/// Evaluates `root` against `ctx` as the dialect's library version does.
pub(crate) fn evaluate(root: &Node, dialect: Dialect, ctx: &Map) -> Result<bool, EvalError> {
    let result = match dialect {
        Dialect::Flagr11 => V11 { ctx }.eval(root)?,
        Dialect::Flagr12 => V12 { ctx }.eval(root)?,
    };
    match result {
        Lit::Bool(value) => Ok(value),
        other => {
            let prefix = match dialect {
                Dialect::Flagr11 => "Unexpected",
                Dialect::Flagr12 => "unexpected",
            };
            Err(failed(format!(
                "{prefix} result of the root expression: &{}",
                go_struct(other)
            )))
        }
    }
}

/// An approximation of `%#v` of a literal pointer, for a root that is not a boolean.
fn go_struct(lit: Lit<'_>) -> String {
    let name = type_name(lit).trim_start_matches('*');
    match lit {
        Lit::Num(value) => {
            let mut out = format!("{name}{{Val:");
            push_go_float(&mut out, value);
            out.push('}');
            out
        }
        Lit::Str(value) => format!("{name}{{Val:{}}}", go_quote(value)),
        Lit::Bool(value) => format!("{name}{{Val:{value}}}"),
        other => format!("{name}{{Val:{}}}", show(other)),
    }
}

/// Runs `=~` with the literal's precompiled pattern, or compiles a pattern read from context.
pub(super) fn regex_match(binary: &Binary, pattern: &str, text: &str) -> Result<bool, String> {
    match binary.pattern.as_deref() {
        Some(Ok(regex)) => Ok(regex.is_match(text)),
        Some(Err(error)) => Err(error.clone()),
        None => goregex::compile(pattern).map(|regex| regex.is_match(text)),
    }
}

/// AND, OR, XOR or NAND of two operands already read as booleans.
pub(super) fn logic(op: Op, a: bool, b: bool) -> bool {
    match op {
        Op::And => a && b,
        Op::Or => a || b,
        Op::Xor => a != b,
        _ => !(a && b),
    }
}

/// A literal node as an evaluation value.
pub(super) fn literal(node: &Node) -> Lit<'_> {
    match node {
        Node::Num(value) => Lit::Num(*value),
        Node::Str(value) => Lit::Str(value),
        Node::Bool(value) => Lit::Bool(*value),
        Node::StrList(list) => Lit::StrList(StrSeq::Literal(list)),
        Node::NumList(values) => Lit::NumList(NumSeq::Literal(values)),
        // Not reached: callers handle the other nodes first.
        _ => Lit::Bool(false),
    }
}

#[cfg(test)]
pub(super) mod test_run {
    use crate::expr::test_support::value_from_json;
    use crate::expr::{compile_segment, Constraint, Dialect, EvalError};

    /// Compiles the one-constraint segment `spec` (`"property OPERATOR value"`) in `dialect`
    /// and evaluates it on the JSON `ctx`: `true`/`false`, the error text, or `CRASH <panic>`.
    pub(crate) fn run(dialect: Dialect, spec: &str, ctx: &str) -> String {
        let (property, rest) = spec.split_once(' ').expect("property");
        let (operator, value) = rest.split_once(' ').expect("operator");
        let constraint = Constraint {
            property,
            operator,
            value,
        };
        let expr = compile_segment(&[constraint], dialect).expect("valid constraint");
        let ctx = value_from_json(ctx);
        match expr.evaluate(ctx.as_object().expect("object")) {
            Ok(matched) => matched.to_string(),
            Err(EvalError::Failed(message)) => message,
            Err(EvalError::Crash(message)) => format!("CRASH {message}"),
        }
    }
}
