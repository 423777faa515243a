//! graphile-worker beside the batched drain (`cargo xtask bench --graphile`).
//!
//! `xtask/graphile/drain.js` drains the same number of no-op jobs as the batched drain, on
//! the same server, with graphile-worker's own perfTest settings (24 concurrent jobs per
//! process, a local queue of 500, completions in batches), at as many processes as the
//! drain has workers. The clock starts once every process has its pool connected and its
//! task loaded (as the library's runner drains from a warm pool) and stops when the last
//! process found no job left and exited; the jobs left behind are counted.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context as _, Result};
use queue_diesel::testing::PgServer;
use serde::{Deserialize, Serialize};

use super::{figure, Figure};

/// graphile-worker's drains, one row per number of processes.
#[derive(Debug, Serialize)]
pub(crate) struct GraphileResult {
    /// The graphile-worker version `npm ci` installed.
    pub(crate) version: String,
    pub(crate) rows: Vec<GraphileRow>,
}

#[derive(Debug, Serialize)]
pub(crate) struct GraphileRow {
    pub(crate) processes: usize,
    /// Jobs drained per repetition (counted: loaded less those left behind).
    pub(crate) jobs: u64,
    /// Jobs over the time from the processes' start (pools connected) to the last exit.
    pub(crate) jobs_per_sec: Figure,
}

/// What `drain.js` prints.
#[derive(Deserialize)]
struct Printed {
    version: String,
    runs: Vec<PrintedRun>,
}

#[derive(Deserialize)]
struct PrintedRun {
    jobs: u64,
    jobs_per_sec: f64,
}

/// Installs graphile-worker from `xtask/graphile/package-lock.json` and drains `jobs` jobs
/// with it `reps` times at each number of `processes`.
pub(crate) fn graphile_drain(
    root: &Path,
    server: &PgServer,
    processes: &[usize],
    jobs: u64,
    reps: usize,
) -> Result<GraphileResult> {
    let dir = root.join("xtask/graphile");
    eprintln!("installing graphile-worker with npm ci in {}", dir.display());
    let installed = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .context("running `npm ci` for graphile-worker (are Node.js and npm installed?)")?;
    ensure!(installed.success(), "`npm ci` in {} failed: {installed}", dir.display());
    let mut rows = Vec::new();
    let mut version = String::new();
    for &count in processes {
        // A database of its own for each count: graphile-worker's schema, nothing else.
        let (url, _) = server.create_database()?;
        let output = Command::new("node")
            .arg("drain.js")
            .args(["--jobs", &jobs.to_string()])
            .args(["--processes", &count.to_string()])
            .args(["--reps", &reps.to_string()])
            .env("DATABASE_URL", &url)
            .current_dir(&dir)
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("running `node drain.js` (is Node.js installed?)")?;
        ensure!(output.status.success(), "graphile-worker's drain failed: {}", output.status);
        let printed: Printed = serde_json::from_slice(&output.stdout).with_context(|| {
            format!("reading drain.js's output: {}", String::from_utf8_lossy(&output.stdout))
        })?;
        ensure!(
            printed.runs.len() == reps,
            "drain.js ran {} of {reps} repetitions",
            printed.runs.len()
        );
        for run in &printed.runs {
            ensure!(run.jobs == jobs, "graphile-worker drained {} of {jobs} jobs", run.jobs);
        }
        version = printed.version;
        rows.push(GraphileRow {
            processes: count,
            jobs,
            jobs_per_sec: figure(printed.runs.iter().map(|r| r.jobs_per_sec).collect()),
        });
    }
    Ok(GraphileResult { version, rows })
}
