//! Remotes as operators have them: a default branch other than `master`, an empty remote,
//! a missing branch, credentials in the URL, a file that no longer parses.

use std::path::Path;
use std::process::Command;

use index_git::{create_index, Applied, Edit, IndexConfig, IndexRepo, RepoConfig, RepoError};

use crate::{line, name, parse_independently};

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git").arg("--git-dir").arg(dir).args(args).output().unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn config() -> IndexConfig {
    IndexConfig { dl: "https://dl.example/{crate}/{version}".into(), api: None }
}

#[test]
fn the_remote_default_branch_is_used_when_none_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("main.git");
    create_index(&upstream, "main", &config()).unwrap();
    let url = format!("file://{}", upstream.display());
    let repo = IndexRepo::open_or_clone(RepoConfig::new(&url, dir.path().join("clone"))).unwrap();
    assert_eq!(repo.branch(), Some("main"));
    assert!(matches!(
        repo.apply(&[Edit::Put(line("on-main", "1.0.0"))]).unwrap(),
        Applied::Pushed { .. }
    ));
    let text = git(&upstream, &["show", "main:on/-m/on-main"]);
    parse_independently(&text);
    assert!(
        git(&upstream, &["show", "main:config.json"]).contains("dl.example"),
        "the history is main's"
    );
    let branches = git(&upstream, &["for-each-ref", "--format=%(refname)", "refs/heads"]);
    assert_eq!(branches, "refs/heads/main", "no master was created");
}

#[test]
fn a_missing_branch_on_a_non_empty_remote_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("main.git");
    create_index(&upstream, "main", &config()).unwrap();
    let url = format!("file://{}", upstream.display());
    let mut config = RepoConfig::new(&url, dir.path().join("clone"));
    config.branch = Some("master".into());
    let err = IndexRepo::open_or_clone(config).unwrap_err();
    assert!(matches!(&err, RepoError::MissingBranch { .. }), "{err:?}");
    assert!(err.to_string().contains("has no branch \"master\" (it has: main)"), "{err}");
    assert_eq!(
        git(&upstream, &["for-each-ref", "--format=%(refname)", "refs/heads"]),
        "refs/heads/main"
    );
}

#[test]
fn an_empty_remote_gets_no_root_commit_without_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("empty.git");
    git2::Repository::init_bare(&upstream).unwrap();
    let url = format!("file://{}", upstream.display());
    let repo = IndexRepo::open_or_clone(RepoConfig::new(&url, dir.path().join("clone"))).unwrap();
    assert_eq!(repo.fetch().unwrap(), None, "a remote without references is empty");
    let err = repo.apply(&[Edit::Put(line("first", "1.0.0"))]).unwrap_err();
    assert!(matches!(err, RepoError::EmptyRemote { .. }), "{err:?}");
    assert_eq!(git(&upstream, &["for-each-ref"]), "", "nothing was pushed");
}

#[test]
fn credentials_in_the_url_never_reach_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 9 of loopback: the connection is refused.
    let url = "http://bot:T0KEN-7f3a9c@127.0.0.1:9/index.git?password=PW-51c2e8";
    let err = IndexRepo::open_or_clone(RepoConfig::new(url, dir.path().join("clone"))).unwrap_err();
    for text in [err.to_string(), format!("{err:?}"), format!("{:?}", RepoConfig::new(url, "x"))] {
        assert!(!text.contains("T0KEN-7f3a9c") && !text.contains("PW-51c2e8"), "{text}");
        assert!(text.contains("127.0.0.1:9"), "the host is still shown: {text}");
    }
}

#[test]
fn files_that_no_longer_parse_are_replaced_without_being_read() {
    let upstream = index_git::testing::UpstreamIndex::new();
    let repo = IndexRepo::open_or_clone(upstream.repo_config("worker")).unwrap();
    repo.apply(&[Edit::Put(line("broken", "1.0.0")), Edit::Put(line("binary", "1.0.0"))]).unwrap();
    // Someone commits a bad line and a file that is not UTF-8 straight to the remote.
    let work = tempfile::tempdir().unwrap();
    let checkout = work.path().join("w");
    let status =
        Command::new("git").args(["clone", "-q", &upstream.url()]).arg(&checkout).status().unwrap();
    assert!(status.success());
    std::fs::write(checkout.join("br/ok/broken"), "{not json\n").unwrap();
    std::fs::write(checkout.join("bi/na/binary"), [0xff, 0xfe, b'\n']).unwrap();
    for args in [
        &["add", "-A"][..],
        &["-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "break"],
        &["push", "-q", "origin", "HEAD:master"],
    ] {
        assert!(Command::new("git").current_dir(&checkout).args(args).status().unwrap().success());
    }
    repo.fetch().unwrap();
    assert!(matches!(repo.read_crate(&name("broken")), Err(RepoError::File(_))));
    assert!(
        repo.apply(&[Edit::Put(line("broken", "2.0.0"))]).is_err(),
        "a Put has to read the file"
    );
    let replaced = repo
        .apply(&[
            Edit::Replace { name: name("broken"), lines: vec![line("broken", "1.0.0")] },
            Edit::Delete { name: name("binary") },
        ])
        .unwrap();
    assert!(matches!(replaced, Applied::Pushed { .. }));
    parse_independently(&upstream.read_file("br/ok/broken").unwrap());
    assert_eq!(upstream.read_file("bi/na/binary"), None);
}
