//! The `Storage` trait a backend implements, and the rows and outcomes it exchanges.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::row::{JobId, NewJob};

/// Where jobs live. Implemented by backends (`queue-diesel` for PostgreSQL and SQLite,
/// [`MemoryStorage`](crate::MemoryStorage) for tests).
///
/// The claim is shaped as a callback, [`Storage::run_batch`], so that a backend can either
/// hold its claim for the whole run (PostgreSQL: a transaction holding the row lock, so a
/// worker that dies releases its job at once) or take a lease with an expiry and extend it
/// while the job runs (SQLite).
///
/// Every implementation must pass the conformance suite in `queue_core::testing`
/// (feature `testing`).
pub trait Storage: Send + Sync + 'static {
    /// Inserts a job. For a deduplicated job, coalesces with an identical (same type and
    /// data) job that is pending and not running, and returns `None`; the pending job is then
    /// made runnable now if it was waiting for a retry. Concurrent enqueues of one
    /// deduplicated job must leave at most one pending job.
    fn enqueue(&self, job: &NewJob) -> Result<Option<JobId>, StorageError>;

    /// Inserts several jobs, in one transaction where the backend has them.
    fn enqueue_batch(&self, jobs: &[NewJob]) -> Result<Vec<Option<JobId>>, StorageError> {
        jobs.iter().map(|job| self.enqueue(job)).collect()
    }

    /// The one claim: takes up to `claim.max` (at least 1) runnable jobs that `claim.filter`
    /// matches,
    /// highest priority first and, among equals, the one runnable longest (earliest
    /// `run_at`, then oldest) first, holds them while `run` runs them, and records the
    /// [`Outcome`] `run` returns for each, in order: a job is deleted
    /// on success; on failure its retry count, time and error are stored and it becomes
    /// runnable again after `retry_in` (never, for `None`).
    ///
    /// A job is runnable when its retry time has come and no worker is running it.
    /// Returns how many jobs were claimed; 0 when nothing is runnable.
    ///
    /// `run` must return exactly one outcome per job (the runner always does). When it does
    /// not, or unwinds, nothing is recorded: the claims are released as a crashed worker's
    /// would be, and the call fails with [`StorageError::Outcomes`] (see
    /// [`check_outcomes`]).
    ///
    /// When the claim was lost while `run` ran (a lease that lapsed, a database session
    /// that ended) or the outcomes cannot be written, the call fails with
    /// [`StorageError::NotRecorded`] naming the jobs: it never reports success for a job
    /// whose outcome it did not record.
    fn run_batch(&self, claim: Claim<'_>, run: &mut RunJobs<'_>) -> Result<usize, StorageError>;

    /// Claims and runs one job: [`Storage::run_batch`] with a batch of one. Returns the
    /// claimed job's id, or `None` when nothing is runnable.
    fn run_next(
        &self,
        filter: &JobFilter<'_>,
        run: &mut dyn FnMut(&ClaimedJob) -> Outcome,
    ) -> Result<Option<JobId>, StorageError> {
        let mut id = None;
        self.run_batch(Claim { filter: *filter, max: 1 }, &mut |jobs| {
            id = jobs.first().map(|job| job.id);
            jobs.iter().map(&mut *run).collect()
        })?;
        Ok(id)
    }

    /// How many jobs can run at once, when the backend has a limit (a connection pool).
    /// A runner with more workers than this refuses to start.
    fn max_concurrent_claims(&self) -> Option<usize> {
        None
    }

    /// Starts delivering wake-ups to `waker` when jobs are enqueued, for backends that have
    /// notifications. The returned value keeps the subscription alive; dropping it stops
    /// the deliveries. `None` means the backend has no notifications and workers poll.
    fn listen(&self, waker: Waker) -> Result<Option<Box<dyn Send>>, StorageError> {
        let _ = waker;
        Ok(None)
    }

    /// The number of jobs in the storage, running or not.
    fn count_pending(&self) -> Result<u64, StorageError>;

    /// Up to `limit` jobs, in the order they would run (priority, then age).
    fn pending_jobs(&self, limit: usize) -> Result<Vec<JobInfo>, StorageError>;

    /// Jobs enqueued more than `older_than` ago that no worker is running now, oldest first.
    fn stalled_jobs(&self, older_than: Duration) -> Result<Vec<JobInfo>, StorageError>;

    /// Jobs a worker has been running for longer than `longer_than` (a push that never
    /// returns, say), longest-running first. Like every operator query, it takes no lock
    /// and writes nothing, so a read-only role can run it.
    fn long_running_jobs(&self, longer_than: Duration) -> Result<Vec<RunningJob>, StorageError>;

    /// Jobs that failed at least `min_failures` times, most failures first.
    fn failing_jobs(&self, min_failures: u32) -> Result<Vec<JobInfo>, StorageError>;

    /// Makes a job runnable now, also one whose retries are exhausted. Returns whether the
    /// job exists.
    fn retry_now(&self, id: JobId) -> Result<bool, StorageError>;

    /// Deletes a job that is not running. Returns whether a job was deleted;
    /// [`StorageError::JobRunning`] when it is running.
    fn delete(&self, id: JobId) -> Result<bool, StorageError>;
}

impl<S: Storage + ?Sized> Storage for Arc<S> {
    fn enqueue(&self, job: &NewJob) -> Result<Option<JobId>, StorageError> {
        (**self).enqueue(job)
    }
    fn enqueue_batch(&self, jobs: &[NewJob]) -> Result<Vec<Option<JobId>>, StorageError> {
        (**self).enqueue_batch(jobs)
    }
    fn run_batch(&self, claim: Claim<'_>, run: &mut RunJobs<'_>) -> Result<usize, StorageError> {
        (**self).run_batch(claim, run)
    }
    fn max_concurrent_claims(&self) -> Option<usize> {
        (**self).max_concurrent_claims()
    }
    fn listen(&self, waker: Waker) -> Result<Option<Box<dyn Send>>, StorageError> {
        (**self).listen(waker)
    }
    fn count_pending(&self) -> Result<u64, StorageError> {
        (**self).count_pending()
    }
    fn pending_jobs(&self, limit: usize) -> Result<Vec<JobInfo>, StorageError> {
        (**self).pending_jobs(limit)
    }
    fn stalled_jobs(&self, older_than: Duration) -> Result<Vec<JobInfo>, StorageError> {
        (**self).stalled_jobs(older_than)
    }
    fn long_running_jobs(&self, longer_than: Duration) -> Result<Vec<RunningJob>, StorageError> {
        (**self).long_running_jobs(longer_than)
    }
    fn failing_jobs(&self, min_failures: u32) -> Result<Vec<JobInfo>, StorageError> {
        (**self).failing_jobs(min_failures)
    }
    fn retry_now(&self, id: JobId) -> Result<bool, StorageError> {
        (**self).retry_now(id)
    }
    fn delete(&self, id: JobId) -> Result<bool, StorageError> {
        (**self).delete(id)
    }
}

/// What a claim asks for: up to `max` runnable jobs that `filter` matches.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// Which job types the claim may take.
    pub filter: JobFilter<'a>,
    /// How many jobs at most; 0 counts as 1.
    pub max: usize,
}

impl<'a> Claim<'a> {
    /// Up to `max` jobs of the types `types`.
    pub fn types(types: &'a [&'a str], max: usize) -> Claim<'a> {
        Claim { filter: JobFilter::Types(types), max }
    }

    /// `max`, at least 1: what a backend puts in its `LIMIT`.
    pub fn limit(&self) -> usize {
        self.max.max(1)
    }
}

/// The callback [`Storage::run_batch`] holds its claim for: it runs the claimed jobs and
/// returns one [`Outcome`] per job, in order.
pub type RunJobs<'a> = dyn FnMut(&[ClaimedJob]) -> Vec<Outcome> + 'a;

/// Which job types a claim may take.
#[derive(Debug, Clone, Copy)]
pub enum JobFilter<'a> {
    /// Only these types.
    Types(&'a [&'a str]),
    /// Every type except these (used to find rows no registered type can run).
    AllExcept(&'a [&'a str]),
}

impl JobFilter<'_> {
    /// Whether a job of type `job_type` passes the filter.
    pub fn matches(&self, job_type: &str) -> bool {
        match self {
            JobFilter::Types(types) => types.contains(&job_type),
            JobFilter::AllExcept(types) => !types.contains(&job_type),
        }
    }
}

/// A claimed job, as handed to the callback of [`Storage::run_next`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    /// The job's id.
    pub id: JobId,
    /// The job type's name.
    pub job_type: String,
    /// The job's data as stored: JSON text, which the runner deserializes straight into the
    /// job type (no intermediate `serde_json::Value`). A storage hands it over unchecked;
    /// text that is not JSON fails the job with an error that says so and shows the text.
    pub data: String,
    /// How many times the job failed before this run.
    pub retries: u32,
}

/// What running a claimed job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job is done: delete it.
    Succeeded,
    /// The job failed: keep it with `error`, and run it again after `retry_in`, or never
    /// (until an operator retries it) when `None`.
    Failed {
        /// The error text, already bounded in length by the runner.
        error: String,
        /// When to run the job again.
        retry_in: Option<Duration>,
    },
}

/// For storage implementers: fails unless `outcomes` has one outcome per claimed job, so
/// that a [`Storage::run_batch`] records nothing it was not told.
pub fn check_outcomes(claimed: usize, outcomes: &[Outcome]) -> Result<(), StorageError> {
    if outcomes.len() == claimed {
        Ok(())
    } else {
        Err(StorageError::Outcomes { claimed, outcomes: outcomes.len() })
    }
}

/// A job as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobInfo {
    /// The job's id.
    pub id: JobId,
    /// The job type's name.
    pub job_type: String,
    /// The job's data; stored text that is not JSON is given as a JSON string.
    pub data: serde_json::Value,
    /// The job's priority.
    pub priority: i16,
    /// How many times the job failed.
    pub retries: u32,
    /// When the job was enqueued.
    pub created_at: SystemTime,
    /// When the job last failed.
    pub last_retry: Option<SystemTime>,
    /// The error of the last failure.
    pub last_error: Option<String>,
    /// When the job may run next; `None` when its retries are exhausted.
    pub run_at: Option<SystemTime>,
}

/// A job a worker is running, as operators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningJob {
    /// The job.
    pub job: JobInfo,
    /// When the worker running it claimed it.
    pub since: SystemTime,
}

/// A handle a backend calls when jobs were enqueued, to wake an idle worker at once.
#[derive(Clone)]
pub struct Waker(Arc<dyn Fn() + Send + Sync>);

impl Waker {
    /// A waker that calls `f`.
    pub fn new(f: impl Fn() + Send + Sync + 'static) -> Waker {
        Waker(Arc::new(f))
    }

    /// Says that a job was enqueued: one idle worker wakes up (a worker that then claims a
    /// full batch wakes the next one).
    pub fn wake(&self) {
        (self.0)();
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Waker")
    }
}

/// Errors of a [`Storage`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A job could not be serialized to JSON.
    #[error("cannot serialize job of type `{job_type}` to JSON: {source}")]
    Serialize {
        /// The job type's name.
        job_type: String,
        /// The serializer's error.
        source: serde_json::Error,
    },
    /// A claim's callback returned a different number of outcomes than jobs it was given;
    /// nothing was recorded and the jobs were released.
    #[error("{claimed} jobs were claimed but {outcomes} outcomes returned; the claims were released and nothing was recorded")]
    Outcomes {
        /// Jobs claimed.
        claimed: usize,
        /// Outcomes returned.
        outcomes: usize,
    },
    /// The jobs ran, but their outcomes were not recorded: the claim was lost before the
    /// outcomes reached the database (a SQLite lease that lapsed, a PostgreSQL session that
    /// ended while holding the row locks) or recording them failed. The run counts as a
    /// failure; the jobs stay in the storage and run again (at-least-once).
    #[error("the outcomes of job(s) {} were not recorded, so the jobs will run again: {reason}", format_ids(.jobs))]
    NotRecorded {
        /// The jobs whose outcomes were lost.
        jobs: Vec<JobId>,
        /// Why: what the backend said.
        reason: String,
    },
    /// The job is running and cannot be deleted now.
    #[error("job {0} is running now; delete it after it finished or failed")]
    JobRunning(JobId),
    /// The backend failed (connection, query, pool); the message says what to check.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

fn format_ids(ids: &[JobId]) -> String {
    ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

impl StorageError {
    /// Wraps a backend's error.
    pub fn backend(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StorageError {
        StorageError::Backend(err.into())
    }
}
