//! The runner: worker threads per queue that claim, run and record jobs.
//!
//! - `mod.rs`: [`Runner`], the builder (register job types, size queues, start or drain);
//! - `worker.rs`: the worker loop and starting the threads;
//! - `execute.rs`: running a claimed batch, one outcome per job, panics caught;
//! - `handle.rs`: [`RunnerHandle`] and graceful shutdown;
//! - `signal.rs`: the wake-up of idle workers; `event.rs`: [`Event`]; `config.rs`:
//!   [`RunnerConfig`].

mod config;
mod event;
mod execute;
mod handle;
mod signal;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use crate::job::Job;
use crate::storage::{Storage, StorageError, Waker};

#[cfg(test)]
pub(crate) use config::truncate_error;
pub use config::{RunnerConfig, MAX_ERROR_LEN};
pub use event::Event;
use execute::{Hook, Registered, Shared};
pub use handle::RunnerHandle;
use signal::Signal;
use worker::{spawn_workers, Mode};

/// Why a runner could not start or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// Two registered job types share a name.
    #[error("job type `{0}` is registered twice")]
    DuplicateJobType(String),
    /// No job type was registered.
    #[error("no job types are registered: call Runner::register before starting")]
    NoJobTypes,
    /// Workers were configured for a queue no registered job type runs on.
    #[error("queue `{0}` has workers configured but no registered job type runs on it")]
    EmptyQueue(String),
    /// The storage cannot run as many jobs at once as there are workers.
    #[error("{workers} workers need {workers} concurrent claims but the storage allows {capacity}: enlarge the connection pool or use fewer workers")]
    TooFewConnections {
        /// The number of workers configured.
        workers: usize,
        /// What the storage allows.
        capacity: usize,
    },
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A worker thread panicked outside a job; see [`Event::WorkerPanicked`].
    #[error("a worker of queue `{queue}` panicked outside a job: {message}")]
    WorkerPanicked {
        /// The worker's queue.
        queue: String,
        /// The panic's message.
        message: String,
    },
    /// A worker thread could not be started.
    #[error("cannot start worker thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Runs registered job types on worker threads, one set of workers per queue.
///
/// Within a queue, higher priority runs first, then older jobs. Jobs run on OS threads owned
/// by the runner: no async runtime is needed.
pub struct Runner<S: Storage + ?Sized> {
    storage: Arc<S>,
    config: RunnerConfig,
    jobs: HashMap<&'static str, Registered>,
    workers: BTreeMap<String, usize>,
    hooks: Vec<Hook>,
    error: Option<RunnerError>,
}

impl<S: Storage + ?Sized> fmt::Debug for Runner<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("config", &self.config)
            .field("jobs", &self.jobs.keys().collect::<Vec<_>>())
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

/// What a drain ([`Runner::run_until_empty`]) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Jobs that succeeded.
    pub succeeded: u64,
    /// Job runs that failed (a job failing twice counts twice).
    pub failed: u64,
}

/// What a graceful shutdown found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Workers that had not finished their job when the grace period ended. Their jobs are
    /// not lost: they are released when the process exits (or their lease expires) and run
    /// again.
    pub unfinished_workers: usize,
}

impl<S: Storage + ?Sized> Runner<S> {
    /// A runner over `storage` with `config` and no job types yet.
    pub fn new(storage: Arc<S>, config: RunnerConfig) -> Runner<S> {
        Runner {
            storage,
            config,
            jobs: HashMap::new(),
            workers: BTreeMap::new(),
            hooks: Vec::new(),
            error: None,
        }
    }

    /// Registers job type `J` with the context its jobs run in. The job type runs on
    /// `J::QUEUE`, which gets one worker unless [`Runner::workers`] says otherwise.
    pub fn register<J: Job>(mut self, context: impl Into<Arc<J::Context>>) -> Runner<S> {
        let registered = Registered::new::<J>(context.into());
        if self.jobs.insert(J::JOB_NAME, registered).is_some() && self.error.is_none() {
            self.error = Some(RunnerError::DuplicateJobType(J::JOB_NAME.to_owned()));
        }
        self.workers.entry(J::QUEUE.to_owned()).or_insert(1);
        self
    }

    /// Sets the number of worker threads of `queue` (at least one).
    pub fn workers(mut self, queue: &str, count: usize) -> Runner<S> {
        self.workers.insert(queue.to_owned(), count.max(1));
        self
    }

    /// Calls `hook` for every [`Event`]. A panicking hook is ignored.
    pub fn on_event(mut self, hook: impl Fn(&Event) + Send + Sync + 'static) -> Runner<S> {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// Starts the workers and returns their handle at once. Stop them with
    /// [`RunnerHandle::shutdown`].
    pub fn start(self) -> Result<RunnerHandle, RunnerError> {
        let launched = self.launch(Mode::Serve)?;
        Ok(RunnerHandle {
            shared: launched.shared,
            threads: launched.threads,
            done: launched.done,
            subscription: launched.subscription,
        })
    }

    /// Runs until no runnable job is left, then returns: for tests and command-line use.
    /// Jobs that fail are recorded and are not waited for.
    pub fn run_until_empty(self) -> Result<DrainReport, RunnerError> {
        let launched = self.launch(Mode::Drain)?;
        for handle in launched.threads {
            let _ = handle.join();
        }
        let shared = launched.shared;
        if let Some(err) = shared.drain_error.lock().map(|mut e| e.take()).unwrap_or(None) {
            return Err(RunnerError::Storage(err));
        }
        if let Some((queue, message)) =
            shared.worker_panic.lock().map(|mut p| p.take()).unwrap_or(None)
        {
            return Err(RunnerError::WorkerPanicked { queue, message });
        }
        Ok(DrainReport {
            succeeded: shared.succeeded.load(Ordering::Relaxed),
            failed: shared.failed.load(Ordering::Relaxed),
        })
    }

    /// Checks the configuration, then starts the workers in `mode`.
    fn launch(self, mode: Mode) -> Result<Launched<S>, RunnerError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        if self.jobs.is_empty() {
            return Err(RunnerError::NoJobTypes);
        }
        for queue in self.workers.keys() {
            if !self.jobs.values().any(|r| r.queue == queue) {
                return Err(RunnerError::EmptyQueue(queue.clone()));
            }
        }
        let total: usize = self.workers.values().sum();
        if let Some(capacity) = self.storage.max_concurrent_claims() {
            if total > capacity {
                return Err(RunnerError::TooFewConnections { workers: total, capacity });
            }
        }
        let all_types: Vec<&'static str> = self.jobs.keys().copied().collect();
        let shared = Arc::new(Shared {
            storage: self.storage,
            config: self.config,
            jobs: self.jobs,
            all_types,
            hooks: self.hooks,
            signal: Signal::default(),
            stop: AtomicBool::new(false),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            drain_error: Mutex::new(None),
            worker_panic: Mutex::new(None),
        });
        let subscription = if mode == Mode::Drain || !shared.config.use_notifications {
            None
        } else {
            let weak = Arc::downgrade(&shared);
            let waker = Waker::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.signal.wake_one();
                }
            });
            shared.storage.listen(waker)?
        };
        let (done_tx, done) = mpsc::channel();
        let threads = spawn_workers(&shared, &self.workers, mode, &done_tx)?;
        Ok(Launched { shared, threads, done, subscription })
    }
}

/// Started workers and what keeps them going.
struct Launched<S: Storage + ?Sized> {
    shared: Arc<Shared<S>>,
    threads: Vec<JoinHandle<()>>,
    /// One message per worker that ended.
    done: mpsc::Receiver<()>,
    /// The storage's notification subscription, if any.
    subscription: Option<Box<dyn Send>>,
}
