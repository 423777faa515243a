//! Who may change a crate: users, their API tokens and crate owners; and crate search.
//!
//! A token is 32 random bytes shown once, as `rgt_` and 64 hex digits; the database keeps
//! only its SHA-256, so a leaked database dump holds no usable token. Tokens are high
//! entropy, so a plain hash is as strong as a slow one and lets a request find its token
//! with one indexed lookup.

use index_git::CrateName;
use sha2::{Digest as _, Sha256};

use crate::database::Database;
use crate::db::RegistryConnection;
use crate::error::RegistryError;
use crate::hex::hex;

/// A registry user, as a token identifies them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// The database id.
    pub id: i64,
    /// The login, unique.
    pub login: String,
}

/// The longest login.
pub const MAX_LOGIN_LEN: usize = 64;

/// What a token starts with: tells a registry token apart in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "rgt_";

/// Checks a login: 1 to [`MAX_LOGIN_LEN`] ASCII letters, digits, `-` and `_`.
pub fn validate_login(login: &str) -> Result<(), RegistryError> {
    let valid = !login.is_empty()
        && login.len() <= MAX_LOGIN_LEN
        && login.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(RegistryError::InvalidLogin { login: login.chars().take(80).collect() })
    }
}

fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Creates an API token for `login` (creating the user on first use) and returns it. The
/// token is not stored: show it once.
pub fn create_token<C: RegistryConnection>(
    conn: &mut C,
    login: &str,
    token_name: &str,
) -> Result<String, RegistryError> {
    validate_login(login)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RegistryError::Io {
        action: "drawing random bytes for",
        path: "a new API token".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let token = format!("{TOKEN_PREFIX}{}", hex(&bytes));
    let hash = hash_token(&token);
    conn.write_transaction(|conn| {
        let user_id = match conn.find_user(login)? {
            Some((id, _)) => id,
            None => conn.insert_user(login)?,
        };
        conn.insert_token(user_id, token_name, &hash)?;
        Ok::<_, RegistryError>(())
    })?;
    Ok(token)
}

/// The user a token belongs to, or `None` for a token that is not one of ours.
pub fn authenticate<C: RegistryConnection>(
    conn: &mut C,
    token: &str,
) -> Result<Option<User>, RegistryError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 256 {
        return Ok(None);
    }
    Ok(conn.user_by_token(&hash_token(token))?.map(|(id, login)| User { id, login }))
}

fn crate_id<C: RegistryConnection>(
    conn: &mut C,
    name: &str,
) -> Result<(i64, String), RegistryError> {
    let name = CrateName::new(name)?;
    conn.find_crate(&name.canonical())?.ok_or_else(|| RegistryError::UnknownCrate(name.to_string()))
}

/// Fails with [`RegistryError::NotOwner`] unless `user` owns the crate `crate_id`.
pub(crate) fn require_owner<C: RegistryConnection>(
    conn: &mut C,
    crate_id: i64,
    krate: &str,
    user: &User,
) -> Result<(), RegistryError> {
    if conn.owners_of(crate_id)?.iter().any(|(id, _)| *id == user.id) {
        Ok(())
    } else {
        Err(RegistryError::NotOwner { krate: krate.to_owned(), login: user.login.clone() })
    }
}

/// The owners of a crate, by login.
pub fn owners<C: RegistryConnection>(
    conn: &mut C,
    krate: &str,
) -> Result<Vec<User>, RegistryError> {
    let (id, _) = crate_id(conn, krate)?;
    Ok(conn.owners_of(id)?.into_iter().map(|(id, login)| User { id, login }).collect())
}

/// Adds owners to a crate, as `by`, who must own it. Every login must be an existing user;
/// nothing is added unless all are. Adding an owner again changes nothing.
pub fn add_owners<C: RegistryConnection>(
    conn: &mut C,
    by: &User,
    krate: &str,
    logins: &[String],
) -> Result<(), RegistryError> {
    change_owners(conn, by, krate, logins, true)
}

/// Removes owners from a crate, as `by`, who must own it. A crate keeps at least one owner.
pub fn remove_owners<C: RegistryConnection>(
    conn: &mut C,
    by: &User,
    krate: &str,
    logins: &[String],
) -> Result<(), RegistryError> {
    change_owners(conn, by, krate, logins, false)
}

fn change_owners<C: RegistryConnection>(
    conn: &mut C,
    by: &User,
    krate: &str,
    logins: &[String],
    add: bool,
) -> Result<(), RegistryError> {
    conn.write_transaction(|conn| {
        let (id, real_name) = crate_id(conn, krate)?;
        require_owner(conn, id, &real_name, by)?;
        for login in logins {
            validate_login(login)?;
            let Some((user_id, _)) = conn.find_user(login)? else {
                return Err(RegistryError::UnknownUser { login: login.clone() });
            };
            if add {
                conn.add_owner(id, user_id)?;
            } else {
                conn.remove_owner(id, user_id)?;
            }
        }
        if conn.owners_of(id)?.is_empty() {
            return Err(RegistryError::LastOwner { krate: real_name });
        }
        Ok(())
    })
}

/// A crate found by [`search`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FoundCrate {
    /// The name as published.
    pub name: String,
    /// The highest version that is not yanked (the highest yanked one if all are).
    pub max_version: String,
    /// The description of the latest publish.
    pub description: Option<String>,
}

/// What [`search`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResults {
    /// Up to the limit, by name.
    pub crates: Vec<FoundCrate>,
    /// How many crates match in all.
    pub total: u64,
}

/// The most results one search returns.
pub const MAX_SEARCH_RESULTS: u32 = 100;

/// Crates whose name contains `query` (`-` and `_` and case alike), by name, at most
/// `limit` (capped at [`MAX_SEARCH_RESULTS`]).
pub fn search<C: RegistryConnection>(
    conn: &mut C,
    query: &str,
    limit: u32,
) -> Result<SearchResults, RegistryError> {
    let canonical: String = query
        .trim()
        .chars()
        .take(MAX_LOGIN_LEN)
        .map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() })
        .collect();
    let mut pattern = String::from("%");
    for c in canonical.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    let limit = i64::from(limit.clamp(1, MAX_SEARCH_RESULTS));
    let (rows, total) = conn.search_crates(&pattern, limit)?;
    let mut crates = Vec::with_capacity(rows.len());
    for (id, name, description) in rows {
        let mut versions: Vec<(bool, semver::Version)> = conn
            .versions_of(id)?
            .into_iter()
            .filter_map(|row| Some((!row.yanked, semver::Version::parse(&row.num).ok()?)))
            .collect();
        versions.sort();
        let Some((_, max)) = versions.pop() else { continue };
        crates.push(FoundCrate { name, max_version: max.to_string(), description });
    }
    Ok(SearchResults { crates, total: u64::try_from(total).unwrap_or(0) })
}

/// Accounts, owners and search on a pooled connection of the registry's database.
impl Database {
    /// [`create_token`] on a pooled connection.
    pub fn create_token(&self, login: &str, token_name: &str) -> Result<String, RegistryError> {
        self.either(|c| create_token(c, login, token_name), |c| create_token(c, login, token_name))
    }

    /// [`authenticate`] on a pooled connection.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>, RegistryError> {
        self.either(|c| authenticate(c, token), |c| authenticate(c, token))
    }

    /// [`owners`] on a pooled connection.
    pub fn owners(&self, krate: &str) -> Result<Vec<User>, RegistryError> {
        self.either(|c| owners(c, krate), |c| owners(c, krate))
    }

    /// [`add_owners`] (or, with `add: false`, [`remove_owners`]) on a
    /// pooled connection.
    pub fn change_owners(
        &self,
        by: &User,
        krate: &str,
        logins: &[String],
        add: bool,
    ) -> Result<(), RegistryError> {
        if add {
            self.either(|c| add_owners(c, by, krate, logins), |c| add_owners(c, by, krate, logins))
        } else {
            self.either(
                |c| remove_owners(c, by, krate, logins),
                |c| remove_owners(c, by, krate, logins),
            )
        }
    }

    /// [`search`] on a pooled connection.
    pub fn search(&self, query: &str, limit: u32) -> Result<SearchResults, RegistryError> {
        self.either(|c| search(c, query, limit), |c| search(c, query, limit))
    }
}
