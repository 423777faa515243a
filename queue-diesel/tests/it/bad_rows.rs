//! Rows the runner cannot run are kept as failures, and the claim's plan stays on its index.

use std::sync::Arc;

use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use queue_core::testing::{Journal, RecordingJob};
use queue_core::{Job, Runner, RunnerConfig, Storage};

use crate::fixtures;

#[test]
fn sqlite_data_that_is_not_json_is_kept_as_failure() {
    let (storage, _dir) = fixtures::sqlite();
    let mut conn = storage.pool().get().unwrap();
    diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data, run_at, created_at) VALUES ('recording_job', '{not json', 0, 0)",
    )
    .execute(&mut conn)
    .unwrap();
    RecordingJob::new(1).enqueue(&storage).unwrap();
    let storage = Arc::new(storage);
    let journal = Journal::new();
    Runner::new(Arc::clone(&storage), RunnerConfig::default())
        .register::<RecordingJob>(Arc::clone(&journal))
        .run_until_empty()
        .unwrap();
    assert_eq!(journal.ran(), vec![1], "the runner went on with other jobs");
    let failing = storage.failing_jobs(1).unwrap();
    assert_eq!(failing.len(), 1, "the bad row is kept");
    assert_eq!(
        failing[0].data,
        serde_json::Value::String("{not json".into()),
        "operators see the stored text"
    );
    insta::assert_snapshot!(
        failing[0].last_error.as_deref().unwrap_or_default(),
        @r#"job data is not valid JSON: key must be a string at line 1 column 2 in stored text "{not json""#
    );
}

/// Pages a claim statement touched, from `EXPLAIN (ANALYZE, BUFFERS)` of its prepared
/// form run as a claim runs it (after the claim's settings, with its generic plan), and the
/// rows it returned. Run twice, in transactions rolled back: the first run of a session
/// also plans the statement (reading the catalogs), the second is measured.
fn pages_touched(conn: &mut diesel::PgConnection, (sql, args): &(String, String)) -> (u64, u64) {
    diesel::sql_query(format!("PREPARE claim AS {sql}")).execute(conn).unwrap();
    let mut measured = (0, 0);
    for _ in 0..2 {
        conn.transaction::<(), diesel::result::Error, _>(|conn| {
            conn.batch_execute(queue_diesel::testing::PG_CLAIM_SETTINGS)?;
            let analyzed = fixtures::explain_analyze(conn, &format!("EXECUTE claim({args})"))?;
            measured = (analyzed.pages, analyzed.rows);
            Err(diesel::result::Error::RollbackTransaction)
        })
        .unwrap_err();
    }
    diesel::sql_query("DEALLOCATE claim").execute(conn).unwrap();
    measured
}

/// Statistics taken while the table was empty, then 100,000 jobs waiting for a retry and
/// 100,000 whose retries are exhausted, all older than the runnable jobs, written by hand as
/// another process would: the claim reads a handful of pages, not the backlog (walking it
/// would read the thousand-odd index pages it fills). Then 100,000 jobs waiting at a higher
/// priority, ahead of the runnable ones in running order: just as cheap, as jobs waiting for
/// a retry are not in the claim index.
#[test]
fn pg_claim_never_walks_past_waiting_jobs() {
    let (_storage, db) = fixtures::pg();
    let mut conn = db.connect();
    for sql in [
        "ANALYZE background_jobs",
        "INSERT INTO background_jobs (job_type, data, run_at) SELECT 'recording_job', \
         jsonb_build_object('key', g), now() + interval '1 hour' FROM generate_series(1, 100000) g",
        "INSERT INTO background_jobs (job_type, data, run_at) SELECT 'recording_job', \
         jsonb_build_object('key', g), NULL FROM generate_series(1, 100000) g",
        "INSERT INTO background_jobs (job_type, data, run_at) \
         VALUES ('recording_job', '{\"key\": 0}', now() - interval '1 second'), \
         ('recording_job', '{\"key\": -1}', now() - interval '1 second')",
    ] {
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    }
    let claim = queue_diesel::testing::pg_claim_statement("recording_job", 1);
    let (pages, rows) = pages_touched(&mut conn, &claim);
    assert_eq!(rows, 1, "the claim finds a runnable job");
    assert!(pages < 60, "the claim read {pages} pages");

    diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data, priority, run_at) SELECT 'recording_job', \
         jsonb_build_object('key', g), 5, now() + interval '1 hour' FROM generate_series(1, 100000) g",
    )
    .execute(&mut conn)
    .unwrap();
    let (pages, rows) = pages_touched(&mut conn, &claim);
    assert_eq!(rows, 1, "the claim finds the runnable job below them");
    assert!(pages < 60, "the claim read {pages} pages");
}
