//! The periodic check that the index (git, and the sparse one when configured) and the
//! database agree, and its repair.

use std::collections::BTreeSet;

use index_git::{Applied, CrateName, Edit, IndexFile};

use crate::error::RegistryError;
use crate::jobs::{edit_to, IndexContext};

/// One way the index differs from the database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// The database has the crate; the index has no file for it.
    MissingFile {
        /// The crate.
        krate: String,
    },
    /// The index has a file for a crate the database does not have.
    ExtraFile {
        /// The file's path in the index.
        path: String,
    },
    /// A version of the database is not in the crate's file.
    MissingVersion {
        /// The crate.
        krate: String,
        /// The version.
        vers: String,
    },
    /// The crate's file has a version the database does not have.
    ExtraVersion {
        /// The crate.
        krate: String,
        /// The version.
        vers: String,
    },
    /// `yanked` differs.
    WrongYanked {
        /// The crate.
        krate: String,
        /// The version.
        vers: String,
        /// What the database says.
        yanked: bool,
    },
    /// The line differs otherwise (content or order).
    WrongLine {
        /// The crate.
        krate: String,
        /// The version.
        vers: String,
    },
    /// The sparse index's file of the crate is not what the database says (missing,
    /// stale, or there although the crate has no version left).
    SparseFile {
        /// The crate.
        krate: String,
    },
    /// The crate's file cannot be parsed.
    Unreadable {
        /// The file's path in the index.
        path: String,
        /// Why.
        error: String,
    },
}

/// What [`reconcile`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// Every difference, crate by crate.
    pub differences: Vec<Difference>,
    /// Crates that could not be checked or repaired (an invalid name or a corrupt row in
    /// the database), with the reason; every other crate was checked and, with `repair`,
    /// repaired.
    pub unchecked: Vec<Unchecked>,
    /// The repair commit, when a repair was asked for and something was wrong.
    pub repair: Option<Applied>,
}

/// A crate [`reconcile`] could not check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unchecked {
    /// The crate's name as the database holds it.
    pub krate: String,
    /// Why.
    pub error: String,
}

/// What the database says a crate's file must be.
struct Expected {
    name: CrateName,
    real_name: CrateName,
    lines: Vec<index_git::IndexLine>,
    file: IndexFile,
}

fn expected_file(ctx: &IndexContext, name: CrateName) -> Result<Expected, RegistryError> {
    let (real_name, lines) = ctx.expected(&name)?.unwrap_or((name.clone(), Vec::new()));
    let file = IndexFile::from_lines(real_name.clone(), lines.clone())?;
    Ok(Expected { name, real_name, lines, file })
}

/// Compares every crate's index file with the database (after fetching the remote) and
/// lists each difference; with `repair`, rewrites every differing file in one commit.
/// A crate that can't be checked is reported in [`Reconciliation::unchecked`] and does not
/// stop the others from being checked and repaired.
pub fn reconcile(ctx: &IndexContext, repair: bool) -> Result<Reconciliation, RegistryError> {
    ctx.with_repo(|repo| repo.fetch()).transpose()?;
    let mut differences = Vec::new();
    let mut unchecked = Vec::new();
    let mut edits = Vec::new();
    let mut expected_paths = BTreeSet::new();
    for db_name in ctx.database().crate_names()? {
        let name = match CrateName::new(&db_name) {
            Ok(name) => name,
            Err(err) => {
                unchecked.push(Unchecked { krate: db_name, error: err.to_string() });
                continue;
            }
        };
        expected_paths.insert(name.index_path());
        let Expected { name, real_name, lines, file: expected } = match expected_file(ctx, name) {
            Ok(expected) => expected,
            Err(err) => {
                unchecked.push(Unchecked { krate: db_name, error: err.to_string() });
                continue;
            }
        };
        if let Some(sparse) = ctx.sparse_index() {
            let want = (!lines.is_empty()).then_some(&expected);
            if sparse.read_crate(&name)? != want.map(ToString::to_string) {
                differences.push(Difference::SparseFile { krate: name.to_string() });
                if repair {
                    sparse.put_crate(&name, want)?;
                }
            }
        }
        let path = name.index_path();
        let actual_text = match ctx.with_repo(|repo| repo.read_file(&path)) {
            // The git index is switched off: the sparse index was all there is to check.
            None => continue,
            Some(Ok(text)) => text,
            Some(Err(index_git::RepoError::NotUtf8 { .. })) => {
                differences.push(Difference::Unreadable { path, error: "not UTF-8".into() });
                edits.push(edit_to(name, real_name, lines));
                continue;
            }
            Some(Err(err)) => return Err(err.into()),
        };
        let found = match &actual_text {
            None if lines.is_empty() => continue,
            None => {
                differences.push(Difference::MissingFile { krate: name.to_string() });
                edits.push(Edit::Replace { name: real_name, lines });
                continue;
            }
            Some(text) if *text == expected.to_string() => continue,
            Some(text) => text,
        };
        edits.push(edit_to(name.clone(), real_name.clone(), lines.clone()));
        let actual = match IndexFile::parse(&real_name, found) {
            Ok(file) => file,
            Err(err) => {
                differences.push(Difference::Unreadable { path, error: err.to_string() });
                continue;
            }
        };
        let before = differences.len();
        for line in &lines {
            match actual.get(&line.vers) {
                None => differences.push(Difference::MissingVersion {
                    krate: name.to_string(),
                    vers: line.vers.clone(),
                }),
                Some(found) if found.yanked != line.yanked => {
                    differences.push(Difference::WrongYanked {
                        krate: name.to_string(),
                        vers: line.vers.clone(),
                        yanked: line.yanked,
                    })
                }
                Some(found) if found != line => differences.push(Difference::WrongLine {
                    krate: name.to_string(),
                    vers: line.vers.clone(),
                }),
                Some(_) => {}
            }
        }
        for found in actual.lines() {
            if expected.get(&found.vers).is_none() {
                differences.push(Difference::ExtraVersion {
                    krate: name.to_string(),
                    vers: found.vers.clone(),
                });
            }
        }
        if differences.len() == before {
            // Same lines, other bytes or order.
            differences.push(Difference::WrongLine { krate: name.to_string(), vers: "*".into() });
        }
    }
    for path in ctx.with_repo(|repo| repo.crate_paths()).transpose()?.unwrap_or_default() {
        if expected_paths.contains(&path) {
            continue;
        }
        differences.push(Difference::ExtraFile { path: path.clone() });
        let file_name = path.rsplit('/').next().unwrap_or_default();
        if let Ok(name) = CrateName::new(file_name) {
            if name.index_path() == path {
                edits.push(Edit::Delete { name });
            }
        }
    }
    let repair = if repair && !edits.is_empty() {
        let message =
            format!("Reconcile the index with the database ({} differences)", differences.len());
        ctx.with_repo(|repo| repo.apply_with_message(&edits, &message)).transpose()?
    } else {
        None
    };
    Ok(Reconciliation { differences, unchecked, repair })
}
