//! Crash safety proven with processes: a worker killed with SIGKILL loses no job, and two
//! worker processes over one table run every job exactly once.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use queue_core::{Job, NewJob, Runner, RunnerConfig, Storage};
use queue_diesel::{PgConfig, PgStorage, SqliteConfig, SqliteStorage};
use serde::{Deserialize, Serialize};

use crate::fixtures;

const CHILD: &str = "QUEUE_DIESEL_CRASH_CHILD";
const BACKEND: &str = "QUEUE_DIESEL_CRASH_BACKEND";
const TARGET: &str = "QUEUE_DIESEL_CRASH_TARGET";
const LEASE: Duration = Duration::from_secs(2);

/// Where a job writes its effect: the database it was queued in.
#[derive(Clone)]
enum Target {
    Pg(String),
    Sqlite(String),
}

impl Target {
    fn from_env() -> Target {
        let target = std::env::var(TARGET).unwrap();
        match std::env::var(BACKEND).unwrap().as_str() {
            "pg" => Target::Pg(target),
            _ => Target::Sqlite(target),
        }
    }

    fn env(&self) -> [(&'static str, String); 2] {
        match self {
            Target::Pg(url) => [(BACKEND, "pg".into()), (TARGET, url.clone())],
            Target::Sqlite(path) => [(BACKEND, "sqlite".into()), (TARGET, path.clone())],
        }
    }

    fn storage(&self) -> Arc<dyn Storage> {
        match self {
            Target::Pg(url) => Arc::new(
                PgStorage::connect(PgConfig { pool_size: 8, ..PgConfig::new(url) }).unwrap(),
            ),
            Target::Sqlite(path) => Arc::new(
                SqliteStorage::open(SqliteConfig {
                    lease: LEASE,
                    busy_timeout: LEASE / 4,
                    ..SqliteConfig::new(path)
                })
                .unwrap(),
            ),
        }
    }

    fn execute(&self, sql: &str) {
        match self {
            Target::Pg(url) => {
                let mut conn = PgConnection::establish(url).unwrap();
                diesel::sql_query(sql).execute(&mut conn).unwrap();
            }
            Target::Sqlite(path) => {
                let storage = SqliteStorage::open(SqliteConfig::new(path)).unwrap();
                let mut conn = storage.pool().get().unwrap();
                diesel::sql_query(sql).execute(&mut conn).unwrap();
            }
        }
    }

    fn effects(&self) -> (i64, i64) {
        #[derive(QueryableByName)]
        struct Counts {
            #[diesel(sql_type = BigInt)]
            total: i64,
            #[diesel(sql_type = BigInt)]
            distinct_keys: i64,
        }
        let sql = "SELECT count(*) AS total, count(DISTINCT job_key) AS distinct_keys FROM effects";
        let counts: Counts = match self {
            Target::Pg(url) => diesel::sql_query(sql)
                .get_result(&mut PgConnection::establish(url).unwrap())
                .unwrap(),
            Target::Sqlite(path) => {
                let storage = SqliteStorage::open(SqliteConfig::new(path)).unwrap();
                let mut conn = storage.pool().get().unwrap();
                diesel::sql_query(sql).get_result(&mut conn).unwrap()
            }
        };
        (counts.total, counts.distinct_keys)
    }
}

/// Writes its key into `effects` in its own transaction; in a blocking child, announces
/// itself and never finishes.
#[derive(Serialize, Deserialize)]
struct EffectJob {
    key: i64,
    block: bool,
}

struct Effects {
    target: Target,
    completed: AtomicBool,
}

impl Job for EffectJob {
    const JOB_NAME: &'static str = "effect_job";
    type Context = Effects;

    fn run(&self, ctx: &Effects) -> anyhow::Result<()> {
        if self.block && std::env::var_os(CHILD).is_some() {
            println!("CHILD-STARTED={}", self.key);
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        ctx.target.execute(&format!("INSERT INTO effects (job_key) VALUES ({})", self.key));
        ctx.completed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

fn config() -> RunnerConfig {
    RunnerConfig { poll_interval: Duration::from_millis(50), ..RunnerConfig::default() }
}

/// The child process: a worker over the database named in the environment. Run directly,
/// it drains a few jobs on SQLite in-process and checks their effects.
#[test]
fn worker_child() {
    let mode = std::env::var(CHILD).unwrap_or_default();
    let target = if mode.is_empty() {
        let (storage, dir) = fixtures::sqlite();
        let path = storage.path().to_string_lossy().into_owned();
        std::mem::forget(dir);
        let target = Target::Sqlite(path);
        target.execute("CREATE TABLE effects (job_key BIGINT NOT NULL)");
        for key in 0..5 {
            EffectJob { key, block: false }.enqueue(&*target.storage()).unwrap();
        }
        target
    } else {
        Target::from_env()
    };
    let effects = Arc::new(Effects { target: target.clone(), completed: AtomicBool::new(false) });
    let workers = if mode == "drain" { 3 } else { 1 };
    Runner::new(target.storage(), config())
        .register::<EffectJob>(effects)
        .workers(queue_core::DEFAULT_QUEUE, workers)
        .run_until_empty()
        .unwrap();
    if mode.is_empty() {
        assert_eq!(target.effects(), (5, 5));
    }
}

fn spawn_child(mode: &str, target: &Target) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash::worker_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .envs(target.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn killed_worker_loses_nothing(target: Target) {
    target.execute("CREATE TABLE effects (job_key BIGINT NOT NULL)");
    let storage = target.storage();
    EffectJob { key: 42, block: true }.enqueue(&*storage).unwrap();

    let mut child = spawn_child("block", &target);
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let started = lines.by_ref().map_while(Result::ok).any(|l| l.contains("CHILD-STARTED=42"));
    assert!(started, "the child worker claimed and started the job");
    child.kill().unwrap();
    child.wait().unwrap();

    // Another worker (this process) finishes the job: at once on PostgreSQL, whose row lock
    // died with the child's connection; after the lease on SQLite.
    let effects = Arc::new(Effects { target: target.clone(), completed: AtomicBool::new(false) });
    let runner = Runner::new(Arc::clone(&storage), config())
        .register::<EffectJob>(Arc::clone(&effects))
        .start()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !effects.completed.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(runner.shutdown(Duration::from_secs(30)).unfinished_workers, 0);
    assert!(
        effects.completed.load(Ordering::SeqCst),
        "the job ran to completion in another worker"
    );
    assert_eq!(target.effects(), (1, 1));
    assert_eq!(storage.count_pending().unwrap(), 0);
}

#[test]
fn pg_killed_worker_loses_nothing() {
    let (_storage, db) = fixtures::pg();
    killed_worker_loses_nothing(Target::Pg(db.url().to_owned()));
}

#[test]
fn sqlite_killed_worker_loses_nothing() {
    let (storage, _dir) = fixtures::sqlite();
    killed_worker_loses_nothing(Target::Sqlite(storage.path().to_string_lossy().into_owned()));
}

fn two_processes_run_every_job_once(target: Target) {
    const JOBS: i64 = 300;
    target.execute("CREATE TABLE effects (job_key BIGINT NOT NULL)");
    let jobs: Vec<NewJob> =
        (0..JOBS).map(|key| NewJob::from_job(&EffectJob { key, block: false }).unwrap()).collect();
    target.storage().enqueue_batch(&jobs).unwrap();
    let children: Vec<_> = (0..2).map(|_| spawn_child("drain", &target)).collect();
    for mut child in children {
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "worker process failed: {status}\n{out}");
    }
    assert_eq!(target.effects(), (JOBS, JOBS), "every job's effect is there exactly once");
    assert_eq!(target.storage().count_pending().unwrap(), 0);
}

#[test]
fn pg_two_processes_run_every_job_once() {
    let (_storage, db) = fixtures::pg();
    two_processes_run_every_job_once(Target::Pg(db.url().to_owned()));
}

#[test]
fn sqlite_two_processes_run_every_job_once() {
    let (storage, _dir) = fixtures::sqlite();
    two_processes_run_every_job_once(Target::Sqlite(storage.path().to_string_lossy().into_owned()));
}
