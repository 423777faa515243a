//! The checks: jobs waiting too long, and jobs failing too often.

use std::time::{Duration, SystemTime};

use queue_core::{JobInfo, Storage, StorageError};
use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CheckResult {
    /// The check's name, also its PagerDuty `dedup_key`.
    pub(crate) name: &'static str,
    /// Whether the queue is healthy by this check.
    pub(crate) ok: bool,
    /// How many jobs are in trouble.
    pub(crate) count: usize,
    /// A sentence for the page: the count and the worst job.
    pub(crate) summary: String,
    /// The id of the oldest (or most failing) job in trouble.
    pub(crate) job_id: Option<i64>,
}

fn minutes(d: Duration) -> u64 {
    d.as_secs() / 60
}

fn describe(job: &JobInfo) -> String {
    format!("job {} ({} {})", job.id, job.job_type, job.data)
}

/// Runs both checks.
pub(crate) fn run_checks<S: Storage + ?Sized>(
    storage: &S,
    max_job_time: Duration,
    max_failures: u32,
) -> Result<Vec<CheckResult>, StorageError> {
    let stalled = storage.stalled_jobs(max_job_time)?;
    let stalled_result = match stalled.first() {
        None => CheckResult {
            name: "registry-jobs-stalled",
            ok: true,
            count: 0,
            summary: format!("no job has waited longer than {} minutes", minutes(max_job_time)),
            job_id: None,
        },
        Some(oldest) => {
            let age = SystemTime::now().duration_since(oldest.created_at).unwrap_or_default();
            CheckResult {
                name: "registry-jobs-stalled",
                ok: false,
                count: stalled.len(),
                summary: format!(
                    "{} background jobs have waited longer than {} minutes; the oldest is {}, enqueued {} minutes ago",
                    stalled.len(),
                    minutes(max_job_time),
                    describe(oldest),
                    minutes(age)
                ),
                job_id: Some(oldest.id.0),
            }
        }
    };
    let failing = storage.failing_jobs(max_failures)?;
    let failing_result = match failing.first() {
        None => CheckResult {
            name: "registry-jobs-failing",
            ok: true,
            count: 0,
            summary: format!("no job has failed {max_failures} times or more"),
            job_id: None,
        },
        Some(worst) => CheckResult {
            name: "registry-jobs-failing",
            ok: false,
            count: failing.len(),
            summary: format!(
                "{} background jobs have failed at least {max_failures} times; the worst is {}, failed {} times: {}",
                failing.len(),
                describe(worst),
                worst.retries,
                worst.last_error.as_deref().and_then(|e| e.lines().next()).unwrap_or("no error recorded")
            ),
            job_id: Some(worst.id.0),
        },
    };
    // Job arguments and errors may hold what a job was given or met: a page never carries
    // a secret, whatever an older worker stored.
    let results = [stalled_result, failing_result]
        .into_iter()
        .map(|mut result| {
            result.summary = redact::redact(&result.summary).into_owned();
            result
        })
        .collect();
    Ok(results)
}
