//! `registry-worker`: runs the registry's index jobs.
//!
//! A thin binary over the workspace's libraries. Its commands are not written yet; until
//! they are, it says so and exits with the usage-error code.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("registry-worker: no commands are implemented yet");
    ExitCode::from(2)
}
