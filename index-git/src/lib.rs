//! The Cargo registry index format and idempotent, verified git edits of an index.
