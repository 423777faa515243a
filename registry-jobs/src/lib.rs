//! Publish, yank and unyank for a Cargo registry: database changes plus index jobs.
