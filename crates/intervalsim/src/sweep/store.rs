//! The output directory: the plan, one result file per point, and the gathered tables.
//!
//! ```text
//! DIR/plan.json              the expanded sweep (rewritten when the spec changes)
//! DIR/points/<id>.json       a finished point: its parameters and full statistics
//! DIR/points/<id>.failed     a point that failed: the error text (removed when it succeeds)
//! DIR/results.csv, .json     the table of finished points
//! DIR/*.svg                  the report's pictures
//! DIR/slurm/                 job scripts and task logs of the Slurm executor
//! ```
//!
//! Every file is written to a temporary name in the same directory and renamed into place,
//! so a crash or a killed job never leaves a half-written result that a rerun would trust.

use super::id::is_id;
use super::spec::Plan;
use crate::stats::{RunStats, write_atomic};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A finished point as stored in `points/<id>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    /// Point id.
    pub id: String,
    /// Workload label.
    pub workload: String,
    /// Swept parameter values as text.
    pub params: BTreeMap<String, String>,
    /// Host seconds for the whole point (warm-up, measurement, writing).
    pub wall_seconds: f64,
    /// The simulator's statistics.
    pub stats: RunStats,
}

/// Where a sweep keeps its files.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Open (creating) the directory `dir`.
    pub fn create(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir.join("points"))
            .with_context(|| format!("creating {}", dir.join("points").display()))?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// Open an existing sweep directory (it must hold a plan).
    pub fn open(dir: &Path) -> Result<Store> {
        let s = Store {
            dir: dir.to_path_buf(),
        };
        if !s.plan_path().exists() {
            anyhow::bail!(
                "{}: not a sweep directory (no plan.json; run `intervalsim sweep SPEC --out {}` first)",
                dir.display(),
                dir.display()
            );
        }
        Ok(s)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn plan_path(&self) -> PathBuf {
        self.dir.join("plan.json")
    }

    /// Path of a point's result file.
    pub fn result_path(&self, id: &str) -> PathBuf {
        self.dir.join("points").join(format!("{id}.json"))
    }

    fn failed_path(&self, id: &str) -> PathBuf {
        self.dir.join("points").join(format!("{id}.failed"))
    }

    /// Save the plan.
    pub fn save_plan(&self, plan: &Plan) -> Result<()> {
        write_atomic(&self.plan_path(), serde_json::to_string(plan)?.as_bytes())
    }

    /// Load the plan.
    pub fn load_plan(&self) -> Result<Plan> {
        let p = self.plan_path();
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a sweep plan", p.display()))
    }

    /// Record a finished point (and forget an earlier failure).
    pub fn save_result(&self, r: &PointResult) -> Result<()> {
        write_atomic(
            &self.result_path(&r.id),
            serde_json::to_string_pretty(r)?.as_bytes(),
        )?;
        let _ = std::fs::remove_file(self.failed_path(&r.id));
        Ok(())
    }

    /// Record a failed point.
    pub fn save_failure(&self, id: &str, error: &str) -> Result<()> {
        write_atomic(&self.failed_path(id), error.as_bytes())
    }

    /// Read a finished point's result; `None` when it is absent or unreadable (then it reruns).
    pub fn load_result(&self, id: &str) -> Option<PointResult> {
        let text = std::fs::read_to_string(self.result_path(id)).ok()?;
        serde_json::from_str::<PointResult>(&text)
            .ok()
            .filter(|r| r.id == id)
    }

    /// Ids with a result file and failures with their messages, from one directory listing.
    pub fn scan(&self) -> Result<Scan> {
        let mut done = HashSet::new();
        let mut failed = HashMap::new();
        let points = self.dir.join("points");
        let rd =
            std::fs::read_dir(&points).with_context(|| format!("listing {}", points.display()))?;
        for e in rd {
            let e = e?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_suffix(".json") {
                if is_id(id) {
                    done.insert(id.to_string());
                }
            } else if let Some(id) = name.strip_suffix(".failed")
                && is_id(id)
            {
                let msg = std::fs::read_to_string(e.path()).unwrap_or_default();
                failed.insert(id.to_string(), msg);
            }
        }
        failed.retain(|id, _| !done.contains(id));
        Ok(Scan { done, failed })
    }
}

/// What a directory listing says about the points.
#[derive(Clone, Debug, Default)]
pub struct Scan {
    /// Ids with a result file.
    pub done: HashSet<String>,
    /// Failed ids (without a result) and their errors.
    pub failed: HashMap<String, String>,
}

impl Scan {
    /// Points of `plan` that still need running (no result yet), in plan order.
    pub fn pending<'p>(&self, plan: &'p Plan) -> Vec<&'p super::spec::Point> {
        plan.points
            .iter()
            .filter(|p| !self.done.contains(&p.id))
            .collect()
    }
}
