//! The statements a worker's connection prepares for its claims and completions.

use diesel::prelude::*;
use queue_core::storage::JobFilter;
use queue_diesel::testing::{pg_claim, pg_complete};

use crate::fixtures;

#[derive(QueryableByName)]
struct PreparedStatement {
    #[diesel(sql_type = diesel::sql_types::Text)]
    statement: String,
}

/// The claim of listed types, the claim of every other type and the completion are one
/// prepared statement each per connection, found again by type at every later execution
/// (never another's: each claim takes the jobs its own filter matches), whatever the
/// number of types or ids.
#[test]
fn claims_and_completions_are_prepared_once_per_connection() {
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
    for round in 0..3 {
        let listed: &[&str] = if round == 0 { &["a"] } else { &["a", "b"] };
        conn.transaction(|conn| {
            let own = pg_claim(conn, JobFilter::Types(listed), 2)?;
            assert_eq!(own.len(), 2, "round {round}");
            assert!(types(&own).iter().all(|t| listed.contains(&t.as_str())), "{own:?}");
            let others = pg_claim(conn, JobFilter::AllExcept(listed), 2)?;
            assert_eq!(others.len(), 2, "round {round}");
            assert!(types(&others).iter().all(|t| !listed.contains(&t.as_str())), "{others:?}");
            let ids: Vec<i64> = own.iter().chain(&others).map(|(id, _)| *id).collect();
            assert_eq!(pg_complete(conn, &ids)?, ids.len());
            diesel::QueryResult::Ok(())
        })
        .unwrap();
    }
    let prepared: Vec<PreparedStatement> = diesel::sql_query(
        "SELECT statement FROM pg_prepared_statements \
         WHERE statement LIKE '%background_jobs%' ORDER BY statement",
    )
    .load(&mut conn)
    .unwrap();
    let prepared: Vec<String> = prepared.into_iter().map(|p| p.statement).collect();
    assert_eq!(prepared.len(), 3, "{prepared:#?}");
    assert!(prepared[0].starts_with("DELETE") && prepared[0].contains("= ANY("), "{prepared:#?}");
    let claims = &prepared[1..];
    assert!(claims.iter().all(|s| s.contains("FOR UPDATE SKIP LOCKED")), "{prepared:#?}");
    assert_eq!(claims.iter().filter(|s| s.contains("= ANY(")).count(), 1, "{prepared:#?}");
    assert_eq!(claims.iter().filter(|s| s.contains("!= ALL(")).count(), 1, "{prepared:#?}");
}
