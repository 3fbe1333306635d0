//! JSON exactly as Flagr's Go server reads and writes it: number text kept, Go's syntax-error
//! messages, sorted map keys, no HTML escaping, Go's float formatting.

mod float;
mod parse;
mod value;
mod write;

pub use float::format_float;
pub(crate) use parse::short_escape;
pub use parse::{parse, parse_document, parse_members, Document, SyntaxError};
pub use value::{Map, Number, Value};
pub use write::{u64_digits, write_string, write_u64, write_value};
