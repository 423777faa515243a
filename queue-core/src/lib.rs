#![doc = include_str!("../README.md")]

mod job;
mod memory;
mod retry;
mod runner;
pub mod storage;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use job::{Job, JobId, NewJob, DEFAULT_QUEUE};
pub use memory::MemoryStorage;
pub use retry::RetryPolicy;
pub use runner::{
    DrainReport, Event, Runner, RunnerConfig, RunnerError, RunnerHandle, ShutdownReport,
    MAX_ERROR_LEN,
};
pub use storage::{JobInfo, Storage, StorageError};

#[cfg(test)]
mod tests;
