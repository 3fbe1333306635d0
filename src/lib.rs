//! vexilla-proxy: answers Flagr's evaluation API locally, exactly as Flagr would.
pub mod json;
pub mod expr;
