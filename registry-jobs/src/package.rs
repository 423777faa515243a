//! Reading a `.crate` file as `cargo package` writes it, and the crate store it goes to.

use std::fs;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use index_git::{CrateName, DependencyKind, FeatureMap, IndexDependency};
use sha2::{Digest as _, Sha256};

use crate::db::RegistryConnection;
use crate::error::RegistryError;
use crate::ops::{publish, PublishRequest, Published};

/// The largest `.crate` file accepted.
pub const MAX_CRATE_SIZE: u64 = 50 * 1024 * 1024;
/// The largest `Cargo.toml` accepted inside a `.crate` file.
pub const MAX_MANIFEST_SIZE: u64 = 1024 * 1024;
/// The most bytes a `.crate` file may unpack to.
pub const MAX_UNPACKED_SIZE: u64 = 512 * 1024 * 1024;

/// Where `.crate` files are kept for download: `{root}/{crate}/{version}.crate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateStore {
    root: PathBuf,
}

impl CrateStore {
    /// A store in `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> CrateStore {
        CrateStore { root: root.into() }
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

    /// Writes a version's file atomically (a temporary file renamed into place). Writing
    /// the same bytes again is fine; different bytes for a stored version are refused.
    pub fn store(
        &self,
        name: &CrateName,
        vers: &semver::Version,
        bytes: &[u8],
    ) -> Result<PathBuf, RegistryError> {
        let path = self.path_of(name, vers);
        let shown = path.display().to_string();
        if let Ok(existing) = fs::read(&path) {
            if existing == bytes {
                return Ok(path);
            }
            return Err(RegistryError::VersionExists {
                krate: name.to_string(),
                vers: vers.to_string(),
                existing: format!("{vers} (a different file is stored at {shown})"),
            });
        }
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|source| RegistryError::Io {
            action: "creating",
            path: dir.display().to_string(),
            source,
        })?;
        let temp = dir.join(format!(".{vers}.crate.{}.tmp", std::process::id()));
        fs::write(&temp, bytes).map_err(|source| RegistryError::Io {
            action: "writing",
            path: temp.display().to_string(),
            source,
        })?;
        fs::rename(&temp, &path).map_err(|source| RegistryError::Io {
            action: "renaming into",
            path: shown,
            source,
        })?;
        Ok(path)
    }
}

/// Reads `path`, a `.crate` file, into a publish request: the normalized `Cargo.toml`
/// inside it, and the SHA-256 of the file. Also returns the file's bytes.
pub fn read_crate_file(path: &Path) -> Result<(PublishRequest, Vec<u8>), RegistryError> {
    let shown = path.display().to_string();
    let invalid = |reason: String| RegistryError::InvalidPackage { path: shown.clone(), reason };
    let size = fs::metadata(path)
        .map_err(|source| RegistryError::Io { action: "reading", path: shown.clone(), source })?
        .len();
    if size > MAX_CRATE_SIZE {
        return Err(invalid(format!("{size} bytes is more than the {MAX_CRATE_SIZE} allowed")));
    }
    let bytes = fs::read(path).map_err(|source| RegistryError::Io {
        action: "reading",
        path: shown.clone(),
        source,
    })?;
    let cksum: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let file_stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".crate"))
        .ok_or_else(|| invalid("the file name does not end in .crate".into()))?
        .to_owned();

    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let entries =
        archive.entries().map_err(|e| invalid(format!("not a gzipped tar archive: {e}")))?;
    let mut manifest = None;
    let mut unpacked: u64 = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(format!("corrupt archive: {e}")))?;
        let entry_path =
            entry.path().map_err(|e| invalid(format!("unreadable entry name: {e}")))?.into_owned();
        let mut components = entry_path.components();
        let top = match components.next() {
            Some(Component::Normal(top)) => top.to_string_lossy().into_owned(),
            _ => {
                return Err(invalid(format!(
                    "entry {} is not inside the package directory",
                    entry_path.display()
                )))
            }
        };
        if entry_path.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(invalid(format!(
                "entry {} escapes the archive root",
                entry_path.display()
            )));
        }
        if top != file_stem {
            return Err(invalid(format!("entry {} is outside {file_stem}/", entry_path.display())));
        }
        unpacked = unpacked.saturating_add(entry.size());
        if unpacked > MAX_UNPACKED_SIZE {
            return Err(invalid(format!("it unpacks to more than {MAX_UNPACKED_SIZE} bytes")));
        }
        let rest: PathBuf = components.collect();
        if rest == Path::new("Cargo.toml") {
            if entry.size() > MAX_MANIFEST_SIZE {
                return Err(invalid(format!(
                    "Cargo.toml is {} bytes, more than the {MAX_MANIFEST_SIZE} allowed",
                    entry.size()
                )));
            }
            let mut text = String::new();
            entry
                .by_ref()
                .take(MAX_MANIFEST_SIZE + 1)
                .read_to_string(&mut text)
                .map_err(|e| invalid(format!("Cargo.toml is not UTF-8 text: {e}")))?;
            manifest = Some(text);
        }
    }
    let manifest =
        manifest.ok_or_else(|| invalid(format!("no {file_stem}/Cargo.toml in the archive")))?;
    let request = parse_manifest(&manifest, cksum).map_err(invalid)?;
    let expected = format!("{}-{}", request.name, request.vers);
    if expected != file_stem {
        return Err(invalid(format!(
            "the manifest says {} {} but the file is named {file_stem}.crate",
            request.name, request.vers
        )));
    }
    Ok((request, bytes))
}

/// Publishes a `.crate` file: validates it, stores it in `store` and records the version
/// and its index job in one transaction on the caller's connection.
pub fn publish_crate_file<C: RegistryConnection>(
    conn: &mut C,
    store: &CrateStore,
    path: &Path,
) -> Result<Published, RegistryError> {
    let (request, bytes) = read_crate_file(path)?;
    conn.write_transaction(|conn| {
        let published = publish(conn, &request)?;
        // Stored once the database accepted the version, inside its transaction: a stored
        // file without a row is harmless, a row without its file is not.
        store.store(&published.name, &published.vers, &bytes)?;
        Ok(published)
    })
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
