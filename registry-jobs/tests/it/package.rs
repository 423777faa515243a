//! Publishing real `.crate` files made by `cargo package`, and refusing bad ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use registry_jobs::{read_crate_file, CrateStore, PackageError, RegistryError};

use crate::fixtures::{redact_pubtime, Backend, Registry};

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
    let published = registry.database.publish_crate_file(&store, &file).unwrap();
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

/// The `PackageError` of a refused file.
fn refusal(path: &Path) -> PackageError {
    match read_crate_file(path) {
        Err(RegistryError::InvalidPackage { source, .. }) => source,
        other => panic!("expected InvalidPackage, got {other:?}"),
    }
}

/// A tar header of `kind` whose name is `name` and whose declared size is `size`.
fn raw_header(kind: tar::EntryType, name: &str, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    header
}

/// Writes a gzipped archive whose first member is a `kind` header declaring `size` bytes,
/// followed by that many zero bytes (which compress about 1000:1).
fn write_header_bomb(path: &Path, kind: tar::EntryType, size: u64) {
    use std::io::Write as _;
    let file = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    gz.write_all(raw_header(kind, "././@LongLink", size).as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len() as u64);
        gz.write_all(&zeros[..n as usize]).unwrap();
        left -= n;
    }
    gz.finish().unwrap();
}

/// The peak resident memory of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn header_bombs_are_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let four_gib = 4u64 << 30;
    for (kind, expected) in [
        (
            tar::EntryType::GNULongName,
            "a GNU long-name header of 4294967296 bytes is more than the 65536 allowed",
        ),
        (
            tar::EntryType::XHeader,
            "a PAX extension header of 4294967296 bytes is more than the 65536 allowed",
        ),
    ] {
        let path = dir.path().join("bomb-1.0.0.crate");
        write_header_bomb(&path, kind, four_gib);
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= 5 << 20, "the crafted archive is {size} bytes");
        // Parsed in a process of its own, so that no other test's memory counts.
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "package::parse_crate_file_in_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PARSE_CRATE_FILE", &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let growth: u64 = stdout
            .lines()
            .find_map(|l| l.split("peak-growth-kib=").nth(1))
            .unwrap_or_else(|| panic!("no measurement in {stdout}"))
            .trim()
            .parse()
            .unwrap();
        assert!(growth < 100 * 1024, "peak RSS grew by {growth} KiB");
        assert!(stdout.contains(expected), "{stdout}");
    }
}

/// Helper of `header_bombs_are_refused_in_bounded_memory`: parses the file
/// `PARSE_CRATE_FILE` names and prints the error and how much the peak RSS grew. Run
/// alone (without the variable) it checks that a valid archive parses.
#[test]
fn parse_crate_file_in_child() {
    match std::env::var_os("PARSE_CRATE_FILE") {
        Some(path) => {
            let before = peak_rss_kib();
            let result = read_crate_file(Path::new(&path));
            let after = peak_rss_kib();
            println!("peak-growth-kib={}", after - before);
            println!("result={:?}", result.as_ref().map(|(r, _)| &r.name));
            if let Err(err) = result {
                println!("error={err}");
            }
        }
        None => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("ok-1.0.0.crate");
            write_tar_gz(
                &path,
                &[("ok-1.0.0/Cargo.toml", b"[package]\nname = \"ok\"\nversion = \"1.0.0\"\n")],
            );
            assert_eq!(read_crate_file(&path).unwrap().0.name, "ok");
        }
    }
}

/// Writes a gzipped tar of raw headers and their data.
fn write_raw_tar_gz(path: &Path, members: &[(tar::Header, &[u8])]) {
    let file = std::fs::File::create(path).unwrap();
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
    for (header, data) in members {
        builder.append(header, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

const MANIFEST: &[u8] = b"[package]\nname = \"kinds\"\nversion = \"1.0.0\"\n";

#[test]
fn entries_other_than_files_and_directories_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kinds-1.0.0.crate");
    let manifest =
        raw_header(tar::EntryType::Regular, "kinds-1.0.0/Cargo.toml", MANIFEST.len() as u64);
    for (kind, what) in [
        (tar::EntryType::Symlink, "symbolic link"),
        (tar::EntryType::Link, "hard link"),
        (tar::EntryType::Char, "character device"),
        (tar::EntryType::Block, "block device"),
        (tar::EntryType::Fifo, "FIFO"),
        (tar::EntryType::GNUSparse, "sparse file"),
    ] {
        let mut special = raw_header(kind, "kinds-1.0.0/src/lib.rs", 0);
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            special.set_link_name("/etc/passwd").unwrap();
            special.set_cksum();
        }
        write_raw_tar_gz(&path, &[(manifest.clone(), MANIFEST), (special, b"")]);
        let err = refusal(&path);
        assert!(matches!(err, PackageError::EntryKind { .. }), "{kind:?}: {err:?}");
        assert_eq!(
            err.to_string(),
            format!("entry kinds-1.0.0/src/lib.rs is a {what}: only regular files and directories are allowed")
        );
    }

    // A symlink with a GNU long name is named by its long name.
    let long = format!("kinds-1.0.0/{}/link", "d".repeat(120));
    let mut name_header =
        raw_header(tar::EntryType::GNULongName, "././@LongLink", long.len() as u64 + 1);
    name_header.set_cksum();
    let mut link = raw_header(tar::EntryType::Symlink, "kinds-1.0.0/short", 0);
    link.set_link_name("../../x").unwrap();
    link.set_cksum();
    let mut name_data = long.clone().into_bytes();
    name_data.push(0);
    write_raw_tar_gz(
        &path,
        &[(manifest.clone(), MANIFEST), (name_header, &name_data), (link, b"")],
    );
    assert_eq!(
        refusal(&path).to_string(),
        format!("entry {long} is a symbolic link: only regular files and directories are allowed")
    );

    // A second Cargo.toml would make the manifest ambiguous.
    write_raw_tar_gz(&path, &[(manifest.clone(), MANIFEST), (manifest.clone(), MANIFEST)]);
    assert!(matches!(refusal(&path), PackageError::DuplicateManifest { .. }));

    // PAX records that change the layout (here `size`) are refused, paths are honoured.
    let records = b"20 size=99999999999\n";
    let pax = raw_header(tar::EntryType::XHeader, "pax", records.len() as u64);
    write_raw_tar_gz(&path, &[(pax, records), (manifest.clone(), MANIFEST)]);
    assert_eq!(
        refusal(&path).to_string(),
        "unsupported PAX record \"size\": only path and informational records are accepted"
    );
    let records = b"40 path=kinds-1.0.0/../../../etc/passwd\n";
    let pax = raw_header(tar::EntryType::XHeader, "pax", records.len() as u64);
    write_raw_tar_gz(
        &path,
        &[(manifest.clone(), MANIFEST), (pax, records), (manifest.clone(), b"")],
    );
    assert_eq!(
        refusal(&path).to_string(),
        "entry kinds-1.0.0/../../../etc/passwd escapes the archive root"
    );

    // A directory and a long-named regular file are fine.
    let long_file = format!("kinds-1.0.0/src/{}.rs", "f".repeat(150));
    let mut name_header =
        raw_header(tar::EntryType::GNULongName, "././@LongLink", long_file.len() as u64);
    name_header.set_cksum();
    let dir_entry = raw_header(tar::EntryType::Directory, "kinds-1.0.0/src/", 0);
    let file = raw_header(tar::EntryType::Regular, "kinds-1.0.0/src/x.rs", 3);
    write_raw_tar_gz(
        &path,
        &[
            (manifest, MANIFEST),
            (dir_entry, b""),
            (name_header, long_file.as_bytes()),
            (file, b"//x"),
        ],
    );
    assert_eq!(read_crate_file(&path).unwrap().0.name, "kinds");
}

#[test]
fn the_store_never_overwrites_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = CrateStore::new(dir.path().join("store"));
    let name = index_git::CrateName::new("loop").unwrap();
    let vers = semver::Version::new(1, 0, 0);
    let path = store.path_of(&name, &vers);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // A symbolic link to itself: reading it fails with ELOOP, not "not found".
    std::os::unix::fs::symlink(&path, &path).unwrap();
    let err = store.store(&name, &vers, b"new bytes").unwrap_err();
    assert!(matches!(&err, RegistryError::Io { action: "reading", .. }), "{err:?}");
    assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink(), "left alone");

    let name = index_git::CrateName::new("fine").unwrap();
    let stored = store.store(&name, &vers, b"bytes").unwrap();
    assert_eq!(std::fs::read(&stored).unwrap(), b"bytes");
    store.store(&name, &vers, b"bytes").unwrap();
    assert!(matches!(
        store.store(&name, &vers, b"other").unwrap_err(),
        RegistryError::VersionExists { .. }
    ));
    let leftovers: Vec<_> = std::fs::read_dir(stored.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("1.0.0.crate")], "no temporary files left");
}

#[test]
fn manifest_values_that_would_reach_the_index_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vals-1.0.0.crate");
    let cases: &[(&str, &str)] = &[
        ("rust-version = \"1.70; rm -rf\"", "invalid rust-version \"1.70; rm -rf\""),
        ("links = \"a\\\"b\"", "invalid links value"),
        ("[features]\n\"bad feature\" = []", "invalid feature name \"bad feature\""),
        ("[features]\nf = [\"dep:nothere\"]", "is not an optional dependency"),
        (
            "[target.'cfg(unix'.dependencies]\nlibc = \"0.2\"",
            "invalid target \"cfg(unix\" of dependency \"libc\"",
        ),
        (
            "[dependencies]\nx = { package = \"../y\", version = \"1\" }",
            "invalid `package` of dependency \"x\"",
        ),
    ];
    for (extra, expected) in cases {
        let manifest = format!("[package]\nname = \"vals\"\nversion = \"1.0.0\"\n{extra}\n");
        write_tar_gz(&path, &[("vals-1.0.0/Cargo.toml", manifest.as_bytes())]);
        let registry = Registry::new(Backend::Sqlite);
        let store = CrateStore::new(dir.path().join("store"));
        let err = registry.database.publish_crate_file(&store, &path).unwrap_err();
        assert!(matches!(err, RegistryError::Metadata(_)), "{extra}: {err:?}");
        assert!(err.to_string().contains(expected), "{extra}: {err}");
        assert!(!store.root().exists(), "nothing stored for a refused version");
    }
}
