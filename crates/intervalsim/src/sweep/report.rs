//! Pictures of a sweep: each metric against each swept parameter (one line per workload),
//! and the CPI stacks of chosen points side by side.

use super::spec::{Plan, value_text};
use super::store::PointResult;
use super::table::metric;
use crate::stats::{write_atomic, write_cpi_svg};
use anyhow::Result;
use std::path::{Path, PathBuf};

const LINE_COLORS: [(u8, u8, u8); 8] = [
    (76, 114, 176),
    (221, 132, 82),
    (85, 168, 104),
    (196, 78, 82),
    (129, 114, 179),
    (147, 120, 96),
    (218, 139, 195),
    (60, 60, 60),
];

/// One line of a metric-vs-parameter chart: the workload and the mean value at each x (None
/// where no point at that value has finished).
pub type Line = (String, Vec<Option<f64>>);

/// Mean of `m` per value of parameter `key` and per workload (averaged over the other
/// parameters).
pub fn series(plan: &Plan, rows: &[PointResult], key: &str, m: &str) -> Vec<Line> {
    let Some(param) = plan.parameters.iter().find(|p| p.key == key) else {
        return Vec::new();
    };
    let xs: Vec<String> = param.values.iter().map(value_text).collect();
    plan.workloads
        .iter()
        .map(|w| {
            let ys = xs
                .iter()
                .map(|x| {
                    let vals: Vec<f64> = rows
                        .iter()
                        .filter(|r| r.workload == w.label && r.params.get(key) == Some(x))
                        .filter_map(|r| metric(r, m))
                        .collect();
                    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
                })
                .collect();
            (w.label.clone(), ys)
        })
        .collect()
}

fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Draw `m` against parameter `key` into `path`.
pub fn draw_metric(
    plan: &Plan,
    rows: &[PointResult],
    key: &str,
    m: &str,
    path: &Path,
) -> Result<()> {
    use plotters::prelude::*;
    let Some(param) = plan.parameters.iter().find(|p| p.key == key) else {
        anyhow::bail!("'{key}' is not a swept parameter");
    };
    let xs: Vec<String> = param.values.iter().map(value_text).collect();
    let lines = series(plan, rows, key, m);
    let ymax = lines
        .iter()
        .flat_map(|(_, ys)| ys.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let ymax = if ymax > 0.0 { ymax * 1.15 } else { 1.0 };
    let others = plan.parameters.len() > 1;
    let ydesc = if others {
        format!("{m} (mean over other parameters)")
    } else {
        m.to_string()
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 460)).into_drawing_area();
        root.fill(&WHITE)?;
        let n = xs.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{} — {m} vs {key}", plan.name), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..ymax)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n.max(2) * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() > 1e-6 || i < 0.0 {
                    return String::new();
                }
                xs.get(i as usize).cloned().unwrap_or_default()
            })
            .x_desc(key)
            .y_desc(ydesc)
            .draw()?;
        for (k, (label, ys)) in lines.iter().enumerate() {
            let (r, g, b) = LINE_COLORS[k % LINE_COLORS.len()];
            let color = RGBColor(r, g, b);
            let pts: Vec<(f64, f64)> = ys
                .iter()
                .enumerate()
                .filter_map(|(i, y)| y.map(|y| (i as f64, y)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .margin(5)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.9))
            .draw()?;
        root.present()?;
    }
    write_atomic(path, svg.as_bytes())
}

/// Draw every metric of the plan against every parameter and the CPI stacks of `cpi_points`
/// (point ids or id prefixes; empty = the first 12 finished points) into `dir`. Returns the
/// files written.
pub fn draw_all(
    plan: &Plan,
    rows: &[PointResult],
    cpi_points: &[String],
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for m in &plan.metrics {
        for p in &plan.parameters {
            let path = dir.join(format!("{}-vs-{}.svg", file_part(m), file_part(&p.key)));
            draw_metric(plan, rows, &p.key, m, &path)?;
            out.push(path);
        }
    }
    let chosen: Vec<&PointResult> = if cpi_points.is_empty() {
        rows.iter().take(12).collect()
    } else {
        let mut v = Vec::new();
        for want in cpi_points {
            let hits: Vec<&PointResult> = rows
                .iter()
                .filter(|r| r.id.starts_with(want.as_str()))
                .collect();
            match hits.len() {
                0 => anyhow::bail!("--cpi {want}: no finished point has this id"),
                1 => v.push(hits[0]),
                n => anyhow::bail!("--cpi {want}: ambiguous, {n} points start with it"),
            }
        }
        v
    };
    if !chosen.is_empty() {
        let runs: Vec<_> = chosen
            .iter()
            .map(|r| {
                let mut s = r.stats.clone();
                let mut label = r.workload.clone();
                for v in r.params.values() {
                    label.push(' ');
                    label.push_str(v);
                }
                s.label = label;
                s
            })
            .collect();
        let path = dir.join("cpi-stacks.svg");
        write_cpi_svg(&path, &runs, &format!("CPI stacks — {}", plan.name))?;
        out.push(path);
    }
    Ok(out)
}
