//! A whole scenario through the worker, the index it leaves, and reconciliation.

use index_git::{CrateName, Edit};
use registry_jobs::{reconcile, Difference};

use crate::fixtures::{redact_pubtime, request, Backend, Registry};

#[test]
fn scenario_leaves_the_index_the_database_describes() {
    let registry = Registry::new(Backend::Postgres);
    let mut with_features = request("alpha", "0.2.0");
    with_features.features.insert("default".into(), vec!["std".into()]);
    with_features.features.insert("std".into(), vec![]);
    with_features.features.insert("json".into(), vec!["dep:serde_json".into()]);
    with_features.deps.push(index_git::IndexDependency {
        optional: true,
        ..index_git::IndexDependency::normal("serde_json", "^1")
    });
    registry.database.publish(&request("alpha", "0.1.0")).unwrap();
    registry.database.publish(&with_features).unwrap();
    registry.database.publish(&request("Beta", "1.0.0")).unwrap();
    registry.database.set_yanked("alpha", "0.1.0", true).unwrap();
    registry.database.set_yanked("beta", "1.0.0", true).unwrap();
    registry.database.set_yanked("BETA", "1.0.0", false).unwrap();
    let report = registry.drain();
    assert_eq!(report.failed, 0);
    let alpha = registry.index_file("al/ph/alpha").unwrap();
    let beta = registry.index_file("be/ta/beta").unwrap();
    insta::assert_snapshot!(format!("{}\n---\n{}", redact_pubtime(&alpha), redact_pubtime(&beta)));
    let parsed = crates_index::Crate::from_slice(alpha.as_bytes()).unwrap();
    let yanked: Vec<bool> = parsed.versions().iter().map(|v| v.is_yanked()).collect();
    assert_eq!(yanked, [true, false]);
    assert_eq!(crates_index::Crate::from_slice(beta.as_bytes()).unwrap().name(), "Beta");
    // The sparse index holds the same files, byte for byte.
    let sparse = |path: &str| std::fs::read_to_string(registry.sparse.path().join(path)).unwrap();
    assert_eq!(sparse("al/ph/alpha"), alpha);
    assert_eq!(sparse("be/ta/beta"), beta);
    let clean = reconcile(&registry.ctx, false).unwrap();
    assert_eq!(clean.differences, vec![]);
    assert_eq!(registry.drain().succeeded, 0, "nothing left to do");
}

#[test]
fn reconcile_reports_and_repairs_every_kind_of_difference() {
    let registry = Registry::new(Backend::Sqlite);
    registry.database.publish(&request("kept", "1.0.0")).unwrap();
    registry.database.publish(&request("kept", "1.1.0")).unwrap();
    registry.database.publish(&request("lost", "1.0.0")).unwrap();
    registry.drain();
    // Tamper with the index behind the database's back.
    let mut stray = crate::fixtures::request("stray", "0.1.0");
    stray.cksum = "0".repeat(64);
    let line = |name: &str, vers: &str, yanked: bool| index_git::IndexLine {
        yanked,
        ..index_git::IndexLine::new(name, vers, "0".repeat(64))
    };
    registry
        .ctx
        .with_repo(|repo| {
            repo.apply(&[
                Edit::Replace {
                    name: CrateName::new("kept").unwrap(),
                    lines: vec![line("kept", "1.0.0", true), line("kept", "2.0.0", false)],
                },
                Edit::Delete { name: CrateName::new("lost").unwrap() },
                Edit::Put(line("stray", "0.1.0", false)),
            ])
            .unwrap()
        })
        .expect("the git index is on");
    let found = reconcile(&registry.ctx, false).unwrap();
    let kinds: Vec<String> =
        found.differences.iter().map(|d| serde_json::to_string(d).unwrap()).collect();
    insta::assert_snapshot!(kinds.join("\n"), @r#"
    {"kind":"wrong_yanked","krate":"kept","vers":"1.0.0","yanked":false}
    {"kind":"missing_version","krate":"kept","vers":"1.1.0"}
    {"kind":"extra_version","krate":"kept","vers":"2.0.0"}
    {"kind":"missing_file","krate":"lost"}
    {"kind":"extra_file","path":"st/ra/stray"}
    "#);
    assert!(found.repair.is_none());
    let repaired = reconcile(&registry.ctx, true).unwrap();
    assert!(repaired.repair.is_some());
    assert_eq!(
        registry.upstream.head_message(),
        "Reconcile the index with the database (5 differences)"
    );
    assert_eq!(reconcile(&registry.ctx, false).unwrap().differences, Vec::<Difference>::new());
    assert_eq!(registry.index_file("st/ra/stray"), None);
}

/// A burst of publishes lands in one commit and one push: each job is marked done only
/// after that push succeeded.
#[test]
fn a_burst_of_publishes_is_one_commit() {
    let registry = Registry::new(Backend::Postgres);
    for i in 0..30 {
        registry.database.publish(&request(&format!("burst{i}"), "1.0.0")).unwrap();
    }
    let before = registry.upstream.commit_count();
    let report = registry.drain();
    assert_eq!((report.succeeded, report.failed), (60, 0), "30 git and 30 sparse index jobs");
    assert_eq!(registry.upstream.commit_count(), before + 1, "one commit for the whole burst");
    let message = registry.upstream.head_message();
    assert!(
        message.starts_with("Update the index for 30 jobs\n\nPublish burst0 1.0.0\n"),
        "{message}"
    );
    assert_eq!(reconcile(&registry.ctx, false).unwrap().differences, vec![]);
}

/// When the push of a batch is refused, every job of the batch stays queued with the error.
#[test]
fn a_refused_batch_push_fails_every_job_of_the_batch() {
    let registry = Registry::new(Backend::Sqlite);
    for i in 0..5 {
        registry.database.publish(&request(&format!("held{i}"), "1.0.0")).unwrap();
    }
    registry.upstream.refuse_pushes(true);
    let report = registry.drain_with_retry(std::time::Duration::from_secs(3600));
    // The sparse index jobs do not need the remote.
    assert_eq!((report.succeeded, report.failed), (5, 5));
    let failing = registry.storage.failing_jobs(1).unwrap();
    assert_eq!(failing.len(), 5, "no job was marked done");
    assert!(
        failing[0].last_error.as_deref().unwrap_or_default().contains("rejected"),
        "{:?}",
        failing[0].last_error
    );
    registry.upstream.refuse_pushes(false);
    for job in failing {
        registry.storage.retry_now(job.id).unwrap();
    }
    assert_eq!(registry.drain().succeeded, 5);
    assert_eq!(reconcile(&registry.ctx, false).unwrap().differences, vec![]);
}

/// The sparse index job converges from the database like the git jobs: run late, twice or
/// after the crate's last version is gone, it leaves what the database says, and a file it
/// replaces is never seen half-written (no temporary file is left behind).
#[test]
fn the_sparse_index_follows_the_database() {
    let registry = Registry::new(Backend::Sqlite);
    registry.database.publish(&request("gamma", "1.0.0")).unwrap();
    registry.database.publish(&request("gamma", "1.1.0")).unwrap();
    assert_eq!(registry.drain().failed, 0);
    let path = registry.sparse.path().join("ga/mm/gamma");
    let before = std::fs::read_to_string(&path).unwrap();
    assert_eq!(before.lines().count(), 2);
    registry.database.set_yanked("gamma", "1.0.0", true).unwrap();
    assert_eq!(registry.drain().failed, 0);
    let after = std::fs::read_to_string(&path).unwrap();
    let parsed = crates_index::Crate::from_slice(after.as_bytes()).unwrap();
    let yanked: Vec<bool> = parsed.versions().iter().map(|v| v.is_yanked()).collect();
    assert_eq!(yanked, [true, false]);
    assert_eq!(after, registry.index_file("ga/mm/gamma").unwrap(), "same as the git index");
    // Run again: nothing changes.
    assert!(!registry.ctx.sync_sparse_crate("gamma").unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["gamma"]);
    // Reconcile sees a stale sparse file and repairs it.
    std::fs::write(&path, "stale\n").unwrap();
    let found = reconcile(&registry.ctx, false).unwrap();
    assert_eq!(found.differences, vec![Difference::SparseFile { krate: "gamma".into() }]);
    let repaired = reconcile(&registry.ctx, true).unwrap();
    assert_eq!(repaired.differences.len(), 1);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
    assert_eq!(reconcile(&registry.ctx, false).unwrap().differences, vec![]);
    // A file the database no longer backs is removed.
    std::fs::create_dir_all(registry.sparse.path().join("gh/os")).unwrap();
    std::fs::write(registry.sparse.path().join("gh/os/ghost"), "{}").unwrap();
    assert!(registry.ctx.sync_sparse_crate("ghost").unwrap());
    assert!(!registry.sparse.path().join("gh/os/ghost").exists());
}
