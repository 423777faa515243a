//! `registry-worker`: runs a Cargo registry's index jobs, and offers its front-end
//! operations (publish, yank, unyank), job administration and the index check from the
//! command line.
//!
//! Without configuration it uses the embedded default under `--data-dir`: a SQLite
//! database, a local bare index repository as the remote, and a crate store.
//! Exit codes: 0 success, 1 an operation failed, 2 usage error.

mod commands;
mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Runs the registry's index jobs and its front-end operations.
#[derive(Parser)]
#[command(name = "registry-worker", version, about)]
pub(crate) struct Cli {
    /// Directory of the embedded default: SQLite database, local index remote, index clone
    /// and crate store.
    #[arg(long, env = "REGISTRY_DATA_DIR", default_value = "./registry-data", global = true)]
    pub(crate) data_dir: PathBuf,
    /// `postgres://...` URL, or a SQLite file path (default: DATA_DIR/registry.sqlite3).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub(crate) database_url: Option<String>,
    /// The index's git URL (default: a bare repository in DATA_DIR, created on first use).
    /// Credentials come from INDEX_GIT_USERNAME / INDEX_GIT_PASSWORD or INDEX_GIT_SSH_KEY.
    #[arg(long, env = "INDEX_URL", global = true, hide_env_values = true)]
    pub(crate) index_url: Option<String>,
    /// The index branch Cargo reads (default: the branch the remote's HEAD names).
    #[arg(long, env = "INDEX_BRANCH", global = true)]
    pub(crate) index_branch: Option<String>,
    /// SQLite only: seconds a claim lasts unless the worker extends it (every third of
    /// it). A worker paused longer than this loses its jobs to other workers and records
    /// nothing for them.
    #[arg(long, env = "SQLITE_LEASE", default_value_t = 60, global = true,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) sqlite_lease: u64,
    /// PostgreSQL only: milliseconds between a worker's promotions of jobs whose retry
    /// time has come, while it keeps finding other jobs: how late, at most, a retry another
    /// process recorded runs (a worker's own retries and an idle worker's claims promote at
    /// once).
    #[arg(long, env = "RETRY_PROMOTION_MS", default_value_t = 1000, global = true,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub(crate) retry_promotion_ms: u64,
    /// The registry server's URL, when one serves this registry: written into the indexes'
    /// `config.json` (`api`, and `dl` at its download endpoint unless --public-url).
    #[arg(long, env = "API_URL", global = true)]
    pub(crate) api_url: Option<String>,
    /// Where the crate store and the sparse index live: `s3://bucket/prefix` (credentials
    /// and endpoint from AWS_* variables); default: the data directory.
    #[arg(long = "storage", env = "STORAGE_URL", global = true, hide_env_values = true)]
    pub(crate) storage_url: Option<String>,
    /// Where cargo reads the storage directly (the bucket's HTTP URL or a CDN in front of
    /// it): `dl` and the sparse index's base in config.json.
    #[arg(long, env = "PUBLIC_URL", global = true)]
    pub(crate) public_url: Option<String>,
    /// Keep a git index besides the sparse one (`--git-index false` switches it off: the
    /// git jobs then complete without touching git, and `reconcile` checks the sparse index
    /// alone).
    #[arg(long, env = "GIT_INDEX", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub(crate) git_index: bool,
    /// A CDN invalidation hook: a command run with each synced index file's path
    /// (`index/se/rd/serde`) as its last argument; a failure fails the job, which is retried.
    #[arg(long, env = "INVALIDATE_COMMAND", global = true)]
    pub(crate) invalidate_command: Option<String>,
    /// Log format on standard error; filter with RUST_LOG (default: info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The configuration's own Debug redacts the URLs.
        f.debug_struct("Cli")
            .field("config", &self.config())
            .field("log_format", &self.log_format)
            .field("command", &self.command)
            .finish()
    }
}

impl Cli {
    /// The parts of the command line that say where the registry is.
    pub(crate) fn config(&self) -> registry_jobs::site::Config {
        registry_jobs::site::Config {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            index_url: self.index_url.clone(),
            index_branch: self.index_branch.clone(),
            sqlite_lease: std::time::Duration::from_secs(self.sqlite_lease),
            retry_promotion: std::time::Duration::from_millis(self.retry_promotion_ms),
            api_url: self.api_url.clone(),
            storage_url: self.storage_url.clone(),
            public_url: self.public_url.clone(),
            git_index: self.git_index,
            invalidate_command: self.invalidate_command.clone(),
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the index jobs until SIGINT or SIGTERM (running jobs finish first).
    Run {
        /// Exit once no runnable job is left.
        #[arg(long)]
        until_empty: bool,
        /// Worker threads of the index queue. Index edits are serialised by design, so more
        /// than one mostly waits on the repository.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
        workers: u16,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Publish a `.crate` file as `cargo package` writes it; queues the index job.
    Publish {
        /// The `.crate` file.
        file: PathBuf,
    },
    /// Yank a version; queues the index job.
    Yank {
        /// The crate.
        name: String,
        /// The version.
        version: String,
    },
    /// Unyank a version; queues the index job.
    Unyank {
        /// The crate.
        name: String,
        /// The version.
        version: String,
    },
    /// Inspect and manage queued jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Compare the index with the database; exit 1 on differences unless --repair.
    Reconcile {
        /// Rewrite every differing file in one commit.
        #[arg(long)]
        repair: bool,
    },
    /// Build a sample registry in DATA_DIR (default ./registry-data), always on the embedded
    /// default, and print how to use it with cargo.
    Demo,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// List pending jobs with type, arguments, age, retries and last error.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a job runnable now.
    Retry {
        /// The job's id.
        id: i64,
    },
    /// Delete a job that is not running.
    Delete {
        /// The job's id.
        id: i64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    registry_jobs::site::init_logging(cli.log_format == LogFormat::Json);
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", redact::redact(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn the_retry_promotion_interval_reaches_the_configuration() {
        use clap::Parser as _;
        use std::time::Duration;

        let parse = |args: &[&str]| super::Cli::try_parse_from(args);
        let cli = parse(&["registry-worker", "--retry-promotion-ms", "250", "run"]).unwrap();
        assert_eq!(cli.config().retry_promotion, Duration::from_millis(250));
        let cli = parse(&["registry-worker", "run"]).unwrap();
        assert_eq!(cli.config().retry_promotion, Duration::from_secs(1));
        let err = parse(&["registry-worker", "--retry-promotion-ms", "0", "run"]).unwrap_err();
        assert!(err.to_string().contains("--retry-promotion-ms"), "{err}");
    }
}
