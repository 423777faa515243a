//! Architecture invariants: which crates must never depend on which.
//!
//! The check reads `cargo tree --prefix depth` output and reports the full dependency path
//! from the checked crate to the forbidden one, so a violation says how it got there.

/// One rule: `krate` must not depend, through normal dependencies, on any of `forbidden`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    /// The package the rule is about.
    pub(crate) krate: &'static str,
    /// Package names that must not appear among its normal dependencies.
    pub(crate) forbidden: &'static [&'static str],
    /// Why the rule exists, printed with a violation.
    pub(crate) why: &'static str,
}

/// The rules `cargo xtask ci` enforces.
pub(crate) const RULES: &[Rule] = &[
    Rule {
        krate: "queue-core",
        forbidden: &[
            "diesel",
            "libsqlite3-sys",
            "pq-sys",
            "git2",
            "libgit2-sys",
            "sqlx",
            "postgres",
        ],
        why: "queue-core is the storage-agnostic library other projects reuse",
    },
    Rule {
        krate: "redact",
        forbidden: &[
            "diesel",
            "git2",
            "libgit2-sys",
            "queue-core",
            "queue-diesel",
            "index-git",
            "registry-jobs",
            "regex",
            "url",
        ],
        why: "redact is the leaf every crate uses for secrets: std only, nothing to audit",
    },
    Rule {
        krate: "index-git",
        forbidden: &["diesel", "queue-core", "queue-diesel", "registry-jobs"],
        why: "index-git knows nothing of jobs or databases",
    },
];

/// A forbidden dependency found in a `cargo tree` listing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The forbidden package's name.
    pub(crate) forbidden: String,
    /// Packages from the checked crate down to the forbidden one, as `cargo tree` prints them.
    pub(crate) path: Vec<String>,
}

/// Finds the first occurrence of each forbidden package in `cargo tree --prefix depth`
/// output (lines like `2serde v1.0.0`) and returns the path that leads to it.
pub(crate) fn find_violations(tree: &str, forbidden: &[&str]) -> Vec<Violation> {
    let mut stack: Vec<String> = Vec::new();
    let mut found: Vec<Violation> = Vec::new();
    for line in tree.lines() {
        let digits = line.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(depth) = line[..digits].parse::<usize>() else {
            continue;
        };
        let package = line[digits..].trim().to_owned();
        stack.truncate(depth);
        stack.push(package.clone());
        let name = package.split_whitespace().next().unwrap_or_default();
        if forbidden.contains(&name) && !found.iter().any(|v| v.forbidden == name) {
            found.push(Violation { forbidden: name.to_owned(), path: stack.clone() });
        }
    }
    found
}
