//! Enqueueing inside the caller's transaction, migrations, and configuration errors.

use diesel::prelude::*;
use queue_core::Job;
use queue_diesel::{enqueue, migrate, PgConfig, PgStorage, SqliteConfig, SqliteStorage};
use serde::{Deserialize, Serialize};

use crate::fixtures::{self, Count};

#[derive(Serialize, Deserialize)]
struct Touch {
    name: String,
}

impl Job for Touch {
    const JOB_NAME: &'static str = "touch";
    type Context = ();
    fn run(&self, _: &()) -> anyhow::Result<()> {
        Ok(())
    }
}

/// On `conn`, a request's transaction that writes a row and enqueues a job: rolled back it
/// leaves neither, committed it leaves both; outside a transaction, `enqueue` opens its own.
fn rollback_leaves_no_job_and_commit_leaves_both<C, S>(conn: &mut C, storage: &S)
where
    C: queue_diesel::JobConnection + diesel::Connection,
    S: queue_core::Storage,
    diesel::query_builder::SqlQuery:
        diesel::query_dsl::methods::ExecuteDsl<C> + diesel::query_dsl::LoadQuery<'static, C, Count>,
{
    let widgets = |conn: &mut C| {
        diesel::sql_query("SELECT count(*) AS n FROM widgets").get_result::<Count>(conn).unwrap().n
    };
    diesel::sql_query("CREATE TABLE widgets (name TEXT)").execute(conn).unwrap();
    let job = Touch { name: "a".into() };

    let rolled_back: Result<(), diesel::result::Error> = conn.write_transaction(|conn| {
        diesel::sql_query("INSERT INTO widgets VALUES ('a')").execute(conn)?;
        enqueue(conn, &job).unwrap().expect("an id");
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(rolled_back.is_err());
    assert_eq!(widgets(conn), 0);
    assert_eq!(storage.count_pending().unwrap(), 0, "the rollback took the job with it");

    conn.write_transaction(|conn| {
        diesel::sql_query("INSERT INTO widgets VALUES ('b')").execute(conn)?;
        enqueue(conn, &job).unwrap().expect("an id");
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
    assert_eq!(widgets(conn), 1);
    assert_eq!(storage.count_pending().unwrap(), 1, "the commit kept the job");
    enqueue(conn, &job).unwrap().expect("an id");
    assert_eq!(storage.count_pending().unwrap(), 2);
}

#[test]
fn pg_rollback_leaves_no_job_and_commit_leaves_both() {
    let (storage, db) = fixtures::pg();
    rollback_leaves_no_job_and_commit_leaves_both(&mut db.connect(), &storage);
}

#[test]
fn sqlite_rollback_leaves_no_job_and_commit_leaves_both() {
    let (storage, _dir) = fixtures::sqlite();
    rollback_leaves_no_job_and_commit_leaves_both(&mut *storage.pool().get().unwrap(), &storage);
}

#[test]
fn migrations_are_idempotent() {
    let (storage, db) = fixtures::pg();
    assert_eq!(storage.migrate().unwrap(), Vec::<String>::new(), "nothing left to apply");
    assert_eq!(migrate(&mut db.connect()).unwrap(), Vec::<String>::new());
    let (sqlite, _dir) = fixtures::sqlite();
    assert_eq!(sqlite.migrate().unwrap(), Vec::<String>::new());
}

#[test]
fn unreachable_database_is_a_clear_error_at_connect() {
    let config = PgConfig {
        connection_timeout: std::time::Duration::from_secs(2),
        ..PgConfig::new("postgres://nobody:secret@127.0.0.1:1/nothing")
    };
    let err = PgStorage::connect(config).unwrap_err().to_string();
    assert!(err.contains("127.0.0.1:1"), "names the server: {err}");
    assert!(!err.contains("secret"), "hides the password: {err}");
    assert!(err.contains("check"), "says what to check: {err}");
}

#[test]
fn pool_too_small_for_the_workers_is_refused_at_start() {
    let (_storage, db) = fixtures::pg();
    let storage = std::sync::Arc::new(
        PgStorage::connect(PgConfig { pool_size: 3, ..PgConfig::new(db.url()) }).unwrap(),
    );
    let err = queue_core::Runner::new(storage, queue_core::RunnerConfig::default())
        .register::<Touch>(())
        .workers(queue_core::DEFAULT_QUEUE, 4)
        .start()
        .unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"4 workers need 4 concurrent claims but the storage allows 2: enlarge the connection pool or use fewer workers");
    let err = SqliteStorage::open(SqliteConfig { pool_size: 1, ..SqliteConfig::new(db.name()) })
        .unwrap_err();
    assert!(err.to_string().contains("pool size 1 is too small"), "{err}");
}

#[derive(Serialize, Deserialize)]
struct Refresh {
    key: u32,
}

impl Job for Refresh {
    const JOB_NAME: &'static str = "refresh";
    const DEDUPLICATED: bool = true;
    type Context = ();
    fn run(&self, _: &()) -> anyhow::Result<()> {
        Ok(())
    }
}

/// `enqueue_all` on `conn`, inside a transaction that is rolled back, then one that commits:
/// ids in order, coalesced duplicates as `None`, nothing left by the rollback.
fn enqueue_all_in_transactions<C, S>(conn: &mut C, storage: &S)
where
    C: queue_diesel::JobConnection + diesel::Connection,
    S: queue_core::Storage,
{
    let touches: Vec<Touch> = (0..5).map(|n| Touch { name: n.to_string() }).collect();
    let rolled_back: Result<(), diesel::result::Error> = conn.transaction(|conn| {
        let ids = queue_diesel::enqueue_all(conn, &touches).unwrap();
        assert_eq!(ids.len(), 5);
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(rolled_back.is_err());
    assert_eq!(storage.count_pending().unwrap(), 0, "the rollback took every job");

    let refreshes = [Refresh { key: 1 }, Refresh { key: 2 }, Refresh { key: 1 }];
    let (ids, more) = conn
        .transaction(|conn| {
            let ids = queue_diesel::enqueue_all(conn, &touches).unwrap();
            let more = queue_diesel::enqueue_all(conn, &refreshes).unwrap();
            Ok::<_, diesel::result::Error>((ids, more))
        })
        .unwrap();
    let ids: Vec<i64> = ids.into_iter().map(|id| id.expect("an id").0).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in order: {ids:?}");
    assert!(more[0].is_some() && more[1].is_some());
    assert_eq!(more[2], None, "the second refresh of key 1 was coalesced");
    let listed: Vec<String> =
        storage.pending_jobs(20).unwrap().iter().map(|j| j.data.to_string()).collect();
    assert_eq!(listed.len(), 7, "{listed:?}");
    assert_eq!(listed[0], r#"{"name":"0"}"#, "rows in the order given: {listed:?}");
    assert!(queue_diesel::enqueue_all::<_, Touch>(conn, &[]).unwrap().is_empty());
}

#[test]
fn pg_enqueue_all_is_transactional() {
    let (storage, db) = fixtures::pg();
    let mut conn = db.connect();
    enqueue_all_in_transactions(&mut conn, &storage);
}

#[test]
fn sqlite_enqueue_all_is_transactional() {
    let (storage, _dir) = fixtures::sqlite();
    let mut conn = storage.pool().get().unwrap();
    enqueue_all_in_transactions(&mut *conn, &storage);
}
