//! The parsed form of a conditions expression and its text as Go's `expr.String()` prints it:
//! numbers with three decimals, strings re-quoted, variable names quoted unless they are only
//! letters, `_` and `.`, arrays as `[a b]`. Parsing and evaluation live elsewhere.

use std::collections::HashSet;
use std::fmt;

use crate::expr::goregex::GoRegex;
use crate::expr::gostr::{push_fixed3, push_go_float};

/// A binary operator of the conditions language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    And,
    Or,
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Nand,
    Xor,
    Ereg,
    Nereg,
    In,
    NotIn,
    Contains,
    NotContains,
}

impl Op {
    /// The token text Go prints for the operator.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::And => "AND",
            Op::Or => "OR",
            Op::Eq => "==",
            Op::Neq => "!=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Nand => "NAND",
            Op::Xor => "XOR",
            Op::Ereg => "=~",
            Op::Nereg => "!~",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::Contains => "CONTAINS",
            Op::NotContains => "NOT CONTAINS",
        }
    }

    /// The library's precedence: OR/XOR bind loosest, comparisons tightest.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            Op::Or | Op::Xor => 1,
            Op::And | Op::Nand => 2,
            _ => 3,
        }
    }
}

/// One step of a nested path (`.key` or `[index]`), Flagr 1.2 only.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PathStep {
    Key(Box<str>),
    Index(i64),
}

/// A string-array literal, with a set for membership tests on long lists.
#[derive(Debug)]
pub(crate) struct StrList {
    pub(crate) items: Box<[Box<str>]>,
    set: Option<HashSet<Box<str>>>,
}

impl StrList {
    pub(crate) fn new(items: Vec<Box<str>>) -> StrList {
        let set = (items.len() > 8).then(|| items.iter().cloned().collect());
        StrList {
            items: items.into_boxed_slice(),
            set,
        }
    }

    pub(crate) fn contains(&self, needle: &str) -> bool {
        match &self.set {
            Some(set) => set.contains(needle),
            None => self.items.iter().any(|item| &**item == needle),
        }
    }
}

/// A node of the expression tree. Rare or large payloads are boxed so a node stays three
/// words: a flag set holds many thousands of these.
#[derive(Debug)]
pub(crate) enum Node {
    Var(Box<str>),
    Path(Box<Path>),
    Num(f64),
    Str(Box<str>),
    Bool(bool),
    StrList(Box<StrList>),
    NumList(Box<[f64]>),
    Paren(Box<Node>),
    Binary(Box<Binary>),
}

/// A nested path (Flagr 1.2): the root variable and the steps below it.
#[derive(Debug)]
pub(crate) struct Path {
    pub(crate) root: Box<str>,
    pub(crate) steps: Box<[PathStep]>,
}

/// A binary operation. `pattern` holds the compiled regex when the operator is `=~`/`!~` and
/// the right side is a string literal, so requests never compile it. `parens` counts the
/// parentheses written around it, kept here rather than as `Paren` nodes: every constraint
/// of a segment is one parenthesized binary.
#[derive(Debug)]
pub(crate) struct Binary {
    pub(crate) op: Op,
    pub(crate) parens: u8,
    pub(crate) lhs: Node,
    pub(crate) rhs: Node,
    pub(crate) pattern: Option<Box<Result<GoRegex, String>>>,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        push_node(&mut text, self);
        f.write_str(&text)
    }
}

fn push_node(out: &mut String, node: &Node) {
    match node {
        Node::Var(name) => push_quoted_ident(out, name),
        Node::Path(path) => {
            out.push_str(&path.root);
            for step in path.steps.iter() {
                match step {
                    PathStep::Key(key) => {
                        out.push('.');
                        out.push_str(key);
                    }
                    PathStep::Index(index) => {
                        out.push('[');
                        out.push_str(&index.to_string());
                        out.push(']');
                    }
                }
            }
        }
        Node::Num(value) => push_fixed3(out, *value),
        Node::Str(value) => push_lib_quoted(out, value),
        Node::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
        Node::StrList(list) => push_str_list(out, list.items.iter().map(|s| &**s)),
        Node::NumList(values) => push_num_list(out, values.iter().copied()),
        Node::Paren(inner) => {
            out.push('(');
            push_node(out, inner);
            out.push(')');
        }
        Node::Binary(binary) => {
            for _ in 0..binary.parens {
                out.push('(');
            }
            push_node(out, &binary.lhs);
            out.push(' ');
            out.push_str(binary.op.as_str());
            out.push(' ');
            push_node(out, &binary.rhs);
            for _ in 0..binary.parens {
                out.push(')');
            }
        }
    }
}

/// The library's `QuoteIdent`: names made only of ASCII letters, `_` and `.` print bare.
fn push_quoted_ident(out: &mut String, name: &str) {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '_' || c == '.');
    if bare {
        out.push_str(name);
    } else {
        push_lib_quoted(out, name);
    }
}

/// The library's `Quote`: only newline, backslash and double quote are escaped.
pub(crate) fn push_lib_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `fmt.Sprint([]string)`: `[a b c]`.
pub(crate) fn push_str_list<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(item);
    }
    out.push(']');
}

/// Go's `fmt.Sprint([]float64)`: `[1 0.25 9.007199254740992e+15]`.
pub(crate) fn push_num_list(out: &mut String, items: impl Iterator<Item = f64>) {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_go_float(out, item);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str) -> Node {
        Node::Var(name.into())
    }

    fn binary(op: Op, lhs: Node, rhs: Node) -> Node {
        Node::Binary(Box::new(Binary {
            op,
            parens: 0,
            lhs,
            rhs,
            pattern: None,
        }))
    }

    #[test]
    fn prints_like_go_string() {
        fn check(node: Node, expected: &str) {
            assert_eq!(node.to_string(), expected);
        }
        check(
            Node::Paren(Box::new(binary(Op::Lte, var("age"), Node::Num(25.0)))),
            "(age <= 25.000)",
        );
        check(
            binary(
                Op::NotIn,
                var("city-name"),
                Node::StrList(Box::new(StrList::new(vec!["New York".into()]))),
            ),
            "\"city-name\" NOT IN [New York]",
        );
        check(
            binary(Op::Eq, var("@ts_hour"), Node::Bool(true)),
            "\"@ts_hour\" == true",
        );
        check(
            binary(Op::Eq, var("a.b"), Node::Str("a\\\"b\n".into())),
            "a.b == \"a\\\\\\\"b\\n\"",
        );
        check(
            binary(
                Op::In,
                var("x1"),
                Node::NumList(vec![0.0, 0.25, 9007199254740993.0].into()),
            ),
            "\"x1\" IN [0 0.25 9.007199254740992e+15]",
        );
        check(
            Node::Path(Box::new(Path {
                root: "users".into(),
                steps: vec![PathStep::Index(-1), PathStep::Key("tier".into())].into(),
            })),
            "users[-1].tier",
        );
        check(binary(Op::Lt, var("age"), var("min_age")), "age < min_age");
    }

    #[test]
    fn str_list_membership_with_and_without_set() {
        let short = StrList::new(vec!["a".into(), "b".into()]);
        let long = StrList::new((0..20).map(|i| i.to_string().into_boxed_str()).collect());
        assert!(short.contains("b") && !short.contains("c"));
        assert!(long.contains("19") && !long.contains("20"));
    }
}
