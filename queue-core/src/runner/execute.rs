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

/// Runs the jobs of one type given as their stored data (JSON text); one result per job,
/// in order.
pub(super) type BatchHandler = Arc<dyn Fn(&[&str]) -> Vec<Result<(), String>> + Send + Sync>;
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
        let batch: BatchHandler = Arc::new(move |data: &[&str]| {
            let mut results: Vec<Result<(), String>> = Vec::with_capacity(data.len());
            let mut jobs = Vec::with_capacity(data.len());
            let mut slots = Vec::with_capacity(data.len());
            for (i, text) in data.iter().enumerate() {
                match serde_json::from_str::<J>(text) {
                    Ok(job) => {
                        jobs.push(job);
                        slots.push(i);
                        results.push(Ok(()));
                    }
                    Err(e) => results.push(Err(undecodable::<J>(text, &e))),
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

/// Why the stored text `text` did not decode as a `J`: not JSON at all, or JSON of
/// another shape. The type's deserializer can stop at a field it rejects before it reads
/// the rest of the text, so the text is checked on its own before it is called JSON.
fn undecodable<J: Job>(text: &str, err: &serde_json::Error) -> String {
    let syntax = if err.is_syntax() || err.is_eof() {
        Some(err.to_string())
    } else {
        serde_json::from_str::<serde::de::IgnoredAny>(text).err().map(|e| e.to_string())
    };
    match syntax {
        Some(syntax) => {
            let mut shown: String = text.chars().take(200).collect();
            if shown.len() < text.len() {
                shown.push_str("...");
            }
            format!("job data is not valid JSON: {syntax} in stored text {shown:?}")
        }
        None => format!("job data does not deserialize as `{}`: {err}", J::JOB_NAME),
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
        if self.jobs.contains_key(job.job_type.as_str()) {
            return None;
        }
        let mut known = self.all_types.clone();
        known.sort_unstable();
        Some(format!(
            "job type `{}` is not registered with this runner (registered: {})",
            job.job_type,
            known.join(", ")
        ))
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
            let texts: Vec<&str> = slots.iter().map(|&i| jobs[i].data.as_str()).collect();
            let ran = catch_unwind(AssertUnwindSafe(|| (registered.batch)(&texts)));
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

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    /// A job type that rejects a field it does not know as soon as it reads its name.
    #[derive(Debug, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        key: u32,
    }

    impl Job for Strict {
        const JOB_NAME: &'static str = "strict";
        type Context = ();
        fn run(&self, _: &()) -> anyhow::Result<()> {
            anyhow::ensure!(self.key != 0, "key 0 fails");
            Ok(())
        }
    }

    fn run(texts: &[&str]) -> Vec<Result<(), String>> {
        (Registered::new::<Strict>(Arc::new(())).batch)(texts)
    }

    #[test]
    fn each_text_is_decoded_and_run_on_its_own() {
        let results = run(&[r#"{"key": 1}"#, r#"{"key": 0}"#, r#"{"key": "one"}"#, "{"]);
        assert_eq!(results[0], Ok(()));
        assert_eq!(results[1], Err("key 0 fails".into()));
        insta::assert_snapshot!(
            results[2].clone().unwrap_err(),
            @r#"job data does not deserialize as `strict`: invalid type: string "one", expected u32 at line 1 column 13"#
        );
        insta::assert_snapshot!(
            results[3].clone().unwrap_err(),
            @r#"job data is not valid JSON: EOF while parsing an object at line 1 column 1 in stored text "{""#
        );
    }

    /// The type's deserializer stops at the unknown field, before the broken end of the
    /// text: the error still says the text is not JSON.
    #[test]
    fn text_that_is_not_json_is_called_so_even_when_the_type_fails_first() {
        let results = run(&[r#"{"other": 1, oops"#, r#"{"other": 1}"#]);
        insta::assert_snapshot!(
            results[0].clone().unwrap_err(),
            @r#"job data is not valid JSON: key must be a string at line 1 column 14 in stored text "{\"other\": 1, oops""#
        );
        insta::assert_snapshot!(
            results[1].clone().unwrap_err(),
            @"job data does not deserialize as `strict`: unknown field `other`, expected `key` at line 1 column 8"
        );
    }

    #[test]
    fn long_text_is_shown_cut_at_200_characters() {
        let text = format!("[{}", "7,".repeat(500));
        let error = run(&[&text]).remove(0).unwrap_err();
        let shown = error.split_once(" in stored text ").map(|(_, shown)| shown).unwrap_or("");
        assert_eq!(shown, format!("{:?}", format!("{}...", &text[..200])), "{error}");
    }
}
