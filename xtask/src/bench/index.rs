//! The index edit's cost by index size, on an index shaped like crates.io's: every file its
//! own content, names spread over the prefix directories the way English-like names are
//! (so directories grow with the index), edits at random crates.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Result;
use index_git::{Edit, IndexLine, IndexRepo};
use serde::Serialize;

use super::{figure, Figure};

/// One index size's figures.
#[derive(Debug, Serialize)]
pub(crate) struct IndexRow {
    pub(crate) crates: usize,
    /// Files in the directory of the median edit, on average over the edits.
    pub(crate) files_in_edited_dir: f64,
    pub(crate) ms_per_edit: Figure,
    pub(crate) fetch_ms: Figure,
    pub(crate) tree_ms: Figure,
    pub(crate) commit_ms: Figure,
    pub(crate) push_ms: Figure,
    /// Fetch, tree and commit of each edit together: the part of an edit the worker's own
    /// clone does, without the push (whose time is mostly the remote's `receive-pack`
    /// checking the new commit's connectivity against every object its branch reaches).
    pub(crate) own_ms: Figure,
}

#[derive(Debug, Serialize)]
pub(crate) struct IndexResult {
    pub(crate) rows: Vec<IndexRow>,
    /// ms per edit at the largest index / at the smallest. Goal: ≤ 1.5.
    pub(crate) ratio: f64,
    /// The same ratio of [`IndexRow::own_ms`], the edit without its push.
    pub(crate) own_ratio: f64,
}

/// A deterministic generator, so every run builds the same index.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Letters weighted by how often English words use them, so that prefixes cluster as real
/// crate names do.
const LETTERS: &str = "eeeeeeeeeeeeaaaaaaaaarrrrrrrriiiiiiiiooooooootttttttnnnnnnnsssssslllllcccccuuuuddddppppmmmhhhggbbffyywkvxzjq";

fn crate_name(rng: &mut Rng) -> String {
    let letters = LETTERS.as_bytes();
    let len = 3 + rng.below(14);
    let mut name = String::with_capacity(len);
    for i in 0..len {
        if i > 2 && rng.below(10) == 0 {
            name.push(if rng.below(2) == 0 { '-' } else { '_' });
        } else {
            name.push(letters[rng.below(letters.len())] as char);
        }
    }
    name.trim_end_matches(['-', '_']).to_owned()
}

fn index_path(name: &str) -> String {
    index_git::CrateName::new(name).map(|n| n.index_path()).unwrap_or_default()
}

#[test]
fn generated_names_are_valid_and_spread() {
    let mut rng = Rng(7);
    let names: Vec<String> = (0..1000).map(|_| crate_name(&mut rng)).collect();
    let valid = names.iter().filter(|n| index_git::CrateName::new(n).is_ok()).count();
    assert!(valid > 900, "{valid} of 1000 valid");
    let dirs: BTreeSet<String> = names
        .iter()
        .map(|n| index_path(n).rsplit_once('/').unwrap_or_default().0.to_owned())
        .collect();
    assert!(dirs.len() > 100, "{} directories", dirs.len());
}

fn line(name: &str, vers: &str, rng: &mut Rng) -> IndexLine {
    IndexLine::new(
        name,
        vers,
        format!("{:016x}{:016x}{:016x}{:016x}", rng.next(), rng.next(), rng.next(), rng.next()),
    )
}

/// Builds an index of `size` crates (one to four versions each) in a new upstream, and
/// measures `edits` publishes at random crates.
fn measure(size: usize, edits: usize) -> Result<IndexRow> {
    let mut rng = Rng(0x5eed_0000 + size as u64);
    let upstream = index_git::testing::UpstreamIndex::new();
    // Names as crates.io would accept them, each with its own index path.
    let (mut names, mut paths) = (Vec::new(), BTreeSet::new());
    while names.len() < size {
        let name = crate_name(&mut rng);
        if let Ok(valid) = index_git::CrateName::new(&name) {
            if paths.insert(valid.index_path()) {
                names.push(name);
            }
        }
    }
    {
        let repo = git2::Repository::open_bare(upstream.path())?;
        let head = repo.find_reference("refs/heads/master")?.peel_to_commit()?;
        let mut builder = git2::build::TreeUpdateBuilder::new();
        for name in &names {
            let mut text = String::new();
            for v in 0..1 + rng.below(4) {
                text.push_str(&line(name, &format!("0.{v}.0"), &mut rng).to_json());
                text.push('\n');
            }
            let blob = repo.blob(text.as_bytes())?;
            builder.upsert(index_path(name), blob, git2::FileMode::Blob);
        }
        let tree = repo.find_tree(builder.create_updated(&repo, &head.tree()?)?)?;
        let sig = git2::Signature::now("bench", "bench@example.invalid")?;
        repo.commit(Some("refs/heads/master"), &sig, &sig, "Fill", &tree, &[&head])?;
    }
    // A real index remote keeps its objects packed. Left loose, the fill's objects would
    // make every push start git's automatic maintenance on the remote.
    let packed = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(upstream.path())
        .args(["repack", "-adq"])
        .status()?;
    anyhow::ensure!(packed.success(), "git repack of the index fixture failed");
    let repo = IndexRepo::open_or_clone(upstream.repo_config("worker"))?;
    let dir_sizes = {
        let mut sizes = std::collections::BTreeMap::<String, usize>::new();
        for name in &names {
            let path = index_path(name);
            let dir = path.rsplit_once('/').map(|(d, _)| d.to_owned()).unwrap_or_default();
            *sizes.entry(dir).or_default() += 1;
        }
        sizes
    };
    let (mut total, mut fetch, mut tree, mut commit, mut push, mut own) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut dir_files = 0usize;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for rep in 0..edits {
        let name = &names[rng.below(names.len())];
        let path = index_path(name);
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or_default();
        dir_files += dir_sizes.get(dir).copied().unwrap_or(0);
        let edit = Edit::Put(line(name, &format!("9.{rep}.0"), &mut rng));
        let started = Instant::now();
        repo.apply(&[edit])?;
        total.push(ms(started.elapsed()));
        let t = repo.last_timings();
        fetch.push(ms(t.fetch));
        tree.push(ms(t.tree));
        commit.push(ms(t.commit));
        push.push(ms(t.push));
        own.push(ms(t.fetch + t.tree + t.commit));
    }
    Ok(IndexRow {
        crates: size,
        files_in_edited_dir: dir_files as f64 / edits.max(1) as f64,
        ms_per_edit: figure(total),
        fetch_ms: figure(fetch),
        tree_ms: figure(tree),
        commit_ms: figure(commit),
        push_ms: figure(push),
        own_ms: figure(own),
    })
}

pub(crate) fn index_edit_vs_size(sizes: &[usize], edits: usize) -> Result<IndexResult> {
    let mut rows = Vec::new();
    for &size in sizes {
        let row = measure(size, edits)?;
        eprintln!(
            "index_edit_vs_size {size} crates: {:.1} ms per publish edit (fetch {:.1}, tree {:.1}, commit {:.1}, push {:.1}; {:.0} files in the edited directory)",
            row.ms_per_edit.median,
            row.fetch_ms.median,
            row.tree_ms.median,
            row.commit_ms.median,
            row.push_ms.median,
            row.files_in_edited_dir
        );
        rows.push(row);
    }
    let ratio_of = |f: fn(&IndexRow) -> &Figure| match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => f(last).median / f(first).median,
        _ => f64::NAN,
    };
    let ratio = ratio_of(|r| &r.ms_per_edit);
    let own_ratio = ratio_of(|r| &r.own_ms);
    Ok(IndexResult { rows, ratio, own_ratio })
}
