//! The wake-up signal of idle workers.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Wakes idle workers. A generation counter makes a wake-up that arrives between a worker's
/// empty claim and its wait count: the worker does not sleep through it.
#[derive(Default)]
pub(super) struct Signal {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    generation: u64,
    /// Workers waiting on `changed`. With none, a wake-up only moves the generation on: a
    /// busy worker that just claimed a full batch (every claim, with batches of one) makes
    /// no `futex` call to wake nobody.
    waiting: usize,
}

impl Signal {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn generation(&self) -> u64 {
        self.state().generation
    }

    /// Wakes one idle worker: a job was enqueued.
    pub(super) fn wake_one(&self) {
        let mut state = self.state();
        state.generation = state.generation.wrapping_add(1);
        if state.waiting > 0 {
            self.changed.notify_one();
        }
    }

    /// Wakes every idle worker: the runner stops.
    pub(super) fn wake(&self) {
        let mut state = self.state();
        state.generation = state.generation.wrapping_add(1);
        if state.waiting > 0 {
            self.changed.notify_all();
        }
    }

    /// Waits until the generation moves on from `seen`, or `timeout` passes; returns whether
    /// it moved on.
    pub(super) fn wait(&self, seen: u64, timeout: Duration) -> bool {
        let mut state = self.state();
        if state.generation != seen {
            return true;
        }
        state.waiting += 1;
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |s| s.generation == seen)
            .unwrap_or_else(|e| e.into_inner());
        state.waiting -= 1;
        state.generation != seen
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{mpsc, Arc};

    use super::*;

    /// Longer than any test runs: a wait that returns was woken.
    const FOREVER: Duration = Duration::from_secs(3600);

    #[test]
    fn a_wake_up_before_the_wait_is_not_slept_through() {
        let signal = Signal::default();
        let seen = signal.generation();
        signal.wake_one();
        assert!(signal.wait(seen, FOREVER));
        assert_eq!(signal.state().waiting, 0);
    }

    #[test]
    fn a_waiting_worker_is_woken_and_counted_out() {
        let signal = Arc::new(Signal::default());
        let seen = signal.generation();
        let (done, woken) = mpsc::channel();
        {
            let signal = Arc::clone(&signal);
            std::thread::spawn(move || done.send(signal.wait(seen, FOREVER)));
        }
        // Wake only once the waiter is counted, so the wake-up must reach it through the
        // condition variable.
        while signal.state().waiting == 0 {
            std::thread::yield_now();
        }
        signal.wake_one();
        // A deadline on a hang, not a measurement: a woken waiter returns at once.
        let woken = woken.recv_timeout(Duration::from_secs(60));
        assert_eq!(woken, Ok(true), "the waiting worker was not woken");
        assert_eq!(signal.state().waiting, 0);
    }
}
