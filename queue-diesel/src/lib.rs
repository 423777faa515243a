//! PostgreSQL and embedded SQLite storage for `queue-core`, built on diesel.
//!
//! With the `testing` feature, [`testing`] provides a throwaway PostgreSQL server and one
//! empty database per test, for the tests of any crate in the workspace.

#[cfg(any(test, feature = "testing"))]
pub mod testing;
