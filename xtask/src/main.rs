//! `cargo xtask`: the project's own automation, one small binary with subcommands.
//!
//! * `cargo xtask ci` runs every check the project has, in order, and stops at the first failure.
//! * `cargo xtask fuzz [--seconds N] [TARGET]` runs the fuzz targets in `fuzz/`.
//! * `cargo xtask chaos [--kills N] [--backend sqlite|postgres|both] [--seed S]` kills,
//!   pauses and cuts off real worker processes while crates are published, then checks
//!   that nothing was lost.
//! * `cargo xtask bench [--quick] [--graphile]` measures the queue and the index writer
//!   against their limits, and writes `target/bench/results.json` and charts; with
//!   `--graphile`, graphile-worker drains the same jobs on the same server.
//!
//! The repository root is found from `CARGO_MANIFEST_DIR`, so the command works from any
//! directory inside the workspace.

#[cfg(feature = "bench")]
mod bench;
#[cfg(feature = "chaos")]
mod chaos;
mod ci;
mod fuzz;
mod invariants;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci              run every check: fmt, clippy, architecture invariants, tests, docs,
                  a short run of every fuzz target, a short chaos run
  fuzz [--seconds N] [TARGET]
                  fuzz every target (or TARGET) for N seconds each (default 60)
  bench [--quick] [--graphile]
                  measure throughput, latency and costs; writes target/bench/;
                  --quick: fewer and smaller runs; --graphile: also drain the same jobs
                  with graphile-worker (installs it with npm from xtask/graphile)
  chaos [--kills N] [--backend sqlite|postgres|both] [--seed S]
                  SIGKILL/SIGSTOP real workers, refuse pushes and end database sessions
                  N times (default 100, both backends) while crates are published, then
                  check that the registry lost nothing
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") if args.len() == 1 => ci::run(&project_root()),
        Some("fuzz") => fuzz::command(&project_root(), &args[1..]),
        Some("bench") => match BenchOptions::parse(&args[1..]) {
            Some(options) => bench_command(&project_root(), options),
            None => {
                eprint!("error: unknown arguments `{}`\n\n{USAGE}", args.join(" "));
                return ExitCode::from(2);
            }
        },
        Some("chaos") => chaos_command(&project_root(), &args[1..]),
        // Not a command for people: the worker process `bench` starts to measure memory.
        #[cfg(feature = "bench")]
        Some(bench::MEMORY_CHILD) => bench::memory_child(&args[1..]),
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

/// What `cargo xtask bench` was asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct BenchOptions {
    /// Fewer and smaller runs.
    quick: bool,
    /// Also drain the same jobs with graphile-worker.
    graphile: bool,
}

impl BenchOptions {
    /// `None` for an argument other than `--quick` and `--graphile`, or one given twice.
    fn parse(args: &[String]) -> Option<BenchOptions> {
        let mut options = BenchOptions::default();
        for arg in args {
            let flag = match arg.as_str() {
                "--quick" => &mut options.quick,
                "--graphile" => &mut options.graphile,
                _ => return None,
            };
            if std::mem::replace(flag, true) {
                return None;
            }
        }
        Some(options)
    }
}

/// Runs the benchmark: in this process when built with the `bench` feature, otherwise by
/// building this crate in release mode with it.
fn bench_command(root: &Path, options: BenchOptions) -> anyhow::Result<()> {
    #[cfg(feature = "bench")]
    {
        bench::run(root, options.quick, options.graphile)
    }
    #[cfg(not(feature = "bench"))]
    {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(root).args([
            "run",
            "--release",
            "--package",
            "xtask",
            "--features",
            "bench",
            "--",
            "bench",
        ]);
        if options.quick {
            cmd.arg("--quick");
        }
        if options.graphile {
            cmd.arg("--graphile");
        }
        let status = cmd.status()?;
        anyhow::ensure!(status.success(), "the benchmark failed: {status}");
        Ok(())
    }
}

/// Runs the chaos test: in this process when built with the `chaos` feature, otherwise by
/// building this crate with it.
fn chaos_command(root: &Path, args: &[String]) -> anyhow::Result<()> {
    #[cfg(feature = "chaos")]
    {
        chaos::run(root, &chaos::Options::parse(args)?)
    }
    #[cfg(not(feature = "chaos"))]
    {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = std::process::Command::new(cargo)
            .current_dir(root)
            .args(["run", "--quiet", "--package", "xtask", "--features", "chaos", "--", "chaos"])
            .args(args)
            .status()?;
        anyhow::ensure!(status.success(), "the chaos run failed: {status}");
        Ok(())
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
