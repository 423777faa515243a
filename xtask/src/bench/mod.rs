//! `cargo xtask bench`: how fast the queue and the index writer are, against their limits.
//!
//! Starts a throwaway PostgreSQL with default durability (the same support the tests use)
//! and temporary SQLite files, runs every measurement, prints a table and writes
//! `target/bench/results.json` and PNG charts. Each figure is the median of at least three
//! repetitions, with min and max.

mod charts;
mod graphile;
mod http;
mod index;
mod raw;
mod storage;

use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use queue_core::storage::{JobFilter, Outcome};
use queue_core::{Event, Job, NewJob, Runner, RunnerConfig, Storage};
use queue_diesel::testing::{PgServer, ServerConfig};
use queue_diesel::{PgConfig, PgStorage, SqliteConfig, SqliteStorage};
use serde::{Deserialize, Serialize};

/// A job that does nothing: the queue's own cost is what is measured.
#[derive(Serialize, Deserialize)]
struct Noop {
    n: u64,
}

impl Job for Noop {
    const JOB_NAME: &'static str = "noop";
    type Context = ();
    fn run(&self, _: &()) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A no-op job claimed and completed 100 at a time.
#[derive(Serialize, Deserialize)]
struct NoopBatched {
    n: u64,
}

impl Job for NoopBatched {
    const JOB_NAME: &'static str = "noop";
    const BATCH_SIZE: usize = 100;
    type Context = ();
    fn run(&self, _: &()) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Median, min and max of repeated measurements.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Figure {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

fn figure(mut values: Vec<f64>) -> Figure {
    values.sort_by(|a, b| a.total_cmp(b));
    let median = values.get(values.len() / 2).copied().unwrap_or(f64::NAN);
    Figure {
        median,
        min: values.first().copied().unwrap_or(f64::NAN),
        max: values.last().copied().unwrap_or(f64::NAN),
    }
}

/// The ratios of `library` to `baseline` measured in the same repetition, run next to each
/// other on the same table state (median, min and max over the repetitions). A disturbance
/// of the machine that lasts a repetition or more (the disk's flushes slowing down for a
/// while on a shared machine) weighs on both sides of a pair alike, where it can fall on
/// one side only of the ratio of the two medians.
fn paired(library: &[f64], baseline: &[f64]) -> Figure {
    figure(library.iter().zip(baseline).map(|(l, b)| l / b).collect())
}

struct Plan {
    reps: usize,
    /// Repetitions of each PostgreSQL drain (the library, the raw loop and pgbench in
    /// turn) and of each PostgreSQL enqueue (the library and pgbench in turn): more than
    /// the other sections', since their ratios to pgbench are the goals that the machine's
    /// noise moves most (the disk's flushes at one job per transaction, a client and a
    /// server that take turns at one worker). On a shared machine a run's rate swings by
    /// up to half between the disk's fast and slow spells, which fall on either side of a
    /// pair, so 15 pairs: their median moves less with which side a spell hit.
    paired_reps: usize,
    /// Jobs of a batched drain: enough for a run of about a second, so that neither the
    /// start of the runner or of pgbench nor the machine's noise decides the ratio.
    drain_jobs: u64,
    /// Jobs of a drain at one job per transaction: each costs a commit (an fsync at default
    /// durability), so fewer than a batched drain's.
    single_drain_jobs: u64,
    workers: Vec<usize>,
    /// Jobs of an enqueue at one job per call; at 100 per call, [`HUNDRED_PER_CALL_SCALE`]
    /// times as many. Each run lasts about a second or more at every client count, so that
    /// a hiccup of the disk does not decide a repetition.
    enqueue_jobs: u64,
    latency_listen: usize,
    latency_poll: usize,
    depths: Vec<u64>,
    claims: u64,
    index_sizes: Vec<usize>,
    index_edits: usize,
    burst: usize,
    idle_seconds: u64,
    memory_jobs: Vec<u64>,
    /// Publishes through `registry-server` per number of publishers.
    http_publishes: usize,
    /// Publish-to-visible samples.
    http_visible: usize,
    /// Writes per store in the storage section.
    storage_writes: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                reps: 3,
                paired_reps: 3,
                drain_jobs: 1_000,
                single_drain_jobs: 400,
                workers: vec![1, 2, 4, 8],
                enqueue_jobs: 300,
                latency_listen: 100,
                latency_poll: 8,
                depths: vec![10_000, 100_000],
                claims: 300,
                index_sizes: vec![1_000, 100_000],
                index_edits: 5,
                burst: 100,
                idle_seconds: 3,
                memory_jobs: vec![10_000, 100_000],
                http_publishes: 80,
                http_visible: 20,
                storage_writes: 50,
            }
        } else {
            Plan {
                reps: 3,
                paired_reps: 15,
                drain_jobs: 100_000,
                single_drain_jobs: 4_000,
                workers: vec![1, 2, 4, 8],
                enqueue_jobs: 4_000,
                latency_listen: 1_000,
                latency_poll: 20,
                depths: vec![10_000, 100_000, 1_000_000],
                claims: 2_000,
                index_sizes: vec![1_000, 100_000, 250_000],
                index_edits: 15,
                burst: 1_000,
                idle_seconds: 10,
                memory_jobs: vec![100_000, 1_000_000],
                http_publishes: 400,
                http_visible: 100,
                storage_writes: 300,
            }
        }
    }
}

/// Everything one run measured; written as `results.json`.
#[derive(Debug, Serialize)]
pub(crate) struct Results {
    pub(crate) quick: bool,
    pub(crate) queue_drain: Vec<DrainRow>,
    /// graphile-worker draining the batched drain's jobs (`--graphile`).
    pub(crate) graphile: Option<graphile::GraphileResult>,
    pub(crate) enqueue: Vec<EnqueueRow>,
    pub(crate) latency: Vec<LatencyRow>,
    pub(crate) claim_vs_depth: DepthResult,
    pub(crate) index_edit_vs_size: index::IndexResult,
    pub(crate) burst: BurstResult,
    pub(crate) idle: IdleResult,
    pub(crate) memory: Vec<MemoryRow>,
    pub(crate) publish_http: http::PublishHttp,
    pub(crate) storage: Vec<storage::StorageRow>,
}

/// What an idle runner costs.
#[derive(Debug, Serialize)]
pub(crate) struct IdleResult {
    pub(crate) workers: usize,
    pub(crate) seconds: f64,
    /// CPU time of this process over the wall time, in percent of one core. Goal: < 1.
    pub(crate) cpu_percent: f64,
}

/// A worker's memory while draining.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct MemoryRow {
    pub(crate) jobs: u64,
    /// Resident set of the worker process once connected, before the drain, MiB.
    pub(crate) before_mib: f64,
    /// Peak resident set of the worker process (VmHWM), from its start through the drain,
    /// MiB.
    pub(crate) peak_mib: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct DrainRow {
    pub(crate) backend: &'static str,
    /// `single`: one job per claim transaction; `batched`: up to 100.
    pub(crate) mode: &'static str,
    pub(crate) workers: usize,
    pub(crate) jobs: u64,
    pub(crate) jobs_per_sec: Figure,
    /// The same claim-and-delete, same batch size, written out without the library.
    pub(crate) raw_jobs_per_sec: Figure,
    /// `pgbench` running the same claim-and-delete on the same table state (PostgreSQL).
    pub(crate) pgbench_jobs_per_sec: Option<Figure>,
    /// Library / pgbench within each repetition ([`paired`]).
    pub(crate) pgbench_paired_ratio: Option<Figure>,
}

#[derive(Debug, Serialize)]
pub(crate) struct EnqueueRow {
    pub(crate) backend: &'static str,
    pub(crate) mode: &'static str,
    pub(crate) clients: usize,
    pub(crate) jobs: u64,
    pub(crate) jobs_per_sec: Figure,
    /// `pgbench` inserting the same rows the same way (PostgreSQL).
    pub(crate) pgbench_jobs_per_sec: Option<Figure>,
    /// Library / pgbench within each repetition ([`paired`]).
    pub(crate) pgbench_paired_ratio: Option<Figure>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LatencyRow {
    pub(crate) backend: &'static str,
    pub(crate) wake_up: &'static str,
    pub(crate) poll_interval_ms: u64,
    pub(crate) jobs: usize,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    /// Where the time went, for the library's rows: the enqueue's own call (its statement
    /// and commit) and what came after it returned (the wake-up, the claim), each counted
    /// per job. `None` for the floor, which has no wake-up.
    pub(crate) split: Option<LatencySplit>,
    /// p50 and p99 of each repetition, for the rows measured more than once (the figures
    /// above pool every repetition's jobs).
    pub(crate) runs: Option<LatencyRuns>,
    #[serde(skip)]
    pub(crate) samples_ms: Vec<f64>,
}

/// The p50 and the p99 of each repetition of a latency row, in ms.
#[derive(Debug, Serialize)]
pub(crate) struct LatencyRuns {
    pub(crate) p50_ms: Figure,
    pub(crate) p99_ms: Figure,
}

/// A latency row's two parts, p50 and p99 of each, in ms.
#[derive(Debug, Serialize)]
pub(crate) struct LatencySplit {
    pub(crate) enqueue_p50_ms: f64,
    pub(crate) enqueue_p99_ms: f64,
    pub(crate) after_enqueue_p50_ms: f64,
    pub(crate) after_enqueue_p99_ms: f64,
}

/// Enqueue-to-start samples of one latency run, each job's time split where its enqueue
/// returned.
#[derive(Debug, Default)]
struct LatencySamples {
    total_ms: Vec<f64>,
    enqueue_ms: Vec<f64>,
    after_enqueue_ms: Vec<f64>,
    /// p50 and p99 of each repetition pooled here, when there were several.
    runs: Vec<(f64, f64)>,
}

impl LatencySamples {
    /// Adds the jobs of one more repetition, and its p50 and p99.
    fn pool(&mut self, run: LatencySamples) {
        let mut total = run.total_ms.clone();
        total.sort_by(|a, b| a.total_cmp(b));
        self.runs.push((percentile(&total, 50.0), percentile(&total, 99.0)));
        self.total_ms.extend(run.total_ms);
        self.enqueue_ms.extend(run.enqueue_ms);
        self.after_enqueue_ms.extend(run.after_enqueue_ms);
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct DepthResult {
    pub(crate) claims_per_depth: u64,
    /// Runnable jobs only, each depth on a database of its own, the depths measured in
    /// turns ([`claim_costs`]).
    pub(crate) rows: Vec<(u64, Figure)>,
    /// µs per claim at the largest depth / at the smallest. Goal: ≤ 1.3.
    pub(crate) ratio: f64,
    /// The smallest depth again, behind jobs that wait for a retry or are exhausted, each
    /// beside a clean queue measured in turns with it.
    pub(crate) backlog: Vec<BacklogRow>,
}

#[derive(Debug, Serialize)]
pub(crate) struct BacklogRow {
    pub(crate) case: &'static str,
    pub(crate) runnable: u64,
    pub(crate) waiting: u64,
    pub(crate) us_per_claim: Figure,
    /// A clean queue of the same runnable jobs on another database, measured in turns with
    /// this case, so that the machine's drift over the section weighs on neither side.
    pub(crate) clean_us_per_claim: Figure,
    /// µs per claim / the clean queue's measured in turns with it. Goal: ≤ 1.3.
    pub(crate) ratio: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct BurstResult {
    pub(crate) publishes: usize,
    pub(crate) seconds: Figure,
    /// Commits that reached the remote's branch, per repetition.
    pub(crate) commits: Figure,
    /// Pushes the remote received (counted by its `post-receive` hook), per repetition.
    pub(crate) pushes: Figure,
}

/// Runs every measurement and writes the results; with `graphile`, graphile-worker drains
/// the batched drain's jobs too.
pub(crate) fn run(root: &Path, quick: bool, graphile: bool) -> Result<()> {
    let plan = Plan::new(quick);
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    eprintln!("starting a throwaway PostgreSQL with default durability");
    // graphile-worker's processes take 25 connections each, up to 8 of them.
    let server = PgServer::start(&ServerConfig { durable: true, max_connections: 250 })?;
    let started = Instant::now();
    let queue_drain = queue_drain(&server, &plan)?;
    let graphile = if graphile {
        Some(graphile::graphile_drain(root, &server, &plan.workers, plan.drain_jobs, plan.reps)?)
    } else {
        None
    };
    let enqueue = enqueue(&server, &plan)?;
    let latency = latency(&server, &plan)?;
    let claim_vs_depth = claim_vs_depth(&server, &plan)?;
    let index_edit_vs_size = index::index_edit_vs_size(&plan.index_sizes, plan.index_edits)?;
    let burst = burst(&server, &plan)?;
    let idle = idle_cpu(&server, &plan)?;
    let memory = memory(&server, &plan)?;
    let publish_http = http::publish_http(root, plan.http_publishes, plan.http_visible)?;
    let storage = storage::storage(plan.storage_writes)?;
    let results = Results {
        storage,
        publish_http,
        quick,
        queue_drain,
        graphile,
        enqueue,
        latency,
        claim_vs_depth,
        index_edit_vs_size,
        burst,
        idle,
        memory,
    };
    print_table(&results);
    let json = out.join("results.json");
    std::fs::write(&json, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("writing {}", json.display()))?;
    match charts::draw(&out, &results) {
        Ok(files) => eprintln!("charts: {}", files.join(", ")),
        Err(err) => eprintln!("warning: no charts: {err:#}"),
    }
    eprintln!("wrote {} ({:.0} s)", json.display(), started.elapsed().as_secs_f64());
    server.stop();
    Ok(())
}

fn pg_storage(server: &PgServer, pool_size: u32) -> Result<(PgStorage, String)> {
    let (url, _) = server.create_database()?;
    let storage = PgStorage::connect(PgConfig { pool_size, ..PgConfig::new(url.clone()) })?;
    storage.migrate()?;
    Ok((storage, url))
}

fn load_pg(url: &str, jobs: u64) -> Result<()> {
    let mut conn = PgConnection::establish(url)?;
    diesel::sql_query("TRUNCATE background_jobs").execute(&mut conn)?;
    diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data) SELECT 'noop', jsonb_build_object('n', g) FROM generate_series(1, $1) g",
    )
    .bind::<BigInt, _>(i64::try_from(jobs)?)
    .execute(&mut conn)?;
    diesel::sql_query("ANALYZE background_jobs").execute(&mut conn)?;
    Ok(())
}

fn drain_config() -> RunnerConfig {
    RunnerConfig {
        poll_interval: Duration::from_millis(50),
        use_notifications: false,
        ..RunnerConfig::default()
    }
}

fn drain_with_library<S: Storage>(
    storage: &Arc<S>,
    workers: usize,
    jobs: u64,
    batched: bool,
) -> Result<f64> {
    let started = Instant::now();
    let runner = Runner::new(Arc::clone(storage), drain_config());
    let runner =
        if batched { runner.register::<NoopBatched>(()) } else { runner.register::<Noop>(()) };
    let report = runner.workers(queue_core::DEFAULT_QUEUE, workers).run_until_empty()?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(report.succeeded == jobs, "drained {} of {jobs} jobs", report.succeeded);
    Ok(jobs as f64 / secs)
}

fn noop_jobs(n: u64) -> Vec<NewJob> {
    (0..n).filter_map(|n| NewJob::from_job(&Noop { n }).ok()).collect()
}

/// Drains `plan.drain_jobs` preloaded jobs: the library, the raw loop and pgbench, each
/// from the same table state (the same rows, loaded and analysed the same way), at the same
/// batch size.
fn queue_drain(server: &PgServer, plan: &Plan) -> Result<Vec<DrainRow>> {
    let mut rows = Vec::new();
    let (storage, url) = pg_storage(server, 10)?;
    let storage = Arc::new(storage);
    for (mode, batch, workload, jobs) in [
        ("single", 1, raw::Workload::ClaimOne, plan.single_drain_jobs),
        ("batched", 100, raw::Workload::ClaimHundred, plan.drain_jobs),
    ] {
        for &workers in &plan.workers {
            let (mut library, mut baseline, mut bench) = (Vec::new(), Vec::new(), Vec::new());
            for rep in 0..plan.paired_reps {
                // Every other repetition runs the three in the reverse order, so a drift
                // of the machine over a repetition (the disk's flushes, a checkpoint)
                // weighs on each alike.
                let mut order = [0, 1, 2];
                if rep % 2 == 1 {
                    order.reverse();
                }
                for side in order {
                    load_pg(&url, jobs)?;
                    match side {
                        0 => library.push(drain_with_library(&storage, workers, jobs, batch > 1)?),
                        1 => baseline.push(raw::drain_pg(&url, workers, batch, jobs)?),
                        _ => bench.push(raw::pgbench(&url, workload, workers, jobs)?),
                    }
                }
            }
            let pgbench_paired_ratio = Some(paired(&library, &bench));
            let row = DrainRow {
                pgbench_paired_ratio,
                backend: "postgres",
                mode,
                workers,
                jobs,
                jobs_per_sec: figure(library),
                raw_jobs_per_sec: figure(baseline),
                pgbench_jobs_per_sec: Some(figure(bench)),
            };
            eprintln!(
                "queue_drain postgres {mode} {workers} workers: {:.0} jobs/s (raw {:.0}, pgbench {:.0})",
                row.jobs_per_sec.median,
                row.raw_jobs_per_sec.median,
                row.pgbench_jobs_per_sec.map_or(f64::NAN, |f| f.median)
            );
            rows.push(row);
        }
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.sqlite3");
    let storage =
        Arc::new(SqliteStorage::open(SqliteConfig { pool_size: 12, ..SqliteConfig::new(&path) })?);
    storage.migrate()?;
    let jobs = noop_jobs(plan.single_drain_jobs);
    let load = |storage: &SqliteStorage| -> Result<()> {
        for chunk in jobs.chunks(1000) {
            storage.enqueue_batch(chunk)?;
        }
        Ok(())
    };
    for &workers in &plan.workers {
        let (mut library, mut baseline) = (Vec::new(), Vec::new());
        for _ in 0..plan.reps {
            load(&storage)?;
            library.push(drain_with_library(&storage, workers, plan.single_drain_jobs, false)?);
            load(&storage)?;
            baseline.push(raw::drain_sqlite(&path, workers, plan.single_drain_jobs)?);
        }
        let row = DrainRow {
            backend: "sqlite",
            mode: "single",
            workers,
            jobs: plan.single_drain_jobs,
            jobs_per_sec: figure(library),
            raw_jobs_per_sec: figure(baseline),
            pgbench_jobs_per_sec: None,
            pgbench_paired_ratio: None,
        };
        eprintln!(
            "queue_drain sqlite single {workers} workers: {:.0} jobs/s (raw {:.0})",
            row.jobs_per_sec.median, row.raw_jobs_per_sec.median
        );
        rows.push(row);
    }
    Ok(rows)
}

fn count_pg(url: &str) -> Result<i64> {
    let mut conn = PgConnection::establish(url)?;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let count: Count =
        diesel::sql_query("SELECT count(*) AS n FROM background_jobs").get_result(&mut conn)?;
    Ok(count.n)
}

/// Enqueue rates through the library: one job per call, and 100 per call (one
/// transaction), each from `clients` threads at once.
fn enqueue_rates<S: Storage>(
    storage: &Arc<S>,
    clients: usize,
    per_call: usize,
    jobs: u64,
) -> Result<f64> {
    let per_client = (jobs as usize / clients).max(per_call);
    let ready = Arc::new(std::sync::Barrier::new(clients + 1));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (storage, ready) = (Arc::clone(storage), Arc::clone(&ready));
            std::thread::spawn(move || -> Result<()> {
                let jobs = noop_jobs(per_client as u64);
                ready.wait();
                for chunk in jobs.chunks(per_call) {
                    if per_call == 1 {
                        storage.enqueue(&chunk[0])?;
                    } else {
                        storage.enqueue_batch(chunk)?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    ready.wait();
    let started = Instant::now();
    for handle in handles {
        handle.join().map_err(|_| anyhow::anyhow!("enqueuer panicked"))??;
    }
    Ok((per_client * clients) as f64 / started.elapsed().as_secs_f64())
}

/// How many times more jobs an enqueue at 100 jobs per call has than one at one job per
/// call: it runs about 40 times as fast.
const HUNDRED_PER_CALL_SCALE: u64 = 50;

fn enqueue(server: &PgServer, plan: &Plan) -> Result<Vec<EnqueueRow>> {
    let mut rows = Vec::new();
    let (pg, url) = pg_storage(server, 10)?;
    let pg = Arc::new(pg);
    let dir = tempfile::tempdir()?;
    let sqlite =
        Arc::new(SqliteStorage::open(SqliteConfig::new(dir.path().join("enqueue.sqlite3")))?);
    sqlite.migrate()?;
    for (mode, per_call, workload, jobs) in [
        ("one job per transaction", 1, raw::Workload::InsertOne, plan.enqueue_jobs),
        (
            "100 jobs per call",
            100,
            raw::Workload::InsertHundred,
            plan.enqueue_jobs * HUNDRED_PER_CALL_SCALE,
        ),
    ] {
        for &clients in &plan.workers {
            let (mut library, mut bench) = (Vec::new(), Vec::new());
            // Every other repetition runs pgbench first, so that a drift of the machine
            // weighs on both alike.
            for rep in 0..plan.paired_reps {
                for library_now in [rep % 2 == 0, rep % 2 == 1] {
                    load_pg(&url, 0)?;
                    if library_now {
                        library.push(enqueue_rates(&pg, clients, per_call, jobs)?);
                    } else {
                        bench.push(raw::pgbench(&url, workload, clients, jobs)?);
                    }
                }
            }
            let pgbench_paired_ratio = Some(paired(&library, &bench));
            let row = EnqueueRow {
                pgbench_paired_ratio,
                backend: "postgres",
                mode,
                clients,
                jobs,
                jobs_per_sec: figure(library),
                pgbench_jobs_per_sec: Some(figure(bench)),
            };
            eprintln!(
                "enqueue postgres {mode} {clients} clients: {:.0} jobs/s (pgbench {:.0})",
                row.jobs_per_sec.median,
                row.pgbench_jobs_per_sec.map_or(f64::NAN, |f| f.median)
            );
            rows.push(row);
        }
        let mut library = Vec::new();
        for _ in 0..plan.reps {
            library.push(enqueue_rates(&sqlite, 1, per_call, jobs)?);
        }
        let row = EnqueueRow {
            backend: "sqlite",
            mode,
            clients: 1,
            jobs,
            jobs_per_sec: figure(library),
            pgbench_jobs_per_sec: None,
            pgbench_paired_ratio: None,
        };
        eprintln!("enqueue sqlite {mode} 1 client: {:.0} jobs/s", row.jobs_per_sec.median);
        rows.push(row);
    }
    Ok(rows)
}

/// Enqueues `jobs` jobs one at a time through `enqueuer`, each after the previous one
/// started, with idle workers over `storage`; returns enqueue-to-start times in ms, and
/// the part of each before and after the enqueue call returned.
fn measure_latency<S: Storage, E: Storage>(
    storage: Arc<S>,
    enqueuer: &E,
    config: RunnerConfig,
    jobs: usize,
) -> Result<LatencySamples> {
    let (tx, rx) = mpsc::channel::<Instant>();
    let tx = std::sync::Mutex::new(tx);
    let runner = Runner::new(storage, config)
        .register::<Noop>(())
        .workers(queue_core::DEFAULT_QUEUE, 2)
        .on_event(move |event| {
            if let Event::Started { .. } = event {
                if let Ok(tx) = tx.lock() {
                    let _ = tx.send(Instant::now());
                }
            }
        })
        .start()?;
    std::thread::sleep(Duration::from_millis(300));
    let mut samples = LatencySamples::default();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for n in 0..jobs {
        let enqueued = Instant::now();
        enqueuer.enqueue(&NewJob::from_job(&Noop { n: n as u64 })?)?;
        let returned = Instant::now();
        let started = rx.recv_timeout(Duration::from_secs(30)).context("a job never started")?;
        samples.total_ms.push(ms(started.saturating_duration_since(enqueued)));
        samples.enqueue_ms.push(ms(returned.saturating_duration_since(enqueued)));
        // A job can start before its enqueue call returns (the commit is sent, the
        // call's return is not yet scheduled): that part is then zero.
        samples.after_enqueue_ms.push(ms(started.saturating_duration_since(returned)));
        // Let the worker finish and go idle again before the next job.
        std::thread::sleep(Duration::from_millis(2));
    }
    runner.shutdown(Duration::from_secs(10));
    Ok(samples)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn latency_row(
    backend: &'static str,
    wake_up: &'static str,
    poll: Duration,
    samples: LatencySamples,
) -> LatencyRow {
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v
    };
    let enqueue = sorted(samples.enqueue_ms);
    let after = sorted(samples.after_enqueue_ms);
    let split = (!enqueue.is_empty()).then(|| LatencySplit {
        enqueue_p50_ms: percentile(&enqueue, 50.0),
        enqueue_p99_ms: percentile(&enqueue, 99.0),
        after_enqueue_p50_ms: percentile(&after, 50.0),
        after_enqueue_p99_ms: percentile(&after, 99.0),
    });
    let runs = (samples.runs.len() > 1).then(|| LatencyRuns {
        p50_ms: figure(samples.runs.iter().map(|run| run.0).collect()),
        p99_ms: figure(samples.runs.iter().map(|run| run.1).collect()),
    });
    let samples = sorted(samples.total_ms);
    let row = LatencyRow {
        backend,
        wake_up,
        poll_interval_ms: poll.as_millis() as u64,
        jobs: samples.len(),
        p50_ms: percentile(&samples, 50.0),
        p99_ms: percentile(&samples, 99.0),
        max_ms: samples.last().copied().unwrap_or(f64::NAN),
        split,
        runs,
        samples_ms: samples,
    };
    eprintln!(
        "latency {backend} {wake_up}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms{}",
        row.p50_ms,
        row.p99_ms,
        row.max_ms,
        row.split.as_ref().map(split_text).unwrap_or_default()
    );
    row
}

/// How a library latency row splits, as printed after its figures.
fn split_text(split: &LatencySplit) -> String {
    format!(
        " (the enqueue call p50 {:.2} / p99 {:.2} ms; after it returned, wake-up and claim p50 {:.2} / p99 {:.2} ms)",
        split.enqueue_p50_ms,
        split.enqueue_p99_ms,
        split.after_enqueue_p50_ms,
        split.after_enqueue_p99_ms
    )
}

fn latency(server: &PgServer, plan: &Plan) -> Result<Vec<LatencyRow>> {
    let poll = RunnerConfig::default().poll_interval;
    let mut rows = Vec::new();
    let (pg, url) = pg_storage(server, 6)?;
    let pg = Arc::new(pg);
    let enqueuer = PgStorage::connect(PgConfig::new(url.clone()))?;
    // The library and its floor take turns, `plan.reps` times each, so that a drift of the
    // machine weighs on both alike; each repetition's p50 and p99 are kept beside the
    // pooled figures.
    let mut listen = LatencySamples::default();
    let mut floor = LatencySamples::default();
    for _ in 0..plan.reps {
        listen.pool(measure_latency(
            Arc::clone(&pg),
            &enqueuer,
            RunnerConfig::default(),
            plan.latency_listen,
        )?);
        // The floor under it: one insert and its commit, coming alone after an idle gap,
        // about as often as the jobs above (each took a wake-up, about a millisecond, and a
        // 2 ms gap).
        let inserts = raw::pgbench_paced_inserts(&url, 300, plan.latency_listen)?;
        load_pg(&url, 0)?;
        floor.pool(LatencySamples { total_ms: inserts, ..LatencySamples::default() });
    }
    rows.push(latency_row("postgres", "listen/notify", poll, listen));
    rows.push(latency_row(
        "pgbench",
        "paced insert, no wake-up (the floor)",
        Duration::ZERO,
        floor,
    ));
    let polling = RunnerConfig { use_notifications: false, ..RunnerConfig::default() };
    let polled = measure_latency(Arc::clone(&pg), &enqueuer, polling.clone(), plan.latency_poll)?;
    rows.push(latency_row("postgres", "polling", poll, polled));
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("latency.sqlite3");
    let sqlite = Arc::new(SqliteStorage::open(SqliteConfig::new(&path))?);
    sqlite.migrate()?;
    // Enqueued through another handle, as another process would: only polling finds it.
    let other = SqliteStorage::open(SqliteConfig::new(&path))?;
    let polled = measure_latency(sqlite, &other, polling, plan.latency_poll)?;
    rows.push(latency_row("sqlite", "polling", poll, polled));
    Ok(rows)
}

/// µs per claim-and-complete of one job, over `plan.claims` claims, `plan.reps` times.
/// µs per claim on each of `storages`, measured in turns: each repetition runs
/// `plan.claims` claims on each storage, in reverse order every other repetition, so that a
/// drift of the shared machine over the section (its CPU or disk slowing for a while) weighs
/// on every storage alike rather than on whichever one was measured at that time.
fn claim_costs(storages: &[&PgStorage], plan: &Plan) -> Result<Vec<Figure>> {
    let mut costs = vec![Vec::new(); storages.len()];
    for rep in 0..plan.reps {
        let mut order: Vec<usize> = (0..storages.len()).collect();
        if rep % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let started = Instant::now();
            for _ in 0..plan.claims {
                let claimed = storages[i]
                    .run_next(&JobFilter::Types(&[Noop::JOB_NAME]), &mut |_| Outcome::Succeeded)?;
                anyhow::ensure!(claimed.is_some(), "the queue ran dry");
            }
            costs[i].push(started.elapsed().as_secs_f64() * 1e6 / plan.claims as f64);
        }
    }
    Ok(costs.into_iter().map(figure).collect())
}

/// A storage on a database of its own for the claim cost section: commits not waiting for
/// the disk (each claim is a transaction; this section measures the claim, not the flush),
/// and no autovacuum, whose runs would land on whichever measurement was under way.
fn claim_storage(server: &PgServer) -> Result<(PgStorage, String)> {
    let (url, name) = server.create_database()?;
    diesel::sql_query(format!("ALTER DATABASE \"{name}\" SET synchronous_commit = off"))
        .execute(&mut PgConnection::establish(&url)?)?;
    let storage = PgStorage::connect(PgConfig { pool_size: 4, ..PgConfig::new(url.clone()) })?;
    storage.migrate()?;
    diesel::sql_query("ALTER TABLE background_jobs SET (autovacuum_enabled = false)")
        .execute(&mut PgConnection::establish(&url)?)?;
    Ok((storage, url))
}

/// `waiting` jobs enqueued before `runnable` ones: waiting for a retry an hour away at
/// `priority` (or exhausted, when `priority` is `None`); statistics taken while the table
/// was empty when `stale` is set, otherwise after loading.
fn load_backlog(
    url: &str,
    runnable: u64,
    waiting: u64,
    priority: Option<i16>,
    stale: bool,
) -> Result<()> {
    let mut conn = PgConnection::establish(url)?;
    diesel::sql_query("TRUNCATE background_jobs").execute(&mut conn)?;
    if stale {
        diesel::sql_query("ANALYZE background_jobs").execute(&mut conn)?;
    }
    let (priority, run_at) = match priority {
        Some(p) => (p, "now() + interval '1 hour'"),
        None => (0, "NULL"),
    };
    diesel::sql_query(format!(
        "INSERT INTO background_jobs (job_type, data, priority, retries, run_at) \
         SELECT 'noop', jsonb_build_object('waiting', g), {priority}, 3, {run_at} \
         FROM generate_series(1, $1) g"
    ))
    .bind::<BigInt, _>(i64::try_from(waiting)?)
    .execute(&mut conn)?;
    diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data, run_at) \
         SELECT 'noop', jsonb_build_object('n', g), now() - interval '1 second' \
         FROM generate_series(1, $1) g",
    )
    .bind::<BigInt, _>(i64::try_from(runnable)?)
    .execute(&mut conn)?;
    if !stale {
        diesel::sql_query("ANALYZE background_jobs").execute(&mut conn)?;
    }
    Ok(())
}

/// Claim cost by table state. The database commits without waiting for the flush
/// (`synchronous_commit = off`, set before the storage connects): the flush costs the same
/// in every state, and with it in the figure the disk's noise would swamp the claim's cost,
/// which is what these rows compare. Autovacuum is off for the job table: a vacuum or an
/// analysis that a load sets off would run beside the claims measured after it, and an
/// analysis would end a stale-statistics case's premise partway through its measurement.
fn claim_vs_depth(server: &PgServer, plan: &Plan) -> Result<DepthResult> {
    // Each depth on a database of its own, all loaded first, then measured in turns.
    let mut depths = Vec::new();
    for &depth in &plan.depths {
        let (storage, url) = claim_storage(server)?;
        load_pg(&url, depth)?;
        depths.push((depth, storage, url));
    }
    let storages: Vec<&PgStorage> = depths.iter().map(|(_, storage, _)| storage).collect();
    let costs = claim_costs(&storages, plan)?;
    let mut rows = Vec::new();
    for ((depth, _, _), cost) in depths.iter().zip(costs) {
        eprintln!("claim_vs_depth {depth}: {:.0} µs per claim", cost.median);
        rows.push((*depth, cost));
    }
    let ratio = match (rows.first(), rows.last()) {
        (Some((_, first)), Some((_, last))) => last.median / first.median,
        _ => f64::NAN,
    };
    // Each case beside a clean queue of the same runnable jobs, the two measured in turns;
    // the databases of the depths serve again, reloaded.
    let runnable = plan.depths[0];
    let [(_, clean, clean_url), (_, behind, behind_url), ..] = depths.as_slice() else {
        anyhow::bail!("the claim cost section needs at least two depths");
    };
    let mut backlog = Vec::new();
    for (case, priority, stale) in [
        ("100,000 waiting for a retry, same priority", Some(0), false),
        ("100,000 waiting for a retry, higher priority", Some(5), false),
        ("100,000 exhausted", None, false),
        ("100,000 waiting, same priority, stale statistics", Some(0), true),
        ("100,000 waiting, higher priority, stale statistics", Some(5), true),
    ] {
        load_pg(clean_url, runnable)?;
        load_backlog(behind_url, runnable, 100_000, priority, stale)?;
        let mut costs = claim_costs(&[clean, behind], plan)?.into_iter();
        let (Some(clean), Some(cost)) = (costs.next(), costs.next()) else {
            anyhow::bail!("claim_costs returned fewer figures than storages");
        };
        let ratio = cost.median / clean.median;
        eprintln!(
            "claim_vs_depth {runnable} runnable behind {case}: {:.0} µs per claim, clean {:.0} ({ratio:.2}x)",
            cost.median, clean.median
        );
        backlog.push(BacklogRow {
            case,
            runnable,
            waiting: 100_000,
            us_per_claim: cost,
            clean_us_per_claim: clean,
            ratio,
        });
    }
    Ok(DepthResult { claims_per_depth: plan.claims, rows, ratio, backlog })
}

fn burst(server: &PgServer, plan: &Plan) -> Result<BurstResult> {
    use registry_jobs::{
        publish, register_index_jobs, Database, IndexContext, PublishRequest,
        RegistryConnection as _,
    };
    let (mut seconds, mut commits, mut pushes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..plan.reps {
        let (storage, url) = pg_storage(server, 6)?;
        let storage = Arc::new(storage);
        let mut conn = PgConnection::establish(&url)?;
        conn.run_migrations()?;
        let upstream = index_git::testing::UpstreamIndex::new();
        // The remote counts the pushes it receives.
        let received = upstream.path().join("pushes-received");
        let hook = upstream.path().join("hooks/post-receive");
        std::fs::create_dir_all(upstream.path().join("hooks"))?;
        std::fs::write(&hook, format!("#!/bin/sh\necho push >> '{}'\n", received.display()))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
        let repo = index_git::IndexRepo::open_or_clone(upstream.repo_config("worker"))?;
        let ctx = Arc::new(IndexContext::new(repo, Database::Postgres(storage.pool().clone())));
        for i in 0..plan.burst {
            let request = PublishRequest {
                name: format!("burst{i}"),
                vers: "1.0.0".to_owned(),
                deps: vec![],
                features: Default::default(),
                links: None,
                rust_version: None,
                cksum: format!("{i:064x}"),
            };
            publish(&mut conn, &request)?;
        }
        let before = upstream.commit_count();
        let started = Instant::now();
        let report = register_index_jobs(Runner::new(Arc::clone(&storage), drain_config()), ctx)
            .run_until_empty()?;
        seconds.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(report.failed == 0, "{} index job runs failed", report.failed);
        commits.push((upstream.commit_count() - before) as f64);
        let received = std::fs::read_to_string(&received).unwrap_or_default();
        pushes.push(received.lines().count() as f64);
    }
    let (seconds, commits, pushes) = (figure(seconds), figure(commits), figure(pushes));
    eprintln!(
        "burst {}: {:.1} s, {} commits, {} pushes (medians)",
        plan.burst, seconds.median, commits.median, pushes.median
    );
    Ok(BurstResult { publishes: plan.burst, seconds, commits, pushes })
}

/// This process's CPU time (user + system), from `/proc/self/stat`.
fn cpu_time() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Ok(Duration::from_millis(ticks * 10))
}

/// An idle runner with 8 workers listening for notifications: CPU over `plan.idle_seconds`.
fn idle_cpu(server: &PgServer, plan: &Plan) -> Result<IdleResult> {
    let (pg, _) = pg_storage(server, 10)?;
    let workers = 8;
    let runner = Runner::new(Arc::new(pg), RunnerConfig::default())
        .register::<Noop>(())
        .workers(queue_core::DEFAULT_QUEUE, workers)
        .start()?;
    std::thread::sleep(Duration::from_millis(500));
    let (cpu, wall) = (cpu_time()?, Instant::now());
    std::thread::sleep(Duration::from_secs(plan.idle_seconds));
    let used = cpu_time()?.saturating_sub(cpu).as_secs_f64();
    let seconds = wall.elapsed().as_secs_f64();
    runner.shutdown(Duration::from_secs(10));
    let cpu_percent = used / seconds * 100.0;
    eprintln!("idle runner, {workers} workers: {cpu_percent:.2}% of a core over {seconds:.1} s");
    Ok(IdleResult { workers, seconds, cpu_percent })
}

fn status_kib(field: &str) -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))
}

/// A worker's peak resident memory while the library drains `jobs` jobs in batches of 100,
/// for each of `plan.memory_jobs`. Each drain runs in a new process of this binary
/// ([`memory_child`]), so that its peak is its own: in this process, which has run every
/// section before, a drain could grow into heap that earlier sections freed and the peak
/// would not show it.
fn memory(server: &PgServer, plan: &Plan) -> Result<Vec<MemoryRow>> {
    let exe = std::env::current_exe().context("finding this program to start a worker")?;
    let mut rows = Vec::new();
    for &jobs in &plan.memory_jobs {
        let (url, _) = server.create_database()?;
        PgStorage::connect(PgConfig::new(url.clone()))?.migrate()?;
        load_pg(&url, jobs)?;
        let output = std::process::Command::new(&exe)
            .args([MEMORY_CHILD, &url, &jobs.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("starting {}", exe.display()))?;
        anyhow::ensure!(output.status.success(), "the draining worker failed: {}", output.status);
        let row: MemoryRow = serde_json::from_slice(&output.stdout)
            .context("reading the draining worker's report")?;
        anyhow::ensure!(row.jobs == jobs, "the worker drained {} of {jobs} jobs", row.jobs);
        anyhow::ensure!(count_pg(&url)? == 0, "jobs were left after the worker's drain");
        eprintln!(
            "memory: draining {jobs} jobs: {:.1} MiB before, peak {:.1} MiB",
            row.before_mib, row.peak_mib
        );
        rows.push(row);
    }
    Ok(rows)
}

/// The command [`memory`] starts this binary with: `bench-memory-child URL JOBS`.
pub(crate) const MEMORY_CHILD: &str = "bench-memory-child";

/// The worker process of [`memory`]: connects to `URL`, drains its `JOBS` preloaded jobs
/// with one worker in batches of 100, and prints a [`MemoryRow`] as JSON: the resident set
/// once connected, and the peak (VmHWM) of the whole process.
pub(crate) fn memory_child(args: &[String]) -> Result<()> {
    let [url, jobs] = args else {
        anyhow::bail!("usage: {MEMORY_CHILD} URL JOBS");
    };
    let jobs: u64 = jobs.parse().with_context(|| format!("JOBS is not a number: `{jobs}`"))?;
    let pg = Arc::new(PgStorage::connect(PgConfig { pool_size: 4, ..PgConfig::new(url.clone()) })?);
    let before_mib = status_kib("VmRSS:")? / 1024.0;
    drain_with_library(&pg, 1, jobs, true)?;
    let peak_mib = status_kib("VmHWM:")? / 1024.0;
    println!("{}", serde_json::to_string(&MemoryRow { jobs, before_mib, peak_mib })?);
    Ok(())
}

/// Per-repetition ratios, with the goal they are held to.
fn ratios(pairs: &Figure, goal: f64) -> String {
    format!(
        "median {:.2}, min {:.2}, max {:.2} (goal ≥ {goal})",
        pairs.median, pairs.min, pairs.max
    )
}

fn print_table(results: &Results) {
    println!("\n{:<20} {:<44} {:>14} {:>14} {:>14}", "measurement", "case", "median", "min", "max");
    let row = |m: &str, case: String, f: &Figure, unit: &str| {
        println!(
            "{m:<20} {case:<44} {:>10.1} {unit:<3} {:>10.1} {unit:<3} {:>10.1} {unit:<3}",
            f.median, f.min, f.max
        );
    };
    let note = |m: &str, case: String, text: String| println!("{m:<20} {case:<44} {text}");
    for d in &results.queue_drain {
        let case = format!("{} {} {} workers", d.backend, d.mode, d.workers);
        row("queue_drain", case, &d.jobs_per_sec, "j/s");
        let raw = d.jobs_per_sec.median / d.raw_jobs_per_sec.median;
        row(
            "queue_drain",
            format!("  raw loop, same batch (library/raw {raw:.2})"),
            &d.raw_jobs_per_sec,
            "j/s",
        );
        if let Some(bench) = &d.pgbench_jobs_per_sec {
            let ratio = d.jobs_per_sec.median / bench.median;
            row(
                "queue_drain",
                format!("  pgbench, same state (library/pgbench {ratio:.2}, of the medians)"),
                bench,
                "j/s",
            );
        }
        if let Some(pairs) = &d.pgbench_paired_ratio {
            note("queue_drain", "  library/pgbench in each repetition".into(), ratios(pairs, 0.9));
        }
    }
    if let Some(g) = &results.graphile {
        // The batched drain's best against graphile-worker's best, each at the number of
        // workers (processes) that suits it.
        let best = |values: &mut dyn Iterator<Item = f64>| values.fold(f64::NAN, f64::max);
        let library = best(
            &mut results
                .queue_drain
                .iter()
                .filter(|d| d.backend == "postgres" && d.mode == "batched")
                .map(|d| d.jobs_per_sec.median),
        );
        for r in &g.rows {
            let same_count = results
                .queue_drain
                .iter()
                .find(|d| {
                    d.backend == "postgres" && d.mode == "batched" && d.workers == r.processes
                })
                .map(|d| {
                    format!(
                        ", batched drain at {} workers / this {:.2}",
                        r.processes,
                        d.jobs_per_sec.median / r.jobs_per_sec.median
                    )
                })
                .unwrap_or_default();
            row(
                "graphile_drain",
                format!("{} processes{same_count}", r.processes),
                &r.jobs_per_sec,
                "j/s",
            );
        }
        let graphile = best(&mut g.rows.iter().map(|r| r.jobs_per_sec.median));
        note(
            "graphile_drain",
            format!("batched drain's best / graphile-worker {}'s best", g.version),
            format!("{:.2} (goal ≥ 2)", library / graphile),
        );
    }
    for e in &results.enqueue {
        row(
            "enqueue",
            format!("{} {} {} clients", e.backend, e.mode, e.clients),
            &e.jobs_per_sec,
            "j/s",
        );
        if let Some(bench) = &e.pgbench_jobs_per_sec {
            let ratio = e.jobs_per_sec.median / bench.median;
            row(
                "enqueue",
                format!("  pgbench (library/pgbench {ratio:.2}, of the medians)"),
                bench,
                "j/s",
            );
        }
        if let Some(pairs) = &e.pgbench_paired_ratio {
            note("enqueue", "  library/pgbench in each repetition".into(), ratios(pairs, 0.8));
        }
    }
    for l in &results.latency {
        note(
            "latency",
            format!("{} {}", l.backend, l.wake_up),
            format!(
                "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} jobs){}",
                l.p50_ms,
                l.p99_ms,
                l.max_ms,
                l.jobs,
                l.split.as_ref().map(split_text).unwrap_or_default()
            ),
        );
        if let Some(runs) = &l.runs {
            let goal = if l.split.is_some() { " (goal p50 ≤ 1.0, p99 ≤ 3)" } else { "" };
            let text = |f: &Figure| {
                format!("median {:.2} ms, min {:.2}, max {:.2}", f.median, f.min, f.max)
            };
            note("latency", "  p50 of each run".into(), format!("{}{goal}", text(&runs.p50_ms)));
            note("latency", "  p99 of each run".into(), text(&runs.p99_ms));
        }
    }
    for (depth, f) in &results.claim_vs_depth.rows {
        row("claim_vs_depth", format!("{depth} runnable"), f, "µs");
    }
    note(
        "claim_vs_depth",
        "ratio largest / smallest".into(),
        format!("{:.2} (goal ≤ 1.3)", results.claim_vs_depth.ratio),
    );
    for b in &results.claim_vs_depth.backlog {
        row(
            "claim_vs_depth",
            format!("{} runnable, {}", b.runnable, b.case),
            &b.us_per_claim,
            "µs",
        );
        note(
            "claim_vs_depth",
            "  ratio to the clean queue".into(),
            format!(
                "{:.2} (goal ≤ 1.3; clean queue, in turns with it: {:.1} µs)",
                b.ratio, b.clean_us_per_claim.median
            ),
        );
    }
    for r in &results.index_edit_vs_size.rows {
        row("index_edit_vs_size", format!("{} crates", r.crates), &r.ms_per_edit, "ms");
        note(
            "index_edit_vs_size",
            "  where the median edit went".into(),
            format!(
                "fetch {:.1} ms, tree {:.1} ms, commit {:.1} ms, push {:.1} ms; {:.0} files in the edited directory",
                r.fetch_ms.median, r.tree_ms.median, r.commit_ms.median, r.push_ms.median, r.files_in_edited_dir
            ),
        );
    }
    note(
        "index_edit_vs_size",
        "ratio largest / smallest".into(),
        format!("{:.2} (goal ≤ 1.5)", results.index_edit_vs_size.ratio),
    );
    note(
        "index_edit_vs_size",
        "  without the push (fetch, tree and commit of each edit)".into(),
        format!("{:.2}", results.index_edit_vs_size.own_ratio),
    );
    let b = &results.burst;
    row("burst", format!("{} publishes", b.publishes), &b.seconds, "s");
    row("burst", "  commits on the remote".into(), &b.commits, "");
    row("burst", "  pushes received (goal ≤ 50)".into(), &b.pushes, "");
    let i = &results.idle;
    note(
        "idle",
        format!("runner with {} workers, {:.0} s", i.workers, i.seconds),
        format!("{:.2}% of a core (goal < 1%)", i.cpu_percent),
    );
    for m in &results.memory {
        note(
            "memory",
            format!("draining {} jobs, batches of 100", m.jobs),
            format!("{:.1} MiB before, peak {:.1} MiB", m.before_mib, m.peak_mib),
        );
    }
    if let (Some(first), Some(last)) = (results.memory.first(), results.memory.last()) {
        note(
            "memory",
            format!("peak at {} jobs / at {} jobs", last.jobs, first.jobs),
            format!("{:.2} (goal: no growth with the queue)", last.peak_mib / first.peak_mib),
        );
    }
    for r in &results.publish_http.rows {
        note(
            "publish_http",
            format!("{} publishes by {} publishers (SQLite)", r.publishes, r.publishers),
            format!(
                "{:.0}/s, response p50 {:.1} ms, p99 {:.1} ms (goal p99 ≤ 50 ms with 8)",
                r.per_second, r.p50_ms, r.p99_ms
            ),
        );
    }
    let v = &results.publish_http.visible;
    note(
        "publish_http",
        format!("publish → in the sparse index, {} samples", v.samples),
        format!("p50 {:.0} ms, p99 {:.0} ms (goal ≤ 500 / ≤ 2000)", v.p50_ms, v.p99_ms),
    );
    for s in &results.storage {
        note(
            "storage",
            format!("{}, {} writes of each", s.store, s.writes),
            format!(
                ".crate p50 {:.2} ms p99 {:.2} ms; index file p50 {:.2} ms p99 {:.2} ms",
                s.crate_p50_ms, s.crate_p99_ms, s.index_p50_ms, s.index_p99_ms
            ),
        );
    }
}
