//! The efficiency picture: every system of a list as efficiency (Rmax / Rpeak) against rank.
//!
//! One colour per normalised interconnect family (fixed colours, see [`Family::colour`]), a legend with
//! the number of systems per family, fixed axes (rank 0–500, efficiency 0–100 %; 0–110 % if a list publishes Rmax above Rpeak) so pictures of different
//! lists compare at a glance, GPGPU systems ringed in black, other accelerators (Cell, Xeon Phi, …) boxed,
//! and the lowest-efficiency systems of the top half labelled with their names. Several lists give one
//! panel each, stacked, on the same scale.
//!
//! Drawn with plotters into SVG; PNG is the same SVG rasterised (see [`crate::png`]).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::accelerator::Kind;
use crate::error::Error;
use crate::interconnect::Family;
use crate::record::{System, TopList};

/// Picture settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// Width in pixels.
    pub width: u32,
    /// Height of one panel in pixels.
    pub panel_height: u32,
    /// How many of the lowest-efficiency systems of the top half get a name label.
    pub labels: usize,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            width: 1100,
            panel_height: 560,
            labels: 6,
        }
    }
}

/// Radius of a system's dot; legend dots are larger so the two can be told apart.
pub const POINT_RADIUS: u32 = 3;
const LEGEND_RADIUS: u32 = 5;
const RING_RADIUS: u32 = 7;
const LEGEND_WIDTH: u32 = 210;
const FONT: &str = "sans-serif";

fn render_err(e: impl std::fmt::Display) -> Error {
    Error::Render {
        what: "efficiency picture".into(),
        message: e.to_string(),
    }
}

/// The family's fixed colour as a plotters colour.
pub(crate) fn rgb(f: Family) -> RGBColor {
    let (r, g, b) = f.colour();
    RGBColor(r, g, b)
}

/// The systems the picture labels: the `n` lowest-efficiency systems among the top half of the list
/// (rank ≤ half the list's length), lowest first.
///
/// ```
/// let lists = top500::seed::lists().unwrap();
/// let low = top500::plot::labelled(&lists[1], 3);
/// let names: Vec<String> = low.iter().map(|s| s.label()).collect();
/// assert_eq!(names[0], "Mole-8.5");
/// assert!(names.contains(&"Nebulae".to_string()));
/// ```
pub fn labelled(list: &TopList, n: usize) -> Vec<&System> {
    let half = (list.systems.len() as u32).div_ceil(2);
    let mut top: Vec<&System> = list.systems.iter().filter(|s| s.rank() <= half).collect();
    top.sort_by(|a, b| {
        a.efficiency()
            .total_cmp(&b.efficiency())
            .then(a.rank().cmp(&b.rank()))
    });
    top.truncate(n);
    top
}

/// Draw the efficiency picture of one or more lists as an SVG document.
pub fn efficiency_svg(lists: &[TopList], opts: &PlotOptions) -> Result<String, Error> {
    if lists.is_empty() {
        return Err(Error::Usage("no list to draw".into()));
    }
    let max_rank = lists
        .iter()
        .flat_map(|l| l.systems.iter().map(|s| s.rank()))
        .max()
        .unwrap_or(500)
        .max(500);
    // 0–100 %, or 0–110 % when a list publishes Rmax above Rpeak (1996-06), so every system is drawn.
    let top = if lists
        .iter()
        .flat_map(|l| &l.systems)
        .any(|s| s.efficiency() > 1.0)
    {
        110.0
    } else {
        100.0
    };
    let height = opts.panel_height * lists.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (opts.width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(render_err)?;
        let panels = root.split_evenly((lists.len(), 1));
        for (panel, list) in panels.iter().zip(lists) {
            draw_panel(panel, list, (max_rank, top), opts)?;
        }
        root.present().map_err(render_err)?;
    }
    Ok(svg)
}

fn draw_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    list: &TopList,
    (max_rank, top): (u32, f64),
    opts: &PlotOptions,
) -> Result<(), Error>
where
    DB::ErrorType: 'static,
{
    let (plot_area, legend_area) =
        panel.split_horizontally(opts.width.saturating_sub(LEGEND_WIDTH));
    let title = format!(
        "TOP500 {} — efficiency (Rmax / Rpeak) by rank",
        list.label()
    );
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(58)
        .build_cartesian_2d(0f64..f64::from(max_rank) + 1.0, 0f64..top)
        .map_err(render_err)?;
    chart
        .configure_mesh()
        .x_desc("Rank")
        .y_desc("Efficiency Rmax / Rpeak (%)")
        .x_labels(11)
        .y_labels(11)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(RGBColor(235, 235, 235))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(render_err)?;

    let point = |s: &System| (f64::from(s.rank()), s.efficiency() * 100.0);
    // Dots, one series per family so the drawing order is stable (legend order).
    for family in Family::ALL {
        let colour = rgb(family);
        chart
            .draw_series(
                list.systems
                    .iter()
                    .filter(|s| s.family == family)
                    .map(|s| Circle::new(point(s), POINT_RADIUS, colour.filled())),
            )
            .map_err(render_err)?;
    }
    // Accelerator marks.
    chart
        .draw_series(
            list.systems
                .iter()
                .filter(|s| s.is_gpgpu())
                .map(|s| Circle::new(point(s), RING_RADIUS, BLACK.stroke_width(2))),
        )
        .map_err(render_err)?;
    chart
        .draw_series(
            list.systems
                .iter()
                .filter(|s| s.accelerator.as_ref().is_some_and(|a| a.kind != Kind::Gpu))
                .map(|s| {
                    EmptyElement::at(point(s))
                        + Rectangle::new([(-6, -6), (6, 6)], BLACK.stroke_width(1))
                }),
        )
        .map_err(render_err)?;
    // Labels for the lowest-efficiency systems of the top half, placed greedily so they do not overlap:
    // beside the point if free, else stepped up or down with a leader line.
    let label_font = (FONT, 13).into_font().color(&BLACK);
    let (x_range, y_range) = (
        chart.plotting_area().get_pixel_range().0,
        chart.plotting_area().get_pixel_range().1,
    );
    let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
    for s in labelled(list, opts.labels) {
        let text = format!(
            "#{} {} ({:.1} %)",
            s.rank(),
            s.label(),
            s.efficiency() * 100.0
        );
        let (px, py) = chart.backend_coord(&point(s));
        let w = (text.chars().count() as f64 * 7.0) as i32;
        let h = 15;
        let dx = if px + 12 + w > x_range.end {
            -12 - w
        } else {
            12
        };
        let fits = |dy: i32| {
            let b = (px + dx, py - 7 + dy, px + dx + w, py - 7 + dy + h);
            b.1 >= y_range.start
                && b.3 <= y_range.end
                && placed
                    .iter()
                    .all(|p| b.2 <= p.0 || b.0 >= p.2 || b.3 <= p.1 || b.1 >= p.3)
        };
        let dy = (0..40)
            .map(|k| {
                if k % 2 == 0 {
                    (k / 2) * h
                } else {
                    -((k + 1) / 2) * h
                }
            })
            .find(|&dy| fits(dy));
        let Some(dy) = dy else { continue };
        placed.push((px + dx, py - 7 + dy, px + dx + w, py - 7 + dy + h));
        let element =
            EmptyElement::at(point(s)) + Text::new(text, (dx, dy - 7), label_font.clone());
        chart
            .draw_series(std::iter::once(element))
            .map_err(render_err)?;
        if dy != 0 {
            let end = if dx > 0 {
                (dx - 2, dy)
            } else {
                (dx + w + 2, dy)
            };
            let leader = EmptyElement::at(point(s))
                + PathElement::new(vec![(0, 0), end], BLACK.mix(0.5).stroke_width(1));
            chart
                .draw_series(std::iter::once(leader))
                .map_err(render_err)?;
        }
    }

    draw_legend(&legend_area, list)
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    list: &TopList,
) -> Result<(), Error>
where
    DB::ErrorType: 'static,
{
    let font = (FONT, 14).into_font().color(&BLACK);
    let mut y = 60;
    area.draw(&Text::new(
        "Interconnect family",
        (6, y - 24),
        (FONT, 15).into_font().color(&BLACK),
    ))
    .map_err(render_err)?;
    for family in Family::ALL {
        let count = list.systems.iter().filter(|s| s.family == family).count();
        if count == 0 {
            continue;
        }
        area.draw(&Circle::new((14, y), LEGEND_RADIUS, rgb(family).filled()))
            .map_err(render_err)?;
        area.draw(&Text::new(
            format!("{} ({count})", family.name()),
            (26, y - 8),
            font.clone(),
        ))
        .map_err(render_err)?;
        y += 22;
    }
    y += 14;
    let gpgpu = list.systems.iter().filter(|s| s.is_gpgpu()).count();
    let other = list
        .systems
        .iter()
        .filter(|s| s.accelerator.as_ref().is_some_and(|a| a.kind != Kind::Gpu))
        .count();
    if gpgpu > 0 {
        area.draw(&Circle::new((14, y), RING_RADIUS, BLACK.stroke_width(2)))
            .map_err(render_err)?;
        area.draw(&Text::new(
            format!("GPGPU ({gpgpu})"),
            (26, y - 8),
            font.clone(),
        ))
        .map_err(render_err)?;
        y += 24;
    }
    if other > 0 {
        area.draw(&Rectangle::new(
            [(8, y - 6), (20, y + 6)],
            BLACK.stroke_width(1),
        ))
        .map_err(render_err)?;
        area.draw(&Text::new(
            format!("Cell / Phi / other ({other})"),
            (26, y - 8),
            font.clone(),
        ))
        .map_err(render_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_top_half() {
        let lists = crate::seed::lists().unwrap();
        for list in &lists {
            let low = labelled(list, 6);
            assert_eq!(low.len(), 6);
            assert!(low.iter().all(|s| s.rank() <= 250));
            assert!(
                low.windows(2)
                    .all(|w| w[0].efficiency() <= w[1].efficiency())
            );
        }
    }

    #[test]
    fn refuses_nothing_to_draw() {
        assert!(efficiency_svg(&[], &PlotOptions::default()).is_err());
    }
}
