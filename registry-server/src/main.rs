//! `registry-server`: the registry `cargo` talks to. With no configuration it starts a
//! working registry on the embedded default (SQLite, crate store and indexes under
//! `--data-dir`), runs the index jobs on worker threads in the same process, and prints the
//! `.cargo/config.toml` lines that point cargo at it.
//!
//! Exit codes: 0 success, 1 failure, 2 usage error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use queue_core::Runner;
use registry_jobs::site::{log_event, runner_config, Config, Site};
use registry_jobs::{register_index_jobs, INDEX_QUEUE, MAX_CRATE_SIZE};
use registry_server::{cargo_config, router, AppState, DEFAULT_MAX_UPLOAD};

/// Serves a Cargo registry: the Web API cargo publishes through and the sparse index it
/// reads.
#[derive(Parser)]
#[command(name = "registry-server", version, about)]
struct Cli {
    /// Directory of the embedded default: SQLite database, crate store, sparse index, local
    /// git index. Shared with `registry-worker`.
    #[arg(long, env = "REGISTRY_DATA_DIR", default_value = "./registry-data", global = true)]
    data_dir: PathBuf,
    /// `postgres://...` URL, or a SQLite file path (default: DATA_DIR/registry.sqlite3).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// The git index's URL (default: a bare repository in DATA_DIR).
    #[arg(long, env = "INDEX_URL", global = true, hide_env_values = true)]
    index_url: Option<String>,
    /// The git index's branch (default: the one the remote's HEAD names).
    #[arg(long, env = "INDEX_BRANCH", global = true)]
    index_branch: Option<String>,
    /// SQLite only: seconds a job claim lasts unless extended.
    #[arg(long, env = "SQLITE_LEASE", default_value_t = 60, global = true,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    sqlite_lease: u64,
    /// PostgreSQL only: milliseconds between a worker's promotions of jobs whose retry
    /// time has come, while it keeps finding other jobs: how late, at most, a retry another
    /// process recorded runs (a worker's own retries and an idle worker's claims promote at
    /// once).
    #[arg(long, env = "RETRY_PROMOTION_MS", default_value_t = 1000, global = true,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    retry_promotion_ms: u64,
    /// Keep a git index besides the sparse one (`--git-index false` switches it off: the
    /// git jobs then complete without touching git, and `reconcile` checks the sparse index
    /// alone).
    #[arg(long, env = "GIT_INDEX", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    git_index: bool,
    /// Where the crate store and the sparse index live: `s3://bucket/prefix` (credentials
    /// and endpoint from AWS_* variables); default: the data directory.
    #[arg(long = "storage", env = "STORAGE_URL", global = true, hide_env_values = true)]
    storage_url: Option<String>,
    /// Where cargo reads the storage directly (the bucket's HTTP URL or a CDN in front of
    /// it): `dl` and the sparse index's base. Without it this server serves both.
    #[arg(long, env = "PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// A CDN invalidation hook: a command run with each synced index file's path
    /// (`index/se/rd/serde`) as its last argument; a failure fails the job, which is retried.
    #[arg(long, env = "INVALIDATE_COMMAND", global = true)]
    invalidate_command: Option<String>,
    /// Log format on standard error; filter with RUST_LOG (default: info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Clone, clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0: any free port).
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The URL cargo reaches this server at (default: http://LISTEN). Written into the
    /// indexes' config.json as `api`.
    #[arg(long, env = "API_URL")]
    api_url: Option<String>,
    /// Require a token for the index and downloads too (a private registry; cargo ≥ 1.74).
    #[arg(long, env = "AUTH_REQUIRED")]
    auth_required: bool,
    /// Index-job worker threads in this process; 0 when separate `registry-worker run`
    /// processes do the jobs.
    #[arg(long, env = "WORKERS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(0..=64))]
    workers: u16,
    /// The largest `.crate` accepted, in bytes.
    #[arg(long, env = "MAX_UPLOAD_SIZE", default_value_t = DEFAULT_MAX_UPLOAD,
          value_parser = clap::value_parser!(u32).range(1..=MAX_CRATE_SIZE as i64))]
    max_upload_size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the registry (what runs without a subcommand).
    Serve,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Apply pending database migrations.
    Migrate,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token for LOGIN (creating the user on first use) and print it, once.
    Create {
        /// The user's login: ASCII letters, digits, '-' and '_'.
        login: String,
        /// A name for the token, to tell a user's tokens apart.
        #[arg(long, default_value = "cargo")]
        name: String,
    },
}

impl Cli {
    /// What the commands that touch only the database open: no git index is created.
    fn database_config(&self) -> Config {
        Config { git_index: false, ..self.config(None) }
    }

    fn config(&self, api_url: Option<String>) -> Config {
        Config {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            index_url: self.index_url.clone(),
            index_branch: self.index_branch.clone(),
            sqlite_lease: Duration::from_secs(self.sqlite_lease),
            retry_promotion: Duration::from_millis(self.retry_promotion_ms),
            api_url,
            storage_url: self.storage_url.clone(),
            public_url: self.public_url.clone(),
            git_index: self.git_index,
            invalidate_command: self.invalidate_command.clone(),
        }
    }
}

/// How long running jobs get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let cli = Cli::parse();
    registry_jobs::site::init_logging(cli.log_format == LogFormat::Json);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", redact::redact(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        None | Some(Command::Serve) => serve(cli),
        Some(Command::Migrate) => {
            let site = Site::open(&cli.database_config(), 2)?;
            for version in site.migrate()? {
                println!("applied migration {version}");
            }
            Ok(())
        }
        Some(Command::Token { command: TokenCommand::Create { login, name } }) => {
            let site = Site::open(&cli.database_config(), 2)?;
            site.migrate()?;
            let token = site
                .database
                .create_token(login, name)
                .with_context(|| format!("creating a token for {login}"))?;
            eprintln!(
                "created token {name:?} for {login}; it is shown once. Give it to cargo with:\n  \
                 cargo login --registry NAME   (and paste it), or set CARGO_REGISTRIES_NAME_TOKEN"
            );
            println!("{token}");
            Ok(())
        }
    }
}

fn serve(cli: &Cli) -> Result<()> {
    let args = &cli.serve;
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("listening on {}", args.listen))?;
    listener.set_nonblocking(true).context("making the listener non-blocking")?;
    let addr = listener.local_addr().context("reading the listening address")?;
    let api_url = args
        .api_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let workers = usize::from(args.workers);
    let site = Site::open(&cli.config(Some(api_url.clone())), 8 + workers as u32)?;
    let applied = site.migrate()?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    let running = if workers > 0 {
        let ctx = site.index_context()?;
        let runner =
            register_index_jobs(Runner::new(Arc::clone(&site.storage), runner_config()), ctx)
                .workers(INDEX_QUEUE, workers)
                .on_event(log_event);
        Some(runner.start().context("starting the index workers")?)
    } else {
        None
    };
    let mut state = AppState::new(
        site.database.clone(),
        site.store.clone(),
        site.sparse.clone(),
        site.index_config.clone(),
    );
    state.auth_required = args.auth_required;
    state.max_upload = args.max_upload_size;
    if running.is_some() {
        let storage = Arc::clone(&site.storage);
        state.jobs_queued = Some(Arc::new(move |jobs| storage.wake_workers(jobs)));
    }
    let app = router(Arc::new(state));

    println!("registry-server listening on http://{addr}");
    println!("data directory: {}", site.data_dir.display());
    println!();
    println!("Point cargo at it in .cargo/config.toml:");
    println!();
    let index_base = match &cli.public_url {
        Some(public) => format!("{}/index/", public.trim_end_matches('/')),
        None => format!("{api_url}/index/"),
    };
    print!("{}", cargo_config("local", &index_base));
    println!();
    println!("Create a token with `registry-server token create YOUR-LOGIN` (same --data-dir),");
    println!("then `cargo login --registry local` and `cargo publish --registry local`.");
    if workers == 0 {
        println!("No index workers run in this process (--workers 0): run `registry-worker run`.");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    if let Some(running) = running {
        registry_jobs::site::stop_runner(running, SHUTDOWN_GRACE);
    }
    served.context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("stopping: SIGINT or SIGTERM received");
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
        let cli = parse(&["registry-server", "--retry-promotion-ms", "250"]).unwrap();
        assert_eq!(cli.config(None).retry_promotion, Duration::from_millis(250));
        assert_eq!(cli.database_config().retry_promotion, Duration::from_millis(250));
        let cli = parse(&["registry-server"]).unwrap();
        assert_eq!(cli.config(None).retry_promotion, Duration::from_secs(1));
        let Err(err) = parse(&["registry-server", "--retry-promotion-ms", "5"]) else {
            panic!("--retry-promotion-ms 5 was accepted");
        };
        assert!(err.to_string().contains("--retry-promotion-ms"), "{err}");
    }
}
