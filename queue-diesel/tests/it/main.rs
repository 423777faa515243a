//! Integration tests of queue-diesel, against a real PostgreSQL and real SQLite files.
#![allow(clippy::unwrap_used)]

mod bad_rows;
mod claims_lost;
mod conformance;
mod crash;
mod fixtures;
mod notify;
mod pg_support;
mod prepared;
mod promotion;
mod transactions;
