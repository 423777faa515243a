//! `registry-server` as a process: the real cargo, and crafted HTTP requests.

mod cargo_flow;
mod http_api;
mod pg_shared;
mod s3;
mod support;
