//! The wake-up signal of idle workers.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Wakes idle workers. A generation counter makes a wake-up that arrives between a worker's
/// empty claim and its wait count: the worker does not sleep through it.
#[derive(Default)]
pub(super) struct Signal {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Signal {
    pub(super) fn generation(&self) -> u64 {
        self.generation.lock().map(|g| *g).unwrap_or_else(|e| *e.into_inner())
    }

    /// Wakes one idle worker: a job was enqueued.
    pub(super) fn wake_one(&self) {
        let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *generation = generation.wrapping_add(1);
        self.changed.notify_one();
    }

    /// Wakes every idle worker: the runner stops.
    pub(super) fn wake(&self) {
        let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *generation = generation.wrapping_add(1);
        self.changed.notify_all();
    }

    pub(super) fn wait(&self, seen: u64, timeout: Duration) {
        let guard = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.changed.wait_timeout_while(guard, timeout, |g| *g == seen);
    }
}
