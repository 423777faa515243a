//! Publish, yank and unyank for a Cargo registry, as crates.io does them: the request
//! changes the database and queues an index job in the same transaction, and a worker
//! brings the index in line with the database.
//!
//! - [`publish`], [`yank`], [`unyank`] and [`publish_crate_file`] are the front-end
//!   operations. Each takes the caller's connection (PostgreSQL or SQLite), validates its
//!   input, changes the registry tables and queues an index job in one transaction, and
//!   returns without touching git.
//! - [`PublishJob`], [`YankJob`] and [`UnyankJob`] each make their crate's index file equal
//!   to what the database says *when the job runs* ([`IndexContext::sync_crate`]), so
//!   retries, duplicates and any order of execution converge. Identical pending jobs are
//!   coalesced. They run on [`INDEX_QUEUE`] with one worker ([`register_index_jobs`]).
//! - [`reconcile`] compares every crate's index file with the database and repairs the
//!   differences in one commit.
//!
//! Apply the migrations (the job table's and the registry's) with
//! [`RegistryConnection::run_migrations`].

mod accounts;
pub mod blobs;
mod database;
mod db;
mod error;
mod hex;
mod jobs;
mod limits;
mod metadata;
mod ops;
mod package;
mod reconcile;
pub mod site;
mod sparse;

pub use accounts::{
    add_owners, authenticate, create_token, owners, remove_owners, search, validate_login,
    FoundCrate, SearchResults, User, MAX_LOGIN_LEN, MAX_SEARCH_RESULTS, TOKEN_PREFIX,
};
pub use database::{Database, WithConnection};
pub use db::expected_lines;
pub use db::{RegistryConnection, PG_REGISTRY_MIGRATIONS, SQLITE_REGISTRY_MIGRATIONS};
pub use error::{MetadataError, PackageError, RegistryError};
pub use jobs::{
    changes, register_index_jobs, CrateSync, IndexChange, IndexContext, IndexJob, PublishJob,
    SparseIndexJob, UnyankJob, YankJob, INDEX_BATCH_SIZE, INDEX_QUEUE, SPARSE_QUEUE,
};
pub use limits::{
    MAX_CRATE_SIZE, MAX_DEPENDENCIES, MAX_EXTENSION_HEADER, MAX_FEATURES, MAX_FEATURE_NAME_LEN,
    MAX_FEATURE_VALUES, MAX_FIELD_LEN, MAX_LINKS_LEN, MAX_MANIFEST_SIZE, MAX_TARGET_LEN,
    MAX_UNPACKED_SIZE, MAX_VERSION_LEN,
};
pub use metadata::PublishRequest;
pub use ops::{
    publish, publish_by, publish_crate_file, set_yanked_by, unyank, yank, Published, YankOutcome,
    JOBS_PER_CHANGE, MAX_DESCRIPTION_LEN,
};
pub use package::{
    read_crate_bytes, read_crate_file, read_manifest, write_crate_archive, CrateStore, StagedCrate,
};
pub use reconcile::{reconcile, Difference, Reconciliation, Unchecked};
pub use sparse::SparseIndex;
