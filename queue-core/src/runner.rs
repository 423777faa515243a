//! The runner: worker threads per queue that claim, run and record jobs.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::job::{Job, JobId};
use crate::retry::RetryPolicy;
use crate::storage::{ClaimedJob, JobFilter, Outcome, Storage, StorageError, Waker};

/// The longest error text stored with a failed job, in bytes.
pub const MAX_ERROR_LEN: usize = 4096;

/// Settings of a [`Runner`]. Build with struct update syntax over `Default`.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// How often an idle worker looks for jobs when no notification woke it.
    pub poll_interval: Duration,
    /// Backoff for failed jobs.
    pub retry: RetryPolicy,
    /// How long a worker waits after a storage error before it tries again.
    pub storage_error_backoff: Duration,
    /// Claim rows whose job type no registered job has, and record them as failed with an
    /// error naming the type, so operators see them. Turn off when runners with different
    /// job types share one job table.
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
            fail_unknown_job_types: true,
            use_notifications: true,
        }
    }
}

/// Something that happened to a job or a worker, for logs and metrics.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A worker claimed a job and starts running it.
    Started {
        /// The worker's queue.
        queue: String,
        /// The job's id.
        id: JobId,
        /// The job type's name.
        job_type: String,
        /// How many times the job failed before.
        retries: u32,
    },
    /// A job returned `Ok`.
    Succeeded {
        /// The worker's queue.
        queue: String,
        /// The job's id.
        id: JobId,
        /// The job type's name.
        job_type: String,
        /// How long the job ran.
        duration: Duration,
    },
    /// A job returned an error, panicked, or could not be run at all.
    Failed {
        /// The worker's queue.
        queue: String,
        /// The job's id.
        id: JobId,
        /// The job type's name.
        job_type: String,
        /// How long the job ran.
        duration: Duration,
        /// The error stored with the job.
        error: String,
        /// When the job runs again; `None` when its retries are exhausted.
        retry_in: Option<Duration>,
    },
    /// The storage failed; the worker waits and tries again.
    StorageFailed {
        /// The worker's queue.
        queue: String,
        /// The storage's error message.
        error: String,
    },
}

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
    /// A worker thread could not be started.
    #[error("cannot start worker thread: {0}")]
    Thread(#[source] std::io::Error),
}

type BatchHandler = Arc<dyn Fn(&[&serde_json::Value]) -> Vec<Result<(), String>> + Send + Sync>;
type Hook = Arc<dyn Fn(&Event) + Send + Sync>;

struct Registered {
    queue: &'static str,
    max_retries: Option<u32>,
    batch_size: usize,
    batch: BatchHandler,
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
        let batch_context: Arc<J::Context> = context.into();
        let batch: BatchHandler = Arc::new(move |data: &[&serde_json::Value]| {
            let mut results: Vec<Result<(), String>> = Vec::with_capacity(data.len());
            let mut jobs = Vec::new();
            let mut slots = Vec::new();
            for (i, value) in data.iter().enumerate() {
                match J::deserialize(*value) {
                    Ok(job) => {
                        jobs.push(job);
                        slots.push(i);
                        results.push(Ok(()));
                    }
                    Err(e) => results.push(Err(format!(
                        "job data does not deserialize as `{}`: {e}",
                        J::JOB_NAME
                    ))),
                }
            }
            if !jobs.is_empty() {
                let mut ran = J::run_batch(&jobs, &batch_context).into_iter();
                for slot in slots {
                    results[slot] = match ran.next() {
                        Some(Ok(())) => Ok(()),
                        Some(Err(e)) => Err(format!("{e:#}")),
                        None => Err("run_batch returned fewer results than jobs".into()),
                    };
                }
            }
            results
        });
        let registered = Registered {
            queue: J::QUEUE,
            max_retries: J::MAX_RETRIES,
            batch_size: J::BATCH_SIZE.max(1),
            batch,
        };
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

    /// Starts the workers and returns at once. Stop them with [`RunningRunner::shutdown`].
    pub fn start(self) -> Result<RunningRunner, RunnerError> {
        let (shared, threads, done, subscription) = self.spawn(false)?;
        Ok(RunningRunner { shared, threads, done, subscription })
    }

    /// Runs until no runnable job is left, then returns: for tests and command-line use.
    /// Jobs that fail are recorded and are not waited for.
    pub fn run_until_empty(self) -> Result<DrainReport, RunnerError> {
        let (shared, threads, _done, _subscription) = self.spawn(true)?;
        for handle in threads {
            let _ = handle.join();
        }
        if let Some(err) = shared.drain_error.lock().map(|mut e| e.take()).unwrap_or(None) {
            return Err(RunnerError::Storage(err));
        }
        Ok(DrainReport {
            succeeded: shared.succeeded.load(Ordering::Relaxed),
            failed: shared.failed.load(Ordering::Relaxed),
        })
    }

    #[allow(clippy::type_complexity)]
    fn spawn(
        self,
        drain: bool,
    ) -> Result<
        (Arc<Shared<S>>, Vec<JoinHandle<()>>, mpsc::Receiver<()>, Option<Box<dyn Send>>),
        RunnerError,
    > {
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
        });
        let subscription = if drain || !shared.config.use_notifications {
            None
        } else {
            let weak = Arc::downgrade(&shared);
            let waker = Waker::new(move || {
                if let Some(shared) = weak.upgrade() {
                    shared.signal.wake();
                }
            });
            shared.storage.listen(waker)?
        };
        let (done_tx, done_rx) = mpsc::channel();
        let mut threads = Vec::new();
        let mut sweeper = shared.config.fail_unknown_job_types;
        for (queue, &count) in &self.workers {
            let mut types: Vec<&'static str> =
                shared.jobs.iter().filter(|(_, r)| r.queue == queue).map(|(t, _)| *t).collect();
            types.sort_unstable();
            for n in 0..count {
                let batch_size = shared
                    .jobs
                    .values()
                    .filter(|r| r.queue == queue)
                    .map(|r| r.batch_size)
                    .max()
                    .unwrap_or(1);
                let worker = Worker {
                    shared: Arc::clone(&shared),
                    queue: queue.clone(),
                    types: types.clone(),
                    batch_size,
                    sweeper: std::mem::take(&mut sweeper),
                    drain,
                    done: done_tx.clone(),
                };
                let spawned = std::thread::Builder::new()
                    .name(format!("{queue}-worker-{n}"))
                    .spawn(move || worker.run());
                match spawned {
                    Ok(handle) => threads.push(handle),
                    Err(err) => {
                        shared.stop.store(true, Ordering::SeqCst);
                        shared.signal.wake();
                        return Err(RunnerError::Thread(err));
                    }
                }
            }
        }
        Ok((shared, threads, done_rx, subscription))
    }
}

/// A started runner. Dropping it asks the workers to stop without waiting for them.
pub struct RunningRunner {
    shared: Arc<dyn Stoppable>,
    threads: Vec<JoinHandle<()>>,
    done: mpsc::Receiver<()>,
    subscription: Option<Box<dyn Send>>,
}

impl fmt::Debug for RunningRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningRunner").field("workers", &self.threads.len()).finish()
    }
}

impl RunningRunner {
    /// Stops claiming, lets running jobs finish for up to `grace`, then returns.
    pub fn shutdown(mut self, grace: Duration) -> ShutdownReport {
        self.shared.request_stop();
        let deadline = Instant::now() + grace;
        let mut finished = 0;
        while finished < self.threads.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.done.recv_timeout(left) {
                Ok(()) => finished += 1,
                Err(_) => break,
            }
        }
        let unfinished_workers = self.threads.len() - finished;
        if unfinished_workers == 0 {
            for handle in self.threads.drain(..) {
                let _ = handle.join();
            }
        }
        self.subscription = None;
        ShutdownReport { unfinished_workers }
    }
}

impl Drop for RunningRunner {
    fn drop(&mut self) {
        self.shared.request_stop();
    }
}

trait Stoppable: Send + Sync {
    fn request_stop(&self);
}

struct Shared<S: Storage + ?Sized> {
    storage: Arc<S>,
    config: RunnerConfig,
    jobs: HashMap<&'static str, Registered>,
    all_types: Vec<&'static str>,
    hooks: Vec<Hook>,
    signal: Signal,
    stop: AtomicBool,
    succeeded: AtomicU64,
    failed: AtomicU64,
    drain_error: Mutex<Option<StorageError>>,
}

impl<S: Storage + ?Sized> Stoppable for Shared<S> {
    fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.signal.wake();
    }
}

impl<S: Storage + ?Sized> Shared<S> {
    fn emit(&self, event: &Event) {
        for hook in &self.hooks {
            let _ = catch_unwind(AssertUnwindSafe(|| hook(event)));
        }
    }

    fn started(&self, queue: &str, job: &ClaimedJob) {
        self.emit(&Event::Started {
            queue: queue.to_owned(),
            id: job.id,
            job_type: job.job_type.clone(),
            retries: job.retries,
        });
    }

    /// Why a claimed job cannot be run at all, if it cannot.
    fn unrunnable(&self, job: &ClaimedJob) -> Option<String> {
        match (self.jobs.get(job.job_type.as_str()), &job.data) {
            (None, _) => {
                let mut known = self.all_types.clone();
                known.sort_unstable();
                Some(format!(
                    "job type `{}` is not registered with this runner (registered: {})",
                    job.job_type,
                    known.join(", ")
                ))
            }
            (Some(_), Err(err)) => Some(format!("job data is not valid JSON: {err}")),
            (Some(_), Ok(_)) => None,
        }
    }

    /// Runs claimed jobs: those of each job type through its batch handler (a single job is
    /// a batch of one), and returns exactly one outcome per job, in order.
    fn execute_batch(&self, queue: &str, jobs: &[ClaimedJob]) -> Vec<Outcome> {
        jobs.iter().for_each(|job| self.started(queue, job));
        let started = Instant::now();
        let mut results: Vec<Option<Result<(), String>>> =
            jobs.iter().map(|job| self.unrunnable(job).map(Err)).collect();
        let mut types: Vec<&str> = Vec::new();
        for (job, result) in jobs.iter().zip(&results) {
            if result.is_none() && !types.contains(&job.job_type.as_str()) {
                types.push(&job.job_type);
            }
        }
        for job_type in types {
            let Some(registered) = self.jobs.get(job_type) else { continue };
            let slots: Vec<usize> = (0..jobs.len())
                .filter(|&i| results[i].is_none() && jobs[i].job_type == job_type)
                .collect();
            let values: Vec<&serde_json::Value> =
                slots.iter().filter_map(|&i| jobs[i].data.as_ref().ok()).collect();
            let ran = catch_unwind(AssertUnwindSafe(|| (registered.batch)(&values)));
            let mut ran = match ran {
                Ok(ran) => ran.into_iter(),
                Err(payload) => {
                    let what = if slots.len() == 1 { "job" } else { "job batch" };
                    let error = format!("{what} panicked: {}", panic_message(payload.as_ref()));
                    vec![Err(error); slots.len()].into_iter()
                }
            };
            for slot in slots {
                results[slot] =
                    Some(ran.next().unwrap_or_else(|| Err("no result for this job".into())));
            }
        }
        let duration = started.elapsed();
        jobs.iter()
            .zip(results)
            .map(|(job, result)| {
                self.finish(
                    queue,
                    job,
                    result.unwrap_or_else(|| Err("job was not run".into())),
                    duration,
                )
            })
            .collect()
    }

    fn finish(
        &self,
        queue: &str,
        job: &ClaimedJob,
        result: Result<(), String>,
        duration: Duration,
    ) -> Outcome {
        match result {
            Ok(()) => {
                self.succeeded.fetch_add(1, Ordering::Relaxed);
                self.emit(&Event::Succeeded {
                    queue: queue.to_owned(),
                    id: job.id,
                    job_type: job.job_type.clone(),
                    duration,
                });
                Outcome::Succeeded
            }
            Err(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let error = truncate_error(error);
                let max_retries = self.jobs.get(job.job_type.as_str()).and_then(|r| r.max_retries);
                let retry_in = self.config.retry.next_attempt(job.retries + 1, max_retries);
                self.emit(&Event::Failed {
                    queue: queue.to_owned(),
                    id: job.id,
                    job_type: job.job_type.clone(),
                    duration,
                    error: error.clone(),
                    retry_in,
                });
                Outcome::Failed { error, retry_in }
            }
        }
    }
}

struct Worker<S: Storage + ?Sized> {
    shared: Arc<Shared<S>>,
    queue: String,
    types: Vec<&'static str>,
    /// Jobs claimed at once (1: one by one).
    batch_size: usize,
    /// This worker also records rows of unknown job types as failed.
    sweeper: bool,
    drain: bool,
    done: mpsc::Sender<()>,
}

impl<S: Storage + ?Sized> Worker<S> {
    fn run(self) {
        let shared = &self.shared;
        let filter = JobFilter::Types(&self.types);
        let unknown = JobFilter::AllExcept(&shared.all_types);
        while !shared.stop.load(Ordering::SeqCst) {
            let generation = shared.signal.generation();
            let mut run = |jobs: &[ClaimedJob]| shared.execute_batch(&self.queue, jobs);
            let mut claimed = shared.storage.run_batch(&filter, self.batch_size, &mut run);
            if self.sweeper && matches!(claimed, Ok(0)) {
                claimed = shared.storage.run_batch(&unknown, self.batch_size, &mut run);
            }
            match claimed {
                Ok(n) if n > 0 => continue,
                Ok(_) if self.drain => break,
                Ok(_) => shared.signal.wait(generation, shared.config.poll_interval),
                Err(err) => {
                    shared.emit(&Event::StorageFailed {
                        queue: self.queue.clone(),
                        error: redact::redact(&err.to_string()).into_owned(),
                    });
                    if self.drain {
                        if let Ok(mut slot) = shared.drain_error.lock() {
                            slot.get_or_insert(err);
                        }
                        break;
                    }
                    shared.signal.wait(generation, shared.config.storage_error_backoff);
                }
            }
        }
        let _ = self.done.send(());
    }
}

/// Wakes idle workers. A generation counter makes a wake-up that arrives between a worker's
/// empty claim and its wait count: the worker does not sleep through it.
#[derive(Default)]
struct Signal {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Signal {
    fn generation(&self) -> u64 {
        self.generation.lock().map(|g| *g).unwrap_or_else(|e| *e.into_inner())
    }

    fn wake(&self) {
        let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *generation = generation.wrapping_add(1);
        self.changed.notify_all();
    }

    fn wait(&self, seen: u64, timeout: Duration) {
        let guard = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.changed.wait_timeout_while(guard, timeout, |g| *g == seen);
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
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
