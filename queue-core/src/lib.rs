#![doc = include_str!("../README.md")]

mod job;
mod memory;
mod retry;
mod row;
mod runner;
pub mod storage;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use job::{Job, DEFAULT_QUEUE};
pub use memory::MemoryStorage;
pub use retry::{RetryPolicy, MAX_RETRY_DELAY};
pub use row::{JobId, NewJob};
pub use runner::{
    DrainReport, Event, Runner, RunnerConfig, RunnerError, RunnerHandle, ShutdownReport,
    MAX_ERROR_LEN,
};
pub use storage::{JobInfo, RunningJob, Storage, StorageError};

#[cfg(test)]
mod tests;
