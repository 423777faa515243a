//! The runner's settings, and the bound on a stored error.

use std::time::Duration;

use crate::retry::RetryPolicy;

/// The longest error text stored with a failed job, in bytes.
pub const MAX_ERROR_LEN: usize = 4096;

/// Settings of a [`Runner`](super::Runner). Build with struct update syntax over `Default`.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// How often an idle worker looks for jobs when no notification woke it.
    pub poll_interval: Duration,
    /// Backoff for failed jobs.
    pub retry: RetryPolicy,
    /// How long a worker waits after a storage error before it tries again.
    pub storage_error_backoff: Duration,
    /// Also claim rows whose job type no registered job has, and record them as failed
    /// with an error naming the type, so operators see them. Off by default: a runner
    /// claims only the types it registered, so services that queue their own job types in
    /// the same table are left alone (a row nobody runs still shows in the monitor's
    /// stalled check).
    pub fail_unknown_job_types: bool,
    /// Ask the storage for wake-ups on enqueue (`LISTEN`/`NOTIFY` on PostgreSQL). Off,
    /// idle workers only poll.
    pub use_notifications: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            poll_interval: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            storage_error_backoff: Duration::from_secs(1),
            fail_unknown_job_types: false,
            use_notifications: true,
        }
    }
}

/// The text kept of a job's error: secrets redacted (credentials in URLs, password
/// parameters), then cut to at most [`MAX_ERROR_LEN`] bytes on a character boundary.
/// Redacting first matters: a cut could leave half a URL the redactor no longer recognises.
pub(crate) fn truncate_error(error: String) -> String {
    let mut error = match redact::redact(&error) {
        std::borrow::Cow::Borrowed(_) => error,
        std::borrow::Cow::Owned(redacted) => redacted,
    };
    if error.len() > MAX_ERROR_LEN {
        const MARK: &str = "... (truncated)";
        let mut end = MAX_ERROR_LEN - MARK.len();
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        error.truncate(end);
        error.push_str(MARK);
    }
    error
}
