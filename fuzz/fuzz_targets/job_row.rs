//! A job row's data, as any bytes, decoded into each index job type the way the runner
//! decodes it: an error or a job, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_jobs::{PublishJob, UnyankJob, YankJob};
use serde::Deserialize as _;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(job) = PublishJob::deserialize(&value) {
        let _ = job.describe();
        let _ = index_git::CrateName::new(&job.krate);
    }
    if let Ok(job) = YankJob::deserialize(&value) {
        let _ = job.describe();
    }
    if let Ok(job) = UnyankJob::deserialize(&value) {
        let _ = job.describe();
    }
});
