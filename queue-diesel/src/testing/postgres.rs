//! A throwaway PostgreSQL server for tests and benchmarks, and one empty database per test.
//!
//! When `TEST_DATABASE_URL` is set, that server is used and each test gets a database created
//! on it (and dropped afterwards). Otherwise the first test that asks starts a fresh cluster
//! from the local PostgreSQL binaries, in a directory under the Cargo target directory, and
//! the cluster is stopped and deleted when the test process ends, even when it is killed.
//!
//! Cleanup has two paths. At normal process exit an `atexit` hook stops the server and waits
//! for it. For any other end (a `SIGKILL`, a crash) a small guardian shell process holds the
//! read end of a pipe whose write end only this process holds: when the process dies the pipe
//! closes, and the guardian stops the server and deletes its directory.

use std::fs;
use std::io::{self, Write as _};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::{Connection as _, PgConnection, RunQueryDsl as _};

/// The environment variable naming an existing server to use instead of a throwaway one.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

const HOW_TO_GET_ONE: &str = "install the PostgreSQL server binaries (Debian or Ubuntu: \
`apt-get install postgresql`) or set TEST_DATABASE_URL to a server URL whose user may create \
databases, e.g. TEST_DATABASE_URL=postgres://postgres@localhost/postgres";

/// Why a throwaway server or test database could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// No PostgreSQL server binaries were found and `TEST_DATABASE_URL` is not set.
    #[error("no PostgreSQL server binaries found (looked at `pg_config --bindir`, `initdb` on PATH and /usr/lib/postgresql/*/bin): {HOW_TO_GET_ONE}")]
    NoBinaries,
    /// A file system operation on the cluster directory failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A PostgreSQL program failed.
    #[error("`{command}` failed: {output}")]
    Command {
        /// The command line that failed.
        command: String,
        /// What it printed, or why it could not start.
        output: String,
    },
    /// The server could not be reached or refused a statement.
    #[error("PostgreSQL at {url}: {message}; {HOW_TO_GET_ONE}")]
    Connection {
        /// The URL that was used (without password).
        url: String,
        /// The error from the server or the driver.
        message: String,
    },
    /// An earlier attempt to start the shared server failed; the first error is repeated.
    #[error("the shared test server could not be started: {0}")]
    Shared(String),
}

/// How a throwaway server is configured.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Keep PostgreSQL's default durability (`fsync`, `synchronous_commit`, full page writes).
    /// Benchmarks want `true`; tests run faster with `false`, which is only safe because the
    /// cluster is thrown away.
    pub durable: bool,
    /// `max_connections` of the server.
    pub max_connections: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { durable: false, max_connections: 400 }
    }
}

/// A running PostgreSQL server: either a throwaway cluster this process started, or the
/// server named by `TEST_DATABASE_URL`.
#[derive(Debug)]
pub struct PgServer {
    /// URL of the `postgres` maintenance database, used to create test databases.
    admin_url: String,
    /// Whether databases are created on a server this process does not own.
    external: bool,
    /// The cluster directory (`None` for an external server).
    base_dir: Option<PathBuf>,
    /// Write end of the guardian's pipe, and the guardian itself.
    guardian: Mutex<Option<(ChildStdin, Child)>>,
}

/// An empty database on a [`PgServer`], for one test. Dropped on an external server when the
/// value is dropped; on a throwaway server it goes away with the cluster.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    name: String,
    server: &'static PgServer,
}

impl PgServer {
    /// Starts a new throwaway cluster with `config`, owned by the returned value: it is
    /// stopped and deleted when the value is dropped, or when the process ends.
    pub fn start(config: &ServerConfig) -> Result<PgServer, ServerError> {
        let bindir = find_bindir().ok_or(ServerError::NoBinaries)?;
        let base = cluster_dir()?;
        let result = start_cluster(&bindir, &base, config);
        if result.is_err() {
            let _ = fs::remove_dir_all(&base);
        }
        result
    }

    /// The server shared by every test of this process: `TEST_DATABASE_URL` when set,
    /// otherwise a throwaway cluster started on first use and stopped at exit.
    pub fn shared() -> Result<&'static PgServer, ServerError> {
        static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();
        let server = SHARED.get_or_init(|| {
            let server = match std::env::var(TEST_DATABASE_URL) {
                Ok(url) if !url.is_empty() => PgServer::external(url),
                _ => PgServer::start(&ServerConfig::default()),
            };
            if let Ok(server) = &server {
                if server.base_dir.is_some() {
                    register_exit_hook();
                }
            }
            server.map_err(|e| e.to_string())
        });
        server.as_ref().map_err(|e| ServerError::Shared(e.clone()))
    }

    fn external(url: String) -> Result<PgServer, ServerError> {
        PgConnection::establish(&url).map_err(|e| ServerError::Connection {
            url: redact::redact(&url).into_owned(),
            message: e.to_string(),
        })?;
        Ok(PgServer { admin_url: url, external: true, base_dir: None, guardian: Mutex::new(None) })
    }

    /// URL of the server's `postgres` maintenance database.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The cluster's directory, when this process started the server.
    pub fn base_dir(&self) -> Option<&Path> {
        self.base_dir.as_deref()
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        with_database(&self.admin_url, name)
    }

    /// Creates an empty database with a unique name and returns its URL and name.
    pub fn create_database(&self) -> Result<(String, String), ServerError> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!("test_{}_{}_{}", std::process::id(), nanos, n);
        let mut conn =
            PgConnection::establish(&self.admin_url).map_err(|e| ServerError::Connection {
                url: redact::redact(&self.admin_url).into_owned(),
                message: e.to_string(),
            })?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).map_err(
            |e| ServerError::Connection {
                url: redact::redact(&self.admin_url).into_owned(),
                message: format!("CREATE DATABASE {name}: {e}"),
            },
        )?;
        Ok((self.database_url(&name), name))
    }

    /// Stops the server and deletes its directory, waiting until both are done. Does
    /// nothing for an external server or when already stopped.
    pub fn stop(&self) {
        let taken = match self.guardian.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some((stdin, mut child)) = taken {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl TestDatabase {
    /// A new empty database on the shared server.
    ///
    /// # Panics
    ///
    /// When no server can be had; the message says how to get one. Tests that need
    /// PostgreSQL fail, they never skip.
    pub fn new() -> TestDatabase {
        match TestDatabase::try_new() {
            Ok(db) => db,
            Err(err) => panic!("cannot provide a test database: {err}"),
        }
    }

    /// A new empty database on the shared server, or why there is none.
    pub fn try_new() -> Result<TestDatabase, ServerError> {
        let server = PgServer::shared()?;
        let (url, name) = server.create_database()?;
        Ok(TestDatabase { url, name, server })
    }

    /// The connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new connection to this database.
    ///
    /// # Panics
    ///
    /// When the server cannot be reached.
    pub fn connect(&self) -> PgConnection {
        match PgConnection::establish(&self.url) {
            Ok(conn) => conn,
            Err(err) => panic!("connecting to test database {}: {err}", self.name),
        }
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        TestDatabase::new()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.server.external {
            if let Ok(mut conn) = PgConnection::establish(&self.server.admin_url) {
                let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
                let _ = diesel::sql_query(sql).execute(&mut conn);
            }
        }
    }
}

/// Replaces the database of a `postgres://` URL, keeping user, host and parameters.
fn with_database(url: &str, name: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (url, None),
    };
    let after_scheme = main.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match main[after_scheme..].find('/') {
        Some(i) => &main[..after_scheme + i],
        None => main,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A program of the PostgreSQL server installation the tests use (`pgbench`, `psql`...),
/// when it is there.
pub fn server_binary(name: &str) -> Option<PathBuf> {
    find_bindir().map(|dir| dir.join(name)).filter(|path| path.is_file())
}

fn find_bindir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server(&dir) {
            return Some(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_server(d)) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

fn running_as_root() -> bool {
    fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A new, empty directory for a cluster: under the Cargo target directory when the
/// `postgres` user can write there, under the system temp dir otherwise.
fn cluster_dir() -> Result<PathBuf, ServerError> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let leaf = format!("{}-{}", std::process::id(), nanos % 1_000_000_000);
    let mut candidates = Vec::new();
    if let Some(target) = target_dir() {
        candidates.push(target.join("test-pg").join(&leaf));
    }
    candidates.push(std::env::temp_dir().join(format!("queue-diesel-pg-{leaf}")));
    let mut last_err = None;
    for dir in candidates {
        match prepare_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) => {
                let _ = fs::remove_dir_all(&dir);
                last_err = Some(err);
            }
        }
    }
    Err(last_err.unwrap_or(ServerError::NoBinaries))
}

fn prepare_dir(dir: &Path) -> Result<(), ServerError> {
    fs::create_dir_all(dir).map_err(|source| ServerError::Io {
        what: "creating cluster directory",
        path: dir.to_owned(),
        source,
    })?;
    if running_as_root() {
        run(Command::new("chown").arg("postgres:").arg(dir))?;
        // The server runs as `postgres`: every parent must let it through.
        run(Command::new("runuser").args(["-u", "postgres", "--", "test", "-w"]).arg(dir))?;
    }
    Ok(())
}

/// The Cargo target directory of the running test or benchmark binary: `CARGO_TARGET_DIR`,
/// or the nearest ancestor of the executable that holds Cargo's `CACHEDIR.TAG`.
fn target_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file()).map(Path::to_path_buf)
}

/// A command that runs `program` as the `postgres` user when this process is root.
fn pg_command(program: &Path) -> Command {
    if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) -> Result<String, ServerError> {
    let command = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ServerError::Command { command: command.clone(), output: e.to_string() })?;
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(ServerError::Command { command, output: format!("{}: {}", out.status, text.trim()) })
    }
}

fn free_port() -> Result<u16, ServerError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| ServerError::Io {
        what: "binding a port on",
        path: PathBuf::from("127.0.0.1"),
        source,
    })?;
    listener.local_addr().map(|a| a.port()).map_err(|source| ServerError::Io {
        what: "reading the port of",
        path: PathBuf::from("127.0.0.1"),
        source,
    })
}

fn start_cluster(
    bindir: &Path,
    base: &Path,
    config: &ServerConfig,
) -> Result<PgServer, ServerError> {
    let data = base.join("data");
    let socket_dir = base.join("socket");
    fs::create_dir_all(&socket_dir).map_err(|source| ServerError::Io {
        what: "creating socket directory",
        path: socket_dir.clone(),
        source,
    })?;
    if running_as_root() {
        run(Command::new("chown").arg("postgres:").arg(&socket_dir))?;
    }
    run(pg_command(&bindir.join("initdb")).arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]))?;

    // The guardian is started before the server so that no window exists in which a dying
    // process would leave a server behind.
    let guardian = spawn_guardian(bindir, base, &data)?;
    let port = free_port()?;
    let mut options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections={}",
        socket_dir.display(),
        config.max_connections
    );
    if !config.durable {
        options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
    }
    let log = base.join("server.log");
    let started = run(pg_command(&bindir.join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .args(["-w", "-t", "60", "-o"])
        .arg(&options)
        .arg("start"));
    let mut server = PgServer {
        admin_url: String::new(),
        external: false,
        base_dir: Some(base.to_owned()),
        guardian: Mutex::new(Some(guardian)),
    };
    if let Err(err) = started {
        let log_text = fs::read_to_string(&log).unwrap_or_default();
        return Err(ServerError::Command {
            command: format!("pg_ctl start (log {})", log.display()),
            output: format!("{err}\n{log_text}"),
        });
    }
    // A unix socket is faster than TCP; its path has a length limit of about 107 bytes.
    let socket = socket_dir.join(format!(".s.PGSQL.{port}"));
    let admin_url = if socket.as_os_str().len() < 100 {
        format!("postgres://postgres@localhost:{port}/postgres?host={}", socket_dir.display())
    } else {
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    };
    PgConnection::establish(&admin_url)
        .map_err(|e| ServerError::Connection { url: admin_url.clone(), message: e.to_string() })?;
    server.admin_url = admin_url;
    Ok(server)
}

/// Starts the shell process that stops the server and deletes `base` once this process
/// closes its end of the pipe, by exiting in any way.
fn spawn_guardian(
    bindir: &Path,
    base: &Path,
    data: &Path,
) -> Result<(ChildStdin, Child), ServerError> {
    let script = r#"trap '' INT TERM HUP
cat >/dev/null
if [ "$(id -u)" = 0 ]; then
  runuser -u postgres -- "$1" -D "$2" -m immediate -w -t 30 stop >/dev/null 2>&1
else
  "$1" -D "$2" -m immediate -w -t 30 stop >/dev/null 2>&1
fi
rm -rf "$3"
"#;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg("pg-guardian")
        .arg(bindir.join("pg_ctl"))
        .arg(data)
        .arg(base)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| ServerError::Command {
        command: "sh (cleanup guardian)".into(),
        output: e.to_string(),
    })?;
    let Some(mut stdin) = child.stdin.take() else {
        let _ = child.kill();
        return Err(ServerError::Command {
            command: "sh (cleanup guardian)".into(),
            output: "no stdin pipe".into(),
        });
    };
    // Nothing is ever written; a zero-length write checks that the pipe is open.
    let _ = stdin.write_all(b"");
    Ok((stdin, child))
}

fn register_exit_hook() {
    extern "C" fn stop_shared_server() {
        if let Ok(server) = PgServer::shared() {
            server.stop();
        }
    }
    // SAFETY: `atexit` only stores the function pointer; the function is `extern "C"`, takes
    // no arguments, does not unwind (stop() ignores every error) and touches only a static
    // that is initialised before registration.
    #[allow(unsafe_code)]
    unsafe {
        libc::atexit(stop_shared_server);
    }
}

#[cfg(test)]
mod tests;
