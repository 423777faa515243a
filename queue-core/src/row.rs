//! What a queued job is to a storage: its id, and the row to insert.

use std::fmt;

use serde::Serialize;

/// The identifier of a queued job.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A job ready to be stored: what a [`Storage`](crate::Storage) needs to insert a row.
/// Made by [`NewJob::from_job`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The job type's [`Job::JOB_NAME`](crate::Job::JOB_NAME).
    pub job_type: String,
    /// The serialized job.
    pub data: serde_json::Value,
    /// The job type's [`Job::PRIORITY`](crate::Job::PRIORITY).
    pub priority: i16,
    /// The job type's [`Job::DEDUPLICATED`](crate::Job::DEDUPLICATED).
    pub deduplicated: bool,
}
