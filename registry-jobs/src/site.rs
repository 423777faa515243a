//! A whole registry from its configuration: the database (migrated on demand), the crate
//! store, the git index and the sparse index, with the embedded default (SQLite, a local
//! bare index repository, directories under the data directory) for whatever is not
//! configured. What `registry-worker` and `registry-server` both start from.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::blobs::Bucket;
use crate::{CrateStore, Database, IndexContext, SparseIndex};
use anyhow::{Context as _, Result};
use index_git::{IndexConfig, IndexRepo, RepoConfig};
use queue_core::{Event, RunnerConfig};
use queue_diesel::{AnyStorage, DatabaseUrl, OpenOptions};

/// Where the registry's parts are.
#[derive(Clone)]
pub struct Config {
    /// The embedded default's directory: SQLite database, local index remote, index clone,
    /// crate store and sparse index.
    pub data_dir: PathBuf,
    /// `postgres://...` URL or SQLite path (default: `DATA_DIR/registry.sqlite3`).
    pub database_url: Option<String>,
    /// The git index's URL (default: a bare repository in the data directory).
    pub index_url: Option<String>,
    /// The index branch (default: the remote's HEAD).
    pub index_branch: Option<String>,
    /// SQLite: how long a claim lasts unless extended.
    pub sqlite_lease: Duration,
    /// PostgreSQL: how often, at most, workers make jobs whose retry time has come
    /// claimable again while they keep finding other jobs, which bounds how late a retry
    /// another process recorded can run ([`queue_diesel::PgConfig::promotion_interval`]).
    pub retry_promotion: Duration,
    /// The registry server's URL (`http://host:port`), when there is one: written into the
    /// indexes' `config.json` as `api`, and `dl` points at its download endpoint unless
    /// `public_url` is set. Without either, `dl` points at the crate store's directory.
    pub api_url: Option<String>,
    /// Where the crate store and the sparse index live: `s3://bucket/prefix` (see
    /// [`Bucket::open`]); the data directory when `None`.
    pub storage_url: Option<String>,
    /// Where the storage is readable by cargo directly (the bucket's HTTP URL, or a CDN in
    /// front of it): `dl` becomes `{public_url}/crates/{crate}/{version}.crate` and the
    /// sparse index is at `{public_url}/index/`.
    pub public_url: Option<String>,
    /// Whether a git index is kept besides the sparse one (default: yes).
    pub git_index: bool,
    /// A CDN invalidation hook, run with each synced index file's path
    /// ([`SparseIndex::with_invalidation`]); split on whitespace.
    pub invalidate_command: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn url(url: &Option<String>) -> Option<redact::Redacted<'_>> {
            url.as_deref().map(redact::Redacted)
        }
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &url(&self.database_url))
            .field("index_url", &url(&self.index_url))
            .field("index_branch", &self.index_branch)
            .field("sqlite_lease", &self.sqlite_lease)
            .field("retry_promotion", &self.retry_promotion)
            .field("api_url", &self.api_url)
            .field("storage_url", &self.storage_url.as_deref().map(redact::Redacted))
            .field("public_url", &self.public_url)
            .field("git_index", &self.git_index)
            .field("invalidate_command", &self.invalidate_command)
            .finish()
    }
}

impl Config {
    /// The embedded default in `data_dir`.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            database_url: None,
            index_url: None,
            index_branch: None,
            sqlite_lease: Duration::from_secs(60),
            retry_promotion: OpenOptions::new(1).pg_promotion_interval,
            api_url: None,
            storage_url: None,
            public_url: None,
            git_index: true,
            invalidate_command: None,
        }
    }
}

/// A registry's opened parts.
#[derive(Debug)]
pub struct Site {
    /// The data directory, absolute.
    pub data_dir: PathBuf,
    /// The job storage.
    pub storage: Arc<AnyStorage>,
    /// The registry's database (the storage's pool).
    pub database: Database,
    /// The `.crate` files.
    pub store: CrateStore,
    /// The sparse index.
    pub sparse: SparseIndex,
    /// The git index's URL.
    pub index_url: String,
    /// The git index's branch, if configured.
    pub index_branch: Option<String>,
    /// The indexes' `config.json`.
    pub index_config: IndexConfig,
    /// Whether a git index is kept.
    pub git_index: bool,
}

impl Site {
    /// Opens the database (not migrating it: [`Site::migrate`]) and makes sure the local
    /// default index exists when no index URL was given. `pool_size` connections at most.
    pub fn open(config: &Config, pool_size: u32) -> Result<Site> {
        let data_dir = &config.data_dir;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let data_dir =
            data_dir.canonicalize().with_context(|| format!("resolving {}", data_dir.display()))?;
        let url = match &config.database_url {
            Some(url) => url.clone(),
            None => data_dir.join("registry.sqlite3").display().to_string(),
        };
        let parsed = DatabaseUrl::parse(&url)?;
        let options = OpenOptions {
            pool_size,
            sqlite_lease: config.sqlite_lease,
            pg_promotion_interval: config.retry_promotion,
        };
        let storage = AnyStorage::open(&parsed, &options)
            .with_context(|| format!("opening database {}", redact::Redacted(&url)))?;
        let database = Database::of_storage(&storage);
        let (store, sparse) = match &config.storage_url {
            Some(url) => {
                let bucket = Bucket::open(url)?;
                (CrateStore::in_bucket(bucket.clone()), SparseIndex::in_bucket(bucket))
            }
            None => (
                CrateStore::new(data_dir.join("crates")),
                SparseIndex::new(data_dir.join("sparse-index")),
            ),
        };
        let sparse = match &config.invalidate_command {
            Some(command) => {
                sparse.with_invalidation(command.split_whitespace().map(str::to_owned).collect())
            }
            None => sparse,
        };
        let api = config.api_url.as_deref().map(|u| u.trim_end_matches('/').to_owned());
        let dl = match (&config.public_url, &api) {
            (Some(public), _) => {
                format!("{}/crates/{{crate}}/{{version}}.crate", public.trim_end_matches('/'))
            }
            (None, Some(api)) => format!("{api}/api/v1/crates"),
            // Refused by `index_context`, the one place that writes config.json.
            (None, None) if config.storage_url.is_some() => String::new(),
            (None, None) => store.dl_template(),
        };
        let index_config = IndexConfig { dl, api };
        let index_url = match &config.index_url {
            Some(url) => url.clone(),
            None if !config.git_index => String::new(),
            None => {
                let path = data_dir.join("index.git");
                if index_git::create_index(&path, "master", &index_config)
                    .with_context(|| format!("creating the local index {}", path.display()))?
                {
                    tracing::info!(path = %path.display(), "created a new local index");
                }
                format!("file://{}", path.display())
            }
        };
        Ok(Site {
            data_dir,
            storage: Arc::new(storage),
            database,
            store,
            sparse,
            index_url,
            index_branch: config.index_branch.clone(),
            index_config,
            git_index: config.git_index,
        })
    }

    /// Applies pending migrations; returns their versions.
    pub fn migrate(&self) -> Result<Vec<String>> {
        self.database.migrate().context("applying migrations")
    }

    /// Opens (cloning on first use) the index and builds the jobs' context.
    pub fn index_context(&self) -> Result<Arc<IndexContext>> {
        anyhow::ensure!(
            !self.index_config.dl.is_empty(),
            "with STORAGE_URL, set API_URL (the server's URL) or PUBLIC_URL (the bucket's) so that config.json can say where cargo downloads from"
        );
        let sparse = self.sparse.clone();
        sparse
            .write_config(&self.index_config)
            .context("writing the sparse index's config.json")?;
        if !self.git_index {
            return Ok(Arc::new(IndexContext::sparse_only(self.database.clone(), sparse)));
        }
        let clone = self.data_dir.join("index-clone");
        let first = !clone.join("HEAD").exists();
        if first {
            tracing::info!(
                url = %redact::Redacted(&self.index_url),
                path = %clone.display(),
                "cloning the index"
            );
        }
        let config = RepoConfig {
            branch: self.index_branch.clone(),
            ..RepoConfig::new(&self.index_url, clone)
        };
        let repo = IndexRepo::open_or_clone(config).with_context(|| {
            format!(
                "opening the index {}; check INDEX_URL, INDEX_BRANCH and the credentials",
                redact::Redacted(&self.index_url)
            )
        })?;
        if first {
            tracing::info!("index cloned");
        }
        Ok(Arc::new(IndexContext::new(repo, self.database.clone()).with_sparse_index(sparse)))
    }
}

/// Logs to standard error through [`redact::RedactingWriter`], filtered by `RUST_LOG`
/// (default `info`), as human-readable lines or, with `json`, one JSON object per line.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(|| redact::RedactingWriter(std::io::stderr()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Stops a runner: running jobs get `grace` to finish; those that don't will run again.
pub fn stop_runner(running: queue_core::RunnerHandle, grace: Duration) {
    tracing::info!("stopping the index workers: running jobs finish first");
    let report = running.shutdown(grace);
    if report.unfinished_workers > 0 {
        tracing::warn!(
            report.unfinished_workers,
            "jobs still running after the grace period; they will run again"
        );
    }
}

/// Logs runner events through `tracing`.
pub fn log_event(event: &Event) {
    match event {
        Event::Started { id, job_type, retries, .. } => {
            tracing::debug!(%id, job_type, retries, "job started")
        }
        Event::Succeeded { id, job_type, duration, .. } => {
            tracing::info!(%id, job_type, ms = duration.as_millis() as u64, "job succeeded")
        }
        Event::Failed { id, job_type, duration, error, retry_in, .. } => tracing::warn!(
            %id,
            job_type,
            ms = duration.as_millis() as u64,
            retry_in_s = retry_in.map(|d| d.as_secs()),
            error = error.as_str(),
            "job failed"
        ),
        Event::WorkerPanicked { queue, message } => {
            tracing::error!(queue, message = message.as_str(), "worker panicked outside a job")
        }
        Event::StorageFailed { queue, error } => {
            tracing::error!(queue, error = error.as_str(), "job storage failed")
        }
        _ => {}
    }
}

/// The runner settings of the index jobs: retries back off from 10 s to 10 min.
pub fn runner_config() -> RunnerConfig {
    RunnerConfig {
        retry: queue_core::RetryPolicy {
            base: Duration::from_secs(10),
            max: Duration::from_secs(600),
        },
        ..RunnerConfig::default()
    }
}
