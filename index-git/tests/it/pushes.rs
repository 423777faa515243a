//! Pushes that fail must be errors: a remote whose hook refuses, and a writer that lost a
//! race to another one. After a retry, the remote holds every change.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use index_git::testing::UpstreamIndex;
use index_git::{Applied, Edit, IndexRepo, RepoConfig, RepoError};

use crate::{line, parse_independently};

fn refused_push(upstream: &UpstreamIndex, url: &str) {
    let repo =
        IndexRepo::open_or_clone(RepoConfig::new(url, upstream.clone_dir("worker"))).unwrap();
    repo.apply(&[Edit::Put(line("before", "1.0.0"))]).unwrap();
    let commits = upstream.commit_count();

    upstream.refuse_pushes(true);
    let err = repo.apply(&[Edit::Put(line("refused", "1.0.0"))]).unwrap_err();
    assert!(matches!(err, RepoError::PushRejected { .. }), "{err:?}");
    assert!(err.is_retryable());
    let message = err.to_string();
    assert!(message.contains("refs/heads/master"), "names the reference: {message}");
    assert_eq!(upstream.commit_count(), commits, "the remote is unchanged");
    assert_eq!(upstream.read_file("re/fu/refused"), None);

    upstream.refuse_pushes(false);
    let after = repo.apply(&[Edit::Put(line("after", "1.0.0"))]).unwrap();
    assert!(matches!(after, Applied::Pushed { .. }));
    assert_eq!(upstream.commit_count(), commits + 1, "only the new commit landed on the remote");
    assert_eq!(upstream.read_file("re/fu/refused"), None, "the refused local commit was discarded");
    parse_independently(&upstream.read_file("af/te/after").unwrap());
}

#[test]
fn a_push_the_remote_refuses_over_git_daemon_is_an_error() {
    let mut upstream = UpstreamIndex::new();
    let url = upstream.serve();
    refused_push(&upstream, &url);
}

#[test]
fn a_push_the_remote_refuses_over_file_url_is_an_error() {
    let upstream = UpstreamIndex::new();
    refused_push(&upstream, &upstream.url());
}

fn race_is_rejected_then_retried(upstream: &UpstreamIndex, url: &str) {
    let a = IndexRepo::open_or_clone(RepoConfig::new(url, upstream.clone_dir("a"))).unwrap();
    let b = IndexRepo::open_or_clone(RepoConfig::new(url, upstream.clone_dir("b"))).unwrap();
    let from_a = [Edit::Put(line("from-a", "1.0.0"))];
    let from_b = [Edit::Put(line("from-b", "1.0.0"))];
    // Both build on the same remote head; the first push wins.
    let prepared_a = a.prepare(&from_a).unwrap().unwrap();
    let prepared_b = b.prepare(&from_b).unwrap().unwrap();
    a.push(&prepared_a).unwrap();
    let err = b.push(&prepared_b).unwrap_err();
    assert!(err.is_retryable(), "a lost race can be retried: {err:?}");
    assert_eq!(upstream.read_file("fr/om/from-b"), None, "the losing push changed nothing");
    // The retry fetches the winner's commit and builds on it.
    assert!(matches!(b.apply(&from_b).unwrap(), Applied::Pushed { .. }));
    assert!(upstream.read_file("fr/om/from-a").is_some(), "the winner's change survived");
    assert!(upstream.read_file("fr/om/from-b").is_some());
}

#[test]
fn a_lost_race_over_file_url_is_rejected_and_retried() {
    let upstream = UpstreamIndex::new();
    race_is_rejected_then_retried(&upstream, &upstream.url());
}

#[test]
fn a_lost_race_over_git_daemon_is_rejected_and_retried() {
    let mut upstream = UpstreamIndex::new();
    let url = upstream.serve();
    race_is_rejected_then_retried(&upstream, &url);
}

/// `apply` redoes a push that lost the race: the held writer's push reaches the remote
/// first, another writer's lands while it waits, and the held one is rejected, fetches the
/// winner's head and pushes again on top of it.
fn a_lost_race_is_redone_by_apply(upstream: &UpstreamIndex, url: &str) {
    let held = IndexRepo::open_or_clone(RepoConfig::new(url, upstream.clone_dir("held"))).unwrap();
    let winner =
        IndexRepo::open_or_clone(RepoConfig::new(url, upstream.clone_dir("winner"))).unwrap();
    let commits = upstream.commit_count();
    let gate = upstream.hold_first_push();
    std::thread::scope(|scope| {
        let held = scope.spawn(move || held.apply(&[Edit::Put(line("held", "1.0.0"))]));
        gate.wait_started();
        let won = winner.apply(&[Edit::Put(line("winner", "1.0.0"))]).unwrap();
        assert!(matches!(won, Applied::Pushed { .. }), "{won:?}");
        gate.release();
        let applied = held.join().unwrap().unwrap();
        assert!(matches!(applied, Applied::Pushed { .. }), "{applied:?}");
    });
    assert_eq!(upstream.commit_count(), commits + 2, "one commit from each writer");
    parse_independently(&upstream.read_file("wi/nn/winner").unwrap());
    parse_independently(&upstream.read_file("he/ld/held").unwrap());
}

#[test]
fn a_lost_race_over_file_url_is_redone_by_apply() {
    let upstream = UpstreamIndex::new();
    a_lost_race_is_redone_by_apply(&upstream, &upstream.url());
}

#[test]
fn a_lost_race_over_git_daemon_is_redone_by_apply() {
    let mut upstream = UpstreamIndex::new();
    let url = upstream.serve();
    a_lost_race_is_redone_by_apply(&upstream, &url);
}

/// When the same edit won the race, the redo finds nothing left to push.
#[test]
fn a_race_lost_to_the_same_edit_ends_unchanged() {
    let upstream = UpstreamIndex::new();
    let url = upstream.url();
    let held = IndexRepo::open_or_clone(RepoConfig::new(&url, upstream.clone_dir("held"))).unwrap();
    let winner =
        IndexRepo::open_or_clone(RepoConfig::new(&url, upstream.clone_dir("winner"))).unwrap();
    let commits = upstream.commit_count();
    let gate = upstream.hold_first_push();
    let edit = &[Edit::Put(line("same", "1.0.0"))];
    std::thread::scope(|scope| {
        let held = scope.spawn(move || held.apply(edit));
        gate.wait_started();
        assert!(matches!(winner.apply(edit).unwrap(), Applied::Pushed { .. }));
        gate.release();
        assert_eq!(held.join().unwrap().unwrap(), Applied::Unchanged);
    });
    assert_eq!(upstream.commit_count(), commits + 1, "the edit landed once");
}

/// Writers with their own clones push at once, each retrying when it loses: in the end the
/// remote holds every change.
#[test]
fn concurrent_writers_converge() {
    const WRITERS: usize = 4;
    const EDITS: usize = 5;
    let upstream = Arc::new(UpstreamIndex::new());
    let barrier = Arc::new(Barrier::new(WRITERS));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let upstream = Arc::clone(&upstream);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let repo =
                    IndexRepo::open_or_clone(upstream.repo_config(&format!("w{w}"))).unwrap();
                barrier.wait();
                let mut rejected = 0;
                for e in 0..EDITS {
                    let edit = [Edit::Put(line(&format!("writer{w}"), &format!("{e}.0.0")))];
                    loop {
                        match repo.apply(&edit) {
                            Ok(_) => break,
                            Err(err) if err.is_retryable() => rejected += 1,
                            Err(err) => panic!("writer {w}: {err}"),
                        }
                    }
                }
                rejected
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    for w in 0..WRITERS {
        let text = upstream.read_file(&format!("wr/it/writer{w}")).unwrap();
        assert_eq!(
            parse_independently(&text).versions().len(),
            EDITS,
            "writer {w}'s versions all landed"
        );
    }
}

/// `last_timings` says where an edit's time went: every phase of a pushed edit took time;
/// an edit that changes nothing has no commit and no push.
#[test]
fn the_last_edit_reports_its_phases() {
    let upstream = UpstreamIndex::new();
    let repo = IndexRepo::open_or_clone(upstream.repo_config("worker")).unwrap();
    repo.apply(&[Edit::Put(line("timed", "1.0.0"))]).unwrap();
    let pushed = repo.last_timings();
    assert!(pushed.fetch > Duration::ZERO && pushed.tree > Duration::ZERO, "{pushed:?}");
    assert!(pushed.commit > Duration::ZERO && pushed.push > Duration::ZERO, "{pushed:?}");
    let unchanged = repo.apply(&[Edit::Put(line("timed", "1.0.0"))]).unwrap();
    assert!(matches!(unchanged, Applied::Unchanged));
    let timings = repo.last_timings();
    assert!(timings.fetch > Duration::ZERO, "{timings:?}");
    assert_eq!((timings.commit, timings.push), (Duration::ZERO, Duration::ZERO), "{timings:?}");
}
