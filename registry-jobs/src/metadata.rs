//! A version to publish ([`PublishRequest`]) and the checks of every value of it that
//! reaches an index line, done the way crates.io does them, so a crafted upload can't put
//! into the index what Cargo itself would never write.

use std::collections::BTreeSet;

use index_git::{CrateName, FeatureMap, IndexDependency};

use crate::error::{MetadataError, RegistryError};
use crate::limits::{
    MAX_DEPENDENCIES, MAX_FEATURES, MAX_FEATURE_NAME_LEN, MAX_FEATURE_VALUES, MAX_FIELD_LEN,
    MAX_LINKS_LEN, MAX_TARGET_LEN, MAX_VERSION_LEN,
};

/// The deepest nesting of `all(...)`, `any(...)` and `not(...)` in a `cfg(...)` target.
const MAX_CFG_DEPTH: usize = 16;

/// A version to publish, as a registry's publish endpoint receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRequest {
    /// The crate's name.
    pub name: String,
    /// The version.
    pub vers: String,
    /// The dependencies, in index form (renamed ones with `package` set).
    pub deps: Vec<IndexDependency>,
    /// Every feature; the split into `features2` happens when the index line is written.
    pub features: FeatureMap,
    /// `package.links`.
    pub links: Option<String>,
    /// `package.rust-version`.
    pub rust_version: Option<String>,
    /// SHA-256 of the `.crate` file, lowercase hex.
    pub cksum: String,
}

impl PublishRequest {
    /// Checks everything that would reach the index line: the name, the version, the
    /// checksum, every dependency, feature, `links` and `rust-version`. [`publish`](crate::publish)
    /// does this first; a server can call it before it reads any more of an upload.
    pub fn validate(&self) -> Result<(CrateName, semver::Version), RegistryError> {
        validate(self)
    }
}

pub(crate) fn parse_version(vers: &str) -> Result<semver::Version, RegistryError> {
    semver::Version::parse(vers)
        .map_err(|source| RegistryError::InvalidVersion { vers: vers.to_owned(), source })
}

/// Checks a request's name, version, checksum, dependencies, features, `links` and
/// `rust-version`: everything that reaches the index line.
pub(crate) fn validate(
    request: &PublishRequest,
) -> Result<(CrateName, semver::Version), RegistryError> {
    let name = CrateName::new(&request.name)?;
    validate_metadata(request)?;
    let vers = parse_version(&request.vers)?;
    for dep in &request.deps {
        semver::VersionReq::parse(&dep.req).map_err(|source| RegistryError::InvalidDependency {
            dependency: dep.name.clone(),
            req: dep.req.clone(),
            source,
        })?;
    }
    if request.cksum.len() != 64
        || !request.cksum.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(RegistryError::InvalidChecksum {
            krate: request.name.clone(),
            vers: request.vers.clone(),
            cksum: request.cksum.chars().take(80).collect(),
        });
    }
    Ok((name, vers))
}

/// Checks every value of `request` that ends up in an index line, beyond name, version and
/// checksum (which [`validate`] checks itself).
pub(crate) fn validate_metadata(request: &PublishRequest) -> Result<(), MetadataError> {
    if request.vers.len() > MAX_VERSION_LEN {
        return Err(MetadataError::VersionTooLong {
            vers: shorten(&request.vers),
            len: request.vers.len(),
        });
    }
    if let Some(links) = &request.links {
        validate_links(links)?;
    }
    if let Some(rust_version) = &request.rust_version {
        validate_rust_version(rust_version)?;
    }
    if request.deps.len() > MAX_DEPENDENCIES {
        return Err(MetadataError::TooManyDependencies { count: request.deps.len() });
    }
    for dep in &request.deps {
        validate_dependency(dep)?;
    }
    validate_features(request)
}

fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

fn validate_links(links: &str) -> Result<(), MetadataError> {
    let ok = !links.is_empty()
        && links.len() <= MAX_LINKS_LEN
        && links
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(MetadataError::Links { links: shorten(links) })
    }
}

/// `rust-version` as Cargo accepts it: `MAJOR.MINOR` or `MAJOR.MINOR.PATCH`, numbers
/// without leading zeros, nothing else.
fn validate_rust_version(value: &str) -> Result<(), MetadataError> {
    let parts: Vec<&str> = value.split('.').collect();
    let number = |part: &&str| {
        !part.is_empty()
            && part.len() <= 10
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part.len() == 1 || !part.starts_with('0'))
    };
    if (2..=3).contains(&parts.len()) && parts.iter().all(number) {
        Ok(())
    } else {
        Err(MetadataError::RustVersion { rust_version: shorten(value) })
    }
}

/// A feature name: ASCII alphanumerics, `_`, `-`, `+` and `.`, starting with an
/// alphanumeric or `_`.
fn check_feature_name(name: &str) -> Result<(), &'static str> {
    const EXPECTED: &str = "expected ASCII letters, digits, '_', '-', '+' or '.', starting with a letter, a digit or '_'";
    let Some(first) = name.bytes().next() else { return Err("a feature name must not be empty") };
    if name.len() > MAX_FEATURE_NAME_LEN {
        return Err("a feature name is at most 100 bytes long");
    }
    if !(first.is_ascii_alphanumeric() || first == b'_') {
        return Err(EXPECTED);
    }
    if name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'.')) {
        Ok(())
    } else {
        Err(EXPECTED)
    }
}

/// The syntax of a feature value: `feature`, `dep:name`, `name/feature`, `name?/feature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeatureValue<'a> {
    Feature(&'a str),
    Dep(&'a str),
    DepFeature { dep: &'a str, weak: bool, feature: &'a str },
}

fn parse_feature_value(value: &str) -> Result<FeatureValue<'_>, String> {
    if let Some(dep) = value.strip_prefix("dep:") {
        CrateName::new(dep).map_err(|e| format!("`dep:` must name a dependency: {e}"))?;
        return Ok(FeatureValue::Dep(dep));
    }
    if let Some((dep, feature)) = value.split_once('/') {
        let (dep, weak) = match dep.strip_suffix('?') {
            Some(dep) => (dep, true),
            None => (dep, false),
        };
        CrateName::new(dep).map_err(|e| format!("expected `dependency/feature`: {e}"))?;
        check_feature_name(feature).map_err(|e| format!("expected `dependency/feature`: {e}"))?;
        return Ok(FeatureValue::DepFeature { dep, weak, feature });
    }
    check_feature_name(value).map_err(str::to_owned)?;
    Ok(FeatureValue::Feature(value))
}

fn validate_features(request: &PublishRequest) -> Result<(), MetadataError> {
    if request.features.len() > MAX_FEATURES {
        return Err(MetadataError::TooManyFeatures { count: request.features.len() });
    }
    // Features name dependencies by their name in the manifest (the rename, if any), and
    // only normal and build dependencies can be enabled by a feature.
    let usable: Vec<&IndexDependency> =
        request.deps.iter().filter(|d| d.kind != Some(index_git::DependencyKind::Dev)).collect();
    let optional: BTreeSet<&str> =
        usable.iter().filter(|d| d.optional).map(|d| d.name.as_str()).collect();
    let any: BTreeSet<&str> = usable.iter().map(|d| d.name.as_str()).collect();
    for (feature, values) in &request.features {
        check_feature_name(feature)
            .map_err(|expected| MetadataError::FeatureName { name: shorten(feature), expected })?;
        if values.len() > MAX_FEATURE_VALUES {
            return Err(MetadataError::TooManyFeatureValues {
                feature: feature.clone(),
                count: values.len(),
            });
        }
        for value in values {
            let parsed =
                parse_feature_value(value).map_err(|expected| MetadataError::FeatureValue {
                    feature: feature.clone(),
                    value: shorten(value),
                    expected,
                })?;
            let missing = |dependency: &str, expected| MetadataError::FeatureDependency {
                feature: feature.clone(),
                value: value.clone(),
                dependency: dependency.to_owned(),
                expected,
            };
            match parsed {
                FeatureValue::Feature(name) => {
                    if !request.features.contains_key(name) && !optional.contains(name) {
                        return Err(missing(name, "a feature or an optional dependency"));
                    }
                }
                FeatureValue::Dep(dep) => {
                    if !optional.contains(dep) {
                        return Err(missing(dep, "an optional dependency"));
                    }
                }
                FeatureValue::DepFeature { dep, weak, .. } => {
                    if weak && !optional.contains(dep) {
                        return Err(missing(dep, "an optional dependency"));
                    }
                    if !any.contains(dep) {
                        return Err(missing(dep, "a dependency"));
                    }
                }
            }
        }
    }
    Ok(())
}

fn validate_dependency(dep: &IndexDependency) -> Result<(), MetadataError> {
    CrateName::new(&dep.name).map_err(MetadataError::DependencyName)?;
    if let Some(package) = &dep.package {
        CrateName::new(package).map_err(|source| MetadataError::PackageRename {
            dependency: dep.name.clone(),
            source,
        })?;
    }
    if dep.req.len() > MAX_FIELD_LEN {
        return Err(MetadataError::RequirementTooLong {
            dependency: dep.name.clone(),
            len: dep.req.len(),
        });
    }
    if dep.features.len() > MAX_FEATURE_VALUES {
        return Err(MetadataError::DependencyFeature {
            dependency: dep.name.clone(),
            value: format!("{} features", dep.features.len()),
            expected: format!("at most {MAX_FEATURE_VALUES} features"),
        });
    }
    for feature in &dep.features {
        let checked = match feature.split_once('/') {
            Some((inner, feat)) => CrateName::new(inner.strip_suffix('?').unwrap_or(inner))
                .map_err(|e| e.to_string())
                .and_then(|_| check_feature_name(feat).map_err(str::to_owned)),
            None => check_feature_name(feature).map_err(str::to_owned),
        };
        checked.map_err(|expected| MetadataError::DependencyFeature {
            dependency: dep.name.clone(),
            value: shorten(feature),
            expected,
        })?;
    }
    if let Some(target) = &dep.target {
        validate_target(target).map_err(|expected| MetadataError::Target {
            dependency: dep.name.clone(),
            target: shorten(target),
            expected,
        })?;
    }
    if let Some(registry) = &dep.registry {
        let ok = registry.len() <= MAX_FIELD_LEN
            && url::Url::parse(registry).is_ok_and(|u| !u.cannot_be_a_base());
        if !ok {
            return Err(MetadataError::Registry {
                dependency: dep.name.clone(),
                registry: shorten(registry),
            });
        }
    }
    Ok(())
}

/// A target as Cargo writes it: a target triple (`x86_64-unknown-linux-gnu`, or a custom
/// target's name) or a `cfg(...)` expression.
pub(crate) fn validate_target(target: &str) -> Result<(), String> {
    if target.len() > MAX_TARGET_LEN {
        return Err(format!("at most {MAX_TARGET_LEN} bytes are allowed, found {}", target.len()));
    }
    if let Some(inner) = target.strip_prefix("cfg(").and_then(|t| t.strip_suffix(')')) {
        let mut parser = CfgParser { text: inner.as_bytes(), at: 0 };
        parser.expression(0)?;
        parser.skip_spaces();
        if parser.at != parser.text.len() {
            return Err(format!("unexpected text at byte {} of the cfg expression", parser.at));
        }
        return Ok(());
    }
    let triple = !target.is_empty()
        && target.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && target.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if triple {
        Ok(())
    } else {
        Err("expected a target triple (ASCII letters, digits, '-', '_', '.') or cfg(...)".into())
    }
}

/// A recursive-descent parser of Cargo's `cfg` grammar:
/// `ident`, `ident = "string"`, `all(list)`, `any(list)`, `not(expr)`.
struct CfgParser<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> CfgParser<'a> {
    fn skip_spaces(&mut self) {
        while self.text.get(self.at).is_some_and(|b| *b == b' ') {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_spaces();
        if self.text.get(self.at) == Some(&byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Result<&'a str, String> {
        self.skip_spaces();
        let start = self.at;
        while self.text.get(self.at).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
            self.at += 1;
        }
        let text: &'a [u8] = self.text;
        let ident = &text[start..self.at];
        match ident.first() {
            Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
                Ok(std::str::from_utf8(ident).unwrap_or_default())
            }
            _ => Err(format!("expected an identifier at byte {start} of the cfg expression")),
        }
    }

    fn expression(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_CFG_DEPTH {
            return Err(format!("cfg expressions nest at most {MAX_CFG_DEPTH} deep"));
        }
        let ident = self.ident()?;
        match ident {
            "all" | "any" | "not" if self.eat(b'(') => {
                let single = ident == "not";
                let mut count = 0;
                loop {
                    if self.eat(b')') {
                        break;
                    }
                    if count > 0 && !self.eat(b',') {
                        return Err(format!("expected ',' or ')' at byte {}", self.at));
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.expression(depth + 1)?;
                    count += 1;
                }
                if single && count != 1 {
                    return Err("not(...) takes exactly one expression".into());
                }
                Ok(())
            }
            _ => {
                if self.eat(b'=') {
                    self.string()
                } else {
                    Ok(())
                }
            }
        }
    }

    fn string(&mut self) -> Result<(), String> {
        if !self.eat(b'"') {
            return Err(format!("expected a quoted string at byte {}", self.at));
        }
        while let Some(b) = self.text.get(self.at) {
            self.at += 1;
            match b {
                b'"' => return Ok(()),
                b if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+') => {}
                _ => {
                    return Err(format!(
                        "cfg strings hold ASCII letters, digits, '_', '-', '.' and '+', found {:?}",
                        char::from(*b)
                    ))
                }
            }
        }
        Err("unterminated string in the cfg expression".into())
    }
}

#[cfg(test)]
mod tests;
