#![doc = include_str!("../README.md")]

mod scan;
mod writer;

pub use scan::{redact, Redacted, MASK};
pub use writer::RedactingWriter;
