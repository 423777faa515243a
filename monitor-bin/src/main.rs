//! `registry-monitor`: run from cron, it checks the job queue and pages on-call through the
//! PagerDuty Events API v2 when jobs wait too long or keep failing, and resolves the page
//! when the check passes again.
//!
//! Exit codes: 0 all checks pass, 1 a check failed, 2 the checks could not run.

mod checks;
mod pager;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use queue_diesel::{AnyStorage, DatabaseUrl};

use crate::checks::{run_checks, CheckResult};
use crate::pager::{Pager, PagerError};

/// Checks the index job queue and pages on-call when it is unhealthy.
#[derive(Parser)]
#[command(name = "registry-monitor", version, about)]
pub(crate) struct Cli {
    /// `postgres://...` URL, or a SQLite file path (default: DATA_DIR/registry.sqlite3).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Directory of the embedded default database.
    #[arg(long, env = "REGISTRY_DATA_DIR", default_value = "./registry-data")]
    data_dir: PathBuf,
    /// Page when a job that is not running has waited longer than this many minutes.
    #[arg(
        long,
        env = "MAX_JOB_TIME",
        default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..=MAX_MINUTES)
    )]
    max_job_time: u64,
    /// Page when a job has failed at least this many times.
    #[arg(long, env = "MAX_JOB_FAILURES", default_value_t = 5)]
    max_failures: u32,
    /// PagerDuty Events API v2 routing key; without one, the events are printed instead.
    #[arg(long, env = "PAGERDUTY_ROUTING_KEY", hide_env_values = true)]
    routing_key: Option<String>,
    /// The Events API endpoint.
    #[arg(long, env = "PAGERDUTY_URL", default_value = "https://events.pagerduty.com/v2/enqueue")]
    pagerduty_url: String,
    /// Print the check results as JSON.
    #[arg(long)]
    json: bool,
}

impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cli")
            .field("database_url", &self.database_url.as_deref().map(redact::Redacted))
            .field("data_dir", &self.data_dir)
            .field("max_job_time", &self.max_job_time)
            .field("max_failures", &self.max_failures)
            .field("routing_key", &self.routing_key.as_ref().map(|_| redact::MASK))
            .field("pagerduty_url", &redact::Redacted(&self.pagerduty_url))
            .field("json", &self.json)
            .finish()
    }
}

const COULD_NOT_RUN: u8 = 2;

/// The longest `--max-job-time` accepted: ten years, in minutes.
const MAX_MINUTES: u64 = 10 * 365 * 24 * 60;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match monitor(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", redact::redact(&format!("{err:#}")));
            ExitCode::from(COULD_NOT_RUN)
        }
    }
}

fn monitor(cli: &Cli) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    let url = match &cli.database_url {
        Some(url) => url.clone(),
        None => {
            let path = cli.data_dir.join("registry.sqlite3");
            anyhow::ensure!(
                path.is_file(),
                "no database at {}: set DATABASE_URL or --data-dir to the worker's",
                path.display()
            );
            path.display().to_string()
        }
    };
    let storage = AnyStorage::open(&DatabaseUrl::parse(&url)?, 2)
        .context("opening the job database; check DATABASE_URL and that the server is up")?;
    let results =
        run_checks(&storage, Duration::from_secs(cli.max_job_time * 60), cli.max_failures)
            .context("querying the job table")?;
    let pager = Pager::new(cli.pagerduty_url.clone(), cli.routing_key.clone());
    for result in &results {
        match pager.report(result) {
            Ok(()) => {}
            Err(err @ PagerError::Rejected { .. }) => {
                eprintln!("error: {}", redact::redact(&err.to_string()));
                return Ok(ExitCode::from(COULD_NOT_RUN));
            }
            Err(err) => return Err(err.into()),
        }
    }
    print_results(cli.json, &results)?;
    Ok(if results.iter().all(|r| r.ok) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_results(json: bool, results: &[CheckResult]) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "checks": results }))?);
    } else {
        for result in results {
            let status = if result.ok { "ok" } else { "FAILED" };
            println!("{status} {}: {}", result.name, result.summary);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
