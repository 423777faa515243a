//! `storage`: a `.crate` store and a sparse-index write, on the local file system (temp
//! file, `fsync`, rename, directory `fsync`) and in a bucket of a local S3-compatible
//! server (moto: one `PUT`, after a `GET` to compare).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use index_git::{CrateName, IndexFile};
use registry_jobs::blobs::Bucket;
use registry_jobs::{CrateStore, SparseIndex};
use serde::Serialize;

use super::percentile;

/// One store's latencies.
#[derive(Debug, Serialize)]
pub(crate) struct StorageRow {
    pub(crate) store: &'static str,
    pub(crate) writes: usize,
    pub(crate) crate_p50_ms: f64,
    pub(crate) crate_p99_ms: f64,
    pub(crate) index_p50_ms: f64,
    pub(crate) index_p99_ms: f64,
}

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> Result<(Moto, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting moto's S3 server (pip install 'moto[server]')")?;
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        ensure!(Instant::now() < deadline, "moto's S3 server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let endpoint = format!("http://127.0.0.1:{port}");
    let created = reqwest::blocking::Client::new().put(format!("{endpoint}/bench")).send()?;
    ensure!(created.status().is_success(), "creating the bucket: {}", created.status());
    Ok((moto, endpoint))
}

fn measure(
    store: &'static str,
    crates: &CrateStore,
    sparse: &SparseIndex,
    writes: usize,
) -> Result<StorageRow> {
    let payload: Vec<u8> = (0..20 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let (mut crate_ms, mut index_ms) = (Vec::new(), Vec::new());
    for i in 0..writes {
        let name = CrateName::new(&format!("bench-store-{i}"))?;
        let vers = semver::Version::new(1, 0, 0);
        let mut bytes = payload.clone();
        bytes.extend_from_slice(name.as_str().as_bytes());
        let started = Instant::now();
        crates.stage(&name, &vers, &bytes)?.commit()?;
        crate_ms.push(started.elapsed().as_secs_f64() * 1000.0);

        let line = format!(
            "{{\"name\":\"{name}\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"{}\",\"features\":{{}},\"yanked\":false}}\n",
            "0".repeat(64)
        );
        let file = IndexFile::parse(&name, &line)?;
        let started = Instant::now();
        ensure!(sparse.put_crate(&name, Some(&file))?, "the index write changed nothing");
        index_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    crate_ms.sort_by(|a, b| a.total_cmp(b));
    index_ms.sort_by(|a, b| a.total_cmp(b));
    Ok(StorageRow {
        store,
        writes,
        crate_p50_ms: percentile(&crate_ms, 50.0),
        crate_p99_ms: percentile(&crate_ms, 99.0),
        index_p50_ms: percentile(&index_ms, 50.0),
        index_p99_ms: percentile(&index_ms, 99.0),
    })
}

/// `writes` crate stores and index writes on each store.
pub(crate) fn storage(writes: usize) -> Result<Vec<StorageRow>> {
    eprintln!("storage: {writes} writes on the local file system and in a local S3 server");
    let dir = tempfile::tempdir()?;
    let local = measure(
        "local file system",
        &CrateStore::new(dir.path().join("crates")),
        &SparseIndex::new(dir.path().join("index")),
        writes,
    )?;
    let (_moto, endpoint) = start_moto()?;
    for (key, value) in [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_REGION", "us-east-1"),
    ] {
        std::env::set_var(key, value);
    }
    let bucket = Bucket::open("s3://bench/registry")?;
    let s3 = measure(
        "S3 (moto, loopback)",
        &CrateStore::in_bucket(bucket.clone()),
        &SparseIndex::in_bucket(bucket),
        writes,
    )?;
    Ok(vec![local, s3])
}
