//! vexilla-proxy: answers Flagr's evaluation API locally, exactly as Flagr would.
pub mod expr;
pub mod json;
