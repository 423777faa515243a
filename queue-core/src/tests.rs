use std::time::Duration;

use crate::runner::truncate_error;
use crate::storage::JobFilter;
use crate::{MemoryStorage, RetryPolicy, MAX_ERROR_LEN};

mod memory_conformance {
    crate::storage_conformance_tests!(|| (crate::MemoryStorage::new(), ()));
    crate::storage_lease_tests!(|_lease| (crate::MemoryStorage::new(), ()));
}

#[test]
fn backoff_doubles_and_is_capped() {
    let policy = RetryPolicy::default();
    let minutes: Vec<u64> = (1..=10).map(|n| policy.delay(n).as_secs() / 60).collect();
    insta::assert_snapshot!(format!("{minutes:?}"), @"[1, 2, 4, 8, 16, 32, 60, 60, 60, 60]");
    assert_eq!(policy.delay(u32::MAX), Duration::from_secs(3600), "no overflow");
}

#[test]
fn retry_limit_counts_retries_after_the_first_run() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.next_attempt(1, Some(0)), None);
    assert!(policy.next_attempt(1, Some(1)).is_some());
    assert_eq!(policy.next_attempt(2, Some(1)), None);
    assert!(policy.next_attempt(1_000, None).is_some(), "no limit: retried forever");
}

#[test]
fn long_errors_are_cut_on_a_character_boundary() {
    let error = "é".repeat(MAX_ERROR_LEN);
    let cut = truncate_error(error);
    assert!(cut.len() <= MAX_ERROR_LEN);
    assert!(cut.ends_with("... (truncated)"));
    assert_eq!(truncate_error("short".into()), "short");
    // Redacted before the cut, so a URL cut in half can't keep its password.
    let long = format!(
        "{} fetching https://bot:T0KEN@git.example.com/index.git",
        "x".repeat(MAX_ERROR_LEN - 40)
    );
    let cut = truncate_error(long);
    assert!(!cut.contains("T0KEN") && !cut.contains("bot:"), "{cut}");
}

#[test]
fn filters_match_types() {
    assert!(JobFilter::Types(&["a"]).matches("a"));
    assert!(!JobFilter::Types(&["a"]).matches("b"));
    assert!(JobFilter::AllExcept(&["a"]).matches("b"));
    assert!(!JobFilter::AllExcept(&["a"]).matches("a"));
}

#[test]
fn memory_storage_starts_empty() {
    use crate::Storage as _;
    let storage = MemoryStorage::new();
    assert_eq!(storage.count_pending().unwrap(), 0);
    assert!(storage.pending_jobs(10).unwrap().is_empty());
}

/// The events of a small scenario, in order, on one worker: what a binary's log shows.
#[test]
fn events_of_a_scenario() {
    use std::sync::{Arc, Mutex};

    use crate::testing::{Journal, RecordingJob};
    use crate::{Event, Job as _, NewJob, Runner, RunnerConfig, Storage as _};

    let storage = Arc::new(MemoryStorage::new());
    RecordingJob::new(1).enqueue(&*storage).unwrap();
    RecordingJob { key: 2, fail: Some("remote hung up".into()), ..Default::default() }
        .enqueue(&*storage)
        .unwrap();
    RecordingJob { key: 3, panic: Some("index out of bounds".into()), ..Default::default() }
        .enqueue(&*storage)
        .unwrap();
    let unknown = NewJob {
        job_type: "retired_job".into(),
        data: serde_json::json!({"crate": "foo"}),
        priority: 0,
        deduplicated: false,
    };
    storage.enqueue(&unknown).unwrap();

    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    // The sweep of unregistered types is on, so the retired row shows as a failure.
    let config = RunnerConfig { fail_unknown_job_types: true, ..RunnerConfig::default() };
    Runner::new(Arc::clone(&storage), config)
        .register::<RecordingJob>(Journal::new())
        .on_event(move |event| {
            let line = match event {
                Event::Started { queue, id, job_type, retries } => {
                    format!("[{queue}] started {job_type} #{id} (retries {retries})")
                }
                Event::Succeeded { queue, id, job_type, .. } => {
                    format!("[{queue}] succeeded {job_type} #{id}")
                }
                Event::Failed { queue, id, job_type, error, retry_in, .. } => {
                    format!("[{queue}] failed {job_type} #{id}: {error} (retry in {retry_in:?})")
                }
                Event::StorageFailed { queue, error } => format!("[{queue}] storage: {error}"),
                Event::WorkerPanicked { queue, message } => {
                    format!("[{queue}] panicked: {message}")
                }
            };
            sink.lock().unwrap().push(line);
        })
        .run_until_empty()
        .unwrap();
    let lines = lines.lock().unwrap().join("\n");
    insta::assert_snapshot!(lines);
}

#[test]
fn no_policy_waits_longer_than_the_cap() {
    let policy = RetryPolicy { base: Duration::MAX, max: Duration::MAX };
    assert_eq!(policy.delay(1), crate::MAX_RETRY_DELAY);
    assert_eq!(policy.delay(u32::MAX), crate::MAX_RETRY_DELAY);
    let small = RetryPolicy { base: Duration::from_secs(1), max: Duration::from_secs(8) };
    assert_eq!(small.delay(1), Duration::from_secs(1));
    assert_eq!(small.delay(40), Duration::from_secs(8));
}

/// A memory storage with a fault in its claim.
struct FaultyStorage(MemoryStorage, Fault);

enum Fault {
    /// The claim panics: the worker's panic happens outside any job.
    Panic,
    /// The jobs run, then the claim turns out lost (a lapsed lease, a killed session): the
    /// jobs stay and the call fails with `NotRecorded`.
    LoseClaim,
}

impl crate::Storage for FaultyStorage {
    fn enqueue(&self, job: &crate::NewJob) -> Result<Option<crate::JobId>, crate::StorageError> {
        self.0.enqueue(job)
    }
    fn run_batch(
        &self,
        claim: crate::storage::Claim<'_>,
        run: &mut crate::storage::RunJobs<'_>,
    ) -> Result<usize, crate::StorageError> {
        match self.1 {
            Fault::Panic => panic!("the claim query's driver fell over"),
            Fault::LoseClaim => {
                let mut ran = Vec::new();
                self.0.run_batch(claim, &mut |jobs| {
                    run(jobs);
                    ran.extend(jobs.iter().map(|job| job.id));
                    let kept = crate::storage::Outcome::Failed {
                        error: "kept".into(),
                        retry_in: Some(Duration::from_secs(3600)),
                    };
                    vec![kept; jobs.len()]
                })?;
                if ran.is_empty() {
                    return Ok(0);
                }
                Err(crate::StorageError::NotRecorded {
                    jobs: ran,
                    reason: "terminating connection due to administrator command".into(),
                })
            }
        }
    }
    fn count_pending(&self) -> Result<u64, crate::StorageError> {
        self.0.count_pending()
    }
    fn pending_jobs(&self, limit: usize) -> Result<Vec<crate::JobInfo>, crate::StorageError> {
        self.0.pending_jobs(limit)
    }
    fn stalled_jobs(
        &self,
        older_than: Duration,
    ) -> Result<Vec<crate::JobInfo>, crate::StorageError> {
        self.0.stalled_jobs(older_than)
    }
    fn long_running_jobs(
        &self,
        longer_than: Duration,
    ) -> Result<Vec<crate::RunningJob>, crate::StorageError> {
        self.0.long_running_jobs(longer_than)
    }
    fn failing_jobs(&self, min_failures: u32) -> Result<Vec<crate::JobInfo>, crate::StorageError> {
        self.0.failing_jobs(min_failures)
    }
    fn retry_now(&self, id: crate::JobId) -> Result<bool, crate::StorageError> {
        self.0.retry_now(id)
    }
    fn delete(&self, id: crate::JobId) -> Result<bool, crate::StorageError> {
        self.0.delete(id)
    }
}

#[test]
fn a_worker_that_panics_outside_a_job_is_reported() {
    use std::sync::{Arc, Mutex};

    use crate::testing::{Journal, RecordingJob};
    use crate::{Event, Job as _, Runner, RunnerConfig, RunnerError};

    let storage = Arc::new(FaultyStorage(MemoryStorage::new(), Fault::Panic));
    RecordingJob::new(1).enqueue(&*storage).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let result = Runner::new(Arc::clone(&storage), RunnerConfig::default())
        .register::<RecordingJob>(Journal::new())
        .on_event(move |event| sink.lock().unwrap().push(event.clone()))
        .run_until_empty();
    match result {
        Err(RunnerError::WorkerPanicked { queue, message }) => {
            assert_eq!(queue, "default");
            assert_eq!(message, "the claim query's driver fell over");
        }
        other => panic!("expected WorkerPanicked, got {other:?}"),
    }
    let events = events.lock().unwrap();
    assert!(
        events.iter().any(
            |e| matches!(e, Event::WorkerPanicked { message, .. } if message.contains("fell over"))
        ),
        "{events:?}"
    );
}

#[test]
fn a_job_whose_outcome_was_not_recorded_is_not_a_success() {
    use std::sync::{Arc, Mutex};

    use crate::testing::{Journal, RecordingJob};
    use crate::{Event, Job as _, Runner, RunnerConfig, RunnerError, Storage as _, StorageError};

    let storage = Arc::new(FaultyStorage(MemoryStorage::new(), Fault::LoseClaim));
    let id = RecordingJob::new(1).enqueue(&*storage).unwrap().unwrap();
    let journal = Journal::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let result = Runner::new(Arc::clone(&storage), RunnerConfig::default())
        .register::<RecordingJob>(Arc::clone(&journal))
        .on_event(move |event| sink.lock().unwrap().push(event.clone()))
        .run_until_empty();
    match result {
        Err(RunnerError::Storage(StorageError::NotRecorded { jobs, reason })) => {
            assert_eq!(jobs, vec![id]);
            assert!(reason.contains("administrator command"), "{reason}");
        }
        other => panic!("expected NotRecorded, got {other:?}"),
    }
    assert_eq!(journal.ran(), vec![1], "the job ran");
    assert_eq!(storage.count_pending().unwrap(), 1, "and is still there to run again");
    let events = events.lock().unwrap();
    let failed = events.iter().find_map(|e| match e {
        Event::StorageFailed { error, .. } => Some(error.clone()),
        _ => None,
    });
    let failed = failed.expect("a StorageFailed event");
    assert!(failed.contains(&format!("job(s) {id} were not recorded")), "{failed}");
}
