//! The limits on what a publish may contain, which the checks enforce and the errors name.

/// The longest version string accepted.
pub const MAX_VERSION_LEN: usize = 64;

/// The most features a version may declare (crates.io's default).
pub const MAX_FEATURES: usize = 300;

/// The longest feature name accepted.
pub const MAX_FEATURE_NAME_LEN: usize = 100;

/// The most values one feature may list.
pub const MAX_FEATURE_VALUES: usize = 300;

/// The most dependencies a version may declare.
pub const MAX_DEPENDENCIES: usize = 500;

/// The longest `links` value accepted.
pub const MAX_LINKS_LEN: usize = 64;

/// The longest `target` string (`cfg(...)` or a target triple) accepted.
pub const MAX_TARGET_LEN: usize = 256;

/// The longest version requirement or registry URL accepted.
pub const MAX_FIELD_LEN: usize = 512;

/// The largest `.crate` file accepted.
pub const MAX_CRATE_SIZE: u64 = 50 * 1024 * 1024;

/// The largest `Cargo.toml` accepted inside a `.crate` file.
pub const MAX_MANIFEST_SIZE: u64 = 1024 * 1024;

/// The most bytes a `.crate` file may unpack to.
pub const MAX_UNPACKED_SIZE: u64 = 512 * 1024 * 1024;

/// The longest GNU long-name header or PAX extension header accepted: a path needs a few
/// KiB at most, and without this bound the tar reader would hold a header of any declared
/// size in memory.
pub const MAX_EXTENSION_HEADER: u64 = 64 * 1024;
