//! `registry-monitor`: run from cron, it checks the job queue and pages on-call through the
//! PagerDuty Events API v2 when jobs wait too long, run too long or keep failing, and
//! resolves the page when the check passes again. When the checks cannot run at all (the
//! database is unreachable, the role lacks a permission), that is paged too, under its own
//! `dedup_key`, and resolved once they run again.
//!
//! It only reads: a role with `SELECT` on `background_jobs` (and, on PostgreSQL, membership
//! in `pg_read_all_stats`, to see how long other roles' workers have held their claims) is
//! enough.
//!
//! Exit codes: 0 all checks pass, 1 a check failed, 2 the checks could not run.

mod checks;
mod pager;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use queue_diesel::{AnyStorage, DatabaseUrl};

use crate::checks::{checks_ran, run_checks, CheckResult, Limits};
use crate::pager::Pager;

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
    /// Page when a job has been running longer than this (a hung push): minutes, or a
    /// number with `s`, `m` or `h`.
    #[arg(long, env = "MAX_RUN_TIME", default_value = "30", value_parser = parse_run_time)]
    max_run_time: Duration,
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
            .field("max_run_time", &self.max_run_time)
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

/// `30` (minutes), `90s`, `15m`, `2h`: at least a second, at most ten years.
fn parse_run_time(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.trim().find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.trim().split_at(at),
        None => (text.trim(), "m"),
    };
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        other => return Err(format!("unknown unit {other:?}: expected s, m or h")),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30, 90s, 15m or 2h"))?;
    match number.checked_mul(seconds_per) {
        Some(seconds) if (1..=MAX_MINUTES * 60).contains(&seconds) => {
            Ok(Duration::from_secs(seconds))
        }
        _ => Err(format!("{text:?} is out of range: from 1s to {MAX_MINUTES}m (ten years)")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let pager = Pager::new(cli.pagerduty_url.clone(), cli.routing_key.clone());
    let results = match check(&cli) {
        Ok(results) => results,
        Err(err) => {
            let error = redact::redact(&format!("{err:#}")).into_owned();
            eprintln!("error: {error}");
            // Not being able to look is an incident of its own.
            if let Err(err) = pager.report(&checks_ran(Some(&error))) {
                eprintln!("error: paging that the checks could not run: {err}");
            }
            return ExitCode::from(COULD_NOT_RUN);
        }
    };
    for result in &results {
        if let Err(err) = pager.report(result) {
            eprintln!("error: {}", redact::redact(&err.to_string()));
            return ExitCode::from(COULD_NOT_RUN);
        }
    }
    if let Err(err) = print_results(cli.json, &results) {
        eprintln!("error: {err:#}");
        return ExitCode::from(COULD_NOT_RUN);
    }
    if results.iter().all(|r| r.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Opens the database and runs the checks; the last result says that they ran.
fn check(cli: &Cli) -> anyhow::Result<Vec<CheckResult>> {
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
    let storage = AnyStorage::open(&DatabaseUrl::parse(&url)?, &queue_diesel::OpenOptions::new(2))
        .context("opening the job database; check DATABASE_URL and that the server is up")?;
    let limits = Limits {
        max_job_time: Duration::from_secs(cli.max_job_time * 60),
        max_run_time: cli.max_run_time,
        max_failures: cli.max_failures,
    };
    let mut results = run_checks(&storage, limits).context("querying the job table")?;
    results.push(checks_ran(None));
    Ok(results)
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
    use std::time::Duration;

    #[test]
    fn run_times_parse_with_units_and_are_bounded() {
        let parse = super::parse_run_time;
        assert_eq!(parse("30"), Ok(Duration::from_secs(30 * 60)));
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse("0s").is_err());
        assert!(parse("10d").unwrap_err().contains("unknown unit"));
        assert!(parse("99999999999999999999h").is_err());
        assert!(parse("9999999999999h").unwrap_err().contains("out of range"));
        assert!(parse("").is_err());
    }

    #[test]
    fn verify_cli() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
