//! A database of either backend, chosen at run time, and the one place that dispatches on
//! it.

use std::marker::PhantomData;

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

    /// Runs `pg` or `sqlite` on a pooled connection, whichever this database's backend is.
    /// A closure can't be generic over the connection type, so a one-call operation is
    /// written for each (`|c| op(c, args)` twice); longer work implements
    /// [`WithConnection`] and goes through [`Database::run`].
    pub fn either<T>(
        &self,
        pg: impl FnOnce(&mut PgConnection) -> Result<T, RegistryError>,
        sqlite: impl FnOnce(&mut SqliteConnection) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        struct Either<P, S, T>(P, S, PhantomData<T>);
        impl<P, S, T> WithConnection for Either<P, S, T>
        where
            P: FnOnce(&mut PgConnection) -> Result<T, RegistryError>,
            S: FnOnce(&mut SqliteConnection) -> Result<T, RegistryError>,
        {
            type Output = T;
            fn run<C: RegistryConnection>(self, conn: &mut C) -> Result<T, RegistryError> {
                conn.pick(self.0, self.1)
            }
        }
        self.run(Either(pg, sqlite, PhantomData))
    }

    /// Applies the job table's and the registry's pending migrations.
    pub fn migrate(&self) -> Result<Vec<String>, RegistryError> {
        self.either(|c| c.run_migrations(), |c| c.run_migrations())
    }

    /// [`expected_lines`] on a pooled connection.
    pub fn expected_lines(
        &self,
        name: &CrateName,
    ) -> Result<Option<(CrateName, Vec<IndexLine>)>, RegistryError> {
        self.either(|c| expected_lines(c, name), |c| expected_lines(c, name))
    }

    /// The names of every crate, in the order they were first published.
    pub(crate) fn crate_names(&self) -> Result<Vec<String>, RegistryError> {
        let names = |crates: Vec<(i64, String)>| crates.into_iter().map(|(_, name)| name).collect();
        self.either(|c| Ok(names(c.all_crates()?)), |c| Ok(names(c.all_crates()?)))
    }
}
