//! The SQLite storage: claims are leases taken inside `BEGIN IMMEDIATE`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use queue_core::storage::{Claim, ClaimedJob, JobFilter, Outcome, RunJobs, Waker};
use queue_core::{JobId, JobInfo, NewJob, RunningJob, Storage, StorageError};

use crate::error::Error;
use crate::pool::{micros, now_micros, Pooled};

/// The migrations of the SQLite job table.
pub(crate) const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

diesel::table! {
    background_jobs (id) {
        id -> BigInt,
        job_type -> Text,
        data -> Text,
        priority -> SmallInt,
        deduplicated -> Bool,
        retries -> Integer,
        last_retry -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        run_at -> Nullable<BigInt>,
        created_at -> BigInt,
        locked_until -> Nullable<BigInt>,
        lock_token -> Nullable<BigInt>,
        claimed_at -> Nullable<BigInt>,
    }
}

/// The shortest lease [`SqliteStorage::open`] accepts.
pub const MIN_LEASE: Duration = Duration::from_millis(300);

/// Settings of a [`SqliteStorage`].
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// The database file; created when missing.
    pub path: PathBuf,
    /// Connections in the pool.
    pub pool_size: u32,
    /// How long a claim lasts without being extended. A running job's lease is extended
    /// every third of this; a worker that died (or is paused) has its job taken over once
    /// it expires, and a worker whose lease ran out records nothing. At least
    /// [`MIN_LEASE`] and three times `busy_timeout`.
    pub lease: Duration,
    /// How long a statement waits for another writer's lock (SQLite's `busy_timeout`).
    pub busy_timeout: Duration,
}

impl SqliteConfig {
    /// Defaults for the file at `path`: 8 connections, a 60 s lease, a 5 s busy timeout.
    pub fn new(path: impl Into<PathBuf>) -> SqliteConfig {
        SqliteConfig {
            path: path.into(),
            pool_size: 8,
            lease: Duration::from_secs(60),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// queue-core storage in a SQLite file: the embedded default that needs no server.
///
/// SQLite has no row locks, so a claim is a lease: inside `BEGIN IMMEDIATE` the worker picks
/// the first runnable row whose lease is free or expired and sets `locked_until` and its own
/// `lock_token`. The job then runs outside any transaction (so enqueues are never blocked by
/// a running job) while a helper thread, one per storage, extends the leases of every
/// running claim. The outcome is recorded only if the worker still holds the lease. Several
/// threads and processes can share one file; "database is locked" answers are retried,
/// never returned.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    pool: Pooled<SqliteConnection>,
    config: SqliteConfig,
    wakers: Arc<Mutex<Vec<Waker>>>,
    leases: Arc<LeaseKeeper>,
}

#[derive(Debug)]
struct Pragmas {
    busy_timeout_ms: u128,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        let sql = format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            self.busy_timeout_ms
        );
        retry_busy_query(|| conn.batch_execute(&sql)).map_err(diesel::r2d2::Error::QueryError)
    }
}

impl SqliteStorage {
    /// Opens (creating when missing) the database file with a connection pool, in WAL mode
    /// with a busy timeout.
    pub fn open(config: SqliteConfig) -> Result<SqliteStorage, Error> {
        // A lease is extended every third of it, and one extension must fit in that third
        // even when it waits for a writer.
        if config.lease < config.busy_timeout * 3 || config.lease < MIN_LEASE {
            return Err(Error::LeaseTooShort {
                lease: config.lease,
                busy_timeout: config.busy_timeout,
            });
        }
        let builder =
            Pool::builder().connection_timeout(Duration::from_secs(30)).connection_customizer(
                Box::new(Pragmas { busy_timeout_ms: config.busy_timeout.as_millis() }),
            );
        let path = config.path.to_string_lossy().into_owned();
        let pool = Pooled::new(&path, path.clone(), config.pool_size, builder)?;
        Ok(SqliteStorage { pool, config, wakers: Arc::default(), leases: Arc::default() })
    }

    /// Applies pending migrations of the job table; returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>, Error> {
        run_migrations(&mut *self.pool.get()?)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.config.path
    }

    /// The connection pool, for the application's own queries.
    pub fn pool(&self) -> &Pool<ConnectionManager<SqliteConnection>> {
        self.pool.pool()
    }

    /// Tells this process's workers that `jobs` jobs were enqueued on a connection of the
    /// caller's ([`crate::enqueue`] inside the caller's transaction), once that transaction
    /// committed: each wakes one idle worker now instead of at its next poll. Enqueues
    /// through the storage itself wake workers on their own; other processes poll.
    pub fn wake_workers(&self, jobs: usize) {
        for _ in 0..jobs {
            self.wake();
        }
    }

    fn wake(&self) {
        let wakers = self.wakers.lock().map(|w| w.clone()).unwrap_or_default();
        wakers.iter().for_each(Waker::wake);
    }
}

/// Applies pending job-table migrations on `conn`; returns the versions applied. Idempotent.
pub(crate) fn run_migrations(conn: &mut SqliteConnection) -> Result<Vec<String>, Error> {
    retry_busy(|| {
        let applied = conn
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(|e| Error::Migration(e.to_string()))?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
}

pub(crate) fn insert_job(
    conn: &mut SqliteConnection,
    job: &NewJob,
    now: i64,
) -> Result<Option<JobId>, Error> {
    let data = job.data.to_string();
    if job.deduplicated {
        let existing: Option<(i64, Option<i64>)> = background_jobs::table
            .select((background_jobs::id, background_jobs::run_at))
            .filter(background_jobs::deduplicated.eq(true))
            .filter(background_jobs::job_type.eq(&job.job_type))
            .filter(background_jobs::data.eq(&data))
            .filter(background_jobs::run_at.is_not_null())
            // Only a row no worker holds: a lease that lapsed still has a worker that may
            // be running the job on data read before this enqueue (a paused process).
            .filter(background_jobs::lock_token.is_null())
            .order(background_jobs::id.asc())
            .first(conn)
            .optional()?;
        if let Some((id, run_at)) = existing {
            if run_at.is_some_and(|at| at > now) {
                diesel::update(background_jobs::table.find(id))
                    .set(background_jobs::run_at.eq(Some(now)))
                    .execute(conn)?;
            }
            return Ok(None);
        }
    }
    let id = diesel::insert_into(background_jobs::table)
        .values((
            background_jobs::job_type.eq(&job.job_type),
            background_jobs::data.eq(&data),
            background_jobs::priority.eq(job.priority),
            background_jobs::deduplicated.eq(job.deduplicated),
            background_jobs::run_at.eq(Some(now)),
            background_jobs::created_at.eq(now),
        ))
        .returning(background_jobs::id)
        .get_result::<i64>(conn)?;
    Ok(Some(JobId(id)))
}

fn to_system_time(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

fn is_busy(err: &diesel::result::Error) -> bool {
    match err {
        diesel::result::Error::DatabaseError(_, info) => {
            let message = info.message();
            message.contains("database is locked") || message.contains("database is busy")
        }
        _ => false,
    }
}

/// How long an operation keeps retrying "database is locked" before giving up.
const BUSY_PATIENCE: Duration = Duration::from_secs(120);

/// Retries `f` for up to `patience` while `busy` says its error is SQLite's "database is
/// locked": a write transaction that started as a reader, or a busy timeout that ran out
/// under heavy contention.
fn retry_while_busy<T, E>(
    patience: Duration,
    busy: impl Fn(&E) -> bool,
    mut f: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + patience;
    let mut backoff = Duration::from_millis(1);
    loop {
        match f() {
            Err(err) if busy(&err) && Instant::now() < deadline => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn retry_busy_query<T>(f: impl FnMut() -> QueryResult<T>) -> QueryResult<T> {
    retry_while_busy(BUSY_PATIENCE, is_busy, f)
}

pub(crate) fn retry_busy<T>(f: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
    retry_busy_for(BUSY_PATIENCE, f)
}

fn retry_busy_for<T>(patience: Duration, f: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
    retry_while_busy(patience, |err: &Error| matches!(err, Error::Query(e) if is_busy(e)), f)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = background_jobs)]
struct InfoRow {
    id: i64,
    job_type: String,
    data: String,
    priority: i16,
    retries: i32,
    last_retry: Option<i64>,
    last_error: Option<String>,
    run_at: Option<i64>,
    created_at: i64,
}

impl From<InfoRow> for JobInfo {
    fn from(row: InfoRow) -> JobInfo {
        let data = serde_json::from_str(&row.data).unwrap_or(serde_json::Value::String(row.data));
        JobInfo {
            id: JobId(row.id),
            job_type: row.job_type,
            data,
            priority: row.priority,
            retries: u32::try_from(row.retries).unwrap_or(0),
            created_at: to_system_time(row.created_at),
            last_retry: row.last_retry.map(to_system_time),
            last_error: row.last_error,
            run_at: row.run_at.map(to_system_time),
        }
    }
}

fn new_token() -> i64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos =
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    // Distinct across processes (pid, time) and within one (counter).
    let mixed =
        nanos ^ (u64::from(std::process::id()) << 40) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed & (i64::MAX as u64)) as i64
}

fn not_running(
    now: i64,
) -> diesel::dsl::Or<
    diesel::dsl::IsNull<background_jobs::locked_until>,
    diesel::dsl::Lt<background_jobs::locked_until, i64>,
> {
    background_jobs::locked_until.is_null().or(background_jobs::locked_until.lt(now))
}

/// The claim's pick: up to `$limit` runnable jobs at `$now` that no lease holds, among those
/// `$types` (a filter on `job_type`) lets through, in running order (priority, the longest
/// runnable, id).
macro_rules! runnable {
    ($now:expr, $limit:expr, $types:expr) => {
        background_jobs::table
            .select((
                background_jobs::id,
                background_jobs::job_type,
                background_jobs::data,
                background_jobs::retries,
            ))
            .filter(background_jobs::run_at.le($now))
            .filter(not_running($now))
            .filter($types)
            .order((
                background_jobs::priority.desc(),
                background_jobs::run_at.asc(),
                background_jobs::id.asc(),
            ))
            .limit($limit)
    };
}

impl SqliteStorage {
    /// Leases up to `max` runnable jobs under one token, in one `BEGIN IMMEDIATE`.
    /// Returns the jobs, the claim's token and the lease's expiry.
    fn claim(&self, claim: Claim<'_>) -> Result<(Vec<ClaimedJob>, i64, i64), Error> {
        let mut conn = self.pool.get()?;
        let token = new_token();
        let lease = micros(self.config.lease);
        let limit = i64::try_from(claim.limit()).unwrap_or(i64::MAX);
        let mut until = 0;
        let claimed = retry_busy(|| {
            conn.immediate_transaction(|conn| {
                let now = now_micros();
                until = now.saturating_add(lease);
                // Two statements rather than one boxed query: diesel prepares and caches a
                // statement per connection only when its type is fixed.
                let rows: Vec<(i64, String, String, i32)> = match claim.filter {
                    JobFilter::Types(types) => {
                        runnable!(now, limit, background_jobs::job_type.eq_any(types)).load(conn)?
                    }
                    JobFilter::AllExcept(types) => runnable!(
                        now,
                        limit,
                        diesel::dsl::not(background_jobs::job_type.eq_any(types))
                    )
                    .load(conn)?,
                };
                let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
                if !ids.is_empty() {
                    diesel::update(background_jobs::table.filter(background_jobs::id.eq_any(&ids)))
                        .set((
                            background_jobs::locked_until.eq(Some(until)),
                            background_jobs::lock_token.eq(Some(token)),
                            background_jobs::claimed_at.eq(Some(now)),
                        ))
                        .execute(conn)?;
                }
                Ok(rows
                    .into_iter()
                    .map(|(id, job_type, data, retries)| ClaimedJob {
                        id: JobId(id),
                        job_type,
                        data,
                        retries: u32::try_from(retries).unwrap_or(0),
                    })
                    .collect::<Vec<_>>())
            })
        })?;
        Ok((claimed, token, until))
    }

    /// Gives up this claim's leases without recording anything.
    fn release(&self, ids: &[i64], token: i64) -> Result<(), Error> {
        let mut conn = self.pool.get()?;
        retry_busy(|| {
            diesel::update(
                background_jobs::table
                    .filter(background_jobs::id.eq_any(ids))
                    .filter(background_jobs::lock_token.eq(token)),
            )
            .set((
                background_jobs::locked_until.eq(None::<i64>),
                background_jobs::lock_token.eq(None::<i64>),
                background_jobs::claimed_at.eq(None::<i64>),
            ))
            .execute(&mut conn)
            .map_err(Error::from)
        })?;
        Ok(())
    }

    /// Records the outcomes of the jobs this claim still holds; returns the jobs it no
    /// longer held, whose outcomes were not recorded.
    fn record(&self, outcomes: &[(JobId, Outcome)], token: i64) -> Result<Vec<JobId>, Error> {
        let mut conn = self.pool.get()?;
        // The `lock_token` condition makes a worker whose lease was taken over record
        // nothing: the job belongs to the worker that took it over.
        retry_busy(|| {
            conn.immediate_transaction(|conn| {
                let now = now_micros();
                let mut gone = Vec::new();
                for (id, outcome) in outcomes {
                    let mine = background_jobs::table
                        .find(id.0)
                        .filter(background_jobs::lock_token.eq(token));
                    let updated = match outcome {
                        Outcome::Succeeded => diesel::delete(mine).execute(conn)?,
                        Outcome::Failed { error, retry_in } => diesel::update(mine)
                            .set((
                                background_jobs::retries.eq(background_jobs::retries + 1),
                                background_jobs::last_retry.eq(Some(now)),
                                background_jobs::last_error.eq(Some(error)),
                                background_jobs::run_at.eq(retry_in.map(|d| {
                                    now.saturating_add(micros(d.min(queue_core::MAX_RETRY_DELAY)))
                                })),
                                background_jobs::locked_until.eq(None::<i64>),
                                background_jobs::lock_token.eq(None::<i64>),
                            ))
                            .execute(conn)?,
                    };
                    if updated == 0 {
                        gone.push(*id);
                    }
                }
                Ok(gone)
            })
        })
    }

    /// Runs `f` on a job that exists and is not running: `Ok(None)` when it does not exist,
    /// `JobRunning` when a worker holds an unexpired lease on it.
    fn with_unleased_row(
        &self,
        id: JobId,
        f: impl Fn(&mut SqliteConnection) -> QueryResult<usize>,
    ) -> Result<Option<usize>, StorageError> {
        let mut conn = self.pool.get()?;
        retry_busy(|| {
            conn.immediate_transaction(|conn| {
                let now = now_micros();
                let lease: Option<Option<i64>> = background_jobs::table
                    .find(id.0)
                    .select(background_jobs::locked_until)
                    .first(conn)
                    .optional()?;
                match lease {
                    None => Ok(Ok(None)),
                    Some(Some(until)) if until >= now => Ok(Err(StorageError::JobRunning(id))),
                    Some(_) => Ok(Ok(Some(f(conn)?))),
                }
            })
        })?
    }
}

/// Gives a claim's leases up when dropped; forgotten once the jobs returned their outcomes.
struct ReleaseOnUnwind<'a> {
    storage: &'a SqliteStorage,
    ids: &'a [i64],
    token: i64,
}

impl Drop for ReleaseOnUnwind<'_> {
    fn drop(&mut self) {
        let _ = self.storage.release(self.ids, self.token);
    }
}

/// Extends the leases of every running claim of a storage (and its clones), from one
/// thread started at the first claim: every third of the lease, each claim whose lease is
/// still held is extended. The thread ends as soon as the last clone of the storage is
/// dropped.
#[derive(Debug, Default)]
struct LeaseKeeper {
    /// The running claims by token.
    held: Mutex<HashMap<i64, Leased>>,
    /// The thread's stop signal, sent by dropping it; `None` until the first claim.
    stop: Mutex<Option<mpsc::Sender<()>>>,
}

/// A running claim's jobs, and when their leases run out (in microseconds since the epoch).
#[derive(Debug, Clone)]
struct Leased {
    ids: Arc<[i64]>,
    until: Arc<AtomicI64>,
}

/// A claim registered with the [`LeaseKeeper`]; unregistered when dropped.
struct Held<'a> {
    keeper: &'a LeaseKeeper,
    token: i64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.keeper.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.token);
    }
}

impl LeaseKeeper {
    /// Registers a claim whose leases `until` tracks, starting the thread if it is not
    /// running yet.
    fn hold(
        self: &Arc<Self>,
        pool: &Pooled<SqliteConnection>,
        lease: Duration,
        token: i64,
        ids: &[i64],
        until: &Arc<AtomicI64>,
    ) -> Result<Held<'_>, Error> {
        let mut stop = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if stop.is_none() {
            let (sender, stopped) = mpsc::channel::<()>();
            let (pool, keeper) = (pool.clone(), Arc::downgrade(self));
            std::thread::Builder::new()
                .name("queue-sqlite-leases".into())
                .spawn(move || keep_leases(&pool, lease, &keeper, &stopped))
                .map_err(Error::LeaseThread)?;
            *stop = Some(sender);
        }
        drop(stop);
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, Leased { ids: Arc::from(ids), until: Arc::clone(until) });
        Ok(Held { keeper: self, token })
    }
}

/// The [`LeaseKeeper`]'s thread.
fn keep_leases(
    pool: &Pooled<SqliteConnection>,
    lease: Duration,
    keeper: &std::sync::Weak<LeaseKeeper>,
    stopped: &mpsc::Receiver<()>,
) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(lease / 3) {
        let Some(keeper) = keeper.upgrade() else { return };
        let claims: Vec<(i64, Leased)> = keeper
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(token, leased)| (*token, leased.clone()))
            .collect();
        drop(keeper);
        for (token, Leased { ids, until }) in claims {
            // Only a lease still held is extended: once it lapsed, it stays lapsed. A failed
            // extension is retried at the next tick; the claim's own check after its run
            // notices a lease that ran out meanwhile.
            if now_micros() > until.load(Ordering::SeqCst) {
                continue;
            }
            if let Ok(extended) = extend_lease(pool, lease, &ids, token) {
                until.fetch_max(extended, Ordering::SeqCst);
            }
        }
    }
}

/// Extends a claim's leases; returns the new expiry. Gives up well within the lease (a
/// third of it) so that a stuck extension is noticed, not waited out.
fn extend_lease(
    pool: &Pooled<SqliteConnection>,
    lease: Duration,
    ids: &[i64],
    token: i64,
) -> Result<i64, Error> {
    let patience = lease / 3;
    let mut conn = pool.get_within(patience)?;
    let until = now_micros().saturating_add(micros(lease));
    let updated = retry_busy_for(patience, || {
        diesel::update(
            background_jobs::table
                .filter(background_jobs::id.eq_any(ids))
                .filter(background_jobs::lock_token.eq(token)),
        )
        .set(background_jobs::locked_until.eq(Some(until)))
        .execute(&mut conn)
        .map_err(Error::from)
    })?;
    if updated < ids.len() {
        // Some row is no longer ours: report the lease as not extended.
        return Ok(i64::MIN);
    }
    Ok(until)
}

impl Storage for SqliteStorage {
    fn enqueue(&self, job: &NewJob) -> Result<Option<JobId>, StorageError> {
        let mut conn = self.pool.get()?;
        let id = crate::enqueue_new(&mut *conn, job)?;
        if id.is_some() {
            self.wake();
        }
        Ok(id)
    }

    fn enqueue_batch(&self, jobs: &[NewJob]) -> Result<Vec<Option<JobId>>, StorageError> {
        let mut conn = self.pool.get()?;
        let ids = crate::enqueue_new_batch(&mut *conn, jobs)?;
        self.wake();
        Ok(ids)
    }

    /// Claims up to `claim.max` jobs, runs them while the storage's lease thread extends their
    /// lease, and records each outcome that this claim still holds the lease for.
    ///
    /// A lease that lapsed while the jobs ran (the process was paused, the extension could
    /// not get through) records nothing: another worker may have taken the jobs over, so
    /// the claim is released and the call fails with `NotRecorded`; the jobs run again.
    fn run_batch(&self, claim: Claim<'_>, run: &mut RunJobs<'_>) -> Result<usize, StorageError> {
        let (claimed, token, until) = self.claim(claim)?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = claimed.iter().map(|j| j.id.0).collect();
        let held_until = Arc::new(AtomicI64::new(until));
        let held = self.leases.hold(&self.pool, self.config.lease, token, &ids, &held_until)?;
        // If `run` unwinds, the leases are given up as it passes, so the jobs are claimable
        // at once rather than when the lease runs out.
        let release = ReleaseOnUnwind { storage: self, ids: &ids, token };
        let outcomes = run(&claimed);
        std::mem::forget(release);
        drop(held);
        let lost = |reason: String| StorageError::NotRecorded {
            jobs: claimed.iter().map(|job| job.id).collect(),
            reason,
        };
        if let Err(err) = queue_core::storage::check_outcomes(claimed.len(), &outcomes) {
            self.release(&ids, token)?;
            return Err(err);
        }
        let until = held_until.load(Ordering::SeqCst);
        let now = now_micros();
        if now > until {
            self.release(&ids, token)?;
            return Err(lost(format!(
                "the SQLite lease ran out {:.1} s before the jobs finished (lease {:?}; was the worker paused, or the database locked for that long?), so another worker may have run them too",
                (now - until) as f64 / 1e6,
                self.config.lease
            )));
        }
        let outcomes: Vec<(JobId, Outcome)> =
            claimed.iter().map(|job| job.id).zip(outcomes).collect();
        let gone = self.record(&outcomes, token)?;
        if !gone.is_empty() {
            return Err(StorageError::NotRecorded {
                jobs: gone,
                reason: "another worker took the SQLite lease over, or an operator deleted the job, before the outcome was recorded".into(),
            });
        }
        Ok(claimed.len())
    }

    fn listen(&self, waker: Waker) -> Result<Option<Box<dyn Send>>, StorageError> {
        // Enqueues through this storage wake local workers; other processes are polled.
        if let Ok(mut wakers) = self.wakers.lock() {
            wakers.push(waker);
        }
        Ok(None)
    }

    fn count_pending(&self) -> Result<u64, StorageError> {
        let mut conn = self.pool.get()?;
        let n: i64 = retry_busy(|| {
            background_jobs::table.count().get_result(&mut conn).map_err(Error::from)
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn pending_jobs(&self, limit: usize) -> Result<Vec<JobInfo>, StorageError> {
        let mut conn = self.pool.get()?;
        let rows: Vec<InfoRow> = retry_busy(|| {
            background_jobs::table
                .select(InfoRow::as_select())
                .order((background_jobs::priority.desc(), background_jobs::id.asc()))
                .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                .load(&mut conn)
                .map_err(Error::from)
        })?;
        Ok(rows.into_iter().map(JobInfo::from).collect())
    }

    fn stalled_jobs(&self, older_than: Duration) -> Result<Vec<JobInfo>, StorageError> {
        let mut conn = self.pool.get()?;
        let now = now_micros();
        let cutoff = now.saturating_sub(micros(older_than));
        let rows: Vec<InfoRow> = retry_busy(|| {
            background_jobs::table
                .select(InfoRow::as_select())
                .filter(background_jobs::created_at.le(cutoff))
                .filter(not_running(now))
                .order(background_jobs::id.asc())
                .load(&mut conn)
                .map_err(Error::from)
        })?;
        Ok(rows.into_iter().map(JobInfo::from).collect())
    }

    fn long_running_jobs(&self, longer_than: Duration) -> Result<Vec<RunningJob>, StorageError> {
        let mut conn = self.pool.get()?;
        let now = now_micros();
        let cutoff = now.saturating_sub(micros(longer_than));
        let rows: Vec<(InfoRow, Option<i64>)> = retry_busy(|| {
            background_jobs::table
                .select((InfoRow::as_select(), background_jobs::claimed_at))
                .filter(background_jobs::locked_until.ge(now))
                .filter(background_jobs::claimed_at.le(cutoff))
                .order((background_jobs::claimed_at.asc(), background_jobs::id.asc()))
                .load(&mut conn)
                .map_err(Error::from)
        })?;
        Ok(rows
            .into_iter()
            .map(|(row, since)| RunningJob {
                since: to_system_time(since.unwrap_or(0)),
                job: JobInfo::from(row),
            })
            .collect())
    }

    fn failing_jobs(&self, min_failures: u32) -> Result<Vec<JobInfo>, StorageError> {
        let mut conn = self.pool.get()?;
        let min = i32::try_from(min_failures).unwrap_or(i32::MAX);
        let rows: Vec<InfoRow> = retry_busy(|| {
            background_jobs::table
                .select(InfoRow::as_select())
                .filter(background_jobs::retries.ge(min))
                .order((background_jobs::retries.desc(), background_jobs::id.asc()))
                .load(&mut conn)
                .map_err(Error::from)
        })?;
        Ok(rows.into_iter().map(JobInfo::from).collect())
    }

    fn retry_now(&self, id: JobId) -> Result<bool, StorageError> {
        let updated = self.with_unleased_row(id, |conn| {
            diesel::update(background_jobs::table.find(id.0))
                .set(background_jobs::run_at.eq(Some(now_micros())))
                .execute(conn)
        })?;
        if updated.is_some() {
            self.wake();
        }
        Ok(updated.is_some())
    }

    fn delete(&self, id: JobId) -> Result<bool, StorageError> {
        let deleted = self.with_unleased_row(id, |conn| {
            diesel::delete(background_jobs::table.find(id.0)).execute(conn)
        })?;
        Ok(deleted.is_some_and(|n| n > 0))
    }
}
