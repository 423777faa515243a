//! Integration tests of index-git against real git repositories: a bare upstream in a temp
//! dir, served over `git://` by `git daemon` where hooks must run.
#![allow(clippy::unwrap_used)]

mod edits;
mod pushes;
mod remotes;
mod scale;

use std::collections::BTreeMap;

use index_git::{CrateName, IndexDependency, IndexLine};

/// A line for `name` `vers` with a checksum derived from both.
pub(crate) fn line(name: &str, vers: &str) -> IndexLine {
    let digest: String =
        format!("{name}{vers}").bytes().map(|b| format!("{:02x}", b % 16)).collect();
    IndexLine::new(name, vers, &format!("{digest:0<64}")[..64])
}

/// A line with a dependency and `dep:` features, as a richer case.
pub(crate) fn rich_line(name: &str, vers: &str) -> IndexLine {
    let mut features = BTreeMap::new();
    features.insert("default".to_string(), vec!["json".to_string()]);
    features.insert("json".to_string(), vec!["dep:serde_json".to_string()]);
    let mut l = line(name, vers).with_features(features);
    l.deps.push(IndexDependency { optional: true, ..IndexDependency::normal("serde_json", "^1") });
    l.rust_version = Some("1.70".into());
    l.pubtime = Some("2026-11-29T12:00:00Z".into());
    l
}

pub(crate) fn name(s: &str) -> CrateName {
    CrateName::new(s).unwrap()
}

/// Parses a file this crate wrote with an independent reader, the `crates-index` crate.
pub(crate) fn parse_independently(text: &str) -> crates_index::Crate {
    crates_index::Crate::from_slice(text.as_bytes())
        .unwrap_or_else(|e| panic!("crates-index cannot read {text:?}: {e}"))
}
