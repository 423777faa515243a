//! Publishing real `.crate` files made by `cargo package`, and refusing bad ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use registry_jobs::{publish_crate_file, read_crate_file, CrateStore};

use crate::fixtures::{redact_pubtime, with_conn, Backend, Registry};

/// Writes a crate with `manifest` and an empty library, and runs `cargo package` on it,
/// offline (its dependencies are crates this workspace already uses, so they are cached).
fn cargo_package(dir: &Path, name: &str, manifest: &str) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(root.join("src/lib.rs"), "//! A test crate.\n").unwrap();
    std::fs::write(root.join("build.rs"), "fn main() {}\n").unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["package", "--no-verify", "--allow-dirty", "--offline", "--quiet"])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo package failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let package = std::fs::read_dir(root.join("target/package"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "crate"))
        .expect("cargo package wrote a .crate file");
    package
}

const RICH: &str = r#"
[package]
name = "rich-demo"
version = "0.3.1"
edition = "2021"
license = "MIT"
description = "A crate with every kind of dependency"
links = "richdemo"
rust-version = "1.70"

[dependencies]
serde = { version = "1.0", default-features = false, features = ["derive"] }
json = { package = "serde_json", version = "1", optional = true }
anyhow = { version = "1", optional = true }

[target.'cfg(unix)'.dependencies]
libc = "0.2"

[build-dependencies]
cc = "1"

[dev-dependencies]
tempfile = "3"

[features]
default = ["std"]
std = ["serde/std"]
json = ["dep:json"]
errors = ["anyhow?/std"]
full = ["json", "errors"]
"#;

#[test]
fn a_real_package_gives_the_index_line_crates_io_would_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = cargo_package(dir.path(), "rich-demo", RICH);
    let registry = Registry::new(Backend::Sqlite);
    let store = CrateStore::new(dir.path().join("store"));
    let published = with_conn!(registry, |conn| publish_crate_file(conn, &store, &file).unwrap());
    assert_eq!(published.name.as_str(), "rich-demo");
    assert!(published.job.is_some());
    let stored = store.path_of(&published.name, &published.vers);
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        std::fs::read(&file).unwrap(),
        "stored for download"
    );
    registry.drain();
    let text = registry.index_file("ri/ch/rich-demo").unwrap();
    insta::assert_snapshot!(redact_pubtime(&mask_cksum(&text)));
    let parsed = crates_index::Crate::from_slice(text.as_bytes()).unwrap();
    let version = &parsed.versions()[0];
    assert_eq!(version.version(), "0.3.1");
    assert!(version.features().contains_key("json"));
    let cksum = hex_sha256(&std::fs::read(&file).unwrap());
    assert!(text.contains(&format!("\"cksum\":\"{cksum}\"")), "the checksum is the file's SHA-256");
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The checksum depends on the archive's bytes (timestamps, cargo version): masked for the
/// snapshot and checked separately.
fn mask_cksum(text: &str) -> String {
    match text.find("\"cksum\":\"") {
        Some(at) => {
            let start = at + "\"cksum\":\"".len();
            format!("{}[sha256]{}", &text[..start], &text[start + 64..])
        }
        None => text.to_owned(),
    }
}

#[test]
fn archives_that_are_not_what_they_claim_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = cargo_package(
        dir.path(),
        "plain",
        "[package]\nname = \"plain\"\nversion = \"1.0.0\"\nedition = \"2021\"\n",
    );
    let renamed = dir.path().join("other-1.0.0.crate");
    std::fs::copy(&file, &renamed).unwrap();
    let err = read_crate_file(&renamed).unwrap_err().to_string();
    assert!(err.contains("entry plain-1.0.0/") && err.contains("is outside other-1.0.0/"), "{err}");

    let escaping = dir.path().join("evil-1.0.0.crate");
    write_tar_gz(&escaping, &[("evil-1.0.0/../../etc/passwd", b"x".as_slice())]);
    let err = read_crate_file(&escaping).unwrap_err().to_string();
    assert!(err.contains("escapes the archive root"), "{err}");

    let huge = dir.path().join("huge-1.0.0.crate");
    let manifest = format!(
        "[package]\nname = \"huge\"\nversion = \"1.0.0\"\n# {}\n",
        "x".repeat(2 * 1024 * 1024)
    );
    write_tar_gz(&huge, &[("huge-1.0.0/Cargo.toml", manifest.as_bytes())]);
    let err = read_crate_file(&huge).unwrap_err().to_string();
    assert!(
        err.contains("Cargo.toml is") && err.contains("more than the 1048576 allowed"),
        "{err}"
    );

    let lying = dir.path().join("liar-2.0.0.crate");
    write_tar_gz(
        &lying,
        &[(
            "liar-2.0.0/Cargo.toml",
            b"[package]\nname = \"liar\"\nversion = \"1.0.0\"\n".as_slice(),
        )],
    );
    let err = read_crate_file(&lying).unwrap_err().to_string();
    assert!(
        err.contains("the manifest says liar 1.0.0 but the file is named liar-2.0.0.crate"),
        "{err}"
    );
}

/// Writes a gzipped tar with raw entry names (so `..` can be written).
fn write_tar_gz(path: &Path, entries: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).unwrap();
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        let raw = &mut header.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}
