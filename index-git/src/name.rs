//! Validated crate names and their paths in the index.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest crate name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// Names that are device files on Windows; a checkout of an index containing such a path
/// fails there.
const WINDOWS_RESERVED: &[&str] = &[
    "nul", "con", "prn", "aux", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Why a string is not a valid crate name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("invalid crate name \"\": a name must not be empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error(
        "invalid crate name {name:?}: at most {MAX_NAME_LEN} characters are allowed, found {len}"
    )]
    TooLong {
        /// The name (shown escaped).
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The name does not start with an ASCII letter.
    #[error(
        "invalid crate name {name:?}: the first character must be an ASCII letter, found {first:?}"
    )]
    BadStart {
        /// The name (shown escaped).
        name: String,
        /// Its first character.
        first: char,
    },
    /// The name holds a character other than ASCII letters, digits, `-` and `_`.
    #[error("invalid crate name {name:?}: only ASCII letters, digits, '-' and '_' are allowed, found {found:?}")]
    BadChar {
        /// The name (shown escaped).
        name: String,
        /// The first character that is not allowed.
        found: char,
    },
    /// The name is a Windows device name.
    #[error("invalid crate name {name:?}: it is a reserved device name on Windows")]
    Reserved {
        /// The name.
        name: String,
    },
}

/// A valid crate name: ASCII letters, digits, `-` and `_`, starting with a letter, at most
/// [`MAX_NAME_LEN`] characters, not a Windows device name.
///
/// Such a name can never form a path outside the index (`..`, `/`, NUL and non-ASCII are
/// all refused), so [`CrateName::index_path`] is safe to join to a checkout.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CrateName(String);

impl CrateName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<CrateName, NameError> {
        let Some(first) = name.chars().next() else { return Err(NameError::Empty) };
        if name.len() > MAX_NAME_LEN {
            let shown: String = name.chars().take(MAX_NAME_LEN + 8).collect();
            return Err(NameError::TooLong { name: shown, len: name.len() });
        }
        if !first.is_ascii_alphabetic() {
            return Err(NameError::BadStart { name: name.to_owned(), first });
        }
        if let Some(found) =
            name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(NameError::BadChar { name: name.to_owned(), found });
        }
        let lower = name.to_ascii_lowercase();
        if WINDOWS_RESERVED.contains(&lower.as_str()) {
            return Err(NameError::Reserved { name: name.to_owned() });
        }
        Ok(CrateName(name.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form two names are compared in for uniqueness: lowercase, with `-` as `_`.
    /// `Foo-Bar` and `foo_bar` are the same crate.
    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase().replace('-', "_")
    }

    /// The file of this crate in the index, relative to its root: `1/a`, `2/ab`, `3/a/abc`,
    /// or `ab/cd/abcd...`, all lowercase.
    pub fn index_path(&self) -> String {
        let name = self.0.to_ascii_lowercase();
        match name.len() {
            1 => format!("1/{name}"),
            2 => format!("2/{name}"),
            3 => format!("3/{}/{name}", &name[..1]),
            _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
        }
    }
}

impl fmt::Display for CrateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CrateName {
    type Error = NameError;
    fn try_from(value: String) -> Result<CrateName, NameError> {
        CrateName::new(&value)
    }
}

impl From<CrateName> for String {
    fn from(name: CrateName) -> String {
        name.0
    }
}

impl std::str::FromStr for CrateName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<CrateName, NameError> {
        CrateName::new(s)
    }
}

impl AsRef<str> for CrateName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
