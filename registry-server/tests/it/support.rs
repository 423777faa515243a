//! A real `registry-server` process on a free port, and the real `cargo` with its own home.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const SERVER: &str = env!("CARGO_BIN_EXE_registry-server");

/// A running server; SIGTERMed (then killed) on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    pub(crate) data_dir: PathBuf,
    env: Vec<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A server on the embedded default in a new temporary directory.
    pub(crate) fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let mut server = Server::start_in(&data_dir, extra, &[]);
        server._dir = Some(dir);
        server
    }

    /// A server on `data_dir` with `extra` arguments and `env`.
    pub(crate) fn start_in(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(SERVER);
        command
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("starting registry-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let url = first
            .strip_prefix("registry-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from registry-server: {first:?}"))
            .to_owned();
        // Keep reading so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Server { child, url, data_dir: data_dir.to_owned(), env, _dir: None }
    }

    /// Creates a token for `login` with the real command.
    pub(crate) fn token(&self, login: &str) -> String {
        let output = Command::new(SERVER)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("DATABASE_URL")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["token", "create", login])
            .output()
            .expect("running registry-server token create");
        assert!(
            output.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(token.starts_with("rgt_"), "{token}");
        token
    }

    /// `GET` of a path, with an optional token.
    pub(crate) fn get(&self, path: &str, token: Option<&str>) -> reqwest::blocking::Response {
        let mut request = client().get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        request.send().expect("GET")
    }

    /// Waits until the sparse index file of `name` satisfies `ready`.
    pub(crate) fn wait_for_index(&self, path: &str, ready: impl Fn(&str) -> bool) -> String {
        self.wait_for(path, None, ready)
    }

    /// Waits until a private registry's index has a file for `path`.
    pub(crate) fn wait_for_index_with(&self, path: &str, token: &str) -> String {
        self.wait_for(path, Some(token), |t| t.contains("\"vers\""))
    }

    fn wait_for(&self, path: &str, token: Option<&str>, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let response = self.get(&format!("/index/{path}"), token);
            let text = response.text().unwrap_or_default();
            if ready(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "the index file {path} never became ready: {text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
}

/// The real cargo with a home of its own: `config.toml` naming the registry `local`.
pub(crate) struct Cargo {
    pub(crate) home: PathBuf,
    pub(crate) target: PathBuf,
    pub(crate) work: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cargo {
    /// A cargo whose `local` registry is at `index` (`sparse+http://...` or a git URL).
    pub(crate) fn new(index: &str) -> Cargo {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("cargo-home");
        std::fs::create_dir_all(&home).expect("cargo home");
        std::fs::write(
            home.join("config.toml"),
            format!(
                "[registries.local]\nindex = \"{index}\"\n\n[net]\ngit-fetch-with-cli = false\n"
            ),
        )
        .expect("config.toml");
        Cargo { home, target: dir.path().join("target"), work: dir.path().join("work"), _dir: dir }
    }

    /// Writes a library crate `name` with `manifest_tail` after `[package]` and `lib`.
    pub(crate) fn write_crate(
        &self,
        name: &str,
        version: &str,
        manifest_tail: &str,
        lib: &str,
    ) -> PathBuf {
        let dir = self.work.join(format!("{name}-{version}"));
        std::fs::create_dir_all(dir.join("src")).expect("crate dir");
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
                 description = \"{name}, a test crate\"\nlicense = \"MIT\"\n{manifest_tail}"
            ),
        )
        .expect("Cargo.toml");
        std::fs::write(dir.join("src/lib.rs"), lib).expect("lib.rs");
        dir
    }

    /// Writes `alpha` `version` and publishes it (unverified); returns its directory.
    pub(crate) fn publish_alpha(&self, version: &str, token: &str) -> PathBuf {
        let alpha = self.write_crate("alpha", version, "", "pub fn one() -> u32 {\n    1\n}\n");
        let out = self.ok(
            &alpha,
            &["publish", "--registry", "local", "--allow-dirty", "--no-verify"],
            Some(token),
        );
        assert!(out.contains(&format!("Published alpha v{version}")), "{out}");
        alpha
    }

    /// Writes `app`, which depends on `alpha` 0.1 from the registry, and builds it: cargo
    /// resolves through the index and downloads. Returns its directory and cargo's output.
    pub(crate) fn build_app(&self, token: Option<&str>) -> (PathBuf, String) {
        let app = self.write_crate(
            "app",
            "0.1.0",
            "\n[dependencies]\nalpha = { version = \"0.1\", registry = \"local\" }\n",
            "pub fn two() -> u32 {\n    alpha::one() * 2\n}\n",
        );
        let out = self.ok(&app, &["build"], token);
        (app, out)
    }

    /// Runs cargo in `dir` with `token` (none when `None`).
    pub(crate) fn run(&self, dir: &Path, args: &[&str], token: Option<&str>) -> Output {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        command.current_dir(dir).args(args).env_clear();
        for key in ["PATH", "HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "TMPDIR"] {
            if let Some(value) = std::env::var_os(key) {
                command.env(key, value);
            }
        }
        command
            .env("CARGO_HOME", &self.home)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_INCREMENTAL", "0");
        if let Some(token) = token {
            command.env("CARGO_REGISTRIES_LOCAL_TOKEN", token);
        }
        command.output().expect("running cargo")
    }

    /// Runs cargo and asserts it succeeded; returns stdout and stderr together.
    pub(crate) fn ok(&self, dir: &Path, args: &[&str], token: Option<&str>) -> String {
        let output = self.run(dir, args, token);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "cargo {args:?} failed:\n{text}");
        text
    }

    /// Runs cargo and asserts it failed; returns its stderr.
    pub(crate) fn fails(&self, dir: &Path, args: &[&str], token: Option<&str>) -> String {
        let output = self.run(dir, args, token);
        let text = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!output.status.success(), "cargo {args:?} succeeded, expected a failure:\n{text}");
        text
    }
}

/// A real S3-compatible server (moto, `python3 -m moto.server`; `.ci/run` installs it) on
/// a free port, with one bucket; killed on drop.
pub(crate) struct S3Server {
    child: Option<Child>,
    pub(crate) port: u16,
    pub(crate) bucket: String,
}

impl S3Server {
    pub(crate) fn start() -> S3Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = S3Server { child: None, port, bucket: "registry".into() };
        server.restart();
        server
    }

    /// Starts (again) the server process and creates the bucket (its data is in memory).
    pub(crate) fn restart(&mut self) {
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto's S3 server: install it with `pip install 'moto[server]'`");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto's S3 server did not start; is moto installed (`pip install 'moto[server]'`)?"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let created = client()
            .put(format!("{}/{}", self.endpoint(), self.bucket))
            .send()
            .expect("creating the bucket");
        assert!(created.status().is_success(), "creating the bucket: {}", created.status());
        // Anyone may read, as a public registry's bucket is set up; only the server writes.
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [format!("arn:aws:s3:::{}/*", self.bucket)],
            }],
        });
        let set = client()
            .put(format!("{}/{}?policy", self.endpoint(), self.bucket))
            .header("Content-Type", "application/json")
            .body(policy.to_string())
            .send()
            .expect("setting the bucket policy");
        assert!(set.status().is_success(), "setting the bucket policy: {}", set.status());
    }

    /// Kills the server process: every request to it fails from now on.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment that points a server at the bucket under `prefix`.
    pub(crate) fn env(&self, prefix: &str) -> Vec<(&'static str, String)> {
        vec![
            ("STORAGE_URL", format!("s3://{}/{prefix}", self.bucket)),
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// An object as anyone reads it over HTTP, path-style.
    pub(crate) fn object(&self, key: &str) -> Option<Vec<u8>> {
        let response =
            client().get(format!("{}/{}/{key}", self.endpoint(), self.bucket)).send().ok()?;
        response
            .status()
            .is_success()
            .then(|| response.bytes().map(|b| b.to_vec()).unwrap_or_default())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}
