//! Test support shared by every crate of the workspace: a throwaway PostgreSQL server with
//! one empty database per test, and temporary SQLite files.

mod postgres;

pub use postgres::{PgServer, ServerConfig, ServerError, TestDatabase, TEST_DATABASE_URL};
