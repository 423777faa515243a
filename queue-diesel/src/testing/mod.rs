//! Test support shared by every crate of the workspace: a throwaway PostgreSQL server with
//! one empty database per test, and the claim statement, for tests that check its plan.

mod postgres;

pub use postgres::{
    server_binary, PgServer, ServerConfig, ServerError, TestDatabase, TEST_DATABASE_URL,
};

/// The statement of a PostgreSQL claim, for tests and operators that check its plan: as
/// prepared (`PREPARE name AS ...`), with the arguments (`EXECUTE name(...)`) of a claim of
/// up to `limit` jobs of type `job_type`. A claim's transaction runs [`PG_CLAIM_SETTINGS`]
/// first.
pub fn pg_claim_statement(job_type: &str, limit: i64) -> (String, String) {
    crate::pg::claim_statement(job_type, limit)
}

/// The settings a claim's transaction starts with (`SET LOCAL ...`).
pub const PG_CLAIM_SETTINGS: &str = crate::pg::CLAIM_SETTINGS;
