//! The sparse index: one file per crate under a directory, laid out as Cargo's sparse
//! protocol reads it (`3/s/syn`, `se/rd/serde`, `config.json`), for any HTTP server to
//! serve. [`SparseIndexJob`](crate::SparseIndexJob) makes a crate's file what the database
//! says when it runs, like the git jobs.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use index_git::{CrateName, IndexConfig, IndexFile};

use crate::blobs::{Bucket, Object, INDEX_CACHE_CONTROL};
use crate::error::RegistryError;

/// A sparse index directory. Every write is atomic: a temporary file in the same directory,
/// `fsync`ed, renamed over the old one, and the directory `fsync`ed; a reader sees the old
/// file or the new one, never a part.
///
/// In a [`Bucket`] it is the objects under `index/`, each write one `PUT` of the whole
/// file with [`INDEX_CACHE_CONTROL`].
#[derive(Debug, Clone)]
pub struct SparseIndex {
    root: PathBuf,
    bucket: Option<Bucket>,
    invalidate: Option<Vec<String>>,
}

impl SparseIndex {
    /// The sparse index in `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> SparseIndex {
        SparseIndex { root: root.into(), bucket: None, invalidate: None }
    }

    /// The sparse index in `bucket`, under `index/`.
    pub fn in_bucket(bucket: Bucket) -> SparseIndex {
        SparseIndex { root: PathBuf::new(), bucket: Some(bucket), invalidate: None }
    }

    /// A file of the index by its path (`config.json`, `se/rd/serde`), with when it was
    /// last written; `None` when there is none. The caller checks the path is one of the
    /// layout's.
    pub fn read_path(&self, relative: &str) -> Result<Option<Object>, RegistryError> {
        if let Some(bucket) = &self.bucket {
            return bucket.get(&format!("index/{relative}"));
        }
        let path = self.root.join(relative);
        let read = fs::read(&path).and_then(|bytes| {
            let modified = fs::metadata(&path)?.modified().ok();
            Ok(Object { bytes, modified })
        });
        match read {
            Ok(object) => Ok(Some(object)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io_error("reading", &path, source)),
        }
    }

    /// Runs `command` (a program and its first arguments) after each crate's file is
    /// synced, with the file's path as the storage serves it (`index/se/rd/serde`) as the
    /// last argument: a CDN invalidation hook. It runs whether or not the file changed, so a
    /// retried job invalidates again; a non-zero exit fails the job, which is retried.
    pub fn with_invalidation(mut self, command: Vec<String>) -> SparseIndex {
        self.invalidate = (!command.is_empty()).then_some(command);
        self
    }

    /// Runs the invalidation hook for `relative`, if one is set.
    pub(crate) fn invalidate(&self, relative: &str) -> Result<(), RegistryError> {
        let Some(command) = &self.invalidate else { return Ok(()) };
        let path = format!("index/{relative}");
        let shown = command.join(" ");
        let output = std::process::Command::new(&command[0])
            .args(&command[1..])
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| RegistryError::Io {
                action: "running the invalidation hook",
                path: shown.clone(),
                source,
            })?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(RegistryError::Io {
            action: "running the invalidation hook",
            path: shown,
            source: std::io::Error::other(format!(
                "{} for {path}: {}",
                output.status,
                stderr.trim().chars().take(500).collect::<String>()
            )),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `config.json` (when it differs).
    pub fn write_config(&self, config: &IndexConfig) -> Result<(), RegistryError> {
        let mut text = serde_json::to_string_pretty(config).map_err(|e| RegistryError::Io {
            action: "writing",
            path: self.root.join("config.json").display().to_string(),
            source: e.into(),
        })?;
        text.push('\n');
        self.put("config.json", Some(&text)).map(|_| ())
    }

    /// Makes `name`'s file hold `file` (deleted when `None`). Returns whether it changed.
    pub fn put_crate(
        &self,
        name: &CrateName,
        file: Option<&IndexFile>,
    ) -> Result<bool, RegistryError> {
        let text = file.map(ToString::to_string);
        self.put(&name.index_path(), text.as_deref())
    }

    /// The text of `name`'s file, if there is one.
    pub fn read_crate(&self, name: &CrateName) -> Result<Option<String>, RegistryError> {
        if self.bucket.is_some() {
            return Ok(self
                .read_path(&name.index_path())?
                .map(|o| String::from_utf8_lossy(&o.bytes).into_owned()));
        }
        let path = self.root.join(name.index_path());
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io_error("reading", &path, source)),
        }
    }

    fn put(&self, relative: &str, text: Option<&str>) -> Result<bool, RegistryError> {
        if let Some(bucket) = &self.bucket {
            let key = format!("index/{relative}");
            let current = bucket.get(&key)?.map(|o| o.bytes);
            if current.as_deref() == text.map(str::as_bytes) {
                return Ok(false);
            }
            match text {
                Some(text) => bucket.put(&key, text.as_bytes().to_vec(), INDEX_CACHE_CONTROL)?,
                None => bucket.delete(&key)?,
            }
            return Ok(true);
        }
        let path = self.root.join(relative);
        let store_err = |path: &Path| {
            let path = path.to_owned();
            move |source| io_error("writing", &path, source)
        };
        let current = match fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(io_error("reading", &path, source)),
        };
        if current.as_deref() == text.map(str::as_bytes) {
            return Ok(false);
        }
        let Some(dir) = path.parent() else { return Ok(false) };
        match text {
            None => {
                fs::remove_file(&path).map_err(store_err(&path))?;
            }
            Some(text) => {
                fs::create_dir_all(dir).map_err(store_err(dir))?;
                static COUNTER: AtomicU64 = AtomicU64::new(0);
                let temp = dir.join(format!(
                    ".tmp-{}-{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                ));
                let written = (|| {
                    let mut file =
                        fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
                    file.write_all(text.as_bytes())?;
                    file.sync_all()?;
                    fs::rename(&temp, &path)
                })();
                if let Err(source) = written {
                    let _ = fs::remove_file(&temp);
                    return Err(io_error("writing", &path, source));
                }
            }
        }
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(store_err(dir))?;
        Ok(true)
    }
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> RegistryError {
    RegistryError::Io { action, path: path.display().to_string(), source }
}
