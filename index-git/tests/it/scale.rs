//! An edit on an index of 100,000 crates writes only the objects on its own path.

use std::path::Path;

use git2::{FileMode, Repository, Signature};
use index_git::testing::UpstreamIndex;
use index_git::{Applied, Edit, IndexRepo};

use crate::line;

const CRATES: usize = 100_000;

/// Fills the upstream with `CRATES` crate files in one commit, built directly with git2.
/// The files share one blob (what matters here is the number of paths and trees), except
/// the one the test edits, which holds its own crate's line.
fn fill(upstream: &UpstreamIndex) {
    let repo = Repository::open_bare(upstream.path()).unwrap();
    let head = repo.find_reference("refs/heads/master").unwrap().peel_to_commit().unwrap();
    let mut builder = git2::build::TreeUpdateBuilder::new();
    let filler = repo.blob(format!("{}\n", line("c000000", "1.0.0").to_json()).as_bytes()).unwrap();
    let edited = repo.blob(format!("{}\n", line("c000123", "1.0.0").to_json()).as_bytes()).unwrap();
    for i in 0..CRATES {
        let name = format!("c{i:06}");
        let blob = if name == "c000123" { edited } else { filler };
        builder.upsert(format!("{}/{}/{name}", &name[..2], &name[2..4]), blob, FileMode::Blob);
    }
    let tree =
        repo.find_tree(builder.create_updated(&repo, &head.tree().unwrap()).unwrap()).unwrap();
    let sig = Signature::now("test", "test@example.invalid").unwrap();
    repo.commit(Some("refs/heads/master"), &sig, &sig, "Fill", &tree, &[&head]).unwrap();
}

fn loose_objects(git_dir: &Path) -> usize {
    std::fs::read_dir(git_dir.join("objects"))
        .unwrap()
        .flatten()
        .filter(|d| d.file_name().len() == 2)
        .map(|d| std::fs::read_dir(d.path()).unwrap().count())
        .sum()
}

#[test]
fn an_edit_on_a_huge_index_writes_only_its_path() {
    let upstream = UpstreamIndex::new();
    fill(&upstream);
    let config = upstream.repo_config("worker");
    let clone_dir = config.path.clone();
    let repo = IndexRepo::open_or_clone(config).unwrap();
    assert_eq!(repo.crate_paths().unwrap().len(), CRATES);
    assert!(
        !clone_dir.join("c0").exists() && !clone_dir.join("config.json").exists(),
        "no working tree"
    );

    let before = loose_objects(&clone_dir);
    let applied = repo.apply(&[Edit::Put(line("c000123", "2.0.0"))]).unwrap();
    assert!(matches!(applied, Applied::Pushed { .. }));
    let written = loose_objects(&clone_dir) - before;
    // One blob, three trees (root, c0/, c0/00/), one commit.
    assert_eq!(written, 5, "an edit writes the objects on its path and nothing else");
    let text = upstream.read_file("c0/00/c000123").unwrap();
    assert_eq!(text.lines().count(), 2);
}
