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
