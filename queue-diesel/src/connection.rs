//! The one way to enqueue inside the caller's transaction, on either backend: a sealed
//! trait implemented for `PgConnection` and `SqliteConnection`.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection as _;
use queue_core::{Job, JobId, NewJob};

use crate::error::Error;

mod sealed {
    pub trait Sealed {}
    impl Sealed for diesel::pg::PgConnection {}
    impl Sealed for diesel::sqlite::SqliteConnection {}
}

/// A diesel connection jobs can be enqueued on: [`PgConnection`] or [`SqliteConnection`].
///
/// Everything here joins the transaction the caller has open on the connection, so a
/// rolled-back request leaves no job behind. The trait is sealed: the backends are the two
/// this crate implements.
pub trait JobConnection: sealed::Sealed + Sized {
    /// Runs `f` in a write transaction: a savepoint inside a transaction that is open
    /// already; otherwise a new one (on SQLite begun with `BEGIN IMMEDIATE`, because a
    /// reader that another writer overtook cannot become a writer).
    fn write_transaction<T, E>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<diesel::result::Error>;

    /// Inserts a job row (see [`enqueue`]).
    #[doc(hidden)]
    fn insert_new_job(&mut self, job: &NewJob) -> Result<Option<JobId>, Error>;

    /// Inserts job rows (see [`enqueue_all`]).
    #[doc(hidden)]
    fn insert_new_jobs(&mut self, jobs: &[NewJob]) -> Result<Vec<Option<JobId>>, Error>;

    /// Applies the job table's migrations (see [`migrate`]).
    #[doc(hidden)]
    fn migrate_job_table(&mut self) -> Result<Vec<String>, Error>;
}

/// Enqueues `job` on the caller's connection, inside the caller's transaction if one is
/// open: a rollback removes the job with the caller's other changes. Returns `None` when a
/// deduplicated job was coalesced with an identical pending one.
///
/// ```no_run
/// use diesel::Connection as _;
/// # #[derive(serde::Serialize, serde::Deserialize)]
/// # struct SendMail { to: String }
/// # impl queue_core::Job for SendMail {
/// #     const JOB_NAME: &'static str = "send_mail";
/// #     type Context = ();
/// #     fn run(&self, _: &()) -> anyhow::Result<()> { Ok(()) }
/// # }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut conn = diesel::SqliteConnection::establish("app.sqlite3")?;
/// conn.transaction(|conn| {
///     // ... the request's own writes ...
///     queue_diesel::enqueue(conn, &SendMail { to: "ops@example.com".into() })
/// })?;
/// # Ok(())
/// # }
/// ```
pub fn enqueue<C: JobConnection, J: Job>(conn: &mut C, job: &J) -> Result<Option<JobId>, Error> {
    conn.insert_new_job(&new_job(job)?)
}

/// Enqueues every job of `jobs` on the caller's connection, inside the caller's transaction
/// if one is open, with one statement on PostgreSQL. Returns their ids in order (`None` for
/// a deduplicated job coalesced with a pending one).
pub fn enqueue_all<C: JobConnection, J: Job>(
    conn: &mut C,
    jobs: &[J],
) -> Result<Vec<Option<JobId>>, Error> {
    let rows = jobs.iter().map(new_job).collect::<Result<Vec<_>, _>>()?;
    conn.insert_new_jobs(&rows)
}

/// [`enqueue_all`] for jobs already turned into rows.
pub fn enqueue_new_batch<C: JobConnection>(
    conn: &mut C,
    jobs: &[NewJob],
) -> Result<Vec<Option<JobId>>, Error> {
    conn.insert_new_jobs(jobs)
}

/// [`enqueue`] for a job already turned into its row, for callers that build rows
/// themselves.
pub fn enqueue_new<C: JobConnection>(conn: &mut C, job: &NewJob) -> Result<Option<JobId>, Error> {
    conn.insert_new_job(job)
}

/// Applies the job table's pending migrations on `conn`; returns the versions applied.
/// Idempotent.
pub fn migrate<C: JobConnection>(conn: &mut C) -> Result<Vec<String>, Error> {
    conn.migrate_job_table()
}

fn in_transaction<C>(conn: &mut C) -> bool
where
    C: diesel::Connection<TransactionManager = AnsiTransactionManager>,
{
    AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .map(|d| d.is_some())
        .unwrap_or(false)
}

impl JobConnection for PgConnection {
    fn write_transaction<T, E>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        self.transaction(f)
    }

    /// One statement: atomic on its own, and part of the caller's transaction if one is
    /// open.
    fn insert_new_job(&mut self, job: &NewJob) -> Result<Option<JobId>, Error> {
        crate::pg::insert_job(self, job, true)
    }

    fn insert_new_jobs(&mut self, jobs: &[NewJob]) -> Result<Vec<Option<JobId>>, Error> {
        crate::pg::insert_jobs(self, jobs, true)
    }

    fn migrate_job_table(&mut self) -> Result<Vec<String>, Error> {
        crate::pg::run_migrations(self)
    }
}

impl JobConnection for SqliteConnection {
    fn write_transaction<T, E>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        if in_transaction(self) {
            self.transaction(f)
        } else {
            self.immediate_transaction(f)
        }
    }

    /// Deduplication is race-free because SQLite admits one writer at a time; outside a
    /// transaction the insert runs in its own `BEGIN IMMEDIATE`, retried while the
    /// database is busy.
    fn insert_new_job(&mut self, job: &NewJob) -> Result<Option<JobId>, Error> {
        if in_transaction(self) {
            self.transaction(|conn| crate::sqlite::insert_job(conn, job, crate::pool::now_micros()))
        } else {
            crate::sqlite::retry_busy(|| {
                self.immediate_transaction(|conn| {
                    crate::sqlite::insert_job(conn, job, crate::pool::now_micros())
                })
            })
        }
    }

    fn insert_new_jobs(&mut self, jobs: &[NewJob]) -> Result<Vec<Option<JobId>>, Error> {
        let insert = |conn: &mut SqliteConnection| {
            let now = crate::pool::now_micros();
            jobs.iter().map(|job| crate::sqlite::insert_job(conn, job, now)).collect()
        };
        if in_transaction(self) {
            self.transaction(insert)
        } else {
            crate::sqlite::retry_busy(|| self.immediate_transaction(insert))
        }
    }

    fn migrate_job_table(&mut self) -> Result<Vec<String>, Error> {
        crate::sqlite::run_migrations(self)
    }
}

/// The row of `job`, with a queue-diesel error: this crate's errors wrap the layer below
/// (diesel, the pool) and are wrapped by `StorageError`, never the other way round.
fn new_job<J: Job>(job: &J) -> Result<NewJob, Error> {
    NewJob::from_job(job)
        .map_err(|err| Error::InvalidJob { job_type: J::JOB_NAME, reason: err.to_string() })
}
