//! The throwaway PostgreSQL support itself: isolation between test databases, and cleanup
//! when the test process ends normally or is killed.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::RunQueryDsl as _;
use queue_diesel::testing::{PgServer, TestDatabase, TEST_DATABASE_URL};

use crate::fixtures::Count;

const CHILD_MODE: &str = "QUEUE_DIESEL_PG_CHILD_MODE";

#[test]
fn each_test_database_is_empty_and_isolated() {
    let a = TestDatabase::new();
    let b = TestDatabase::new();
    assert_ne!(a.url(), b.url());
    let mut ca = a.connect();
    diesel::sql_query("CREATE TABLE marker (id int)").execute(&mut ca).unwrap();
    diesel::sql_query("INSERT INTO marker VALUES (1)").execute(&mut ca).unwrap();
    let mut cb = b.connect();
    let count: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'marker'",
    )
    .get_result(&mut cb)
    .unwrap();
    assert_eq!(count.n, 0, "database {} sees a table of database {}", b.name(), a.name());
}

/// Provisions the shared server, prints where it lives, then exits or hangs as the parent
/// asked. Run directly, it checks that a throwaway server lives under the target directory.
#[test]
fn child_provisions_a_server() {
    let db = TestDatabase::new();
    let server = PgServer::shared().unwrap();
    let mode = std::env::var(CHILD_MODE).unwrap_or_default();
    if mode.is_empty() {
        if std::env::var_os(TEST_DATABASE_URL).is_none() {
            let base = server.base_dir().expect("a throwaway server has a directory");
            assert!(
                base.join("data/postmaster.pid").is_file(),
                "{} has no running server",
                base.display()
            );
        }
        return;
    }
    let base = server.base_dir().expect("the child runs a throwaway server");
    let pid = std::fs::read_to_string(base.join("data/postmaster.pid")).unwrap();
    println!("CHILD-BASE={}", base.display());
    println!("CHILD-PID={}", pid.lines().next().unwrap());
    println!("CHILD-DB={}", db.name());
    if mode == "hang" {
        std::thread::sleep(Duration::from_secs(600));
    }
}

struct Child {
    process: std::process::Child,
    base: PathBuf,
    pid: u32,
}

fn spawn_child(mode: &str) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut process = Command::new(exe)
        .args([
            "--exact",
            "pg_support::child_provisions_a_server",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_MODE, mode)
        .env_remove(TEST_DATABASE_URL)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = process.stdout.take().unwrap();
    let (mut base, mut pid) = (None, None);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        // libtest prints `test NAME ... ` on the same line before the child's own output.
        if let Some((_, v)) = line.split_once("CHILD-BASE=") {
            base = Some(PathBuf::from(v));
        }
        if let Some((_, v)) = line.split_once("CHILD-PID=") {
            pid = Some(v.trim().parse().unwrap());
        }
        if base.is_some() && pid.is_some() {
            break;
        }
    }
    // Keep reading, so that the child's later output does not hit a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let base = base.expect("child printed its cluster directory");
    let pid = pid.expect("child printed its postmaster pid");
    assert!(process_alive(pid), "postmaster {pid} runs while the child lives");
    Child { process, base, pid }
}

fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie has finished; only its exit status is left for its parent to collect.
        Ok(stat) => {
            !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        }
        Err(_) => false,
    }
}

fn gone(base: &Path, pid: u32) -> bool {
    !base.exists() && !process_alive(pid)
}

#[test]
fn server_is_stopped_and_removed_when_the_process_exits() {
    let mut child = spawn_child("exit");
    let status = child.process.wait().unwrap();
    assert!(status.success(), "child test failed: {status}");
    // The exit hook waits for the server to stop: nothing is left the moment the child is gone.
    assert!(
        !process_alive(child.pid),
        "postmaster {} still runs after the child exited",
        child.pid
    );
    assert!(!child.base.exists(), "{} still exists after the child exited", child.base.display());
}

#[test]
fn server_is_stopped_and_removed_when_the_process_is_killed() {
    let mut child = spawn_child("hang");
    child.process.kill().unwrap();
    child.process.wait().unwrap();
    // The guardian notices the closed pipe and cleans up on its own; give it time.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !gone(&child.base, child.pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!process_alive(child.pid), "postmaster {} survived its killed owner", child.pid);
    assert!(!child.base.exists(), "{} survived its killed owner", child.base.display());
}
