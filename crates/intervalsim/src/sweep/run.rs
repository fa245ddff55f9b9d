//! Running one point in-process.

use super::spec::{Plan, Point, Source};
use super::store::PointResult;
use crate::frontend::{self, InstrStream};
use crate::sim::{self, Limits};
use anyhow::{Result, anyhow};
use std::time::Instant;

/// Simulate `point` of `plan` and return its result (not yet saved).
pub fn run_point(plan: &Plan, point: &Point) -> Result<PointResult> {
    let t0 = Instant::now();
    let cfg = plan.config(&point.params)?;
    let w = &plan.workloads[point.workload];
    let mut stream: Box<dyn InstrStream> = match &w.source {
        Source::Builtin { workload, seed } => Box::new(workload.stream(*seed)),
        Source::Trace { path } => frontend::open_trace(path)?,
    };
    let limits = Limits {
        warmup: plan.warmup,
        instructions: plan.instructions,
    };
    let stats = sim::run(&cfg, stream.as_mut(), &w.label, limits, |_| {})
        .map_err(|e| anyhow!("{}: {e}", w.label))?;
    Ok(PointResult {
        id: point.id.clone(),
        workload: w.label.clone(),
        params: plan.param_texts(point),
        wall_seconds: t0.elapsed().as_secs_f64(),
        stats,
    })
}

/// Run a point, turning a panic inside the simulator into an error so that one bad point
/// never takes the others down with it.
pub fn run_point_guarded(plan: &Plan, point: &Point) -> Result<PointResult> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_point(plan, point))) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(anyhow!("simulator panicked: {msg}"))
        }
    }
}
