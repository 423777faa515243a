//! A database of either backend, chosen at run time, and the one place that dispatches on
//! it.

use std::path::Path;

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sqlite::SqliteConnection;
use index_git::{CrateName, IndexLine};
use queue_diesel::AnyStorage;

use crate::accounts::{self, SearchResults, User};
use crate::db::{expected_lines, RegistryConnection};
use crate::error::RegistryError;
use crate::ops::{publish, publish_by, set_yanked, Published, YankOutcome};
use crate::package::{publish_crate_file, CrateStore, StagedCrate};
use crate::PublishRequest;

/// The registry's database: a pool of either backend.
#[derive(Debug, Clone)]
pub enum Database {
    /// A PostgreSQL pool.
    Postgres(Pool<ConnectionManager<PgConnection>>),
    /// A SQLite pool.
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
}

/// Work to do on one pooled connection, whichever backend it is: what
/// [`Database::run`] takes. Implement it to run several operations on one connection (in
/// one transaction, if the work opens one).
pub trait WithConnection {
    /// What the work returns.
    type Output;
    /// Does the work on `conn`.
    fn run<C: RegistryConnection>(self, conn: &mut C) -> Result<Self::Output, RegistryError>;
}

impl Database {
    /// The database of a job storage: the same pool.
    pub fn of_storage(storage: &AnyStorage) -> Database {
        match storage {
            AnyStorage::Postgres(s) => Database::Postgres(s.pool().clone()),
            AnyStorage::Sqlite(s) => Database::Sqlite(s.pool().clone()),
        }
    }

    /// Runs `work` on a pooled connection: the one dispatch on the backend.
    pub fn run<W: WithConnection>(&self, work: W) -> Result<W::Output, RegistryError> {
        match self {
            Database::Postgres(pool) => work.run(&mut *pool.get()?),
            Database::Sqlite(pool) => work.run(&mut *pool.get()?),
        }
    }

    /// Applies the job table's and the registry's pending migrations.
    pub fn migrate(&self) -> Result<Vec<String>, RegistryError> {
        struct Migrate;
        impl WithConnection for Migrate {
            type Output = Vec<String>;
            fn run<C: RegistryConnection>(
                self,
                conn: &mut C,
            ) -> Result<Vec<String>, RegistryError> {
                conn.run_migrations()
            }
        }
        self.run(Migrate)
    }

    /// [`publish`] on a pooled connection.
    pub fn publish(&self, request: &PublishRequest) -> Result<Published, RegistryError> {
        struct Publish<'a>(&'a PublishRequest);
        impl WithConnection for Publish<'_> {
            type Output = Published;
            fn run<C: RegistryConnection>(self, conn: &mut C) -> Result<Published, RegistryError> {
                publish(conn, self.0)
            }
        }
        self.run(Publish(request))
    }

    /// [`publish_crate_file`] on a pooled connection.
    pub fn publish_crate_file(
        &self,
        store: &CrateStore,
        path: &Path,
    ) -> Result<Published, RegistryError> {
        struct PublishFile<'a>(&'a CrateStore, &'a Path);
        impl WithConnection for PublishFile<'_> {
            type Output = Published;
            fn run<C: RegistryConnection>(self, conn: &mut C) -> Result<Published, RegistryError> {
                publish_crate_file(conn, self.0, self.1)
            }
        }
        self.run(PublishFile(store, path))
    }

    /// [`yank`](crate::yank) (or, with `yanked: false`, [`unyank`](crate::unyank)) on a pooled
    /// connection.
    pub fn set_yanked(
        &self,
        name: &str,
        vers: &str,
        yanked: bool,
    ) -> Result<YankOutcome, RegistryError> {
        self.run(SetYanked { by: None, name, vers, yanked })
    }

    /// [`expected_lines`] on a pooled connection.
    pub fn expected_lines(
        &self,
        name: &CrateName,
    ) -> Result<Option<(CrateName, Vec<IndexLine>)>, RegistryError> {
        struct Expected<'a>(&'a CrateName);
        impl WithConnection for Expected<'_> {
            type Output = Option<(CrateName, Vec<IndexLine>)>;
            fn run<C: RegistryConnection>(
                self,
                conn: &mut C,
            ) -> Result<Self::Output, RegistryError> {
                expected_lines(conn, self.0)
            }
        }
        self.run(Expected(name))
    }

    /// The names of every crate, in the order they were first published.
    pub(crate) fn crate_names(&self) -> Result<Vec<String>, RegistryError> {
        struct Names;
        impl WithConnection for Names {
            type Output = Vec<String>;
            fn run<C: RegistryConnection>(
                self,
                conn: &mut C,
            ) -> Result<Vec<String>, RegistryError> {
                Ok(conn.all_crates()?.into_iter().map(|(_, name)| name).collect())
            }
        }
        self.run(Names)
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
        self.run(SetYanked { by: Some(user), name, vers, yanked })
    }

    /// [`accounts::create_token`] on a pooled connection.
    pub fn create_token(&self, login: &str, token_name: &str) -> Result<String, RegistryError> {
        struct Create<'a>(&'a str, &'a str);
        impl WithConnection for Create<'_> {
            type Output = String;
            fn run<C: RegistryConnection>(self, conn: &mut C) -> Result<String, RegistryError> {
                accounts::create_token(conn, self.0, self.1)
            }
        }
        self.run(Create(login, token_name))
    }

    /// [`accounts::authenticate`] on a pooled connection.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>, RegistryError> {
        struct Authenticate<'a>(&'a str);
        impl WithConnection for Authenticate<'_> {
            type Output = Option<User>;
            fn run<C: RegistryConnection>(
                self,
                conn: &mut C,
            ) -> Result<Option<User>, RegistryError> {
                accounts::authenticate(conn, self.0)
            }
        }
        self.run(Authenticate(token))
    }

    /// [`accounts::owners`] on a pooled connection.
    pub fn owners(&self, krate: &str) -> Result<Vec<User>, RegistryError> {
        struct Owners<'a>(&'a str);
        impl WithConnection for Owners<'_> {
            type Output = Vec<User>;
            fn run<C: RegistryConnection>(self, conn: &mut C) -> Result<Vec<User>, RegistryError> {
                accounts::owners(conn, self.0)
            }
        }
        self.run(Owners(krate))
    }

    /// [`accounts::add_owners`] (or, with `add: false`, [`accounts::remove_owners`]) on a
    /// pooled connection.
    pub fn change_owners(
        &self,
        by: &User,
        krate: &str,
        logins: &[String],
        add: bool,
    ) -> Result<(), RegistryError> {
        struct Change<'a>(&'a User, &'a str, &'a [String], bool);
        impl WithConnection for Change<'_> {
            type Output = ();
            fn run<C: RegistryConnection>(self, conn: &mut C) -> Result<(), RegistryError> {
                if self.3 {
                    accounts::add_owners(conn, self.0, self.1, self.2)
                } else {
                    accounts::remove_owners(conn, self.0, self.1, self.2)
                }
            }
        }
        self.run(Change(by, krate, logins, add))
    }

    /// [`accounts::search`] on a pooled connection.
    pub fn search(&self, query: &str, limit: u32) -> Result<SearchResults, RegistryError> {
        struct Search<'a>(&'a str, u32);
        impl WithConnection for Search<'_> {
            type Output = SearchResults;
            fn run<C: RegistryConnection>(
                self,
                conn: &mut C,
            ) -> Result<SearchResults, RegistryError> {
                accounts::search(conn, self.0, self.1)
            }
        }
        self.run(Search(query, limit))
    }
}

/// A yank or unyank, on behalf of `by` when given.
struct SetYanked<'a> {
    by: Option<&'a User>,
    name: &'a str,
    vers: &'a str,
    yanked: bool,
}

impl WithConnection for SetYanked<'_> {
    type Output = YankOutcome;
    fn run<C: RegistryConnection>(self, conn: &mut C) -> Result<YankOutcome, RegistryError> {
        set_yanked(conn, self.name, self.vers, self.yanked, self.by)
    }
}
