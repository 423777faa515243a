//! The index repository: a bare local clone, edits built straight into trees, verified pushes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use git2::build::TreeUpdateBuilder;
use git2::{
    Cred, CredentialType, FetchOptions, FileMode, Oid, PushOptions, RemoteCallbacks, Repository,
    Signature,
};
use serde::{Deserialize, Serialize};

use crate::file::{Edit, FileError, IndexFile};
use crate::name::CrateName;

/// Where the index lives and how to reach it. `Debug` redacts credentials in the URL.
#[derive(Clone)]
pub struct RepoConfig {
    /// The remote index: `file://`, `https://`, `ssh://` or `git://` URL, or a local path.
    /// Credentials inside it work, and are redacted wherever the URL is shown.
    pub url: String,
    /// The local directory of the bare clone; created on first use.
    pub path: PathBuf,
    /// The branch Cargo reads; `None`: the branch the remote's `HEAD` names.
    pub branch: Option<String>,
    /// How to authenticate to the remote.
    pub credentials: Credentials,
    /// The committer's name.
    pub author_name: String,
    /// The committer's email.
    pub author_email: String,
}

impl std::fmt::Debug for RepoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoConfig")
            .field("url", &redact::Redacted(&self.url))
            .field("path", &self.path)
            .field("branch", &self.branch)
            .field("credentials", &self.credentials)
            .field("author_name", &self.author_name)
            .field("author_email", &self.author_email)
            .finish()
    }
}

impl RepoConfig {
    /// Defaults for `url` cloned into `path`: the remote's default branch, credentials from
    /// the environment ([`Credentials::from_env`]).
    pub fn new(url: impl Into<String>, path: impl Into<PathBuf>) -> RepoConfig {
        RepoConfig {
            url: url.into(),
            path: path.into(),
            branch: None,
            credentials: Credentials::from_env(),
            author_name: "registry-index".into(),
            author_email: "index@registry.invalid".into(),
        }
    }
}

/// Credentials for the remote. None are needed for `file://` remotes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// HTTPS user name.
    pub username: Option<String>,
    /// HTTPS password or token.
    pub password: Option<String>,
    /// Private key file for SSH; without one, the SSH agent is asked.
    pub ssh_key: Option<PathBuf>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ssh_key", &self.ssh_key)
            .finish()
    }
}

impl Credentials {
    /// `INDEX_GIT_USERNAME`, `INDEX_GIT_PASSWORD` (or a token) and `INDEX_GIT_SSH_KEY`.
    pub fn from_env() -> Credentials {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Credentials {
            username: var("INDEX_GIT_USERNAME"),
            password: var("INDEX_GIT_PASSWORD"),
            ssh_key: var("INDEX_GIT_SSH_KEY").map(PathBuf::from),
        }
    }
}

/// The registry's `config.json` at the root of the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexConfig {
    /// Download URL template (`{crate}`, `{version}`, `{prefix}`, `{lowerprefix}`,
    /// `{sha256-checksum}`), or a base URL to which Cargo appends `/{crate}/{version}/download`.
    pub dl: String,
    /// The web API's base URL, when the registry has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
}

/// Errors of the index repository. Every URL and message in them has its credentials
/// redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The remote has no references at all: an index must be created (with its
    /// `config.json`) before jobs can edit it.
    #[error("the index at {url} is empty: create it with a config.json first (registry-worker creates its local default index itself)")]
    EmptyRemote {
        /// The remote.
        url: String,
    },
    /// The configured branch does not exist on a remote that has other references.
    #[error("the index at {url} has no branch {branch:?} (it has: {available}); set the index branch to the one Cargo reads")]
    MissingBranch {
        /// The remote.
        url: String,
        /// The branch asked for.
        branch: String,
        /// The branches the remote has.
        available: String,
    },
    /// No branch was configured and the remote's `HEAD` names none.
    #[error("the index at {url} has no default branch (its HEAD names none; it has: {available}); set the index branch explicitly")]
    NoDefaultBranch {
        /// The remote.
        url: String,
        /// The branches the remote has.
        available: String,
    },
    /// A git operation failed.
    #[error("{action} ({url}): {source}")]
    Git {
        /// What was being done.
        action: String,
        /// The remote or local path involved.
        url: String,
        /// libgit2's error.
        source: git2::Error,
    },
    /// The remote refused the push of a reference; fetch and try again (edits are
    /// idempotent), or check the remote's hooks and permissions.
    #[error("push to {url} rejected for {reference}: {message}")]
    PushRejected {
        /// The remote.
        url: String,
        /// The reference that was refused.
        reference: String,
        /// The remote's reason.
        message: String,
    },
    /// An edit could not be applied to a crate's file.
    #[error(transparent)]
    File(#[from] FileError),
    /// A file in the index is not UTF-8.
    #[error("index file {path} is not UTF-8")]
    NotUtf8 {
        /// The file's path in the index.
        path: String,
    },
    /// `config.json` could not be written or read.
    #[error("index config.json: {0}")]
    Config(#[source] serde_json::Error),
}

impl RepoError {
    /// Whether trying again after a fresh fetch may succeed: a rejected push (another
    /// writer pushed first) or a network error.
    pub fn is_retryable(&self) -> bool {
        match self {
            RepoError::PushRejected { .. } => true,
            RepoError::Git { source, .. } => {
                matches!(
                    source.class(),
                    git2::ErrorClass::Net
                        | git2::ErrorClass::Http
                        | git2::ErrorClass::Ssh
                        | git2::ErrorClass::Reference
                ) || source.code() == git2::ErrorCode::NotFastForward
            }
            _ => false,
        }
    }
}

/// What [`IndexRepo::apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The edits changed nothing; no commit was made.
    Unchanged,
    /// A commit was made and pushed.
    Pushed {
        /// The new commit.
        commit: Oid,
        /// Its message.
        message: String,
    },
}

/// A commit built on the remote's head, not yet pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The new commit.
    pub commit: Oid,
    /// The commit message.
    pub message: String,
}

/// A bare clone of the index, edited without a working tree.
///
/// Every edit starts from the remote's state: [`IndexRepo::prepare`] fetches and moves the
/// local branch to the remote's head (discarding local commits that were never pushed),
/// then builds the new tree from the old one plus the changed files, so the cost of an edit
/// does not grow with the number of crates in the index. A push is only a success when the
/// remote reported every reference as updated.
pub struct IndexRepo {
    repo: Repository,
    config: RepoConfig,
    /// The branch in use, once known: the configured one, or the remote's default.
    branch: OnceLock<String>,
    /// Where the last edit's time went.
    timings: std::sync::Mutex<Timings>,
}

/// Where an edit's time went: [`IndexRepo::last_timings`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Fetching the remote's head.
    pub fetch: Duration,
    /// Reading the edited files and building the new tree.
    pub tree: Duration,
    /// Writing the commit and moving the local branch.
    pub commit: Duration,
    /// Pushing (zero when nothing changed).
    pub push: Duration,
}

impl std::fmt::Debug for IndexRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexRepo").field("config", &self.config).finish_non_exhaustive()
    }
}

fn git_err(action: impl Into<String>, url: &str) -> impl FnOnce(git2::Error) -> RepoError + '_ {
    let action = action.into();
    move |source| RepoError::Git { action, url: shown(url), source: redact_git(source) }
}

/// A URL as errors show it: credentials redacted.
fn shown(url: &str) -> String {
    redact::redact(url).into_owned()
}

/// libgit2's error with any credentials in its message redacted (some transports echo the
/// URL).
fn redact_git(error: git2::Error) -> git2::Error {
    match redact::redact(error.message()) {
        std::borrow::Cow::Borrowed(_) => error,
        std::borrow::Cow::Owned(message) => git2::Error::new(error.code(), error.class(), message),
    }
}

fn callbacks(credentials: &Credentials) -> RemoteCallbacks<'_> {
    let mut callbacks = RemoteCallbacks::new();
    let mut attempts = 0;
    callbacks.credentials(move |url, username_from_url, allowed| {
        attempts += 1;
        if attempts > 3 {
            let url = redact::redact(url);
            return Err(git2::Error::from_str(&format!(
                "authentication to {url} failed: check INDEX_GIT_USERNAME / INDEX_GIT_PASSWORD or INDEX_GIT_SSH_KEY"
            )));
        }
        let user = credentials.username.as_deref().or(username_from_url).unwrap_or("git");
        if allowed.contains(CredentialType::SSH_KEY) {
            return match &credentials.ssh_key {
                Some(key) => Cred::ssh_key(user, None, key, None),
                None => Cred::ssh_key_from_agent(user),
            };
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            if let Some(password) = &credentials.password {
                return Cred::userpass_plaintext(user, password);
            }
        }
        if allowed.contains(CredentialType::DEFAULT) {
            return Cred::default();
        }
        let url = redact::redact(url);
        Err(git2::Error::from_str(&format!(
            "{url} asks for credentials and none are configured: set INDEX_GIT_USERNAME and INDEX_GIT_PASSWORD, or INDEX_GIT_SSH_KEY"
        )))
    });
    callbacks
}

impl IndexRepo {
    /// Opens the bare clone at `config.path`, creating it (and fetching the remote) on first
    /// use.
    pub fn open_or_clone(config: RepoConfig) -> Result<IndexRepo, RepoError> {
        let path = config.path.display().to_string();
        let repo = if config.path.join("HEAD").exists() {
            Repository::open_bare(&config.path)
                .map_err(git_err("opening the index clone", &path))?
        } else {
            Repository::init_bare(&config.path)
                .map_err(git_err("creating the index clone", &path))?
        };
        let branch = OnceLock::new();
        if let Some(configured) = &config.branch {
            let _ = branch.set(configured.clone());
        }
        let index = IndexRepo { repo, config, branch, timings: Default::default() };
        index.fetch()?;
        Ok(index)
    }

    /// The configuration.
    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    /// The branch in use: the configured one, or the remote's default once a fetch found
    /// it. `None` before that (an empty remote has none).
    pub fn branch(&self) -> Option<&str> {
        self.branch.get().map(String::as_str)
    }

    fn local_branch(&self) -> String {
        format!("refs/heads/{}", self.branch().unwrap_or("master"))
    }

    fn tracking_branch(&self) -> String {
        format!("refs/remotes/origin/{}", self.branch().unwrap_or("master"))
    }

    /// Fetches the remote branch and moves the local branch to it, discarding local commits
    /// that were never pushed. Returns the remote's head, `None` for an empty remote (one
    /// without any branch). A remote that has branches but not the configured one is an
    /// error, never "empty": treating it so would start a second index nobody reads.
    pub fn fetch(&self) -> Result<Option<Oid>, RepoError> {
        let url = &self.config.url;
        let mut remote = self.repo.remote_anonymous(url).map_err(git_err("opening remote", url))?;
        let mut options = FetchOptions::new();
        options.remote_callbacks(callbacks(&self.config.credentials));
        options.prune(git2::FetchPrune::On);
        // Every branch (an index has one or two), so that a missing branch can be told from
        // an empty remote and the remote's default branch found in the same round trip.
        let refspec = "+refs/heads/*:refs/remotes/origin/*";
        remote
            .fetch(&[refspec], Some(&mut options), None)
            .map_err(git_err("fetching the index", url))?;
        if self.branch().is_none() {
            let default = remote.default_branch().ok().and_then(|b| {
                b.as_str().and_then(|b| b.strip_prefix("refs/heads/")).map(str::to_owned)
            });
            if let Some(default) = default {
                let _ = self.branch.set(default);
            }
        }
        let mut branches = Vec::new();
        let references = self
            .repo
            .references_glob("refs/remotes/origin/*")
            .map_err(git_err("listing the fetched branches", url))?;
        for reference in references {
            let reference = reference.map_err(git_err("listing the fetched branches", url))?;
            if let Some(name) =
                reference.name().and_then(|n| n.strip_prefix("refs/remotes/origin/"))
            {
                branches.push(name.to_owned());
            }
        }
        if branches.is_empty() {
            return Ok(None);
        }
        let Some(branch) = self.branch() else {
            return Err(RepoError::NoDefaultBranch {
                url: shown(url),
                available: branches.join(", "),
            });
        };
        if !branches.iter().any(|b| b == branch) {
            return Err(RepoError::MissingBranch {
                url: shown(url),
                branch: branch.to_owned(),
                available: branches.join(", "),
            });
        }
        let head = match self.repo.find_reference(&self.tracking_branch()) {
            Ok(reference) => reference.target(),
            Err(err) if err.code() == git2::ErrorCode::NotFound => None,
            Err(err) => return Err(git_err("reading the fetched branch", url)(err)),
        };
        if let Some(oid) = head {
            self.repo
                .reference(&self.local_branch(), oid, true, "reset to the remote")
                .map_err(git_err("moving the local branch", url))?;
        }
        Ok(head)
    }

    /// The head of the local branch (the remote's, as of the last fetch or push).
    pub fn head(&self) -> Result<Option<Oid>, RepoError> {
        match self.repo.find_reference(&self.local_branch()) {
            Ok(reference) => Ok(reference.target()),
            Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(err) => Err(git_err("reading the local branch", &self.config.url)(err)),
        }
    }

    fn head_tree(&self) -> Result<Option<git2::Tree<'_>>, RepoError> {
        let url = &self.config.url;
        match self.head()? {
            Some(oid) => {
                let commit =
                    self.repo.find_commit(oid).map_err(git_err("reading the head commit", url))?;
                Ok(Some(commit.tree().map_err(git_err("reading the head tree", url))?))
            }
            None => Ok(None),
        }
    }

    fn read_in(
        &self,
        tree: Option<&git2::Tree<'_>>,
        path: &str,
    ) -> Result<Option<String>, RepoError> {
        match self.read_bytes_in(tree, path)? {
            Some(bytes) => Ok(Some(
                String::from_utf8(bytes)
                    .map_err(|_| RepoError::NotUtf8 { path: path.to_owned() })?,
            )),
            None => Ok(None),
        }
    }

    fn read_bytes_in(
        &self,
        tree: Option<&git2::Tree<'_>>,
        path: &str,
    ) -> Result<Option<Vec<u8>>, RepoError> {
        let Some(tree) = tree else { return Ok(None) };
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(err) if err.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(err) => return Err(git_err(format!("reading {path}"), &self.config.url)(err)),
        };
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(git_err(format!("reading {path}"), &self.config.url))?;
        Ok(Some(blob.content().to_vec()))
    }

    /// A file at the local head, by its path in the index.
    pub fn read_file(&self, path: &str) -> Result<Option<String>, RepoError> {
        let tree = self.head_tree()?;
        self.read_in(tree.as_ref(), path)
    }

    /// A crate's file at the local head, parsed.
    pub fn read_crate(&self, name: &CrateName) -> Result<Option<IndexFile>, RepoError> {
        match self.read_file(&name.index_path())? {
            Some(text) => Ok(Some(IndexFile::parse(name, &text)?)),
            None => Ok(None),
        }
    }

    /// Paths of every crate file at the local head (everything but `config.json` and
    /// dot-files).
    pub fn crate_paths(&self) -> Result<Vec<String>, RepoError> {
        let Some(tree) = self.head_tree()? else { return Ok(Vec::new()) };
        let mut paths = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let name = entry.name().unwrap_or_default();
                if !(dir.is_empty() && (name == "config.json" || name.starts_with('.'))) {
                    paths.push(format!("{dir}{name}"));
                }
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(git_err("listing the index", &self.config.url))?;
        Ok(paths)
    }

    /// Fetches, applies `edits` in order onto the remote's head and commits the result
    /// locally. Returns `None` when the edits change nothing (no commit is made).
    pub fn prepare(&self, edits: &[Edit]) -> Result<Option<Prepared>, RepoError> {
        self.prepare_with_message(edits, &commit_message(edits))
    }

    /// [`IndexRepo::prepare`] with the caller's commit message.
    pub fn prepare_with_message(
        &self,
        edits: &[Edit],
        message: &str,
    ) -> Result<Option<Prepared>, RepoError> {
        let started = Instant::now();
        self.record(|t| *t = Timings::default());
        let fetched = self.fetch()?;
        self.record(|t| t.fetch = started.elapsed());
        if fetched.is_none() {
            // Never a root commit from a job: it would hold crate files and no config.json.
            return Err(RepoError::EmptyRemote { url: shown(&self.config.url) });
        }
        let started = Instant::now();
        let url = &self.config.url;
        let base = self.head_tree()?;
        let mut originals: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        let mut contents: BTreeMap<String, Option<String>> = BTreeMap::new();
        for edit in edits {
            let path = edit.crate_name()?.index_path();
            if !originals.contains_key(&path) {
                originals.insert(path.clone(), self.read_bytes_in(base.as_ref(), &path)?);
            }
            let new = if edit.reads_current() {
                let current = match contents.get(&path) {
                    Some(text) => text.clone(),
                    None => match originals.get(&path).cloned().flatten() {
                        Some(bytes) => Some(
                            String::from_utf8(bytes)
                                .map_err(|_| RepoError::NotUtf8 { path: path.clone() })?,
                        ),
                        None => None,
                    },
                };
                edit.apply(current.as_deref())?
            } else {
                edit.apply(None)?
            };
            contents.insert(path, new);
        }
        let mut builder = TreeUpdateBuilder::new();
        let mut changed = false;
        for (path, content) in &contents {
            let original = originals.get(path).cloned().flatten();
            if content.as_ref().map(String::as_bytes) == original.as_deref() {
                continue;
            }
            changed = true;
            match content {
                Some(text) => {
                    let blob = self
                        .repo
                        .blob(text.as_bytes())
                        .map_err(git_err(format!("writing {path}"), url))?;
                    builder.upsert(path, blob, FileMode::Blob);
                }
                None => {
                    builder.remove(path);
                }
            }
        }
        if !changed {
            return Ok(None);
        }
        let base_tree = match &base {
            Some(tree) => tree.clone(),
            None => {
                let empty = self
                    .repo
                    .treebuilder(None)
                    .and_then(|b| b.write())
                    .map_err(git_err("writing an empty tree", url))?;
                self.repo.find_tree(empty).map_err(git_err("reading an empty tree", url))?
            }
        };
        let tree_id = builder
            .create_updated(&self.repo, &base_tree)
            .map_err(git_err("building the new tree", url))?;
        self.record(|t| t.tree = started.elapsed());
        if base.as_ref().is_some_and(|t| t.id() == tree_id) {
            return Ok(None);
        }
        let started = Instant::now();
        let commit = self.commit_tree(tree_id, message)?;
        self.record(|t| t.commit = started.elapsed());
        Ok(Some(Prepared { commit, message: message.to_owned() }))
    }

    /// Where the time of the last [`IndexRepo::prepare`] (and [`IndexRepo::push`]) went.
    pub fn last_timings(&self) -> Timings {
        self.timings.lock().map(|t| *t).unwrap_or_default()
    }

    fn record(&self, f: impl FnOnce(&mut Timings)) {
        if let Ok(mut timings) = self.timings.lock() {
            f(&mut timings);
        }
    }

    fn commit_tree(&self, tree_id: Oid, message: &str) -> Result<Oid, RepoError> {
        let url = &self.config.url;
        let tree = self.repo.find_tree(tree_id).map_err(git_err("reading the new tree", url))?;
        let signature = Signature::now(&self.config.author_name, &self.config.author_email)
            .map_err(git_err("making the commit signature", url))?;
        let parent = match self.head()? {
            Some(oid) => {
                Some(self.repo.find_commit(oid).map_err(git_err("reading the head commit", url))?)
            }
            None => None,
        };
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let commit = self
            .repo
            .commit(None, &signature, &signature, message, &tree, &parents)
            .map_err(git_err("committing", url))?;
        self.repo
            .reference(&self.local_branch(), commit, true, message)
            .map_err(git_err("moving the local branch", url))?;
        Ok(commit)
    }

    /// Pushes a prepared commit. Fails unless the remote reports the branch as updated: a
    /// rejected push is [`RepoError::PushRejected`] and the remote's state is fetched again
    /// by the next [`IndexRepo::prepare`].
    pub fn push(&self, prepared: &Prepared) -> Result<Oid, RepoError> {
        let started = Instant::now();
        if is_local(&self.config.url) {
            self.push_with_git_cli(prepared)?;
        } else {
            self.push_with_libgit2()?;
        }
        self.record(|t| t.push = started.elapsed());
        self.repo
            .reference(&self.tracking_branch(), prepared.commit, true, "pushed")
            .map_err(git_err("recording the pushed head", &self.config.url))?;
        Ok(prepared.commit)
    }

    /// Pushes to a local remote through `git push`, whose `receive-pack` updates the branch
    /// only if it still points where this clone last saw it (under a lock) and runs the
    /// remote's hooks. libgit2's local transport does neither: two concurrent pushes could
    /// both succeed, the second silently dropping the first one's commit.
    fn push_with_git_cli(&self, prepared: &Prepared) -> Result<(), RepoError> {
        let url = &self.config.url;
        let branch = self.local_branch();
        let output = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&self.config.path)
            .args(["push", "--porcelain", url])
            .arg(format!("{}:{branch}", prepared.commit))
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| RepoError::Git {
                action: "running `git push` (is git installed?)".into(),
                url: shown(url),
                source: git2::Error::from_str(&e.to_string()),
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = redact::redact(&stderr);
        // Porcelain status lines: `<flag>\t<from>:<to>\t<summary>`; `!` is a rejection.
        let statuses: Vec<(char, &str, &str)> = stdout
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, '\t');
                let flag = parts.next()?.chars().next()?;
                let refs = parts.next()?;
                let summary = parts.next().unwrap_or_default();
                Some((flag, refs.rsplit(':').next().unwrap_or(refs), summary))
            })
            .collect();
        let ours = statuses.iter().find(|(_, to, _)| *to == branch);
        match ours {
            Some((flag, _, _))
                if output.status.success() && matches!(flag, ' ' | '+' | '*' | '=') =>
            {
                Ok(())
            }
            Some((_, _, summary)) => Err(RepoError::PushRejected {
                url: shown(url),
                reference: branch,
                message: format!("{summary} {}", stderr.trim()).trim().to_owned(),
            }),
            None => Err(RepoError::PushRejected {
                url: shown(url),
                reference: branch,
                message: format!("`git push` reported no status for the branch: {}", stderr.trim()),
            }),
        }
    }

    fn push_with_libgit2(&self) -> Result<(), RepoError> {
        let url = &self.config.url;
        let branch = self.local_branch();
        let mut remote = self.repo.remote_anonymous(url).map_err(git_err("opening remote", url))?;
        let mut statuses: Vec<(String, Option<String>)> = Vec::new();
        {
            let mut callbacks = callbacks(&self.config.credentials);
            callbacks.push_update_reference(|reference, status| {
                statuses.push((reference.to_owned(), status.map(str::to_owned)));
                Ok(())
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            let refspec = format!("{branch}:{branch}");
            remote.push(&[&refspec], Some(&mut options)).map_err(|source| {
                if source.code() == git2::ErrorCode::NotFastForward {
                    RepoError::PushRejected {
                        url: shown(url),
                        reference: branch.clone(),
                        message: redact::redact(source.message()).into_owned(),
                    }
                } else {
                    RepoError::Git {
                        action: format!("pushing {branch}"),
                        url: shown(url),
                        source: redact_git(source),
                    }
                }
            })?;
        }
        if let Some((reference, Some(message))) =
            statuses.iter().find(|(_, status)| status.is_some())
        {
            return Err(RepoError::PushRejected {
                url: shown(url),
                reference: reference.clone(),
                message: redact::redact(message).into_owned(),
            });
        }
        if !statuses.iter().any(|(reference, _)| *reference == branch) {
            return Err(RepoError::PushRejected {
                url: shown(url),
                reference: branch,
                message: "the remote did not report the reference as updated".into(),
            });
        }
        Ok(())
    }

    /// Fetches, applies `edits` in one commit and pushes it; no commit when nothing
    /// changes.
    pub fn apply(&self, edits: &[Edit]) -> Result<Applied, RepoError> {
        self.apply_with_message(edits, &commit_message(edits))
    }

    /// [`IndexRepo::apply`] with the caller's commit message.
    ///
    /// A push that lost a race (the remote's branch moved after this clone fetched it) is
    /// redone at once on the winner's head, up to [`LOST_RACE_ATTEMPTS`] times in all: the
    /// edits are rebuilt from the new head, so one that the winner already made leaves
    /// nothing to push. A rejection while the branch did not move (a hook or a permission
    /// refused it) is returned as it is, after one push.
    pub fn apply_with_message(&self, edits: &[Edit], message: &str) -> Result<Applied, RepoError> {
        let mut attempt = 1;
        loop {
            let Some(prepared) = self.prepare_with_message(edits, message)? else {
                return Ok(Applied::Unchanged);
            };
            match self.push(&prepared) {
                Ok(commit) => return Ok(Applied::Pushed { commit, message: prepared.message }),
                Err(err @ RepoError::PushRejected { .. }) if attempt < LOST_RACE_ATTEMPTS => {
                    let base = self
                        .repo
                        .find_commit(prepared.commit)
                        .ok()
                        .and_then(|commit| commit.parent_id(0).ok());
                    if self.fetch()? == base {
                        return Err(err);
                    }
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

/// How many times [`IndexRepo::apply`] pushes when other writers keep winning the race to
/// the remote, before it returns [`RepoError::PushRejected`].
pub const LOST_RACE_ATTEMPTS: u32 = 5;

/// Whether `url` names a repository on this machine (`file://` or a path).
fn is_local(url: &str) -> bool {
    url.starts_with("file://")
        || !url.contains("://") && (Path::new(url).is_absolute() || Path::new(url).exists())
}

/// `Publish foo 1.2.3` for one edit; a summary line and one line per edit for several.
pub fn commit_message(edits: &[Edit]) -> String {
    match edits {
        [one] => one.describe(),
        many => {
            let mut message = format!("Update {} index entries\n\n", many.len());
            for edit in many {
                message.push_str(&edit.describe());
                message.push('\n');
            }
            message
        }
    }
}

/// Creates a new, empty index: a bare repository at `path` whose branch `branch` holds one
/// commit with `config.json`. Does nothing and returns `false` when `path` already holds a
/// repository.
pub fn create_index(path: &Path, branch: &str, config: &IndexConfig) -> Result<bool, RepoError> {
    let shown = path.display().to_string();
    if path.join("HEAD").exists() {
        return Ok(false);
    }
    let repo = Repository::init_bare(path).map_err(git_err("creating the index", &shown))?;
    let head = format!("refs/heads/{branch}");
    repo.set_head(&head).map_err(git_err("setting HEAD", &shown))?;
    let mut text = serde_json::to_string_pretty(config).map_err(RepoError::Config)?;
    text.push('\n');
    let blob = repo.blob(text.as_bytes()).map_err(git_err("writing config.json", &shown))?;
    let mut tree = repo.treebuilder(None).map_err(git_err("building the first tree", &shown))?;
    tree.insert("config.json", blob, i32::from(FileMode::Blob))
        .map_err(git_err("building the first tree", &shown))?;
    let tree_id = tree.write().map_err(git_err("writing the first tree", &shown))?;
    let tree = repo.find_tree(tree_id).map_err(git_err("reading the first tree", &shown))?;
    let signature = Signature::now("registry-index", "index@registry.invalid")
        .map_err(git_err("signing", &shown))?;
    repo.commit(Some(&head), &signature, &signature, "Create the index", &tree, &[])
        .map_err(git_err("committing config.json", &shown))?;
    Ok(true)
}
