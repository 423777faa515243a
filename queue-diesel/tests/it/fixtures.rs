//! Fresh storages on a throwaway PostgreSQL database and on a temporary SQLite file.

use queue_diesel::testing::TestDatabase;
use queue_diesel::{PgConfig, PgStorage, SqliteConfig, SqliteStorage};
use tempfile::TempDir;

/// The row of a `SELECT count(*) AS n`.
#[derive(diesel::QueryableByName)]
pub(crate) struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub(crate) n: i64,
}

/// What `EXPLAIN (ANALYZE, BUFFERS)` says of a statement it ran: the pages its top node read
/// (shared buffers hit or read in, those of the functions it called included) and the rows
/// it returned.
pub(crate) struct Analyzed {
    pub(crate) pages: u64,
    pub(crate) rows: u64,
}

/// Runs `statement` under `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` on `conn`.
pub(crate) fn explain_analyze(
    conn: &mut diesel::PgConnection,
    statement: &str,
) -> diesel::QueryResult<Analyzed> {
    use diesel::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct PlanLine {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let plan: PlanLine =
        diesel::sql_query(format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}"))
            .get_result(conn)?;
    let json: serde_json::Value = serde_json::from_str(&plan.line).expect("EXPLAIN's JSON");
    let top = &json[0]["Plan"];
    let number = |key: &str| top[key].as_u64().unwrap_or_else(|| panic!("no {key} in {top}"));
    Ok(Analyzed {
        pages: number("Shared Hit Blocks") + number("Shared Read Blocks"),
        rows: number("Actual Rows"),
    })
}

/// A migrated PostgreSQL storage on its own empty database.
pub(crate) fn pg() -> (PgStorage, TestDatabase) {
    let db = TestDatabase::new();
    let storage =
        PgStorage::connect(PgConfig { pool_size: 12, ..PgConfig::new(db.url()) }).unwrap();
    let applied = storage.migrate().unwrap();
    assert!(!applied.is_empty(), "a new database gets the job table");
    (storage, db)
}

/// A migrated SQLite storage in a new temporary directory.
pub(crate) fn sqlite() -> (SqliteStorage, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(SqliteConfig::new(dir.path().join("jobs.sqlite3"))).unwrap();
    storage.migrate().unwrap();
    (storage, dir)
}

/// A migrated SQLite storage whose claims last `lease` unless extended.
pub(crate) fn sqlite_with_lease(lease: std::time::Duration) -> (SqliteStorage, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(SqliteConfig {
        lease,
        busy_timeout: lease / 4,
        ..SqliteConfig::new(dir.path().join("jobs.sqlite3"))
    })
    .unwrap();
    storage.migrate().unwrap();
    (storage, dir)
}
