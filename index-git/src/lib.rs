#![doc = include_str!("../README.md")]

mod file;
mod line;
mod name;
mod repo;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use file::{Edit, FileError, IndexFile};
pub use line::{
    same_version, split_features, DependencyKind, FeatureMap, IndexDependency, IndexLine,
};
pub use name::{CrateName, NameError, MAX_NAME_LEN};
pub use repo::{
    commit_message, create_index, Applied, Credentials, IndexConfig, IndexRepo, Prepared,
    RepoConfig, RepoError, Timings, LOST_RACE_ATTEMPTS,
};

#[cfg(test)]
mod tests;
