//! A database of either backend, chosen at run time, and the one place that dispatches on
//! it.

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sqlite::SqliteConnection;
use index_git::{CrateName, IndexLine};
use queue_diesel::AnyStorage;

use crate::db::{expected_lines, RegistryConnection};
use crate::error::RegistryError;

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
}
