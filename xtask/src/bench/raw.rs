//! The baselines: the same claim-and-delete the library does, written out without it, with
//! the care the library gets (connections opened before the clock starts, statements
//! prepared once per connection), and `pgbench` against the same server and table state.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context as _, Result};
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;

diesel::table! {
    /// The PostgreSQL job table, as the raw loop sees it.
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

/// The SQLite job table, as the raw SQLite loop sees it.
mod sqlite_table {
    diesel::table! {
        background_jobs (id) {
            id -> BigInt,
            job_type -> Text,
            priority -> SmallInt,
            run_at -> Nullable<BigInt>,
            locked_until -> Nullable<BigInt>,
            lock_token -> Nullable<BigInt>,
        }
    }
}

/// Drains the PostgreSQL job table with `workers` threads, claiming up to `batch` rows per
/// transaction (with what a worker needs to run each job: id, type, data, retries) through
/// diesel's query builder (prepared and cached per connection), and deleting them with the
/// commit in one message, as the library does. Returns jobs per second over the drain.
pub(super) fn drain_pg(url: &str, workers: usize, batch: i64, jobs: u64) -> Result<f64> {
    let ready = Arc::new(Barrier::new(workers + 1));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (url, ready) = (url.to_owned(), Arc::clone(&ready));
            std::thread::spawn(move || -> Result<u64> {
                // The library's claim runs with a generic plan (`plan_cache_mode`, set with
                // each claim's `BEGIN`); without it, the server plans this prepared claim anew
                // at every execution (about 70 µs a time on PostgreSQL 15, a fifth of a
                // one-job transaction), and the baseline would be the slower.
                let conn = PgConnection::establish(&url).map_err(anyhow::Error::from).and_then(
                    |mut conn| {
                        conn.batch_execute("SET plan_cache_mode = force_generic_plan")?;
                        Ok(conn)
                    },
                );
                ready.wait();
                let mut conn = conn?;
                let mut done = 0;
                loop {
                    // As the library does it: `BEGIN`, the claim, and the library's own
                    // completion, the `DELETE` sent with the `COMMIT` in one message.
                    conn.batch_execute("BEGIN")?;
                    let jobs: Vec<(i64, String, serde_json::Value, i32)> = {
                        use background_jobs::dsl as j;
                        j::background_jobs
                            .select((j::id, j::job_type, j::data, j::retries))
                            .filter(j::run_at.is_not_null())
                            .filter(diesel::dsl::not(j::waiting))
                            .filter(j::job_type.eq_any(["noop"]))
                            .filter(j::run_at.le(diesel::dsl::now))
                            .order((j::priority.desc(), j::run_at.asc(), j::id.asc()))
                            .limit(batch)
                            .for_update()
                            .skip_locked()
                            .load(&mut conn)?
                    };
                    let ids: Vec<i64> = jobs.iter().map(|job| job.0).collect();
                    let claimed = ids.len() as u64;
                    if ids.is_empty() {
                        conn.batch_execute("ROLLBACK")?;
                    } else {
                        queue_diesel::testing::pg_complete_and_commit(&mut conn, &ids)?;
                    }
                    if claimed == 0 {
                        return Ok(done);
                    }
                    done += claimed;
                }
            })
        })
        .collect();
    timed_drain(&ready, handles, jobs)
}

/// The SQLite limit: the library's lease claim (`BEGIN IMMEDIATE`, pick, set the lease) and
/// delete (by id and token), one job at a time, through diesel's cached statements.
pub(super) fn drain_sqlite(path: &Path, workers: usize, jobs: u64) -> Result<f64> {
    let ready = Arc::new(Barrier::new(workers + 1));
    let handles: Vec<_> = (0..workers)
        .map(|n| {
            let (path, ready) = (path.to_string_lossy().into_owned(), Arc::clone(&ready));
            std::thread::spawn(move || -> Result<u64> {
                use sqlite_table::background_jobs::dsl as j;
                let mut conn = SqliteConnection::establish(&path)?;
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                )?;
                ready.wait();
                let mut done = 0;
                let mut token = (n as i64) << 40;
                loop {
                    token += 1;
                    let now = micros_now();
                    let claimed: Option<i64> = busy_retry(|| {
                        conn.immediate_transaction(|conn| {
                            let id: Option<i64> = j::background_jobs
                                .select(j::id)
                                .filter(j::job_type.eq_any(["noop"]))
                                .filter(j::run_at.le(now))
                                .filter(j::locked_until.is_null().or(j::locked_until.lt(now)))
                                .order((j::priority.desc(), j::run_at.asc(), j::id.asc()))
                                .first(conn)
                                .optional()?;
                            if let Some(id) = id {
                                diesel::update(j::background_jobs.find(id))
                                    .set((
                                        j::locked_until.eq(Some(now + 60_000_000)),
                                        j::lock_token.eq(Some(token)),
                                    ))
                                    .execute(conn)?;
                            }
                            Ok::<_, diesel::result::Error>(id)
                        })
                    })?;
                    let Some(id) = claimed else { return Ok(done) };
                    busy_retry(|| {
                        conn.immediate_transaction(|conn| {
                            diesel::delete(
                                j::background_jobs.find(id).filter(j::lock_token.eq(token)),
                            )
                            .execute(conn)
                        })
                    })?;
                    done += 1;
                }
            })
        })
        .collect();
    timed_drain(&ready, handles, jobs)
}

/// Starts the clock once every worker is ready (connected), and returns jobs per second
/// once they all ran dry, checking that they ran `jobs` jobs between them.
fn timed_drain(
    ready: &Barrier,
    handles: Vec<std::thread::JoinHandle<Result<u64>>>,
    jobs: u64,
) -> Result<f64> {
    ready.wait();
    let started = Instant::now();
    let mut total = 0;
    for handle in handles {
        total += handle.join().map_err(|_| anyhow::anyhow!("raw worker panicked"))??;
    }
    let secs = started.elapsed().as_secs_f64();
    ensure!(total == jobs, "the raw drain ran {total} of {jobs} jobs");
    Ok(jobs as f64 / secs)
}

fn micros_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Retries SQLite's "database is locked", as the library does.
fn busy_retry<T>(mut f: impl FnMut() -> QueryResult<T>) -> Result<T> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match f() {
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("locked") && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return Ok(other?),
        }
    }
}

/// A `pgbench` workload.
#[derive(Debug, Clone, Copy)]
pub(super) enum Workload {
    /// Claim one job and delete it, per transaction.
    ClaimOne,
    /// Claim up to 100 jobs and delete them, per transaction.
    ClaimHundred,
    /// Insert one job per transaction.
    InsertOne,
    /// Insert 100 jobs with one statement.
    InsertHundred,
}

impl Workload {
    /// The script, and how many jobs one transaction handles. A claim fetches what a worker
    /// needs to run each job (id, type, data, retries), as the library's does. An insert
    /// sends each job's data anew, as an enqueue does: each row's JSON text is built around a
    /// number drawn per transaction (a bind parameter), so the server parses it at every
    /// execution, as it parses the data an enqueue binds (written as literals, the JSON
    /// would be parsed once, when the statement is prepared).
    fn script(self) -> (String, u64) {
        const CLAIM: &str = "SELECT id, job_type, data, retries FROM background_jobs \
            WHERE run_at IS NOT NULL AND NOT waiting AND job_type = ANY('{noop}') \
            AND run_at <= now() ORDER BY priority DESC, run_at, id";
        const DRAW: &str = "\\set n random(1, 1000000000)\n";
        const ROW: &str = "('noop', ('{\"n\": ' || :n || '}')::jsonb)";
        match self {
            Workload::ClaimOne => (
                // `\aset` takes a claim that comes back empty (another client holds the
                // last job) without aborting the client, as `\gset` would; the delete
                // then matches nothing.
                format!(
                    "\\set id 0\nBEGIN;\n{CLAIM} LIMIT 1 FOR UPDATE SKIP LOCKED \\aset\n\
                     DELETE FROM background_jobs WHERE id = :id;\nEND;\n"
                ),
                1,
            ),
            Workload::ClaimHundred => (
                // An empty claim (another client holds the last jobs) sets `ids` to `{}`,
                // which the delete takes; `array_agg` of no rows is NULL, which it does not.
                format!(
                    "BEGIN;\nSELECT coalesce(array_agg(id), '{{}}') AS ids, array_agg(job_type) AS types, \
                     array_agg(data) AS datas, array_agg(retries) AS tries \
                     FROM ({CLAIM} LIMIT 100 FOR UPDATE SKIP LOCKED) c \\gset\n\
                     DELETE FROM background_jobs WHERE id = ANY(:ids::bigint[]);\nEND;\n"
                ),
                100,
            ),
            Workload::InsertOne => {
                (format!("{DRAW}INSERT INTO background_jobs (job_type, data) VALUES {ROW};\n"), 1)
            }
            Workload::InsertHundred => {
                let rows = vec![ROW; 100].join(", ");
                (
                    format!("{DRAW}INSERT INTO background_jobs (job_type, data) VALUES {rows};\n"),
                    100,
                )
            }
        }
    }
}

/// Runs `pgbench` with `workload` on `clients` connections, `jobs` jobs split evenly over
/// them, prepared statements; returns jobs per second: the jobs handled over the time
/// pgbench reports its transactions took (without the connection time).
///
/// A claim can come back short while other clients run: near the end, the jobs left are
/// held by other clients, and `SKIP LOCKED` passes them by, so that client's share of
/// transactions runs out before the table is empty. So the jobs left are counted on the
/// table and drained by more runs, their time added, until none is left.
pub(super) fn pgbench(url: &str, workload: Workload, clients: usize, jobs: u64) -> Result<f64> {
    let per_tx = workload.script().1;
    ensure!(
        jobs / per_tx / clients as u64 > 0,
        "{jobs} jobs are too few for {clients} pgbench clients"
    );
    let dir = tempfile::tempdir()?;
    let claims = matches!(workload, Workload::ClaimOne | Workload::ClaimHundred);
    let (mut left, mut seconds) = (jobs, 0.0);
    // Later runs find only what the first one left: ten are plenty.
    for _ in 0..10 {
        let transactions = left.div_ceil(per_tx).div_ceil(clients as u64);
        let stdout = run_pgbench(
            url,
            workload,
            dir.path(),
            &[
                "--client",
                &clients.to_string(),
                "--jobs",
                &clients.to_string(),
                "--transactions",
                &transactions.to_string(),
            ],
        )?;
        let failed = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("number of failed transactions: "))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        ensure!(failed == 0, "pgbench: {failed} transactions failed:\n{stdout}");
        let tps = stdout
            .lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|tps| *tps > 0.0)
            .with_context(|| format!("no tps in pgbench's output:\n{stdout}"))?;
        seconds += (transactions * clients as u64) as f64 / tps;
        if !claims {
            return Ok((transactions * clients as u64 * per_tx) as f64 / seconds);
        }
        left = u64::try_from(super::count_pg(url)?).unwrap_or(u64::MAX);
        if left == 0 {
            return Ok(jobs as f64 / seconds);
        }
    }
    bail!("pgbench left {left} of {jobs} jobs behind after 10 runs")
}

/// Runs `pgbench` inserting one job per transaction (as [`Workload::InsertOne`]), `count`
/// transactions paced at `rate` per second on one connection, and returns each
/// transaction's own time in ms, without its schedule lag: what one insert and its commit
/// take when it comes alone, after an idle gap, as a job enqueued for the latency section
/// does. Its median is the floor under an enqueue-to-start time, since a notification goes
/// out only once the enqueue's commit is flushed.
pub(super) fn pgbench_paced_inserts(url: &str, rate: u32, count: usize) -> Result<Vec<f64>> {
    let dir = tempfile::tempdir()?;
    let (rate, transactions) = (rate.to_string(), count.to_string());
    let prefix = dir.path().join("log").display().to_string();
    let args = ["--client", "1", "--rate", &rate, "--transactions", &transactions];
    let log = ["--log", "--log-prefix", &prefix];
    run_pgbench(url, Workload::InsertOne, dir.path(), &[args.as_slice(), &log].concat())?;
    // One line per transaction: client, transaction, time (µs, from its scheduled start),
    // script, epoch seconds, µs, schedule lag (µs).
    let mut samples = Vec::with_capacity(count);
    for entry in std::fs::read_dir(dir.path())? {
        let path = entry?.path();
        if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("log")) {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            let fields: Vec<f64> =
                line.split_whitespace().map(|f| f.parse::<f64>().unwrap_or(f64::NAN)).collect();
            let (Some(time), Some(lag)) = (fields.get(2), fields.get(6)) else {
                bail!("pgbench log line without a schedule lag: {line:?}");
            };
            ensure!(time.is_finite() && lag.is_finite(), "pgbench log line: {line:?}");
            samples.push((time - lag) / 1000.0);
        }
    }
    ensure!(samples.len() == count, "pgbench logged {} of {count} inserts", samples.len());
    Ok(samples)
}

/// Runs `pgbench` on `url` with `workload`'s script written into `dir`, prepared statements,
/// no vacuum, and `args`; returns its standard output.
fn run_pgbench(url: &str, workload: Workload, dir: &Path, args: &[&str]) -> Result<String> {
    let file = dir.join("workload.sql");
    std::fs::write(&file, workload.script().0)?;
    let binary = queue_diesel::testing::server_binary("pgbench")
        .context("pgbench is not installed (it comes with the PostgreSQL server binaries)")?;
    let output = Command::new(binary)
        .args(["--no-vacuum", "--protocol=prepared", "--file"])
        .arg(&file)
        .args(args)
        .arg(url)
        .output()
        .context("running pgbench")?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!("pgbench failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(stdout)
}
