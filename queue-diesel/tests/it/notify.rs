//! LISTEN/NOTIFY wake-ups: with a poll interval of an hour, only a notification can make an
//! idle worker run a new job, also after the listening connection was killed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use queue_core::testing::{Journal, RecordingJob};
use queue_core::{Job, NewJob, Runner, RunnerConfig, Storage};

use queue_diesel::testing::pg_notifications_before;

use crate::fixtures::{self, Count};

fn wait_for(journal: &Journal, n: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal.ran().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    journal.ran().len() >= n
}

/// A runner over `storage` with a poll interval of an hour, once its workers have made
/// their first (empty) claim and sleep: only a notification can wake them.
fn idle_runner(
    storage: &Arc<queue_diesel::PgStorage>,
    journal: &Arc<Journal>,
) -> queue_core::RunnerHandle {
    let config =
        RunnerConfig { poll_interval: Duration::from_secs(3600), ..RunnerConfig::default() };
    let runner = Runner::new(Arc::clone(storage), config)
        .register::<RecordingJob>(Arc::clone(journal))
        .start()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    runner
}

#[test]
fn pg_notification_wakes_idle_worker_and_survives_a_lost_connection() {
    let (storage, db) = fixtures::pg();
    let storage = Arc::new(storage);
    let journal = Journal::new();
    let runner = idle_runner(&storage, &journal);
    RecordingJob::new(1).enqueue(&*storage).unwrap();
    assert!(wait_for(&journal, 1), "the notification woke the worker");

    let mut admin = db.connect();
    let killed: Vec<Killed> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .load(&mut admin)
    .unwrap();
    assert_eq!(killed.len(), 1, "one listening connection");
    assert!(killed[0].done);
    // After the reconnect (with backoff), notifications work again.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut key = 2;
    while journal.ran().len() < 2 && Instant::now() < deadline {
        RecordingJob::new(key).enqueue(&*storage).unwrap();
        key += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(journal.ran().len() >= 2, "a job enqueued after the reconnect woke the worker");
    assert_eq!(runner.shutdown(Duration::from_secs(30)).unfinished_workers, 0);
}

#[derive(QueryableByName)]
struct Killed {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    done: bool,
}

/// The notifications `listener` has received so far, by payload.
fn received(listener: &mut PgConnection) -> Vec<String> {
    listener.notifications_iter().map(|n| n.unwrap().payload).collect()
}

fn listener(db: &queue_diesel::testing::TestDatabase) -> PgConnection {
    use diesel::connection::SimpleConnection as _;
    let mut listener = db.connect();
    listener.batch_execute("LISTEN queue_core_jobs").unwrap();
    listener
}

#[test]
fn an_enqueue_told_not_to_notify_commits_without_a_notification() {
    let (_storage, db) = fixtures::pg();
    let mut listener = listener(&db);
    let mut conn = db.connect();
    // The five-argument forms, told not to notify; then a marker: notifications arrive in
    // commit order, so any notification of the enqueues would come before it.
    diesel::sql_query(
        "SELECT enqueue_background_job('quiet', '{}', 0::smallint, false, false), \
         enqueue_background_job('quiet', '{\"d\": 1}', 0::smallint, true, false), \
         enqueue_background_jobs('{quiet,quiet}', '{\"{}\",\"{\\\"d\\\": 1}\"}', \
             '{0,0}', '{false,true}', false)",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("NOTIFY queue_core_jobs, 'marker'").execute(&mut conn).unwrap();
    assert_eq!(pg_notifications_before(&mut listener, "marker"), Vec::<String>::new());
    // The four-argument forms, which earlier versions call, notify.
    diesel::sql_query("SELECT enqueue_background_job('loud', '{}', 0::smallint, false)")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("NOTIFY queue_core_jobs, 'second marker'").execute(&mut conn).unwrap();
    assert_eq!(pg_notifications_before(&mut listener, "second marker"), vec![String::new()]);
    let jobs: Vec<Count> = diesel::sql_query(
        "SELECT count(*) AS n FROM background_jobs GROUP BY job_type ORDER BY job_type",
    )
    .load(&mut conn)
    .unwrap();
    // 'loud' 1; 'quiet' 3: the second deduplicated one was coalesced with the first.
    assert_eq!(jobs.iter().map(|c| c.n).collect::<Vec<_>>(), [1, 3]);
}

/// Concurrent enqueues of one storage, single and batched, mostly commit without a
/// notification of their own, covered by a later one's or sent by the storage's thread.
/// With a poll interval of an hour, each of 20 bursts still runs to its last job, and
/// nothing deadlocks between the enqueues and the thread. (Which enqueue owes is up to
/// the timing here; the next test holds one in flight to make the thread send.)
#[test]
fn every_burst_of_concurrent_enqueues_is_run_without_polling() {
    let (storage, _db) = fixtures::pg();
    let storage = Arc::new(storage);
    let journal = Journal::new();
    let runner = idle_runner(&storage, &journal);
    let (clients, per_client) = (3, 10);
    for round in 0..20 {
        let enqueuers: Vec<_> = (0..clients)
            .map(|client| {
                let storage = Arc::clone(&storage);
                let first = (round * clients + client) * per_client;
                std::thread::spawn(move || {
                    let keys = (first..first + per_client).map(|k| k as u64);
                    if client == 1 {
                        // One client enqueues in batches of two.
                        let jobs: Vec<NewJob> = keys
                            .map(|k| NewJob::from_job(&RecordingJob::new(k)).unwrap())
                            .collect();
                        for pair in jobs.chunks(2) {
                            assert_eq!(storage.enqueue_batch(pair).unwrap().len(), 2);
                        }
                    } else {
                        for key in keys {
                            RecordingJob::new(key).enqueue(&*storage).unwrap();
                        }
                    }
                })
            })
            .collect();
        for enqueuer in enqueuers {
            enqueuer.join().unwrap();
        }
        let expected = (round + 1) * clients * per_client;
        assert!(
            wait_for(&journal, expected),
            "round {round}: {} of {expected} jobs ran",
            journal.ran().len()
        );
    }
    assert_eq!(runner.shutdown(Duration::from_secs(30)).unfinished_workers, 0);
}

/// While one enqueue of the storage is in flight (held on the deduplication lock of its
/// job), another commits without notifying in its statement, and the storage notifies
/// after that commit: a listener hears exactly one notification while the first is still
/// held.
#[test]
fn an_enqueue_beside_another_in_flight_is_notified_after_its_commit() {
    let (storage, db) = fixtures::pg();
    let storage = Arc::new(storage);
    let mut listener = listener(&db);
    let held = NewJob {
        job_type: "held".into(),
        data: serde_json::json!({"k": 1}),
        priority: 0,
        deduplicated: true,
    };
    let mut blocker = db.connect();
    blocker
        .transaction::<_, diesel::result::Error, _>(|blocker| {
            diesel::sql_query(
                "SELECT pg_advisory_xact_lock(6975330, hashtext('held' || ':' || '{\"k\": 1}'::jsonb::text))",
            )
            .execute(blocker)?;
            let first = {
                let (storage, held) = (Arc::clone(&storage), held.clone());
                std::thread::spawn(move || storage.enqueue(&held).unwrap())
            };
            wait_until_waiting_on_a_lock(&db);
            let second = storage.enqueue(&NewJob::from_job(&RecordingJob::new(2)).unwrap());
            assert!(second.unwrap().is_some());
            // The notification owed for the second, sent by the storage's thread.
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut heard = received(&mut listener);
            while heard.is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
                heard = received(&mut listener);
            }
            assert_eq!(heard, [String::new()], "one notification while the first is held");
            diesel::sql_query("NOTIFY queue_core_jobs, 'marker'").execute(&mut db.connect())?;
            assert_eq!(pg_notifications_before(&mut listener, "marker"), Vec::<String>::new());
            assert!(!first.is_finished(), "the first enqueue waits for the lock");
            Ok(first)
        })
        .map(|first| assert!(first.join().unwrap().is_some()))
        .unwrap();
    // The first, alone in flight when it started, notified in its own statement, at its
    // commit, which came before the join.
    diesel::sql_query("NOTIFY queue_core_jobs, 'second marker'")
        .execute(&mut db.connect())
        .unwrap();
    assert_eq!(pg_notifications_before(&mut listener, "second marker"), [String::new()]);
}

fn wait_until_waiting_on_a_lock(db: &queue_diesel::testing::TestDatabase) {
    let mut admin = db.connect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: Vec<Count> = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE '%enqueue_background_job%'",
        )
        .load(&mut admin)
        .unwrap();
        if waiting[0].n == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "the first enqueue never waited for the lock");
        std::thread::sleep(Duration::from_millis(5));
    }
}
