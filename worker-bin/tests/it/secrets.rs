//! Secrets never leave the process: a database password and an index token, unique strings,
//! go through the worker's every path (publish, jobs that succeed and fail, listings, bad
//! URLs, an unreachable database), and no byte of stdout, stderr, the JSON logs or the job
//! table holds either.

use std::process::{Command, Output, Stdio};

use diesel::{Connection as _, RunQueryDsl as _};
use index_git::testing::UpstreamIndex;
use queue_diesel::testing::TestDatabase;

fn unique(prefix: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}{}x{nanos}", std::process::id())
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

#[test]
fn no_password_or_token_reaches_any_output_or_the_job_table() {
    let password = unique("Pw-Secret-");
    let token = unique("Tok-Secret-");
    let db = TestDatabase::new();
    // The test cluster trusts local connections, so the password is accepted and ignored.
    let database_url =
        db.url().replacen("postgres://postgres@", &format!("postgres://postgres:{password}@"), 1);
    assert!(database_url.contains(&password), "{}", db.url());
    let mut upstream = UpstreamIndex::new();
    let served = upstream.serve();
    let index_url = served.replacen("git://", &format!("git://bot:{token}@"), 1);
    let dir = tempfile::tempdir().unwrap();
    let package = crate::cargo_package(dir.path());

    let mut outputs: Vec<(String, Output)> = Vec::new();
    let worker = |args: &[&str], database_url: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_registry-worker"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--log-format", "json"])
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("INDEX_URL", &index_url)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (format!("{args:?}"), output)
    };
    let publish = worker(&["publish", package.to_str().unwrap()], &database_url);
    assert!(publish.1.status.success(), "{}", String::from_utf8_lossy(&publish.1.stderr));
    outputs.push(publish);
    let run = worker(&["run", "--until-empty"], &database_url);
    assert!(run.1.status.success(), "{}", String::from_utf8_lossy(&run.1.stderr));
    outputs.push(run);
    assert!(
        upstream.read_file("he/ll/hello-index").is_some(),
        "the job pushed over the URL with credentials"
    );

    // The remote refuses pushes: the next job fails and its error is stored.
    upstream.refuse_pushes(true);
    let second = crate::cargo_package_version(dir.path(), "0.2.0");
    outputs.push(worker(&["publish", second.to_str().unwrap()], &database_url));
    let failed_run = worker(&["run", "--until-empty"], &database_url);
    assert_eq!(failed_run.1.status.code(), Some(1), "a run with a failed job exits 1");
    let stderr = String::from_utf8_lossy(&failed_run.1.stderr).into_owned();
    assert!(
        stderr.contains("(index_publish)") && stderr.contains("rejected"),
        "names the job: {stderr}"
    );
    outputs.push(failed_run);
    outputs.push(worker(&["jobs", "list"], &database_url));
    let listed = worker(&["jobs", "list", "--json"], &database_url);
    let text = String::from_utf8_lossy(&listed.1.stdout).into_owned();
    assert!(text.contains("rejected"), "the failure was recorded: {text}");
    assert!(
        text.contains("bot:***@") || text.contains("***@"),
        "the URL is shown redacted: {text}"
    );
    outputs.push(listed);
    outputs.push(worker(&["reconcile"], &database_url));

    // Bad and unreachable databases.
    let typo = format!("postgress://registry:{password}@db/x");
    let failed = worker(&["migrate"], &typo);
    assert!(!failed.1.status.success());
    assert!(String::from_utf8_lossy(&failed.1.stderr).contains("postgress://***@db/x"));
    outputs.push(failed);
    let unreachable = format!("postgres://registry:{password}@127.0.0.1:9/x?password={password}");
    let failed = worker(&["migrate"], &unreachable);
    assert!(!failed.1.status.success());
    outputs.push(failed);
    outputs.push(worker(&["--help"], &database_url));

    for (args, output) in &outputs {
        for stream in [&output.stdout, &output.stderr] {
            let text = String::from_utf8_lossy(stream);
            for secret in [&password, &token] {
                assert!(!text.contains(secret.as_str()), "{args} printed a secret:\n{text}");
            }
        }
    }
    let mut conn = diesel::PgConnection::establish(db.url()).unwrap();
    let rows: Vec<Text> =
        diesel::sql_query("SELECT row_to_json(j)::text AS text FROM background_jobs j")
            .load(&mut conn)
            .unwrap();
    assert!(!rows.is_empty(), "the failed job is still queued");
    for row in rows {
        for secret in [&password, &token] {
            assert!(
                !row.text.contains(secret.as_str()),
                "the job table holds a secret: {}",
                row.text
            );
        }
    }
}

/// A real remote whose default branch is `main`: the worker follows its `HEAD`, and an
/// explicit branch the remote lacks is an error that names the branches it has.
#[test]
fn the_worker_follows_a_main_branch_and_refuses_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("index.git");
    let config =
        index_git::IndexConfig { dl: "https://dl.example/{crate}/{version}".into(), api: None };
    index_git::create_index(&remote, "main", &config).unwrap();
    let package = crate::cargo_package(dir.path());
    let worker = |args: &[&str], branch: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_registry-worker"));
        cmd.arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(args)
            .env_remove("DATABASE_URL")
            .env("INDEX_URL", format!("file://{}", remote.display()))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        match branch {
            Some(branch) => cmd.env("INDEX_BRANCH", branch),
            None => cmd.env_remove("INDEX_BRANCH"),
        };
        cmd.output().unwrap()
    };
    assert!(worker(&["publish", package.to_str().unwrap()], None).status.success());
    let run = worker(&["run", "--until-empty"], None);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let show = Command::new("git")
        .arg("--git-dir")
        .arg(&remote)
        .args(["show", "main:he/ll/hello-index"])
        .output()
        .unwrap();
    assert!(show.status.success(), "the crate is on main");
    let branches = Command::new("git")
        .arg("--git-dir")
        .arg(&remote)
        .args(["for-each-ref", "--format=%(refname)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&branches.stdout).trim(), "refs/heads/main");
    let check = worker(&["reconcile"], None);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));

    let wrong = worker(&["reconcile"], Some("master"));
    assert_eq!(wrong.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("has no branch \"master\" (it has: main)"), "{stderr}");
}
