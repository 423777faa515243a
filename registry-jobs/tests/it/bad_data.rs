//! One bad row or one unreadable index file fails only itself: the batch it shares commits
//! the rest, and reconcile repairs everything else and says what it could not check.

use std::process::Command;

use queue_core::Storage as _;
use registry_jobs::{reconcile, Difference};

use crate::fixtures::{request, Backend, Registry};

fn corrupt_row(registry: &Registry, name: &str) {
    registry.execute(&format!(
        "UPDATE versions SET dependencies = 'not json' \
         WHERE crate_id = (SELECT id FROM crates WHERE name = '{name}')"
    ));
}

#[test]
fn a_corrupt_row_fails_its_own_job_and_the_batch_commits_the_rest() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let registry = Registry::new(backend);
        for name in ["good-a", "bad-b", "good-c"] {
            registry.database.publish(&request(name, "1.0.0")).unwrap();
        }
        corrupt_row(&registry, "bad-b");
        let report = registry.drain_with_retry(std::time::Duration::from_secs(3600));
        // Each publish queues its git job and its sparse index job; the corrupt row fails
        // both of its own.
        assert_eq!((report.succeeded, report.failed), (4, 2), "{backend:?}: {report:?}");
        assert!(registry.index_file("go/od/good-a").is_some(), "{backend:?}");
        assert!(registry.index_file("go/od/good-c").is_some(), "{backend:?}");
        assert!(registry.index_file("ba/d-/bad-b").is_none(), "{backend:?}");
        let pending = registry.storage.pending_jobs(10).unwrap();
        assert_eq!(pending.len(), 2, "its git and sparse index jobs, {backend:?}");
        for job in &pending {
            assert_eq!(job.data["crate"], "bad-b");
            let error = job.last_error.clone().unwrap_or_default();
            assert!(error.contains("stored data of bad-b 1.0.0 is corrupt"), "{error}");
        }
    }
}

#[test]
fn reconcile_repairs_what_it_can_and_reports_what_it_cannot() {
    let registry = Registry::new(Backend::Sqlite);
    for name in ["fine", "broken", "corrupt"] {
        registry.database.publish(&request(name, "1.0.0")).unwrap();
    }
    registry.drain();
    corrupt_row(&registry, "corrupt");
    // An unparsable line lands in `broken`'s file straight on the remote.
    let work = tempfile::tempdir().unwrap();
    let checkout = work.path().join("w");
    let url = registry.upstream.url();
    assert!(Command::new("git")
        .args(["clone", "-q", &url])
        .arg(&checkout)
        .status()
        .unwrap()
        .success());
    std::fs::write(checkout.join("br/ok/broken"), "{\"name\":\n").unwrap();
    for args in [
        &["add", "-A"][..],
        &["-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "break"],
        &["push", "-q", "origin", "HEAD:master"],
    ] {
        assert!(Command::new("git").current_dir(&checkout).args(args).status().unwrap().success());
    }
    let report = reconcile(&registry.ctx, true).unwrap();
    assert!(
        report
            .differences
            .iter()
            .any(|d| matches!(d, Difference::Unreadable { path, .. } if path == "br/ok/broken")),
        "{report:?}"
    );
    assert_eq!(report.unchecked.len(), 1, "{report:?}");
    assert_eq!(report.unchecked[0].krate, "corrupt");
    assert!(report.repair.is_some(), "the repair went ahead without the corrupt crate");
    let repaired = registry.index_file("br/ok/broken").unwrap();
    assert!(repaired.contains("\"vers\":\"1.0.0\""), "{repaired}");
    let again = reconcile(&registry.ctx, false).unwrap();
    assert!(again.differences.is_empty(), "{again:?}");
    assert_eq!(again.unchecked.len(), 1);
}
