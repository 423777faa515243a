//! Test support shared by every crate of the workspace: a throwaway PostgreSQL server with
//! one empty database per test, and the claim query, for tests that check its plan.

mod postgres;

pub use postgres::{
    server_binary, PgServer, ServerConfig, ServerError, TestDatabase, TEST_DATABASE_URL,
};

/// The PostgreSQL claim query (`$1`: job types, `$2`: how many), for tests and operators
/// that `EXPLAIN` it.
pub const PG_CLAIM_SQL: &str = crate::pg::CLAIM_BATCH_TYPES;
