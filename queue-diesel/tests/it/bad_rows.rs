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

/// A table analysed while empty, then filled, must still be claimed through the index: a
/// sequential scan and sort of every pending job would make claims grow with the queue.
#[test]
fn pg_claim_uses_the_index_with_stale_statistics() {
    let (_storage, db) = fixtures::pg();
    let mut conn = db.connect();
    diesel::sql_query("ANALYZE background_jobs").execute(&mut conn).unwrap();
    diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data) SELECT 'recording_job', jsonb_build_object('key', g) FROM generate_series(1, 50000) g",
    )
    .execute(&mut conn)
    .unwrap();
    let plan: Vec<PlanLine> =
        diesel::sql_query(format!("EXPLAIN {}", queue_diesel::testing::PG_CLAIM_SQL))
            .bind::<diesel::sql_types::Array<Text>, _>(vec!["recording_job"])
            .bind::<diesel::sql_types::BigInt, _>(1)
            .load(&mut conn)
            .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|l| l.line).collect();
    let text = plan.join("\n");
    assert!(text.contains("Index Scan using background_jobs_claim"), "claim plan:\n{text}");
    assert!(!text.contains("Sort"), "claim plan sorts:\n{text}");
}
