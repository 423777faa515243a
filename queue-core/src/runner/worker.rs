//! The worker loop: claim a batch, run it, record it; wait for a wake-up when idle.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use crate::storage::{Claim, ClaimedJob, JobFilter, Outcome, Storage};

use super::event::Event;
use super::execute::{panic_message, Shared};
use super::RunnerError;

/// How workers treat an empty queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Wait for new jobs (a notification or the poll interval) until stopped.
    Serve,
    /// Return once nothing is runnable: [`Runner::run_until_empty`](super::Runner::run_until_empty).
    Drain,
}

/// One worker thread of a queue.
struct Worker<S: Storage + ?Sized> {
    shared: Arc<Shared<S>>,
    queue: String,
    types: Vec<&'static str>,
    /// Jobs claimed at once: the largest `BATCH_SIZE` of the queue's job types.
    batch_size: usize,
    mode: Mode,
    done: mpsc::Sender<()>,
}

/// Starts `count` workers for each queue of `workers`; each sends on `done` when it ends.
pub(super) fn spawn_workers<S: Storage + ?Sized>(
    shared: &Arc<Shared<S>>,
    workers: &BTreeMap<String, usize>,
    mode: Mode,
    done: &mpsc::Sender<()>,
) -> Result<Vec<JoinHandle<()>>, RunnerError> {
    let mut threads = Vec::new();
    for (queue, &count) in workers {
        let mut types: Vec<&'static str> =
            shared.jobs.iter().filter(|(_, r)| r.queue == queue).map(|(t, _)| *t).collect();
        types.sort_unstable();
        let batch_size = shared
            .jobs
            .values()
            .filter(|r| r.queue == queue)
            .map(|r| r.batch_size)
            .max()
            .unwrap_or(1);
        for n in 0..count {
            let worker = Worker {
                shared: Arc::clone(shared),
                queue: queue.clone(),
                types: types.clone(),
                batch_size,
                mode,
                done: done.clone(),
            };
            let spawned =
                std::thread::Builder::new().name(format!("{queue}-worker-{n}")).spawn(move || {
                    let shared = Arc::clone(&worker.shared);
                    let queue = worker.queue.clone();
                    let done = worker.done.clone();
                    // A job's panic is caught where it runs; this one came from elsewhere
                    // (the storage, a hook): report it instead of losing the thread quietly.
                    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| worker.run())) {
                        let message = panic_message(payload.as_ref());
                        shared.emit(&Event::WorkerPanicked {
                            queue: queue.clone(),
                            message: message.clone(),
                        });
                        if let Ok(mut slot) = shared.worker_panic.lock() {
                            slot.get_or_insert((queue, message));
                        }
                        let _ = done.send(());
                    }
                });
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
    Ok(threads)
}

/// Outcomes a worker's claim produced, counted once the storage answered.
#[derive(Default)]
struct Tally {
    succeeded: u64,
    failed: u64,
}

impl Tally {
    fn add(&mut self, outcomes: &[Outcome]) {
        for outcome in outcomes {
            match outcome {
                Outcome::Succeeded => self.succeeded += 1,
                Outcome::Failed { .. } => self.failed += 1,
            }
        }
    }
}

impl<S: Storage + ?Sized> Worker<S> {
    fn run(self) {
        let shared = &self.shared;
        let own = Claim { filter: JobFilter::Types(&self.types), max: self.batch_size };
        let unknown = Claim { filter: JobFilter::AllExcept(&shared.all_types), ..own };
        while !shared.stop.load(Ordering::SeqCst) {
            let generation = shared.signal.generation();
            let mut tally = Tally::default();
            let mut run = |jobs: &[ClaimedJob]| {
                let outcomes = shared.execute_batch(&self.queue, jobs);
                tally.add(&outcomes);
                outcomes
            };
            let mut claimed = shared.storage.run_batch(own, &mut run);
            // With nothing of its own to do, any worker records rows no registered job
            // type can run, so operators see them.
            if shared.config.fail_unknown_job_types && matches!(claimed, Ok(0)) {
                claimed = shared.storage.run_batch(unknown, &mut run);
            }
            // A success counts once the storage recorded it; jobs whose outcomes were lost
            // (the claim lapsed, the session ended) count as failed runs.
            match &claimed {
                Ok(_) => {
                    shared.succeeded.fetch_add(tally.succeeded, Ordering::Relaxed);
                    shared.failed.fetch_add(tally.failed, Ordering::Relaxed);
                }
                Err(_) => {
                    shared.failed.fetch_add(tally.succeeded + tally.failed, Ordering::Relaxed);
                }
            }
            match claimed {
                Ok(n) if n > 0 => {
                    // A full batch: more may be waiting, so another idle worker joins in.
                    if n >= self.batch_size {
                        shared.signal.wake_one();
                    }
                    continue;
                }
                Ok(_) if self.mode == Mode::Drain => break,
                Ok(_) => {
                    shared.signal.wait(generation, shared.config.poll_interval);
                }
                Err(err) => {
                    shared.emit(&Event::StorageFailed {
                        queue: self.queue.clone(),
                        error: redact::redact(&err.to_string()).into_owned(),
                    });
                    if self.mode == Mode::Drain {
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
