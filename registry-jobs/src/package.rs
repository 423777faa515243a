//! Reading a `.crate` file as `cargo package` writes it, and the crate store it goes to.

use std::cell::Cell;
use std::fs;
use std::io::{Read, Write as _};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use index_git::{CrateName, DependencyKind, FeatureMap, IndexDependency};
use sha2::{Digest as _, Sha256};

use crate::blobs::{Bucket, CRATE_CACHE_CONTROL};
use crate::error::{PackageError, RegistryError};
use crate::hex::hex;
use crate::limits::{MAX_CRATE_SIZE, MAX_EXTENSION_HEADER, MAX_MANIFEST_SIZE, MAX_UNPACKED_SIZE};
use crate::metadata::PublishRequest;

/// Bytes of tar headers and padding allowed on top of [`MAX_UNPACKED_SIZE`] in the
/// decompressed stream.
const HEADER_MARGIN: u64 = 4 * 1024 * 1024;

/// Where `.crate` files are kept for download: `{root}/{crate}/{version}.crate` on the
/// local file system, or `crates/{crate}/{version}.crate` in a [`Bucket`].
#[derive(Debug, Clone)]
pub struct CrateStore {
    root: PathBuf,
    bucket: Option<Bucket>,
}

/// Tells concurrent writers of one process apart in temporary file names.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl CrateStore {
    /// A store in `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> CrateStore {
        CrateStore { root: root.into(), bucket: None }
    }

    /// A store in `bucket`, under `crates/`.
    pub fn in_bucket(bucket: Bucket) -> CrateStore {
        CrateStore { root: PathBuf::new(), bucket: Some(bucket) }
    }

    /// The bucket, when the store is in one.
    pub fn bucket(&self) -> Option<&Bucket> {
        self.bucket.as_ref()
    }

    /// The key of a version's file in a bucket.
    pub fn key_of(name: &CrateName, vers: &semver::Version) -> String {
        format!("crates/{name}/{vers}.crate")
    }

    /// A version's stored file, or `None`.
    pub fn read(
        &self,
        name: &CrateName,
        vers: &semver::Version,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        if let Some(bucket) = &self.bucket {
            return Ok(bucket.get(&CrateStore::key_of(name, vers))?.map(|o| o.bytes));
        }
        let path = self.path_of(name, vers);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RegistryError::Io {
                action: "reading",
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `dl` template for `config.json` that points Cargo at this store.
    pub fn dl_template(&self) -> String {
        format!("file://{}/{{crate}}/{{version}}.crate", self.root.display())
    }

    /// The file of a version. Safe to join: a [`CrateName`] and a semver version hold no
    /// path separators.
    pub fn path_of(&self, name: &CrateName, vers: &semver::Version) -> PathBuf {
        self.root.join(name.as_str()).join(format!("{vers}.crate"))
    }

    /// Writes a version's file durably: a temporary file, written and `fsync`ed, renamed into
    /// place, then the directory `fsync`ed, so that once this returns a crash can't leave the
    /// file empty or missing. Writing the same bytes again is fine; different bytes for a
    /// stored version are refused, and so is any error reading what is stored other than
    /// "not found".
    pub fn store(
        &self,
        name: &CrateName,
        vers: &semver::Version,
        bytes: &[u8],
    ) -> Result<PathBuf, RegistryError> {
        self.stage(name, vers, bytes)?.commit()
    }

    /// The first half of [`CrateStore::store`]: writes and `fsync`s the bytes to a
    /// temporary file beside the version's file, without touching the version's file. A
    /// server stages an upload before its database transaction and commits it inside, so
    /// the transaction holds its locks for a rename, not for writing the whole file.
    /// Dropping the staged file without committing removes it.
    pub fn stage(
        &self,
        name: &CrateName,
        vers: &semver::Version,
        bytes: &[u8],
    ) -> Result<StagedCrate, RegistryError> {
        if let Some(bucket) = &self.bucket {
            return Ok(StagedCrate {
                temp: None,
                path: PathBuf::new(),
                dir: PathBuf::new(),
                root: PathBuf::new(),
                created: false,
                krate: name.to_string(),
                vers: vers.to_string(),
                bytes: bytes.to_vec(),
                bucket: Some((bucket.clone(), CrateStore::key_of(name, vers))),
            });
        }
        let path = self.path_of(name, vers);
        let io = |action: &'static str, path: &Path| {
            let path = path.display().to_string();
            move |source| RegistryError::Io { action, path, source }
        };
        let dir = path.parent().unwrap_or(&self.root).to_owned();
        let created = !dir.exists();
        fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        let temp = dir.join(format!(
            ".{vers}.crate.{}.{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()
        })();
        if let Err(source) = written {
            let _ = fs::remove_file(&temp);
            return Err(RegistryError::Io {
                action: "writing",
                path: temp.display().to_string(),
                source,
            });
        }
        Ok(StagedCrate {
            temp: Some(temp),
            path,
            dir,
            root: self.root.clone(),
            created,
            krate: name.to_string(),
            vers: vers.to_string(),
            bytes: bytes.to_vec(),
            bucket: None,
        })
    }
}

/// A `.crate` written and `fsync`ed beside its final place ([`CrateStore::stage`]), to be
/// renamed into place by [`StagedCrate::commit`]; removed if dropped uncommitted.
#[derive(Debug)]
pub struct StagedCrate {
    temp: Option<PathBuf>,
    path: PathBuf,
    dir: PathBuf,
    root: PathBuf,
    created: bool,
    krate: String,
    vers: String,
    bytes: Vec<u8>,
    /// In a bucket: nothing is written until the commit, one `PUT`.
    bucket: Option<(Bucket, String)>,
}

impl StagedCrate {
    /// Renames the staged file into place and `fsync`s the directory. The same bytes
    /// already stored are fine; different bytes are refused
    /// ([`RegistryError::VersionExists`]), and so is any error reading what is stored other
    /// than "not found".
    pub fn commit(mut self) -> Result<PathBuf, RegistryError> {
        if let Some((bucket, key)) = self.bucket.take() {
            // Inside the version's transaction: a concurrent publish of the same version
            // waits on its row, so this read-then-write is not raced.
            match bucket.get(&key)? {
                Some(existing) if existing.bytes == self.bytes => {}
                Some(_) => {
                    return Err(RegistryError::VersionExists {
                        krate: self.krate.clone(),
                        vers: self.vers.clone(),
                        existing: format!("{} (a different file is stored)", self.vers),
                    })
                }
                None => bucket.put(&key, std::mem::take(&mut self.bytes), CRATE_CACHE_CONTROL)?,
            }
            return Ok(PathBuf::from(key));
        }
        let shown = self.path.display().to_string();
        let io = |action: &'static str, path: &Path| {
            let path = path.display().to_string();
            move |source| RegistryError::Io { action, path, source }
        };
        match fs::read(&self.path) {
            Ok(existing) if existing == self.bytes => return Ok(self.path.clone()),
            Ok(_) => {
                return Err(RegistryError::VersionExists {
                    krate: self.krate.clone(),
                    vers: self.vers.clone(),
                    existing: format!("{} (a different file is stored)", self.vers),
                })
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(RegistryError::Io { action: "reading", path: shown, source })
            }
        }
        let Some(temp) = self.temp.take() else { return Ok(self.path.clone()) };
        if let Err(source) = fs::rename(&temp, &self.path) {
            let _ = fs::remove_file(&temp);
            return Err(RegistryError::Io { action: "renaming into", path: shown, source });
        }
        sync_dir(&self.dir).map_err(io("syncing", &self.dir))?;
        if self.created {
            sync_dir(&self.root).map_err(io("syncing", &self.root))?;
        }
        Ok(self.path.clone())
    }
}

impl Drop for StagedCrate {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = fs::remove_file(temp);
        }
    }
}

/// Makes a directory's entries (a rename into it, a new subdirectory) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Reads `path`, a `.crate` file, into a publish request: the normalized `Cargo.toml`
/// inside it, and the SHA-256 of the file. Also returns the file's bytes.
pub fn read_crate_file(path: &Path) -> Result<(PublishRequest, Vec<u8>), RegistryError> {
    let shown = path.display().to_string();
    let invalid = |source| RegistryError::InvalidPackage { path: shown.clone(), source };
    let io = |source| RegistryError::Io { action: "reading", path: shown.clone(), source };
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".crate"))
        .ok_or_else(|| invalid(PackageError::FileName))?
        .to_owned();
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|file| file.take(MAX_CRATE_SIZE + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    let request = read_crate_bytes(&stem, &bytes).map_err(invalid)?;
    Ok((request, bytes))
}

/// Reads a `.crate` file's bytes into a publish request; `stem` is what the file must be
/// named without `.crate` (`{name}-{version}`), and the directory every entry must be in.
///
/// Memory stays bounded whatever the bytes: the decompressed stream is cut off at
/// [`MAX_UNPACKED_SIZE`] plus a margin for headers, long-name and PAX headers are refused
/// above [`MAX_EXTENSION_HEADER`], and only `Cargo.toml` is read into memory.
pub fn read_crate_bytes(stem: &str, bytes: &[u8]) -> Result<PublishRequest, PackageError> {
    if bytes.len() as u64 > MAX_CRATE_SIZE {
        return Err(PackageError::TooLarge { size: bytes.len() as u64 });
    }
    let cksum = hex(&Sha256::digest(bytes));
    let exceeded = Rc::new(Cell::new(false));
    let stream = LimitedReader {
        inner: flate2::read::GzDecoder::new(bytes),
        remaining: MAX_UNPACKED_SIZE + HEADER_MARGIN,
        exceeded: Rc::clone(&exceeded),
    };
    let corrupt = |err: std::io::Error| {
        if exceeded.get() {
            PackageError::UnpacksTooLarge
        } else {
            PackageError::Corrupt(err)
        }
    };
    let mut archive = tar::Archive::new(stream);
    // Raw entries: the tar reader would otherwise read long-name and PAX headers whole,
    // whatever their declared size, before this loop sees them.
    let entries = archive.entries().map_err(corrupt)?.raw(true);
    let mut manifest = None;
    let mut unpacked: u64 = 0;
    let mut long_name: Option<Vec<u8>> = None;
    let mut pax_path: Option<Vec<u8>> = None;
    for entry in entries {
        let mut entry = entry.map_err(corrupt)?;
        let kind = entry.header().entry_type();
        let size = entry.size();
        if kind.is_gnu_longname()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions()
        {
            let which = if kind.is_gnu_longname() { "GNU long-name" } else { "PAX extension" };
            if size > MAX_EXTENSION_HEADER {
                return Err(PackageError::ExtensionHeader { kind: which, size });
            }
            if kind.is_gnu_longname() {
                let mut name = Vec::new();
                entry.read_to_end(&mut name).map_err(corrupt)?;
                while name.last() == Some(&0) {
                    name.pop();
                }
                long_name = Some(name);
                continue;
            }
            let global = kind.is_pax_global_extensions();
            let extensions = entry.pax_extensions().map_err(corrupt)?.into_iter().flatten();
            for extension in extensions {
                let extension = extension.map_err(corrupt)?;
                let key =
                    extension.key().map_err(|e| PackageError::Corrupt(std::io::Error::other(e)))?;
                match key {
                    "path" if !global => pax_path = Some(extension.value_bytes().to_vec()),
                    "comment" | "mtime" | "atime" | "ctime" | "uid" | "gid" | "uname" | "gname"
                    | "charset" | "hdrcharset" => {}
                    _ if key.starts_with("SCHILY.") || key.starts_with("LIBARCHIVE.") => {}
                    other => {
                        return Err(PackageError::PaxRecord {
                            key: other.chars().take(80).collect(),
                        })
                    }
                }
            }
            continue;
        }
        let raw_name = match (pax_path.take(), long_name.take()) {
            (Some(name), _) | (None, Some(name)) => name,
            (None, None) => entry.header().path_bytes().into_owned(),
        };
        let Ok(name) = String::from_utf8(raw_name.clone()) else {
            return Err(PackageError::EntryName {
                entry: String::from_utf8_lossy(&raw_name).into_owned(),
            });
        };
        if !(kind == tar::EntryType::Regular || kind == tar::EntryType::Directory) {
            return Err(PackageError::EntryKind { entry: name, kind: entry_kind(kind) });
        }
        let entry_path = Path::new(&name);
        if entry_path.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(PackageError::EscapesRoot { entry: name });
        }
        let mut components = entry_path.components().filter(|c| *c != Component::CurDir);
        match components.next() {
            Some(Component::Normal(top)) if top == std::ffi::OsStr::new(stem) => {}
            _ => return Err(PackageError::OutsideRoot { entry: name, root: stem.to_owned() }),
        }
        unpacked = unpacked.saturating_add(size);
        if unpacked > MAX_UNPACKED_SIZE {
            return Err(PackageError::UnpacksTooLarge);
        }
        let rest: PathBuf = components.collect();
        if kind == tar::EntryType::Regular && rest == Path::new("Cargo.toml") {
            if manifest.is_some() {
                return Err(PackageError::DuplicateManifest { entry: name });
            }
            if size > MAX_MANIFEST_SIZE {
                return Err(PackageError::ManifestTooLarge { size });
            }
            let mut text = String::new();
            entry.by_ref().take(MAX_MANIFEST_SIZE + 1).read_to_string(&mut text).map_err(|e| {
                if exceeded.get() {
                    PackageError::UnpacksTooLarge
                } else {
                    PackageError::ManifestNotUtf8(e)
                }
            })?;
            manifest = Some(text);
        }
    }
    if long_name.is_some() || pax_path.is_some() {
        return Err(PackageError::Corrupt(std::io::Error::other(
            "a long-name or PAX header is not followed by an entry",
        )));
    }
    let manifest =
        manifest.ok_or_else(|| PackageError::MissingManifest { root: stem.to_owned() })?;
    let request = parse_manifest(&manifest, cksum).map_err(PackageError::Manifest)?;
    if format!("{}-{}", request.name, request.vers) != stem {
        return Err(PackageError::NameMismatch {
            name: request.name,
            vers: request.vers,
            stem: stem.to_owned(),
        });
    }
    Ok(request)
}

/// What a tar entry type is, for messages.
fn entry_kind(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Symlink => "symbolic link".into(),
        tar::EntryType::Link => "hard link".into(),
        tar::EntryType::Char => "character device".into(),
        tar::EntryType::Block => "block device".into(),
        tar::EntryType::Fifo => "FIFO".into(),
        tar::EntryType::Continuous => "contiguous file".into(),
        tar::EntryType::GNUSparse => "sparse file".into(),
        tar::EntryType::GNULongLink => "long link name".into(),
        other => format!("entry of type {:?}", char::from(other.as_byte())),
    }
}

/// Cuts a stream off after `remaining` bytes with an error, and says so through `exceeded`
/// (the tar reader wraps the error it gets).
struct LimitedReader<R> {
    inner: R,
    remaining: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            // Only an error if there is more to read.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded.set(true);
                    Err(std::io::Error::other(format!(
                        "the archive unpacks to more than {MAX_UNPACKED_SIZE} bytes"
                    )))
                }
            };
        }
        let max = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..max])?;
        self.remaining -= read as u64;
        Ok(read)
    }
}

/// Reads a normalized `Cargo.toml` (as `cargo package` writes it into a `.crate`) into a
/// publish request with checksum `cksum`. The request's values are checked when it is
/// published ([`PublishRequest::validate`]).
pub fn read_manifest(text: &str, cksum: &str) -> Result<PublishRequest, PackageError> {
    parse_manifest(text, cksum.to_owned()).map_err(PackageError::Manifest)
}

fn parse_manifest(text: &str, cksum: String) -> Result<PublishRequest, String> {
    let manifest: toml::Table =
        toml::from_str(text).map_err(|e| format!("Cargo.toml is not valid TOML: {e}"))?;
    let package =
        manifest.get("package").and_then(|p| p.as_table()).ok_or("Cargo.toml has no [package]")?;
    let string = |key: &str| package.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let name = string("name").ok_or("Cargo.toml has no package.name")?;
    let vers = string("version").ok_or("Cargo.toml has no package.version")?;
    let mut deps = Vec::new();
    collect_deps(&manifest, None, &mut deps)?;
    if let Some(targets) = manifest.get("target").and_then(|t| t.as_table()) {
        for (target, table) in targets {
            if let Some(table) = table.as_table() {
                collect_deps(table, Some(target), &mut deps)?;
            }
        }
    }
    let mut features = FeatureMap::new();
    if let Some(table) = manifest.get("features").and_then(|f| f.as_table()) {
        for (feature, values) in table {
            let values = values
                .as_array()
                .ok_or_else(|| format!("feature {feature} is not a list"))?
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        format!("feature {feature} has a value that is not a string")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            features.insert(feature.clone(), values);
        }
    }
    Ok(PublishRequest {
        name,
        vers,
        deps,
        features,
        links: string("links"),
        rust_version: string("rust-version"),
        cksum,
    })
}

fn collect_deps(
    table: &toml::Table,
    target: Option<&str>,
    out: &mut Vec<IndexDependency>,
) -> Result<(), String> {
    let kinds = [
        ("dependencies", DependencyKind::Normal),
        ("dev-dependencies", DependencyKind::Dev),
        ("dev_dependencies", DependencyKind::Dev),
        ("build-dependencies", DependencyKind::Build),
        ("build_dependencies", DependencyKind::Build),
    ];
    for (key, kind) in kinds {
        let Some(deps) = table.get(key).and_then(|d| d.as_table()) else { continue };
        for (name, spec) in deps {
            let (req, detail) = match spec {
                toml::Value::String(req) => (Some(req.clone()), None),
                toml::Value::Table(detail) => (
                    detail.get("version").and_then(|v| v.as_str()).map(str::to_owned),
                    Some(detail),
                ),
                _ => return Err(format!("dependency {name} is neither a version nor a table")),
            };
            let req = req.ok_or_else(|| format!("dependency {name} has no version requirement"))?;
            let req = semver::VersionReq::parse(&req)
                .map_err(|e| {
                    format!("dependency {name} has an invalid version requirement {req:?}: {e}")
                })?
                .to_string();
            let flag = |key: &str, alt: &str, default: bool| {
                detail
                    .and_then(|d| d.get(key).or_else(|| d.get(alt)))
                    .and_then(|v| v.as_bool())
                    .unwrap_or(default)
            };
            let features = detail
                .and_then(|d| d.get("features"))
                .and_then(|f| f.as_array())
                .map(|f| f.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let package =
                detail.and_then(|d| d.get("package")).and_then(|p| p.as_str()).map(str::to_owned);
            let registry = detail
                .and_then(|d| d.get("registry-index"))
                .and_then(|p| p.as_str())
                .map(str::to_owned);
            out.push(IndexDependency {
                name: name.clone(),
                req,
                features,
                optional: flag("optional", "optional", false),
                default_features: flag("default-features", "default_features", true),
                target: target.map(str::to_owned),
                kind: Some(kind),
                registry,
                package,
            });
        }
    }
    Ok(())
}

/// Writes a `.crate` archive as `cargo package` lays it out: every file under
/// `{name}-{version}/`, gzipped. `files` are paths relative to the package root with their
/// contents; the manifest must be among them as `Cargo.toml`. For samples and tests.
pub fn write_crate_archive(
    path: &Path,
    name: &CrateName,
    vers: &semver::Version,
    files: &[(&str, &str)],
) -> Result<(), RegistryError> {
    let shown = path.display().to_string();
    let io = |source| RegistryError::Io { action: "writing", path: shown.clone(), source };
    let file = fs::File::create(path).map_err(io)?;
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
    for (relative, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{name}-{vers}/{relative}"), contents.as_bytes())
            .map_err(io)?;
    }
    builder.into_inner().map_err(io)?.finish().map_err(io)?;
    Ok(())
}
