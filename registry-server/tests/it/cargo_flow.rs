//! The real cargo against a freshly started server: publish, depend, build, yank, owners,
//! search, and the errors users see.

use crate::support::{Cargo, Server};

fn locked_versions(dir: &std::path::Path, name: &str) -> Vec<String> {
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).expect("Cargo.lock");
    let mut versions = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{name}\"") {
            if let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = ")) {
                versions.push(version.trim_matches('"').to_owned());
            }
        }
    }
    versions
}

const DEP_ON_ALPHA: &str =
    "\n[dependencies]\nalpha = { version = \"0.1\", registry = \"local\" }\n";

/// Publishes alpha and beta (depending on alpha), builds gamma on both, and runs the rest of
/// a crate's life through cargo, against one index protocol.
fn crate_life(server: &Server, cargo: &Cargo) {
    let alice = server.token("alice");
    let bob = server.token("bob");

    let alpha = cargo.write_crate("alpha", "0.1.0", "", "pub fn one() -> u32 {\n    1\n}\n");
    let out = cargo.ok(&alpha, &["publish", "--registry", "local", "--allow-dirty"], Some(&alice));
    assert!(out.contains("Published alpha v0.1.0"), "{out}");

    // Cargo resolves alpha from the index before it uploads beta: the worker has run.
    let beta = cargo.write_crate(
        "beta",
        "0.1.0",
        DEP_ON_ALPHA,
        "pub fn two() -> u32 {\n    alpha::one() * 2\n}\n",
    );
    let out = cargo.ok(&beta, &["publish", "--registry", "local", "--allow-dirty"], Some(&alice));
    assert!(out.contains("Published beta v0.1.0"), "{out}");

    // A third crate builds on both, downloading them from the server.
    let gamma = cargo.write_crate(
        "gamma",
        "0.1.0",
        "\n[dependencies]\nalpha = { version = \">=0.1\", registry = \"local\" }\n\
         beta = { version = \"0.1\", registry = \"local\" }\n",
        "pub fn three() -> u32 {\n    alpha::one() + beta::two()\n}\n",
    );
    let out = cargo.ok(&gamma, &["build"], Some(&alice));
    assert!(
        out.contains("Downloaded alpha v0.1.0") || out.contains("Downloaded beta v0.1.0"),
        "{out}"
    );
    assert_eq!(locked_versions(&gamma, "alpha"), ["0.1.0"]);

    // A new version, then yanked: resolution falls back to 0.1.0, and back after --undo.
    let alpha2 = cargo.write_crate("alpha", "0.2.0", "", "pub fn one() -> u32 {\n    1\n}\n");
    cargo.ok(
        &alpha2,
        &["publish", "--registry", "local", "--allow-dirty", "--no-verify"],
        Some(&alice),
    );
    // beta keeps alpha 0.1; gamma takes the newest.
    cargo.ok(&gamma, &["update"], Some(&alice));
    assert_eq!(locked_versions(&gamma, "alpha"), ["0.1.0", "0.2.0"]);

    cargo.ok(&gamma, &["yank", "--registry", "local", "alpha", "--version", "0.2.0"], Some(&alice));
    server.wait_for_index("al/ph/alpha", |t| {
        t.contains("\"vers\":\"0.2.0\"")
            && t.lines().nth(1).is_some_and(|l| l.contains("\"yanked\":true"))
    });
    std::fs::remove_file(gamma.join("Cargo.lock")).expect("removing Cargo.lock");
    cargo.ok(&gamma, &["generate-lockfile"], Some(&alice));
    assert_eq!(locked_versions(&gamma, "alpha"), ["0.1.0"]);

    cargo.ok(
        &gamma,
        &["yank", "--registry", "local", "alpha", "--version", "0.2.0", "--undo"],
        Some(&alice),
    );
    server.wait_for_index("al/ph/alpha", |t| {
        t.lines().nth(1).is_some_and(|l| l.contains("\"yanked\":false"))
    });
    cargo.ok(&gamma, &["update"], Some(&alice));
    assert_eq!(locked_versions(&gamma, "alpha"), ["0.1.0", "0.2.0"]);

    // Owners.
    let err = cargo.fails(
        &gamma,
        &["yank", "--registry", "local", "alpha", "--version", "0.1.0"],
        Some(&bob),
    );
    assert!(err.contains("user \"bob\" is not an owner of crate alpha"), "{err}");
    let alpha3 = cargo.write_crate("alpha", "0.3.0", "", "pub fn one() -> u32 {\n    1\n}\n");
    let err = cargo.fails(
        &alpha3,
        &["publish", "--registry", "local", "--allow-dirty", "--no-verify"],
        Some(&bob),
    );
    assert!(err.contains("is not an owner of crate alpha"), "{err}");
    let out =
        cargo.ok(&gamma, &["owner", "--registry", "local", "--add", "bob", "alpha"], Some(&alice));
    assert!(out.contains("bob now owns crate alpha"), "{out}");
    let out = cargo.ok(&gamma, &["owner", "--registry", "local", "--list", "alpha"], Some(&bob));
    assert_eq!(out.lines().filter(|l| *l == "alice" || *l == "bob").count(), 2, "{out}");
    cargo.ok(&gamma, &["owner", "--registry", "local", "--remove", "bob", "alpha"], Some(&alice));
    let out = cargo.ok(&gamma, &["owner", "--registry", "local", "--list", "alpha"], Some(&alice));
    assert!(!out.lines().any(|l| l == "bob"), "{out}");
    let err = cargo.fails(
        &gamma,
        &["owner", "--registry", "local", "--add", "carol", "alpha"],
        Some(&alice),
    );
    assert!(err.contains("user \"carol\" does not exist"), "{err}");

    // Search.
    let out = cargo.ok(&gamma, &["search", "--registry", "local", "alp"], None);
    assert!(out.contains("alpha = \"0.2.0\""), "{out}");
    assert!(out.contains("alpha, a test crate"), "{out}");
    assert!(!out.contains("beta ="), "{out}");

    // A wrong token, and no token at all.
    let err = cargo.fails(
        &gamma,
        &["yank", "--registry", "local", "alpha", "--version", "0.1.0"],
        Some("rgt_0000"),
    );
    assert!(err.contains("the API token is not valid for this registry"), "{err}");
    let err = cargo.fails(&gamma, &["owner", "--registry", "local", "--list", "alpha"], None);
    assert!(err.contains("no token found") || err.contains("needs an API token"), "{err}");
}

#[test]
fn cargo_publishes_builds_yanks_and_manages_owners_over_the_sparse_index() {
    let server = Server::start(&[]);
    let cargo = Cargo::new(&format!("sparse+{}/index/", server.url));
    crate_life(&server, &cargo);
}

#[test]
fn cargo_works_over_the_git_index_too() {
    let server = Server::start(&[]);
    let index = server.data_dir.join("index.git");
    let cargo = Cargo::new(&format!("file://{}", index.display()));
    let alice = server.token("alice");
    cargo.publish_alpha("0.1.0", &alice);
    let (app, _) = cargo.build_app(Some(&alice));
    assert_eq!(locked_versions(&app, "alpha"), ["0.1.0"]);
}
