//! The `intervalsim sweep` command line (the binary only parses and delegates here).

use super::local;
use super::report;
use super::spec::Plan;
use super::store::Store;
use super::table;
use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `intervalsim sweep …`
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    cmd: Option<SweepCmd>,
    #[command(flatten)]
    run: RunArgs,
}

/// Where the points run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Executor {
    /// Worker threads on this machine.
    Local,
    /// A Slurm job array (`sbatch`, followed with `squeue`).
    Slurm,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Sweep specification (TOML).
    #[arg(required = true)]
    spec: Option<PathBuf>,
    /// Output directory (results, tables, pictures); rerunning into it skips finished points.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Where to run the points.
    #[arg(long, value_enum, default_value = "local")]
    executor: Executor,
    /// Points simulated at once (local; default: one per core).
    #[arg(short, long)]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// Slurm partition.
    #[arg(long)]
    partition: Option<String>,
    /// Slurm time limit per array task (e.g. 00:30:00).
    #[arg(long)]
    time: Option<String>,
    /// Slurm memory per array task (e.g. 2G).
    #[arg(long)]
    mem: Option<String>,
    /// Slurm CPUs per array task.
    #[arg(long)]
    cpus_per_task: Option<u32>,
    /// Extra `#SBATCH` line, e.g. `--sbatch=--account=arch` (repeatable).
    #[arg(long = "sbatch", allow_hyphen_values = true)]
    sbatch: Vec<String>,
    /// Points per array task (default: ~30 s of work per task, at least one task per
    /// free slot of the partition, at most --max-tasks tasks).
    #[arg(long)]
    points_per_task: Option<usize>,
    /// Largest job array to submit.
    #[arg(long, default_value_t = 1000)]
    max_tasks: usize,
    /// Resubmissions of points that failed or produced no result.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Seconds between `squeue` polls.
    #[arg(long, default_value_t = 1.0)]
    poll: f64,
    /// Print the Slurm job script and submit nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Subcommand, Debug)]
enum SweepCmd {
    /// Count finished, failed and pending points of a sweep directory.
    Status {
        /// Sweep output directory.
        dir: PathBuf,
    },
    /// Gather the table (CSV, JSON) and draw the pictures from what is finished so far.
    Report {
        /// Sweep output directory.
        dir: PathBuf,
        /// Point (id or unique id prefix) whose CPI stack to draw; repeatable (default: the
        /// first 12 finished points).
        #[arg(long)]
        cpi: Vec<String>,
    },
    /// Run the points of one Slurm array task (used by the generated job script).
    #[command(hide = true)]
    Worker {
        /// Sweep output directory.
        dir: PathBuf,
        /// File of point ids, one per line.
        #[arg(long)]
        ids: PathBuf,
        /// Array task index.
        #[arg(long)]
        task: usize,
        /// Points per task.
        #[arg(long)]
        per_task: usize,
    },
}

/// Run the `sweep` command.
pub fn main(a: SweepArgs) -> Result<()> {
    match a.cmd {
        Some(SweepCmd::Status { dir }) => status(&dir),
        Some(SweepCmd::Worker {
            dir,
            ids,
            task,
            per_task,
        }) => super::slurm::worker(&dir, &ids, task, per_task),
        Some(SweepCmd::Report { dir, cpi }) => {
            let store = Store::open(&dir)?;
            let plan = store.load_plan()?;
            let rows = table::gather(&store, &plan)?;
            let files = report::draw_all(&plan, &rows, &cpi, store.dir())?;
            println!(
                "{} of {} points finished; wrote {}, {}",
                rows.len(),
                plan.points.len(),
                dir.join("results.csv").display(),
                dir.join("results.json").display()
            );
            for f in files {
                println!("wrote {}", f.display());
            }
            Ok(())
        }
        None => {
            let r = a.run;
            let (Some(spec), Some(out)) = (r.spec, r.out) else {
                bail!("usage: intervalsim sweep SPEC --out DIR");
            };
            let plan = Plan::from_file(&spec)?;
            let store = Store::create(&out)?;
            store.save_plan(&plan)?;
            let outcome = match r.executor {
                Executor::Local => {
                    let jobs = r.jobs.unwrap_or_else(local::default_jobs);
                    if jobs == 0 {
                        bail!("--jobs 0: need at least one");
                    }
                    local::run(&store, &plan, jobs, r.quiet)?
                }
                Executor::Slurm => {
                    let o = super::slurm::SlurmOptions {
                        partition: r.partition,
                        time: r.time,
                        mem: r.mem,
                        cpus_per_task: r.cpus_per_task,
                        extra: r.sbatch,
                        points_per_task: r.points_per_task,
                        max_tasks: r.max_tasks,
                        retries: r.retries,
                        poll: r.poll,
                        dry_run: r.dry_run,
                        binary: None,
                    };
                    let outcome = super::slurm::run(&store, &plan, &o, r.quiet)?;
                    if r.dry_run {
                        return Ok(());
                    }
                    outcome
                }
            };
            let rows = table::gather(&store, &plan)?;
            report::draw_all(&plan, &rows, &[], store.dir())?;
            eprintln!(
                "{} points: {} already finished, {} run now, {} failed; table in {}",
                outcome.total,
                outcome.skipped,
                outcome.ran,
                outcome.failed.len(),
                out.join("results.csv").display()
            );
            if !outcome.failed.is_empty() {
                for (id, label, err) in &outcome.failed {
                    eprintln!("  failed {id} ({label}): {err}");
                }
                bail!(
                    "{} of {} points failed (the others are saved; rerun to retry the failed ones)",
                    outcome.failed.len(),
                    outcome.total
                );
            }
            Ok(())
        }
    }
}

fn status(dir: &std::path::Path) -> Result<()> {
    let store = Store::open(dir)?;
    let plan = store.load_plan()?;
    let scan = store.scan()?;
    let done = plan
        .points
        .iter()
        .filter(|p| scan.done.contains(&p.id))
        .count();
    let failed: Vec<_> = plan
        .points
        .iter()
        .filter(|p| scan.failed.contains_key(&p.id))
        .collect();
    let pending = plan.points.len() - done - failed.len();
    println!(
        "sweep {}: {} points, {done} finished, {} failed, {pending} pending",
        plan.name,
        plan.points.len(),
        failed.len()
    );
    for p in failed {
        let err = scan.failed.get(&p.id).map(String::as_str).unwrap_or("");
        println!(
            "  failed {} ({}): {}",
            p.id,
            plan.point_label(p),
            err.lines().next().unwrap_or("")
        );
    }
    Ok(())
}
