//! `cargo xtask`: the project's own automation, one small binary with subcommands.
//!
//! * `cargo xtask ci` runs every check the project has, in order, and stops at the first failure.
//!
//! The repository root is found from `CARGO_MANIFEST_DIR`, so the command works from any
//! directory inside the workspace.

mod ci;
mod invariants;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci      run every check: fmt, clippy, architecture invariants, tests, docs
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") if args.len() == 1 => ci::run(&project_root()),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprint!("error: unknown command or arguments `{}`\n\n{USAGE}", args.join(" "));
            let _ = other;
            return ExitCode::from(2);
        }
        None => {
            eprint!("error: no command given\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's folder.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests;
