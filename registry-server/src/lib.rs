//! The registry's front door: Cargo's registry Web API and the sparse index over HTTP.
//!
//! [`router`] serves, on one [`AppState`]:
//!
//! - `PUT /api/v1/crates/new`: a publish. The body is streamed and bounded
//!   ([`upload::read_upload`]), the metadata must agree with the manifest inside the `.crate`,
//!   and the version, its owner, its `.crate` file and its index jobs are recorded in one
//!   transaction ([`registry_jobs::Database::publish_staged`]). The request never touches
//!   git: workers bring both indexes in line afterwards.
//! - `DELETE /api/v1/crates/{name}/{version}/yank`, `PUT .../unyank`.
//! - `GET`, `PUT`, `DELETE /api/v1/crates/{name}/owners`.
//! - `GET /api/v1/crates?q=&per_page=`: search.
//! - `GET /api/v1/crates/{name}/{version}/download`: the `.crate` file.
//! - `GET /index/config.json` and `GET /index/{path}`: the sparse index, with `ETag` and
//!   `Last-Modified`, answering conditional requests with 304.
//!
//! Tokens come from `registry-server token create LOGIN`; the database keeps only their
//! hash. With [`AppState::auth_required`] the index and downloads need a token too.
//! The database work is synchronous (diesel) and runs on tokio's blocking threads.

mod api;
mod error;
mod index;
pub mod upload;

use std::sync::Arc;

use axum::routing::{delete, get, put};
use axum::Router;
use index_git::IndexConfig;
use registry_jobs::{CrateStore, Database, SparseIndex};

pub use error::{from_registry, ApiError};

/// The default limit of a `.crate` upload: 10 MiB, as on crates.io.
pub const DEFAULT_MAX_UPLOAD: u32 = 10 * 1024 * 1024;

impl AppState {
    /// A turn to write: on SQLite, waits for this process's other writes; on PostgreSQL,
    /// which has row locks, nothing.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.database {
            Database::Sqlite(_) => Some(self.sqlite_writes.lock().await),
            Database::Postgres(_) => None,
        }
    }

    fn changed(&self) {
        if let Some(wake) = &self.jobs_queued {
            wake(registry_jobs::JOBS_PER_CHANGE);
        }
    }
}

/// What the handlers share.
pub struct AppState {
    /// The registry's database.
    pub database: Database,
    /// Where `.crate` files are kept.
    pub store: CrateStore,
    /// The sparse index the jobs write.
    pub sparse: SparseIndex,
    /// `config.json` as served (`auth-required` is added when set).
    pub index_config: IndexConfig,
    /// Whether the index and downloads need a token too (a private registry).
    pub auth_required: bool,
    /// The largest `.crate` accepted, in bytes (at most
    /// [`registry_jobs::MAX_CRATE_SIZE`]).
    pub max_upload: u32,
    /// Bounds the uploads held in memory at once.
    pub uploads: tokio::sync::Semaphore,
    /// Called after a change that queued index jobs committed, with how many it queued:
    /// wakes in-process workers that would otherwise wait for their next poll
    /// ([`queue_diesel::AnyStorage::wake_workers`]).
    pub jobs_queued: Option<Arc<dyn Fn(usize) + Send + Sync>>,
    /// SQLite has one writer at a time, and its waiting writers poll with growing sleeps:
    /// this process's writes take turns here instead, first come first served.
    sqlite_writes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("database", &self.database)
            .field("store", &self.store)
            .field("sparse", &self.sparse)
            .field("auth_required", &self.auth_required)
            .field("max_upload", &self.max_upload)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state with the defaults: no `auth-required`, [`DEFAULT_MAX_UPLOAD`], 8 uploads at
    /// once.
    pub fn new(
        database: Database,
        store: CrateStore,
        sparse: SparseIndex,
        index_config: IndexConfig,
    ) -> AppState {
        AppState {
            database,
            store,
            sparse,
            index_config,
            auth_required: false,
            max_upload: DEFAULT_MAX_UPLOAD,
            uploads: tokio::sync::Semaphore::new(8),
            jobs_queued: None,
            sqlite_writes: tokio::sync::Mutex::new(()),
        }
    }
}

/// The routes of the Web API and the sparse index.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/crates/new", put(api::publish))
        .route("/api/v1/crates", get(api::search))
        .route("/api/v1/crates/{name}/{version}/yank", delete(api::yank))
        .route("/api/v1/crates/{name}/{version}/unyank", put(api::unyank))
        .route("/api/v1/crates/{name}/{version}/download", get(index::download))
        .route(
            "/api/v1/crates/{name}/owners",
            get(api::list_owners).put(api::add_owners).delete(api::remove_owners),
        )
        .route("/index/config.json", get(index::config))
        .route("/index/{*path}", get(index::file))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(state)
}

/// The `.cargo/config.toml` lines that point cargo at the sparse index at `index_url`
/// (`http://host/index/`), as the registry `name`.
pub fn cargo_config(name: &str, index_url: &str) -> String {
    format!("[registries.{name}]\nindex = \"sparse+{index_url}\"\n")
}
