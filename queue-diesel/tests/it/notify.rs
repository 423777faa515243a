//! LISTEN/NOTIFY wake-ups: with a poll interval of an hour, only a notification can make an
//! idle worker run a new job, also after the listening connection was killed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use queue_core::testing::{Journal, RecordingJob};
use queue_core::{Job, Runner, RunnerConfig};

use crate::fixtures;

fn wait_for(journal: &Journal, n: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal.ran().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    journal.ran().len() >= n
}

#[test]
fn pg_notification_wakes_idle_worker_and_survives_a_lost_connection() {
    let (storage, db) = fixtures::pg();
    let storage = Arc::new(storage);
    let journal = Journal::new();
    let config =
        RunnerConfig { poll_interval: Duration::from_secs(3600), ..RunnerConfig::default() };
    let runner = Runner::new(Arc::clone(&storage), config)
        .register::<RecordingJob>(Arc::clone(&journal))
        .start()
        .unwrap();
    // The workers have made their first (empty) claim and sleep for an hour.
    std::thread::sleep(Duration::from_millis(200));
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
