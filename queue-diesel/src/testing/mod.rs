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

/// Records the jobs `ids` as completed on `conn` and commits the transaction it has open, as
/// a worker does after running them (one message: the `DELETE` and the `COMMIT`).
pub fn pg_complete_and_commit(
    conn: &mut diesel::PgConnection,
    ids: &[i64],
) -> diesel::QueryResult<()> {
    use diesel::connection::SimpleConnection as _;
    conn.batch_execute(&crate::pg::completion(ids))
}

/// The settings a claim's transaction starts with (`SET LOCAL ...`).
pub const PG_CLAIM_SETTINGS: &str = crate::pg::CLAIM_SETTINGS;

/// The payloads of the notifications `listener` (a connection that ran `LISTEN`) receives
/// before one with payload `marker`, waiting up to 60 s for it. Notifications arrive in
/// commit order, so a marker sent after a commit tells whether that commit notified,
/// without a wall-clock wait.
///
/// # Panics
///
/// When the marker does not come within 60 s, or the connection fails.
#[allow(clippy::unwrap_used, clippy::panic)]
pub fn pg_notifications_before(listener: &mut diesel::PgConnection, marker: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut before = Vec::new();
    loop {
        for notification in listener.notifications_iter() {
            let payload = notification.unwrap().payload;
            if payload == marker {
                return before;
            }
            before.push(payload);
        }
        if std::time::Instant::now() >= deadline {
            panic!("no notification {marker:?} within 60 s; got {before:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
