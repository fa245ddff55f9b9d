//! The sweep specification (TOML) and its expansion into a [`Plan`] of points.
//!
//! ```toml
//! name = "l2-size"
//! base = "gainestown"                 # preset every point starts from
//! metrics = ["ipc", "l2_mpki"]        # drawn by `sweep report` (all columns are collected)
//!
//! [overrides]                         # fixed for every point
//! core.dispatch_width = 4
//!
//! [grid]                              # cartesian product of these lists
//! l2.size = ["256KiB", "512KiB", "1MiB"]
//! core.model = ["interval", "rob"]
//!
//! [[cases]]                           # optional explicit combinations, crossed with the grid
//! l1d.size = "32KiB"
//! l1d.ways = 8
//!
//! [[workloads]]                       # a built-in workload with its parameters …
//! name = "pointer-chase"
//! footprint = "4MiB"
//! [[workloads]]                       # … or a trace file (relative to this file)
//! trace = "traces/gcc.champsim.xz"
//!
//! [limits]
//! warmup = "100k"
//! instructions = "1M"
//! ```
//!
//! Points are `cases × grid × workloads`, in that order with the last grid key varying
//! fastest. Every configuration is resolved (and so validated) while the plan is built; an
//! error names the spec file, the section and the key or value at fault.

use super::id::Fnv64;
use crate::config::{Config, PRESETS, Size, flatten};
use crate::frontend::Kind;
use crate::frontend::synthetic::{Params, StreamOp, Workload};
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Metric names a spec may list under `metrics` (columns of the result table).
pub const METRICS: &[&str] = &[
    "ipc",
    "cpi",
    "cycles",
    "instructions",
    "branch_mpki",
    "l1i_mpki",
    "l1d_mpki",
    "l2_mpki",
    "l3_mpki",
    "dtlb_mpki",
    "dram_gbps",
    "mips",
    "wall_seconds",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    name: Option<String>,
    base: Option<String>,
    metrics: Option<Vec<String>>,
    #[serde(default)]
    overrides: toml::Table,
    #[serde(default)]
    grid: toml::Table,
    #[serde(default)]
    cases: Vec<toml::Table>,
    #[serde(default)]
    workloads: Vec<WorkloadSpec>,
    #[serde(default)]
    limits: LimitsSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadSpec {
    label: Option<String>,
    name: Option<String>,
    trace: Option<PathBuf>,
    footprint: Option<Size>,
    ilp: Option<u32>,
    kind: Option<String>,
    op: Option<String>,
    taken_percent: Option<u32>,
    period: Option<u32>,
    n: Option<u32>,
    block: Option<u32>,
    seed: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsSpec {
    warmup: Option<toml::Value>,
    instructions: Option<toml::Value>,
}

/// Where a point's instructions come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum Source {
    /// A built-in synthetic workload and its seed.
    Builtin {
        /// The workload and its parameters.
        workload: Workload,
        /// Generator seed.
        seed: u64,
    },
    /// A trace file (absolute path).
    Trace {
        /// Path of the trace.
        path: PathBuf,
    },
}

/// One workload of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadEntry {
    /// Label used in tables and pictures (unique within the sweep).
    pub label: String,
    /// Its instructions.
    pub source: Source,
}

/// A swept parameter and its values in the order the spec gives them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    /// Dotted configuration key, e.g. `l2.size`.
    pub key: String,
    /// Values, first appearance first.
    pub values: Vec<toml::Value>,
}

/// One point: a configuration (base + overrides + these parameter values) and a workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Stable id: hash of the resolved configuration, workload and limits.
    pub id: String,
    /// Index into [`Plan::workloads`].
    pub workload: usize,
    /// Values of the swept parameters (key → value), in [`Plan::parameters`] order.
    pub params: Vec<(String, toml::Value)>,
}

/// Everything needed to run and report a sweep; saved as `plan.json` in the output directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Sweep name.
    pub name: String,
    /// Base preset.
    pub base: String,
    /// Fixed overrides applied to every point.
    pub overrides: Vec<(String, toml::Value)>,
    /// The swept parameters.
    pub parameters: Vec<Parameter>,
    /// The workloads.
    pub workloads: Vec<WorkloadEntry>,
    /// Warm-up instructions per point.
    pub warmup: u64,
    /// Measured instructions per point (0 = whole trace).
    pub instructions: u64,
    /// Metrics drawn by the report.
    pub metrics: Vec<String>,
    /// The points, in expansion order.
    pub points: Vec<Point>,
}

/// Render a TOML scalar the way a person would write it on the command line.
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parse an instruction count: an integer or a string such as "500k", "10M", "1G".
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000u64),
        Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000),
        Some('g' | 'G') => (&t[..t.len() - 1], 1_000_000_000),
        _ => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not an instruction count (examples: 500k, 10M)"))?;
    if v.is_nan() || v < 0.0 || !v.is_finite() {
        return Err(format!("'{s}': instruction counts cannot be negative"));
    }
    Ok((v * mult as f64) as u64)
}

fn count_value(v: &toml::Value, what: &str) -> Result<u64> {
    match v {
        toml::Value::Integer(i) if *i >= 0 => Ok(*i as u64),
        toml::Value::String(s) => parse_count(s).map_err(|e| anyhow!("{what}: {e}")),
        other => bail!("{what}: expected a count such as 100000 or \"100k\", got {other}"),
    }
}

fn insert_dotted(root: &mut toml::Table, key: &str, v: toml::Value) {
    let mut t = root;
    let parts: Vec<&str> = key.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        let e = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !e.is_table() {
            *e = toml::Value::Table(toml::Table::new());
        }
        t = match e {
            toml::Value::Table(sub) => sub,
            _ => unreachable!("just made a table"),
        };
    }
    t.insert(parts[parts.len() - 1].to_string(), v);
}

fn is_scalar(v: &toml::Value) -> bool {
    matches!(
        v,
        toml::Value::String(_)
            | toml::Value::Integer(_)
            | toml::Value::Float(_)
            | toml::Value::Boolean(_)
    )
}

impl Plan {
    /// Read and expand a spec file; trace paths are taken relative to its directory.
    pub fn from_file(path: &Path) -> Result<Plan> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        Plan::from_str(&path.display().to_string(), &text, dir)
    }

    /// Expand spec `text` (named `origin` in errors); relative trace paths resolve against `dir`.
    pub fn from_str(origin: &str, text: &str, dir: &Path) -> Result<Plan> {
        Plan::expand(origin, text, dir).with_context(|| format!("sweep spec {origin}"))
    }

    fn expand(origin: &str, text: &str, dir: &Path) -> Result<Plan> {
        let f: SpecFile = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
        let base = f.base.unwrap_or_else(|| "gainestown".to_string());
        if !PRESETS.iter().any(|(n, _)| *n == base) {
            bail!(
                "base = \"{base}\": unknown preset; presets: {}",
                PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
            );
        }
        let name = f.name.unwrap_or_else(|| {
            Path::new(origin)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sweep".into())
        });
        let metrics = f.metrics.unwrap_or_else(|| vec!["ipc".to_string()]);
        for m in &metrics {
            if !METRICS.contains(&m.as_str()) && !super::table::is_cpi_metric(m) {
                bail!(
                    "metrics: unknown metric '{m}'; metrics: {}, cpi.<component>",
                    METRICS.join(", ")
                );
            }
        }

        // Fixed overrides, swept parameters and explicit cases.
        let mut overrides = Vec::new();
        flatten(&f.overrides, "", &mut overrides);
        for (k, v) in &overrides {
            if !is_scalar(v) {
                bail!("overrides.{k}: expected a single value, got {v}");
            }
        }
        let mut grid = Vec::new();
        flatten(&f.grid, "", &mut grid);
        let mut parameters: Vec<Parameter> = Vec::new();
        let mut grid_lists = Vec::new();
        for (k, v) in &grid {
            let list = match v {
                toml::Value::Array(a) if !a.is_empty() => a.clone(),
                toml::Value::Array(_) => bail!("grid.{k}: the list of values is empty"),
                other => bail!("grid.{k}: expected a list of values such as [1, 2], got {other}"),
            };
            for x in &list {
                if !is_scalar(x) {
                    bail!("grid.{k}: value {x} is not a single value");
                }
            }
            if overrides.iter().any(|(o, _)| o == k) {
                bail!("grid.{k}: also set under [overrides]; set it in one place");
            }
            parameters.push(Parameter {
                key: k.clone(),
                values: dedup(&list),
            });
            grid_lists.push((k.clone(), list));
        }
        let mut cases: Vec<Vec<(String, toml::Value)>> = Vec::new();
        for (i, c) in f.cases.iter().enumerate() {
            let mut leaves = Vec::new();
            flatten(c, "", &mut leaves);
            if leaves.is_empty() {
                bail!("cases[{i}]: an empty case");
            }
            for (k, v) in &leaves {
                if !is_scalar(v) {
                    bail!("cases[{i}].{k}: expected a single value, got {v}");
                }
                if grid_lists.iter().any(|(g, _)| g == k) {
                    bail!("cases[{i}].{k}: also swept under [grid]; set it in one place");
                }
                if overrides.iter().any(|(o, _)| o == k) {
                    bail!("cases[{i}].{k}: also set under [overrides]; set it in one place");
                }
                match parameters.iter_mut().find(|p| p.key == *k) {
                    Some(p) => {
                        if !p.values.contains(v) {
                            p.values.push(v.clone());
                        }
                    }
                    None => parameters.push(Parameter {
                        key: k.clone(),
                        values: vec![v.clone()],
                    }),
                }
            }
            cases.push(leaves);
        }
        if cases.is_empty() {
            cases.push(Vec::new());
        }
        // A case that leaves out a key another case sets keeps the base value there; its
        // table cell stays empty.

        let warmup = match &f.limits.warmup {
            Some(v) => count_value(v, "limits.warmup")?,
            None => 100_000,
        };
        let instructions = match &f.limits.instructions {
            Some(v) => count_value(v, "limits.instructions")?,
            None => 1_000_000,
        };

        // Workloads.
        if f.workloads.is_empty() {
            bail!("no [[workloads]]: add at least one, e.g. [[workloads]] name = \"alu\"");
        }
        let mut workloads: Vec<WorkloadEntry> = Vec::new();
        for (i, w) in f.workloads.iter().enumerate() {
            let entry = workload_entry(w, dir).map_err(|e| anyhow!("workloads[{i}]: {e}"))?;
            if workloads.iter().any(|o| o.label == entry.label) {
                bail!(
                    "workloads[{i}]: label '{}' is used twice; give one a `label`",
                    entry.label
                );
            }
            if matches!(entry.source, Source::Builtin { .. }) && instructions == 0 {
                bail!(
                    "workloads[{i}]: built-in workloads never end; set limits.instructions above 0"
                );
            }
            workloads.push(entry);
        }

        // Expansion: cases × grid (last key fastest) × workloads.
        let mut plan = Plan {
            name,
            base,
            overrides,
            parameters,
            workloads,
            warmup,
            instructions,
            metrics,
            points: Vec::new(),
        };
        let combos: usize = grid_lists.iter().map(|(_, l)| l.len()).product();
        let mut idx = vec![0usize; grid_lists.len()];
        let mut seen = std::collections::HashSet::new();
        for case in &cases {
            for c in 0..combos {
                let mut rem = c;
                for (j, (_, l)) in grid_lists.iter().enumerate().rev() {
                    idx[j] = rem % l.len();
                    rem /= l.len();
                }
                let mut params: Vec<(String, toml::Value)> = case.clone();
                for (j, (k, l)) in grid_lists.iter().enumerate() {
                    params.push((k.clone(), l[idx[j]].clone()));
                }
                params.sort_by_key(|(k, _)| {
                    plan.parameters
                        .iter()
                        .position(|p| p.key == *k)
                        .unwrap_or(usize::MAX)
                });
                let cfg = plan.config(&params).map_err(|e| {
                    let at = params
                        .iter()
                        .map(|(k, v)| format!("{k} = {v}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    anyhow!("point with {at}: {e}")
                })?;
                let cfg_text = cfg.to_toml();
                for w in 0..plan.workloads.len() {
                    let id = plan.point_id(&cfg_text, w);
                    if !seen.insert(id.clone()) {
                        // The same machine twice (e.g. repeated values): one point suffices.
                        continue;
                    }
                    plan.points.push(Point {
                        id,
                        workload: w,
                        params: params.clone(),
                    });
                }
            }
        }
        Ok(plan)
    }

    /// Resolve the configuration of a point with parameter values `params`.
    pub fn config(&self, params: &[(String, toml::Value)]) -> Result<Config> {
        let mut t = toml::Table::new();
        t.insert("base".into(), toml::Value::String(self.base.clone()));
        for (k, v) in self.overrides.iter().chain(params) {
            insert_dotted(&mut t, k, v.clone());
        }
        let text = toml::to_string(&t).map_err(|e| anyhow!("{e}"))?;
        let cfg = Config::build("", Some(("configuration", &text)), &[])
            .map_err(|e| anyhow!("{}", e.0.trim_start_matches("configuration: ")))?;
        Ok(cfg)
    }

    /// The id of workload `w` on the machine whose resolved TOML is `cfg_text`.
    pub fn point_id(&self, cfg_text: &str, w: usize) -> String {
        let mut h = Fnv64::default();
        h.field(b"intervalsim-sweep-point-v1");
        h.field(cfg_text.as_bytes());
        let src = serde_json::to_string(&self.workloads[w].source).unwrap_or_default();
        h.field(src.as_bytes());
        h.field(&self.warmup.to_le_bytes());
        h.field(&self.instructions.to_le_bytes());
        h.hex()
    }

    /// A point by id.
    pub fn point(&self, id: &str) -> Option<&Point> {
        self.points.iter().find(|p| p.id == id)
    }

    /// A short label for a point: workload and parameter values.
    pub fn point_label(&self, p: &Point) -> String {
        let mut s = self.workloads[p.workload].label.clone();
        for (k, v) in &p.params {
            s.push_str(&format!(" {k}={}", value_text(v)));
        }
        s
    }

    /// Parameter values of a point by key, as text ("" when a case leaves the key out).
    pub fn param_texts(&self, p: &Point) -> BTreeMap<String, String> {
        p.params
            .iter()
            .map(|(k, v)| (k.clone(), value_text(v)))
            .collect()
    }
}

fn dedup(list: &[toml::Value]) -> Vec<toml::Value> {
    let mut out: Vec<toml::Value> = Vec::new();
    for v in list {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

fn workload_entry(w: &WorkloadSpec, dir: &Path) -> Result<WorkloadEntry> {
    match (&w.name, &w.trace) {
        (Some(_), Some(_)) => bail!("give either `name` (built-in) or `trace` (file), not both"),
        (None, None) => bail!("needs `name` (a built-in workload) or `trace` (a file)"),
        (None, Some(t)) => {
            let extra = [
                ("footprint", w.footprint.is_some()),
                ("ilp", w.ilp.is_some()),
                ("kind", w.kind.is_some()),
                ("op", w.op.is_some()),
                ("taken_percent", w.taken_percent.is_some()),
                ("period", w.period.is_some()),
                ("n", w.n.is_some()),
                ("block", w.block.is_some()),
                ("seed", w.seed.is_some()),
            ];
            if let Some((k, _)) = extra.iter().find(|(_, set)| *set) {
                bail!(
                    "`{k}` applies to built-in workloads, not to trace {}",
                    t.display()
                );
            }
            let path = if t.is_absolute() {
                t.clone()
            } else {
                dir.join(t)
            };
            let path = std::fs::canonicalize(&path)
                .map_err(|e| anyhow!("trace {}: {e}", path.display()))?;
            let label = w.label.clone().unwrap_or_else(|| {
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string())
            });
            Ok(WorkloadEntry {
                label,
                source: Source::Trace { path },
            })
        }
        (Some(name), None) => {
            let kind = match w.kind.as_deref() {
                None => None,
                Some("int") => Some(Kind::Int),
                Some("mul") => Some(Kind::Mul),
                Some("div") => Some(Kind::Div),
                Some("fp") => Some(Kind::Fp),
                Some(o) => bail!("kind = \"{o}\": expected int, mul, div or fp"),
            };
            let op = match w.op.as_deref() {
                None => None,
                Some("read") => Some(StreamOp::Read),
                Some("write") => Some(StreamOp::Write),
                Some("copy") => Some(StreamOp::Copy),
                Some(o) => bail!("op = \"{o}\": expected read, write or copy"),
            };
            let params = Params {
                footprint: w.footprint.map(|s| s.0),
                ilp: w.ilp,
                kind,
                op,
                taken_percent: w.taken_percent,
                period: w.period,
                n: w.n,
                block: w.block,
            };
            let workload = Workload::from_name(name, &params).map_err(|e| anyhow!("{e}"))?;
            let label = w.label.clone().unwrap_or_else(|| workload.describe());
            Ok(WorkloadEntry {
                label,
                source: Source::Builtin {
                    workload,
                    seed: w.seed.unwrap_or(1),
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<Plan> {
        Plan::from_str("t.toml", text, Path::new("."))
    }

    const SPEC: &str = r#"
        [grid]
        l2.size = ["256KiB", "512KiB", "1MiB"]
        core.model = ["interval", "rob"]
        [[workloads]]
        name = "alu"
        [[workloads]]
        name = "pointer-chase"
        footprint = "1MiB"
        [limits]
        instructions = "10k"
    "#;

    #[test]
    fn grid_expands_to_the_cartesian_product_with_stable_ids() {
        let p = plan(SPEC).unwrap();
        assert_eq!(p.points.len(), 3 * 2 * 2);
        assert_eq!(p.parameters.len(), 2);
        let again = plan(SPEC).unwrap();
        assert_eq!(p.points, again.points);
        let ids: std::collections::HashSet<_> = p.points.iter().map(|x| &x.id).collect();
        assert_eq!(ids.len(), p.points.len());
        // Reordering the grid lists keeps every id.
        let reordered = SPEC.replace(
            r#"["256KiB", "512KiB", "1MiB"]"#,
            r#"["1MiB", "256KiB", "512KiB"]"#,
        );
        let q = plan(&reordered).unwrap();
        let qids: std::collections::HashSet<_> = q.points.iter().map(|x| &x.id).collect();
        assert_eq!(ids, qids);
    }

    #[test]
    fn ids_change_with_limits_and_workload_parameters() {
        let p = plan(SPEC).unwrap();
        let q = plan(&SPEC.replace("\"10k\"", "\"20k\"")).unwrap();
        assert_ne!(p.points[0].id, q.points[0].id);
        let r = plan(&SPEC.replace("\"1MiB\"\n", "\"2MiB\"\n")).unwrap();
        assert_ne!(p.points[1].id, r.points[1].id);
        assert_eq!(p.points[0].id, r.points[0].id);
    }

    #[test]
    fn cases_cross_the_grid() {
        let p = plan(
            r#"
            [[cases]]
            l1d.size = "32KiB"
            l1d.ways = 8
            [[cases]]
            l1d.size = "64KiB"
            l1d.ways = 16
            [grid]
            l2.size = ["256KiB", "1MiB"]
            [[workloads]]
            name = "alu"
        "#,
        )
        .unwrap();
        assert_eq!(p.points.len(), 4);
        assert_eq!(p.parameters.len(), 3);
        assert_eq!(p.parameters[0].key, "l2.size");
    }

    fn err(text: &str) -> String {
        format!("{:#}", plan(text).unwrap_err())
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let e = err(r#"
            [grid]
            l2.sise = ["256KiB"]
            [[workloads]]
            name = "alu"
        "#);
        assert!(e.contains("l2.sise") && e.contains("valid keys"), "{e}");
        let e = err(r#"
            [grid]
            l2.size = ["256KiB", "300KiB"]
            [[workloads]]
            name = "alu"
        "#);
        assert!(e.contains("l2.size = \"300KiB\""), "{e}");
        let e = err(r#"
            [grid]
            core.model = ["interval", "magic"]
            [[workloads]]
            name = "alu"
        "#);
        assert!(e.contains("magic"), "{e}");
        let e = err(r#"
            grid = 3
            [[workloads]]
            name = "alu"
        "#);
        assert!(e.contains("grid"), "{e}");
        let e = err(r#"
            [grid]
            l2.size = "256KiB"
            [[workloads]]
            name = "alu"
        "#);
        assert!(e.contains("grid.l2.size") && e.contains("list"), "{e}");
        let e = err(r#"
            [[workloads]]
            name = "pointer-chace"
        "#);
        assert!(
            e.contains("workloads[0]") && e.contains("pointer-chace"),
            "{e}"
        );
        let e = err(r#"
            [[workloads]]
            trace = "/nonexistent/t.xz"
        "#);
        assert!(e.contains("/nonexistent/t.xz"), "{e}");
        let e = err(r#"
            metrics = ["ipc", "speed"]
            [[workloads]]
            name = "alu"
        "#);
        assert!(e.contains("'speed'"), "{e}");
        let e = err(r#"
            [[workloads]]
            name = "alu"
            [limits]
            instructions = "lots"
        "#);
        assert!(e.contains("limits.instructions"), "{e}");
        let e = err("[[workload]]\nname = \"alu\"\n");
        assert!(e.contains("workload"), "{e}");
    }
}
