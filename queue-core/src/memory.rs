//! An in-memory storage, for other projects' unit tests of their jobs.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::row::{JobId, NewJob};
use crate::storage::{
    Claim, ClaimedJob, JobInfo, Outcome, RunJobs, RunningJob, Storage, StorageError, Waker,
};

/// A [`Storage`] that keeps jobs in memory, with the same semantics as the database
/// backends (it passes the same conformance suite). Jobs are lost when it is dropped, so it
/// is for tests and examples, not production.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: i64,
    jobs: BTreeMap<JobId, Row>,
    wakers: Vec<Waker>,
}

#[derive(Debug, Clone)]
struct Row {
    job_type: String,
    data: serde_json::Value,
    priority: i16,
    deduplicated: bool,
    retries: u32,
    created_at: SystemTime,
    last_retry: Option<SystemTime>,
    last_error: Option<String>,
    run_at: Option<SystemTime>,
    /// When the worker running it claimed it; `None` when no worker is.
    running_since: Option<SystemTime>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave a row half-updated: every update is
        // a single assignment. So a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Row {
    fn info(&self, id: JobId) -> JobInfo {
        JobInfo {
            id,
            job_type: self.job_type.clone(),
            data: self.data.clone(),
            priority: self.priority,
            retries: self.retries,
            created_at: self.created_at,
            last_retry: self.last_retry,
            last_error: self.last_error.clone(),
            run_at: self.run_at,
        }
    }

    fn runnable(&self, now: SystemTime) -> bool {
        self.running_since.is_none() && self.run_at.is_some_and(|at| at <= now)
    }
}

/// Sorts by listing order: priority descending, then id ascending.
fn run_order(a: &(JobId, &Row), b: &(JobId, &Row)) -> std::cmp::Ordering {
    b.1.priority.cmp(&a.1.priority).then(a.0.cmp(&b.0))
}

/// Sorts by claim order: priority descending, then runnable longest first, then id.
fn claim_order(a: &(JobId, &Row), b: &(JobId, &Row)) -> std::cmp::Ordering {
    b.1.priority.cmp(&a.1.priority).then(a.1.run_at.cmp(&b.1.run_at)).then(a.0.cmp(&b.0))
}

impl Storage for MemoryStorage {
    fn enqueue(&self, job: &NewJob) -> Result<Option<JobId>, StorageError> {
        let now = SystemTime::now();
        let mut state = self.state();
        if job.deduplicated {
            let existing = state.jobs.values_mut().find(|row| {
                row.deduplicated
                    && row.running_since.is_none()
                    && row.run_at.is_some()
                    && row.job_type == job.job_type
                    && row.data == job.data
            });
            if let Some(row) = existing {
                row.run_at = row.run_at.map(|at| at.min(now));
                return Ok(None);
            }
        }
        state.next_id += 1;
        let id = JobId(state.next_id);
        state.jobs.insert(
            id,
            Row {
                job_type: job.job_type.clone(),
                data: job.data.clone(),
                priority: job.priority,
                deduplicated: job.deduplicated,
                retries: 0,
                created_at: now,
                last_retry: None,
                last_error: None,
                run_at: Some(now),
                running_since: None,
            },
        );
        let wakers = state.wakers.clone();
        drop(state);
        wakers.iter().for_each(Waker::wake);
        Ok(Some(id))
    }

    fn run_batch(&self, claim: Claim<'_>, run: &mut RunJobs<'_>) -> Result<usize, StorageError> {
        let now = SystemTime::now();
        let claimed: Vec<ClaimedJob> = {
            let mut state = self.state();
            let mut ids: Vec<(JobId, &Row)> = state
                .jobs
                .iter()
                .filter(|(_, row)| row.runnable(now) && claim.filter.matches(&row.job_type))
                .map(|(id, row)| (*id, row))
                .collect();
            ids.sort_by(claim_order);
            let ids: Vec<JobId> = ids.into_iter().take(claim.limit()).map(|(id, _)| id).collect();
            ids.into_iter()
                .filter_map(|id| {
                    let row = state.jobs.get_mut(&id)?;
                    row.running_since = Some(now);
                    Some(ClaimedJob {
                        id,
                        job_type: row.job_type.clone(),
                        data: row.data.to_string(),
                        retries: row.retries,
                    })
                })
                .collect()
        };
        if claimed.is_empty() {
            return Ok(0);
        }
        // If `run` unwinds, the claims are released as a crashed worker's would be.
        struct Release<'a> {
            storage: &'a MemoryStorage,
            ids: Vec<JobId>,
        }
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let mut state = self.storage.state();
                for id in &self.ids {
                    if let Some(row) = state.jobs.get_mut(id) {
                        row.running_since = None;
                    }
                }
            }
        }
        let mut release =
            Release { storage: self, ids: claimed.iter().map(|job| job.id).collect() };
        let outcomes = run(&claimed);
        // A wrong count releases the claims (the guard still holds them) and records
        // nothing.
        crate::storage::check_outcomes(claimed.len(), &outcomes)?;
        release.ids.clear();
        drop(release);
        let mut state = self.state();
        let now = SystemTime::now();
        for (job, outcome) in claimed.iter().zip(outcomes) {
            match outcome {
                Outcome::Succeeded => {
                    state.jobs.remove(&job.id);
                }
                Outcome::Failed { error, retry_in } => {
                    if let Some(row) = state.jobs.get_mut(&job.id) {
                        row.running_since = None;
                        row.retries += 1;
                        row.last_retry = Some(now);
                        row.last_error = Some(error);
                        row.run_at = retry_in.map(|d| now + d.min(crate::MAX_RETRY_DELAY));
                    }
                }
            }
        }
        Ok(claimed.len())
    }

    fn listen(&self, waker: Waker) -> Result<Option<Box<dyn Send>>, StorageError> {
        self.state().wakers.push(waker);
        Ok(None)
    }

    fn count_pending(&self) -> Result<u64, StorageError> {
        Ok(self.state().jobs.len() as u64)
    }

    fn pending_jobs(&self, limit: usize) -> Result<Vec<JobInfo>, StorageError> {
        let state = self.state();
        let mut rows: Vec<(JobId, &Row)> = state.jobs.iter().map(|(id, r)| (*id, r)).collect();
        rows.sort_by(run_order);
        Ok(rows.into_iter().take(limit).map(|(id, row)| row.info(id)).collect())
    }

    fn stalled_jobs(&self, older_than: Duration) -> Result<Vec<JobInfo>, StorageError> {
        let cutoff = SystemTime::now().checked_sub(older_than).unwrap_or(SystemTime::UNIX_EPOCH);
        let state = self.state();
        Ok(state
            .jobs
            .iter()
            .filter(|(_, row)| row.running_since.is_none() && row.created_at <= cutoff)
            .map(|(id, row)| row.info(*id))
            .collect())
    }

    fn long_running_jobs(&self, longer_than: Duration) -> Result<Vec<RunningJob>, StorageError> {
        let cutoff = SystemTime::now().checked_sub(longer_than).unwrap_or(SystemTime::UNIX_EPOCH);
        let state = self.state();
        let mut jobs: Vec<RunningJob> = state
            .jobs
            .iter()
            .filter_map(|(id, row)| {
                let since = row.running_since.filter(|since| *since <= cutoff)?;
                Some(RunningJob { job: row.info(*id), since })
            })
            .collect();
        jobs.sort_by_key(|running| (running.since, running.job.id));
        Ok(jobs)
    }

    fn failing_jobs(&self, min_failures: u32) -> Result<Vec<JobInfo>, StorageError> {
        let state = self.state();
        let mut jobs: Vec<JobInfo> = state
            .jobs
            .iter()
            .filter(|(_, row)| row.retries >= min_failures)
            .map(|(id, row)| row.info(*id))
            .collect();
        jobs.sort_by(|a, b| b.retries.cmp(&a.retries).then(a.id.cmp(&b.id)));
        Ok(jobs)
    }

    fn retry_now(&self, id: JobId) -> Result<bool, StorageError> {
        let mut state = self.state();
        let Some(row) = state.jobs.get_mut(&id) else { return Ok(false) };
        row.run_at = Some(SystemTime::now());
        let wakers = state.wakers.clone();
        drop(state);
        wakers.iter().for_each(Waker::wake);
        Ok(true)
    }

    fn delete(&self, id: JobId) -> Result<bool, StorageError> {
        let mut state = self.state();
        match state.jobs.get(&id) {
            None => Ok(false),
            Some(row) if row.running_since.is_some() => Err(StorageError::JobRunning(id)),
            Some(_) => Ok(state.jobs.remove(&id).is_some()),
        }
    }
}
