//! Two servers on one PostgreSQL database: cargo publishes through one, which runs no
//! workers, and builds through the other, whose in-process worker did the index jobs
//! (woken by the enqueue's `NOTIFY`).

use queue_diesel::testing::TestDatabase;

use crate::support::{Cargo, Server};

#[test]
fn servers_share_a_postgres_database_and_one_publishes_what_the_other_serves() {
    let db = TestDatabase::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let env = [("DATABASE_URL", db.url())];
    let worker = Server::start_in(&data_dir, &["--workers", "1"], &env);
    let front = Server::start_in(&data_dir, &["--workers", "0"], &env);
    let alice = front.token("alice");

    Cargo::new(&format!("sparse+{}/index/", front.url)).publish_alpha("0.1.0", &alice);
    let building = Cargo::new(&format!("sparse+{}/index/", worker.url));
    let (app, out) = building.build_app(None);
    assert!(out.contains("Downloaded alpha v0.1.0"), "{out}");
    // Downloaded from the building side's server: its config.json names it.
    let config: serde_json::Value =
        worker.get("/index/config.json", None).json().expect("config.json");
    assert_eq!(config["dl"], serde_json::json!(format!("{}/api/v1/crates", worker.url)));

    // The token works on both: one database.
    let out = building.ok(&app, &["owner", "--registry", "local", "--list", "alpha"], Some(&alice));
    assert!(out.lines().any(|l| l == "alice"), "{out}");
}
