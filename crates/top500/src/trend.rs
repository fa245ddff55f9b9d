//! History over many lists: each interconnect family's share (by count and by Rmax) and median
//! efficiency, list by list, as a CSV table and an SVG chart.
//!
//! [`load_dir`] reads every file in a directory (and its direct subdirectories, so the
//! `csv/`, `xls/`, `xml/` layout of the shared data works), skips files that are no TOP500 list, and
//! merges exports of the same date with [`crate::join::merge`]. A file that *is* a TOP500 list but is
//! broken stops the run with its error: a trend silently missing a list would mislead.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::Error;
use crate::interconnect::Family;
use crate::join;
use crate::plot::rgb;
use crate::read;
use crate::record::{ListId, TopList};
use crate::stats::{self, ListStats};

/// One list's figures in the trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// Which list.
    pub id: ListId,
    /// Its figures.
    pub stats: ListStats,
}

/// What [`load_dir`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// One list per date, oldest first.
    pub lists: Vec<TopList>,
    /// Files passed over, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// The files [`load_dir`] would read: regular files in `dir` and its direct subdirectories, sorted.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            for sub in std::fs::read_dir(&path).map_err(|e| Error::io(&path, e))? {
                let p = sub.map_err(|e| Error::io(&path, e))?.path();
                if p.is_file() {
                    files.push(p);
                }
            }
        } else if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Read every TOP500 list under `dir` (see the module documentation); `on_file` is called after each
/// file (for a progress bar).
pub fn load_dir(dir: &Path, on_file: &(dyn Fn(&Path) + Sync)) -> Result<Loaded, Error> {
    let files = list_files(dir)?;
    let results: Vec<(PathBuf, Result<TopList, Error>)> = files
        .into_par_iter()
        .map(|p| {
            let r = read::read_path(&p);
            on_file(&p);
            (p, r)
        })
        .collect();
    let mut loaded = Loaded::default();
    let mut lists = Vec::new();
    for (path, result) in results {
        match result {
            Ok(list) if list.id.is_none() => loaded.skipped.push((
                path,
                "a TOP500 list, but its name does not say which (e.g. TOP500_201006.csv)".into(),
            )),
            Ok(list) => lists.push(list),
            Err(Error::NotTop500 { reason, .. }) => loaded.skipped.push((path, reason)),
            Err(e) => return Err(e),
        }
    }
    loaded.lists = join::merge(lists)?;
    Ok(loaded)
}

/// The trend of dated lists, oldest first; undated lists are an error.
pub fn trend(lists: &[TopList]) -> Result<Vec<TrendPoint>, Error> {
    let mut points = lists
        .iter()
        .map(|l| {
            let id = l.id.ok_or_else(|| {
                Error::Usage(format!("{}: cannot tell which list this is", l.label()))
            })?;
            Ok(TrendPoint {
                id,
                stats: stats::summarise(l),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    points.sort_by_key(|p| p.id);
    Ok(points)
}

/// The trend as CSV: one row per list and family present, plus a row `All` per list.
///
/// Columns: `list,family,systems,count_share,rmax_tflops,rmax_share,median_efficiency` (shares and
/// efficiency as fractions, 0–1).
pub fn to_csv(points: &[TrendPoint]) -> String {
    let mut out =
        String::from("list,family,systems,count_share,rmax_tflops,rmax_share,median_efficiency\n");
    for p in points {
        let s = &p.stats;
        let _ = writeln!(
            out,
            "{},All,{},1,{:.3},1,{:.6}",
            p.id, s.systems, s.total_rmax_tflops, s.median_efficiency
        );
        for f in &s.families {
            let _ = writeln!(
                out,
                "{},{},{},{:.6},{:.3},{:.6},{:.6}",
                p.id,
                f.family.name(),
                f.systems,
                f.count_share,
                f.rmax_tflops,
                f.rmax_share,
                f.median_efficiency
            );
        }
    }
    out
}

fn x_of(id: ListId) -> f64 {
    f64::from(id.year) + (f64::from(id.month) - 1.0) / 12.0
}

fn render_err(e: impl std::fmt::Display) -> Error {
    Error::Render {
        what: "trend chart".into(),
        message: e.to_string(),
    }
}

const FONT: &str = "sans-serif";
const LEGEND_WIDTH: u32 = 200;

/// The trend as an SVG chart: share of systems, share of Rmax and median efficiency per family.
pub fn to_svg(points: &[TrendPoint]) -> Result<String, Error> {
    if points.is_empty() {
        return Err(Error::Usage("no dated list to draw a trend of".into()));
    }
    let families: BTreeSet<Family> = points
        .iter()
        .flat_map(|p| p.stats.families.iter().map(|f| f.family))
        .collect();
    let (x0, x1) = (x_of(points[0].id), x_of(points[points.len() - 1].id));
    let (x0, x1) = (x0 - 0.5, x1.max(x0 + 1.0) + 0.5);
    let (width, panel) = (1100u32, 380u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, panel * 3)).into_drawing_area();
        root.fill(&WHITE).map_err(render_err)?;
        let (charts, legend) = root.split_horizontally(width - LEGEND_WIDTH);
        let panels = charts.split_evenly((3, 1));
        type Pick = fn(&crate::stats::FamilyStats) -> f64;
        let specs: [(&str, Pick); 3] = [
            ("Share of systems (%)", |f| f.count_share * 100.0),
            ("Share of Rmax (%)", |f| f.rmax_share * 100.0),
            ("Median efficiency Rmax / Rpeak (%)", |f| {
                f.median_efficiency * 100.0
            }),
        ];
        for (i, (area, (title, pick))) in panels.iter().zip(specs).enumerate() {
            draw_panel(area, points, &families, title, pick, i == 2, (x0, x1))?;
        }
        draw_legend(&legend, &families)?;
        root.present().map_err(render_err)?;
    }
    Ok(svg)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    points: &[TrendPoint],
    families: &BTreeSet<Family>,
    title: &str,
    pick: fn(&crate::stats::FamilyStats) -> f64,
    with_overall: bool,
    (x0, x1): (f64, f64),
) -> Result<(), Error>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 18))
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(50)
        .build_cartesian_2d(x0..x1, 0f64..100f64)
        .map_err(render_err)?;
    chart
        .configure_mesh()
        .x_labels(12)
        .x_label_formatter(&|x| format!("{:.0}", x.floor()))
        .y_labels(6)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(RGBColor(235, 235, 235))
        .label_style((FONT, 13))
        .draw()
        .map_err(render_err)?;
    for &family in families {
        let colour = rgb(family);
        // A family is drawn where it is present; in the efficiency panel only with 5 or more systems,
        // below which a median says little.
        let series: Vec<(f64, f64)> = points
            .iter()
            .filter_map(|p| {
                let f = p.stats.family(family)?;
                (!with_overall || f.systems >= 5).then(|| (x_of(p.id), pick(f)))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(series.clone(), colour.stroke_width(2)))
            .map_err(render_err)?;
        chart
            .draw_series(series.iter().map(|&pt| Circle::new(pt, 3, colour.filled())))
            .map_err(render_err)?;
    }
    if with_overall {
        let all: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (x_of(p.id), p.stats.median_efficiency * 100.0))
            .collect();
        chart
            .draw_series(LineSeries::new(all, BLACK.stroke_width(3)))
            .map_err(render_err)?;
    }
    Ok(())
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    families: &BTreeSet<Family>,
) -> Result<(), Error>
where
    DB::ErrorType: 'static,
{
    let font = (FONT, 14).into_font().color(&BLACK);
    let mut y = 60;
    area.draw(&Text::new(
        "Interconnect family",
        (6, y - 26),
        (FONT, 15).into_font().color(&BLACK),
    ))
    .map_err(render_err)?;
    for &family in families {
        area.draw(&PathElement::new(
            vec![(6, y), (26, y)],
            rgb(family).stroke_width(3),
        ))
        .map_err(render_err)?;
        area.draw(&Text::new(family.name(), (32, y - 8), font.clone()))
            .map_err(render_err)?;
        y += 22;
    }
    area.draw(&PathElement::new(
        vec![(6, y), (26, y)],
        BLACK.stroke_width(3),
    ))
    .map_err(render_err)?;
    area.draw(&Text::new("All systems (median)", (32, y - 8), font))
        .map_err(render_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_all_rows() {
        let lists = crate::seed::lists().unwrap();
        let points = trend(&lists).unwrap();
        assert_eq!(points.len(), 2);
        let csv = to_csv(&points);
        let rows: Vec<&str> = csv.lines().collect();
        let expected = 1 + points
            .iter()
            .map(|p| 1 + p.stats.families.len())
            .sum::<usize>();
        assert_eq!(rows.len(), expected);
        assert!(rows[1].starts_with("2009-11,All,500,1,"));
        let svg = to_svg(&points).unwrap();
        assert!(svg.contains("Share of Rmax"));
    }

    #[test]
    fn undated_lists_are_refused() {
        let list =
            crate::read::read_bytes(b"Rank,Computer,RMax,RPeak\n1,A,1,2\n", "x.csv", None).unwrap();
        assert!(trend(&[list]).is_err());
    }
}
