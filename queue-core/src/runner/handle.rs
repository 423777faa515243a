//! The handle of a started runner: graceful shutdown.

use std::fmt;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ShutdownReport;

/// The handle of a started runner: [`RunnerHandle::shutdown`] stops it gracefully;
/// dropping the handle asks the workers to stop without waiting for them.
pub struct RunnerHandle {
    pub(super) shared: Arc<dyn Stoppable>,
    pub(super) threads: Vec<JoinHandle<()>>,
    pub(super) done: mpsc::Receiver<()>,
    pub(super) subscription: Option<Box<dyn Send>>,
}

impl fmt::Debug for RunnerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunnerHandle").field("workers", &self.threads.len()).finish()
    }
}

impl RunnerHandle {
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

impl Drop for RunnerHandle {
    fn drop(&mut self) {
        self.shared.request_stop();
    }
}

/// What the handle can ask of the workers, whatever their storage type.
pub(super) trait Stoppable: Send + Sync {
    /// Stops claiming and wakes idle workers.
    fn request_stop(&self);
}
