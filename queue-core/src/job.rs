//! The `Job` trait that job types implement, and how a job becomes a row.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::row::{JobId, NewJob};
use crate::storage::{Storage, StorageError};

/// The queue a job type runs on unless it names another.
pub const DEFAULT_QUEUE: &str = "default";

/// A background job: serializable data plus the code that runs it.
///
/// # At-least-once
///
/// A job can run more than once: a worker can die after the job's effect happened but before
/// the job was recorded as done, a database connection can drop between the two, and a failed
/// job is retried from the start. A job may also run after a newer job of the same kind.
/// So every job must be idempotent and must not depend on the order jobs run in: the usual
/// shape is "bring X in line with the source of truth", not "apply this delta to X".
///
/// # Example
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct SendWelcomeMail {
///     user_id: i64,
/// }
///
/// struct Mailer;
///
/// impl queue_core::Job for SendWelcomeMail {
///     const JOB_NAME: &'static str = "send_welcome_mail";
///     type Context = Mailer;
///
///     fn run(&self, _mailer: &Mailer) -> anyhow::Result<()> {
///         // Look up whether the mail was already sent before sending it again.
///         Ok(())
///     }
/// }
/// ```
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The stable name stored with each job; renaming it orphans queued jobs.
    const JOB_NAME: &'static str;
    /// Higher runs first; jobs of equal priority run oldest first.
    const PRIORITY: i16 = 0;
    /// The queue whose workers run this job type.
    const QUEUE: &'static str = DEFAULT_QUEUE;
    /// Coalesce with an identical pending job (same type and data) instead of adding a row.
    ///
    /// Only jobs that have not started are coalesced: a running job does not absorb a newer
    /// identical one, because the newer one must still run after it.
    const DEDUPLICATED: bool = false;
    /// How many times a failed job is retried before it is kept but no longer run.
    /// `None`, the default, retries until the job succeeds.
    const MAX_RETRIES: Option<u32> = None;

    /// How many pending jobs of this type a worker may claim and run together. Above 1, the
    /// runner claims up to this many jobs of the queue in one go and hands those of this
    /// type to [`Job::run_batch`]; each is recorded done or failed only after the batch
    /// returned. A queue batches when one of its job types does.
    const BATCH_SIZE: usize = 1;

    /// The environment a job runs in: pools, repositories, clients. Shared by all workers.
    type Context: Send + Sync + 'static;

    /// Runs the job. An error, or a panic, records a failure and schedules a retry.
    fn run(&self, ctx: &Self::Context) -> anyhow::Result<()>;

    /// Runs several jobs of this type together (see [`Job::BATCH_SIZE`]) and returns one
    /// result per job, in order. The default runs them one by one. A panic fails the whole
    /// batch.
    fn run_batch(jobs: &[Self], ctx: &Self::Context) -> Vec<anyhow::Result<()>>
    where
        Self: Sized,
    {
        jobs.iter().map(|job| job.run(ctx)).collect()
    }

    /// Queues this job in `storage`. Returns `None` when a deduplicated job was coalesced
    /// with an identical pending one.
    fn enqueue<S: Storage + ?Sized>(&self, storage: &S) -> Result<Option<JobId>, StorageError>
    where
        Self: Sized,
    {
        storage.enqueue(&NewJob::from_job(self)?)
    }
}

impl NewJob {
    /// Serializes `job` with its type's name, priority and deduplication setting.
    pub fn from_job<J: Job>(job: &J) -> Result<NewJob, StorageError> {
        let data = serde_json::to_value(job).map_err(|source| StorageError::Serialize {
            job_type: J::JOB_NAME.to_owned(),
            source,
        })?;
        Ok(NewJob {
            job_type: J::JOB_NAME.to_owned(),
            data,
            priority: J::PRIORITY,
            deduplicated: J::DEDUPLICATED,
        })
    }
}
