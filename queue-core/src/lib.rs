//! A storage-agnostic, at-least-once background-job queue.
