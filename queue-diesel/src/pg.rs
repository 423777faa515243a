//! The PostgreSQL storage: claims hold a row lock for the whole run of a job.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection as _;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgConnection, PgValue};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Nullable, SmallInt, Text, Timestamptz};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use queue_core::storage::{Claim, ClaimedJob, JobFilter, Outcome, RunJobs, Waker};
use queue_core::{JobId, JobInfo, NewJob, RunningJob, Storage, StorageError};

use crate::error::Error;
use crate::notifier::Enqueues;
use crate::pool::{micros, now_micros, Pooled};

/// The migrations of the PostgreSQL job table.
pub(crate) const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The channel `LISTEN`/`NOTIFY` wake-ups use; the enqueue functions in the migrations
/// notify it by this name.
pub(crate) const NOTIFY_CHANNEL: &str = "queue_core_jobs";

/// Settings of a [`PgStorage`]. `Debug` shows the URL with its credentials redacted.
#[derive(Clone)]
pub struct PgConfig {
    /// `postgres://user:password@host:port/database`.
    pub url: String,
    /// Connections in the pool. Each running job holds one for its whole run, and one is
    /// kept spare for enqueues and operator queries: a runner may have `pool_size - 1`
    /// workers.
    pub pool_size: u32,
    /// How long to wait for a pooled connection before giving up.
    pub connection_timeout: Duration,
    /// How often, at most, a storage's claims make the jobs whose retry time has come
    /// claimable again (see [`PgStorage`]): while its workers keep finding other jobs, a job
    /// waiting for a retry recorded by another process runs at most this long after its time.
    pub promotion_interval: Duration,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &redact::Redacted(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connection_timeout", &self.connection_timeout)
            .field("promotion_interval", &self.promotion_interval)
            .finish()
    }
}

impl PgConfig {
    /// Defaults for `url`: a pool of 10, a 10 s connection timeout, promotion of due retries
    /// at least every second.
    pub fn new(url: impl Into<String>) -> PgConfig {
        PgConfig {
            url: url.into(),
            pool_size: 10,
            connection_timeout: Duration::from_secs(10),
            promotion_interval: Duration::from_secs(1),
        }
    }
}

/// queue-core storage on PostgreSQL.
///
/// A claim is a transaction that stays open while the jobs run: `SELECT ... FOR UPDATE SKIP
/// LOCKED` of the runnable jobs in running order, and, in the same transaction, the deletion
/// of the jobs that succeeded or the record of a failure. A worker that dies rolls back, so
/// its jobs are claimable again at once. Enqueues send `NOTIFY`, which [`Storage::listen`]
/// turns into wake-ups of idle workers. Notifying transactions commit one at a time
/// (PostgreSQL holds a lock through their flush) where the others share their flushes, so
/// of the enqueues this storage commits itself, at most one notifying is in flight: one
/// that starts while another notifies commits without a notification, which the next
/// notifying enqueue to start covers, or else a background thread sends soon after.
///
/// A job waiting for a retry is out of the claim index until it is *promoted* back, so that
/// no claim walks past it. Claims promote the jobs whose time has come, in a statement of
/// their own before the claim: at the first claim after a retry time this storage recorded,
/// at least every [`PgConfig::promotion_interval`], and whenever a claim found nothing, so a
/// claim that comes back empty means that no job was runnable. A promotion notifies idle
/// workers.
#[derive(Debug, Clone)]
pub struct PgStorage {
    pool: Pooled<PgConnection>,
    config: PgConfig,
    promotion: Arc<Promotion>,
    enqueues: Arc<Enqueues>,
}

/// When a storage next promotes the jobs whose retry time has come, in µs since the Unix
/// epoch.
#[derive(Debug)]
struct Promotion {
    /// The earliest retry time this storage recorded since it last promoted (`i64::MAX`:
    /// none).
    next_retry: AtomicI64,
    /// When it last promoted.
    last: AtomicI64,
}

/// Jobs one promotion statement makes claimable; a promotion repeats it while it fills up.
const PROMOTION_BATCH: i32 = 10_000;

impl PgStorage {
    /// Connects a pool to `config.url`. Fails at once when the database is unreachable.
    pub fn connect(config: PgConfig) -> Result<PgStorage, Error> {
        let builder = Pool::builder()
            .connection_timeout(config.connection_timeout)
            // No `SELECT 1` before every checkout: it would add a round trip to every claim.
            // A connection that broke fails its query, the transaction is retried later,
            // and diesel's manager drops connections it saw break.
            .test_on_check_out(false);
        let name = redact::redact(&config.url).into_owned();
        let pool = Pooled::new(&config.url, name, config.pool_size, builder)?;
        let promotion =
            Arc::new(Promotion { next_retry: AtomicI64::new(i64::MAX), last: AtomicI64::new(0) });
        Ok(PgStorage { pool, config, promotion, enqueues: Arc::default() })
    }

    /// Applies pending migrations of the job table; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>, Error> {
        run_migrations(&mut *self.pool.get()?)
    }

    /// The connection pool, for the application's own queries.
    pub fn pool(&self) -> &Pool<ConnectionManager<PgConnection>> {
        self.pool.pool()
    }
}

/// Applies pending job-table migrations on `conn`; returns the versions applied. Idempotent.
pub(crate) fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, Error> {
    let applied =
        conn.run_pending_migrations(PG_MIGRATIONS).map_err(|e| Error::Migration(e.to_string()))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

diesel::define_sql_function! {
    /// The function `enqueue_background_job` of the migrations: for a deduplicated job,
    /// coalesces with an identical pending one (`NULL`); otherwise inserts; and notifies if
    /// `notify`.
    fn enqueue_background_job(
        new_type: Text,
        new_data: Jsonb,
        new_priority: SmallInt,
        new_deduplicated: Bool,
        notify: Bool,
    ) -> Nullable<BigInt>;
}

diesel::define_sql_function! {
    /// The function `enqueue_background_jobs` of the migrations: [`enqueue_background_job`]
    /// for parallel arrays, with one insert for the jobs that are not deduplicated and one
    /// notification if `notify`.
    fn enqueue_background_jobs(
        new_types: Array<Text>,
        new_data: Array<Jsonb>,
        new_priorities: Array<SmallInt>,
        new_deduplicated: Array<Bool>,
        notify: Bool,
    ) -> Array<Nullable<BigInt>>;
}

diesel::define_sql_function! {
    /// The function `promote_background_jobs` of the migrations: makes up to `max_jobs` jobs
    /// whose retry time has come claimable again; returns how many.
    fn promote_background_jobs(max_jobs: diesel::sql_types::Integer) -> BigInt;
}

/// Inserts a job with one statement, a call of `enqueue_background_job`, which
/// deduplicates, inserts and, if `notify`, notifies inside the database. Written with
/// diesel's query builder, the call is a statement prepared once per connection.
pub(crate) fn insert_job(
    conn: &mut PgConnection,
    job: &NewJob,
    notify: bool,
) -> Result<Option<JobId>, Error> {
    let id: Option<i64> = diesel::select(enqueue_background_job(
        &job.job_type,
        &job.data,
        job.priority,
        job.deduplicated,
        notify,
    ))
    .get_result(conn)?;
    Ok(id.map(JobId))
}

/// Inserts jobs with one statement (`enqueue_background_jobs`, prepared once per
/// connection), notifying if `notify`; ids in order, `None` for a coalesced one.
pub(crate) fn insert_jobs(
    conn: &mut PgConnection,
    jobs: &[NewJob],
    notify: bool,
) -> Result<Vec<Option<JobId>>, Error> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let types: Vec<&str> = jobs.iter().map(|j| j.job_type.as_str()).collect();
    let data: Vec<&serde_json::Value> = jobs.iter().map(|j| &j.data).collect();
    let priorities: Vec<i16> = jobs.iter().map(|j| j.priority).collect();
    let deduplicated: Vec<bool> = jobs.iter().map(|j| j.deduplicated).collect();
    let ids: Vec<Option<i64>> =
        diesel::select(enqueue_background_jobs(types, data, priorities, deduplicated, notify))
            .get_result(conn)?;
    Ok(ids.into_iter().map(|id| id.map(JobId)).collect())
}

/// Sends `NOTIFY` on the job channel, in a transaction of its own unless one is open.
pub(crate) fn notify(conn: &mut PgConnection) -> Result<(), Error> {
    // PostgreSQL folds identical notifications of one transaction into one.
    diesel::sql_query(format!("NOTIFY {NOTIFY_CHANNEL}")).execute(conn)?;
    Ok(())
}

/// The columns a claimed job and an operator's view of a job both start with.
#[derive(QueryableByName)]
struct JobRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    job_type: String,
    #[diesel(sql_type = Jsonb)]
    data: serde_json::Value,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    retries: i32,
}

/// A `jsonb` value as the JSON text the server sends, unparsed: a claimed job's data goes to
/// the job type's deserializer as text, without a `serde_json::Value` in between.
#[derive(Debug, FromSqlRow)]
pub(crate) struct JsonText(pub(crate) String);

impl FromSql<Jsonb, Pg> for JsonText {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<JsonText> {
        // The binary `jsonb` format: a version byte, 1, then the text.
        match value.as_bytes().split_first() {
            Some((1, text)) => Ok(JsonText(std::str::from_utf8(text)?.to_owned())),
            Some((version, _)) => Err(format!("unsupported jsonb format version {version}").into()),
            None => Err("an empty jsonb value".into()),
        }
    }
}

/// Whether a job exists, and whether this transaction could lock it without waiting.
const LOCK_IF_IDLE: &str = "WITH locked AS (\
    SELECT id FROM background_jobs WHERE id = $1 FOR UPDATE SKIP LOCKED) \
    SELECT EXISTS (SELECT 1 FROM locked) AS locked, \
    EXISTS (SELECT 1 FROM background_jobs WHERE id = $1) AS present";

#[derive(QueryableByName)]
struct LockRow {
    #[diesel(sql_type = Bool)]
    locked: bool,
    #[diesel(sql_type = Bool)]
    present: bool,
}

/// The columns of [`InfoRow`], for the operator queries.
const INFO_COLUMNS: &str =
    "id, job_type, data, priority, retries, last_retry, last_error, run_at, created_at";

#[derive(QueryableByName)]
struct InfoRow {
    #[diesel(embed)]
    job: JobRow,
    #[diesel(sql_type = diesel::sql_types::SmallInt)]
    priority: i16,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_retry: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    last_error: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    run_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

impl From<InfoRow> for JobInfo {
    fn from(row: InfoRow) -> JobInfo {
        let JobRow { id, job_type, data, retries } = row.job;
        JobInfo {
            id: JobId(id),
            job_type,
            data,
            priority: row.priority,
            retries: u32::try_from(retries).unwrap_or(0),
            created_at: SystemTime::from(row.created_at),
            last_retry: row.last_retry.map(SystemTime::from),
            last_error: row.last_error,
            run_at: row.run_at.map(SystemTime::from),
        }
    }
}

/// What a claim's transaction starts with, sent with its `BEGIN` (one round trip). Its
/// statements are planned with sorts off, so their plans stay on the claim index even when
/// the statistics were taken while the table was empty (they would make a sort of every
/// runnable job look cheap), and keep one generic plan per connection instead of being
/// planned anew at each claim (PostgreSQL replans a statement whose generic plan looks
/// costlier than one for the values at hand, as `LIMIT $n` and `id = ANY($1)` do). Both
/// settings end with the transaction.
macro_rules! claim_settings {
    () => {
        "SET LOCAL enable_sort = off; SET LOCAL plan_cache_mode = force_generic_plan"
    };
}

/// Starts a claim's transaction, with its settings (`claim_settings!`).
const BEGIN_CLAIM: &str = concat!("BEGIN; ", claim_settings!());

/// The settings a claim's transaction starts with (`claim_settings!`), for tests.
#[cfg(feature = "testing")]
pub(crate) const CLAIM_SETTINGS: &str = claim_settings!();

diesel::table! {
    /// The job table, as the claim sees it: written with the query builder, its statements
    /// are prepared once per connection.
    background_jobs (id) {
        id -> BigInt,
        job_type -> Text,
        data -> Jsonb,
        priority -> SmallInt,
        retries -> Integer,
        run_at -> Nullable<Timestamptz>,
        waiting -> Bool,
    }
}

/// A claimed row: id, type, data, retries.
type ClaimRow = (i64, String, JsonText, i32);

/// The claim: up to `max` runnable, unlocked jobs that `filter` matches, in running order
/// (priority, then the longest runnable, then id), locked for the transaction.
///
/// One walk of the claim index from its start, which stops at the first unlocked job of a
/// matching type. The index holds only jobs a claim may take: jobs waiting for a retry leave
/// it until [`promote_background_jobs`] puts them back once their time has come, and
/// exhausted ones are never in it, so neither kind is ever walked past. The walk does pass
/// rows other workers hold and rows of types this claim does not take.
pub(crate) fn claim(
    conn: &mut PgConnection,
    filter: JobFilter<'_>,
    max: i64,
) -> QueryResult<Vec<ClaimRow>> {
    use background_jobs::job_type;
    /// The claim of listed types.
    struct OfTypes;
    /// The claim of every type but the listed ones.
    struct AllExcept;
    match filter {
        JobFilter::Types(types) => {
            Fixed::<_, OfTypes>::new(claim_query!(job_type.eq_any(types), max)).load(conn)
        }
        JobFilter::AllExcept(types) => {
            Fixed::<_, AllExcept>::new(claim_query!(job_type.ne_all(types), max)).load(conn)
        }
    }
}

/// What ends a claim's transaction when its jobs have run: the deletion of the completed
/// jobs `ids` (one statement for any number of them) and the `COMMIT`, sent as one message,
/// so that both cost one round trip (a claim costs three: its `BEGIN`, the claim and this).
/// The ids are written into the statement as an array literal of integers, so it is planned
/// at each execution: a lookup by primary key, cheaper than the round trip it saves. With no
/// ids, only the `COMMIT`. When the deletion fails, the server skips the `COMMIT` and the
/// transaction stays open, aborted, for its rollback.
pub(crate) fn completion(ids: &[i64]) -> String {
    use std::fmt::Write as _;
    if ids.is_empty() {
        return "COMMIT".to_owned();
    }
    let mut sql = String::with_capacity(64 + ids.len() * 8);
    sql.push_str("DELETE FROM background_jobs WHERE id = ANY('{");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        let _ = write!(sql, "{id}");
    }
    sql.push_str("}'::bigint[]); COMMIT");
    sql
}

/// A statement whose SQL text is the same at every execution, known to diesel's statement
/// cache by the type `Id`. diesel finds the prepared statement of a query with a static
/// query id by its type alone; any other query (one with an `= ANY($1)` list, as the claim
/// has) it writes out as SQL and hashes at every execution, to look its statement up by
/// text. Each `Id` names one statement, so it must wrap one query type whose SQL does not
/// depend on its values (a list is one bind parameter, whatever its length).
struct Fixed<Q, Id> {
    query: Q,
    id: std::marker::PhantomData<Id>,
}

impl<Q, Id> Fixed<Q, Id> {
    fn new(query: Q) -> Self {
        Fixed { query, id: std::marker::PhantomData }
    }
}

impl<Q, Id: 'static> QueryId for Fixed<Q, Id> {
    type QueryId = Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Q: QueryFragment<Pg>, Id> QueryFragment<Pg> for Fixed<Q, Id> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }
}

impl<Q: Query, Id> Query for Fixed<Q, Id> {
    type SqlType = Q::SqlType;
}

impl<Q, Id, Conn> RunQueryDsl<Conn> for Fixed<Q, Id> {}

/// The statement of [`claim`] for a filter on `job_type`. Its conditions imply the claim
/// index's predicate (`run_at IS NOT NULL AND NOT waiting`), so the planner may use it.
macro_rules! claim_query {
    ($types:expr, $max:expr) => {{
        use background_jobs::dsl as j;
        j::background_jobs
            .select((j::id, j::job_type, j::data, j::retries))
            .filter(j::run_at.is_not_null())
            .filter(diesel::dsl::not(j::waiting))
            .filter(j::run_at.le(diesel::dsl::now))
            .filter($types)
            .order((j::priority.desc(), j::run_at, j::id))
            .limit($max)
            .for_update()
            .skip_locked()
    }};
}
use claim_query;

/// The claim statement as prepared, with the arguments of a claim of up to `limit` jobs of
/// type `job_type` written as SQL literals (for `EXECUTE name(args)`). It runs after
/// [`CLAIM_SETTINGS`]. For tests that check its plan.
#[cfg(feature = "testing")]
pub(crate) fn claim_statement(job_type: &str, limit: i64) -> (String, String) {
    let types = [job_type];
    let sql =
        diesel::debug_query::<Pg, _>(&claim_query!(background_jobs::job_type.eq_any(types), limit))
            .to_string();
    let sql = sql.split(" -- binds: ").next().unwrap_or_default().to_owned();
    let types = format!("ARRAY['{}']", job_type.replace('\'', "''"));
    (sql, format!("{types}, {limit}"))
}

/// The in-progress transaction holding a row of `background_jobs` (`FOR UPDATE` writes the
/// locker's transaction id into the row's `xmax`), for operator queries that must not lock.
const HOLDER: &str = "SELECT 1 FROM pg_locks l WHERE l.locktype = 'transactionid' \
    AND l.granted AND l.transactionid = background_jobs.xmax";

/// Held rows whose holding transaction started more than `$1` microseconds ago, or whose
/// start this role cannot see (`since` NULL), longest first.
const LONG_RUNNING: &str = "SELECT j.id, j.job_type, j.data, j.priority, j.retries, \
    j.last_retry, j.last_error, j.run_at, j.created_at, a.xact_start AS since \
    FROM background_jobs j \
    JOIN pg_locks l ON l.locktype = 'transactionid' AND l.granted AND l.transactionid = j.xmax \
    LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
    WHERE a.xact_start IS NULL OR a.xact_start <= now() - $1 * interval '1 microsecond' \
    ORDER BY a.xact_start NULLS FIRST, j.id";

#[derive(QueryableByName)]
struct RunningRow {
    #[diesel(embed)]
    info: InfoRow,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    since: Option<DateTime<Utc>>,
}

fn record_failure(
    conn: &mut PgConnection,
    id: i64,
    error: &str,
    retry_in: Option<Duration>,
) -> QueryResult<usize> {
    // clock_timestamp(): the time of the failure, not of the claim.
    diesel::sql_query(
        "UPDATE background_jobs SET retries = retries + 1, \
         last_retry = clock_timestamp(), last_error = $2, \
         run_at = clock_timestamp() + $3 * interval '1 microsecond' \
         WHERE id = $1",
    )
    .bind::<BigInt, _>(id)
    .bind::<Text, _>(error)
    .bind::<Nullable<BigInt>, _>(retry_in.map(|d| micros(d.min(queue_core::MAX_RETRY_DELAY))))
    .execute(conn)
}

impl PgStorage {
    /// Claims, runs and records one batch on `conn`: [`Storage::run_batch`] without the
    /// promotion.
    fn claim_and_run(
        &self,
        conn: &mut PgConnection,
        claim: Claim<'_>,
        run: &mut RunJobs<'_>,
    ) -> Result<usize, StorageError> {
        // Three round trips: `BEGIN`, the claim (prepared once per connection), and the
        // completion with the `COMMIT`. `Open` rolls the transaction back on every way out
        // but the commit, an unwinding `run` included, so the row locks never go back to
        // the pool with the connection.
        let mut open = Open::begin(conn)?;
        let max = i64::try_from(claim.limit()).unwrap_or(i64::MAX);
        let rows = self::claim(open.conn(), claim.filter, max).map_err(Error::from)?;
        let claimed: Vec<ClaimedJob> = rows
            .into_iter()
            .map(|(id, job_type, JsonText(data), retries)| ClaimedJob {
                id: JobId(id),
                job_type,
                data,
                retries: u32::try_from(retries).unwrap_or(0),
            })
            .collect();
        if claimed.is_empty() {
            open.rollback();
            return Ok(0);
        }
        let outcomes = run(&claimed);
        // A wrong count records nothing: the rows are unlocked as they were.
        queue_core::storage::check_outcomes(claimed.len(), &outcomes)?;
        // The row locks went with the session (killed, timed out, failed over): another
        // worker may be running these jobs now, and nothing of this run was committed.
        let lost = |err: diesel::result::Error| {
            StorageError::NotRecorded {
            jobs: claimed.iter().map(|job| job.id).collect(),
            reason: format!(
                "{}; the claim was lost with its database session (a killed backend, idle_in_transaction_session_timeout, a failover, a transaction-mode pooler?)",
                redact::redact(&err.to_string())
            ),
        }
        };
        let mut done = Vec::new();
        let mut next_retry = i64::MAX;
        for (job, outcome) in claimed.iter().zip(outcomes) {
            match outcome {
                Outcome::Succeeded => done.push(job.id.0),
                Outcome::Failed { error, retry_in } => {
                    if let Some(delay) = retry_in {
                        let delay = micros(delay.min(queue_core::MAX_RETRY_DELAY));
                        next_retry = next_retry.min(now_micros().saturating_add(delay));
                    }
                    record_failure(open.conn(), job.id.0, &error, retry_in).map_err(lost)?;
                }
            }
        }
        open.commit_with(&completion(&done)).map_err(lost)?;
        // The next claim after that time promotes, so a retry this storage recorded is not
        // left waiting for the promotion interval.
        self.promotion.next_retry.fetch_min(next_retry, Ordering::AcqRel);
        Ok(claimed.len())
    }

    /// Runs `insert`, an enqueue statement committed on its own, notifying in it only when
    /// no other notifying enqueue of this storage is in flight and it is alone or a
    /// notification is owed; otherwise it owes one after its commit (see
    /// [`crate::notifier`]).
    fn enqueue_with<T>(
        &self,
        insert: impl FnOnce(&mut PgConnection, bool) -> Result<T, Error>,
    ) -> Result<T, StorageError> {
        let mut conn = self.pool.get()?;
        let in_flight = self.enqueues.start();
        let inserted = insert(&mut conn, in_flight.notifies())?;
        in_flight.committed(&self.pool, &mut conn);
        Ok(inserted)
    }

    /// Promotes when it is due: at the first claim after a retry time this storage recorded,
    /// or when the last promotion is [`PgConfig::promotion_interval`] old. One of the
    /// storage's workers does it; returns whether this one did.
    fn promote_if_due(&self, conn: &mut PgConnection) -> Result<bool, Error> {
        let now = now_micros();
        let last = self.promotion.last.load(Ordering::Acquire);
        let due = now >= self.promotion.next_retry.load(Ordering::Acquire)
            || now.saturating_sub(last) >= micros(self.config.promotion_interval);
        if !due
            || self
                .promotion
                .last
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Ok(false);
        }
        self.promote(conn)?;
        Ok(true)
    }

    /// Makes every job whose retry time has come claimable again, in statements of their own
    /// (a promotion inside a claim's transaction would hold the promoted rows while the
    /// claimed jobs run). Returns how many.
    fn promote(&self, conn: &mut PgConnection) -> Result<u64, Error> {
        let now = now_micros();
        self.promotion.last.fetch_max(now, Ordering::AcqRel);
        // Retry times still to come stay due; the ones that came are promoted below.
        let _ = self
            .promotion
            .next_retry
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| (t <= now).then_some(i64::MAX));
        let mut total = 0;
        loop {
            let n: i64 =
                diesel::select(promote_background_jobs(PROMOTION_BATCH)).get_result(conn)?;
            total += u64::try_from(n).unwrap_or(0);
            if n < i64::from(PROMOTION_BATCH) {
                return Ok(total);
            }
        }
    }

    /// Runs `f` on a row locked without waiting: `Ok(None)` when the row does not exist,
    /// `JobRunning` when a worker holds it.
    fn with_idle_row<T>(
        &self,
        id: JobId,
        f: impl FnOnce(&mut PgConnection) -> Result<T, Error>,
    ) -> Result<Option<T>, StorageError> {
        let mut conn = self.pool.get()?;
        let result: Result<Result<Option<T>, StorageError>, Error> = conn.transaction(|conn| {
            let row: LockRow =
                diesel::sql_query(LOCK_IF_IDLE).bind::<BigInt, _>(id.0).get_result(conn)?;
            Ok(match row {
                LockRow { locked: true, .. } => Ok(Some(f(conn)?)),
                LockRow { present: true, .. } => Err(StorageError::JobRunning(id)),
                LockRow { present: false, .. } => Ok(None),
            })
        });
        result?
    }
}

impl Storage for PgStorage {
    fn enqueue(&self, job: &NewJob) -> Result<Option<JobId>, StorageError> {
        self.enqueue_with(|conn, notify| insert_job(conn, job, notify))
    }

    fn enqueue_batch(&self, jobs: &[NewJob]) -> Result<Vec<Option<JobId>>, StorageError> {
        self.enqueue_with(|conn, notify| insert_jobs(conn, jobs, notify))
    }

    fn run_batch(&self, claim: Claim<'_>, run: &mut RunJobs<'_>) -> Result<usize, StorageError> {
        let mut conn = self.pool.get()?;
        let promoted = self.promote_if_due(&mut conn)?;
        match self.claim_and_run(&mut conn, claim, run)? {
            0 if !promoted && self.promote(&mut conn)? > 0 => {
                self.claim_and_run(&mut conn, claim, run)
            }
            claimed => Ok(claimed),
        }
    }

    fn max_concurrent_claims(&self) -> Option<usize> {
        Some(self.config.pool_size.saturating_sub(1) as usize)
    }

    fn listen(&self, waker: Waker) -> Result<Option<Box<dyn Send>>, StorageError> {
        let mut client = listen_client(&self.config.url)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            let config = self.config.clone();
            std::thread::Builder::new()
                .name("queue-pg-listener".into())
                .spawn(move || {
                    listen_loop(&config, &mut client, &waker, &stop);
                })
                .map_err(StorageError::backend)?
        };
        Ok(Some(Box::new(Listener { stop, thread: Some(thread) })))
    }

    fn count_pending(&self) -> Result<u64, StorageError> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let count: Count = diesel::sql_query("SELECT count(*) AS n FROM background_jobs")
            .get_result(&mut *self.pool.get()?)
            .map_err(Error::from)?;
        Ok(u64::try_from(count.n).unwrap_or(0))
    }

    fn pending_jobs(&self, limit: usize) -> Result<Vec<JobInfo>, StorageError> {
        let sql = format!(
            "SELECT {INFO_COLUMNS} FROM background_jobs ORDER BY priority DESC, id LIMIT $1"
        );
        let query =
            diesel::sql_query(sql).bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX));
        load_infos(&mut *self.pool.get()?, query)
    }

    fn stalled_jobs(&self, older_than: Duration) -> Result<Vec<JobInfo>, StorageError> {
        // Without taking a lock: a row a worker holds has the holding transaction in its
        // `xmax`, and that transaction is in `pg_locks` until it ends.
        let sql = format!(
            "SELECT {INFO_COLUMNS} FROM background_jobs \
             WHERE created_at <= now() - $1 * interval '1 microsecond' AND NOT EXISTS ({HOLDER}) \
             ORDER BY id"
        );
        let query = diesel::sql_query(sql).bind::<BigInt, _>(micros(older_than));
        load_infos(&mut *self.pool.get()?, query)
    }

    fn long_running_jobs(&self, longer_than: Duration) -> Result<Vec<RunningJob>, StorageError> {
        let rows: Vec<RunningRow> = diesel::sql_query(LONG_RUNNING)
            .bind::<BigInt, _>(micros(longer_than))
            .load(&mut *self.pool.get()?)
            .map_err(Error::from)?;
        rows.into_iter()
            .map(|row| {
                let since = row.since.ok_or_else(|| {
                    StorageError::backend(format!(
                        "job {} is running, but pg_stat_activity hides when its worker's transaction started: the monitor's role needs the pg_read_all_stats role (GRANT pg_read_all_stats TO monitor) to see other roles' sessions",
                        row.info.job.id
                    ))
                })?;
                Ok(RunningJob { job: JobInfo::from(row.info), since: SystemTime::from(since) })
            })
            .collect()
    }

    fn failing_jobs(&self, min_failures: u32) -> Result<Vec<JobInfo>, StorageError> {
        let sql = format!(
            "SELECT {INFO_COLUMNS} FROM background_jobs WHERE retries >= $1 \
             ORDER BY retries DESC, id"
        );
        let query = diesel::sql_query(sql)
            .bind::<diesel::sql_types::Integer, _>(i32::try_from(min_failures).unwrap_or(i32::MAX));
        load_infos(&mut *self.pool.get()?, query)
    }

    fn retry_now(&self, id: JobId) -> Result<bool, StorageError> {
        let updated = self.with_idle_row(id, |conn| {
            diesel::sql_query("UPDATE background_jobs SET run_at = now() WHERE id = $1")
                .bind::<BigInt, _>(id.0)
                .execute(conn)?;
            notify(conn)?;
            Ok(())
        })?;
        Ok(updated.is_some())
    }

    fn delete(&self, id: JobId) -> Result<bool, StorageError> {
        let deleted = self.with_idle_row(id, |conn| {
            Ok(diesel::sql_query("DELETE FROM background_jobs WHERE id = $1")
                .bind::<BigInt, _>(id.0)
                .execute(conn)?)
        })?;
        Ok(deleted.is_some_and(|n| n > 0))
    }
}

/// A transaction begun by hand on a pooled connection: rolled back when dropped unless
/// [`Open::commit`] committed it. (diesel's `transaction` takes a closure, and the claim's
/// transaction spans the caller's `run`, whose unwinding must roll back too.)
struct Open<'a> {
    conn: &'a mut PgConnection,
    open: bool,
}

impl<'a> Open<'a> {
    fn begin(conn: &'a mut PgConnection) -> Result<Open<'a>, Error> {
        conn.batch_execute(BEGIN_CLAIM)?;
        Ok(Open { conn, open: true })
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.conn
    }

    /// Runs `sql`, which ends with the transaction's `COMMIT` ([`completion`]).
    fn commit_with(mut self, sql: &str) -> Result<(), diesel::result::Error> {
        self.conn.batch_execute(sql)?;
        self.open = false;
        Ok(())
    }

    fn rollback(self) {}
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if self.open {
            // On a broken connection this fails too, and the server has rolled back.
            let _ = self.conn.batch_execute("ROLLBACK");
        }
    }
}

/// Runs an operator query whose rows are [`InfoRow`]s.
fn load_infos(
    conn: &mut PgConnection,
    query: impl diesel::query_dsl::LoadQuery<'static, PgConnection, InfoRow>,
) -> Result<Vec<JobInfo>, StorageError> {
    let rows: Vec<InfoRow> = query.load(conn).map_err(Error::from)?;
    Ok(rows.into_iter().map(JobInfo::from).collect())
}

/// Stops the listening thread when dropped.
struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A connection that listens for enqueue notifications. It is a `postgres` client rather
/// than a diesel one because it can block on its socket until a notification arrives (diesel
/// can only poll). TLS follows the URL's `sslmode`, as libpq's does.
fn listen_client(url: &str) -> Result<postgres::Client, Error> {
    let shown = || redact::redact(url).into_owned();
    let config: postgres::Config = url
        .parse()
        .map_err(|e: postgres::Error| Error::Listen { url: shown(), reason: e.to_string() })?;
    let tls = native_tls::TlsConnector::new()
        .map_err(|e| Error::Listen { url: shown(), reason: e.to_string() })?;
    let mut client = config
        .connect(postgres_native_tls::MakeTlsConnector::new(tls))
        .map_err(|e| Error::Listen { url: shown(), reason: e.to_string() })?;
    client
        .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
        .map_err(|e| Error::Listen { url: shown(), reason: e.to_string() })?;
    Ok(client)
}

/// Blocks on the listening connection and wakes one idle worker per notification (a worker
/// that claims a full batch wakes the next one). It wakes up every [`LISTEN_TICK`] only to
/// see whether it should stop, and checks the connection every [`LISTEN_HEALTH_CHECK`]
/// ticks. A broken connection is re-established with backoff (workers keep polling the
/// table meanwhile), and a worker is woken after a reconnect, since notifications may
/// have been missed.
fn listen_loop(config: &PgConfig, client: &mut postgres::Client, waker: &Waker, stop: &AtomicBool) {
    let mut idle_ticks: u32 = 0;
    while !stop.load(Ordering::SeqCst) {
        use postgres::fallible_iterator::FallibleIterator as _;
        let next = client.notifications().timeout_iter(LISTEN_TICK).next();
        let broken = match next {
            Ok(Some(_)) => {
                waker.wake();
                idle_ticks = 0;
                false
            }
            Ok(None) => {
                idle_ticks += 1;
                if idle_ticks >= LISTEN_HEALTH_CHECK {
                    idle_ticks = 0;
                    client.is_closed() || client.simple_query("SELECT 1").is_err()
                } else {
                    client.is_closed()
                }
            }
            Err(_) => true,
        };
        if broken {
            let mut backoff = Duration::from_millis(100);
            loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(backoff);
                if let Ok(fresh) = listen_client(&config.url) {
                    *client = fresh;
                    waker.wake();
                    break;
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// How long the listener blocks before looking at its stop flag.
const LISTEN_TICK: Duration = Duration::from_millis(250);
/// Idle ticks between two checks of the listening connection.
const LISTEN_HEALTH_CHECK: u32 = 40;
