//! The error type of the registry operations.

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
    Metadata(#[from] crate::metadata::MetadataError),
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
        source: crate::package::PackageError,
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
