#![doc = include_str!("../README.md")]

mod connection;
mod error;
mod notifier;
mod open;
mod pg;
mod pool;
mod sqlite;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use connection::{
    enqueue, enqueue_all, enqueue_new, enqueue_new_batch, migrate, JobConnection,
};
pub use error::Error;
pub use open::{AnyStorage, DatabaseUrl, OpenOptions};
pub use pg::{PgConfig, PgStorage};
pub use sqlite::{SqliteConfig, SqliteStorage, MIN_LEASE};
