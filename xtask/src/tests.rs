use std::fs;

use crate::invariants::{find_violations, Violation};
use crate::project_root;

const TREE: &str = "\
0queue-core v0.0.0 (/w/queue-core)
1anyhow v1.0.98
1serde v1.0.219
2serde_derive v1.0.219
3proc-macro2 v1.0.95
1storage-helper v0.1.0
2diesel v2.3.14
3libsqlite3-sys v0.30.1
1other v1.0.0
2diesel v2.3.14
";

#[test]
fn violation_reports_the_whole_dependency_path() {
    let found = find_violations(TREE, &["diesel", "libsqlite3-sys", "git2"]);
    assert_eq!(
        found,
        vec![
            Violation {
                forbidden: "diesel".into(),
                path: vec![
                    "queue-core v0.0.0 (/w/queue-core)".into(),
                    "storage-helper v0.1.0".into(),
                    "diesel v2.3.14".into(),
                ],
            },
            Violation {
                forbidden: "libsqlite3-sys".into(),
                path: vec![
                    "queue-core v0.0.0 (/w/queue-core)".into(),
                    "storage-helper v0.1.0".into(),
                    "diesel v2.3.14".into(),
                    "libsqlite3-sys v0.30.1".into(),
                ],
            },
        ]
    );
}

#[test]
fn clean_tree_has_no_violation() {
    assert!(find_violations(TREE, &["git2", "pq-sys"]).is_empty());
}

#[test]
fn a_name_that_only_starts_like_a_forbidden_one_is_not_a_violation() {
    let tree = "0a v0.1.0\n1diesel-derive-enum v1.0.0\n1git2-ish v0.1.0\n";
    assert!(find_violations(tree, &["diesel", "git2"]).is_empty());
}

/// The command `.ci/run` ends with, without a leading `exec`.
fn ci_run_command() -> String {
    let script = fs::read_to_string(project_root().join(".ci/run")).expect(".ci/run exists");
    let last = script
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
        .expect(".ci/run has a command")
        .to_owned();
    last.strip_prefix("exec ").unwrap_or(&last).trim().to_owned()
}

/// The line that follows the `<!-- test-command -->` marker's code fence in README.md.
fn readme_test_command() -> String {
    let readme = fs::read_to_string(project_root().join("README.md")).expect("README.md exists");
    let mut lines = readme.lines().skip_while(|l| l.trim() != "<!-- test-command -->");
    assert!(lines.next().is_some(), "README.md has no <!-- test-command --> marker");
    let fence = lines.next().expect("a code fence follows the marker");
    assert!(fence.starts_with("```"), "a code fence follows the marker, found {fence:?}");
    lines.next().expect("the test command follows the fence").trim().to_owned()
}

#[test]
fn readme_test_command_is_what_ci_runs() {
    let readme = readme_test_command();
    let ci = ci_run_command();
    assert_eq!(readme, "cargo xtask ci");
    assert_eq!(ci, readme, ".ci/run and README.md's test command disagree");
}

#[test]
fn bench_takes_each_flag_once_and_nothing_else() {
    use crate::BenchOptions;
    let parse = |args: &[&str]| {
        BenchOptions::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    };
    assert_eq!(parse(&[]), Some(BenchOptions { quick: false, graphile: false }));
    assert_eq!(parse(&["--quick"]), Some(BenchOptions { quick: true, graphile: false }));
    assert_eq!(
        parse(&["--graphile", "--quick"]),
        Some(BenchOptions { quick: true, graphile: true })
    );
    assert_eq!(parse(&["--quick", "--quick"]), None);
    assert_eq!(parse(&["--fast"]), None);
}
