//! Tests that run the built `registry-worker` binary.
#![allow(clippy::unwrap_used)]

mod secrets;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn worker(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_registry-worker"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("INDEX_URL")
        .env("RUST_LOG", "warn");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn index_file(data_dir: &Path, path: &str) -> Option<String> {
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(data_dir.join("index.git"))
        .args(["show", &format!("master:{path}")])
        .output()
        .unwrap();
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn demo_builds_a_registry_and_can_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let first = run(worker(&data).arg("demo"));
    assert!(first.status.success(), "{}{}", stdout(&first), String::from_utf8_lossy(&first.stderr));
    let text = stdout(&first);
    assert!(text.contains("Reconciled: the index matches the database."), "{text}");
    assert!(text.contains("[registries.demo]"), "{text}");
    let index_url =
        format!("index = \"file://{}\"", data.canonicalize().unwrap().join("index.git").display());
    assert!(text.contains(&index_url), "prints the exact config lines: {text}");
    let core = index_file(&data, "de/mo/demo-core").unwrap();
    let parsed = crates_index::Crate::from_slice(core.as_bytes()).unwrap();
    let yanked: Vec<bool> = parsed.versions().iter().map(|v| v.is_yanked()).collect();
    assert_eq!(yanked, [true, false]);
    let store = data.canonicalize().unwrap().join("crates/demo-app/1.0.0.crate");
    assert!(store.is_file(), "the .crate file is where config.json's dl points");

    let second = run(worker(&data).arg("demo"));
    assert!(
        second.status.success(),
        "{}{}",
        stdout(&second),
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(stdout(&second).contains("was published before"));
}

pub(crate) fn cargo_package(dir: &Path) -> std::path::PathBuf {
    cargo_package_version(dir, "0.1.0")
}

/// `cargo package` of the crate `hello-index` at `version`.
pub(crate) fn cargo_package_version(dir: &Path, version: &str) -> std::path::PathBuf {
    let root = dir.join(format!("hello-index-{version}"));
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("Cargo.toml"), format!("[package]\nname = \"hello-index\"\nversion = \"{version}\"\nedition = \"2021\"\nlicense = \"MIT\"\ndescription = \"x\"\n")).unwrap();
    std::fs::write(root.join("src/lib.rs"), "pub fn hello() {}\n").unwrap();
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["package", "--no-verify", "--allow-dirty", "--offline", "--quiet"])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    root.join(format!("target/package/hello-index-{version}.crate"))
}

#[test]
fn publish_then_run_until_empty_updates_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = cargo_package(dir.path());
    let published = run(worker(&data).arg("publish").arg(&file));
    assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
    insta::assert_snapshot!(stdout(&published), @"published hello-index 0.1.0; queued index job 1");
    assert_eq!(
        index_file(&data, "he/ll/hello-index"),
        None,
        "publish returns without touching git"
    );

    let listed = run(worker(&data).args(["jobs", "list", "--json"]));
    let jobs: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(jobs[0]["job_type"], "index_publish");
    assert_eq!(jobs[0]["data"], serde_json::json!({"crate": "hello-index", "version": "0.1.0"}));

    let drained = run(worker(&data).args(["run", "--until-empty"]));
    assert!(drained.status.success(), "{}", String::from_utf8_lossy(&drained.stderr));
    let text = index_file(&data, "he/ll/hello-index").unwrap();
    crates_index::Crate::from_slice(text.as_bytes()).unwrap();
    assert!(stdout(&run(worker(&data).args(["jobs", "list"]))).contains("no pending jobs"));

    let again = run(worker(&data).arg("publish").arg(&file));
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("hello-index 0.1.0 already exists"));
}

#[test]
fn reconcile_exits_1_on_differences_until_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = cargo_package(dir.path());
    assert!(run(worker(&data).arg("publish").arg(&file)).status.success());
    let check = run(worker(&data).arg("reconcile"));
    assert_eq!(check.status.code(), Some(1), "the job has not run: the file is missing");
    assert!(
        stdout(&check).contains(r#"{"kind":"missing_file","krate":"hello-index"}"#),
        "{}",
        stdout(&check)
    );
    assert!(run(worker(&data).args(["reconcile", "--repair"])).status.success());
    assert!(run(worker(&data).arg("reconcile")).status.success());
}

#[test]
fn usage_and_operation_errors_have_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_eq!(run(worker(&data).arg("no-such-command")).status.code(), Some(2));
    assert_eq!(run(worker(&data).args(["jobs", "retry", "not-a-number"])).status.code(), Some(2));
    for workers in ["0", "257", "18446744073709551616"] {
        let refused = run(worker(&data).args(["run", "--until-empty", "--workers", workers]));
        assert_eq!(refused.status.code(), Some(2), "--workers {workers}");
        assert!(String::from_utf8_lossy(&refused.stderr).contains("--workers"));
    }
    let missing = run(worker(&data).args(["jobs", "delete", "999"]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("job 999 does not exist"));
    let unknown = run(worker(&data).args(["yank", "nope", "1.0.0"]));
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("crate nope does not exist"));
    let bad_db = run(worker(&data).args(["--database-url", "mysql://x/y", "migrate"]));
    assert_eq!(bad_db.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_db.stderr)
        .contains("unsupported database URL \"mysql://x/y\""));
}

#[test]
fn sigterm_lets_the_running_job_finish_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = cargo_package(dir.path());
    assert!(run(worker(&data).arg("migrate")).status.success());
    // A slow remote: the push waits in a hook, so the job is running when SIGTERM comes.
    let started = dir.path().join("push-started");
    let hook = data.join("index.git/hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, format!("#!/bin/sh\ntouch '{}'\nsleep 2\nexit 0\n", started.display()))
        .unwrap();
    Command::new("chmod").arg("+x").arg(&hook).status().unwrap();

    let mut child = worker(&data).args(["run"]).stdin(Stdio::null()).spawn().unwrap();
    assert!(run(worker(&data).arg("publish").arg(&file)).status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(started.exists(), "the worker started the job");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a graceful shutdown exits 0");
    assert!(
        index_file(&data, "he/ll/hello-index").is_some(),
        "the running job finished before the exit"
    );
    assert!(stdout(&run(worker(&data).args(["jobs", "list"]))).contains("no pending jobs"));
}

/// The real client against the demo registry: cargo resolves, downloads and builds from
/// it, and refuses the yanked version.
#[test]
fn cargo_builds_against_the_demo_registry_and_refuses_the_yanked_version() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    assert!(run(worker(&data).arg("demo")).status.success());
    let index = format!("file://{}", data.canonicalize().unwrap().join("index.git").display());
    let consumer = dir.path().join("consumer");
    std::fs::create_dir_all(consumer.join("src")).unwrap();
    std::fs::create_dir_all(consumer.join(".cargo")).unwrap();
    std::fs::write(
        consumer.join(".cargo/config.toml"),
        format!("[registries.demo]\nindex = \"{index}\"\n"),
    )
    .unwrap();
    let manifest = "[package]\nname = \"consumer\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ndemo-app = { version = \"1\", registry = \"demo\" }\n";
    std::fs::write(consumer.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(
        consumer.join("src/lib.rs"),
        "pub fn answer() -> u32 {\n    demo_app::run()\n}\n",
    )
    .unwrap();
    let cargo = || {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(&consumer)
            .env("CARGO_HOME", dir.path().join("cargo-home"))
            .env("CARGO_TARGET_DIR", consumer.join("target"))
            .env_remove("RUSTFLAGS");
        cmd
    };
    let built = run(cargo().args(["build", "--quiet"]));
    assert!(built.status.success(), "cargo build: {}", String::from_utf8_lossy(&built.stderr));
    let tree = run(cargo().args(["tree", "--prefix", "none"]));
    let tree = stdout(&tree);
    assert!(tree.contains("demo-core v0.2.0"), "the unyanked newest version is used: {tree}");
    assert!(tree.contains("demo-json v0.1.0"), "the unyanked version resolves: {tree}");

    std::fs::write(
        consumer.join("Cargo.toml"),
        format!("{manifest}old = {{ package = \"demo-core\", version = \"=0.1.0\", registry = \"demo\" }}\n"),
    )
    .unwrap();
    let refused = run(cargo().args(["build", "--quiet"]));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("version 0.1.0 is yanked"), "{stderr}");
}

/// A worker killed mid-job leaves its SQLite lease behind: `run --until-empty` waits for it
/// to lapse and runs the job, instead of calling a queue empty that still holds it.
#[test]
fn until_empty_waits_for_the_lease_of_a_dead_worker() {
    use diesel::{Connection as _, RunQueryDsl as _};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = cargo_package(dir.path());
    let published = run(worker(&data).arg("publish").arg(&file));
    assert!(published.status.success(), "{}", String::from_utf8_lossy(&published.stderr));
    // What a SIGKILLed worker leaves: a lease two seconds from now, and no one to extend it.
    let mut conn =
        diesel::SqliteConnection::establish(&data.join("registry.sqlite3").to_string_lossy())
            .unwrap();
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros()
            as i64;
    let leased = diesel::sql_query(format!(
        "UPDATE background_jobs SET lock_token = 42, claimed_at = {now}, locked_until = {}",
        now + 2_000_000
    ))
    .execute(&mut conn)
    .unwrap();
    assert_eq!(leased, 2, "the git and the sparse index job");

    let drained = run(worker(&data).args(["run", "--until-empty", "--sqlite-lease", "2"]));
    assert!(drained.status.success(), "{}", String::from_utf8_lossy(&drained.stderr));
    assert_eq!(stdout(&drained), "ran 2 jobs (0 failed runs)\n");
    assert!(index_file(&data, "he/ll/hello-index").is_some(), "the leased job ran");
    assert!(data.join("sparse-index/he/ll/hello-index").is_file(), "and the sparse one");
    assert!(stdout(&run(worker(&data).args(["jobs", "list"]))).contains("no pending jobs"));
}

/// A worker paused (SIGSTOP) past its SQLite lease: another worker takes the job over and
/// completes it; the paused one, once resumed, records nothing and says so in its log.
#[test]
fn a_worker_paused_past_its_lease_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = cargo_package(dir.path());
    assert!(run(worker(&data).arg("publish").arg(&file)).status.success());
    // The push waits in the remote's hook until the test lets it go.
    let (started, release) = (dir.path().join("push-started"), dir.path().join("release"));
    let hook = data.join("index.git/hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ntouch '{}'\nwhile [ ! -e '{}' ]; do sleep 0.05; done\nexit 0\n",
            started.display(),
            release.display()
        ),
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&hook).status().unwrap();

    let log = dir.path().join("paused.log");
    let mut paused = worker(&data)
        .args(["run", "--sqlite-lease", "1"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("paused.err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(started.exists(), "the worker started the job");
    let signal = |name: &str| {
        let sent = Command::new("kill").args([name, &paused.id().to_string()]).status().unwrap();
        assert!(sent.success());
    };
    signal("-STOP");
    std::thread::sleep(Duration::from_millis(2500));
    std::fs::write(&release, "").unwrap();

    let other = run(worker(&data).args(["run", "--until-empty", "--sqlite-lease", "1"]));
    assert!(other.status.success(), "{}", String::from_utf8_lossy(&other.stderr));
    // The git job, taken over; and the sparse index job, unless the paused worker ran it
    // before it was stopped.
    let ran = stdout(&other);
    assert!(
        ran == "ran 1 jobs (0 failed runs)\n" || ran == "ran 2 jobs (0 failed runs)\n",
        "the lapsed job was taken over: {ran}"
    );

    signal("-CONT");
    let logged = |text: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let all = std::fs::read_to_string(&log).unwrap_or_default()
                + &std::fs::read_to_string(dir.path().join("paused.err")).unwrap_or_default();
            if all.contains(text) {
                return all;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the resumed worker never logged {text:?}")
    };
    let all = logged("were not recorded");
    assert!(all.contains("lease ran out"), "{all}");
    signal("-TERM");
    assert_eq!(paused.wait().unwrap().code(), Some(0));
    let text = index_file(&data, "he/ll/hello-index").unwrap();
    assert_eq!(text.lines().count(), 1, "published once: {text}");
    assert!(stdout(&run(worker(&data).args(["jobs", "list"]))).contains("no pending jobs"));
}
