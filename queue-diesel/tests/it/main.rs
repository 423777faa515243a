//! Integration tests of queue-diesel, against a real PostgreSQL and real SQLite files.
#![allow(clippy::unwrap_used)]

mod conformance;
mod fixtures;
mod pg_support;
mod transactions;
