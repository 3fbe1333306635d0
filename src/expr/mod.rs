//! Flagr's constraint language (the `zhouzhuojie/conditions` library) for both Flagr lines:
//! a segment's constraints are spliced into one expression text, parsed once into an [`Expr`],
//! then evaluated per request against the entity context. Error texts, crashes and the printed
//! form of the expression match the Go library; flag loading and debug messages are left to the
//! callers, which get Go's formatting of a context from [`go_sprint_map`] and [`spew_sdump`].

mod array;
mod ast;
mod eval;
mod gofmt;
mod goregex;
mod gostr;
mod parse;
mod scan;

#[cfg(test)]
mod compat_tests;
#[cfg(test)]
pub(crate) mod test_support;

use std::fmt;

use thiserror::Error;

use crate::json::Map;

pub use gofmt::{go_sprint_map, spew_sdump};
pub use gostr::{go_format_float, go_quote};

/// Which Flagr line, and so which version of the conditions library, to behave like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Flagr 1.1.11 to 1.1.20: conditions v0.2.3, constraint values spliced as given.
    Flagr11,
    /// Flagr 1.2.x: conditions v0.2.6, values trimmed and quoted `EREG`/`NEREG` patterns
    /// rewritten to the `/pattern/` form.
    Flagr12,
}

/// One constraint as stored in a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Constraint<'a> {
    pub property: &'a str,
    pub operator: &'a str,
    pub value: &'a str,
}

/// A constraint Flagr refuses: it would not be created, and a flag holding it fails to load.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct InvalidConstraint {
    message: String,
}

impl InvalidConstraint {
    fn new(message: impl Into<String>) -> InvalidConstraint {
        InvalidConstraint {
            message: message.into(),
        }
    }
}

/// Why an evaluation produced no answer.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EvalError {
    /// The library returned this error; Flagr logs its text and the segment does not match.
    #[error("{0}")]
    Failed(String),
    /// The library panicked with this message (Flagr 1.1 only); Flagr answers HTTP 500.
    #[error("{0}")]
    Crash(&'static str),
}

/// A segment's constraints, parsed once and ready to evaluate.
#[derive(Debug)]
pub struct Expr {
    root: ast::Node,
    dialect: Dialect,
}

impl Expr {
    /// Evaluates the expression against an entity context object.
    ///
    /// A regex pattern read from the context (`{property} =~ {other}`) is compiled on every
    /// call; patterns written in the constraint are compiled once, at [`compile_segment`].
    /// Results are those of a freshly started Flagr: conditions v0.2.3 lets `!=` between an
    /// array and a scalar flip a shared `false` value for the rest of the process, and later
    /// answers of a long-running Flagr 1.1 can depend on that history; this does not.
    pub fn evaluate(&self, ctx: &Map) -> Result<bool, EvalError> {
        eval::evaluate(&self.root, self.dialect, ctx)
    }

    /// The library version this expression follows.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

/// Go's `expr.String()`, as Flagr prints it in `constraint not match` debug messages.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

/// Builds and parses a segment's expression: each constraint becomes `({property} op value)`,
/// joined with ` AND `, after the 1.2 trimming and EREG/NEREG rewrite. An error means Flagr
/// would refuse the segment's flag.
///
/// Like Flagr's cache loader, this parses the joined text; [`validate_constraint`] is the
/// per-constraint check Flagr's API and JSON-file loader also apply. An empty list is refused
/// (a segment without constraints has no expression), and so is parenthesis nesting deeper
/// than 256 levels, which Go would accept.
pub fn compile_segment(
    constraints: &[Constraint<'_>],
    dialect: Dialect,
) -> Result<Expr, InvalidConstraint> {
    let text = expression_text(constraints, dialect)?;
    let root = parse::parse(&text, dialect).map_err(|error| {
        InvalidConstraint::new(format!(
            "{error}. Note: if it's string or array of string, wrap it with quotes \"...\""
        ))
    })?;
    Ok(Expr { root, dialect })
}

/// Checks one constraint on its own, as Flagr does when it is created (and, in 1.2, when a
/// JSON flag file is loaded).
pub fn validate_constraint(
    constraint: Constraint<'_>,
    dialect: Dialect,
) -> Result<(), InvalidConstraint> {
    compile_segment(&[constraint], dialect).map(|_| ())
}

/// The expression text Flagr builds from a segment's constraints, before parsing.
pub fn expression_text(
    constraints: &[Constraint<'_>],
    dialect: Dialect,
) -> Result<String, InvalidConstraint> {
    // Each constraint adds its three parts and at most a dozen bytes of its own.
    let size = constraints
        .iter()
        .map(|c| c.property.len() + c.operator.len() + c.value.len() + 16)
        .sum();
    let mut text = String::with_capacity(size);
    for (i, constraint) in constraints.iter().enumerate() {
        if i > 0 {
            text.push_str(" AND ");
        }
        push_constraint_text(&mut text, constraint, dialect)?;
    }
    Ok(text)
}

fn push_constraint_text(
    out: &mut String,
    constraint: &Constraint<'_>,
    dialect: Dialect,
) -> Result<(), InvalidConstraint> {
    let Constraint {
        property,
        operator,
        value,
    } = *constraint;
    if property.is_empty() || operator.is_empty() || value.is_empty() {
        return Err(InvalidConstraint::new(format!(
            "empty Property/Operator/Value: {property}/{operator}/{value}"
        )));
    }
    let op = match operator {
        "EQ" => "==",
        "NEQ" => "!=",
        "LT" => "<",
        "LTE" => "<=",
        "GT" => ">",
        "GTE" => ">=",
        "EREG" => "=~",
        "NEREG" => "!~",
        "IN" => "IN",
        "NOTIN" => "NOT IN",
        "CONTAINS" => "CONTAINS",
        "NOTCONTAINS" => "NOT CONTAINS",
        _ => {
            return Err(InvalidConstraint::new(format!(
                "not supported operator: {operator}"
            )))
        }
    };

    let value = match dialect {
        Dialect::Flagr11 => value,
        Dialect::Flagr12 => value.trim(),
    };
    out.push_str("({");
    out.push_str(property);
    out.push_str("} ");
    out.push_str(op);
    out.push(' ');

    // Flagr 1.2 passes a quoted regex without `/` in the regex-literal form, which skips the
    // scanner's escape handling (and, as a side effect, drops whitespace between tokens).
    let regex = matches!(operator, "EREG" | "NEREG") && dialect == Dialect::Flagr12;
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|_| value.len() >= 2);
    match inner {
        Some(pattern) if regex && !pattern.contains('/') => {
            out.push('/');
            out.push_str(pattern);
            out.push('/');
        }
        _ => out.push_str(value),
    }
    out.push(')');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraint<'a>(property: &'a str, operator: &'a str, value: &'a str) -> Constraint<'a> {
        Constraint {
            property,
            operator,
            value,
        }
    }

    #[test]
    fn splices_constraints_like_flagr() {
        fn check(constraints: &[Constraint<'_>], dialect: Dialect, expected: Result<&str, &str>) {
            let got = expression_text(constraints, dialect).map_err(|e| e.to_string());
            assert_eq!(
                got.as_deref(),
                expected.map_err(str::to_owned).as_deref(),
                "{constraints:?}"
            );
        }
        let ca = constraint("dl_state", "EQ", " \"CA\" ");
        check(&[ca], Dialect::Flagr11, Ok("({dl_state} ==  \"CA\" )"));
        check(&[ca], Dialect::Flagr12, Ok("({dl_state} == \"CA\")"));
        let re = constraint("path", "EREG", r#""^/api/\d+""#);
        check(&[re], Dialect::Flagr12, Ok(r#"({path} =~ "^/api/\d+")"#));
        let re = constraint("s", "NEREG", r#" "\d+" "#);
        check(&[re], Dialect::Flagr12, Ok(r"({s} !~ /\d+/)"));
        check(&[re], Dialect::Flagr11, Ok(r#"({s} !~  "\d+" )"#));
        let quote = constraint("s", "EREG", "\"");
        check(&[quote], Dialect::Flagr12, Ok("({s} =~ \")"));
        let two = [
            constraint("a", "GT", "1"),
            constraint("b", "NOTCONTAINS", "\"x\""),
        ];
        check(
            &two,
            Dialect::Flagr11,
            Ok("({a} > 1) AND ({b} NOT CONTAINS \"x\")"),
        );
        check(
            &[constraint("a", "===", "1")],
            Dialect::Flagr11,
            Err("not supported operator: ==="),
        );
        check(
            &[constraint("a", "", "")],
            Dialect::Flagr12,
            Err("empty Property/Operator/Value: a//"),
        );
    }

    #[test]
    fn compiled_expression_prints_and_evaluates() {
        let expr =
            compile_segment(&[constraint("age", "LTE", "65")], Dialect::Flagr11).expect("valid");
        assert_eq!(expr.to_string(), "(age <= 65.000)");
        let ctx = test_support::value_from_json(r#"{"age": 65.0000065}"#);
        let ctx = ctx.as_object().expect("object");
        assert_eq!(expr.evaluate(ctx), Ok(false));
        assert_eq!(expr.dialect(), Dialect::Flagr11);
        assert!(validate_constraint(constraint("x", "EQ", "CA"), Dialect::Flagr12).is_err());
    }
}
