#![doc = include_str!("../README.md")]

mod scan;

pub use scan::{redact, Redacted, MASK};
