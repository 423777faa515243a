//! What the runner reports about jobs and workers, for logs and metrics.

use std::time::Duration;

use crate::row::JobId;

/// Something that happened to a job or a worker, for logs and metrics.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A worker claimed a job and starts running it.
    Started {
        /// The worker's queue.
        queue: String,
        /// The job's id.
        id: JobId,
        /// The job type's name.
        job_type: String,
        /// How many times the job failed before.
        retries: u32,
    },
    /// A job returned `Ok`. Its deletion is recorded with the rest of its batch; if that
    /// fails (the claim was lost), a [`Event::StorageFailed`] naming the job follows and
    /// the run counts as failed.
    Succeeded {
        /// The worker's queue.
        queue: String,
        /// The job's id.
        id: JobId,
        /// The job type's name.
        job_type: String,
        /// How long the job ran.
        duration: Duration,
    },
    /// A job returned an error, panicked, or could not be run at all.
    Failed {
        /// The worker's queue.
        queue: String,
        /// The job's id.
        id: JobId,
        /// The job type's name.
        job_type: String,
        /// How long the job ran.
        duration: Duration,
        /// The error stored with the job.
        error: String,
        /// When the job runs again; `None` when its retries are exhausted.
        retry_in: Option<Duration>,
    },
    /// The storage failed; the worker waits and tries again.
    StorageFailed {
        /// The worker's queue.
        queue: String,
        /// The storage's error message.
        error: String,
    },
    /// A worker thread panicked outside a job (in the storage, say) and stopped. Its claims
    /// are released as a crashed worker's; the other workers go on.
    WorkerPanicked {
        /// The worker's queue.
        queue: String,
        /// The panic's message.
        message: String,
    },
}
