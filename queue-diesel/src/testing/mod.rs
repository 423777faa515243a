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

/// Runs the PostgreSQL claim of `filter` on `conn`, in whatever transaction `conn` has open,
/// as a worker's claim runs it (the same prepared statement); returns the claimed jobs' ids
/// and types. For tests of the statements a connection prepares.
pub fn pg_claim(
    conn: &mut diesel::PgConnection,
    filter: queue_core::storage::JobFilter<'_>,
    max: i64,
) -> diesel::QueryResult<Vec<(i64, String)>> {
    let rows = crate::pg::claim(conn, filter, max)?;
    Ok(rows.into_iter().map(|(id, job_type, _, _)| (id, job_type)).collect())
}

/// Records the jobs `ids` as completed on `conn`, as a worker does after running them.
pub fn pg_complete(conn: &mut diesel::PgConnection, ids: &[i64]) -> diesel::QueryResult<usize> {
    crate::pg::complete(conn, ids)
}

/// The settings a claim's transaction starts with (`SET LOCAL ...`).
pub const PG_CLAIM_SETTINGS: &str = crate::pg::CLAIM_SETTINGS;
