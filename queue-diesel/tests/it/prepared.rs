//! The statements a worker's connection prepares for its claims, and the completion it
//! sends with its commit.

use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use queue_core::storage::JobFilter;
use queue_diesel::testing::{pg_claim, pg_complete_and_commit};

use crate::fixtures;

#[derive(QueryableByName)]
struct PreparedStatement {
    #[diesel(sql_type = diesel::sql_types::Text)]
    statement: String,
}

/// The claim of listed types and the claim of every other type are one prepared statement
/// each per connection, found again by type at every later execution (never another's: each
/// claim takes the jobs its own filter matches), whatever the number of types. The
/// completion, sent with the commit, deletes exactly the claimed jobs and prepares nothing.
#[test]
fn claims_are_prepared_once_per_connection_and_completions_commit() {
    let (_storage, db) = fixtures::pg();
    let mut conn = db.connect();
    diesel::sql_query(
        "INSERT INTO background_jobs (job_type, data) \
         SELECT t, jsonb_build_object('n', g) FROM generate_series(1, 5) g, \
         unnest(ARRAY['a', 'b', 'c']) t",
    )
    .execute(&mut conn)
    .unwrap();
    let types = |jobs: &[(i64, String)]| jobs.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>();
    let mut completed = Vec::new();
    for round in 0..3 {
        let listed: &[&str] = if round == 0 { &["a"] } else { &["a", "b"] };
        conn.batch_execute("BEGIN").unwrap();
        let own = pg_claim(&mut conn, JobFilter::Types(listed), 2).unwrap();
        assert_eq!(own.len(), 2, "round {round}");
        assert!(types(&own).iter().all(|t| listed.contains(&t.as_str())), "{own:?}");
        let others = pg_claim(&mut conn, JobFilter::AllExcept(listed), 2).unwrap();
        assert_eq!(others.len(), 2, "round {round}");
        assert!(types(&others).iter().all(|t| !listed.contains(&t.as_str())), "{others:?}");
        let ids: Vec<i64> = own.iter().chain(&others).map(|(id, _)| *id).collect();
        pg_complete_and_commit(&mut conn, &ids).unwrap();
        completed.extend(ids);
    }
    // Committed: the transaction that deleted the rows (and so has a transaction id) is
    // over, and exactly the claimed jobs are gone.
    #[derive(QueryableByName)]
    struct Open {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        open: bool,
    }
    let open: Open =
        diesel::sql_query("SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS open")
            .get_result(&mut conn)
            .unwrap();
    assert!(!open.open, "the completion committed its transaction");
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let left: Vec<i64> = diesel::sql_query("SELECT id FROM background_jobs ORDER BY id")
        .load::<Id>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left.len(), 15 - completed.len(), "{left:?}");
    assert!(left.iter().all(|id| !completed.contains(id)), "{left:?} {completed:?}");
    let prepared: Vec<PreparedStatement> = diesel::sql_query(
        "SELECT statement FROM pg_prepared_statements \
         WHERE statement LIKE '%background_jobs%' ORDER BY statement",
    )
    .load(&mut conn)
    .unwrap();
    let prepared: Vec<String> = prepared.into_iter().map(|p| p.statement).collect();
    assert_eq!(prepared.len(), 2, "{prepared:#?}");
    assert!(prepared.iter().all(|s| s.contains("FOR UPDATE SKIP LOCKED")), "{prepared:#?}");
    assert_eq!(prepared.iter().filter(|s| s.contains("= ANY(")).count(), 1, "{prepared:#?}");
    assert_eq!(prepared.iter().filter(|s| s.contains("!= ALL(")).count(), 1, "{prepared:#?}");
}

/// A completion with no ids (every job of the batch failed) only commits.
#[test]
fn a_completion_of_no_jobs_only_commits() {
    let (_storage, db) = fixtures::pg();
    let mut conn = db.connect();
    conn.batch_execute("BEGIN; INSERT INTO background_jobs (job_type, data) VALUES ('a', '{}')")
        .unwrap();
    pg_complete_and_commit(&mut conn, &[]).unwrap();
    let mut other = db.connect();
    let count: fixtures::Count = diesel::sql_query("SELECT count(*) AS n FROM background_jobs")
        .get_result(&mut other)
        .unwrap();
    assert_eq!(count.n, 1, "the insert before it was committed");
}
