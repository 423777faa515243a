//! The storage conformance suite: every check a [`Storage`] must pass.
//!
//! Each function takes a fresh, empty storage and panics when the storage misbehaves. Run
//! them through [`storage_conformance_tests!`](crate::storage_conformance_tests).

// The checks are test code: a panic is how they report a misbehaving storage.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::jobs::{BatchJob, BatchLog, DedupJob, Journal, LimitedJob, RecordingJob};
use crate::job::Job;
use crate::retry::RetryPolicy;
use crate::row::{JobId, NewJob};
use crate::runner::{Runner, RunnerConfig};
use crate::storage::{Claim, ClaimedJob, JobFilter, Outcome, Storage, StorageError};

const PATIENCE: Duration = Duration::from_secs(30);

fn job(job_type: &str, data: serde_json::Value, priority: i16) -> NewJob {
    NewJob { job_type: job_type.to_owned(), data, priority, deduplicated: false }
}

fn enqueue<S: Storage>(storage: &S, job: &NewJob) -> JobId {
    storage.enqueue(job).expect("enqueue").expect("a job that is not deduplicated gets an id")
}

/// Claims the next job of `types`, records `outcome`, and returns what was claimed.
fn claim_with<S: Storage>(storage: &S, types: &[&str], outcome: Outcome) -> Option<ClaimedJob> {
    let mut seen = None;
    let id = storage
        .run_next(&JobFilter::Types(types), &mut |job| {
            seen = Some(job.clone());
            outcome.clone()
        })
        .expect("run_next");
    assert_eq!(id, seen.as_ref().map(|j| j.id), "run_next returns the id of the job it ran");
    seen
}

/// A claimed job's data, parsed: a storage hands over the JSON text it stored.
fn parsed(job: &ClaimedJob) -> serde_json::Value {
    serde_json::from_str(&job.data).unwrap_or_else(|e| {
        panic!("job {:?} has data that is not JSON ({e}): {:?}", job.id, job.data)
    })
}

fn succeed<S: Storage>(storage: &S, types: &[&str]) -> Option<ClaimedJob> {
    claim_with(storage, types, Outcome::Succeeded)
}

fn fail<S: Storage>(
    storage: &S,
    types: &[&str],
    error: &str,
    retry_in: Option<Duration>,
) -> Option<ClaimedJob> {
    claim_with(storage, types, Outcome::Failed { error: error.to_owned(), retry_in })
}

fn fast_config() -> RunnerConfig {
    RunnerConfig {
        poll_interval: Duration::from_millis(20),
        retry: RetryPolicy { base: Duration::from_secs(3600), max: Duration::from_secs(3600) },
        storage_error_backoff: Duration::from_millis(20),
        fail_unknown_job_types: true,
        use_notifications: true,
    }
}

/// Ids are distinct and grow with insertion order.
pub fn enqueue_returns_distinct_increasing_ids<S: Storage>(storage: S) {
    let ids: Vec<JobId> =
        (0..5).map(|i| enqueue(&storage, &job("a", json!({ "i": i }), 0))).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    assert_eq!(storage.count_pending().unwrap(), 5);
}

/// Higher priority runs first; among equal priorities, the older job.
pub fn priority_then_age_order<S: Storage>(storage: S) {
    for (name, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -1)] {
        enqueue(&storage, &job("t", json!(name), priority));
    }
    let order: Vec<serde_json::Value> =
        std::iter::from_fn(|| succeed(&storage, &["t"])).map(|j| parsed(&j)).collect();
    assert_eq!(order, vec![json!("b"), json!("d"), json!("a"), json!("c"), json!("e")]);
}

/// A claim only takes the job types its filter allows.
pub fn claim_takes_only_the_filtered_types<S: Storage>(storage: S) {
    enqueue(&storage, &job("a", json!(1), 0));
    enqueue(&storage, &job("b", json!(2), 9));
    assert!(succeed(&storage, &["c"]).is_none(), "no job of type c exists");
    let a = succeed(&storage, &["a"]).expect("a job of type a");
    assert_eq!(a.job_type, "a");
    let mut seen = None;
    storage
        .run_next(&JobFilter::AllExcept(&["a", "c"]), &mut |j| {
            seen = Some(j.job_type.clone());
            Outcome::Succeeded
        })
        .unwrap();
    assert_eq!(seen.as_deref(), Some("b"));
    assert_eq!(storage.count_pending().unwrap(), 0);
}

/// A job that succeeded is gone.
pub fn success_deletes_the_job<S: Storage>(storage: S) {
    let id = enqueue(&storage, &job("a", json!({"x": [1, 2]}), 0));
    let claimed = succeed(&storage, &["a"]).expect("the job");
    assert_eq!(claimed.id, id);
    assert_eq!(parsed(&claimed), json!({"x": [1, 2]}));
    assert_eq!(claimed.retries, 0);
    assert_eq!(storage.count_pending().unwrap(), 0);
    assert!(succeed(&storage, &["a"]).is_none());
}

/// A failure stores the retry count, the time and the error, and the job runs again.
pub fn failure_records_retries_time_and_error<S: Storage>(storage: S) {
    let id = enqueue(&storage, &job("a", json!(1), 0));
    fail(&storage, &["a"], "first: connection refused", Some(Duration::ZERO)).expect("the job");
    let info = storage.pending_jobs(10).unwrap().pop().expect("the job is kept");
    assert_eq!(info.id, id);
    assert_eq!(info.retries, 1);
    assert_eq!(info.last_error.as_deref(), Some("first: connection refused"));
    assert!(info.last_retry.is_some(), "the failure time is stored");
    let again = fail(&storage, &["a"], "second", Some(Duration::ZERO)).expect("runs again");
    assert_eq!(again.retries, 1, "the claim sees the earlier failure");
    let info = storage.pending_jobs(10).unwrap().pop().unwrap();
    assert_eq!((info.retries, info.last_error.as_deref()), (2, Some("second")));
}

/// A failed job waits for its retry time: not before, and runs once it has come.
pub fn backoff_is_respected<S: Storage>(storage: S) {
    enqueue(&storage, &job("a", json!(1), 0));
    fail(&storage, &["a"], "boom", Some(Duration::from_secs(3600))).expect("the job");
    assert!(succeed(&storage, &["a"]).is_none(), "a job waiting an hour is not runnable");
    let waiting = &storage.pending_jobs(1).unwrap()[0];
    let run_at = waiting.run_at.expect("a retry time");
    let last = waiting.last_retry.expect("a failure time");
    let wait = run_at.duration_since(last).unwrap_or_default();
    assert!(
        wait >= Duration::from_secs(3590),
        "the retry time is an hour after the failure: {wait:?}"
    );

    enqueue(&storage, &job("b", json!(2), 0));
    fail(&storage, &["b"], "boom", Some(Duration::from_millis(200))).expect("the job");
    let deadline = Instant::now() + PATIENCE;
    let mut ran = None;
    while ran.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        ran = succeed(&storage, &["b"]);
    }
    assert!(ran.is_some(), "a job whose retry time has come runs");
}

/// A job whose retries are exhausted is kept, visible to operators, and never claimed
/// until an operator retries it.
pub fn exhausted_job_is_kept_but_never_runs<S: Storage>(storage: S) {
    let storage = Arc::new(storage);
    let id = LimitedJob.enqueue(&*storage).unwrap().expect("an id");
    let config = RunnerConfig {
        retry: RetryPolicy { base: Duration::from_millis(1), max: Duration::from_millis(1) },
        ..fast_config()
    };
    let deadline = Instant::now() + PATIENCE;
    loop {
        let report = Runner::new(Arc::clone(&storage), config.clone())
            .register::<LimitedJob>(())
            .run_until_empty()
            .unwrap();
        let info = storage.failing_jobs(1).unwrap();
        if info.first().is_some_and(|i| i.run_at.is_none()) || Instant::now() > deadline {
            break;
        }
        if report.failed == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let info = storage.failing_jobs(1).unwrap();
    assert_eq!(info.len(), 1, "the job is kept");
    assert_eq!(info[0].id, id);
    assert_eq!(info[0].retries, 2, "MAX_RETRIES = 1: the first run and one retry");
    assert_eq!(info[0].run_at, None, "no retry is scheduled");
    assert!(succeed(&*storage, &[LimitedJob::JOB_NAME]).is_none(), "it is never claimed");
    assert!(storage.retry_now(id).unwrap());
    assert!(
        succeed(&*storage, &[LimitedJob::JOB_NAME]).is_some(),
        "an operator's retry revives it"
    );
}

/// Identical pending deduplicated jobs are coalesced; different data is not; a pending
/// duplicate waiting for a retry is made runnable now.
pub fn dedup_coalesces_identical_pending_jobs<S: Storage>(storage: S) {
    assert!(DedupJob { key: 1 }.enqueue(&storage).unwrap().is_some());
    assert_eq!(DedupJob { key: 1 }.enqueue(&storage).unwrap(), None, "coalesced");
    assert!(DedupJob { key: 2 }.enqueue(&storage).unwrap().is_some(), "other data is another job");
    assert_eq!(storage.count_pending().unwrap(), 2);

    let waiting =
        fail(&storage, &[DedupJob::JOB_NAME], "boom", Some(Duration::from_secs(3600))).unwrap();
    assert_eq!(parsed(&waiting), json!({"key": 1}));
    assert_eq!(
        DedupJob { key: 1 }.enqueue(&storage).unwrap(),
        None,
        "coalesced with the waiting job"
    );
    let order: Vec<_> =
        std::iter::from_fn(|| succeed(&storage, &[DedupJob::JOB_NAME])).map(|j| j.id).collect();
    assert_eq!(order.len(), 2, "the waiting duplicate became runnable: {order:?}");
    assert_eq!(storage.count_pending().unwrap(), 0);
}

/// A running job does not absorb a newer identical one: the newer one must still run.
pub fn dedup_does_not_coalesce_with_a_running_job<S: Storage>(storage: S) {
    DedupJob { key: 1 }.enqueue(&storage).unwrap().expect("an id");
    let mut inner = None;
    storage
        .run_next(&JobFilter::Types(&[DedupJob::JOB_NAME]), &mut |_| {
            inner = Some(DedupJob { key: 1 }.enqueue(&storage));
            Outcome::Succeeded
        })
        .unwrap()
        .expect("the job ran");
    let inner = inner.expect("enqueued while running").expect("enqueue works while a job runs");
    assert!(inner.is_some(), "the enqueue during the run made a new job");
    assert_eq!(storage.count_pending().unwrap(), 1, "the new job is pending");
}

/// Many threads enqueuing one deduplicated job at once leave exactly one pending job.
pub fn dedup_concurrent_enqueues_leave_one_pending_job<S: Storage>(storage: S) {
    const THREADS: usize = 8;
    let storage = Arc::new(storage);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let storage = Arc::clone(&storage);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..10)
                    .map(|_| DedupJob { key: 7 }.enqueue(&*storage).map(|id| id.is_some()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut inserted = 0;
    for handle in handles {
        for result in handle.join().expect("enqueuing thread") {
            if result.expect("concurrent enqueue succeeds") {
                inserted += 1;
            }
        }
    }
    assert_eq!(inserted, 1, "exactly one enqueue inserted");
    assert_eq!(storage.count_pending().unwrap(), 1);
}

/// Jobs without `DEDUPLICATED` are stored every time.
pub fn jobs_that_are_not_deduplicated_are_never_coalesced<S: Storage>(storage: S) {
    let a = RecordingJob::new(1).enqueue(&storage).unwrap();
    let b = RecordingJob::new(1).enqueue(&storage).unwrap();
    assert!(a.is_some() && b.is_some() && a != b);
    assert_eq!(storage.count_pending().unwrap(), 2);
}

/// A batch inserts every job and coalesces deduplicated duplicates.
pub fn enqueue_batch_inserts_every_job<S: Storage>(storage: S) {
    let dedup = NewJob::from_job(&DedupJob { key: 3 }).unwrap();
    let jobs = vec![job("a", json!(1), 0), dedup.clone(), job("a", json!(2), 0), dedup];
    let ids = storage.enqueue_batch(&jobs).unwrap();
    assert_eq!(ids.len(), 4);
    assert!(ids[0].is_some() && ids[1].is_some() && ids[2].is_some());
    assert_eq!(ids[3], None, "the second identical deduplicated job is coalesced");
    assert_eq!(storage.count_pending().unwrap(), 3);
    let plain: Vec<NewJob> = (10..13).map(|n| job("a", json!(n), 0)).collect();
    let plain_ids = storage.enqueue_batch(&plain).unwrap();
    assert!(plain_ids.windows(2).all(|w| w[0] < w[1]), "ids ascend with the positions");
    // Each id is the id of the job at its position.
    let stored: std::collections::HashMap<JobId, serde_json::Value> =
        storage.pending_jobs(10).unwrap().into_iter().map(|j| (j.id, j.data)).collect();
    for (id, job) in ids.iter().zip(&jobs).chain(plain_ids.iter().zip(&plain)) {
        if let Some(id) = id {
            assert_eq!(stored.get(id), Some(&job.data), "job {id:?}");
        }
    }
}

/// Stalled jobs are old and not running now.
pub fn stalled_jobs_exclude_running_ones<S: Storage>(storage: S) {
    let first = enqueue(&storage, &job("a", json!(1), 1));
    let second = enqueue(&storage, &job("a", json!(2), 0));
    std::thread::sleep(Duration::from_millis(10));
    let mut seen = None;
    storage
        .run_next(&JobFilter::Types(&["a"]), &mut |running| {
            assert_eq!(running.id, first);
            seen = Some(storage.stalled_jobs(Duration::ZERO));
            Outcome::Failed { error: "boom".into(), retry_in: Some(Duration::ZERO) }
        })
        .unwrap();
    let stalled: Vec<JobId> = seen.expect("ran").unwrap().iter().map(|j| j.id).collect();
    assert_eq!(stalled, vec![second], "the running job is not stalled");
    let after: Vec<JobId> =
        storage.stalled_jobs(Duration::ZERO).unwrap().iter().map(|j| j.id).collect();
    assert_eq!(after, vec![first, second], "oldest first, once nothing runs");
    assert!(
        storage.stalled_jobs(Duration::from_secs(3600)).unwrap().is_empty(),
        "no job is an hour old"
    );
}

/// `failing_jobs(n)` lists jobs with at least `n` failures, most failures first.
pub fn failing_jobs_have_at_least_n_failures<S: Storage>(storage: S) {
    let once = enqueue(&storage, &job("once", json!(1), 0));
    let twice = enqueue(&storage, &job("twice", json!(2), 0));
    enqueue(&storage, &job("never", json!(3), 0));
    fail(&storage, &["once"], "e1", Some(Duration::ZERO)).unwrap();
    fail(&storage, &["twice"], "e1", Some(Duration::ZERO)).unwrap();
    fail(&storage, &["twice"], "e2", Some(Duration::ZERO)).unwrap();
    let ids = |n| storage.failing_jobs(n).unwrap().iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(ids(2), vec![twice]);
    assert_eq!(ids(1), vec![twice, once]);
    assert_eq!(ids(3), Vec::<JobId>::new());
}

/// Operators can retry a waiting job now and delete jobs; unknown ids say so.
pub fn retry_now_and_delete<S: Storage>(storage: S) {
    assert!(!storage.retry_now(JobId(987_654)).unwrap());
    assert!(!storage.delete(JobId(987_654)).unwrap());
    let id = enqueue(&storage, &job("a", json!(1), 0));
    fail(&storage, &["a"], "boom", Some(Duration::from_secs(3600))).unwrap();
    assert!(succeed(&storage, &["a"]).is_none());
    assert!(storage.retry_now(id).unwrap());
    fail(&storage, &["a"], "boom", Some(Duration::from_secs(3600)))
        .expect("runnable after retry_now");
    assert!(storage.delete(id).unwrap());
    assert!(!storage.delete(id).unwrap(), "already deleted");
    assert_eq!(storage.count_pending().unwrap(), 0);
}

/// Deleting a running job is refused with an error naming it.
pub fn running_job_cannot_be_deleted<S: Storage>(storage: S) {
    let id = enqueue(&storage, &job("a", json!(1), 0));
    let mut result = None;
    storage
        .run_next(&JobFilter::Types(&["a"]), &mut |_| {
            result = Some(storage.delete(id));
            Outcome::Succeeded
        })
        .unwrap();
    match result.expect("ran") {
        Err(StorageError::JobRunning(running)) => assert_eq!(running, id),
        other => panic!("deleting a running job must fail with JobRunning, got {other:?}"),
    }
    assert_eq!(storage.count_pending().unwrap(), 0, "the job still finished");
}

/// `pending_jobs` lists jobs in running order, up to the limit, with their data.
pub fn pending_jobs_list_in_running_order<S: Storage>(storage: S) {
    let low = enqueue(&storage, &job("a", json!({"n": 1}), 0));
    let high = enqueue(&storage, &job("b", json!({"n": 2}), 3));
    let later = enqueue(&storage, &job("a", json!({"n": 3}), 0));
    let all = storage.pending_jobs(10).unwrap();
    assert_eq!(all.iter().map(|j| j.id).collect::<Vec<_>>(), vec![high, low, later]);
    assert_eq!(all[0].job_type, "b");
    assert_eq!(all[0].data, json!({"n": 2}));
    assert_eq!(all[0].priority, 3);
    assert_eq!((all[0].retries, all[0].last_error.clone(), all[0].last_retry), (0, None, None));
    assert_eq!(storage.pending_jobs(2).unwrap().len(), 2);
}

/// A panic in a job is a failure with the panic message; the runner goes on.
pub fn panicking_job_is_recorded_as_failure<S: Storage>(storage: S) {
    let storage = Arc::new(storage);
    let journal = Journal::new();
    RecordingJob { key: 1, panic: Some("kaboom".into()), ..RecordingJob::default() }
        .enqueue(&*storage)
        .unwrap();
    RecordingJob::new(2).enqueue(&*storage).unwrap();
    let report = Runner::new(Arc::clone(&storage), fast_config())
        .register::<RecordingJob>(Arc::clone(&journal))
        .run_until_empty()
        .unwrap();
    assert_eq!((report.succeeded, report.failed), (1, 1));
    assert_eq!(journal.ran(), vec![2]);
    let failing = storage.failing_jobs(1).unwrap();
    assert_eq!(failing.len(), 1);
    let error = failing[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("panicked") && error.contains("kaboom"),
        "error names the panic: {error}"
    );
}

/// A row of a type no job is registered for is kept as a failure naming the type.
pub fn unknown_job_type_is_kept_as_failure<S: Storage>(storage: S) {
    let storage = Arc::new(storage);
    let journal = Journal::new();
    let unknown = enqueue(&*storage, &job("no_such_job", json!({}), 0));
    RecordingJob::new(1).enqueue(&*storage).unwrap();
    Runner::new(Arc::clone(&storage), fast_config())
        .register::<RecordingJob>(Arc::clone(&journal))
        .run_until_empty()
        .unwrap();
    assert_eq!(journal.ran(), vec![1], "other jobs still run");
    let failing = storage.failing_jobs(1).unwrap();
    assert_eq!(failing.len(), 1, "the unknown row is kept");
    assert_eq!(failing[0].id, unknown);
    let error = failing[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("no_such_job") && error.contains("not registered"), "{error}");
}

/// With the default configuration a runner claims only the types it registered: a job
/// type that another service queues in the same table is left alone, untouched.
pub fn foreign_job_types_are_left_alone<S: Storage>(storage: S) {
    let storage = Arc::new(storage);
    let journal = Journal::new();
    let foreign = enqueue(&*storage, &job("send_email", json!({"to": "x"}), 0));
    RecordingJob::new(1).enqueue(&*storage).unwrap();
    let config = RunnerConfig { fail_unknown_job_types: false, ..fast_config() };
    let report = Runner::new(Arc::clone(&storage), config)
        .register::<RecordingJob>(Arc::clone(&journal))
        .run_until_empty()
        .unwrap();
    assert_eq!((report.succeeded, report.failed), (1, 0));
    let left = storage.pending_jobs(10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, foreign);
    assert_eq!((left[0].retries, left[0].last_error.as_deref()), (0, None), "untouched");
    assert!(!RunnerConfig::default().fail_unknown_job_types, "the default leaves them alone");
}

/// A retry delay far beyond any policy (`Duration::MAX`) is recorded, clamped to
/// `MAX_RETRY_DELAY`, instead of overflowing a timestamp.
pub fn a_huge_retry_delay_is_recorded<S: Storage>(storage: S) {
    let id = enqueue(&storage, &job("a", json!(1), 0));
    let claimed = storage
        .run_batch(Claim::types(&["a"], 1), &mut |jobs| {
            vec![
                Outcome::Failed { error: "later".into(), retry_in: Some(Duration::MAX) };
                jobs.len()
            ]
        })
        .unwrap();
    assert_eq!(claimed, 1);
    let failing = storage.failing_jobs(1).unwrap();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].id, id);
    let run_at = failing[0].run_at.expect("still scheduled");
    let wait = run_at.duration_since(std::time::SystemTime::now()).unwrap_or_default();
    assert!(wait > Duration::from_secs(365 * 24 * 3600), "{wait:?}");
    assert!(wait <= crate::MAX_RETRY_DELAY + Duration::from_secs(60), "{wait:?}");
}

/// A row whose data does not deserialize is kept as a failure with the serde error.
pub fn undeserializable_data_is_kept_as_failure<S: Storage>(storage: S) {
    let storage = Arc::new(storage);
    let journal = Journal::new();
    let bad = enqueue(&*storage, &job(RecordingJob::JOB_NAME, json!({"key": "not a number"}), 0));
    RecordingJob::new(5).enqueue(&*storage).unwrap();
    Runner::new(Arc::clone(&storage), fast_config())
        .register::<RecordingJob>(Arc::clone(&journal))
        .run_until_empty()
        .unwrap();
    assert_eq!(journal.ran(), vec![5]);
    let failing = storage.failing_jobs(1).unwrap();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].id, bad);
    let error = failing[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("does not deserialize") && error.contains(RecordingJob::JOB_NAME),
        "{error}"
    );
}

/// Eight workers over many jobs: every job runs exactly once, never two at a time.
pub fn concurrent_workers_never_run_a_job_twice<S: Storage>(storage: S) {
    const JOBS: u64 = 200;
    let storage = Arc::new(storage);
    let journal = Journal::new();
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|key| {
            NewJob::from_job(&RecordingJob { key, sleep_ms: key % 3, ..RecordingJob::default() })
                .unwrap()
        })
        .collect();
    storage.enqueue_batch(&jobs).unwrap();
    let report = Runner::new(Arc::clone(&storage), fast_config())
        .register::<RecordingJob>(Arc::clone(&journal))
        .workers(crate::DEFAULT_QUEUE, 8)
        .run_until_empty()
        .unwrap();
    assert_eq!(report.succeeded, JOBS);
    let mut ran = journal.ran();
    ran.sort_unstable();
    assert_eq!(ran, (0..JOBS).collect::<Vec<_>>(), "every job ran exactly once");
    assert_eq!(journal.overlaps(), Vec::<u64>::new());
    assert_eq!(storage.count_pending().unwrap(), 0);
}

/// Shutdown stops claiming and lets the running job finish within the grace period; a job
/// still running when the grace period ends is reported, not lost.
pub fn graceful_shutdown_lets_running_jobs_finish<S: Storage>(storage: S) {
    let storage = Arc::new(storage);
    let journal = Journal::new();
    let runner = Runner::new(Arc::clone(&storage), fast_config())
        .register::<RecordingJob>(Arc::clone(&journal))
        .start()
        .unwrap();
    RecordingJob { key: 1, block: true, ..RecordingJob::default() }.enqueue(&*storage).unwrap();
    assert!(journal.wait_started(1, PATIENCE), "the worker picked up the job");
    let releaser = {
        let journal = Arc::clone(&journal);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            journal.release();
        })
    };
    let report = runner.shutdown(PATIENCE);
    releaser.join().unwrap();
    assert_eq!(report.unfinished_workers, 0);
    assert_eq!(journal.ran(), vec![1], "the running job finished");
    assert_eq!(storage.count_pending().unwrap(), 0, "and was recorded as done");
    RecordingJob::new(2).enqueue(&*storage).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(journal.started(), 1, "nothing is claimed after shutdown");

    let blocked = Journal::new();
    let runner = Runner::new(Arc::clone(&storage), fast_config())
        .register::<RecordingJob>(Arc::clone(&blocked))
        .start()
        .unwrap();
    RecordingJob { key: 3, block: true, ..RecordingJob::default() }.enqueue(&*storage).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while !blocked.ran().contains(&2) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(blocked.wait_started(2, PATIENCE), "jobs 2 and 3 started");
    let report = runner.shutdown(Duration::from_millis(50));
    assert_eq!(report.unfinished_workers, 1, "the blocked job outlived the grace period");
    blocked.release();
}

/// Drain mode runs every runnable job and returns.
pub fn drain_runs_every_runnable_job<S: Storage>(storage: S) {
    let storage = Arc::new(storage);
    let journal = Journal::new();
    for key in 0..50 {
        RecordingJob::new(key).enqueue(&*storage).unwrap();
    }
    let report = Runner::new(Arc::clone(&storage), fast_config())
        .register::<RecordingJob>(Arc::clone(&journal))
        .workers(crate::DEFAULT_QUEUE, 2)
        .run_until_empty()
        .unwrap();
    assert_eq!((report.succeeded, report.failed), (50, 0));
    assert_eq!(journal.ran().into_iter().collect::<BTreeSet<_>>(), (0..50).collect());
    assert_eq!(storage.count_pending().unwrap(), 0);
}

/// Idle workers notice jobs enqueued after they started.
pub fn idle_workers_pick_up_new_jobs<S: Storage>(storage: S) {
    let storage = Arc::new(storage);
    let journal = Journal::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let runner = Runner::new(Arc::clone(&storage), fast_config())
        .register::<RecordingJob>(Arc::clone(&journal))
        .on_event(move |e| sink.lock().unwrap_or_else(|e| e.into_inner()).push(e.clone()))
        .start()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    RecordingJob::new(9).enqueue(&*storage).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while journal.ran().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(runner.shutdown(PATIENCE).unfinished_workers, 0);
    assert_eq!(journal.ran(), vec![9]);
    let kinds: Vec<&str> = events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|e| match e {
            crate::Event::Started { .. } => "started",
            crate::Event::Succeeded { .. } => "succeeded",
            crate::Event::Failed { .. } => "failed",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, vec!["started", "succeeded"]);
}

/// A batch claim takes up to the limit in running order and records each job's outcome.
pub fn batch_claims_record_each_outcome<S: Storage>(storage: S) {
    let first = enqueue(&storage, &job("a", json!(1), 0));
    let second = enqueue(&storage, &job("a", json!(2), 5));
    let third = enqueue(&storage, &job("a", json!(3), 0));
    let mut seen = Vec::new();
    let claimed = storage
        .run_batch(Claim::types(&["a"], 2), &mut |jobs| {
            seen = jobs.iter().map(|j| j.id).collect();
            vec![
                Outcome::Succeeded,
                Outcome::Failed { error: "boom".into(), retry_in: Some(Duration::from_secs(3600)) },
            ]
        })
        .unwrap();
    assert_eq!(claimed, 2);
    assert_eq!(seen, vec![second, first], "running order, at most the limit");
    let left: Vec<JobId> = storage.pending_jobs(10).unwrap().iter().map(|j| j.id).collect();
    assert_eq!(left, vec![first, third], "the succeeded job is gone, the failed one kept");
    assert_eq!(storage.failing_jobs(1).unwrap()[0].last_error.as_deref(), Some("boom"));
    assert_eq!(storage.run_batch(Claim::types(&["none"], 5), &mut |_| Vec::new()).unwrap(), 0);
}

/// A batch claim fills up across priorities in running order, past a priority whose jobs
/// all wait for a retry, and never returns a job twice.
pub fn batch_claims_span_priorities<S: Storage>(storage: S) {
    let waiting = enqueue(&storage, &job("a", json!("waiting"), 9));
    let later =
        Outcome::Failed { error: "later".into(), retry_in: Some(Duration::from_secs(3600)) };
    assert_eq!(
        storage.run_batch(Claim::types(&["a"], 1), &mut |_| vec![later.clone()]).unwrap(),
        1
    );
    let claim_all = || {
        let mut seen = Vec::new();
        storage
            .run_batch(Claim::types(&["a"], 10), &mut |jobs| {
                seen = jobs.iter().map(|j| j.id).collect();
                vec![Outcome::Succeeded; jobs.len()]
            })
            .unwrap();
        seen
    };
    // Nothing runnable at the highest priority.
    let high = enqueue(&storage, &job("a", json!(1), 5));
    let low = enqueue(&storage, &job("a", json!(2), 0));
    let lower = enqueue(&storage, &job("a", json!(3), -3));
    assert_eq!(claim_all(), vec![high, low, lower]);
    // A runnable job beside the waiting one at the highest priority.
    let top = enqueue(&storage, &job("a", json!(4), 9));
    let low = enqueue(&storage, &job("a", json!(5), 0));
    let first_low = enqueue(&storage, &job("a", json!(6), 5));
    assert_eq!(claim_all(), vec![top, first_low, low]);
    let left: Vec<JobId> = storage.pending_jobs(10).unwrap().iter().map(|j| j.id).collect();
    assert_eq!(left, vec![waiting], "only the job waiting for its retry is left");
}

/// A job whose retry time has come runs in its priority's turn again: before the jobs of
/// lower priorities that were runnable all along.
pub fn a_due_retry_keeps_its_priority<S: Storage>(storage: S) {
    let high = enqueue(&storage, &job("a", json!("high"), 5));
    let lows: Vec<JobId> = (0..3).map(|n| enqueue(&storage, &job("a", json!(n), 0))).collect();
    let retry_in = Duration::from_millis(300);
    let failed = fail(&storage, &["a"], "boom", Some(retry_in)).expect("the job");
    assert_eq!(failed.id, high, "the highest priority runs first");
    assert_eq!(succeed(&storage, &["a"]).map(|j| j.id), Some(lows[0]), "then the next one");
    std::thread::sleep(retry_in + Duration::from_millis(100));
    assert_eq!(
        succeed(&storage, &["a"]).map(|j| j.id),
        Some(high),
        "the retried job comes back before the lower priority's"
    );
    let rest: Vec<JobId> = std::iter::from_fn(|| succeed(&storage, &["a"]).map(|j| j.id)).collect();
    assert_eq!(rest, lows[1..].to_vec());
}

/// A callback that returns the wrong number of outcomes gets an error; nothing is recorded
/// and the claims are released, so the jobs run again at once.
pub fn a_wrong_outcome_count_records_nothing<S: Storage>(storage: S) {
    let first = enqueue(&storage, &job("a", json!(1), 0));
    let second = enqueue(&storage, &job("a", json!(2), 0));
    for outcomes in [vec![Outcome::Succeeded], vec![Outcome::Succeeded; 3], Vec::new()] {
        let err = storage
            .run_batch(Claim::types(&["a"], 2), &mut |_| outcomes.clone())
            .expect_err("a wrong number of outcomes is an error");
        assert!(matches!(err, StorageError::Outcomes { claimed: 2, .. }), "{err}");
        let pending = storage.pending_jobs(10).unwrap();
        assert_eq!(pending.iter().map(|j| j.id).collect::<Vec<_>>(), vec![first, second]);
        assert!(
            pending.iter().all(|j| j.retries == 0 && j.last_error.is_none()),
            "nothing recorded"
        );
    }
    let mut seen = 0;
    let claimed = storage
        .run_batch(Claim::types(&["a"], 2), &mut |jobs| {
            seen = jobs.len();
            vec![Outcome::Succeeded; jobs.len()]
        })
        .unwrap();
    assert_eq!((claimed, seen), (2, 2), "the released jobs are claimable at once");
    assert_eq!(storage.count_pending().unwrap(), 0);
}

/// A callback that unwinds records nothing, and the claims are released as a crashed
/// worker's would be: the jobs run again at once, and the storage goes on working.
pub fn an_unwinding_callback_records_nothing<S: Storage>(storage: S) {
    let id = enqueue(&storage, &job("a", json!(1), 0));
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        storage.run_batch(Claim::types(&["a"], 1), &mut |_| panic!("the callback fell over"))
    }));
    assert!(unwound.is_err(), "the panic reaches the caller");
    let pending = storage.pending_jobs(10).unwrap();
    assert_eq!(pending.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
    assert!(pending[0].retries == 0 && pending[0].last_error.is_none(), "nothing recorded");
    // Every connection of a pool gets used again: none came back holding the claim.
    for _ in 0..12 {
        let claimed = storage.run_batch(Claim::types(&["none"], 1), &mut |_| Vec::new()).unwrap();
        assert_eq!(claimed, 0);
    }
    let claimed = storage
        .run_batch(Claim::types(&["a"], 1), &mut |jobs| vec![Outcome::Succeeded; jobs.len()])
        .unwrap();
    assert_eq!(claimed, 1, "the released job is claimable at once");
    assert_eq!(storage.count_pending().unwrap(), 0);
}

/// A job type with `BATCH_SIZE` runs in batches through the runner; each job's result is
/// recorded on its own.
pub fn batched_job_types_run_in_batches<S: Storage>(storage: S) {
    let storage = Arc::new(storage);
    let jobs: Vec<NewJob> =
        (1..=25).map(|key| NewJob::from_job(&BatchJob { key }).unwrap()).collect();
    storage.enqueue_batch(&jobs).unwrap();
    let log = Arc::new(BatchLog::default());
    let report = Runner::new(Arc::clone(&storage), fast_config())
        .register::<BatchJob>(Arc::clone(&log))
        .run_until_empty()
        .unwrap();
    assert_eq!((report.succeeded, report.failed), (20, 5));
    assert_eq!(*log.sizes.lock().unwrap(), vec![10, 10, 5]);
    let failing: Vec<serde_json::Value> =
        storage.failing_jobs(1).unwrap().into_iter().map(|j| j.data).collect();
    assert_eq!(failing, (1..=5).map(|n| json!({"key": n * 5})).collect::<Vec<_>>());
}

/// The lease the claim-holding checks give a storage that has leases.
pub const SHORT_LEASE: Duration = Duration::from_millis(600);

/// A job that runs four times longer than [`SHORT_LEASE`] stays held the whole time: no
/// other claim takes it, a deduplicated enqueue makes a new job instead of merging into it,
/// and it is completed exactly once. The storage comes with a lease of [`SHORT_LEASE`]
/// where it has leases.
pub fn a_job_outliving_its_lease_is_held_and_completed_once<S: Storage>(storage: S) {
    let storage = Arc::new(storage);
    let types = [DedupJob::JOB_NAME];
    let first = DedupJob { key: 7 }.enqueue(&*storage).unwrap().expect("an id");
    let runs = Arc::new(Mutex::new(Vec::new()));
    let (running, enqueued) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let worker = {
        let (storage, runs) = (Arc::clone(&storage), Arc::clone(&runs));
        let (running, enqueued) = (Arc::clone(&running), Arc::clone(&enqueued));
        std::thread::spawn(move || {
            storage.run_batch(Claim::types(&types, 1), &mut |jobs| {
                runs.lock().unwrap().extend(jobs.iter().map(|j| j.id));
                running.wait();
                std::thread::sleep(SHORT_LEASE * 4);
                // Still held: the enqueue below happened while this job ran.
                enqueued.wait();
                vec![Outcome::Succeeded; jobs.len()]
            })
        })
    };
    running.wait();
    let deadline = Instant::now() + SHORT_LEASE * 3;
    while Instant::now() < deadline {
        let claimed = storage
            .run_batch(Claim::types(&types, 10), &mut |jobs| {
                runs.lock().unwrap().extend(jobs.iter().map(|j| j.id));
                vec![Outcome::Failed { error: "not now".into(), retry_in: None }; jobs.len()]
            })
            .unwrap();
        assert_eq!(claimed, 0, "a held job was claimed by a second worker");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = DedupJob { key: 7 }.enqueue(&*storage).unwrap();
    enqueued.wait();
    let second = second.expect("a new job: a held job must not absorb an enqueue");
    assert_ne!(second, first);
    let result = worker.join().expect("the worker thread");
    assert_eq!(result.unwrap(), 1, "the first worker's outcome was recorded");
    assert_eq!(*runs.lock().unwrap(), vec![first], "the job ran once, by its first worker");
    let left: Vec<JobId> = storage.pending_jobs(10).unwrap().iter().map(|j| j.id).collect();
    assert_eq!(left, vec![second], "the first job is gone; the one enqueued meanwhile waits");
}

/// A job a worker holds is listed by `long_running_jobs` once it has run longer than asked,
/// with when it was claimed; a job nobody holds is not, and neither is one held for less.
pub fn long_running_jobs_are_the_held_ones<S: Storage>(storage: S) {
    let storage = Arc::new(storage);
    let held = enqueue(&*storage, &job("hangs", json!({}), 0));
    let idle = enqueue(&*storage, &job("waits", json!({}), 0));
    let (running, checked) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let before_claim = std::time::SystemTime::now();
    let worker = {
        let storage = Arc::clone(&storage);
        let (running, checked) = (Arc::clone(&running), Arc::clone(&checked));
        std::thread::spawn(move || {
            storage.run_batch(Claim::types(&["hangs"], 1), &mut |jobs| {
                running.wait();
                checked.wait();
                vec![Outcome::Succeeded; jobs.len()]
            })
        })
    };
    running.wait();
    let listed = storage.long_running_jobs(Duration::from_secs(3600)).unwrap();
    assert!(listed.is_empty(), "held for less than an hour: {listed:?}");
    std::thread::sleep(Duration::from_millis(300));
    let listed = storage.long_running_jobs(Duration::from_millis(200)).unwrap();
    let ids: Vec<JobId> = listed.iter().map(|r| r.job.id).collect();
    assert_eq!(ids, vec![held], "only the held job, not {idle}");
    assert_eq!(listed[0].job.job_type, "hangs");
    let since = listed[0].since;
    // Database clocks may differ from this process's by a little.
    let slack = Duration::from_secs(5);
    assert!(
        since + slack >= before_claim && since <= std::time::SystemTime::now() + slack,
        "claimed at {since:?}"
    );
    checked.wait();
    assert_eq!(worker.join().expect("the worker thread").unwrap(), 1);
    assert!(storage.long_running_jobs(Duration::ZERO).unwrap().is_empty(), "nothing held now");
}
