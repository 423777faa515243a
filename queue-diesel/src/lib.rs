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
//! [`enqueue`] queues a job on the caller's own `PgConnection` or `SqliteConnection`, inside
//! the caller's transaction, so a rolled-back request leaves no job behind. The job table's
//! migrations are embedded and applied by [`migrate`] (idempotent), on either connection.
//!
//! With the `testing` feature, [`testing`] provides a throwaway PostgreSQL server and one
//! empty database per test, for the tests of any crate in the workspace.

mod connection;
mod error;
mod open;
mod pg;
mod pool;
mod sqlite;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use connection::{
    enqueue, enqueue_all, enqueue_new, enqueue_new_batch, migrate, JobConnection,
};
pub use error::Error;
pub use open::{AnyStorage, DatabaseUrl, OpenOptions};
pub use pg::{PgConfig, PgStorage};
pub use sqlite::{SqliteConfig, SqliteStorage, MIN_LEASE};
