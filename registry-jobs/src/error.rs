//! The error type of the registry operations.

use crate::limits::{
    MAX_CRATE_SIZE, MAX_DEPENDENCIES, MAX_EXTENSION_HEADER, MAX_FEATURES, MAX_FEATURE_VALUES,
    MAX_FIELD_LEN, MAX_LINKS_LEN, MAX_MANIFEST_SIZE, MAX_UNPACKED_SIZE, MAX_VERSION_LEN,
};

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The crate name is not valid.
    #[error(transparent)]
    InvalidName(#[from] index_git::NameError),
    /// The version is not semver.
    #[error("invalid version {vers:?}: {source}")]
    InvalidVersion {
        /// The version as given.
        vers: String,
        /// The parser's error.
        source: semver::Error,
    },
    /// A dependency's version requirement is not valid.
    #[error("invalid version requirement {req:?} for dependency {dependency}: {source}")]
    InvalidDependency {
        /// The dependency's name.
        dependency: String,
        /// The requirement as given.
        req: String,
        /// The parser's error.
        source: semver::Error,
    },
    /// A value of the version's metadata can't go into the index.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The checksum is not a SHA-256 in lowercase hex.
    #[error("checksum {cksum:?} of {krate} {vers} is not 64 lowercase hex digits")]
    InvalidChecksum {
        /// The crate.
        krate: String,
        /// The version.
        vers: String,
        /// The checksum as given.
        cksum: String,
    },
    /// The version was published already (build metadata ignored).
    #[error("{krate} {vers} already exists (published as {existing})")]
    VersionExists {
        /// The crate.
        krate: String,
        /// The version asked for.
        vers: String,
        /// The version as it was published.
        existing: String,
    },
    /// Another crate's name has the same canonical form.
    #[error("crate name {name:?} clashes with the existing crate {existing:?} ('-' and '_' and letter case do not make names distinct)")]
    NameClash {
        /// The name asked for.
        name: String,
        /// The existing crate's name.
        existing: String,
    },
    /// A login is not valid.
    #[error("invalid login {login:?}: expected 1 to 64 ASCII letters, digits, '-' or '_'")]
    InvalidLogin {
        /// The login as given.
        login: String,
    },
    /// No user has this login.
    #[error("user {login:?} does not exist; an operator creates users with `registry-server token create LOGIN`")]
    UnknownUser {
        /// The login.
        login: String,
    },
    /// The user does not own the crate.
    #[error("user {login:?} is not an owner of crate {krate}; ask an owner to run `cargo owner --add {login} {krate}`")]
    NotOwner {
        /// The crate.
        krate: String,
        /// The user.
        login: String,
    },
    /// Removing the owners would leave the crate without one.
    #[error("crate {krate} must keep at least one owner")]
    LastOwner {
        /// The crate.
        krate: String,
    },
    /// The crate does not exist.
    #[error("crate {0} does not exist")]
    UnknownCrate(String),
    /// The version does not exist.
    #[error("{krate} {vers} does not exist")]
    UnknownVersion {
        /// The crate.
        krate: String,
        /// The version.
        vers: String,
    },
    /// A `.crate` archive is not what it claims to be.
    #[error("invalid crate file {path}: {source}")]
    InvalidPackage {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: PackageError,
    },
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Object storage failed.
    #[error("{action} {url}: {reason}")]
    Storage {
        /// The object (or bucket) URL, credentials redacted.
        url: String,
        /// What was being done.
        action: &'static str,
        /// The store's error.
        reason: String,
    },
    /// A database query failed.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// Applying migrations failed.
    #[error("applying migrations failed: {0}")]
    Migration(String),
    /// The connection pool gave no connection.
    #[error("no database connection: {0}; check that the database is reachable")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// The job queue failed.
    #[error(transparent)]
    Queue(#[from] queue_diesel::Error),
    /// Stored data could not be read back.
    #[error("stored data of {krate} {vers} is corrupt: {source}")]
    CorruptRow {
        /// The crate.
        krate: String,
        /// The version.
        vers: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The index could not be read or written.
    #[error(transparent)]
    Index(#[from] index_git::RepoError),
    /// An index line could not be built.
    #[error(transparent)]
    IndexFile(#[from] index_git::FileError),
}

/// Why a value of a version's metadata can't go into the index. Each variant names the
/// value as given (escaped) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The version string is longer than [`MAX_VERSION_LEN`].
    #[error("version {vers:?} is {len} bytes long: at most {MAX_VERSION_LEN} are allowed")]
    VersionTooLong {
        /// The version, cut to a readable length.
        vers: String,
        /// Its length in bytes.
        len: usize,
    },
    /// More than [`MAX_FEATURES`] features.
    #[error("{count} features are declared: at most {MAX_FEATURES} are allowed")]
    TooManyFeatures {
        /// How many were declared.
        count: usize,
    },
    /// A feature name is not ASCII alphanumerics, `_`, `-`, `+` and `.`, starting with an
    /// alphanumeric or `_`, or is too long.
    #[error("invalid feature name {name:?}: {expected}")]
    FeatureName {
        /// The name.
        name: String,
        /// What a feature name must look like.
        expected: &'static str,
    },
    /// A feature lists more than [`MAX_FEATURE_VALUES`] values.
    #[error("feature {feature:?} lists {count} values: at most {MAX_FEATURE_VALUES} are allowed")]
    TooManyFeatureValues {
        /// The feature.
        feature: String,
        /// How many values it lists.
        count: usize,
    },
    /// A feature's value is not `feature`, `dep:name`, `name/feature` or `name?/feature`.
    #[error("invalid value {value:?} in feature {feature:?}: {expected}")]
    FeatureValue {
        /// The feature.
        feature: String,
        /// The value.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// A feature refers to a dependency the version does not declare (or, for `dep:`, one
    /// that is not optional).
    #[error("feature {feature:?} refers to {value:?}, but {dependency:?} is not {expected}")]
    FeatureDependency {
        /// The feature.
        feature: String,
        /// The value.
        value: String,
        /// The dependency named in it.
        dependency: String,
        /// What the dependency would have to be.
        expected: &'static str,
    },
    /// More than [`MAX_DEPENDENCIES`] dependencies.
    #[error("{count} dependencies are declared: at most {MAX_DEPENDENCIES} are allowed")]
    TooManyDependencies {
        /// How many were declared.
        count: usize,
    },
    /// A dependency's name (its key in the manifest) is not a valid crate name.
    #[error("invalid dependency name: {0}")]
    DependencyName(#[source] index_git::NameError),
    /// A renamed dependency's `package` is not a valid crate name.
    #[error("invalid `package` of dependency {dependency:?}: {source}")]
    PackageRename {
        /// The dependency's name.
        dependency: String,
        /// Why the package name is invalid.
        source: index_git::NameError,
    },
    /// A dependency's `features` entry is not a feature name (or `name/feature`).
    #[error("invalid feature {value:?} asked of dependency {dependency:?}: {expected}")]
    DependencyFeature {
        /// The dependency.
        dependency: String,
        /// The feature as given.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// A dependency's target is neither a target triple nor a `cfg(...)` expression.
    #[error("invalid target {target:?} of dependency {dependency:?}: {expected}")]
    Target {
        /// The dependency.
        dependency: String,
        /// The target as given.
        target: String,
        /// What was expected.
        expected: String,
    },
    /// A dependency's `registry-index` is not a URL.
    #[error("invalid registry {registry:?} of dependency {dependency:?}: expected an absolute URL of at most {MAX_FIELD_LEN} bytes")]
    Registry {
        /// The dependency.
        dependency: String,
        /// The registry as given.
        registry: String,
    },
    /// A dependency's version requirement is longer than [`MAX_FIELD_LEN`].
    #[error("version requirement of dependency {dependency:?} is {len} bytes long: at most {MAX_FIELD_LEN} are allowed")]
    RequirementTooLong {
        /// The dependency.
        dependency: String,
        /// Its length in bytes.
        len: usize,
    },
    /// `links` is not ASCII alphanumerics, `_`, `-`, `.` and `+`, or too long.
    #[error("invalid links value {links:?}: expected 1 to {MAX_LINKS_LEN} ASCII letters, digits, '_', '-', '.' or '+'")]
    Links {
        /// The value.
        links: String,
    },
    /// `rust-version` is not a partial version like `1.70` or `1.70.1`.
    #[error("invalid rust-version {rust_version:?}: expected two or three numbers separated by '.', like \"1.70\" or \"1.70.1\"")]
    RustVersion {
        /// The value.
        rust_version: String,
    },
}

/// Why a `.crate` file was refused. Every variant that concerns one entry of the archive
/// names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The file is larger than [`MAX_CRATE_SIZE`].
    #[error("{size} bytes is more than the {MAX_CRATE_SIZE} allowed")]
    TooLarge {
        /// The file's size, or the bytes read before giving up.
        size: u64,
    },
    /// The file's name does not end in `.crate`.
    #[error("the file name does not end in .crate")]
    FileName,
    /// The gzip or tar framing is broken.
    #[error("not a valid gzipped tar archive: {0}")]
    Corrupt(#[source] std::io::Error),
    /// The decompressed archive (headers included) is larger than
    /// [`MAX_UNPACKED_SIZE`] plus a small margin for headers.
    #[error("it unpacks to more than {MAX_UNPACKED_SIZE} bytes")]
    UnpacksTooLarge,
    /// A GNU long-name or PAX extension header is larger than [`MAX_EXTENSION_HEADER`].
    #[error("a {kind} header of {size} bytes is more than the {MAX_EXTENSION_HEADER} allowed")]
    ExtensionHeader {
        /// Which header.
        kind: &'static str,
        /// Its declared size.
        size: u64,
    },
    /// A PAX record this reader does not honour and that would change how the archive is
    /// laid out or what an entry is (`size`, sparse files, link targets).
    #[error("unsupported PAX record {key:?}: only path and informational records are accepted")]
    PaxRecord {
        /// The record's key.
        key: String,
    },
    /// An entry is not a regular file or a directory (a symlink, hard link, device, FIFO,
    /// sparse or contiguous file).
    #[error("entry {entry} is a {kind}: only regular files and directories are allowed")]
    EntryKind {
        /// The entry's name.
        entry: String,
        /// What it is.
        kind: String,
    },
    /// An entry's name is not UTF-8.
    #[error("entry {entry} has a name that is not UTF-8")]
    EntryName {
        /// The name, lossily decoded.
        entry: String,
    },
    /// An entry's name has `..`, a root or a prefix.
    #[error("entry {entry} escapes the archive root")]
    EscapesRoot {
        /// The entry's name.
        entry: String,
    },
    /// An entry is not under `{name}-{version}/`.
    #[error("entry {entry} is outside {root}/")]
    OutsideRoot {
        /// The entry's name.
        entry: String,
        /// The directory every entry must be in.
        root: String,
    },
    /// The archive holds `Cargo.toml` more than once, so which one counts is ambiguous.
    #[error("the archive holds {entry} more than once")]
    DuplicateManifest {
        /// The manifest's entry name.
        entry: String,
    },
    /// `Cargo.toml` is larger than [`MAX_MANIFEST_SIZE`].
    #[error("Cargo.toml is {size} bytes, more than the {MAX_MANIFEST_SIZE} allowed")]
    ManifestTooLarge {
        /// Its declared size.
        size: u64,
    },
    /// `Cargo.toml` is not UTF-8 text.
    #[error("Cargo.toml is not UTF-8 text: {0}")]
    ManifestNotUtf8(#[source] std::io::Error),
    /// There is no `{name}-{version}/Cargo.toml`.
    #[error("no {root}/Cargo.toml in the archive")]
    MissingManifest {
        /// The package directory.
        root: String,
    },
    /// `Cargo.toml` is not a manifest this registry can read.
    #[error("{0}")]
    Manifest(String),
    /// The manifest's name and version are not the file's.
    #[error("the manifest says {name} {vers} but the file is named {stem}.crate")]
    NameMismatch {
        /// The manifest's package name.
        name: String,
        /// The manifest's version.
        vers: String,
        /// The file's name without `.crate`.
        stem: String,
    },
}
