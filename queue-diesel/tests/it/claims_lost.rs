//! A claim that is lost while its jobs run (a SQLite lease that lapsed, a PostgreSQL
//! session that was killed) records nothing and says so; nothing merges into it.

use std::time::Duration;

use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, RunQueryDsl as _};
use queue_core::storage::{Claim, Outcome};
use queue_core::{JobId, NewJob, Storage, StorageError};

use crate::fixtures;

const LEASE: Duration = Duration::from_millis(600);

fn dedup_job() -> NewJob {
    NewJob {
        job_type: "sync".into(),
        data: serde_json::json!({"crate": "serde"}),
        priority: 0,
        deduplicated: true,
    }
}

/// Keeps SQLite's write lock for `how_long` from another connection, as a stuck writer or a
/// paused worker would: no lease can be extended meanwhile.
fn block_writers(path: &std::path::Path, how_long: Duration) {
    let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
    conn.batch_execute("BEGIN IMMEDIATE").unwrap();
    std::thread::sleep(how_long);
    conn.batch_execute("ROLLBACK").unwrap();
}

fn lost_jobs(result: Result<usize, StorageError>) -> (Vec<JobId>, String) {
    match result {
        Err(StorageError::NotRecorded { jobs, reason }) => (jobs, reason),
        other => panic!("expected NotRecorded, got {other:?}"),
    }
}

#[test]
fn sqlite_an_enqueue_never_merges_into_a_lapsed_lease() {
    let (storage, dir) = fixtures::sqlite_with_lease(LEASE);
    let first = storage.enqueue(&dedup_job()).unwrap().unwrap();
    let mut merged = None;
    let result = storage.run_batch(Claim::types(&["sync"], 1), &mut |jobs| {
        // The worker "reads the database", then its lease lapses while it is stuck.
        block_writers(&dir.path().join("jobs.sqlite3"), LEASE * 2);
        // A request changes the database and enqueues the same job: it must get its own
        // row, since this worker read the database before the change.
        merged = Some(storage.enqueue(&dedup_job()).unwrap());
        vec![Outcome::Succeeded; jobs.len()]
    });
    let second = merged.unwrap().expect("a new job, not merged into the lapsed one");
    let (lost, reason) = lost_jobs(result);
    assert_eq!(lost, vec![first]);
    assert!(reason.contains("lease ran out"), "{reason}");
    let mut left: Vec<JobId> = storage.pending_jobs(10).unwrap().iter().map(|j| j.id).collect();
    left.sort();
    assert_eq!(left, vec![first, second], "the lapsed job was not completed; both run again");
    let ran = queue_core::Runner::new(std::sync::Arc::new(storage), fast())
        .register::<Sync>(())
        .run_until_empty()
        .unwrap();
    assert_eq!((ran.succeeded, ran.failed), (2, 0));
}

#[test]
fn sqlite_a_lease_taken_over_is_completed_once() {
    let (storage, dir) = fixtures::sqlite_with_lease(LEASE);
    let first = storage.enqueue(&dedup_job()).unwrap().unwrap();
    let mut taken_over = Vec::new();
    let result = storage.run_batch(Claim::types(&["sync"], 1), &mut |_jobs| {
        block_writers(&dir.path().join("jobs.sqlite3"), LEASE * 2);
        // Another worker takes the lapsed job over and completes it.
        let n = storage
            .run_batch(Claim::types(&["sync"], 1), &mut |jobs| {
                taken_over.extend(jobs.iter().map(|j| j.id));
                vec![Outcome::Succeeded; jobs.len()]
            })
            .unwrap();
        assert_eq!(n, 1, "the lapsed job can be taken over");
        vec![Outcome::Failed { error: "late".into(), retry_in: Some(Duration::ZERO) }]
    });
    assert_eq!(taken_over, vec![first]);
    let (lost, _) = lost_jobs(result);
    assert_eq!(lost, vec![first]);
    assert_eq!(storage.count_pending().unwrap(), 0, "completed once, by the second worker");
}

#[test]
fn postgres_a_killed_session_fails_the_completion() {
    let (storage, db) = fixtures::pg();
    let first = storage.enqueue(&dedup_job()).unwrap().unwrap();
    let mut second_run = Vec::new();
    let result = storage.run_batch(Claim::types(&["sync"], 1), &mut |jobs| {
        // An operator (or idle_in_transaction_session_timeout, or a failover) ends the
        // session that holds the row lock, while the job runs.
        let mut admin = diesel::PgConnection::establish(db.url()).unwrap();
        let killed: Vec<Killed> = diesel::sql_query(
            "SELECT l.pid, pg_terminate_backend(l.pid) AS killed FROM pg_locks l \
             JOIN pg_class c ON c.oid = l.relation \
             WHERE c.relname = 'background_jobs' AND l.mode = 'RowShareLock' \
             AND l.pid <> pg_backend_pid()",
        )
        .load(&mut admin)
        .unwrap();
        assert_eq!(killed.len(), 1, "one session held the claim");
        assert!(killed[0].killed);
        // pg_terminate_backend only signals: wait until the backend, and its lock, are gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let alive: Vec<Killed> = diesel::sql_query(
                "SELECT pid, true AS killed FROM pg_stat_activity WHERE pid = $1",
            )
            .bind::<diesel::sql_types::Integer, _>(killed[0].pid)
            .load(&mut admin)
            .unwrap();
            if alive.is_empty() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the killed backend never exited");
            std::thread::sleep(Duration::from_millis(10));
        }
        // The row is free again: another worker starts the same job.
        let n = storage
            .run_batch(Claim::types(&["sync"], 1), &mut |jobs| {
                second_run.extend(jobs.iter().map(|j| j.id));
                vec![Outcome::Failed { error: "second run".into(), retry_in: None }; jobs.len()]
            })
            .unwrap();
        assert_eq!(n, 1);
        vec![Outcome::Succeeded; jobs.len()]
    });
    assert_eq!(second_run, vec![first]);
    let (lost, reason) = lost_jobs(result);
    assert_eq!(lost, vec![first]);
    assert!(reason.contains("database session"), "{reason}");
    let left = storage.pending_jobs(10).unwrap();
    assert_eq!(left.len(), 1, "the success of the killed session was not recorded");
    assert_eq!(left[0].last_error.as_deref(), Some("second run"));
}

/// A completion the server refuses (here a trigger; in production a lost session, a full
/// disk, a statement timeout) commits nothing: neither the deletion nor the failure recorded
/// before it in the same transaction, and the row locks are released with the rollback.
#[test]
fn postgres_a_refused_completion_commits_nothing() {
    let (storage, db) = fixtures::pg();
    let jobs: Vec<NewJob> = ["serde", "rand"]
        .iter()
        .map(|name| NewJob {
            job_type: "sync".into(),
            data: serde_json::json!({ "crate": name }),
            priority: 0,
            deduplicated: false,
        })
        .collect();
    storage.enqueue_batch(&jobs).unwrap();
    let mut admin = diesel::PgConnection::establish(db.url()).unwrap();
    admin
        .batch_execute(
            "CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'deletes refused for this test'; END $$; \
             CREATE TRIGGER refuse_delete BEFORE DELETE ON background_jobs \
             FOR EACH ROW EXECUTE FUNCTION refuse_delete()",
        )
        .unwrap();
    let result = storage.run_batch(Claim::types(&["sync"], 2), &mut |jobs| {
        assert_eq!(jobs.len(), 2);
        vec![
            Outcome::Failed { error: "first".into(), retry_in: Some(Duration::from_secs(3600)) },
            Outcome::Succeeded,
        ]
    });
    let (lost, reason) = lost_jobs(result);
    assert_eq!(lost.len(), 2, "{lost:?}");
    assert!(reason.contains("deletes refused for this test"), "{reason}");
    let left = storage.pending_jobs(10).unwrap();
    assert_eq!(left.len(), 2, "the deletion was not committed: {left:?}");
    assert!(
        left.iter().all(|job| job.retries == 0 && job.last_error.is_none()),
        "the failure recorded before the deletion was not committed: {left:?}"
    );
    admin.batch_execute("DROP TRIGGER refuse_delete ON background_jobs").unwrap();
    // The locks went with the rollback, and the pool's connection is usable again.
    let ran = queue_core::Runner::new(std::sync::Arc::new(storage), fast())
        .register::<Sync>(())
        .run_until_empty()
        .unwrap();
    assert_eq!((ran.succeeded, ran.failed), (2, 0));
}

#[derive(diesel::QueryableByName)]
struct Killed {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    killed: bool,
}

fn fast() -> queue_core::RunnerConfig {
    queue_core::RunnerConfig {
        poll_interval: Duration::from_millis(20),
        storage_error_backoff: Duration::from_millis(20),
        ..queue_core::RunnerConfig::default()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
struct Sync {
    #[serde(rename = "crate")]
    krate: String,
}

impl queue_core::Job for Sync {
    const JOB_NAME: &'static str = "sync";
    type Context = ();
    fn run(&self, _: &()) -> anyhow::Result<()> {
        Ok(())
    }
}
