//! Rows the runner cannot run are kept as failures, and the claim's plan stays on its index.

use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::Text;
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

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// Pages a statement touched, from `EXPLAIN (ANALYZE, BUFFERS)`, and the rows it returned.
fn pages_touched(conn: &mut diesel::PgConnection, sql: &str) -> (u64, u64) {
    let plan: Vec<PlanLine> = diesel::sql_query(format!(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}",
        sql.replace("$1", "'{recording_job}'").replace("$2", "1")
    ))
    .load(conn)
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&plan[0].line).unwrap();
    let top = &json[0]["Plan"];
    let pages = ["Shared Hit Blocks", "Shared Read Blocks"]
        .iter()
        .map(|key| top[key].as_u64().unwrap())
        .sum();
    (pages, top["Actual Rows"].as_u64().unwrap())
}

/// Statistics taken while the table was empty, then 100,000 jobs waiting for a retry at the
/// claim's priority, 100,000 at a higher one and 100,000 whose retries are exhausted, all
/// older than the one runnable job: the claim still reads a handful of pages, not the
/// backlog (walking it would read the thousand-odd index pages it fills).
#[test]
fn pg_claim_never_walks_past_waiting_jobs() {
    let (_storage, db) = fixtures::pg();
    let mut conn = db.connect();
    for sql in [
        "ANALYZE background_jobs",
        "INSERT INTO background_jobs (job_type, data, run_at) SELECT 'recording_job', \
         jsonb_build_object('key', g), now() + interval '1 hour' FROM generate_series(1, 100000) g",
        "INSERT INTO background_jobs (job_type, data, priority, run_at) SELECT 'recording_job', \
         jsonb_build_object('key', g), 5, now() + interval '1 hour' FROM generate_series(1, 100000) g",
        "INSERT INTO background_jobs (job_type, data, run_at) SELECT 'recording_job', \
         jsonb_build_object('key', g), NULL FROM generate_series(1, 100000) g",
        "INSERT INTO background_jobs (job_type, data, run_at) \
         VALUES ('recording_job', '{\"key\": 0}', now() - interval '1 second'), \
         ('recording_job', '{\"key\": -1}', now() - interval '1 second')",
    ] {
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    }
    // The first claim of a session also plans the claim (reading the catalogs).
    let (_, rows) = pages_touched(&mut conn, queue_diesel::testing::PG_CLAIM_SQL);
    assert_eq!(rows, 1, "a runnable job is claimed");
    let (pages, rows) = pages_touched(&mut conn, queue_diesel::testing::PG_CLAIM_SQL);
    assert_eq!(rows, 1, "a runnable job is claimed");
    assert!(pages < 60, "the claim read {pages} pages");
}
