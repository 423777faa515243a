//! The subcommands: thin wrappers over the libraries.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use queue_core::{Event, JobId, JobInfo, Runner, Storage as _};
use registry_jobs::{reconcile, register_index_jobs, INDEX_QUEUE};

use crate::{Cli, Command, JobsCommand};
use registry_jobs::site::{log_event, runner_config, Site as Registry};

/// How long running jobs get to finish after SIGINT or SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Run { until_empty, workers } => {
            run_worker(&cli, *until_empty, usize::from(*workers))
        }
        Command::Migrate => {
            let registry = Registry::open(&cli.config(), 2)?;
            let applied = registry.migrate()?;
            if applied.is_empty() {
                println!("no pending migrations");
            }
            for version in applied {
                println!("applied migration {version}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish { file } => {
            let registry = open_migrated(&cli)?;
            let published = registry
                .database
                .publish_crate_file(&registry.store, file)
                .with_context(|| format!("publishing {}", file.display()))?;
            println!(
                "published {} {}; {}",
                published.name,
                published.vers,
                job_text(published.job)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Yank { name, version } | Command::Unyank { name, version } => {
            let yanking = matches!(cli.command, Command::Yank { .. });
            let registry = open_migrated(&cli)?;
            let verb = if yanking { "yank" } else { "unyank" };
            let outcome = registry
                .database
                .set_yanked(name, version, yanking)
                .with_context(|| format!("{verb} {name} {version}"))?;
            if outcome.changed {
                println!("{verb}ed {name} {version}; {}", job_text(outcome.job));
            } else {
                println!("{name} {version} is already {verb}ed; nothing queued");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Jobs { command } => jobs(&cli, command),
        Command::Reconcile { repair } => {
            let registry = open_migrated(&cli)?;
            let ctx = registry.index_context()?;
            let report = reconcile(&ctx, *repair)?;
            for difference in &report.differences {
                println!("{}", serde_json::to_string(difference)?);
            }
            for unchecked in &report.unchecked {
                eprintln!(
                    "error: could not check {}: {}",
                    unchecked.krate,
                    redact::redact(&unchecked.error)
                );
            }
            if !report.unchecked.is_empty() {
                if report.repair.is_some() {
                    println!("repaired {} differences in one commit", report.differences.len());
                }
                println!(
                    "{} crates could not be checked; fix their rows in the database",
                    report.unchecked.len()
                );
                return Ok(ExitCode::FAILURE);
            }
            match (&report.repair, report.differences.is_empty()) {
                (_, true) => {
                    println!("the index matches the database");
                    Ok(ExitCode::SUCCESS)
                }
                (Some(_), false) => {
                    println!("repaired {} differences in one commit", report.differences.len());
                    Ok(ExitCode::SUCCESS)
                }
                (None, false) => {
                    println!(
                        "{} differences; run `registry-worker reconcile --repair` to fix them",
                        report.differences.len()
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Demo => crate::demo::run(&cli.config()),
    }
}

fn job_text(job: Option<JobId>) -> String {
    match job {
        Some(id) => format!("queued index job {id}"),
        None => "an identical index job was already pending".into(),
    }
}

fn open_migrated(cli: &Cli) -> Result<Registry> {
    let registry = Registry::open(&cli.config(), 4)?;
    registry.migrate()?;
    Ok(registry)
}

fn run_worker(cli: &Cli, until_empty: bool, workers: usize) -> Result<ExitCode> {
    let workers = workers.max(1);
    let registry = Registry::open(&cli.config(), u32::try_from(workers + 2).unwrap_or(u32::MAX))?;
    let applied = registry.migrate()?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    let ctx = registry.index_context()?;
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let build = || {
        let seen = Arc::clone(&failures);
        register_index_jobs(
            Runner::new(Arc::clone(&registry.storage), runner_config()),
            Arc::clone(&ctx),
        )
        .workers(INDEX_QUEUE, workers)
        .on_event(log_event)
        .on_event(move |event| {
            if let Event::Failed { id, job_type, error, .. } = event {
                let first = error.lines().next().unwrap_or_default();
                if let Ok(mut failures) = seen.lock() {
                    failures.push(format!("job {id} ({job_type}): {first}"));
                }
            }
        })
    };
    if until_empty {
        let (succeeded, failed, held) = drain(&registry, build)?;
        println!("ran {succeeded} jobs ({failed} failed runs)");
        let failures = failures.lock().map(|f| f.clone()).unwrap_or_default();
        for failure in &failures {
            eprintln!("error: {}", redact::redact(failure));
        }
        if failed > 0 {
            eprintln!("error: {failed} job runs failed; `registry-worker jobs list` shows them");
        }
        if let Some(first) = held.first() {
            eprintln!(
                "error: {} jobs are still held by other workers after waiting {}; the oldest claim is job {} ({}), taken {} ago",
                held.len(),
                human(HELD_PATIENCE),
                first.job.id,
                first.job.job_type,
                human(SystemTime::now().duration_since(first.since).unwrap_or_default())
            );
        }
        return Ok(if failed == 0 && held.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let runner = build();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let running = runner.start()?;
    tracing::info!(workers, "worker running; SIGINT or SIGTERM stops it");
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    registry_jobs::site::stop_runner(running, SHUTDOWN_GRACE);
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// How long `run --until-empty` waits for jobs other workers hold (a SQLite lease of a
/// worker that was killed lapses within `--sqlite-lease`).
const HELD_PATIENCE: Duration = Duration::from_secs(600);

/// Drains the queue; then, while other workers (live, or dead with a SQLite lease not yet
/// lapsed) hold jobs, waits and drains again, so "empty" means nothing is left to do.
/// Returns successes, failed runs, and the jobs still held after [`HELD_PATIENCE`].
fn drain<S: queue_core::Storage + ?Sized>(
    registry: &Registry,
    build: impl Fn() -> Runner<S>,
) -> Result<(u64, u64, Vec<queue_core::RunningJob>)> {
    let deadline = std::time::Instant::now() + HELD_PATIENCE;
    let (mut succeeded, mut failed) = (0, 0);
    let mut told = None;
    loop {
        let report = build().run_until_empty()?;
        succeeded += report.succeeded;
        failed += report.failed;
        let held = registry
            .storage
            .long_running_jobs(Duration::ZERO)
            .context("listing jobs other workers hold")?;
        if held.is_empty() || std::time::Instant::now() >= deadline {
            return Ok((succeeded, failed, held));
        }
        if told != Some(held.len()) {
            tracing::info!(
                held = held.len(),
                "jobs are held by other workers (or by the lease of a worker that died); waiting for them"
            );
            told = Some(held.len());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn age(job: &JobInfo) -> Duration {
    SystemTime::now().duration_since(job.created_at).unwrap_or_default()
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

fn jobs(cli: &Cli, command: &JobsCommand) -> Result<ExitCode> {
    let registry = open_migrated(cli)?;
    let storage = &registry.storage;
    match command {
        JobsCommand::List { json } => {
            let jobs = storage.pending_jobs(1000).context("listing jobs")?;
            if *json {
                let list: Vec<serde_json::Value> = jobs
                    .iter()
                    .map(|j| {
                        serde_json::json!({
                            "id": j.id,
                            "job_type": j.job_type,
                            "data": j.data,
                            "priority": j.priority,
                            "retries": j.retries,
                            "age_seconds": age(j).as_secs(),
                            "last_error": j.last_error.as_deref().map(|e| redact::redact(e)),
                            "runnable": j.run_at.is_some(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if jobs.is_empty() {
                println!("no pending jobs");
            } else {
                println!(
                    "{:>6}  {:<14} {:>5} {:>7}  {:<40} LAST ERROR",
                    "ID", "TYPE", "AGE", "RETRIES", "ARGUMENTS"
                );
                for j in &jobs {
                    let error =
                        j.last_error.as_deref().and_then(|e| e.lines().next()).unwrap_or("-");
                    let error = redact::redact(error);
                    println!(
                        "{:>6}  {:<14} {:>5} {:>7}  {:<40} {error}",
                        j.id,
                        j.job_type,
                        human(age(j)),
                        j.retries,
                        j.data
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::Retry { id } => {
            if storage.retry_now(JobId(*id)).with_context(|| format!("retrying job {id}"))? {
                println!("job {id} will run now");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: job {id} does not exist");
                Ok(ExitCode::FAILURE)
            }
        }
        JobsCommand::Delete { id } => {
            if storage.delete(JobId(*id)).with_context(|| format!("deleting job {id}"))? {
                println!("deleted job {id}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: job {id} does not exist");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
