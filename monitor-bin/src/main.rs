//! `registry-monitor`: pages on-call when index jobs wait too long or keep failing.
//!
//! A thin binary over the workspace's libraries. Its commands are not written yet; until
//! they are, it says so and exits with the usage-error code.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("registry-monitor: no commands are implemented yet");
    ExitCode::from(2)
}
