//! Integration tests of registry-jobs: real PostgreSQL and SQLite databases, real git
//! remotes, real `.crate` files from `cargo package`.
#![allow(clippy::unwrap_used)]

mod accounts;
mod bad_data;
mod convergence;
mod fixtures;
mod ops;
mod package;
mod scenario;
