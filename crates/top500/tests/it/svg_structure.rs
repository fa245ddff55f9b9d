//! The pictures checked structurally: one dot per system, one legend entry per family present, the
//! GPGPU marks, the labels, fixed axes, one panel per list.

use crate::common;

use quick_xml::Reader;
use quick_xml::events::Event;
use top500::plot::{self, POINT_RADIUS, PlotOptions};
use top500::{Family, TopList, seed};

#[derive(Debug, Default)]
struct Svg {
    /// (r, fill, stroke) of every circle.
    circles: Vec<(String, String, String)>,
    texts: Vec<String>,
    rects: usize,
}

fn parse(svg: &str) -> Svg {
    let mut reader = Reader::from_str(svg);
    let mut out = Svg::default();
    let mut in_text = false;
    loop {
        match reader.read_event().expect("well-formed SVG") {
            Event::Empty(e) | Event::Start(e) if e.name().as_ref() == b"circle" => {
                let attr = |k: &[u8]| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == k)
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                        .unwrap_or_default()
                };
                out.circles
                    .push((attr(b"r"), attr(b"fill"), attr(b"stroke")));
            }
            Event::Empty(e) | Event::Start(e) if e.name().as_ref() == b"rect" => out.rects += 1,
            Event::Start(e) if e.name().as_ref() == b"text" => in_text = true,
            Event::Text(t) if in_text => out.texts.push(t.unescape().unwrap().trim().to_string()),
            Event::End(e) if e.name().as_ref() == b"text" => in_text = false,
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn dots(svg: &Svg) -> Vec<&(String, String, String)> {
    svg.circles
        .iter()
        .filter(|c| c.0 == POINT_RADIUS.to_string())
        .collect()
}

fn check(lists: &[TopList]) -> Svg {
    let svg_text = plot::efficiency_svg(lists, &PlotOptions::default()).unwrap();
    let svg = parse(&svg_text);
    let systems: usize = lists.iter().map(|l| l.systems.len()).sum();
    assert_eq!(dots(&svg).len(), systems, "one dot per system");
    // Dots carry their family's colour: count per colour equals count per family.
    for f in Family::ALL {
        let n = lists
            .iter()
            .flat_map(|l| &l.systems)
            .filter(|s| s.family == f)
            .count();
        let hex = f.hex().to_uppercase();
        let drawn = dots(&svg)
            .iter()
            .filter(|c| c.1.to_uppercase() == hex)
            .count();
        assert_eq!(drawn, n, "{f}");
    }
    // One legend entry per family present, per panel, with its count.
    for list in lists {
        for f in Family::ALL {
            let n = list.systems.iter().filter(|s| s.family == f).count();
            let entry = format!("{} ({n})", f.name());
            let found = svg.texts.iter().filter(|t| **t == entry).count();
            assert_eq!(
                found >= 1,
                n > 0,
                "{}: legend entry {entry:?}",
                list.label()
            );
        }
        let title = format!(
            "TOP500 {} — efficiency (Rmax / Rpeak) by rank",
            list.label()
        );
        assert_eq!(
            svg.texts.iter().filter(|t| **t == title).count(),
            1,
            "one panel per list"
        );
        // Labels: the lowest-efficiency systems of the top half, by name.
        for s in plot::labelled(list, 6) {
            assert!(
                svg.texts
                    .iter()
                    .any(|t| t.starts_with(&format!("#{} {}", s.rank(), s.label()))),
                "label {}",
                s.label()
            );
        }
    }
    // GPGPU rings: one per GPU system plus one legend ring per panel that has any.
    let gpgpu: usize = lists
        .iter()
        .map(|l| l.systems.iter().filter(|s| s.is_gpgpu()).count())
        .sum();
    let panels_with_gpgpu = lists
        .iter()
        .filter(|l| l.systems.iter().any(|s| s.is_gpgpu()))
        .count();
    let rings = svg
        .circles
        .iter()
        .filter(|c| c.0 == "7" && c.1 == "none")
        .count();
    assert_eq!(rings, gpgpu + panels_with_gpgpu);
    // Fixed axes: every panel runs 0–500 in rank and 0–100 % in efficiency.
    for tick in ["0", "500", "100"] {
        assert!(
            svg.texts.iter().filter(|t| *t == tick).count() >= lists.len(),
            "tick {tick}"
        );
    }
    svg
}

#[test]
fn seed_picture() {
    let lists = seed::lists().unwrap();
    let svg = check(&lists);
    assert!(
        svg.texts
            .iter()
            .any(|t| t.starts_with("#2 Nebulae (42.6 %)"))
    );
    assert!(
        svg.texts
            .iter()
            .any(|t| t.starts_with("#7 Tianhe-1 (46.7 %)"))
    );
    assert!(svg.texts.iter().any(|t| t == "GPGPU (4)"));
}

#[test]
fn one_panel_and_many_panels() {
    let lists = seed::lists().unwrap();
    check(&lists[1..]);
    let more: Vec<TopList> = [
        "TOP500_200711.csv",
        "TOP500_201406.csv",
        "TOP500_201906.csv",
    ]
    .iter()
    .map(|n| top500::read::read_path(&common::top500_data("csv").join(n)).unwrap())
    .collect();
    check(&more);
}

#[test]
fn png_is_the_same_picture() {
    let lists = seed::lists().unwrap();
    let svg = plot::efficiency_svg(&lists[1..], &PlotOptions::default()).unwrap();
    let png = top500::png::svg_to_png(&svg, 1.0).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width and height as drawn.
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((w, h), (1100, 560));
}
