//! The Slurm executor: an `sbatch` job array whose tasks run `intervalsim sweep worker`.
//!
//! The commands `sbatch`, `squeue` and `scancel` are the interface (no FFI, no accounting
//! database): the job is submitted with `sbatch --parsable`, followed by polling `squeue`
//! until none of its tasks is left, and the result directory — which must be on a file
//! system the compute nodes share — says which points finished. Points without a result are
//! submitted again, up to a retry limit.

use super::local::{Outcome, progress_bar};
use super::spec::Plan;
use super::store::Store;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Options of the Slurm executor.
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (e.g. `00:10:00`).
    pub time: Option<String>,
    /// `--mem` (e.g. `2G`).
    pub mem: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// Extra `#SBATCH` lines, passed through verbatim (without the `#SBATCH` prefix).
    pub extra: Vec<String>,
    /// Points per array task (default: enough that the array has at most `max_tasks` tasks).
    pub points_per_task: Option<usize>,
    /// Largest array to submit.
    pub max_tasks: usize,
    /// Submissions of failed points after the first.
    pub retries: u32,
    /// Seconds between `squeue` polls.
    pub poll: f64,
    /// Print the script, submit nothing.
    pub dry_run: bool,
    /// The binary the tasks run (default: this executable).
    pub binary: Option<PathBuf>,
}

/// Write the job-array script for running `ids_file`'s points, `per_task` per task.
pub fn script(
    store: &Store,
    plan: &Plan,
    o: &SlurmOptions,
    ids_file: &Path,
    tasks: usize,
    per_task: usize,
    binary: &Path,
) -> String {
    let dir = store.dir();
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!("#SBATCH --job-name=sweep-{}\n", plan.name));
    s.push_str(&format!("#SBATCH --array=0-{}\n", tasks.saturating_sub(1)));
    s.push_str(&format!(
        "#SBATCH --output={}/slurm/%A_%a.out\n",
        dir.display()
    ));
    s.push_str("#SBATCH --ntasks=1\n");
    if let Some(p) = &o.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if let Some(t) = &o.time {
        s.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(m) = &o.mem {
        s.push_str(&format!("#SBATCH --mem={m}\n"));
    }
    if let Some(c) = o.cpus_per_task {
        s.push_str(&format!("#SBATCH --cpus-per-task={c}\n"));
    }
    for e in &o.extra {
        s.push_str(&format!("#SBATCH {}\n", e.trim()));
    }
    s.push_str(&format!(
        "exec {} sweep worker {} --ids {} --per-task {per_task} --task \"$SLURM_ARRAY_TASK_ID\"\n",
        shell_quote(&binary.display().to_string()),
        shell_quote(&dir.display().to_string()),
        shell_quote(&ids_file.display().to_string()),
    ));
    s
}

fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn slurm_cmd(name: &str) -> Command {
    Command::new(name)
}

fn run_cmd(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().map_err(|e| {
        anyhow::anyhow!(
            "cannot run `{what}`: {e} — is Slurm installed (Debian package slurm-client) and on PATH?"
        )
    })?;
    if !out.status.success() {
        bail!(
            "`{what}` failed ({}): {} — is the Slurm controller reachable?",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Shortest array task worth its scheduling cost. A Slurm task pays for its place in the
/// queue, a process start and the plan load (together about a second on an idle cluster,
/// more on a busy one); below ~30 s of work that overhead shows in the sweep's wall time.
const MIN_TASK_SECONDS: f64 = 30.0;

/// Simulated instructions per second assumed when sizing batches: a conservative figure for
/// the detailed model, so that batches err on the short side.
const ASSUMED_INSTRUCTIONS_PER_SECOND: f64 = 2.0e6;

/// Instructions assumed for a point that runs a whole trace (no limit in the spec).
const ASSUMED_WHOLE_TRACE_INSTRUCTIONS: f64 = 100.0e6;

/// Estimated wall time of one point of `plan`, in seconds.
fn point_seconds(plan: &Plan) -> f64 {
    let measured = if plan.instructions == 0 {
        ASSUMED_WHOLE_TRACE_INSTRUCTIONS
    } else {
        plan.instructions as f64
    };
    (plan.warmup as f64 + measured) / ASSUMED_INSTRUCTIONS_PER_SECOND
}

/// Array tasks the cluster can run at once: the CPUs of the partition (`sinfo`) divided by
/// the CPUs each task asks for. `None` when `sinfo` cannot say.
fn cluster_slots(o: &SlurmOptions) -> Option<usize> {
    let mut cmd = slurm_cmd("sinfo");
    cmd.args(["-h", "-o", "%C"]);
    if let Some(p) = &o.partition {
        cmd.args(["-p", p]);
    }
    let out = cmd.output().ok().filter(|o| o.status.success())?;
    // One "allocated/idle/other/total" line per partition; sum the totals.
    let total: usize = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().rsplit('/').next()?.parse::<usize>().ok())
        .sum();
    let per_task = o.cpus_per_task.unwrap_or(1).max(1) as usize;
    (total >= per_task).then(|| total / per_task)
}

/// Points per array task when the user names none.
///
/// Short points are batched until a task holds about [`MIN_TASK_SECONDS`] of work, but never
/// so far that the array has fewer tasks than the cluster has `slots` (that would leave CPUs
/// idle); and the array never exceeds `max_tasks` tasks. Without a slot count only the
/// length rule and `max_tasks` apply, capped so that at least a few tasks remain.
pub fn auto_points_per_task(
    pending: usize,
    point_seconds: f64,
    slots: Option<usize>,
    max_tasks: usize,
) -> usize {
    let pending = pending.max(1);
    let floor = pending.div_ceil(max_tasks.max(1));
    let for_length = if point_seconds > 0.0 {
        (MIN_TASK_SECONDS / point_seconds)
            .ceil()
            .min(pending as f64) as usize
    } else {
        pending
    };
    let spread_cap = pending.div_ceil(slots.unwrap_or(4).max(1));
    for_length.min(spread_cap).max(floor).max(1)
}

/// Whether any task of `job` is still queued or running.
fn job_alive(job: &str) -> Result<bool> {
    let out = slurm_cmd("squeue")
        .args(["-h", "-j", job, "-o", "%i %T"])
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run `squeue`: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // A job that has left the controller's memory is finished.
        if err.contains("Invalid job id") {
            return Ok(false);
        }
        bail!("`squeue -j {job}` failed: {}", err.trim());
    }
    Ok(!String::from_utf8_lossy(&out.stdout).trim().is_empty())
}

/// Run every unfinished point of `plan` as a Slurm job array, resubmitting failures.
pub fn run(store: &Store, plan: &Plan, o: &SlurmOptions, quiet: bool) -> Result<Outcome> {
    let slurm_dir = store.dir().join("slurm");
    std::fs::create_dir_all(&slurm_dir)
        .with_context(|| format!("creating {}", slurm_dir.display()))?;
    let dir_abs = std::fs::canonicalize(store.dir())?;
    let store = Store::create(&dir_abs)?;
    let binary = match &o.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("locating the intervalsim binary")?,
    };
    let scan = store.scan()?;
    let first_pending = scan.pending(plan).len();
    let skipped = plan.points.len() - first_pending;
    if !o.dry_run {
        run_cmd(slurm_cmd("sbatch").arg("--version"), "sbatch --version")?;
    }
    let mut attempt = 0;
    loop {
        let scan = store.scan()?;
        let pending: Vec<String> = scan.pending(plan).iter().map(|p| p.id.clone()).collect();
        if pending.is_empty() {
            break;
        }
        if attempt > o.retries {
            break;
        }
        let per_task = match o.points_per_task {
            Some(n) => n.max(1),
            None => {
                let slots = cluster_slots(o);
                auto_points_per_task(pending.len(), point_seconds(plan), slots, o.max_tasks)
            }
        };
        let tasks = pending.len().div_ceil(per_task);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let ids_file = slurm_dir.join(format!("submit-{stamp}-{attempt}.ids"));
        crate::stats::write_atomic(&ids_file, (pending.join("\n") + "\n").as_bytes())?;
        let text = script(&store, plan, o, &ids_file, tasks, per_task, &binary);
        let script_path = slurm_dir.join(format!("submit-{stamp}-{attempt}.sbatch"));
        crate::stats::write_atomic(&script_path, text.as_bytes())?;
        if o.dry_run {
            print!("{text}");
            return Ok(Outcome {
                total: plan.points.len(),
                skipped,
                ran: 0,
                failed: Vec::new(),
            });
        }
        let out = run_cmd(
            slurm_cmd("sbatch").arg("--parsable").arg(&script_path),
            "sbatch",
        )?;
        let job = out.trim().split(';').next().unwrap_or("").to_string();
        if job.is_empty() || !job.bytes().all(|b| b.is_ascii_digit()) {
            bail!("sbatch printed '{}' instead of a job id", out.trim());
        }
        crate::stats::write_atomic(&slurm_dir.join("job"), job.as_bytes())?;
        let bar = progress_bar(pending.len(), quiet);
        bar.set_message(format!("job {job}, {tasks} tasks"));
        let want: std::collections::HashSet<&String> = pending.iter().collect();
        loop {
            let alive = job_alive(&job)?;
            let now = store.scan()?;
            bar.set_position(now.done.iter().filter(|id| want.contains(id)).count() as u64);
            if !alive {
                break;
            }
            std::thread::sleep(Duration::from_secs_f64(o.poll.max(0.05)));
        }
        bar.finish_and_clear();
        attempt += 1;
    }
    let scan = store.scan()?;
    let failed: Vec<(String, String, String)> = scan
        .pending(plan)
        .iter()
        .map(|p| {
            let err = scan.failed.get(&p.id).cloned().unwrap_or_else(|| {
                format!(
                    "no result after {attempt} submissions; see the task logs in {}",
                    slurm_dir.display()
                )
            });
            (p.id.clone(), plan.point_label(p), err)
        })
        .collect();
    Ok(Outcome {
        total: plan.points.len(),
        skipped,
        ran: first_pending - failed.len(),
        failed,
    })
}

/// The array task body: run the points `task*per_task ..` of `ids_file`.
pub fn worker(dir: &Path, ids_file: &Path, task: usize, per_task: usize) -> Result<()> {
    let store = Store::open(dir)?;
    let plan = store.load_plan()?;
    let text = std::fs::read_to_string(ids_file)
        .with_context(|| format!("reading {}", ids_file.display()))?;
    let ids: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let mut mine = Vec::new();
    for id in ids.iter().skip(task * per_task).take(per_task) {
        let Some(p) = plan.point(id) else {
            bail!("{}: point {id} is not in the plan", ids_file.display());
        };
        if store.load_result(id).is_none() {
            mine.push(p);
        }
    }
    // A task given several CPUs runs its points on that many threads.
    let threads = std::env::var("SLURM_CPUS_PER_TASK")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let bar = indicatif::ProgressBar::hidden();
    let failed = super::local::run_points(&store, &plan, &mine, threads, &bar);
    for (id, _, msg) in &failed {
        eprintln!("point {id} failed: {msg}");
    }
    eprintln!(
        "task {task}: {} point(s) done, {} failed",
        mine.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        bail!("{} point(s) of task {task} failed", failed.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::auto_points_per_task;

    #[test]
    fn short_points_are_batched_but_every_slot_gets_a_task() {
        // 64 points of 0.1 s on 2 CPUs: two tasks of 32.
        assert_eq!(auto_points_per_task(64, 0.1, Some(2), 1000), 32);
        // The same on a 400-CPU partition: one point per task would waste the queue, a
        // task per CPU is the most that helps.
        assert_eq!(auto_points_per_task(64, 0.1, Some(400), 1000), 1);
        // 10 000 points of 1 s on 100 CPUs: 30 s tasks.
        assert_eq!(auto_points_per_task(10_000, 1.0, Some(100), 1000), 30);
    }

    #[test]
    fn long_points_run_one_per_task_and_max_tasks_bounds_the_array() {
        assert_eq!(auto_points_per_task(64, 600.0, Some(16), 1000), 1);
        assert_eq!(auto_points_per_task(5_000, 600.0, Some(16), 1000), 5);
        // Unknown cluster size: batches by length, keeps at least four tasks.
        assert_eq!(auto_points_per_task(64, 0.1, None, 1000), 16);
        assert_eq!(auto_points_per_task(0, 1.0, None, 1000), 1);
    }
}
