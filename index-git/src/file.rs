//! A crate's index file and the idempotent edits made to it.

use std::fmt;

use crate::line::IndexLine;
use crate::name::{CrateName, NameError};

/// Why an index file could not be read or an edit not applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// A line of an index file is not a valid index line.
    #[error("index file of {krate}, line {line}: {source}")]
    BadLine {
        /// The crate whose file it is.
        krate: String,
        /// The 1-based line number.
        line: usize,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A line names another crate than the file it is in.
    #[error("index line for crate {found:?} cannot go into the file of {expected}")]
    WrongCrate {
        /// The file's crate.
        expected: String,
        /// The name in the line.
        found: String,
    },
    /// A line's name is not a valid crate name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A line's version is not semver.
    #[error("invalid version {vers:?} of crate {krate}: {source}")]
    Version {
        /// The crate.
        krate: String,
        /// The version as written.
        vers: String,
        /// The parser's error.
        source: semver::Error,
    },
    /// The version exists with different content; lines never change except `yanked`.
    #[error(
        "{krate} {vers} is already in the index with different content; only `yanked` may change"
    )]
    Conflict {
        /// The crate.
        krate: String,
        /// The version.
        vers: String,
    },
    /// Two lines of one file are for the same version.
    #[error("{krate} {vers} appears twice")]
    Duplicate {
        /// The crate.
        krate: String,
        /// The version.
        vers: String,
    },
    /// The version to yank or unyank is not in the index.
    #[error("{krate} {vers} is not in the index")]
    UnknownVersion {
        /// The crate.
        krate: String,
        /// The version.
        vers: String,
    },
}

/// One line of a file, with the exact text it was read from (or written as).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    line: IndexLine,
    raw: String,
}

/// A crate's index file: one line per version, in publish order.
///
/// Lines read from a file keep their exact text, so a file that is parsed and written
/// again is byte for byte the same; only a line whose `yanked` changes is rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    name: CrateName,
    entries: Vec<Entry>,
}

/// A change to one crate's index file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Adds a version. The same line again is no change, whatever its `yanked` says: the
    /// yank state of a published version changes only through [`Edit::SetYanked`], so a
    /// publish that runs again after a yank does not unyank. A different line for a version
    /// that exists is refused.
    Put(IndexLine),
    /// Sets `yanked` of an existing version.
    SetYanked {
        /// The crate.
        name: CrateName,
        /// The version.
        vers: String,
        /// The new value.
        yanked: bool,
    },
    /// Makes the file exactly these lines, in this order ("sync this crate to the
    /// database"); no lines deletes the file.
    Replace {
        /// The crate.
        name: CrateName,
        /// Every version of the crate.
        lines: Vec<IndexLine>,
    },
    /// Deletes the crate's file.
    Delete {
        /// The crate.
        name: CrateName,
    },
}

impl Edit {
    /// The crate the edit is about; fails for a `Put` whose line has an invalid name.
    pub fn crate_name(&self) -> Result<CrateName, FileError> {
        match self {
            Edit::Put(line) => Ok(CrateName::new(&line.name)?),
            Edit::SetYanked { name, .. } | Edit::Replace { name, .. } | Edit::Delete { name } => {
                Ok(name.clone())
            }
        }
    }

    /// Applies the edit to the file's current text (`None`: no file). Returns the new text,
    /// `None` when the file is to be deleted.
    ///
    /// [`Edit::Replace`] and [`Edit::Delete`] don't read `current`: they are how a file that
    /// can't be parsed any more gets repaired.
    pub fn apply(&self, current: Option<&str>) -> Result<Option<String>, FileError> {
        let name = self.crate_name()?;
        match self {
            Edit::Delete { .. } => return Ok(None),
            Edit::Replace { lines, .. } => {
                let file = IndexFile::from_lines(name, lines.clone())?;
                return Ok(if file.is_empty() { None } else { Some(file.to_string()) });
            }
            Edit::Put(_) | Edit::SetYanked { .. } => {}
        }
        let mut file = match current {
            Some(text) => IndexFile::parse(&name, text)?,
            None => IndexFile::new(name.clone()),
        };
        match self {
            Edit::Put(line) => file.put(line.clone())?,
            Edit::SetYanked { vers, yanked, .. } => file.set_yanked(vers, *yanked)?,
            Edit::Replace { .. } | Edit::Delete { .. } => {}
        }
        Ok(if file.is_empty() { None } else { Some(file.to_string()) })
    }

    /// Whether the edit's result depends on the file's current text (`Put` and
    /// `SetYanked` do; `Replace` and `Delete` don't).
    pub fn reads_current(&self) -> bool {
        matches!(self, Edit::Put(_) | Edit::SetYanked { .. })
    }

    /// A one-line description for a commit message: `Publish foo 1.2.3`, `Yank foo 1.2.3`,
    /// `Unyank foo 1.2.3`, `Sync foo`, `Delete foo`.
    pub fn describe(&self) -> String {
        match self {
            Edit::Put(line) => format!("Publish {} {}", line.name, line.vers),
            Edit::SetYanked { name, vers, yanked: true } => format!("Yank {name} {vers}"),
            Edit::SetYanked { name, vers, yanked: false } => format!("Unyank {name} {vers}"),
            Edit::Replace { name, .. } => format!("Sync {name}"),
            Edit::Delete { name } => format!("Delete {name}"),
        }
    }
}

impl IndexFile {
    /// An empty file for `name`.
    pub fn new(name: CrateName) -> IndexFile {
        IndexFile { name, entries: Vec::new() }
    }

    /// Parses a file's text. Blank lines are skipped, as Cargo does.
    pub fn parse(name: &CrateName, text: &str) -> Result<IndexFile, FileError> {
        let mut file = IndexFile::new(name.clone());
        for (n, raw) in text.split('\n').enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let line: IndexLine = serde_json::from_str(raw).map_err(|source| {
                FileError::BadLine { krate: name.to_string(), line: n + 1, source }
            })?;
            file.check(&line)?;
            file.entries.push(Entry { line, raw: raw.to_owned() });
        }
        Ok(file)
    }

    /// A file made of `lines`, in order.
    pub fn from_lines(name: CrateName, lines: Vec<IndexLine>) -> Result<IndexFile, FileError> {
        let mut file = IndexFile::new(name);
        for line in lines {
            file.check(&line)?;
            let raw = line.to_json();
            file.entries.push(Entry { line, raw });
        }
        Ok(file)
    }

    /// The crate this file belongs to.
    pub fn name(&self) -> &CrateName {
        &self.name
    }

    /// The lines, in publish order.
    pub fn lines(&self) -> impl Iterator<Item = &IndexLine> {
        self.entries.iter().map(|e| &e.line)
    }

    /// Whether the file has no line.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The line of `vers` (build metadata ignored).
    pub fn get(&self, vers: &str) -> Option<&IndexLine> {
        self.entries.iter().map(|e| &e.line).find(|l| l.is_version(vers))
    }

    /// Checks that `line` may be in this file: its name is this crate's (ASCII case
    /// aside), its version is semver and not already present.
    fn check(&self, line: &IndexLine) -> Result<(), FileError> {
        let name = CrateName::new(&line.name)?;
        if !name.as_str().eq_ignore_ascii_case(self.name.as_str()) {
            return Err(FileError::WrongCrate {
                expected: self.name.to_string(),
                found: line.name.clone(),
            });
        }
        semver::Version::parse(&line.vers).map_err(|source| FileError::Version {
            krate: line.name.clone(),
            vers: line.vers.clone(),
            source,
        })?;
        if self.get(&line.vers).is_some() {
            return Err(FileError::Duplicate { krate: line.name.clone(), vers: line.vers.clone() });
        }
        Ok(())
    }

    /// Adds a version; see [`Edit::Put`].
    pub fn put(&mut self, line: IndexLine) -> Result<(), FileError> {
        let Some(index) = self.entries.iter().position(|e| e.line.is_version(&line.vers)) else {
            self.check(&line)?;
            let raw = line.to_json();
            self.entries.push(Entry { line, raw });
            return Ok(());
        };
        let existing = &self.entries[index].line;
        let mut same_but_yanked = line.clone();
        same_but_yanked.yanked = existing.yanked;
        if same_but_yanked != *existing {
            return Err(FileError::Conflict { krate: line.name.clone(), vers: line.vers.clone() });
        }
        Ok(())
    }

    /// Sets `yanked` of `vers`; setting the value it has changes nothing.
    pub fn set_yanked(&mut self, vers: &str, yanked: bool) -> Result<(), FileError> {
        let entry = self.entries.iter_mut().find(|e| e.line.is_version(vers)).ok_or_else(|| {
            FileError::UnknownVersion { krate: self.name.to_string(), vers: vers.to_owned() }
        })?;
        if entry.line.yanked != yanked {
            entry.line.yanked = yanked;
            entry.raw = replace_yanked(&entry.raw, yanked).unwrap_or_else(|| entry.line.to_json());
        }
        Ok(())
    }
}

/// Rewrites the one top-level `"yanked":VALUE` of a line's text in place, keeping every
/// other byte (and fields this crate does not know). `None` when the text does not have
/// exactly one such field.
fn replace_yanked(raw: &str, yanked: bool) -> Option<String> {
    const KEY: &str = "\"yanked\"";
    // Inside JSON strings a quote is always escaped, so an unescaped `"yanked"` followed by
    // a colon is a key. Only the top-level object has a `yanked` key.
    let mut found = raw.match_indices(KEY).filter_map(|(at, _)| {
        let rest = &raw[at + KEY.len()..];
        let after_colon = rest.trim_start().strip_prefix(':')?;
        let value_start = raw.len() - after_colon.trim_start().len();
        let value =
            ["true", "false", "null"].into_iter().find(|v| raw[value_start..].starts_with(v))?;
        Some((value_start, value.len()))
    });
    let (start, len) = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some(format!("{}{}{}", &raw[..start], yanked, &raw[start + len..]))
}

impl fmt::Display for IndexFile {
    /// The file's text: each line followed by a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in &self.entries {
            f.write_str(&entry.raw)?;
            f.write_str("\n")?;
        }
        Ok(())
    }
}
