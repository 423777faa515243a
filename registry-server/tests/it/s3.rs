//! The crate store and the sparse index in a real S3-compatible server.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::http_api::{body, crate_file, metadata, publish};
use crate::support::{client, Cargo, S3Server, Server};

fn env<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Waits until the object `key` satisfies `ready`.
fn wait_for_object(s3: &S3Server, key: &str, ready: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = String::from_utf8_lossy(&s3.object(key).unwrap_or_default()).into_owned();
        if ready(&text) {
            return;
        }
        assert!(Instant::now() < deadline, "the object {key} never became ready: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cargo_publishes_into_the_bucket_and_builds_through_the_proxying_server() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let vars = s3.env("reg");
    let server = Server::start_in(&dir.path().join("data"), &[], &env(&vars));
    let alice = server.token("alice");
    let cargo = Cargo::new(&format!("sparse+{}/index/", server.url));

    cargo.publish_alpha("0.1.0", &alice);
    // Both the .crate and the index file are objects in the bucket, and nothing on disk.
    let stored = s3.object("reg/crates/alpha/0.1.0.crate").expect("the .crate object");
    assert_eq!(&stored[..2], &[0x1f, 0x8b], "a gzip stream");
    wait_for_object(&s3, "reg/index/al/ph/alpha", |t| t.contains("\"vers\":\"0.1.0\""));
    assert!(!dir.path().join("data/crates").exists());
    assert!(!dir.path().join("data/sparse-index").exists());

    let (app, out) = cargo.build_app(None);
    assert!(out.contains("Downloaded alpha v0.1.0"), "{out}");

    cargo.ok(&app, &["yank", "--registry", "local", "alpha", "--version", "0.1.0"], Some(&alice));
    wait_for_object(&s3, "reg/index/al/ph/alpha", |t| t.contains("\"yanked\":true"));
}

#[test]
fn with_a_public_url_cargo_reads_the_index_and_downloads_from_the_bucket() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut vars = s3.env("pub");
    let public = format!("{}/{}/pub", s3.endpoint(), s3.bucket);
    vars.push(("PUBLIC_URL", public.clone()));
    let server = Server::start_in(&dir.path().join("data"), &[], &env(&vars));
    let alice = server.token("alice");
    // cargo never asks the server for the index or a download: only the API.
    let cargo = Cargo::new(&format!("sparse+{public}/index/"));
    let config: serde_json::Value =
        serde_json::from_slice(&s3.object("pub/index/config.json").expect("config.json"))
            .expect("JSON");
    assert_eq!(config["api"], serde_json::json!(server.url));
    assert_eq!(
        config["dl"],
        serde_json::json!(format!("{public}/crates/{{crate}}/{{version}}.crate"))
    );

    cargo.publish_alpha("0.1.0", &alice);
    let (_, out) = cargo.build_app(None);
    assert!(out.contains("Downloaded alpha v0.1.0"), "{out}");
}

#[test]
fn a_publish_while_the_bucket_is_down_fails_cleanly_and_records_nothing() {
    let mut s3 = S3Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let vars = s3.env("down");
    let server = Server::start_in(&dir.path().join("data"), &[], &env(&vars));
    let alice = server.token("alice");
    let cargo = Cargo::new(&format!("sparse+{}/index/", server.url));
    let alpha = cargo.write_crate("alpha", "0.1.0", "", "pub fn one() -> u32 {\n    1\n}\n");
    let publish_args = ["publish", "--registry", "local", "--allow-dirty", "--no-verify"];

    s3.kill();
    // cargo asks the index first: the server says the storage is down.
    let err = cargo.fails(&alpha, &publish_args, Some(&alice));
    assert!(err.contains("file storage is unavailable"), "{err}");
    // The upload itself: refused, and nothing recorded.
    let (status, text) = publish(
        &server,
        Some(&alice),
        body(&metadata("alpha", "0.1.0"), &crate_file("alpha", "0.1.0", "")),
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(
        text.contains("file storage is unavailable while publishing; nothing was recorded"),
        "{text}"
    );
    let found: serde_json::Value = client()
        .get(format!("{}/api/v1/crates?q=alpha", server.url))
        .send()
        .expect("search")
        .json()
        .expect("JSON");
    assert_eq!(found["meta"]["total"], 0, "a version was recorded without its file: {found}");

    // Back up: the same publish goes through.
    s3.restart();
    let out = cargo.ok(&alpha, &publish_args, Some(&alice));
    assert!(out.contains("Published alpha v0.1.0"), "{out}");
    assert!(s3.object("down/crates/alpha/0.1.0.crate").is_some());
    assert_eq!(server.get("/api/v1/crates/alpha/0.1.0/download", None).status(), StatusCode::OK);
}

/// As on two machines: two servers with their own data directories, one PostgreSQL
/// database and one bucket. Each runs an index worker; cargo publishes through one and
/// builds through the other.
#[test]
fn two_servers_on_one_database_and_one_bucket_serve_each_others_crates() {
    let s3 = S3Server::start();
    let db = queue_diesel::testing::TestDatabase::new();
    let mut vars = s3.env("shared");
    vars.push(("DATABASE_URL", db.url().to_owned()));
    vars.push(("GIT_INDEX", "false".into()));
    let (one, two) =
        (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let first = Server::start_in(&one.path().join("data"), &[], &env(&vars));
    let second = Server::start_in(&two.path().join("data"), &[], &env(&vars));
    let alice = first.token("alice");

    Cargo::new(&format!("sparse+{}/index/", first.url)).publish_alpha("0.1.0", &alice);
    let building = Cargo::new(&format!("sparse+{}/index/", second.url));
    let (app, out) = building.build_app(None);
    assert!(out.contains("Downloaded alpha v0.1.0"), "{out}");
    // Yanked through the second, seen through the first.
    building.ok(
        &app,
        &["yank", "--registry", "local", "alpha", "--version", "0.1.0"],
        Some(&alice),
    );
    first.wait_for_index("al/ph/alpha", |t| t.contains("\"yanked\":true"));
}
