//! `cargo xtask fuzz`: builds the fuzz targets in `fuzz/` with libFuzzer's coverage
//! instrumentation (stable `-C` flags, no nightly toolchain) and runs each for a while.
//!
//! Each target starts from its checked-in seeds (`fuzz/corpus/TARGET/`) and from every
//! input that once crashed it (`fuzz/regressions/TARGET/`), so those are replayed on every
//! run; new inputs go to `target/fuzz/corpus/TARGET/` and a crash to
//! `target/fuzz/artifacts/TARGET/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// Every fuzz target, with the longest input libFuzzer may make for it.
pub(crate) const TARGETS: &[(&str, usize)] = &[
    ("crate_name", 256),
    ("index_file", 16 * 1024),
    ("crate_archive", 256 * 1024),
    ("manifest", 16 * 1024),
    ("job_row", 4 * 1024),
];

/// What one run of a target did, read from libFuzzer's final statistics.
#[derive(Debug)]
pub(crate) struct Stats {
    pub(crate) target: &'static str,
    pub(crate) seconds: f64,
    pub(crate) executions: u64,
    pub(crate) new_units: u64,
    pub(crate) peak_rss_mb: u64,
}

/// `cargo xtask fuzz [--seconds N] [TARGET]`.
pub(crate) fn command(root: &Path, args: &[String]) -> Result<()> {
    let mut seconds = 60;
    let mut only = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().context("--seconds needs a number")?;
                seconds = value
                    .parse()
                    .with_context(|| format!("--seconds {value:?} is not a number"))?;
            }
            name => {
                if !TARGETS.iter().any(|(t, _)| *t == name) {
                    let names: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
                    bail!("unknown fuzz target {name:?}; the targets are {}", names.join(", "));
                }
                only = Some(name.to_owned());
            }
        }
    }
    let targets: Vec<&'static str> = TARGETS
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| only.as_deref().is_none_or(|o| o == *t))
        .collect();
    for stats in run(root, &targets, seconds)? {
        print_stats(&stats);
    }
    Ok(())
}

fn print_stats(stats: &Stats) {
    println!(
        "{:<14} {:>6.0} s {:>12} executions {:>9.0}/s {:>6} new inputs  peak RSS {} MiB",
        stats.target,
        stats.seconds,
        stats.executions,
        stats.executions as f64 / stats.seconds.max(0.001),
        stats.new_units,
        stats.peak_rss_mb
    );
}

/// Builds the targets and runs each of `targets` for `seconds`; fails on the first crash,
/// naming the input that caused it.
pub(crate) fn run(root: &Path, targets: &[&'static str], seconds: u64) -> Result<Vec<Stats>> {
    let binaries = build(root)?;
    let work = root.join("target/fuzz");
    let mut all = Vec::new();
    for &target in targets {
        let max_len = TARGETS.iter().find(|(t, _)| *t == target).map_or(4096, |(_, l)| *l);
        let corpus = work.join("corpus").join(target);
        let artifacts = work.join("artifacts").join(target);
        for dir in [&corpus, &artifacts] {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut cmd = Command::new(binaries.join(target));
        cmd.arg(&corpus);
        for seeds in ["corpus", "regressions"] {
            let dir = root.join("fuzz").join(seeds).join(target);
            if dir.is_dir() {
                cmd.arg(dir);
            }
        }
        cmd.arg(format!("-max_total_time={seconds}"))
            .arg(format!("-max_len={max_len}"))
            .arg("-rss_limit_mb=2048")
            .arg("-timeout=20")
            .arg("-print_final_stats=1")
            .arg(format!("-artifact_prefix={}/", artifacts.display()));
        eprintln!("==> fuzzing {target} for {seconds} s");
        let started = Instant::now();
        let output = cmd.output().with_context(|| format!("running the {target} fuzz target"))?;
        let elapsed = started.elapsed().as_secs_f64();
        let log = String::from_utf8_lossy(&output.stderr);
        let log_file = work.join(format!("{target}.log"));
        fs::write(&log_file, log.as_bytes())
            .with_context(|| format!("writing {}", log_file.display()))?;
        if !output.status.success() {
            let crash: Vec<&str> =
                log.lines().filter(|l| l.contains("Test unit written to")).collect();
            let tail: Vec<&str> =
                log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
            bail!(
                "the {target} fuzz target failed ({}):\n{}\n{}\nfull log: {}; add the input to fuzz/regressions/{target}/ and a regression test next to the code it broke",
                output.status,
                tail.join("\n"),
                crash.join("\n"),
                log_file.display()
            );
        }
        let stat = |name: &str| {
            log.lines()
                .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        all.push(Stats {
            target,
            seconds: elapsed,
            executions: stat("number_of_executed_units"),
            new_units: stat("new_units_added"),
            peak_rss_mb: stat("peak_rss_mb"),
        });
    }
    Ok(all)
}

/// Builds every target with coverage instrumentation for the host only (so build scripts
/// and proc macros stay uninstrumented); returns the directory of the binaries. Not
/// `--locked`: `fuzz/Cargo.lock` follows the workspace's dependencies as they change.
fn build(root: &Path) -> Result<PathBuf> {
    let host = host_triple()?;
    let flags = [
        "-Cpasses=sancov-module",
        "-Cllvm-args=-sanitizer-coverage-level=4",
        "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
        "-Cllvm-args=-sanitizer-coverage-pc-table",
        "-Cllvm-args=-sanitizer-coverage-trace-compares",
        "--cfg=fuzzing",
        "-Cdebug-assertions",
        "-Coverflow-checks",
    ];
    let target_dir = root.join("target/fuzz");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root.join("fuzz"))
        .args(["build", "--release", "--bins", "--target", &host])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", flags.join(" "))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .context("running cargo build for the fuzz targets")?;
    if !status.success() {
        bail!("building the fuzz targets failed: {status}");
    }
    Ok(target_dir.join(host).join("release"))
}

fn host_triple() -> Result<String> {
    let output = Command::new("rustc").arg("-vV").output().context("running rustc -vV")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV printed no host triple")
}
