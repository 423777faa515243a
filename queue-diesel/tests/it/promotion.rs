//! Jobs waiting for a retry are out of the PostgreSQL claim index until promoted back,
//! whoever wrote their retry time.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use queue_core::storage::{JobFilter, Outcome};
use queue_core::Storage;
use queue_diesel::{AnyStorage, DatabaseUrl, OpenOptions, PgConfig, PgStorage};

use crate::fixtures;

#[derive(QueryableByName, Debug, PartialEq)]
struct Flag {
    #[diesel(sql_type = Text)]
    job_type: String,
    #[diesel(sql_type = Bool)]
    waiting: bool,
}

/// Inserts `n` runnable jobs of type `a` at priority 0.
fn insert_runnable(conn: &mut PgConnection, n: i64) {
    diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data, priority) \
         SELECT 'a', jsonb_build_object('n', g), 0 FROM generate_series(1, $1) g",
    )
    .bind::<BigInt, _>(n)
    .execute(conn)
    .unwrap();
}

fn flags(conn: &mut PgConnection) -> Vec<(String, bool)> {
    let rows: Vec<Flag> =
        diesel::sql_query("SELECT job_type, waiting FROM background_jobs ORDER BY id")
            .load(conn)
            .unwrap();
    rows.into_iter().map(|f| (f.job_type, f.waiting)).collect()
}

/// Rows written by hand (another process, an operator, a worker of an earlier version) get
/// the flag their `run_at` calls for, on insert and on every write of `run_at`.
#[test]
fn the_waiting_flag_follows_run_at() {
    let (_storage, db) = fixtures::pg();
    let mut conn = db.connect();
    diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data, run_at) VALUES \
         ('now', '1', now()), ('later', '2', now() + interval '1 hour'), ('never', '3', NULL)",
    )
    .execute(&mut conn)
    .unwrap();
    assert_eq!(
        flags(&mut conn),
        [("now".into(), false), ("later".into(), true), ("never".into(), false)]
    );
    diesel::sql_query(
        "UPDATE background_jobs SET run_at = CASE job_type \
         WHEN 'now' THEN now() + interval '1 day' WHEN 'later' THEN now() ELSE NULL END",
    )
    .execute(&mut conn)
    .unwrap();
    assert_eq!(
        flags(&mut conn),
        [("now".into(), true), ("later".into(), false), ("never".into(), false)]
    );
}

/// A retry time written by another process is promoted by a storage that never saw it, even
/// while its claims keep finding other jobs (a promotion every interval): the job then runs
/// before the lower priority's jobs, which outlast its wait several times over.
#[test]
fn a_retry_written_elsewhere_is_promoted_within_the_interval() {
    let (_storage, db) = fixtures::pg();
    let interval = Duration::from_millis(300);
    let storage = PgStorage::connect(PgConfig {
        pool_size: 2,
        promotion_interval: interval,
        ..PgConfig::new(db.url())
    })
    .unwrap();
    let mut conn = db.connect();
    insert_runnable(&mut conn, 1000);
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let due: Id = diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data, priority, run_at) \
         VALUES ('a', '\"retried\"', 5, clock_timestamp() + interval '2 seconds') RETURNING id",
    )
    .get_result(&mut conn)
    .unwrap();
    let mut claimed_before = 0;
    loop {
        let mut data = None;
        storage
            .run_next(&JobFilter::Types(&["a"]), &mut |job| {
                data = Some(job.id.0);
                Outcome::Succeeded
            })
            .unwrap();
        let id = data.expect("the retried job is left");
        if id == due.id {
            break;
        }
        claimed_before += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(claimed_before > 0, "the job was not claimable before its retry time");
    assert!(claimed_before < 1000, "the retried job ran only once the lower priority's were done");
}

/// The promotion interval given to `AnyStorage::open` (what `--retry-promotion-ms` sets) is
/// the storage's: at an hour, a retry time written elsewhere comes due while the claims
/// still find other jobs, and the job is promoted only by the claim that finds nothing
/// else (at the default second, it would be promoted while they run).
#[test]
fn the_promotion_interval_of_open_options_is_the_storages() {
    let (_storage, db) = fixtures::pg();
    let options =
        OpenOptions { pg_promotion_interval: Duration::from_secs(3600), ..OpenOptions::new(2) };
    let storage = AnyStorage::open(&DatabaseUrl::parse(db.url()).unwrap(), &options).unwrap();
    let mut conn = db.connect();
    insert_runnable(&mut conn, 200);
    diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data, priority, run_at) \
         VALUES ('a', '\"retried\"', 5, clock_timestamp() + interval '1 second')",
    )
    .execute(&mut conn)
    .unwrap();
    // The first claim promotes (none has yet); the retry is not due then.
    let mut order = Vec::new();
    while order.len() < 201 {
        let claimed = storage
            .run_next(&JobFilter::Types(&["a"]), &mut |job| {
                order.push(serde_json::from_str::<serde_json::Value>(&job.data).ok());
                Outcome::Succeeded
            })
            .unwrap();
        assert!(claimed.is_some(), "a job is left ({} claimed)", order.len());
        std::thread::sleep(Duration::from_millis(10));
    }
    let retried = order.iter().position(|d| d.as_ref().is_some_and(|d| d == "retried"));
    assert_eq!(retried, Some(200), "the retried job ran before the claims ran dry");
}

/// A promotion reads no further than the due jobs. Behind 50,000 jobs waiting an hour,
/// promoting the three whose time has come reads about 50 pages on PostgreSQL 15.
/// Comparing `run_at` with `clock_timestamp()` in the query (which cannot bound an index
/// scan), or joining the due jobs to the table (a hash join over all of it, on a table
/// without statistics), read over 700, and more with every waiting job: at every promotion
/// and at every claim that found nothing. Counted in the pages the statement read, not
/// timed.
#[test]
fn a_promotion_reads_only_the_due_jobs_behind_a_backlog() {
    let (_storage, db) = fixtures::pg();
    let mut conn = db.connect();
    let promote = |conn: &mut PgConnection| {
        fixtures::explain_analyze(conn, "SELECT promote_background_jobs(1000)").unwrap().pages
    };
    // The function is compiled and its catalog rows cached on this connection first, so
    // the count below is the promotion's own reads and its statement's planning.
    promote(&mut conn);
    diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data, run_at) \
         SELECT 'a', jsonb_build_object('n', g), now() + interval '1 hour' \
         FROM generate_series(1, 50000) g",
    )
    .execute(&mut conn)
    .unwrap();
    // Three retries whose time came after they were written, so still flagged waiting (the
    // trigger sets the flag only when `run_at` is written, as it was an hour ago).
    diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data, run_at) \
         SELECT 'due', jsonb_build_object('n', g), now() - interval '1 second' \
         FROM generate_series(1, 3) g",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("UPDATE background_jobs SET waiting = TRUE WHERE job_type = 'due'")
        .execute(&mut conn)
        .unwrap();
    let read = promote(&mut conn);
    let mut left = flags(&mut conn);
    left.dedup();
    assert_eq!(
        left,
        [("a".into(), true), ("due".into(), false)],
        "the due jobs, and only they, were promoted"
    );
    assert!(read < 100, "the promotion read {read} pages to find 3 due jobs");
}
