//! Test support shared by every crate of the workspace: a throwaway PostgreSQL server with
//! one empty database per test, and the claim statements, for tests that check their plans.

mod postgres;

pub use postgres::{
    server_binary, PgServer, ServerConfig, ServerError, TestDatabase, TEST_DATABASE_URL,
};

/// The statements of a PostgreSQL claim, for tests and operators that check their plans:
/// each as prepared (`PREPARE name AS ...`), with the arguments (`EXECUTE name(...)`) of a
/// claim of up to `limit` jobs of type `job_type`. The usual claim is the first; the second
/// runs when it finds nothing. A claim's transaction runs [`PG_CLAIM_SETTINGS`] first.
pub fn pg_claim_statements(job_type: &str, limit: i64) -> [(String, String); 2] {
    crate::pg::claim_statements(job_type, limit)
}

/// The settings a claim's transaction starts with (`SET LOCAL ...`).
pub const PG_CLAIM_SETTINGS: &str = crate::pg::CLAIM_SETTINGS;
