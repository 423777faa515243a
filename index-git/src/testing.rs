//! An upstream index for tests: a bare repository in a temporary directory, readable at its
//! head, that can refuse pushes and be served over `git://` so that its hooks run.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use git2::Repository;

use crate::repo::{create_index, IndexConfig, RepoConfig};

/// A bare upstream index in a temporary directory, created with a `config.json`.
#[derive(Debug)]
pub struct UpstreamIndex {
    dir: tempfile::TempDir,
    daemon: Option<Child>,
}

impl UpstreamIndex {
    /// A new upstream index whose `dl` points at `file://{dir}/crates/{crate}/{version}.crate`.
    ///
    /// # Panics
    ///
    /// When the temporary directory or repository cannot be created.
    pub fn new() -> UpstreamIndex {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let dl = format!("file://{}/crates/{{crate}}/{{version}}.crate", dir.path().display());
        create_index(&dir.path().join("upstream.git"), "master", &IndexConfig { dl, api: None })
            .expect("creating the upstream index");
        UpstreamIndex { dir, daemon: None }
    }

    /// The bare repository's directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("upstream.git")
    }

    /// The `file://` URL of the repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    /// A fresh directory next to the upstream, for a local clone.
    pub fn clone_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("clones").join(name)
    }

    /// A [`RepoConfig`] for a clone named `name` of this upstream, over `file://`.
    pub fn repo_config(&self, name: &str) -> RepoConfig {
        RepoConfig::new(self.url(), self.clone_dir(name))
    }

    fn open(&self) -> Repository {
        Repository::open_bare(self.path()).expect("opening the upstream index")
    }

    /// A file at the head of `master`, `None` when absent.
    pub fn read_file(&self, path: &str) -> Option<String> {
        let repo = self.open();
        let commit = repo.find_reference("refs/heads/master").ok()?.peel_to_commit().ok()?;
        let entry = commit.tree().ok()?.get_path(Path::new(path)).ok()?;
        let blob = repo.find_blob(entry.id()).ok()?;
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    /// The number of commits on `master`.
    pub fn commit_count(&self) -> usize {
        let repo = self.open();
        let mut walk = repo.revwalk().expect("revwalk");
        walk.push_ref("refs/heads/master").expect("master exists");
        walk.count()
    }

    /// The message of the head commit of `master`.
    pub fn head_message(&self) -> String {
        let repo = self.open();
        let commit = repo
            .find_reference("refs/heads/master")
            .and_then(|r| r.peel_to_commit())
            .expect("master exists");
        commit.message().unwrap_or_default().to_owned()
    }

    /// Installs (or removes) a `pre-receive` hook that refuses every push. The hook runs for
    /// pushes over the `file://` URL (index-git pushes to local remotes with `git push`) and
    /// over [`UpstreamIndex::serve`]'s `git://` URL.
    pub fn refuse_pushes(&self, refuse: bool) {
        let hook = self.path().join("hooks").join("pre-receive");
        if refuse {
            std::fs::create_dir_all(hook.parent().expect("hooks dir")).expect("creating hooks dir");
            std::fs::write(
                &hook,
                "#!/bin/sh\necho 'pushes are closed for maintenance' >&2\nexit 1\n",
            )
            .expect("writing the hook");
            let mut perms = std::fs::metadata(&hook).expect("hook metadata").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            std::fs::set_permissions(&hook, perms).expect("making the hook executable");
        } else if hook.exists() {
            std::fs::remove_file(&hook).expect("removing the hook");
        }
    }

    /// Installs a `pre-receive` hook that holds the first push it sees until
    /// [`PushGate::release`] and lets every later push through, so that a test can make a
    /// writer lose the race to the remote at a point of its choosing.
    pub fn hold_first_push(&self) -> PushGate {
        let gate = self.dir.path().join("push-gate");
        std::fs::create_dir_all(&gate).expect("creating the push gate");
        let hook = self.path().join("hooks").join("pre-receive");
        std::fs::create_dir_all(hook.parent().expect("hooks dir")).expect("creating hooks dir");
        let (first, started, release) =
            (gate.join("first"), gate.join("started"), gate.join("release"));
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\nif mkdir '{}' 2>/dev/null; then\n  touch '{}'\n  \
                 while [ ! -e '{}' ]; do sleep 0.02; done\nfi\nexit 0\n",
                first.display(),
                started.display(),
                release.display()
            ),
        )
        .expect("writing the hook");
        let mut perms = std::fs::metadata(&hook).expect("hook metadata").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&hook, perms).expect("making the hook executable");
        PushGate { started, release }
    }

    /// Serves the repository with `git daemon` (push enabled, hooks run) on a loopback port
    /// until this value is dropped, and returns its `git://` URL.
    ///
    /// # Panics
    ///
    /// When `git daemon` cannot be started.
    pub fn serve(&mut self) -> String {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // `git daemon` would run `git-daemon` as a child of its own, which killing `git`
        // leaves running: start `git-daemon` itself, so that dropping this value stops it.
        let exec_path = Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("running git --exec-path (is git installed?)");
        let exec_path = String::from_utf8_lossy(&exec_path.stdout).trim().to_owned();
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--enable=receive-pack")
            .arg("--informative-errors")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", self.dir.path().display()))
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting git daemon (is git installed?)");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not start listening on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        format!("git://127.0.0.1:{port}/upstream.git")
    }
}

impl Default for UpstreamIndex {
    fn default() -> Self {
        UpstreamIndex::new()
    }
}

impl Drop for UpstreamIndex {
    fn drop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}

/// The first push held by [`UpstreamIndex::hold_first_push`].
#[derive(Debug)]
pub struct PushGate {
    started: PathBuf,
    release: PathBuf,
}

impl PushGate {
    /// Waits until the held push reached the remote's hook.
    ///
    /// # Panics
    ///
    /// When no push arrives within 60 seconds.
    pub fn wait_started(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.started.exists() {
            assert!(Instant::now() < deadline, "no push reached the remote's hook");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets the held push go on.
    pub fn release(&self) {
        std::fs::write(&self.release, "").expect("releasing the held push");
    }
}
