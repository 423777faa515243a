//! Capped exponential backoff for failed jobs.

use std::time::Duration;

/// The longest a failed job ever waits, whatever the policy or a storage's caller asks:
/// ten years. Storages clamp every retry delay to it, so no arithmetic on a timestamp
/// overflows (a panic in memory, "timestamp out of range" on PostgreSQL).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How long a failed job waits before its next attempt: `base x 2^(failures - 1)`, capped at
/// `max`. Unlike an uncapped doubling (after 20 failures, two years), a job that keeps
/// failing is tried again at least every `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// One minute after the first failure, doubling up to one hour.
    fn default() -> Self {
        RetryPolicy { base: Duration::from_secs(60), max: Duration::from_secs(3600) }
    }
}

impl RetryPolicy {
    /// The wait after failure number `failures` (1 for the first failure).
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(31);
        let factor = 1u32 << exponent;
        let max = self.max.min(MAX_RETRY_DELAY);
        self.base.checked_mul(factor).map_or(max, |d| d.min(max))
    }

    /// When to retry after failure number `failures` of a job type that allows
    /// `max_retries` retries: `None` once they are exhausted.
    pub fn next_attempt(&self, failures: u32, max_retries: Option<u32>) -> Option<Duration> {
        match max_retries {
            Some(max) if failures > max => None,
            _ => Some(self.delay(failures)),
        }
    }
}
