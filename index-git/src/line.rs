//! One line of an index file: a published version, serialized as Cargo reads it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Feature name to the features and dependencies it enables.
pub type FeatureMap = BTreeMap<String, Vec<String>>;

/// One version of a crate, as a line of the crate's index file.
///
/// Fields are written in the order crates.io writes them; optional fields are left out when
/// absent, and `features2` with `"v":2` appears only when a feature uses the `dep:` or
/// `pkg?/feat` syntax (see [`IndexLine::with_features`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexLine {
    /// The crate's name, as published.
    pub name: String,
    /// The version, as published (semver; build metadata kept as written).
    pub vers: String,
    /// The dependencies.
    pub deps: Vec<IndexDependency>,
    /// SHA-256 of the `.crate` file, lowercase hex.
    pub cksum: String,
    /// Features in the syntax every Cargo understands.
    pub features: FeatureMap,
    /// Features using `dep:` or `pkg?/feat`, read by Cargo 1.60 and later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features2: Option<FeatureMap>,
    /// Whether the version is yanked.
    #[serde(default, deserialize_with = "null_as_false")]
    pub yanked: bool,
    /// The native library the crate links, from `package.links`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<String>,
    /// The minimum supported Rust version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_version: Option<String>,
    /// When the version was published, `YYYY-MM-DDTHH:MM:SSZ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubtime: Option<String>,
    /// The schema version: `Some(2)` when `features2` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
}

/// A dependency of an [`IndexLine`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IndexDependency {
    /// The name the dependent crate uses (the rename, when `package` is set).
    pub name: String,
    /// The version requirement.
    pub req: String,
    /// Features enabled on the dependency.
    pub features: Vec<String>,
    /// Whether the dependency is optional.
    pub optional: bool,
    /// Whether the dependency's default features are enabled.
    pub default_features: bool,
    /// The `cfg(...)` or target triple the dependency is limited to.
    pub target: Option<String>,
    /// Normal, build or dev dependency.
    pub kind: Option<DependencyKind>,
    /// The registry index URL of the dependency, when it is not this registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The real name of a renamed dependency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

impl IndexDependency {
    /// A normal dependency on `name` with the requirement `req`: not optional, default
    /// features on, no target, from this registry; set the other fields on the result.
    pub fn normal(name: impl Into<String>, req: impl Into<String>) -> IndexDependency {
        IndexDependency {
            name: name.into(),
            req: req.into(),
            features: Vec::new(),
            optional: false,
            default_features: true,
            target: None,
            kind: Some(DependencyKind::Normal),
            registry: None,
            package: None,
        }
    }
}

/// The kind of a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DependencyKind {
    /// A dependency of the library and binaries.
    Normal,
    /// A dependency of the build script.
    Build,
    /// A dependency of tests, examples and benchmarks.
    Dev,
}

fn null_as_false<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(false))
}

impl IndexLine {
    /// A line for version `vers` of `name` whose `.crate` has the SHA-256 `cksum`, with no
    /// dependencies, features, `links` or `rust_version`, not yanked; set the other fields
    /// on the result.
    pub fn new(name: impl Into<String>, vers: impl Into<String>, cksum: impl Into<String>) -> Self {
        IndexLine {
            name: name.into(),
            vers: vers.into(),
            deps: Vec::new(),
            cksum: cksum.into(),
            features: FeatureMap::new(),
            features2: None,
            yanked: false,
            links: None,
            rust_version: None,
            pubtime: None,
            v: None,
        }
    }

    /// Sets the features, putting those that use `dep:` or `pkg?/feat` (and those that
    /// enable such features) into `features2` and setting `"v":2` when there are any.
    pub fn with_features(mut self, all: FeatureMap) -> IndexLine {
        let (features, features2) = split_features(all);
        self.features = features;
        if features2.is_empty() {
            self.features2 = None;
            self.v = None;
        } else {
            self.features2 = Some(features2);
            self.v = Some(2);
        }
        self
    }

    /// The line as Cargo reads it, without the trailing newline.
    pub fn to_json(&self) -> String {
        // Serializing plain strings, bools, vectors and string-keyed maps cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether this line is for `vers`, comparing versions without build metadata.
    pub fn is_version(&self, vers: &str) -> bool {
        same_version(&self.vers, vers)
    }
}

/// Whether two version strings name the same version: equal once parsed as semver and with
/// build metadata ignored (`1.0.7` and `1.0.7+x` are the same). Strings that are not semver
/// are compared as written.
pub fn same_version(a: &str, b: &str) -> bool {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => {
            a.major == b.major && a.minor == b.minor && a.patch == b.patch && a.pre == b.pre
        }
        _ => a == b,
    }
}

fn uses_new_syntax(value: &str) -> bool {
    value.starts_with("dep:") || value.contains("?/")
}

/// Splits features into those every Cargo reads and those that need the `features2` field:
/// the ones using `dep:` or `pkg?/feat`, and, transitively, the ones enabling those.
pub fn split_features(all: FeatureMap) -> (FeatureMap, FeatureMap) {
    let (mut old, mut new): (FeatureMap, FeatureMap) =
        all.into_iter().partition(|(_, values)| !values.iter().any(|v| uses_new_syntax(v)));
    loop {
        let moving: Vec<String> = old
            .iter()
            .filter(|(_, values)| values.iter().any(|v| new.contains_key(v)))
            .map(|(name, _)| name.clone())
            .collect();
        if moving.is_empty() {
            break;
        }
        for name in moving {
            if let Some(values) = old.remove(&name) {
                new.insert(name, values);
            }
        }
    }
    (old, new)
}
