//! `cargo xtask chaos`: real `registry-worker` processes killed, paused and cut off while
//! crates are published, yanked and unyanked; then one clean run, and the registry must be
//! exactly what the requests asked for.
//!
//! During the run:
//! - several `registry-worker run` processes (two worker threads each, a short SQLite lease)
//!   are SIGKILLed (and restarted) or SIGSTOPped for up to twice the lease, then SIGCONTed;
//! - the index remote's `pre-receive` hook refuses one push in four;
//! - on PostgreSQL, sessions holding a claim are ended with `pg_terminate_backend`;
//! - requests (`registry-worker publish`, `yank`, `unyank`) keep coming, and the run keeps its
//!   own model of what each version's `yanked` must end up as.
//!
//! Then every worker is killed, the hook accepts again, waiting jobs are made runnable
//! (`jobs retry`), and one `run --until-empty` drains the queue. It then checks: no job
//! left, `reconcile` finds no difference, every version in the index exactly once with the
//! model's `yanked` (in the git index and the same in the sparse one), and `git fsck` finds
//! nothing wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context as _, Result};
use diesel::{Connection as _, RunQueryDsl as _};
use queue_diesel::testing::{PgServer, ServerConfig};

/// Which database the run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// What `cargo xtask chaos` was asked for.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) kills: usize,
    pub(crate) backends: Vec<Backend>,
    pub(crate) seed: u64,
}

impl Options {
    /// Parses `[--kills N] [--backend sqlite|postgres|both] [--seed S]`.
    pub(crate) fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            kills: 100,
            backends: vec![Backend::Sqlite, Backend::Postgres],
            seed: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--kills" => {
                    options.kills = value()?
                        .parse()
                        .ok()
                        .filter(|n| (1..=100_000).contains(n))
                        .context("--kills takes a number from 1 to 100000")?;
                }
                "--backend" => {
                    options.backends = match value()?.as_str() {
                        "sqlite" => vec![Backend::Sqlite],
                        "postgres" => vec![Backend::Postgres],
                        "both" => vec![Backend::Sqlite, Backend::Postgres],
                        other => bail!("--backend {other:?}: expected sqlite, postgres or both"),
                    };
                }
                "--seed" => {
                    options.seed = value()?.parse().context("--seed takes a number")?;
                }
                other => bail!("unknown chaos argument {other:?}"),
            }
        }
        Ok(options)
    }
}

/// A small xorshift generator: the run is repeated by passing its printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Worker processes during the run, and what a lease lasts.
const WORKERS: usize = 3;
const LEASE_SECS: u64 = 2;
const VERSIONS_PER_CRATE: usize = 5;

/// What a run survived, for the report.
#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    pauses: usize,
    long_pauses: usize,
    terminated_sessions: usize,
    refused_pushes: usize,
    publishes: usize,
    yanks: usize,
    unyanks: usize,
}

/// Runs the chaos for each backend asked for.
pub(crate) fn run(root: &Path, options: &Options) -> Result<()> {
    eprintln!("building registry-worker");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "--workspace", "--all-features", "--bins"])
        .status()
        .context("running cargo build")?;
    ensure!(status.success(), "building registry-worker failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = target.join("debug/registry-worker");
    for &backend in &options.backends {
        let started = Instant::now();
        eprintln!("chaos on {backend:?}: {} kills or pauses, seed {}", options.kills, options.seed);
        let tally = run_backend(&binary, backend, options)
            .with_context(|| format!("chaos on {backend:?} (seed {})", options.seed))?;
        println!(
            "chaos {backend:?}: survived {} SIGKILLs and {} SIGSTOP pauses ({} longer than the {LEASE_SECS} s lease), {} terminated database sessions, {} refused pushes; {} publishes, {} yanks, {} unyanks; zero lost updates; {:.0} s (seed {})",
            tally.kills,
            tally.pauses,
            tally.long_pauses,
            tally.terminated_sessions,
            tally.refused_pushes,
            tally.publishes,
            tally.yanks,
            tally.unyanks,
            started.elapsed().as_secs_f64(),
            options.seed,
        );
    }
    Ok(())
}

/// One backend's run, in a temporary directory that is kept when the run fails.
fn run_backend(binary: &Path, backend: Backend, options: &Options) -> Result<Tally> {
    let dir = tempfile::Builder::new().prefix("registry-chaos-").tempdir()?;
    let server = match backend {
        Backend::Postgres => {
            Some(PgServer::start(&ServerConfig { durable: false, max_connections: 100 })?)
        }
        Backend::Sqlite => None,
    };
    let database_url = match &server {
        Some(server) => Some(server.create_database()?.0),
        None => None,
    };
    let mut chaos = Chaos {
        binary: binary.to_owned(),
        data: dir.path().join("data"),
        logs: dir.path().join("logs"),
        database_url,
        rng: Rng(options.seed | 1),
        workers: Vec::new(),
        spawned: 0,
        tally: Tally::default(),
    };
    let result = chaos.run(dir.path(), options.kills);
    chaos.kill_all();
    if let Some(server) = &server {
        server.stop();
    }
    match result {
        Ok(()) => Ok(chaos.tally),
        Err(err) => {
            let kept = dir.keep();
            Err(err.context(format!("logs and data kept in {}", kept.display())))
        }
    }
}

struct Chaos {
    binary: PathBuf,
    data: PathBuf,
    logs: PathBuf,
    database_url: Option<String>,
    rng: Rng,
    workers: Vec<Child>,
    spawned: usize,
    tally: Tally,
}

impl Chaos {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--data-dir")
            .arg(&self.data)
            .args(["--sqlite-lease", &LEASE_SECS.to_string()])
            .env_remove("INDEX_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        match &self.database_url {
            Some(url) => cmd.env("DATABASE_URL", url),
            None => cmd.env_remove("DATABASE_URL"),
        };
        cmd
    }

    /// Runs a request or operator command; it must succeed.
    fn request(&self, args: &[&str]) -> Result<Output> {
        let output = self.command().args(args).output().context("running registry-worker")?;
        ensure!(
            output.status.success(),
            "`registry-worker {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(output)
    }

    fn spawn_worker(&mut self) -> Result<Child> {
        self.spawned += 1;
        let log = std::fs::File::create(self.logs.join(format!("worker-{}.log", self.spawned)))?;
        let child = self
            .command()
            .args(["run", "--workers", "2"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting registry-worker run")?;
        Ok(child)
    }

    fn kill_all(&mut self) {
        for child in &mut self.workers {
            signal(child, "CONT");
            let _ = child.kill();
            let _ = child.wait();
        }
        self.workers.clear();
    }

    fn run(&mut self, dir: &Path, rounds: usize) -> Result<()> {
        std::fs::create_dir_all(&self.logs)?;
        self.request(&["migrate"])?;
        let refuse_flag = dir.join("refuse-pushes");
        let refused_log = dir.join("refused-pushes.log");
        install_hook(&self.data.join("index.git"), &refuse_flag, &refused_log)?;
        std::fs::write(&refuse_flag, "")?;

        let crates_dir = dir.join("crates");
        std::fs::create_dir_all(&crates_dir)?;
        let crate_count = rounds.div_ceil(VERSIONS_PER_CRATE);
        let mut pending: Vec<(String, String)> = Vec::new();
        for v in 0..VERSIONS_PER_CRATE {
            for c in 0..crate_count {
                pending.push((format!("chaos-{c}"), format!("1.0.{v}")));
            }
        }
        pending.truncate(rounds);
        pending.reverse();
        // The model: what every published version's `yanked` must end up as.
        let mut model: BTreeMap<(String, String), bool> = BTreeMap::new();

        for _ in 0..WORKERS {
            let child = self.spawn_worker()?;
            self.workers.push(child);
        }
        let admin = match &self.database_url {
            Some(url) => Some(diesel::PgConnection::establish(url)?),
            None => None,
        };
        let mut admin = admin;
        for _ in 0..rounds {
            // Requests: a publish, and now and then a yank or an unyank.
            if let Some((name, vers)) = pending.pop() {
                let file = write_crate(&crates_dir, &name, &vers)?;
                self.request(&["publish", &file.to_string_lossy()])?;
                model.insert((name, vers), false);
                self.tally.publishes += 1;
            }
            if self.rng.chance(40) && !model.is_empty() {
                let pick = self.rng.below(model.len() as u64) as usize;
                let Some(((name, vers), yanked)) = model.iter_mut().nth(pick) else {
                    continue;
                };
                let verb = if *yanked { "unyank" } else { "yank" };
                let output = self.request(&[verb, name, vers])?;
                let _ = output;
                *yanked = !*yanked;
                if *yanked {
                    self.tally.yanks += 1;
                } else {
                    self.tally.unyanks += 1;
                }
            }
            // Faults.
            let victim = self.rng.below(WORKERS as u64) as usize;
            if self.rng.chance(50) {
                let child = &mut self.workers[victim];
                let _ = child.kill();
                let _ = child.wait();
                self.tally.kills += 1;
                let child = self.spawn_worker()?;
                self.workers[victim] = child;
            } else {
                let pause = Duration::from_millis(100 + self.rng.below(2 * LEASE_SECS * 1000));
                signal(&self.workers[victim], "STOP");
                std::thread::sleep(pause);
                signal(&self.workers[victim], "CONT");
                self.tally.pauses += 1;
                if pause > Duration::from_secs(LEASE_SECS) {
                    self.tally.long_pauses += 1;
                }
            }
            if let Some(admin) = admin.as_mut() {
                if self.rng.chance(30) {
                    self.tally.terminated_sessions += terminate_claims(admin)?;
                }
            }
            std::thread::sleep(Duration::from_millis(self.rng.below(300)));
        }

        // The clean run. Killed workers' SQLite leases lapse first: until then their jobs
        // count as running and cannot be retried.
        self.kill_all();
        std::thread::sleep(Duration::from_secs(LEASE_SECS + 1));
        std::fs::remove_file(&refuse_flag)?;
        self.tally.refused_pushes =
            std::fs::read_to_string(&refused_log).map(|text| text.lines().count()).unwrap_or(0);
        let listed = self.request(&["jobs", "list", "--json"])?;
        let jobs: serde_json::Value = serde_json::from_slice(&listed.stdout)?;
        for job in jobs.as_array().map(Vec::as_slice).unwrap_or_default() {
            let id = job["id"].to_string();
            self.request(&["jobs", "retry", &id])?;
        }
        let drained = self.command().args(["run", "--until-empty", "--workers", "2"]).output()?;
        ensure!(
            drained.status.success(),
            "the clean run failed: {}{}",
            String::from_utf8_lossy(&drained.stdout),
            String::from_utf8_lossy(&drained.stderr)
        );

        // The checks.
        let listed = self.request(&["jobs", "list", "--json"])?;
        let left: serde_json::Value = serde_json::from_slice(&listed.stdout)?;
        ensure!(
            left.as_array().is_some_and(Vec::is_empty),
            "jobs left after the clean run: {left}"
        );
        self.request(&["reconcile"]).context("reconcile found differences")?;
        check_index(&self.data.join("index.git"), &self.data.join("sparse-index"), &model)?;
        let fsck = Command::new("git")
            .arg("--git-dir")
            .arg(self.data.join("index.git"))
            .args(["fsck", "--full", "--strict"])
            .output()?;
        ensure!(
            fsck.status.success(),
            "git fsck of the index remote: {}",
            String::from_utf8_lossy(&fsck.stderr)
        );
        Ok(())
    }
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
}

/// Ends every session that holds a claim (a transaction left idle while its job runs).
fn terminate_claims(admin: &mut diesel::PgConnection) -> Result<usize> {
    #[derive(diesel::QueryableByName)]
    struct Terminated {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        #[allow(dead_code)]
        ok: bool,
    }
    let rows: Vec<Terminated> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND state = 'idle in transaction'",
    )
    .load(admin)?;
    Ok(rows.len())
}

/// A `pre-receive` hook that refuses one push in four while `flag` exists, and notes each
/// refusal in `log`.
fn install_hook(repo: &Path, flag: &Path, log: &Path) -> Result<()> {
    let hook = repo.join("hooks/pre-receive");
    std::fs::create_dir_all(repo.join("hooks"))?;
    std::fs::write(
        &hook,
        format!(
            "#!/bin/bash\nif [ -e '{}' ] && [ $((RANDOM % 4)) -eq 0 ]; then\n  echo refused >> '{}'\n  echo 'chaos: push refused' >&2\n  exit 1\nfi\nexit 0\n",
            flag.display(),
            log.display()
        ),
    )?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Writes `name-vers.crate` as `cargo package` would lay it out.
fn write_crate(dir: &Path, name: &str, vers: &str) -> Result<PathBuf> {
    let path = dir.join(format!("{name}-{vers}.crate"));
    let file = std::fs::File::create(&path)?;
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"{vers}\"\nedition = \"2021\"\nlicense = \"MIT\"\ndescription = \"chaos\"\n"
    );
    let lib = format!("pub const VERSION: &str = \"{vers}\";\n");
    for (member, data) in [("Cargo.toml", manifest.as_bytes()), ("src/lib.rs", lib.as_bytes())] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, format!("{name}-{vers}/{member}"), data)?;
    }
    builder.into_inner()?.finish()?;
    Ok(path)
}

/// Cargo's index path of a crate name.
fn index_path(name: &str) -> Result<String> {
    Ok(index_git::CrateName::new(name)?.index_path())
}

/// Every version of the model is in the index exactly once, with the model's `yanked`, and
/// nothing else is; the sparse index holds the same files.
fn check_index(repo: &Path, sparse: &Path, model: &BTreeMap<(String, String), bool>) -> Result<()> {
    let mut crates: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
    for ((name, vers), yanked) in model {
        crates.entry(name).or_default().insert(vers, *yanked);
    }
    for (name, versions) in crates {
        let output = Command::new("git")
            .arg("--git-dir")
            .arg(repo)
            .args(["show", &format!("HEAD:{}", index_path(name)?)])
            .output()?;
        ensure!(output.status.success(), "{name} is not in the index");
        let text = String::from_utf8(output.stdout)?;
        let sparse_text = std::fs::read_to_string(sparse.join(index_path(name)?))
            .with_context(|| format!("{name} is not in the sparse index"))?;
        ensure!(sparse_text == text, "{name}: the sparse index differs from the git index");
        let mut seen: BTreeMap<String, bool> = BTreeMap::new();
        for line in text.lines() {
            let entry: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("{name}: line {line:?}"))?;
            let vers = entry["vers"].as_str().context("a line without vers")?.to_owned();
            let yanked = entry["yanked"].as_bool().context("a line without yanked")?;
            ensure!(
                seen.insert(vers.clone(), yanked).is_none(),
                "{name} {vers} is in the index twice"
            );
        }
        let want: BTreeMap<String, bool> =
            versions.iter().map(|(v, y)| ((*v).to_owned(), *y)).collect();
        ensure!(seen == want, "{name}: the index has {seen:?}, the requests asked for {want:?}");
    }
    Ok(())
}
