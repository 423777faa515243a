//! `cargo xtask ci`: every check the project has, in a fixed order.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::invariants::{self, RULES};

/// A step of the pipeline: a name for the summary and the work itself.
struct Step {
    name: &'static str,
    run: fn(&Path) -> Result<()>,
}

const STEPS: &[Step] = &[
    Step { name: "fmt", run: fmt },
    Step { name: "clippy", run: clippy },
    Step { name: "invariants", run: check_invariants },
    Step { name: "test", run: test },
    Step { name: "doc", run: doc },
    Step { name: "fuzz", run: fuzz_smoke },
    Step { name: "chaos", run: chaos_smoke },
];

/// How long `cargo xtask ci` runs each fuzz target: enough to replay the seeds and every
/// past crash and to catch a shallow new one.
const FUZZ_SMOKE_SECONDS: u64 = 20;

/// Runs every step in order, stopping at the first failure, and prints a summary.
pub(crate) fn run(root: &Path) -> Result<()> {
    let started = Instant::now();
    let mut done: Vec<(&str, Duration, bool)> = Vec::new();
    let mut failure = None;
    for step in STEPS {
        eprintln!("\n==> xtask ci: {}", step.name);
        let t = Instant::now();
        let result = (step.run)(root);
        let ok = result.is_ok();
        done.push((step.name, t.elapsed(), ok));
        if let Err(err) = result {
            failure = Some(err.context(format!("step `{}` failed", step.name)));
            break;
        }
    }
    let mut summary = String::from("\nxtask ci summary:\n");
    for (name, elapsed, ok) in &done {
        let status = if *ok { "ok" } else { "FAILED" };
        let _ = writeln!(summary, "  {name:<11} {status:<6} {:>7.1}s", elapsed.as_secs_f64());
    }
    for step in STEPS.iter().skip(done.len()) {
        let _ = writeln!(summary, "  {:<11} {:<6}", step.name, "skipped");
    }
    let _ = writeln!(summary, "  total              {:>7.1}s", started.elapsed().as_secs_f64());
    eprint!("{summary}");
    match failure {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

fn run_cmd(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("command exited with {status}: {shown}");
    }
    Ok(())
}

/// A short chaos run on both backends: ten kills or pauses each (`cargo xtask chaos` runs
/// a hundred). Built like the tests (the whole workspace, every feature), so it reuses their
/// build.
fn chaos_smoke(root: &Path) -> Result<()> {
    run_cmd(cargo(root).args(["build", "--workspace", "--all-features", "--bins", "--locked"]))?;
    run_cmd(Command::new(target_dir(root).join("debug/xtask")).args(["chaos", "--kills", "10"]))
}

fn fmt(root: &Path) -> Result<()> {
    run_cmd(cargo(root).args(["fmt", "--all", "--", "--check"]))
        .context("code is not formatted: run `cargo fmt --all`")
}

fn clippy(root: &Path) -> Result<()> {
    run_cmd(cargo(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))
}

fn check_invariants(root: &Path) -> Result<()> {
    let mut problems = String::new();
    for rule in RULES {
        let output = cargo(root)
            .args(["tree", "--locked", "-p", rule.krate, "--all-features", "-e", "normal"])
            .args(["--target", "all", "--prefix", "depth", "--format", "{p}"])
            .output()
            .with_context(|| format!("could not run cargo tree for {}", rule.krate))?;
        if !output.status.success() {
            bail!(
                "cargo tree -p {} failed: {}",
                rule.krate,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        for v in invariants::find_violations(&tree, rule.forbidden) {
            let _ = writeln!(
                problems,
                "{} must not depend on {} ({}); dependency path:\n    {}",
                rule.krate,
                v.forbidden,
                rule.why,
                v.path.join("\n    -> ")
            );
        }
        eprintln!("{}: none of {} among its dependencies", rule.krate, rule.forbidden.join(", "));
    }
    if !problems.is_empty() {
        bail!("architecture invariants violated:\n{problems}");
    }
    Ok(())
}

fn test(root: &Path) -> Result<()> {
    let target = target_dir(root);
    fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    let refs = target.join("insta-references.txt");
    if refs.exists() {
        fs::remove_file(&refs).with_context(|| format!("removing {}", refs.display()))?;
    }
    run_cmd(
        cargo(root)
            .args(["test", "--workspace", "--all-features", "--locked"])
            .env("INSTA_UPDATE", "no")
            .env("INSTA_FORCE_PASS", "0")
            .env("INSTA_SNAPSHOT_REFERENCES_FILE", &refs),
    )?;
    check_snapshots(root, &refs)
}

/// Fails on pending snapshots (`.snap.new`, `.pending-snap`) and on `.snap` files that no
/// test referenced in this run.
fn check_snapshots(root: &Path, refs: &Path) -> Result<()> {
    let referenced: Vec<PathBuf> = match fs::read_to_string(refs) {
        Ok(text) => text.lines().filter_map(|l| fs::canonicalize(l).ok()).collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(err).with_context(|| format!("reading {}", refs.display())),
    };
    let mut files = Vec::new();
    collect_snapshot_files(root, &mut files)?;
    let mut problems = String::new();
    for file in files {
        let name = file.to_string_lossy();
        if name.ends_with(".snap.new") || name.ends_with(".pending-snap") {
            let _ = writeln!(problems, "  pending snapshot: {name}");
        } else if name.ends_with(".snap") {
            let canonical = fs::canonicalize(&file).unwrap_or(file.clone());
            if !referenced.contains(&canonical) {
                let _ = writeln!(problems, "  unreferenced snapshot: {name}");
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "snapshot files need review (run `cargo insta review`, or delete stale files):\n{problems}"
        );
    }
    Ok(())
}

fn collect_snapshot_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if name != "target" && !name.starts_with('.') {
                collect_snapshot_files(&path, out)?;
            }
        } else if name.ends_with(".snap")
            || name.ends_with(".snap.new")
            || name.ends_with(".pending-snap")
        {
            out.push(path);
        }
    }
    Ok(())
}

fn doc(root: &Path) -> Result<()> {
    run_cmd(
        cargo(root)
            .args(["doc", "--workspace", "--no-deps", "--all-features", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

fn fuzz_smoke(root: &Path) -> Result<()> {
    let targets: Vec<&'static str> = crate::fuzz::TARGETS.iter().map(|(t, _)| *t).collect();
    for stats in crate::fuzz::run(root, &targets, FUZZ_SMOKE_SECONDS)? {
        eprintln!(
            "{}: {} executions in {:.0} s, no crash",
            stats.target, stats.executions, stats.seconds
        );
    }
    Ok(())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}
