//! The error type of queue-diesel.

use queue_core::StorageError;

/// Errors of the diesel storages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be reached.
    #[error("cannot connect to {url}: {source}; check that the server is running and that the URL's host, port, user, password and database are right")]
    Connect {
        /// The URL, with any password hidden.
        url: String,
        /// The driver's error.
        source: diesel::ConnectionError,
    },
    /// The connection pool could not be built or gave no connection in time.
    #[error("connection pool for {url}: {source}; check that the database is reachable and that the pool is large enough for the workers")]
    Pool {
        /// The URL, with any password hidden.
        url: String,
        /// The pool's error.
        source: r2d2::Error,
    },
    /// The connection that listens for enqueue notifications could not be set up.
    #[error("cannot listen for notifications on {url}: {reason}; check that the server is running and that the URL is right")]
    Listen {
        /// The URL, with any password hidden.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// A query failed.
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Applying migrations failed.
    #[error("applying migrations failed: {0}")]
    Migration(String),
    /// A job could not be turned into a row (its data does not serialize to JSON).
    #[error("cannot enqueue a job of type `{job_type}`: {reason}")]
    InvalidJob {
        /// The job type's name.
        job_type: &'static str,
        /// Why.
        reason: String,
    },
    /// The database URL names no supported backend. Holds the URL with its credentials
    /// redacted.
    #[error("unsupported database URL {0:?}: expected postgres://... (or postgresql://...) for PostgreSQL, or a SQLite file path (optionally sqlite://PATH)")]
    UnsupportedUrl(String),
    /// The SQLite lease is too short to be extended in time.
    #[error("SQLite lease {lease:?} is too short: it must be at least 300ms and three times the busy timeout ({busy_timeout:?}), so that an extension that waits for a writer still lands before the lease runs out")]
    LeaseTooShort {
        /// The configured lease.
        lease: std::time::Duration,
        /// The configured busy timeout.
        busy_timeout: std::time::Duration,
    },
    /// The thread that extends the leases of running SQLite claims could not be started.
    #[error("cannot start the thread that extends SQLite leases: {0}")]
    LeaseThread(std::io::Error),
    /// The pool is too small for the number of workers requested.
    #[error("pool size {pool_size} is too small: a storage needs at least 2 connections (one per running job plus one spare)")]
    PoolTooSmall {
        /// The configured pool size.
        pool_size: u32,
    },
}

impl From<Error> for StorageError {
    fn from(err: Error) -> StorageError {
        StorageError::backend(err)
    }
}
