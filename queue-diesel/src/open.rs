//! Opening a storage from a database URL, for binaries that take either backend.

use std::path::PathBuf;
use std::time::Duration;

use queue_core::storage::{Claim, RunJobs, Waker};
use queue_core::{JobId, JobInfo, NewJob, RunningJob, Storage, StorageError};

use crate::error::Error;
use crate::pg::{PgConfig, PgStorage};
use crate::sqlite::{SqliteConfig, SqliteStorage};

/// Which backend a database URL names. `Debug` redacts credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://...` or `postgresql://...`.
    Postgres(String),
    /// A SQLite file: a path, or `sqlite://PATH`.
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// Tells the backend from the URL's scheme; anything without a scheme is a SQLite path.
    pub fn parse(url: &str) -> Result<DatabaseUrl, Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if url.is_empty() || url.contains("://") {
            Err(Error::UnsupportedUrl(redact::redact(url).into_owned()))
        } else {
            Ok(DatabaseUrl::Sqlite(PathBuf::from(url)))
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Postgres(url) => {
                f.debug_tuple("Postgres").field(&redact::Redacted(url)).finish()
            }
            DatabaseUrl::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
        }
    }
}

/// A storage on either backend, chosen at run time.
#[derive(Debug, Clone)]
pub enum AnyStorage {
    /// PostgreSQL.
    Postgres(PgStorage),
    /// SQLite.
    Sqlite(SqliteStorage),
}

/// How [`AnyStorage::open`] opens a storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Connections in the pool.
    pub pool_size: u32,
    /// SQLite only: how long a claim lasts without being extended
    /// ([`SqliteConfig::lease`]); the busy timeout is kept at a quarter of it at most.
    pub sqlite_lease: Duration,
    /// PostgreSQL only: how often, at most, claims make jobs whose retry time has come
    /// claimable again ([`PgConfig::promotion_interval`]).
    pub pg_promotion_interval: Duration,
}

impl OpenOptions {
    /// A pool of `pool_size` connections, the default SQLite lease (60 s) and the default
    /// PostgreSQL promotion interval (1 s).
    pub fn new(pool_size: u32) -> OpenOptions {
        OpenOptions {
            pool_size,
            sqlite_lease: Duration::from_secs(60),
            pg_promotion_interval: PgConfig::new("").promotion_interval,
        }
    }
}

impl AnyStorage {
    /// Opens the storage `url` names.
    pub fn open(url: &DatabaseUrl, options: &OpenOptions) -> Result<AnyStorage, Error> {
        match url {
            DatabaseUrl::Postgres(url) => Ok(AnyStorage::Postgres(PgStorage::connect(PgConfig {
                pool_size: options.pool_size,
                connection_timeout: Duration::from_secs(10),
                promotion_interval: options.pg_promotion_interval,
                ..PgConfig::new(url.clone())
            })?)),
            DatabaseUrl::Sqlite(path) => {
                let defaults = SqliteConfig::new(path.clone());
                Ok(AnyStorage::Sqlite(SqliteStorage::open(SqliteConfig {
                    pool_size: options.pool_size,
                    lease: options.sqlite_lease,
                    busy_timeout: defaults.busy_timeout.min(options.sqlite_lease / 4),
                    ..defaults
                })?))
            }
        }
    }

    /// Applies pending migrations of the job table.
    pub fn migrate(&self) -> Result<Vec<String>, Error> {
        match self {
            AnyStorage::Postgres(s) => s.migrate(),
            AnyStorage::Sqlite(s) => s.migrate(),
        }
    }

    /// Tells this process's workers that `jobs` jobs were enqueued on a connection of the
    /// caller's ([`crate::enqueue`] inside the caller's transaction), once that transaction
    /// committed. On SQLite this wakes up to `jobs` idle workers at once instead of at
    /// their next poll; on PostgreSQL the enqueue's `NOTIFY` already did, and this does
    /// nothing.
    pub fn wake_workers(&self, jobs: usize) {
        if let AnyStorage::Sqlite(s) = self {
            s.wake_workers(jobs);
        }
    }

    fn inner(&self) -> &dyn Storage {
        match self {
            AnyStorage::Postgres(s) => s,
            AnyStorage::Sqlite(s) => s,
        }
    }
}

impl Storage for AnyStorage {
    fn enqueue(&self, job: &NewJob) -> Result<Option<JobId>, StorageError> {
        self.inner().enqueue(job)
    }
    fn enqueue_batch(&self, jobs: &[NewJob]) -> Result<Vec<Option<JobId>>, StorageError> {
        self.inner().enqueue_batch(jobs)
    }
    fn run_batch(&self, claim: Claim<'_>, run: &mut RunJobs<'_>) -> Result<usize, StorageError> {
        self.inner().run_batch(claim, run)
    }
    fn max_concurrent_claims(&self) -> Option<usize> {
        self.inner().max_concurrent_claims()
    }
    fn listen(&self, waker: Waker) -> Result<Option<Box<dyn Send>>, StorageError> {
        self.inner().listen(waker)
    }
    fn count_pending(&self) -> Result<u64, StorageError> {
        self.inner().count_pending()
    }
    fn pending_jobs(&self, limit: usize) -> Result<Vec<JobInfo>, StorageError> {
        self.inner().pending_jobs(limit)
    }
    fn stalled_jobs(&self, older_than: Duration) -> Result<Vec<JobInfo>, StorageError> {
        self.inner().stalled_jobs(older_than)
    }
    fn long_running_jobs(&self, longer_than: Duration) -> Result<Vec<RunningJob>, StorageError> {
        self.inner().long_running_jobs(longer_than)
    }
    fn failing_jobs(&self, min_failures: u32) -> Result<Vec<JobInfo>, StorageError> {
        self.inner().failing_jobs(min_failures)
    }
    fn retry_now(&self, id: JobId) -> Result<bool, StorageError> {
        self.inner().retry_now(id)
    }
    fn delete(&self, id: JobId) -> Result<bool, StorageError> {
        self.inner().delete(id)
    }
}
