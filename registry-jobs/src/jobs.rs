//! The index jobs: each makes one crate's index file equal to what the database says when
//! the job runs, so retries, duplicates and any order of execution converge.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use index_git::{Applied, CrateName, Edit, IndexFile, IndexLine, IndexRepo};
use queue_core::{Job, Runner, Storage};
use serde::{Deserialize, Serialize};

use crate::database::Database;
use crate::error::RegistryError;
use crate::sparse::SparseIndex;

/// The queue the index jobs run on, with one worker so that index edits are serialised.
pub const INDEX_QUEUE: &str = "index";

/// What the index jobs run with: the index repository and the database.
pub struct IndexContext {
    /// `None` when the git index is switched off.
    repo: Option<Mutex<IndexRepo>>,
    database: Database,
    sparse: Option<SparseIndex>,
}

impl std::fmt::Debug for IndexContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexContext").field("database", &self.database).finish_non_exhaustive()
    }
}

impl IndexContext {
    /// A context over an opened index clone and a database pool.
    pub fn new(repo: IndexRepo, database: Database) -> IndexContext {
        IndexContext { repo: Some(Mutex::new(repo)), database, sparse: None }
    }

    /// A context with the git index switched off: only the sparse index is written. The git
    /// jobs still queued by publishes, yanks and unyanks complete at once without touching
    /// anything, and [`reconcile`](crate::reconcile) checks the sparse index alone.
    pub fn sparse_only(database: Database, sparse: SparseIndex) -> IndexContext {
        IndexContext { repo: None, database, sparse: Some(sparse) }
    }

    /// Whether a git index is kept.
    pub fn has_git_index(&self) -> bool {
        self.repo.is_some()
    }

    /// Also keeps `sparse` in line with the database ([`SparseIndexJob`]).
    pub fn with_sparse_index(mut self, sparse: SparseIndex) -> IndexContext {
        self.sparse = Some(sparse);
        self
    }

    /// The sparse index, when one is configured.
    pub fn sparse_index(&self) -> Option<&SparseIndex> {
        self.sparse.as_ref()
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Runs `f` with the index repository; `None` when the git index is switched off.
    pub fn with_repo<T>(&self, f: impl FnOnce(&IndexRepo) -> T) -> Option<T> {
        let repo = self.repo.as_ref()?.lock().unwrap_or_else(|e| e.into_inner());
        Some(f(&repo))
    }

    /// What the database says `name`'s file must hold.
    pub fn expected(
        &self,
        name: &CrateName,
    ) -> Result<Option<(CrateName, Vec<index_git::IndexLine>)>, RegistryError> {
        self.database.expected_lines(name)
    }

    /// Makes `name`'s index file equal to the database's view, in one commit named
    /// `message`, pushed and verified. No commit when the file is already right.
    pub fn sync_crate(&self, name: &str, message: &str) -> Result<Applied, RegistryError> {
        let mut synced = self.sync_crates(&[name], message)?;
        match synced.failed.pop() {
            Some((_, err)) => Err(err),
            None => Ok(synced.applied),
        }
    }

    /// Makes each crate's index file equal to the database's view, all in one commit and
    /// one push. No commit when every file is already right.
    ///
    /// A crate whose edit can't be built (an invalid name, a corrupt database row) is left
    /// out and reported in [`CrateSync::failed`]; the others are committed and pushed
    /// without it. `Err` means the commit or push itself failed, for every crate.
    pub fn sync_crates(&self, names: &[&str], message: &str) -> Result<CrateSync, RegistryError> {
        let mut edits = Vec::with_capacity(names.len());
        let mut failed = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for given in names {
            match self.crate_edit(given) {
                Ok(edit) => {
                    if seen.insert(edit.crate_name().map(|n| n.canonical()).unwrap_or_default()) {
                        edits.push(edit);
                    }
                }
                Err(err) => failed.push(((*given).to_owned(), err)),
            }
        }
        let applied = if edits.is_empty() {
            Applied::Unchanged
        } else {
            // No git index: nothing to bring in line.
            self.with_repo(|repo| repo.apply_with_message(&edits, message))
                .unwrap_or(Ok(Applied::Unchanged))?
        };
        Ok(CrateSync { applied, failed })
    }

    /// The edit that makes `name`'s file what the database says, checked to apply.
    fn crate_edit(&self, name: &str) -> Result<Edit, RegistryError> {
        let name = CrateName::new(name)?;
        let (real_name, lines) = self.expected(&name)?.unwrap_or((name.clone(), Vec::new()));
        let edit = edit_to(name, real_name, lines);
        // A Replace reads nothing; building its text now keeps a bad line from failing the
        // whole commit later.
        edit.apply(None)?;
        Ok(edit)
    }
}

/// What [`IndexContext::sync_crates`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct CrateSync {
    /// The commit holding every crate that could be synced, or `Unchanged`.
    pub applied: Applied,
    /// The crates left out, by the name they were asked for, with the reason.
    pub failed: Vec<(String, RegistryError)>,
}

/// The change an [`IndexJob`] was queued for: it names the job type stored in the job row
/// and the verb of its commit message. The three changes do the same work (they sync the
/// crate's whole file); they stay three job types so that a deployed worker reads the rows
/// older versions wrote.
pub trait IndexChange: Send + Sync + 'static {
    /// The job type's name in the job table.
    const JOB_NAME: &'static str;
    /// The commit message's verb: `Publish`, `Yank`, `Unyank`.
    const VERB: &'static str;
}

/// The changes an [`IndexJob`] is queued for, as its type parameter.
pub mod changes {
    /// A publish ([`PublishJob`](super::PublishJob)).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Publish {}

    /// A yank ([`YankJob`](super::YankJob)).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Yank {}

    /// An unyank ([`UnyankJob`](super::UnyankJob)).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Unyank {}

    impl super::IndexChange for Publish {
        const JOB_NAME: &'static str = "index_publish";
        const VERB: &'static str = "Publish";
    }

    impl super::IndexChange for Yank {
        const JOB_NAME: &'static str = "index_yank";
        const VERB: &'static str = "Yank";
    }

    impl super::IndexChange for Unyank {
        const JOB_NAME: &'static str = "index_unyank";
        const VERB: &'static str = "Unyank";
    }
}

/// Queued by [`publish`](crate::publish): syncs the crate's git index file.
pub type PublishJob = IndexJob<changes::Publish>;
/// Queued by [`yank`](crate::yank): syncs the crate's git index file.
pub type YankJob = IndexJob<changes::Yank>;
/// Queued by [`unyank`](crate::unyank): syncs the crate's git index file.
pub type UnyankJob = IndexJob<changes::Unyank>;

/// Syncs a crate's git index file: [`PublishJob`], [`YankJob`] or [`UnyankJob`].
///
/// Whatever the job was queued for, it makes the crate's whole file what the database says
/// when it runs, so it is safe to run twice, late or out of order. The row holds
/// `{"crate": ..., "version": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexJob<C: IndexChange> {
    /// The crate the job was queued for.
    #[serde(rename = "crate")]
    pub krate: String,
    /// The version the job was queued for.
    pub version: String,
    #[serde(skip)]
    change: PhantomData<fn() -> C>,
}

impl<C: IndexChange> IndexJob<C> {
    /// The job for `version` of `krate`.
    pub fn new(krate: impl Into<String>, version: impl Into<String>) -> IndexJob<C> {
        IndexJob { krate: krate.into(), version: version.into(), change: PhantomData }
    }

    /// `Publish foo 1.2.3`: what the job does, for commit messages and logs.
    pub fn describe(&self) -> String {
        format!("{} {} {}", C::VERB, self.krate, self.version)
    }
}

impl<C: IndexChange> Job for IndexJob<C> {
    const JOB_NAME: &'static str = C::JOB_NAME;
    const QUEUE: &'static str = INDEX_QUEUE;
    const DEDUPLICATED: bool = true;
    const BATCH_SIZE: usize = INDEX_BATCH_SIZE;
    type Context = IndexContext;

    fn run(&self, ctx: &IndexContext) -> anyhow::Result<()> {
        ctx.sync_crate(&self.krate, &self.describe())?;
        Ok(())
    }

    fn run_batch(jobs: &[Self], ctx: &IndexContext) -> Vec<anyhow::Result<()>> {
        run_index_batch(jobs.iter().map(|j| (j.krate.as_str(), j.describe())).collect(), ctx)
    }
}

/// How many pending index jobs one commit and one push may cover.
pub const INDEX_BATCH_SIZE: usize = 100;

/// Syncs the crates of a batch of index jobs in one commit and one push. Each job gets its
/// own outcome: a crate whose edit can't be built fails its own jobs only, and the others
/// share the push's fate: each job is done only once the push that holds its change
/// succeeded.
fn run_index_batch(jobs: Vec<(&str, String)>, ctx: &IndexContext) -> Vec<anyhow::Result<()>> {
    let names: Vec<&str> = jobs.iter().map(|(name, _)| *name).collect();
    let message = match jobs.as_slice() {
        [(_, one)] => one.clone(),
        many => {
            let mut message = format!("Update the index for {} jobs\n\n", many.len());
            for (_, describe) in many {
                message.push_str(describe);
                message.push('\n');
            }
            message
        }
    };
    match ctx.sync_crates(&names, &message) {
        Ok(synced) => names
            .iter()
            .map(|name| match synced.failed.iter().find(|(failed, _)| failed == name) {
                Some((_, err)) => Err(anyhow::anyhow!("{err}")),
                None => Ok(()),
            })
            .collect(),
        Err(err) => {
            let text = err.to_string();
            names.iter().map(|_| Err(anyhow::anyhow!("{text}"))).collect()
        }
    }
}

/// Registers the three index jobs on `runner`, with one worker on [`INDEX_QUEUE`].
pub fn register_index_jobs<S: Storage + ?Sized>(
    runner: Runner<S>,
    ctx: Arc<IndexContext>,
) -> Runner<S> {
    runner
        .register::<PublishJob>(Arc::clone(&ctx))
        .register::<YankJob>(Arc::clone(&ctx))
        .register::<UnyankJob>(Arc::clone(&ctx))
        .register::<SparseIndexJob>(ctx)
        .workers(INDEX_QUEUE, 1)
        .workers(SPARSE_QUEUE, 1)
}

/// The edit that makes the index file of `name` hold exactly `lines` (published under
/// `real_name`): the file is deleted when no line is left.
pub(crate) fn edit_to(name: CrateName, real_name: CrateName, lines: Vec<IndexLine>) -> Edit {
    if lines.is_empty() {
        Edit::Delete { name }
    } else {
        Edit::Replace { name: real_name, lines }
    }
}

/// The queue of [`SparseIndexJob`]: apart from the git jobs, so that a git remote that is
/// down does not hold the sparse index back.
pub const SPARSE_QUEUE: &str = "sparse-index";

impl IndexContext {
    /// Makes `name`'s sparse index file what the database says; `Ok(false)` when it was
    /// right already or no sparse index is configured.
    pub fn sync_sparse_crate(&self, name: &str) -> Result<bool, RegistryError> {
        let Some(sparse) = self.sparse_index() else { return Ok(false) };
        let name = CrateName::new(name)?;
        let file = match self.expected(&name)? {
            Some((real_name, lines)) if !lines.is_empty() => {
                Some(IndexFile::from_lines(real_name, lines)?)
            }
            _ => None,
        };
        let changed = sparse.put_crate(&name, file.as_ref())?;
        sparse.invalidate(&name.index_path())?;
        Ok(changed)
    }
}

/// Queued with every publish, yank and unyank: makes the crate's sparse index file what the
/// database says when it runs. Safe to run twice, late or out of order. Without a sparse
/// index configured ([`IndexContext::with_sparse_index`]) it does nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SparseIndexJob {
    /// The crate.
    #[serde(rename = "crate")]
    pub krate: String,
}

impl Job for SparseIndexJob {
    const JOB_NAME: &'static str = "sparse_index";
    const QUEUE: &'static str = SPARSE_QUEUE;
    const DEDUPLICATED: bool = true;
    type Context = IndexContext;

    fn run(&self, ctx: &IndexContext) -> anyhow::Result<()> {
        ctx.sync_sparse_crate(&self.krate)?;
        Ok(())
    }
}
