//! Running claimed jobs: each job type's batch handler, panics caught, one outcome per job.

use std::any::Any;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::job::Job;
use crate::storage::{ClaimedJob, Outcome, Storage, StorageError};

use super::config::{truncate_error, RunnerConfig};
use super::event::Event;
use super::handle::Stoppable;
use super::signal::Signal;

/// Runs the jobs of one type given as their stored data; one result per job, in order.
pub(super) type BatchHandler =
    Arc<dyn Fn(&[&serde_json::Value]) -> Vec<Result<(), String>> + Send + Sync>;
/// A function called with every [`Event`].
pub(super) type Hook = Arc<dyn Fn(&Event) + Send + Sync>;

/// A registered job type.
pub(super) struct Registered {
    pub(super) queue: &'static str,
    pub(super) max_retries: Option<u32>,
    pub(super) batch_size: usize,
    pub(super) batch: BatchHandler,
}

impl Registered {
    /// `J`'s entry: its data decoded, its jobs run through [`Job::run_batch`] (one by one
    /// unless `J` batches) with `context`.
    pub(super) fn new<J: Job>(context: Arc<J::Context>) -> Registered {
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
                let mut ran = J::run_batch(&jobs, &context).into_iter();
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
        Registered {
            queue: J::QUEUE,
            max_retries: J::MAX_RETRIES,
            batch_size: J::BATCH_SIZE.max(1),
            batch,
        }
    }
}

/// What every worker of a runner shares: the storage, the registered job types, the
/// hooks, the stop flag and the counters.
pub(super) struct Shared<S: Storage + ?Sized> {
    pub(super) storage: Arc<S>,
    pub(super) config: RunnerConfig,
    pub(super) jobs: HashMap<&'static str, Registered>,
    pub(super) all_types: Vec<&'static str>,
    pub(super) hooks: Vec<Hook>,
    pub(super) signal: Signal,
    pub(super) stop: AtomicBool,
    pub(super) succeeded: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) drain_error: Mutex<Option<StorageError>>,
    /// The first panic of a worker thread outside a job: its queue and message.
    pub(super) worker_panic: Mutex<Option<(String, String)>>,
}

impl<S: Storage + ?Sized> Stoppable for Shared<S> {
    fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.signal.wake();
    }
}

impl<S: Storage + ?Sized> Shared<S> {
    pub(super) fn emit(&self, event: &Event) {
        for hook in &self.hooks {
            let _ = catch_unwind(AssertUnwindSafe(|| hook(event)));
        }
    }

    /// Emits the event `make` builds, building it only when a hook will see it (the events
    /// of every job copy its queue and type).
    fn emit_with(&self, make: impl FnOnce() -> Event) {
        if !self.hooks.is_empty() {
            self.emit(&make());
        }
    }

    fn started(&self, queue: &str, job: &ClaimedJob) {
        self.emit_with(|| Event::Started {
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
    pub(super) fn execute_batch(&self, queue: &str, jobs: &[ClaimedJob]) -> Vec<Outcome> {
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
                self.emit_with(|| Event::Succeeded {
                    queue: queue.to_owned(),
                    id: job.id,
                    job_type: job.job_type.clone(),
                    duration,
                });
                Outcome::Succeeded
            }
            Err(error) => {
                let error = truncate_error(error);
                let max_retries = self.jobs.get(job.job_type.as_str()).and_then(|r| r.max_retries);
                let retry_in = self.config.retry.next_attempt(job.retries + 1, max_retries);
                self.emit_with(|| Event::Failed {
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

pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}
