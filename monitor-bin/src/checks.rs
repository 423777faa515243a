//! The checks: jobs waiting too long, jobs running too long, and jobs failing too often.
//! They only read (no lock, no write), so the monitor can run as a read-only role.

use std::time::{Duration, SystemTime};

use queue_core::{JobInfo, RunningJob, Storage, StorageError};
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

/// `15 minutes`, or `90 seconds` for a limit that is not a whole number of minutes.
fn limit(d: Duration) -> String {
    if d.as_secs() % 60 == 0 {
        format!("{} minutes", d.as_secs() / 60)
    } else {
        format!("{} seconds", d.as_secs())
    }
}

fn describe(job: &JobInfo) -> String {
    format!("job {} ({} {})", job.id, job.job_type, job.data)
}

/// The limits the checks hold the queue to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// A job not running may wait this long.
    pub(crate) max_job_time: Duration,
    /// A job may run this long.
    pub(crate) max_run_time: Duration,
    /// A job may fail this many times minus one.
    pub(crate) max_failures: u32,
}

/// The name (and PagerDuty `dedup_key`) of the incident "the checks could not run".
pub(crate) const CHECKS_FAILED: &str = "registry-monitor-checks-failed";

/// The result for "the checks could not run" (`error`), or for "they ran" (`None`).
pub(crate) fn checks_ran(error: Option<&str>) -> CheckResult {
    match error {
        None => CheckResult {
            name: CHECKS_FAILED,
            ok: true,
            count: 0,
            summary: "the queue checks ran".into(),
            job_id: None,
        },
        Some(error) => CheckResult {
            name: CHECKS_FAILED,
            ok: false,
            count: 0,
            summary: redact::redact(&format!(
                "the registry job queue cannot be checked, so stuck jobs would go unnoticed: {error}"
            ))
            .into_owned(),
            job_id: None,
        },
    }
}

/// Runs the three checks.
pub(crate) fn run_checks<S: Storage + ?Sized>(
    storage: &S,
    limits: Limits,
) -> Result<Vec<CheckResult>, StorageError> {
    let Limits { max_job_time, max_run_time, max_failures } = limits;
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
    let running = storage.long_running_jobs(max_run_time)?;
    let running_result = match running.first() {
        None => CheckResult {
            name: "registry-jobs-running-too-long",
            ok: true,
            count: 0,
            summary: format!("no job has run longer than {}", limit(max_run_time)),
            job_id: None,
        },
        Some(RunningJob { job, since }) => {
            let age = SystemTime::now().duration_since(*since).unwrap_or_default();
            CheckResult {
                name: "registry-jobs-running-too-long",
                ok: false,
                count: running.len(),
                summary: format!(
                    "{} background jobs have been running longer than {} (a push or fetch that hangs?); the longest is {}, running for {} minutes",
                    running.len(),
                    limit(max_run_time),
                    describe(job),
                    minutes(age)
                ),
                job_id: Some(job.id.0),
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
    let results = [stalled_result, running_result, failing_result]
        .into_iter()
        .map(|mut result| {
            result.summary = redact::redact(&result.summary).into_owned();
            result
        })
        .collect();
    Ok(results)
}
