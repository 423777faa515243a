//! `cargo xtask bench`: how fast the queue and the index writer are, against their limits.
//!
//! Starts a throwaway PostgreSQL with default durability (the same support the tests use)
//! and temporary SQLite files, runs every measurement, prints a table and writes
//! `target/bench/results.json` and PNG charts. Each figure is the median of at least three
//! repetitions, with min and max.

mod charts;

use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
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

struct Plan {
    reps: usize,
    drain_jobs: u64,
    workers: Vec<usize>,
    enqueue_jobs: u64,
    latency_listen: usize,
    latency_poll: usize,
    depths: Vec<u64>,
    claims: u64,
    index_sizes: Vec<usize>,
    burst: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                reps: 3,
                drain_jobs: 1_000,
                workers: vec![1, 2, 4, 8],
                enqueue_jobs: 300,
                latency_listen: 100,
                latency_poll: 8,
                depths: vec![10_000, 100_000],
                claims: 300,
                index_sizes: vec![1_000, 100_000],
                burst: 100,
            }
        } else {
            Plan {
                reps: 3,
                drain_jobs: 20_000,
                workers: vec![1, 2, 4, 8],
                enqueue_jobs: 5_000,
                latency_listen: 1_000,
                latency_poll: 100,
                depths: vec![10_000, 100_000, 1_000_000],
                claims: 2_000,
                index_sizes: vec![1_000, 100_000],
                burst: 1_000,
            }
        }
    }
}

/// Everything one run measured; written as `results.json`.
#[derive(Debug, Serialize)]
pub(crate) struct Results {
    pub(crate) quick: bool,
    pub(crate) queue_drain: Vec<DrainRow>,
    pub(crate) enqueue: Vec<EnqueueRow>,
    pub(crate) latency: Vec<LatencyRow>,
    pub(crate) claim_vs_depth: DepthResult,
    pub(crate) index_edit_vs_size: IndexResult,
    pub(crate) burst: BurstResult,
}

#[derive(Debug, Serialize)]
pub(crate) struct DrainRow {
    pub(crate) backend: &'static str,
    /// `single`: one job per claim transaction; `batched`: up to 100.
    pub(crate) mode: &'static str,
    pub(crate) workers: usize,
    pub(crate) jobs: u64,
    pub(crate) jobs_per_sec: Figure,
    /// The same claim-and-delete transaction without the library (PostgreSQL only).
    pub(crate) raw_jobs_per_sec: Option<Figure>,
    /// Library median / raw median.
    pub(crate) ratio: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct EnqueueRow {
    pub(crate) backend: &'static str,
    pub(crate) mode: &'static str,
    pub(crate) jobs: u64,
    pub(crate) jobs_per_sec: Figure,
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
    #[serde(skip)]
    pub(crate) samples_ms: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DepthResult {
    pub(crate) claims_per_depth: u64,
    pub(crate) rows: Vec<(u64, Figure)>,
    /// µs per claim at the largest depth / at the smallest. Goal: ≤ 1.3.
    pub(crate) ratio: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct IndexResult {
    pub(crate) rows: Vec<(usize, Figure)>,
    /// ms per edit at the largest index / at the smallest. Goal: ≤ 1.5.
    pub(crate) ratio: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct BurstResult {
    pub(crate) publishes: usize,
    pub(crate) seconds: Figure,
    pub(crate) commits: usize,
    pub(crate) pushes: usize,
}

/// Runs every measurement and writes the results.
pub(crate) fn run(root: &Path, quick: bool) -> Result<()> {
    let plan = Plan::new(quick);
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    eprintln!("starting a throwaway PostgreSQL with default durability");
    let server = PgServer::start(&ServerConfig { durable: true, max_connections: 100 })?;
    let started = Instant::now();
    let queue_drain = queue_drain(&server, &plan)?;
    let enqueue = enqueue(&server, &plan)?;
    let latency = latency(&server, &plan)?;
    let claim_vs_depth = claim_vs_depth(&server, &plan)?;
    let index_edit_vs_size = index_edit_vs_size(&plan)?;
    let burst = burst(&server, &plan)?;
    let results =
        Results { quick, queue_drain, enqueue, latency, claim_vs_depth, index_edit_vs_size, burst };
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

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The claim-and-delete transaction in a tight loop, through diesel, without the library.
/// The raw loop's claim: crates.io's query, one row per transaction, without the library.
const RAW_CLAIM_SQL: &str = "SELECT id FROM background_jobs \
    WHERE job_type = ANY($1) AND run_at <= now() \
    ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED";

fn drain_raw(url: &str, workers: usize, jobs: u64) -> Result<f64> {
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let url = url.to_owned();
            std::thread::spawn(move || -> Result<u64> {
                let mut conn = PgConnection::establish(&url)?;
                let mut done = 0;
                loop {
                    let claimed = conn.transaction(|conn| {
                        let row: Option<IdRow> = diesel::sql_query(RAW_CLAIM_SQL)
                            .bind::<Array<Text>, _>(vec!["noop"])
                            .get_result(conn)
                            .optional()?;
                        if let Some(row) = &row {
                            diesel::sql_query("DELETE FROM background_jobs WHERE id = $1")
                                .bind::<BigInt, _>(row.id)
                                .execute(conn)?;
                        }
                        Ok::<_, diesel::result::Error>(row.is_some())
                    })?;
                    if !claimed {
                        return Ok(done);
                    }
                    done += 1;
                }
            })
        })
        .collect();
    let mut total = 0;
    for handle in handles {
        total += handle.join().map_err(|_| anyhow::anyhow!("raw worker panicked"))??;
    }
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(total == jobs, "raw drain ran {total} of {jobs}");
    Ok(jobs as f64 / secs)
}

fn noop_jobs(n: u64) -> Vec<NewJob> {
    (0..n).filter_map(|n| NewJob::from_job(&Noop { n }).ok()).collect()
}

fn queue_drain(server: &PgServer, plan: &Plan) -> Result<Vec<DrainRow>> {
    let mut rows = Vec::new();
    let (storage, url) = pg_storage(server, 10)?;
    let storage = Arc::new(storage);
    for &workers in &plan.workers {
        let (mut library, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..plan.reps {
            load_pg(&url, plan.drain_jobs)?;
            library.push(drain_with_library(&storage, workers, plan.drain_jobs, false)?);
            load_pg(&url, plan.drain_jobs)?;
            raw.push(drain_raw(&url, workers, plan.drain_jobs)?);
        }
        let (library, raw) = (figure(library), figure(raw));
        eprintln!(
            "queue_drain postgres {workers} workers: {:.0} jobs/s (raw {:.0})",
            library.median, raw.median
        );
        let mut batched = Vec::new();
        for _ in 0..plan.reps {
            load_pg(&url, plan.drain_jobs)?;
            batched.push(drain_with_library(&storage, workers, plan.drain_jobs, true)?);
        }
        let batched = figure(batched);
        eprintln!("queue_drain postgres {workers} workers batched: {:.0} jobs/s", batched.median);
        rows.push(DrainRow {
            backend: "postgres",
            mode: "batched",
            workers,
            jobs: plan.drain_jobs,
            jobs_per_sec: batched,
            raw_jobs_per_sec: Some(raw),
            ratio: Some(batched.median / raw.median),
        });
        rows.push(DrainRow {
            backend: "postgres",
            mode: "single",
            workers,
            jobs: plan.drain_jobs,
            jobs_per_sec: library,
            raw_jobs_per_sec: Some(raw),
            ratio: Some(library.median / raw.median),
        });
    }
    let dir = tempfile::tempdir()?;
    let storage = Arc::new(SqliteStorage::open(SqliteConfig {
        pool_size: 12,
        ..SqliteConfig::new(dir.path().join("bench.sqlite3"))
    })?);
    storage.migrate()?;
    let jobs = noop_jobs(plan.drain_jobs);
    for &workers in &plan.workers {
        let mut library = Vec::new();
        for _ in 0..plan.reps {
            for chunk in jobs.chunks(1000) {
                storage.enqueue_batch(chunk)?;
            }
            library.push(drain_with_library(&storage, workers, plan.drain_jobs, false)?);
        }
        let library = figure(library);
        eprintln!("queue_drain sqlite {workers} workers: {:.0} jobs/s", library.median);
        rows.push(DrainRow {
            backend: "sqlite",
            mode: "single",
            workers,
            jobs: plan.drain_jobs,
            jobs_per_sec: library,
            raw_jobs_per_sec: None,
            ratio: None,
        });
    }
    Ok(rows)
}

fn enqueue_rates<S: Storage>(
    storage: &S,
    backend: &'static str,
    plan: &Plan,
    out: &mut Vec<EnqueueRow>,
) -> Result<()> {
    let single = noop_jobs(plan.enqueue_jobs);
    let batched = noop_jobs(plan.enqueue_jobs * 10);
    let (mut singles, mut batches) = (Vec::new(), Vec::new());
    for _ in 0..plan.reps {
        let started = Instant::now();
        for job in &single {
            storage.enqueue(job)?;
        }
        singles.push(single.len() as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        for chunk in batched.chunks(100) {
            storage.enqueue_batch(chunk)?;
        }
        batches.push(batched.len() as f64 / started.elapsed().as_secs_f64());
    }
    out.push(EnqueueRow {
        backend,
        mode: "single",
        jobs: plan.enqueue_jobs,
        jobs_per_sec: figure(singles),
    });
    out.push(EnqueueRow {
        backend,
        mode: "batch of 100",
        jobs: plan.enqueue_jobs * 10,
        jobs_per_sec: figure(batches),
    });
    Ok(())
}

fn enqueue(server: &PgServer, plan: &Plan) -> Result<Vec<EnqueueRow>> {
    let mut rows = Vec::new();
    let (pg, _) = pg_storage(server, 4)?;
    enqueue_rates(&pg, "postgres", plan, &mut rows)?;
    let dir = tempfile::tempdir()?;
    let sqlite = SqliteStorage::open(SqliteConfig::new(dir.path().join("enqueue.sqlite3")))?;
    sqlite.migrate()?;
    enqueue_rates(&sqlite, "sqlite", plan, &mut rows)?;
    for row in &rows {
        eprintln!("enqueue {} {}: {:.0} jobs/s", row.backend, row.mode, row.jobs_per_sec.median);
    }
    Ok(rows)
}

/// Enqueues `jobs` jobs one at a time through `enqueuer`, each after the previous one
/// started, with idle workers over `storage`; returns enqueue-to-start times in ms.
fn measure_latency<S: Storage, E: Storage>(
    storage: Arc<S>,
    enqueuer: &E,
    config: RunnerConfig,
    jobs: usize,
) -> Result<Vec<f64>> {
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
    let mut samples = Vec::with_capacity(jobs);
    for n in 0..jobs {
        let enqueued = Instant::now();
        enqueuer.enqueue(&NewJob::from_job(&Noop { n: n as u64 })?)?;
        let started = rx.recv_timeout(Duration::from_secs(30)).context("a job never started")?;
        samples.push(started.saturating_duration_since(enqueued).as_secs_f64() * 1000.0);
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
    mut samples: Vec<f64>,
) -> LatencyRow {
    samples.sort_by(|a, b| a.total_cmp(b));
    let row = LatencyRow {
        backend,
        wake_up,
        poll_interval_ms: poll.as_millis() as u64,
        jobs: samples.len(),
        p50_ms: percentile(&samples, 50.0),
        p99_ms: percentile(&samples, 99.0),
        max_ms: samples.last().copied().unwrap_or(f64::NAN),
        samples_ms: samples,
    };
    eprintln!(
        "latency {backend} {wake_up}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        row.p50_ms, row.p99_ms, row.max_ms
    );
    row
}

fn latency(server: &PgServer, plan: &Plan) -> Result<Vec<LatencyRow>> {
    let poll = RunnerConfig::default().poll_interval;
    let mut rows = Vec::new();
    let (pg, url) = pg_storage(server, 6)?;
    let pg = Arc::new(pg);
    let enqueuer = PgStorage::connect(PgConfig::new(url))?;
    let listen =
        measure_latency(Arc::clone(&pg), &enqueuer, RunnerConfig::default(), plan.latency_listen)?;
    rows.push(latency_row("postgres", "listen/notify", poll, listen));
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

fn claim_vs_depth(server: &PgServer, plan: &Plan) -> Result<DepthResult> {
    let (storage, url) = pg_storage(server, 4)?;
    let mut rows = Vec::new();
    for &depth in &plan.depths {
        load_pg(&url, depth)?;
        let mut costs = Vec::new();
        for _ in 0..plan.reps {
            let started = Instant::now();
            for _ in 0..plan.claims {
                storage
                    .run_next(&JobFilter::Types(&[Noop::JOB_NAME]), &mut |_| Outcome::Succeeded)?;
            }
            costs.push(started.elapsed().as_secs_f64() * 1e6 / plan.claims as f64);
        }
        let cost = figure(costs);
        eprintln!("claim_vs_depth {depth}: {:.0} µs per claim", cost.median);
        rows.push((depth, cost));
    }
    let ratio = match (rows.first(), rows.last()) {
        (Some((_, first)), Some((_, last))) => last.median / first.median,
        _ => f64::NAN,
    };
    Ok(DepthResult { claims_per_depth: plan.claims, rows, ratio })
}

fn index_edit_vs_size(plan: &Plan) -> Result<IndexResult> {
    use index_git::{Edit, IndexLine, IndexRepo};
    let line = |name: &str, vers: &str| IndexLine {
        name: name.into(),
        vers: vers.into(),
        deps: vec![],
        cksum: "0".repeat(64),
        features: Default::default(),
        features2: None,
        yanked: false,
        links: None,
        rust_version: None,
        pubtime: None,
        v: None,
    };
    let mut rows = Vec::new();
    for &size in &plan.index_sizes {
        let upstream = index_git::testing::UpstreamIndex::new();
        {
            let repo = git2::Repository::open_bare(upstream.path())?;
            let head = repo.find_reference("refs/heads/master")?.peel_to_commit()?;
            let mut builder = git2::build::TreeUpdateBuilder::new();
            let filler =
                repo.blob(format!("{}\n", line("c000000", "1.0.0").to_json()).as_bytes())?;
            let edited =
                repo.blob(format!("{}\n", line("c000123", "1.0.0").to_json()).as_bytes())?;
            for i in 0..size {
                let name = format!("c{i:06}");
                let blob = if name == "c000123" { edited } else { filler };
                builder.upsert(
                    format!("{}/{}/{name}", &name[..2], &name[2..4]),
                    blob,
                    git2::FileMode::Blob,
                );
            }
            let tree = repo.find_tree(builder.create_updated(&repo, &head.tree()?)?)?;
            let sig = git2::Signature::now("bench", "bench@example.invalid")?;
            repo.commit(Some("refs/heads/master"), &sig, &sig, "Fill", &tree, &[&head])?;
        }
        let repo = IndexRepo::open_or_clone(upstream.repo_config("worker"))?;
        let mut costs = Vec::new();
        for rep in 0..plan.reps.max(5) {
            let started = Instant::now();
            repo.apply(&[Edit::Put(line("c000123", &format!("2.0.{rep}")))])?;
            costs.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let cost = figure(costs);
        eprintln!("index_edit_vs_size {size} crates: {:.1} ms per publish edit", cost.median);
        rows.push((size, cost));
    }
    let ratio = match (rows.first(), rows.last()) {
        (Some((_, first)), Some((_, last))) => last.median / first.median,
        _ => f64::NAN,
    };
    Ok(IndexResult { rows, ratio })
}

fn burst(server: &PgServer, plan: &Plan) -> Result<BurstResult> {
    use registry_jobs::{
        publish, register_index_jobs, Database, IndexContext, PublishRequest,
        RegistryConnection as _,
    };
    let mut seconds = Vec::new();
    let (mut commits, mut pushes) = (0, 0);
    for _ in 0..plan.reps {
        let (storage, url) = pg_storage(server, 6)?;
        let storage = Arc::new(storage);
        let mut conn = PgConnection::establish(&url)?;
        conn.run_migrations()?;
        let upstream = index_git::testing::UpstreamIndex::new();
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
        commits = upstream.commit_count() - before;
        // Every commit is pushed on its own (a batch is one commit), and no push happens
        // without a commit.
        pushes = commits;
    }
    let seconds = figure(seconds);
    eprintln!("burst {}: {:.1} s, {commits} commits, {pushes} pushes", plan.burst, seconds.median);
    Ok(BurstResult { publishes: plan.burst, seconds, commits, pushes })
}

fn print_table(results: &Results) {
    println!("\n{:<20} {:<34} {:>14} {:>14} {:>14}", "measurement", "case", "median", "min", "max");
    let row = |m: &str, case: String, f: &Figure, unit: &str| {
        println!(
            "{m:<20} {case:<34} {:>10.1} {unit:<3} {:>10.1} {unit:<3} {:>10.1} {unit:<3}",
            f.median, f.min, f.max
        );
    };
    for d in &results.queue_drain {
        let case = format!("{} {} {} workers", d.backend, d.mode, d.workers);
        row("queue_drain", case, &d.jobs_per_sec, "j/s");
        if let (Some(raw), Some(ratio)) = (&d.raw_jobs_per_sec, d.ratio) {
            row("queue_drain", format!("  raw loop (library/raw {ratio:.2})"), raw, "j/s");
        }
    }
    for e in &results.enqueue {
        row("enqueue", format!("{} {}", e.backend, e.mode), &e.jobs_per_sec, "j/s");
    }
    for l in &results.latency {
        println!(
            "{:<20} {:<34} p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} jobs)",
            "latency",
            format!("{} {}", l.backend, l.wake_up),
            l.p50_ms,
            l.p99_ms,
            l.max_ms,
            l.jobs
        );
    }
    for (depth, f) in &results.claim_vs_depth.rows {
        row("claim_vs_depth", format!("{depth} pending"), f, "µs");
    }
    println!(
        "{:<20} {:<34} {:.2} (goal ≤ 1.3)",
        "claim_vs_depth", "ratio largest / smallest", results.claim_vs_depth.ratio
    );
    for (size, f) in &results.index_edit_vs_size.rows {
        row("index_edit_vs_size", format!("{size} crates"), f, "ms");
    }
    println!(
        "{:<20} {:<34} {:.2} (goal ≤ 1.5)",
        "index_edit_vs_size", "ratio largest / smallest", results.index_edit_vs_size.ratio
    );
    let b = &results.burst;
    row("burst", format!("{} publishes", b.publishes), &b.seconds, "s");
    println!("{:<20} {:<34} {} commits, {} pushes (goal ≤ 50)", "burst", "", b.commits, b.pushes);
}
