//! PostgreSQL and embedded SQLite storage for `queue-core`, built on diesel.
//!
//! - [`PgStorage`]: for production, where many worker processes on many machines share one
//!   database. A claim holds the row lock (`FOR UPDATE SKIP LOCKED`) for the whole run of
//!   the job, so a worker that dies releases its job at once. `LISTEN`/`NOTIFY` wakes idle
//!   workers.
//! - [`SqliteStorage`]: the embedded default that needs no server, for one machine. A claim
//!   is a lease (`locked_until`) taken inside `BEGIN IMMEDIATE`, extended while the job runs,
//!   and taken over by another worker once it expires.
//!
//! Both enqueue inside the caller's own transaction ([`enqueue_pg`], [`enqueue_sqlite`]),
//! so a rolled-back request leaves no job behind. Migrations are embedded and applied by
//! [`run_pg_migrations`] / [`run_sqlite_migrations`] (idempotent).
//!
//! With the `testing` feature, [`testing`] provides a throwaway PostgreSQL server and one
//! empty database per test, for the tests of any crate in the workspace.

mod error;
mod open;
mod pg;
mod sqlite;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::Error;
pub use open::{AnyStorage, DatabaseUrl};
pub use pg::{
    enqueue_pg, run_pg_migrations, PgConfig, PgStorage, NOTIFY_CHANNEL, PG_CLAIM_SQL, PG_MIGRATIONS,
};
pub use sqlite::{
    enqueue_sqlite, run_sqlite_migrations, SqliteConfig, SqliteStorage, SQLITE_MIGRATIONS,
};
