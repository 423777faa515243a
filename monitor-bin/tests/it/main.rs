//! Tests that run the built `registry-monitor` binary against real databases and a local
//! HTTP server that receives the real PagerDuty requests.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use queue_core::{NewJob, Storage as _};
use queue_diesel::testing::TestDatabase;
use queue_diesel::{PgConfig, PgStorage, SqliteConfig, SqliteStorage};

/// A local HTTP server answering with `statuses` in turn (then 202), recording bodies.
struct FakePagerDuty {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl FakePagerDuty {
    fn start(statuses: Vec<u16>) -> FakePagerDuty {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v2/enqueue", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&bodies);
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter();
            for stream in listener.incoming().take(50) {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                sink.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                let status = statuses.next().unwrap_or(202);
                let answer = if status == 202 {
                    r#"{"status":"success"}"#
                } else {
                    r#"{"status":"invalid event"}"#
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        FakePagerDuty { url, bodies }
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}

fn monitor(database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_registry-monitor"));
    cmd.args(["--database-url", database_url])
        .env_remove("PAGERDUTY_ROUTING_KEY")
        .env_remove("PAGERDUTY_URL");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn job(key: u32) -> NewJob {
    NewJob {
        job_type: "index_publish".into(),
        data: serde_json::json!({"crate": "foo", "version": format!("1.0.{key}")}),
        priority: 0,
        deduplicated: false,
    }
}

/// A SQLite job table with one job an hour old and one that failed 7 times.
fn unhealthy_sqlite(dir: &Path) -> String {
    let path = dir.join("registry.sqlite3");
    let storage = SqliteStorage::open(SqliteConfig::new(&path)).unwrap();
    storage.migrate().unwrap();
    storage.enqueue(&job(1)).unwrap();
    storage.enqueue(&job(2)).unwrap();
    let mut conn = storage.pool().get().unwrap();
    let hour_ago =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros()
            - 3_600_000_000) as i64;
    diesel::sql_query(format!("UPDATE background_jobs SET created_at = {hour_ago} WHERE id = 1"))
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("UPDATE background_jobs SET retries = 7, last_error = 'push to file:///index rejected' WHERE id = 2")
        .execute(&mut conn)
        .unwrap();
    path.display().to_string()
}

/// Replaces the parts that change from run to run.
fn redact(mut body: serde_json::Value) -> serde_json::Value {
    if let Some(payload) = body.get_mut("payload") {
        payload["source"] = "[host]".into();
    }
    body
}

#[test]
fn failing_checks_trigger_and_passing_checks_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let url = unhealthy_sqlite(dir.path());
    let pager = FakePagerDuty::start(vec![]);
    let output = run(monitor(&url)
        .args(["--pagerduty-url", &pager.url])
        .env("PAGERDUTY_ROUTING_KEY", "test-key"));
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let bodies: Vec<_> = pager.bodies().into_iter().map(redact).collect();
    insta::assert_json_snapshot!("trigger", bodies);

    // Healthy again: both incidents are resolved.
    let storage = SqliteStorage::open(SqliteConfig::new(&url)).unwrap();
    for info in storage.pending_jobs(10).unwrap() {
        storage.delete(info.id).unwrap();
    }
    let pager = FakePagerDuty::start(vec![]);
    let output = run(monitor(&url)
        .args(["--pagerduty-url", &pager.url, "--json"])
        .env("PAGERDUTY_ROUTING_KEY", "test-key"));
    assert_eq!(output.status.code(), Some(0));
    insta::assert_json_snapshot!("resolve", pager.bodies());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["checks"][0]["ok"], true);
}

#[test]
fn server_errors_are_retried_and_a_400_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = unhealthy_sqlite(dir.path());
    let pager = FakePagerDuty::start(vec![503, 429]);
    let output =
        run(monitor(&url).args(["--pagerduty-url", &pager.url]).env("PAGERDUTY_ROUTING_KEY", "k"));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(pager.bodies().len(), 6, "two retries, then the four events");

    let pager = FakePagerDuty::start(vec![400]);
    let output = run(monitor(&url)
        .args(["--pagerduty-url", &pager.url])
        .env("PAGERDUTY_ROUTING_KEY", "bad"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rejected the event as invalid (400)")
            && stderr.contains("PAGERDUTY_ROUTING_KEY"),
        "{stderr}"
    );
}

#[test]
fn without_a_routing_key_the_events_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let url = unhealthy_sqlite(dir.path());
    let output = run(&mut monitor(&url));
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("would send to https://events.pagerduty.com/v2/enqueue"), "{text}");
    assert!(
        text.contains(
            "FAILED registry-jobs-stalled: 1 background jobs have waited longer than 15 minutes"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "FAILED registry-jobs-failing: 1 background jobs have failed at least 5 times"
        ),
        "{text}"
    );
}

#[test]
fn an_unreachable_database_is_exit_2_and_paged() {
    let pager = FakePagerDuty::start(vec![]);
    let output = run(monitor("postgres://nobody@127.0.0.1:1/none")
        .args(["--pagerduty-url", &pager.url])
        .env("PAGERDUTY_ROUTING_KEY", "k"));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("check DATABASE_URL"));
    let bodies = pager.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["dedup_key"], "registry-monitor-checks-failed");
    assert_eq!(bodies[0]["event_action"], "trigger");
    let summary = bodies[0]["payload"]["summary"].as_str().unwrap();
    assert!(summary.contains("cannot be checked") && summary.contains("127.0.0.1:1"), "{summary}");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_registry-monitor"));
    let output = run(cmd.arg("--data-dir").arg(dir.path()).env_remove("DATABASE_URL"));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no database at"));
}

/// A job that a worker holds right now is not stalled, however old it is.
#[test]
fn a_running_job_is_not_counted() {
    let db = TestDatabase::new();
    let storage = PgStorage::connect(PgConfig::new(db.url())).unwrap();
    storage.migrate().unwrap();
    storage.enqueue(&job(1)).unwrap();
    let mut conn = db.connect();
    diesel::sql_query("UPDATE background_jobs SET created_at = now() - interval '1 hour'")
        .execute(&mut conn)
        .unwrap();
    let check = || {
        let output = run(&mut monitor(db.url()));
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let (code, text) = check();
    assert_eq!(code, Some(1), "an old idle job is stalled: {text}");
    // A worker's claim: the row is locked by an open transaction.
    conn.transaction(|conn| {
        diesel::sql_query("SELECT id FROM background_jobs FOR UPDATE").execute(conn)?;
        let (code, text) = check();
        assert_eq!(code, Some(0), "the running job is not counted: {text}");
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
}

/// Whatever an older worker stored in a job's error or arguments, and whatever the database
/// URL holds, no password or token reaches stdout, stderr or a page.
#[test]
fn no_secret_reaches_the_output_or_a_page() {
    let password = format!("Pw-Secret-{}", std::process::id());
    let token = format!("Tok-Secret-{}", std::process::id());
    let db = TestDatabase::new();
    let storage = PgStorage::connect(PgConfig::new(db.url())).unwrap();
    storage.migrate().unwrap();
    storage.enqueue(&job(1)).unwrap();
    let mut conn = db.connect();
    diesel::sql_query(format!(
        "UPDATE background_jobs SET retries = 9, created_at = now() - interval '1 hour', \
         last_error = 'fetching master (https://bot:{token}@git.example.com/index.git): \
         connect to postgres://registry:{password}@db/x?password={password} failed'"
    ))
    .execute(&mut conn)
    .unwrap();
    let url =
        db.url().replacen("postgres://postgres@", &format!("postgres://postgres:{password}@"), 1);
    assert!(url.contains(&password));
    let pager = FakePagerDuty::start(vec![]);
    let mut outputs = vec![
        run(monitor(&url).args(["--pagerduty-url", &pager.url]).env("PAGERDUTY_ROUTING_KEY", "k")),
        run(monitor(&url).arg("--json")),
        run(&mut monitor(&url)),
        run(&mut monitor(&format!("postgress://registry:{password}@db/x"))),
        run(&mut monitor(&format!("postgres://registry:{password}@127.0.0.1:1/x"))),
    ];
    let bad_pager = format!("http://user:{token}@127.0.0.1:1/v2/enqueue?token={token}");
    outputs.push(run(monitor(&url)
        .args(["--pagerduty-url", &bad_pager])
        .env("PAGERDUTY_ROUTING_KEY", "k")));
    assert_eq!(outputs[0].status.code(), Some(1));
    let bodies = pager.bodies();
    assert_eq!(bodies.len(), 4, "three checks and the monitor's own: {bodies:?}");
    let failing = bodies.iter().find(|b| b["dedup_key"] == "registry-jobs-failing").unwrap();
    let summary = failing["payload"]["summary"].as_str().unwrap().to_owned();
    assert!(summary.contains("https://***@git.example.com"), "{summary}");
    for output in &outputs {
        for stream in [&output.stdout, &output.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(!text.contains(&password) && !text.contains(&token), "{text}");
        }
    }
    for body in bodies {
        let text = body.to_string();
        assert!(!text.contains(&password) && !text.contains(&token), "{text}");
    }
}

/// Numbers that would overflow are usage errors, not a panic or a wrapped-around check.
#[test]
fn out_of_range_numbers_are_usage_errors() {
    for minutes in ["0", "5256001", "99999999999999999999"] {
        let output = run(monitor("unused.sqlite3").args(["--max-job-time", minutes]));
        assert_eq!(output.status.code(), Some(2), "--max-job-time {minutes}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("--max-job-time"));
    }
}

/// Starts a transaction on `conn` that holds job `id` the way a worker's claim does, as
/// during a push that never returns.
fn hold(conn: &mut PgConnection, id: i64) {
    use diesel::connection::SimpleConnection as _;
    conn.batch_execute(&format!(
        "BEGIN; SELECT id FROM background_jobs WHERE id = {id} FOR UPDATE;"
    ))
    .unwrap();
}

fn dedup_keys(bodies: &[serde_json::Value]) -> Vec<(String, String)> {
    bodies
        .iter()
        .map(|b| {
            (
                b["dedup_key"].as_str().unwrap().to_owned(),
                b["event_action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The monitor as a role that can only `SELECT` the job table: it sees a job that waits
/// and a job that hangs, takes no lock (it could not: `FOR UPDATE` needs `UPDATE`), and
/// without `pg_read_all_stats` it pages that it cannot see how long claims are held.
#[test]
fn a_read_only_role_sees_a_hung_job() {
    let db = TestDatabase::new();
    let storage = PgStorage::connect(PgConfig::new(db.url())).unwrap();
    storage.migrate().unwrap();
    storage.enqueue(&job(1)).unwrap();
    storage.enqueue(&job(2)).unwrap();
    let mut admin = db.connect();
    let role = format!("monitor_{}", db.name());
    for sql in [
        "UPDATE background_jobs SET created_at = now() - interval '1 hour'".to_owned(),
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT CONNECT ON DATABASE {} TO {role}", db.name()),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
        format!("GRANT SELECT ON background_jobs TO {role}"),
    ] {
        diesel::sql_query(sql).execute(&mut admin).unwrap();
    }
    let read_only = db.url().replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    // A worker (another role) holds job 1, and its push hangs.
    let mut worker = db.connect();
    hold(&mut worker, 1);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let check = || {
        let pager = FakePagerDuty::start(vec![]);
        let output = run(monitor(&read_only)
            .args(["--max-run-time", "1s", "--pagerduty-url", &pager.url])
            .env("PAGERDUTY_ROUTING_KEY", "k"));
        (output, pager.bodies())
    };

    let (output, bodies) = check();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pg_read_all_stats"), "{stderr}");
    assert_eq!(
        dedup_keys(&bodies),
        [("registry-monitor-checks-failed".to_owned(), "trigger".to_owned())]
    );

    diesel::sql_query(format!("GRANT pg_read_all_stats TO {role}")).execute(&mut admin).unwrap();
    let (output, bodies) = check();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("FAILED registry-jobs-stalled: 1 background jobs have waited longer than 15 minutes; the oldest is job 2"),
        "the held job is not stalled, the other one is: {stdout}"
    );
    assert!(
        stdout.contains("FAILED registry-jobs-running-too-long: 1 background jobs have been running longer than 1 seconds (a push or fetch that hangs?); the longest is job 1"),
        "{stdout}"
    );
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    };
    assert_eq!(
        dedup_keys(&bodies),
        pairs(&[
            ("registry-jobs-stalled", "trigger"),
            ("registry-jobs-running-too-long", "trigger"),
            ("registry-jobs-failing", "resolve"),
            ("registry-monitor-checks-failed", "resolve"),
        ])
    );
    use diesel::connection::SimpleConnection as _;
    worker.batch_execute("ROLLBACK").unwrap();
}

/// On SQLite, a job whose lease a live worker keeps extending for longer than
/// `--max-run-time` pages as running too long.
#[test]
fn a_hung_job_on_sqlite_pages() {
    use queue_core::storage::{Claim, Outcome};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.sqlite3");
    let storage = SqliteStorage::open(SqliteConfig::new(&path)).unwrap();
    storage.migrate().unwrap();
    storage.enqueue(&job(1)).unwrap();
    let url = path.display().to_string();
    let mut seen = None;
    storage
        .run_batch(Claim::types(&["index_publish"], 1), &mut |jobs| {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            seen = Some(run(monitor(&url).args(["--max-run-time", "1s"])));
            vec![Outcome::Succeeded; jobs.len()]
        })
        .unwrap();
    let output = seen.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED registry-jobs-running-too-long: 1 background jobs"),
        "{stdout}"
    );
    assert!(stdout.contains("ok registry-jobs-stalled"), "{stdout}");
}
