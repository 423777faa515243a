//! The front-end operations a registry server calls from its request handlers.

use std::cmp::Ordering;
use std::path::Path;

use index_git::{CrateName, IndexDependency};
use queue_core::JobId;

use crate::accounts::{require_owner, User};
use crate::database::{Database, WithConnection};
use crate::db::{NewVersion, RegistryConnection};
use crate::error::RegistryError;
use crate::jobs::{PublishJob, SparseIndexJob, UnyankJob, YankJob};
use crate::metadata::{parse_version, validate, PublishRequest};
use crate::package::{read_crate_file, CrateStore, StagedCrate};

/// What [`publish`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The crate.
    pub name: CrateName,
    /// The version.
    pub vers: semver::Version,
    /// The queued index job (`None` when an identical pending job absorbed it).
    pub job: Option<JobId>,
}

/// What [`yank`] or [`unyank`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YankOutcome {
    /// Whether the version's state changed; yanking a yanked version changes nothing.
    pub changed: bool,
    /// The queued index job, when something changed.
    pub job: Option<JobId>,
}

/// Compares dependencies the way crates.io orders them in the index: by name, then kind
/// (normal first), then the other fields.
fn dependency_order(a: &IndexDependency, b: &IndexDependency) -> Ordering {
    (&a.name, a.kind, &a.req, a.optional, a.default_features, &a.target, &a.package, &a.features)
        .cmp(&(
            &b.name,
            b.kind,
            &b.req,
            b.optional,
            b.default_features,
            &b.target,
            &b.package,
            &b.features,
        ))
}

fn without_build(vers: &semver::Version) -> String {
    let mut bare = vers.clone();
    bare.build = semver::BuildMetadata::EMPTY;
    bare.to_string()
}

/// Records a new version and queues its index job, in one transaction on the caller's
/// connection (inside the caller's transaction, if one is open). Does not touch git.
///
/// This is the operator's publish: it checks no ownership and records no owner. A
/// server publishing for a user calls [`publish_by`].
pub fn publish<C: RegistryConnection>(
    conn: &mut C,
    request: &PublishRequest,
) -> Result<Published, RegistryError> {
    record_version(conn, request, None)
}

/// [`publish`] on behalf of `user`: the first publisher of a crate becomes its owner, and
/// only owners publish new versions ([`RegistryError::NotOwner`]). `description` is kept
/// for search.
pub fn publish_by<C: RegistryConnection>(
    conn: &mut C,
    user: &User,
    request: &PublishRequest,
    description: Option<&str>,
) -> Result<Published, RegistryError> {
    record_version(conn, request, Some((user, description)))
}

fn record_version<C: RegistryConnection>(
    conn: &mut C,
    request: &PublishRequest,
    by: Option<(&User, Option<&str>)>,
) -> Result<Published, RegistryError> {
    let (name, vers) = validate(request)?;
    let mut deps = request.deps.clone();
    deps.sort_by(dependency_order);
    let dependencies = serde_json::to_string(&deps).map_err(|source| {
        RegistryError::CorruptRow { krate: name.to_string(), vers: vers.to_string(), source }
    })?;
    let features = serde_json::to_string(&request.features).map_err(|source| {
        RegistryError::CorruptRow { krate: name.to_string(), vers: vers.to_string(), source }
    })?;
    let pubtime = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let num = vers.to_string();
    let num_no_build = without_build(&vers);
    conn.write_transaction(|conn| {
        let canonical = name.canonical();
        let mut created = None;
        let existing = match conn.find_crate(&canonical)? {
            Some(found) => Some(found),
            None => match conn.insert_crate(name.as_str(), &canonical)? {
                Some(id) => {
                    created = Some(id);
                    None
                }
                // A concurrent publish created it first (and committed: the insert waited).
                None => conn.find_crate(&canonical)?,
            },
        };
        let crate_id = match (created, existing) {
            (Some(id), _) => {
                if let Some((user, _)) = by {
                    conn.add_owner(id, user.id)?;
                }
                id
            }
            (None, Some((_, existing))) if existing != name.as_str() => {
                return Err(RegistryError::NameClash { name: name.to_string(), existing });
            }
            (None, Some((id, existing))) => {
                if let Some((user, _)) = by {
                    require_owner(conn, id, &existing, user)?;
                }
                id
            }
            (None, None) => return Err(RegistryError::UnknownCrate(name.to_string())),
        };
        if let Some(existing) = conn.find_version(crate_id, &num_no_build)? {
            return Err(RegistryError::VersionExists {
                krate: name.to_string(),
                vers: num.clone(),
                existing: existing.num,
            });
        }
        conn.insert_version(&NewVersion {
            crate_id,
            num: &num,
            num_no_build: &num_no_build,
            checksum: &request.cksum,
            yanked: false,
            dependencies: &dependencies,
            features: &features,
            links: request.links.as_deref(),
            rust_version: request.rust_version.as_deref(),
            pubtime: &pubtime,
        })
        .map_err(|err| match err {
            // A concurrent publish of the same version committed first.
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => RegistryError::VersionExists {
                krate: name.to_string(),
                vers: num.clone(),
                existing: num.clone(),
            },
            other => RegistryError::Query(other),
        })?;
        if let Some((_, description)) = by {
            let description =
                description.map(|d| d.chars().take(MAX_DESCRIPTION_LEN).collect::<String>());
            conn.set_description(crate_id, description.as_deref())?;
        }
        let job = queue_diesel::enqueue(conn, &PublishJob::new(name.as_str(), num.as_str()))?;
        queue_diesel::enqueue(conn, &SparseIndexJob { krate: name.to_string() })?;
        Ok(Published { name: name.clone(), vers: vers.clone(), job })
    })
}

/// How many index jobs a publish, yank or unyank that changed something queues: the git
/// index's and the sparse index's. What a caller that enqueued inside its own transaction
/// passes to `AnyStorage::wake_workers` once it committed.
pub const JOBS_PER_CHANGE: usize = 2;

/// The longest description kept for search; longer ones are cut.
pub const MAX_DESCRIPTION_LEN: usize = 1000;

/// Yanks a version and queues the index job, in one transaction on the caller's
/// connection. Yanking a yanked version changes nothing and queues nothing.
pub fn yank<C: RegistryConnection>(
    conn: &mut C,
    name: &str,
    vers: &str,
) -> Result<YankOutcome, RegistryError> {
    set_yanked(conn, name, vers, true, None)
}

/// Unyanks a version and queues the index job; see [`yank`].
pub fn unyank<C: RegistryConnection>(
    conn: &mut C,
    name: &str,
    vers: &str,
) -> Result<YankOutcome, RegistryError> {
    set_yanked(conn, name, vers, false, None)
}

/// [`yank`] (or, with `yanked: false`, [`unyank`]) on behalf of `user`, who must own the
/// crate ([`RegistryError::NotOwner`]).
pub fn set_yanked_by<C: RegistryConnection>(
    conn: &mut C,
    user: &User,
    name: &str,
    vers: &str,
    yanked: bool,
) -> Result<YankOutcome, RegistryError> {
    set_yanked(conn, name, vers, yanked, Some(user))
}

/// [`yank`] or [`unyank`], on behalf of `by` when given (who must own the crate).
pub(crate) fn set_yanked<C: RegistryConnection>(
    conn: &mut C,
    name: &str,
    vers: &str,
    yanked: bool,
    by: Option<&User>,
) -> Result<YankOutcome, RegistryError> {
    let name = CrateName::new(name)?;
    let version = parse_version(vers)?;
    conn.write_transaction(|conn| {
        let Some((crate_id, real_name)) = conn.find_crate(&name.canonical())? else {
            return Err(RegistryError::UnknownCrate(name.to_string()));
        };
        if let Some(user) = by {
            require_owner(conn, crate_id, &real_name, user)?;
        }
        let Some(row) = conn.find_version(crate_id, &without_build(&version))? else {
            return Err(RegistryError::UnknownVersion { krate: real_name, vers: vers.to_owned() });
        };
        if row.yanked == yanked {
            return Ok(YankOutcome { changed: false, job: None });
        }
        conn.set_yanked(row.id, yanked)?;
        queue_diesel::enqueue(conn, &SparseIndexJob { krate: real_name.clone() })?;
        let job = if yanked {
            queue_diesel::enqueue(conn, &YankJob::new(real_name, row.num))?
        } else {
            queue_diesel::enqueue(conn, &UnyankJob::new(real_name, row.num))?
        };
        Ok(YankOutcome { changed: true, job })
    })
}

/// Publishes a `.crate` file: validates it, records the version and its index job, and
/// stores the file durably before the transaction commits.
pub fn publish_crate_file<C: RegistryConnection>(
    conn: &mut C,
    store: &CrateStore,
    path: &Path,
) -> Result<Published, RegistryError> {
    let (request, bytes) = read_crate_file(path)?;
    conn.write_transaction(|conn| {
        let published = publish(conn, &request)?;
        // Stored (and fsynced) once the database accepted the version and before its
        // transaction commits: a stored file without a row is harmless, a row without its
        // file is not. A failed store rolls the version back.
        store.store(&published.name, &published.vers, &bytes)?;
        Ok(published)
    })
}

/// The operations on a pooled connection of the registry's database.
impl Database {
    /// [`publish`] on a pooled connection.
    pub fn publish(&self, request: &PublishRequest) -> Result<Published, RegistryError> {
        self.either(|c| publish(c, request), |c| publish(c, request))
    }

    /// [`publish_crate_file`] on a pooled connection.
    pub fn publish_crate_file(
        &self,
        store: &CrateStore,
        path: &Path,
    ) -> Result<Published, RegistryError> {
        self.either(|c| publish_crate_file(c, store, path), |c| publish_crate_file(c, store, path))
    }

    /// [`yank`](crate::yank) (or, with `yanked: false`, [`unyank`](crate::unyank)) on a pooled
    /// connection.
    pub fn set_yanked(
        &self,
        name: &str,
        vers: &str,
        yanked: bool,
    ) -> Result<YankOutcome, RegistryError> {
        self.either(
            |c| set_yanked(c, name, vers, yanked, None),
            |c| set_yanked(c, name, vers, yanked, None),
        )
    }

    /// Publishes on behalf of `user` ([`publish_by`]) a version whose `.crate` file is
    /// already staged (written and `fsync`ed, [`CrateStore::stage`]): the file is renamed
    /// into place inside the transaction, before it commits, so the transaction holds its
    /// locks for a rename rather than for writing the whole file. A failure records
    /// nothing and removes the staged file.
    pub fn publish_staged(
        &self,
        user: &User,
        request: &PublishRequest,
        description: Option<&str>,
        staged: StagedCrate,
    ) -> Result<Published, RegistryError> {
        struct Upload<'a>(&'a User, &'a PublishRequest, Option<&'a str>, StagedCrate);
        impl WithConnection for Upload<'_> {
            type Output = Published;
            fn run<C: RegistryConnection>(self, conn: &mut C) -> Result<Published, RegistryError> {
                let Upload(user, request, description, staged) = self;
                conn.write_transaction(|conn| {
                    let published = publish_by(conn, user, request, description)?;
                    staged.commit()?;
                    Ok(published)
                })
            }
        }
        self.run(Upload(user, request, description, staged))
    }

    /// [`set_yanked_by`](crate::set_yanked_by) on a pooled connection.
    pub fn set_yanked_by(
        &self,
        user: &User,
        name: &str,
        vers: &str,
        yanked: bool,
    ) -> Result<YankOutcome, RegistryError> {
        let by = Some(user);
        self.either(
            |c| set_yanked(c, name, vers, yanked, by),
            |c| set_yanked(c, name, vers, yanked, by),
        )
    }
}
