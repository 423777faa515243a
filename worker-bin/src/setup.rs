//! Turning the configuration into a database, an index repository and a crate store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use index_git::{IndexConfig, IndexRepo, RepoConfig};
use queue_core::{Event, RunnerConfig};
use queue_diesel::{AnyStorage, DatabaseUrl, OpenOptions};
use registry_jobs::{CrateStore, Database, IndexContext, SparseIndex};

/// Where the registry's parts are: what `Registry::open` needs from the command line.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) data_dir: PathBuf,
    pub(crate) database_url: Option<String>,
    pub(crate) index_url: Option<String>,
    pub(crate) index_branch: Option<String>,
    /// SQLite: how long a claim lasts unless extended.
    pub(crate) sqlite_lease: Duration,
}

/// Everything the commands work with.
pub(crate) struct Registry {
    pub(crate) data_dir: PathBuf,
    pub(crate) storage: Arc<AnyStorage>,
    pub(crate) database: Database,
    pub(crate) store: CrateStore,
    pub(crate) index_url: String,
    pub(crate) index_branch: Option<String>,
}

impl Registry {
    /// Opens the database (applying migrations) and makes sure the local default index
    /// exists when no index URL was given.
    pub(crate) fn open(config: &Config, pool_size: u32) -> Result<Registry> {
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
        let options = OpenOptions { pool_size, sqlite_lease: config.sqlite_lease };
        let storage = AnyStorage::open(&parsed, &options)
            .with_context(|| format!("opening database {}", redact::Redacted(&url)))?;
        let database = Database::of_storage(&storage);
        let store = CrateStore::new(data_dir.join("crates"));
        let index_url = match &config.index_url {
            Some(url) => url.clone(),
            None => {
                let path = data_dir.join("index.git");
                let config = IndexConfig { dl: store.dl_template(), api: None };
                if index_git::create_index(&path, "master", &config)
                    .with_context(|| format!("creating the local index {}", path.display()))?
                {
                    tracing::info!(path = %path.display(), "created a new local index");
                }
                format!("file://{}", path.display())
            }
        };
        let registry = Registry {
            data_dir,
            storage: Arc::new(storage),
            database,
            store,
            index_url,
            index_branch: config.index_branch.clone(),
        };
        Ok(registry)
    }

    /// Applies pending migrations; returns their versions.
    pub(crate) fn migrate(&self) -> Result<Vec<String>> {
        self.database.migrate().context("applying migrations")
    }

    /// Opens (cloning on first use) the index and builds the jobs' context.
    pub(crate) fn index_context(&self) -> Result<Arc<IndexContext>> {
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
        // The sparse index mirrors the git one: the same download URL.
        let sparse = SparseIndex::new(self.data_dir.join("sparse-index"));
        sparse
            .write_config(&IndexConfig { dl: self.store.dl_template(), api: None })
            .context("writing the sparse index's config.json")?;
        Ok(Arc::new(IndexContext::new(repo, self.database.clone()).with_sparse_index(sparse)))
    }
}

/// Logs runner events through `tracing`.
pub(crate) fn log_event(event: &Event) {
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

pub(crate) fn runner_config() -> RunnerConfig {
    RunnerConfig {
        retry: queue_core::RetryPolicy {
            base: Duration::from_secs(10),
            max: Duration::from_secs(600),
        },
        ..RunnerConfig::default()
    }
}
