//! A registry on either backend: database, job storage, upstream index and job context.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::{ConnectionManager, Pool};
use index_git::testing::UpstreamIndex;
use index_git::IndexRepo;
use queue_core::{DrainReport, Runner, RunnerConfig, Storage};
use queue_diesel::testing::TestDatabase;
use queue_diesel::{PgConfig, PgStorage, SqliteConfig, SqliteStorage};
use registry_jobs::{register_index_jobs, Database, IndexContext, PublishRequest};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Postgres,
    Sqlite,
}

/// Keeps a test database or directory alive.
#[allow(dead_code)]
enum Guard {
    Pg(TestDatabase),
    Dir(tempfile::TempDir),
}

pub(crate) struct Registry {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) database: Database,
    pub(crate) upstream: UpstreamIndex,
    pub(crate) ctx: Arc<IndexContext>,
    /// The sparse index directory the jobs keep in line.
    pub(crate) sparse: tempfile::TempDir,
    _guard: Guard,
}

impl Registry {
    /// Runs a statement of SQL both backends understand, behind the operations' back.
    pub(crate) fn execute(&self, sql: &str) {
        use diesel::RunQueryDsl as _;
        let query = diesel::sql_query(sql);
        match &self.database {
            registry_jobs::Database::Postgres(pool) => query.execute(&mut *pool.get().unwrap()),
            registry_jobs::Database::Sqlite(pool) => query.execute(&mut *pool.get().unwrap()),
        }
        .unwrap();
    }

    pub(crate) fn new(backend: Backend) -> Registry {
        let upstream = UpstreamIndex::new();
        let repo = IndexRepo::open_or_clone(upstream.repo_config("worker")).unwrap();
        let (storage, database, guard): (Arc<dyn Storage>, Database, Guard) = match backend {
            Backend::Postgres => {
                let db = TestDatabase::new();
                let storage = PgStorage::connect(PgConfig::new(db.url())).unwrap();
                let pool =
                    Pool::builder().max_size(4).build(ConnectionManager::new(db.url())).unwrap();
                (Arc::new(storage), Database::Postgres(pool), Guard::Pg(db))
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let storage =
                    SqliteStorage::open(SqliteConfig::new(dir.path().join("registry.sqlite3")))
                        .unwrap();
                let pool = storage.pool().clone();
                (Arc::new(storage), Database::Sqlite(pool), Guard::Dir(dir))
            }
        };
        let sparse = tempfile::tempdir().unwrap();
        let ctx = IndexContext::new(repo, database.clone())
            .with_sparse_index(registry_jobs::SparseIndex::new(sparse.path()));
        let registry =
            Registry { storage, database, upstream, ctx: Arc::new(ctx), sparse, _guard: guard };
        let applied = registry.database.migrate().unwrap();
        assert!(applied.len() >= 2, "the job table and the registry tables: {applied:?}");
        registry
    }

    /// Runs the index jobs until none is runnable; failed jobs are retried after 1 ms.
    pub(crate) fn drain(&self) -> DrainReport {
        self.drain_with_retry(Duration::from_millis(1))
    }

    /// Runs the index jobs until none is runnable; failed jobs wait `retry` to run again.
    pub(crate) fn drain_with_retry(&self, retry: Duration) -> DrainReport {
        let config = RunnerConfig {
            poll_interval: Duration::from_millis(20),
            retry: queue_core::RetryPolicy { base: retry, max: retry },
            ..RunnerConfig::default()
        };
        register_index_jobs(Runner::new(Arc::clone(&self.storage), config), Arc::clone(&self.ctx))
            .run_until_empty()
            .unwrap()
    }

    pub(crate) fn index_file(&self, path: &str) -> Option<String> {
        self.upstream.read_file(path)
    }
}

/// A publish request for `name` `vers` with no dependencies.
pub(crate) fn request(name: &str, vers: &str) -> PublishRequest {
    let cksum: String =
        format!("{name}{vers}").bytes().map(|b| format!("{:02x}", b)).collect::<String>();
    PublishRequest {
        name: name.into(),
        vers: vers.into(),
        deps: vec![],
        features: BTreeMap::new(),
        links: None,
        rust_version: None,
        cksum: format!("{cksum:0<64}")[..64].to_owned(),
    }
}

/// Replaces the volatile `pubtime` of index lines, for snapshots.
pub(crate) fn redact_pubtime(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("\"pubtime\":\"") {
            Some(at) => {
                let start = at + "\"pubtime\":\"".len();
                format!("{}[pubtime]{}", &line[..start], &line[start + 20..])
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
