//! Job types the conformance suite runs, usable by other tests too.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::job::Job;

/// What [`RecordingJob`]s did: the order they ran in, and whether two ran at once.
#[derive(Debug, Default)]
pub struct Journal {
    state: Mutex<JournalState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct JournalState {
    ran: Vec<u64>,
    running: BTreeMap<u64, usize>,
    overlaps: Vec<u64>,
    started: usize,
    release: bool,
}

impl Journal {
    /// A new, shared journal.
    pub fn new() -> Arc<Journal> {
        Arc::new(Journal::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JournalState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keys of the jobs that finished, in the order they finished.
    pub fn ran(&self) -> Vec<u64> {
        self.lock().ran.clone()
    }

    /// Keys of jobs that started while another run of the same key was still running.
    pub fn overlaps(&self) -> Vec<u64> {
        self.lock().overlaps.clone()
    }

    /// How many runs started.
    pub fn started(&self) -> usize {
        self.lock().started
    }

    /// Waits until `n` runs started, for up to `timeout`; returns whether they did.
    pub fn wait_started(&self, n: usize, timeout: Duration) -> bool {
        let guard = self.lock();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |s| s.started < n)
            .unwrap_or_else(|e| e.into_inner());
        guard.started >= n
    }

    /// Lets blocked jobs ([`RecordingJob::block`]) finish.
    pub fn release(&self) {
        self.lock().release = true;
        self.changed.notify_all();
    }
}

/// A job that records its `key` in a [`Journal`], and optionally fails, panics or blocks
/// until [`Journal::release`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingJob {
    /// What the journal records.
    pub key: u64,
    /// Return an error with this text.
    pub fail: Option<String>,
    /// Panic with this text.
    pub panic: Option<String>,
    /// Wait for [`Journal::release`] before finishing.
    pub block: bool,
    /// Sleep this many milliseconds before finishing.
    pub sleep_ms: u64,
}

impl RecordingJob {
    /// A job that succeeds and records `key`.
    pub fn new(key: u64) -> RecordingJob {
        RecordingJob { key, ..RecordingJob::default() }
    }
}

impl Job for RecordingJob {
    const JOB_NAME: &'static str = "recording_job";
    type Context = Journal;

    fn run(&self, journal: &Journal) -> anyhow::Result<()> {
        {
            let mut state = journal.lock();
            state.started += 1;
            let running = state.running.entry(self.key).or_insert(0);
            *running += 1;
            if *running > 1 {
                state.overlaps.push(self.key);
            }
            journal.changed.notify_all();
        }
        if self.block {
            let guard = journal.lock();
            let _guard = journal
                .changed
                .wait_while(guard, |s| !s.release)
                .unwrap_or_else(|e| e.into_inner());
        }
        if self.sleep_ms > 0 {
            std::thread::sleep(Duration::from_millis(self.sleep_ms));
        }
        let mut state = journal.lock();
        if let Some(running) = state.running.get_mut(&self.key) {
            *running -= 1;
        }
        if let Some(message) = &self.panic {
            drop(state);
            panic!("{message}");
        }
        if let Some(message) = &self.fail {
            anyhow::bail!("{message}");
        }
        state.ran.push(self.key);
        Ok(())
    }
}

/// A deduplicated job type, for the deduplication checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DedupJob {
    pub(crate) key: u64,
}

impl Job for DedupJob {
    const JOB_NAME: &'static str = "dedup_job";
    const DEDUPLICATED: bool = true;
    type Context = ();

    fn run(&self, _: &()) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A job with a retry limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LimitedJob;

impl Job for LimitedJob {
    const JOB_NAME: &'static str = "limited_job";
    const MAX_RETRIES: Option<u32> = Some(1);
    type Context = ();

    fn run(&self, _: &()) -> anyhow::Result<()> {
        anyhow::bail!("limited job always fails")
    }
}

/// A batched job type: records the size of each batch; keys divisible by 5 fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BatchJob {
    pub(crate) key: u64,
}

/// The batch sizes [`BatchJob`]s ran in.
#[derive(Debug, Default)]
pub(crate) struct BatchLog {
    pub(crate) sizes: Mutex<Vec<usize>>,
}

impl Job for BatchJob {
    const JOB_NAME: &'static str = "batch_job";
    const BATCH_SIZE: usize = 10;
    type Context = BatchLog;

    fn run(&self, _: &BatchLog) -> anyhow::Result<()> {
        anyhow::bail!("batch jobs run through run_batch")
    }

    fn run_batch(jobs: &[Self], log: &BatchLog) -> Vec<anyhow::Result<()>> {
        log.sizes.lock().unwrap_or_else(|e| e.into_inner()).push(jobs.len());
        jobs.iter()
            .map(|job| {
                if job.key % 5 == 0 {
                    Err(anyhow::anyhow!("key {} is a multiple of 5", job.key))
                } else {
                    Ok(())
                }
            })
            .collect()
    }
}
