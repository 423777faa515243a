//! Sequences of edits on a real upstream: idempotence, no empty commits, snapshots.

use index_git::testing::UpstreamIndex;
use index_git::{Applied, Edit, IndexRepo};

use crate::{line, name, parse_independently, rich_line};

#[test]
fn a_sequence_of_edits_leaves_the_expected_file() {
    let upstream = UpstreamIndex::new();
    let repo = IndexRepo::open_or_clone(upstream.repo_config("worker")).unwrap();
    let base_commits = upstream.commit_count();
    let steps = [
        Edit::Put(rich_line("demo-crate", "0.1.0")),
        Edit::Put(line("demo-crate", "0.2.0")),
        Edit::Put(line("demo-crate", "1.0.0-rc.1")),
        Edit::SetYanked { name: name("demo-crate"), vers: "0.2.0".into(), yanked: true },
        Edit::Put(line("demo-crate", "1.0.0")),
        Edit::SetYanked { name: name("demo-crate"), vers: "0.2.0".into(), yanked: false },
        Edit::SetYanked { name: name("demo-crate"), vers: "1.0.0-rc.1".into(), yanked: true },
    ];
    let mut messages = Vec::new();
    for step in &steps {
        match repo.apply(std::slice::from_ref(step)).unwrap() {
            Applied::Pushed { message, .. } => messages.push(message),
            Applied::Unchanged => panic!("{} changed nothing", step.describe()),
        }
    }
    assert_eq!(upstream.commit_count(), base_commits + steps.len());
    assert_eq!(messages[0], "Publish demo-crate 0.1.0");
    assert_eq!(messages[3], "Yank demo-crate 0.2.0");
    assert_eq!(upstream.head_message(), "Yank demo-crate 1.0.0-rc.1");
    let text = upstream.read_file("de/mo/demo-crate").expect("the crate's file is on the remote");
    insta::assert_snapshot!(text);
    let parsed = parse_independently(&text);
    assert_eq!(parsed.name(), "demo-crate");
    let versions: Vec<(&str, bool)> =
        parsed.versions().iter().map(|v| (v.version(), v.is_yanked())).collect();
    assert_eq!(
        versions,
        [("0.1.0", false), ("0.2.0", false), ("1.0.0-rc.1", true), ("1.0.0", false)]
    );
    assert!(parsed.versions()[0].features().contains_key("json"), "features2 merged by the reader");
}

#[test]
fn applying_edits_again_makes_no_commit() {
    let upstream = UpstreamIndex::new();
    let repo = IndexRepo::open_or_clone(upstream.repo_config("worker")).unwrap();
    let edits = [
        Edit::Put(line("foo", "1.0.0")),
        Edit::Put(line("bar", "2.0.0")),
        Edit::SetYanked { name: name("foo"), vers: "1.0.0".into(), yanked: true },
    ];
    assert!(matches!(repo.apply(&edits).unwrap(), Applied::Pushed { .. }));
    let commits = upstream.commit_count();
    assert_eq!(repo.apply(&edits).unwrap(), Applied::Unchanged);
    for edit in &edits {
        assert_eq!(
            repo.apply(std::slice::from_ref(edit)).unwrap(),
            Applied::Unchanged,
            "{}",
            edit.describe()
        );
    }
    assert_eq!(upstream.commit_count(), commits, "no empty commits");
    insta::assert_snapshot!(upstream.head_message(), @r"
    Update 3 index entries

    Publish foo 1.0.0
    Publish bar 2.0.0
    Yank foo 1.0.0
    ");
    for path in ["3/f/foo", "3/b/bar"] {
        parse_independently(&upstream.read_file(path).unwrap());
    }
}

#[test]
fn replace_syncs_a_whole_file_and_delete_removes_it() {
    let upstream = UpstreamIndex::new();
    let repo = IndexRepo::open_or_clone(upstream.repo_config("worker")).unwrap();
    repo.apply(&[Edit::Put(line("syncme", "0.1.0")), Edit::Put(line("syncme", "0.3.0"))]).unwrap();
    let mut yanked = line("syncme", "0.2.0");
    yanked.yanked = true;
    let lines = vec![line("syncme", "0.1.0"), yanked, line("syncme", "0.3.0")];
    let sync = Edit::Replace { name: name("syncme"), lines };
    assert!(
        matches!(repo.apply(std::slice::from_ref(&sync)).unwrap(), Applied::Pushed { ref message, .. } if message == "Sync syncme")
    );
    assert_eq!(repo.apply(std::slice::from_ref(&sync)).unwrap(), Applied::Unchanged);
    let text = upstream.read_file("sy/nc/syncme").unwrap();
    let versions: Vec<String> =
        parse_independently(&text).versions().iter().map(|v| v.version().to_owned()).collect();
    assert_eq!(versions, ["0.1.0", "0.2.0", "0.3.0"]);
    repo.apply(&[Edit::Delete { name: name("syncme") }]).unwrap();
    assert_eq!(upstream.read_file("sy/nc/syncme"), None);
    assert_eq!(repo.apply(&[Edit::Delete { name: name("syncme") }]).unwrap(), Applied::Unchanged);
    assert!(
        upstream.read_file("config.json").unwrap().contains("\"dl\""),
        "config.json is untouched"
    );
}

#[test]
fn a_failed_edit_commits_nothing() {
    let upstream = UpstreamIndex::new();
    let repo = IndexRepo::open_or_clone(upstream.repo_config("worker")).unwrap();
    repo.apply(&[Edit::Put(line("foo", "1.0.0"))]).unwrap();
    let commits = upstream.commit_count();
    let mut conflicting = line("foo", "1.0.0");
    conflicting.cksum = "f".repeat(64);
    let err = repo.apply(&[Edit::Put(line("bar", "1.0.0")), Edit::Put(conflicting)]).unwrap_err();
    assert!(err.to_string().contains("foo 1.0.0 is already in the index"), "{err}");
    assert_eq!(upstream.commit_count(), commits, "no partial commit");
    assert_eq!(
        upstream.read_file("3/b/bar"),
        None,
        "the good edit of the batch was not half-written"
    );
}

#[test]
fn local_commits_that_were_never_pushed_are_discarded() {
    let upstream = UpstreamIndex::new();
    let repo = IndexRepo::open_or_clone(upstream.repo_config("worker")).unwrap();
    let prepared = repo.prepare(&[Edit::Put(line("lost", "1.0.0"))]).unwrap().expect("a change");
    assert_eq!(repo.head().unwrap(), Some(prepared.commit), "committed locally");
    // Never pushed: the next edit starts from the remote again.
    repo.apply(&[Edit::Put(line("kept", "1.0.0"))]).unwrap();
    assert_eq!(upstream.read_file("lo/st/lost"), None);
    assert!(upstream.read_file("ke/pt/kept").is_some());
    let reopened = IndexRepo::open_or_clone(upstream.repo_config("worker")).unwrap();
    assert!(
        reopened.read_file("lo/st/lost").unwrap().is_none(),
        "a reopened clone starts from the remote too"
    );
}
