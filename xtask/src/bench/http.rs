//! `publish_http`: the real `registry-server` binary (release build, embedded default,
//! one in-process index worker) publishing over HTTP, and the time until a version is
//! visible in its sparse index.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use index_git::CrateName;
use serde::Serialize;

use super::percentile;

/// Publishing through the server.
#[derive(Debug, Serialize)]
pub(crate) struct PublishHttp {
    /// One row per number of concurrent publishers.
    pub(crate) rows: Vec<PublishRow>,
    /// Request sent → the version in the sparse index, one publisher at a time.
    pub(crate) visible: VisibleRow,
}

/// Publishes by `publishers` clients at once.
#[derive(Debug, Serialize)]
pub(crate) struct PublishRow {
    pub(crate) publishers: usize,
    /// Publishes answered 200, counted.
    pub(crate) publishes: usize,
    pub(crate) per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

/// Publish-to-visible latency.
#[derive(Debug, Serialize)]
pub(crate) struct VisibleRow {
    pub(crate) samples: usize,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn build_server(root: &Path) -> Result<std::path::PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "--release", "--package", "registry-server"])
        .status()
        .context("building registry-server")?;
    ensure!(status.success(), "building registry-server failed: {status}");
    Ok(root.join("target/release/registry-server"))
}

fn start(binary: &Path, data_dir: &Path) -> Result<Server> {
    let mut child = Command::new(binary)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .context("starting registry-server")?;
    let stdout = child.stdout.take().context("registry-server's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().transpose()?.unwrap_or_default();
    std::thread::spawn(move || for _ in lines {});
    let Some(url) = first.strip_prefix("registry-server listening on ") else {
        bail!("unexpected first line from registry-server: {first:?}");
    };
    Ok(Server { url: url.to_owned(), child })
}

fn token(binary: &Path, data_dir: &Path) -> Result<String> {
    let output = Command::new(binary)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["token", "create", "bench"])
        .env_remove("DATABASE_URL")
        .output()
        .context("creating a token")?;
    ensure!(
        output.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The body of a publish of `name` 1.0.0: a real `.crate` and the JSON cargo would send.
fn publish_body(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let vers = semver::Version::new(1, 0, 0);
    let path = dir.join(format!("{name}.crate"));
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"1.0.0\"\nedition = \"2021\"\ndescription = \"bench\"\n"
    );
    let lib = format!("pub const NAME: &str = \"{name}\";\n");
    registry_jobs::write_crate_archive(
        &path,
        &CrateName::new(name)?,
        &vers,
        &[("Cargo.toml", &manifest), ("src/lib.rs", &lib)],
    )?;
    let crate_bytes = std::fs::read(&path)?;
    let json = serde_json::to_vec(&serde_json::json!({
        "name": name, "vers": "1.0.0", "deps": [], "features": {}, "description": "bench"
    }))?;
    let mut body = Vec::with_capacity(8 + json.len() + crate_bytes.len());
    body.extend_from_slice(&u32::try_from(json.len())?.to_le_bytes());
    body.extend_from_slice(&json);
    body.extend_from_slice(&u32::try_from(crate_bytes.len())?.to_le_bytes());
    body.extend_from_slice(&crate_bytes);
    Ok(body)
}

fn client() -> Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build()?)
}

/// Sends one publish; its response time in milliseconds.
fn publish(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    body: Vec<u8>,
) -> Result<f64> {
    let started = Instant::now();
    let response = client
        .put(format!("{url}/api/v1/crates/new"))
        .header("Authorization", token)
        .body(body)
        .send()?;
    let status = response.status();
    let text = response.text()?;
    ensure!(status.is_success(), "publish answered {status}: {text}");
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

fn publishers(
    server: &Server,
    token: &str,
    dir: &Path,
    publishers: usize,
    total: usize,
) -> Result<PublishRow> {
    let mut bodies: Vec<Vec<Vec<u8>>> = vec![Vec::new(); publishers];
    for i in 0..total {
        bodies[i % publishers].push(publish_body(dir, &format!("bench-p{publishers}-{i}"))?);
    }
    let url = Arc::new(server.url.clone());
    let token = Arc::new(token.to_owned());
    let started = Instant::now();
    let handles: Vec<_> = bodies
        .into_iter()
        .map(|mine| {
            let (url, token) = (Arc::clone(&url), Arc::clone(&token));
            std::thread::spawn(move || -> Result<Vec<f64>> {
                let client = client()?;
                mine.into_iter().map(|body| publish(&client, &url, &token, body)).collect()
            })
        })
        .collect();
    let mut times = Vec::new();
    for handle in handles {
        times.extend(handle.join().map_err(|_| anyhow::anyhow!("a publisher panicked"))??);
    }
    let seconds = started.elapsed().as_secs_f64();
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(PublishRow {
        publishers,
        publishes: times.len(),
        per_second: times.len() as f64 / seconds,
        p50_ms: percentile(&times, 50.0),
        p99_ms: percentile(&times, 99.0),
    })
}

fn visible(server: &Server, token: &str, dir: &Path, samples: usize) -> Result<VisibleRow> {
    let client = client()?;
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let name = format!("bench-visible-{i}");
        let body = publish_body(dir, &name)?;
        let path = CrateName::new(&name)?.index_path();
        let started = Instant::now();
        publish(&client, &server.url, token, body)?;
        loop {
            let response = client.get(format!("{}/index/{path}", server.url)).send()?;
            if response.status().is_success() && response.text()?.contains("\"vers\":\"1.0.0\"") {
                break;
            }
            ensure!(started.elapsed() < Duration::from_secs(60), "{name} never became visible");
            std::thread::sleep(Duration::from_millis(2));
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(VisibleRow {
        samples: times.len(),
        p50_ms: percentile(&times, 50.0),
        p99_ms: percentile(&times, 99.0),
    })
}

/// Runs the section: `total` publishes with 1 and with 8 publishers, then `samples`
/// publish-to-visible measurements.
pub(crate) fn publish_http(root: &Path, total: usize, samples: usize) -> Result<PublishHttp> {
    eprintln!("publish_http: building and starting registry-server");
    let binary = build_server(root)?;
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let token = token(&binary, &data_dir)?;
    let server = start(&binary, &data_dir)?;
    let crates = dir.path().join("crates");
    std::fs::create_dir_all(&crates)?;
    let mut rows = Vec::new();
    for n in [1, 8] {
        eprintln!("publish_http: {total} publishes by {n} publishers");
        rows.push(publishers(&server, &token, &crates, n, total)?);
    }
    eprintln!("publish_http: publish-to-visible, {samples} samples");
    let visible = visible(&server, &token, &crates, samples)?;
    Ok(PublishHttp { rows, visible })
}
