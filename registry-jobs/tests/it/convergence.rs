//! Convergence: random publishes, yanks and unyanks; their jobs run in shuffled order, some
//! twice, with pushes refused at random and retried. In the end every crate's index file is
//! what the database says, on both backends.

use queue_core::{Job as _, JobInfo};
use registry_jobs::{reconcile, IndexContext, PublishJob, SparseIndexJob, UnyankJob, YankJob};

use crate::fixtures::{request, Backend, Registry};

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Runs a queued job's body directly, out of the queue's order.
fn run_job(job: &JobInfo, ctx: &IndexContext) -> anyhow::Result<()> {
    match job.job_type.as_str() {
        PublishJob::JOB_NAME => serde_json::from_value::<PublishJob>(job.data.clone())?.run(ctx),
        YankJob::JOB_NAME => serde_json::from_value::<YankJob>(job.data.clone())?.run(ctx),
        UnyankJob::JOB_NAME => serde_json::from_value::<UnyankJob>(job.data.clone())?.run(ctx),
        SparseIndexJob::JOB_NAME => {
            serde_json::from_value::<SparseIndexJob>(job.data.clone())?.run(ctx)
        }
        other => anyhow::bail!("unexpected job type {other}"),
    }
}

fn converge(backend: Backend, seed: u64) {
    let registry = Registry::new(backend);
    let mut rng = Rng(seed);
    let crates = ["conv-a", "conv_b", "Conv-C"];
    let mut versions: Vec<(usize, String)> = Vec::new();
    let mut refused_runs = 0;
    for round in 0..4 {
        for step in 0..10 {
            let roll = rng.below(3);
            if roll == 0 || versions.is_empty() {
                let krate = rng.below(crates.len());
                let vers = format!("{round}.{step}.{}", versions.len());
                registry.database.publish(&request(crates[krate], &vers)).unwrap();
                versions.push((krate, vers));
            } else {
                let (krate, vers) = versions[rng.below(versions.len())].clone();
                let name = crates[krate].to_ascii_lowercase();
                if roll == 1 {
                    registry.database.set_yanked(&name, &vers, true).unwrap();
                } else {
                    registry.database.set_yanked(&name, &vers, false).unwrap();
                }
            }
        }
        // Some of the queued jobs run now, shuffled, some twice, some pushes refused.
        let mut jobs = registry.storage.pending_jobs(10_000).unwrap();
        rng.shuffle(&mut jobs);
        jobs.truncate(jobs.len() / 2 + 1);
        for job in &jobs {
            for _ in 0..1 + usize::from(rng.below(3) == 0) {
                // Only the git jobs push.
                let refuse = rng.below(3) == 0 && job.job_type != SparseIndexJob::JOB_NAME;
                registry.upstream.refuse_pushes(refuse);
                let commits = registry.upstream.commit_count();
                let result = run_job(job, &registry.ctx);
                if refuse {
                    // Either the file was right already (no push at all) or the push failed:
                    // never a success that changed nothing on the remote.
                    assert_eq!(registry.upstream.commit_count(), commits, "a refused push landed");
                    if result.is_err() {
                        refused_runs += 1;
                    }
                } else {
                    result.unwrap();
                }
            }
        }
        registry.upstream.refuse_pushes(false);
    }
    assert!(refused_runs > 0, "the seed exercised refused pushes");

    // Every job that is still queued runs in a shuffled order; failures are retried.
    let mut jobs = registry.storage.pending_jobs(10_000).unwrap();
    rng.shuffle(&mut jobs);
    let mut attempts = 0;
    while let Some(job) = jobs.pop() {
        attempts += 1;
        assert!(attempts < 10_000, "jobs never converged");
        let refuse = rng.below(5) == 0;
        registry.upstream.refuse_pushes(refuse);
        if run_job(&job, &registry.ctx).is_err() {
            let at = rng.below(jobs.len() + 1);
            jobs.insert(at, job);
        }
    }
    registry.upstream.refuse_pushes(false);

    let report = reconcile(&registry.ctx, false).unwrap();
    assert_eq!(report.differences, vec![], "the index equals the database");
    for name in ["conv-a", "conv_b", "conv-c"] {
        let path = index_git::CrateName::new(name).unwrap().index_path();
        if let Some(text) = registry.index_file(&path) {
            crates_index::Crate::from_slice(text.as_bytes()).unwrap();
        }
    }
    // The worker then drains the queue; the index is already right, so nothing is pushed.
    let commits = registry.upstream.commit_count();
    let drained = registry.drain();
    assert_eq!(drained.failed, 0);
    assert_eq!(registry.upstream.commit_count(), commits, "running the jobs again changes nothing");
}

#[test]
fn pg_any_order_converges() {
    converge(Backend::Postgres, 0x5eed_0001);
}

#[test]
fn sqlite_any_order_converges() {
    converge(Backend::Sqlite, 0x5eed_0002);
}
