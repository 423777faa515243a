//! The Web API with crafted requests: malformed and oversized publish bodies, metadata
//! that lies about the archive, name collisions, conditional index requests and a private
//! registry.

use std::time::Duration;

use index_git::CrateName;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{client, Server};

/// A `.crate` archive with a manifest for `name` `vers` and `manifest_tail`.
pub(crate) fn crate_file(name: &str, vers: &str, manifest_tail: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("x.crate");
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"{vers}\"\nedition = \"2021\"\n{manifest_tail}"
    );
    registry_jobs::write_crate_archive(
        &path,
        &CrateName::new(name).expect("name"),
        &semver::Version::parse(vers).expect("version"),
        &[("Cargo.toml", &manifest), ("src/lib.rs", "")],
    )
    .expect("writing the archive");
    std::fs::read(&path).expect("reading the archive")
}

pub(crate) fn metadata(name: &str, vers: &str) -> Value {
    json!({ "name": name, "vers": vers, "deps": [], "features": {}, "description": "crafted", "links": null })
}

pub(crate) fn body(metadata: &Value, crate_bytes: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(metadata).expect("json");
    let mut body = Vec::new();
    body.extend_from_slice(&(json.len() as u32).to_le_bytes());
    body.extend_from_slice(&json);
    body.extend_from_slice(&(crate_bytes.len() as u32).to_le_bytes());
    body.extend_from_slice(crate_bytes);
    body
}

pub(crate) fn publish(server: &Server, token: Option<&str>, body: Vec<u8>) -> (StatusCode, String) {
    let mut request = client().put(format!("{}/api/v1/crates/new", server.url)).body(body);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let response = request.send().expect("PUT");
    let status = response.status();
    let text = response.text().unwrap_or_default();
    (status, text)
}

/// Publishes version `vers` of `name`, a crate with nothing in it, and checks it was
/// accepted.
fn publish_plain(server: &Server, token: &str, name: &str, vers: &str) {
    let (status, text) =
        publish(server, Some(token), body(&metadata(name, vers), &crate_file(name, vers, "")));
    assert_eq!(status, StatusCode::OK, "{text}");
}

/// The `detail` of an error body.
fn detail(text: &str) -> String {
    let value: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    value["errors"][0]["detail"].as_str().unwrap_or_else(|| panic!("no detail: {text}")).to_owned()
}

#[test]
fn malformed_and_oversized_bodies_get_their_own_status_and_record_nothing() {
    let server = Server::start(&["--max-upload-size", "4096"]);
    let token = server.token("alice");
    let good = crate_file("sound", "1.0.0", "");
    let meta = metadata("sound", "1.0.0");

    // Shorter than its first length.
    let (status, text) = publish(&server, Some(&token), vec![1, 0]);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(detail(&text).contains("the body ends 2 bytes in"), "{text}");

    // A JSON length that overruns the body.
    let mut overrun = body(&meta, &good);
    let too_long = (overrun.len() as u32 * 2).to_le_bytes();
    overrun[0..4].copy_from_slice(&too_long);
    let (status, text) = publish(&server, Some(&token), overrun);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(detail(&text).contains("inside the JSON metadata"), "{text}");

    // A JSON length over the limit is refused before its bytes are read.
    let (status, text) = publish(&server, Some(&token), (u32::MAX).to_le_bytes().to_vec());
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(detail(&text).contains("at most 1048576"), "{text}");

    // Not JSON.
    let mut not_json = b"{nope".to_vec();
    let mut raw = (not_json.len() as u32).to_le_bytes().to_vec();
    raw.append(&mut not_json);
    raw.extend_from_slice(&0u32.to_le_bytes());
    let (status, text) = publish(&server, Some(&token), raw);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(detail(&text).contains("not the JSON cargo sends"), "{text}");

    // A .crate length over --max-upload-size.
    let big = vec![0u8; 5000];
    let (status, text) = publish(&server, Some(&token), body(&meta, &big));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        detail(&text).contains("the .crate file is 5000 bytes; this registry accepts at most 4096"),
        "{text}"
    );

    // Bytes past the announced .crate.
    let mut trailing = body(&meta, &good);
    trailing.extend_from_slice(b"junk");
    let (status, text) = publish(&server, Some(&token), trailing);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(detail(&text).contains("goes on past the .crate file"), "{text}");

    // Not a gzipped tar.
    let (status, text) = publish(&server, Some(&token), body(&meta, b"definitely not gzip"));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail(&text).contains("the .crate file is not valid"), "{text}");

    // Nothing above was recorded; the well-formed one is.
    assert_eq!(
        server.get("/api/v1/crates?q=sound", None).json::<Value>().expect("json")["meta"]["total"],
        0
    );
    let (status, text) = publish(&server, Some(&token), body(&meta, &good));
    assert_eq!(status, StatusCode::OK, "{text}");
    let value: Value = serde_json::from_str(&text).expect("json");
    assert!(value["warnings"].is_object(), "{text}");
}

#[test]
fn metadata_that_disagrees_with_the_manifest_is_refused() {
    let server = Server::start(&[]);
    let token = server.token("alice");

    // The archive is another crate's.
    let (status, text) = publish(
        &server,
        Some(&token),
        body(&metadata("liar", "1.0.0"), &crate_file("honest", "1.0.0", "")),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");

    // The same archive, metadata hiding a dependency the manifest has.
    let with_dep = crate_file("sneaky", "1.0.0", "\n[dependencies]\nevil = \"1\"\n");
    let (status, text) =
        publish(&server, Some(&token), body(&metadata("sneaky", "1.0.0"), &with_dep));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    let detail = detail(&text);
    assert!(
        detail.contains("disagrees with Cargo.toml inside the .crate file on the dependencies"),
        "{detail}"
    );
    assert!(detail.contains("evil (normal)"), "{detail}");

    // Features the manifest does not have.
    let mut meta = metadata("featured", "1.0.0");
    meta["features"] = json!({ "extra": [] });
    let (status, text) =
        publish(&server, Some(&token), body(&meta, &crate_file("featured", "1.0.0", "")));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("on the features"), "{text}");
}

#[test]
fn tokens_owners_versions_and_names_are_checked() {
    let server = Server::start(&[]);
    let alice = server.token("alice");
    let bob = server.token("bob");
    let file = crate_file("foo-bar", "1.0.0", "");
    let meta = metadata("foo-bar", "1.0.0");

    let (status, text) = publish(&server, None, body(&meta, &file));
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(detail(&text).contains("needs an API token"), "{text}");
    let (status, text) = publish(&server, Some("rgt_forged"), body(&meta, &file));
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(detail(&text).contains("not valid for this registry"), "{text}");

    let (status, text) = publish(&server, Some(&alice), body(&meta, &file));
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) = publish(&server, Some(&alice), body(&meta, &file));
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(detail(&text).contains("foo-bar 1.0.0 already exists"), "{text}");

    // The same canonical name, another spelling.
    let (status, text) = publish(
        &server,
        Some(&alice),
        body(&metadata("foo_bar", "2.0.0"), &crate_file("foo_bar", "2.0.0", "")),
    );
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(detail(&text).contains("clashes with the existing crate \"foo-bar\""), "{text}");

    // Only owners publish.
    let (status, text) = publish(
        &server,
        Some(&bob),
        body(&metadata("foo-bar", "1.1.0"), &crate_file("foo-bar", "1.1.0", "")),
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(detail(&text).contains("\"bob\" is not an owner of crate foo-bar"), "{text}");

    // Yank of what does not exist.
    let response = client()
        .delete(format!("{}/api/v1/crates/foo-bar/9.9.9/yank", server.url))
        .header("Authorization", &alice)
        .send()
        .expect("DELETE");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // The last owner stays.
    let response = client()
        .delete(format!("{}/api/v1/crates/foo-bar/owners", server.url))
        .header("Authorization", &alice)
        .json(&json!({ "users": ["alice"] }))
        .send()
        .expect("DELETE owners");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().unwrap_or_default().contains("must keep at least one owner"));

    // Download.
    let response = server.get("/api/v1/crates/foo-bar/1.0.0/download", None);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().expect("bytes").as_ref(), file.as_slice());
    assert_eq!(
        server.get("/api/v1/crates/foo-bar/3.0.0/download", None).status(),
        StatusCode::NOT_FOUND
    );
}

#[test]
fn the_sparse_index_answers_conditional_requests_and_serves_nothing_else() {
    let server = Server::start(&[]);
    let token = server.token("alice");
    publish_plain(&server, &token, "cond", "1.0.0");
    server.wait_for_index("co/nd/cond", |t| t.contains("\"vers\":\"1.0.0\""));

    let first = server.get("/index/co/nd/cond", None);
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().expect("etag").to_owned();
    let modified = first.headers()["last-modified"].to_str().expect("last-modified").to_owned();
    let again = client()
        .get(format!("{}/index/co/nd/cond", server.url))
        .header("If-None-Match", &etag)
        .send()
        .expect("GET");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let again = client()
        .get(format!("{}/index/co/nd/cond", server.url))
        .header("If-Modified-Since", &modified)
        .send()
        .expect("GET");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let stale = client()
        .get(format!("{}/index/co/nd/cond", server.url))
        .header("If-None-Match", "\"other\"")
        .send()
        .expect("GET");
    assert_eq!(stale.status(), StatusCode::OK);

    // A change is a new ETag.
    std::thread::sleep(Duration::from_millis(10));
    publish_plain(&server, &token, "cond", "1.1.0");
    server.wait_for_index("co/nd/cond", |t| t.contains("\"vers\":\"1.1.0\""));
    let changed = client()
        .get(format!("{}/index/co/nd/cond", server.url))
        .header("If-None-Match", &etag)
        .send()
        .expect("GET");
    assert_eq!(changed.status(), StatusCode::OK);

    let config: Value = server.get("/index/config.json", None).json().expect("config.json");
    assert_eq!(config["api"], json!(server.url));
    assert_eq!(config["dl"], json!(format!("{}/api/v1/crates", server.url)));

    for path in [
        "/index/../registry.sqlite3",
        "/index/%2e%2e/registry.sqlite3",
        "/index/4/co/cond",
        "/index/CO/ND/cond",
        "/index/nope/../../etc/passwd",
    ] {
        assert_eq!(server.get(path, None).status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(server.get("/index/no/ne/nonexistent", None).status(), StatusCode::NOT_FOUND);
}

#[test]
fn a_private_registry_wants_a_token_for_the_index_and_downloads() {
    let server = Server::start(&["--auth-required"]);
    let token = server.token("alice");
    let config = server.get("/index/config.json", None);
    assert_eq!(config.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(config.headers()["www-authenticate"], "Cargo");
    let config: Value = server.get("/index/config.json", Some(&token)).json().expect("config.json");
    assert_eq!(config["auth-required"], json!(true));
    assert_eq!(
        server.get("/index/config.json", Some("rgt_forged")).status(),
        StatusCode::FORBIDDEN
    );

    publish_plain(&server, &token, "secret", "1.0.0");
    server.wait_for_index_with("se/cr/secret", &token);
    assert_eq!(server.get("/index/se/cr/secret", None).status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.get("/api/v1/crates/secret/1.0.0/download", None).status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get("/api/v1/crates/secret/1.0.0/download", Some(&token)).status(),
        StatusCode::OK
    );
    assert_eq!(server.get("/api/v1/crates?q=sec", None).status(), StatusCode::FORBIDDEN);
}

#[test]
fn with_the_git_index_switched_off_only_the_sparse_index_is_written() {
    let server = Server::start(&["--git-index", "false"]);
    let token = server.token("alice");
    for vers in ["1.0.0", "1.1.0"] {
        publish_plain(&server, &token, "plain", vers);
    }
    let file = server.wait_for_index("pl/ai/plain", |t| t.contains("\"vers\":\"1.1.0\""));
    assert_eq!(file.lines().count(), 2, "{file}");
    assert!(!server.data_dir.join("index.git").exists(), "a git index was created");
    assert!(!server.data_dir.join("index-clone").exists(), "a git index was cloned");
}

#[test]
fn the_invalidation_hook_hears_of_every_index_file_the_jobs_write() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("invalidated.log");
    let hook = dir.path().join("invalidate.sh");
    std::fs::write(&hook, format!("#!/bin/sh\necho \"$1\" >> {}\n", log.display())).expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let hook = hook.display().to_string();
    let server =
        Server::start_in(&dir.path().join("data"), &[], &[("INVALIDATE_COMMAND", hook.as_str())]);
    let token = server.token("alice");
    publish_plain(&server, &token, "cdn", "1.0.0");
    server.wait_for_index("3/c/cdn", |t| t.contains("\"vers\":\"1.0.0\""));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().any(|l| l == "index/3/c/cdn") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hook never heard of index/3/c/cdn: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
