//! The local executor: pending points on worker threads of this process.

use super::run::run_point_guarded;
use super::spec::{Plan, Point};
use super::store::Store;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Points in the plan.
    pub total: usize,
    /// Points already finished before this run (skipped).
    pub skipped: usize,
    /// Points this run finished.
    pub ran: usize,
    /// Points that failed: (id, label, error).
    pub failed: Vec<(String, String, String)>,
}

/// Worker threads to use when none are asked for: one per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Run `points` of `plan` on `jobs` threads, saving each result as it finishes.
pub fn run_points(
    store: &Store,
    plan: &Plan,
    points: &[&Point],
    jobs: usize,
    bar: &ProgressBar,
) -> Vec<(String, String, String)> {
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    let jobs = jobs.clamp(1, points.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = points.get(i) else { break };
                    let res =
                        run_point_guarded(plan, p).and_then(|r| store.save_result(&r).map(|_| r));
                    if let Err(e) = res {
                        let msg = format!("{e:#}");
                        let _ = store.save_failure(&p.id, &msg);
                        bar.println(format!("point {} failed: {msg}", p.id));
                        if let Ok(mut f) = failed.lock() {
                            f.push((p.id.clone(), plan.point_label(p), msg));
                        }
                    }
                    bar.inc(1);
                }
            });
        }
    });
    let mut f = failed.into_inner().unwrap_or_default();
    f.sort();
    f
}

/// A progress bar over `n` points with an ETA (hidden when `quiet`).
pub fn progress_bar(n: usize, quiet: bool) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(n as u64)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} points  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Run every point of `plan` that has no result in `store` yet.
pub fn run(store: &Store, plan: &Plan, jobs: usize, quiet: bool) -> Result<Outcome> {
    let scan = store.scan()?;
    let pending = scan.pending(plan);
    let bar = progress_bar(pending.len(), quiet);
    let failed = run_points(store, plan, &pending, jobs, &bar);
    bar.finish_and_clear();
    Ok(Outcome {
        total: plan.points.len(),
        skipped: plan.points.len() - pending.len(),
        ran: pending.len() - failed.len(),
        failed,
    })
}
