//! The connection pool both storages hold, whose errors name the database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::r2d2::{Builder, ConnectionManager, Pool, PooledConnection, R2D2Connection};

use crate::error::Error;

/// A connection pool and the name of its database (a URL with its credentials redacted, or
/// a file path), for errors.
pub(crate) struct Pooled<C: R2D2Connection + 'static> {
    pool: Pool<ConnectionManager<C>>,
    name: String,
}

impl<C: R2D2Connection + 'static> Pooled<C> {
    /// A pool of `size` connections to `url` with `builder`'s other settings. A storage
    /// needs at least 2: one for each running job, one spare for enqueues and operator
    /// queries.
    pub(crate) fn new(
        url: &str,
        name: String,
        size: u32,
        builder: Builder<ConnectionManager<C>>,
    ) -> Result<Pooled<C>, Error> {
        if size < 2 {
            return Err(Error::PoolTooSmall { pool_size: size });
        }
        let pool = builder
            .max_size(size)
            .min_idle(Some(1))
            .build(ConnectionManager::new(url))
            .map_err(|source| Error::Pool { url: name.clone(), source })?;
        Ok(Pooled { pool, name })
    }

    /// The pool itself, for the application's own queries.
    pub(crate) fn pool(&self) -> &Pool<ConnectionManager<C>> {
        &self.pool
    }

    /// A connection, waiting up to the pool's connection timeout.
    pub(crate) fn get(&self) -> Result<PooledConnection<ConnectionManager<C>>, Error> {
        self.get_within(self.pool.connection_timeout())
    }

    /// A connection, waiting up to `patience`.
    pub(crate) fn get_within(
        &self,
        patience: Duration,
    ) -> Result<PooledConnection<ConnectionManager<C>>, Error> {
        self.pool
            .get_timeout(patience)
            .map_err(|source| Error::Pool { url: self.name.clone(), source })
    }
}

impl<C: R2D2Connection + 'static> Clone for Pooled<C> {
    fn clone(&self) -> Self {
        Pooled { pool: self.pool.clone(), name: self.name.clone() }
    }
}

impl<C: R2D2Connection + 'static> std::fmt::Debug for Pooled<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled").field("database", &self.name).finish_non_exhaustive()
    }
}

/// Now, in whole microseconds since the Unix epoch.
pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `d` in whole microseconds, the unit both job tables store durations and times in.
pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
