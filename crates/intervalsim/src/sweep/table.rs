//! Gathering finished points into one table (CSV and JSON).

use super::spec::Plan;
use super::store::{PointResult, Store};
use crate::stats::{ALL, Component, RunStats};
use anyhow::Result;
use serde_json::{Map, Value, json};

/// Whether `m` names a CPI-stack component column (`cpi.base`, `cpi.dcache-dram`, …).
pub fn is_cpi_metric(m: &str) -> bool {
    m.strip_prefix("cpi.")
        .is_some_and(|c| ALL.iter().any(|k| k.name() == c))
}

fn mpki(n: u64, instructions: u64) -> f64 {
    if instructions == 0 {
        0.0
    } else {
        n as f64 * 1000.0 / instructions as f64
    }
}

/// The value of metric `m` (a name from [`super::spec::METRICS`] or `cpi.<component>`).
pub fn metric(r: &PointResult, m: &str) -> Option<f64> {
    let s: &RunStats = &r.stats;
    let c = &s.core;
    let n = c.instructions;
    if let Some(comp) = m.strip_prefix("cpi.") {
        let k: &Component = ALL.iter().find(|k| k.name() == comp)?;
        return Some(c.cpi.cycles(*k) / n.max(1) as f64);
    }
    Some(match m {
        "ipc" => c.ipc(),
        "cpi" => c.cpi(),
        "cycles" => c.cycles as f64,
        "instructions" => n as f64,
        "branch_mpki" => mpki(c.branch.mispredicts, n),
        "l1i_mpki" => mpki(c.l1i.misses(), n),
        "l1d_mpki" => mpki(c.l1d.misses(), n),
        "l2_mpki" => mpki(c.l2.misses(), n),
        "l3_mpki" => mpki(s.uncore.l3.misses(), n),
        "dtlb_mpki" => mpki(c.tlb.dtlb_misses, n),
        "dram_gbps" => s.dram_gbps(),
        "mips" => s.mips(),
        "wall_seconds" => r.wall_seconds,
        _ => return None,
    })
}

/// Metric columns of the table, in order (host timings last).
pub fn columns() -> Vec<String> {
    const LEAD: [&str; 4] = ["instructions", "cycles", "ipc", "cpi"];
    let mut cols: Vec<String> = LEAD.iter().map(|s| s.to_string()).collect();
    cols.extend(ALL.iter().map(|k| format!("cpi.{}", k.name())));
    // The other metrics, in the order the spec lists them (host timings are last there).
    cols.extend(
        super::spec::METRICS
            .iter()
            .filter(|m| !LEAD.contains(m))
            .map(|s| s.to_string()),
    );
    cols
}

/// Finished points of `plan` in plan order.
pub fn finished(store: &Store, plan: &Plan) -> Result<Vec<PointResult>> {
    let scan = store.scan()?;
    Ok(plan
        .points
        .iter()
        .filter(|p| scan.done.contains(&p.id))
        .filter_map(|p| store.load_result(&p.id))
        .collect())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.6}")
    }
}

/// Render the table as CSV (header + one row per finished point).
pub fn to_csv(plan: &Plan, rows: &[PointResult]) -> String {
    let cols = columns();
    let mut head = vec!["id".to_string(), "workload".to_string()];
    head.extend(plan.parameters.iter().map(|p| p.key.clone()));
    head.push("model".into());
    head.extend(cols.iter().cloned());
    let mut out = head
        .iter()
        .map(|h| csv_field(h))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for r in rows {
        let mut f = vec![r.id.clone(), r.workload.clone()];
        for p in &plan.parameters {
            f.push(r.params.get(&p.key).cloned().unwrap_or_default());
        }
        f.push(r.stats.model.clone());
        for c in &cols {
            f.push(metric(r, c).map(number).unwrap_or_default());
        }
        out.push_str(&f.iter().map(|s| csv_field(s)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// Render the table as a JSON array of objects (same columns as the CSV).
pub fn to_json(plan: &Plan, rows: &[PointResult]) -> Value {
    let cols = columns();
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut o = Map::new();
            o.insert("id".into(), json!(r.id));
            o.insert("workload".into(), json!(r.workload));
            let mut params = Map::new();
            for p in &plan.parameters {
                if let Some(v) = r.params.get(&p.key) {
                    params.insert(p.key.clone(), json!(v));
                }
            }
            o.insert("params".into(), Value::Object(params));
            o.insert("model".into(), json!(r.stats.model));
            for c in &cols {
                if let Some(v) = metric(r, c) {
                    o.insert(c.clone(), json!(v));
                }
            }
            Value::Object(o)
        })
        .collect();
    Value::Array(list)
}

/// Write `results.csv` and `results.json` from what is finished so far; returns the row count.
pub fn gather(store: &Store, plan: &Plan) -> Result<Vec<PointResult>> {
    let rows = finished(store, plan)?;
    crate::stats::write_atomic(
        &store.dir().join("results.csv"),
        to_csv(plan, &rows).as_bytes(),
    )?;
    crate::stats::write_atomic(
        &store.dir().join("results.json"),
        serde_json::to_string_pretty(&to_json(plan, &rows))?.as_bytes(),
    )?;
    Ok(rows)
}
