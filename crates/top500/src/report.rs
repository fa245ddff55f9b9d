//! One self-contained HTML page: the efficiency pictures (inline SVG), per-list family tables, the
//! accelerated systems, the labelled low-efficiency systems, the comparison of the first and last list,
//! and — with three or more dated lists — the trend chart. No external stylesheet, script, font or image.

use std::fmt::Write as _;

use crate::accelerator::Evidence;
use crate::compare::{self, Comparison, pct, signed};
use crate::error::Error;
use crate::plot::{self, PlotOptions};
use crate::record::TopList;
use crate::stats;
use crate::trend;

/// Escape text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px}\
td.n{text-align:right}th{background:#f2f2f2}svg{max-width:100%;height:auto}.sw{display:inline-block;\
width:0.8em;height:0.8em;border-radius:50%;margin-right:0.4em}";

/// Build the page for `lists` (at least one).
pub fn html(lists: &[TopList], opts: &PlotOptions) -> Result<String, Error> {
    if lists.is_empty() {
        return Err(Error::Usage("no list to report on".into()));
    }
    let labels: Vec<String> = lists.iter().map(|l| l.label()).collect();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>TOP500 by interconnect: {}</title><style>{STYLE}</style></head><body>\n",
        escape(&labels.join(", "))
    );
    let _ = writeln!(
        h,
        "<h1>TOP500 by interconnect: {}</h1>",
        escape(&labels.join(", "))
    );
    let _ = writeln!(h, "<p>Sources: {}.</p>", {
        let s: Vec<String> = lists
            .iter()
            .flat_map(|l| {
                l.sources
                    .iter()
                    .map(|s| format!("{} ({})", escape(&s.origin), s.format))
            })
            .collect();
        s.join("; ")
    });
    let _ = writeln!(
        h,
        "<h2>Efficiency by rank</h2><p>Each dot is one system: Rmax / Rpeak against rank, coloured by interconnect family. \
         Black rings: GPGPU systems; squares: other accelerators. The {} lowest-efficiency systems of each list's top half are named.</p>",
        opts.labels
    );
    h.push_str(&plot::efficiency_svg(lists, opts)?);
    h.push('\n');

    for list in lists {
        let st = stats::summarise(list);
        let _ = writeln!(h, "<h2>{}</h2>", escape(&list.label()));
        let _ = writeln!(
            h,
            "<p>{} systems, total Rmax {:.0} TFlop/s, median efficiency {} %, {} GPGPU systems, {} with any accelerator.</p>",
            st.systems,
            st.total_rmax_tflops,
            pct(st.median_efficiency),
            st.gpgpu,
            st.accelerated
        );
        h.push_str("<table><tr><th>Interconnect family</th><th>Systems</th><th>Share of systems %</th><th>Rmax TFlop/s</th><th>Share of Rmax %</th><th>Median efficiency %</th></tr>\n");
        for f in &st.families {
            let _ = writeln!(
                h,
                "<tr><td><span class=\"sw\" style=\"background:{}\"></span>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                f.family.hex(),
                escape(f.family.name()),
                f.systems,
                pct(f.count_share),
                f.rmax_tflops,
                pct(f.rmax_share),
                pct(f.median_efficiency)
            );
        }
        h.push_str("</table>\n");

        let _ = writeln!(h, "<h3>Lowest efficiency in the top half</h3>");
        h.push_str("<table><tr><th>Rank</th><th>System</th><th>Site</th><th>Interconnect</th><th>Accelerator</th><th>Efficiency %</th></tr>\n");
        for s in plot::labelled(list, opts.labels) {
            let _ = writeln!(
                h,
                "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                s.rank(),
                escape(&s.label()),
                escape(&s.site),
                escape(s.family.name()),
                s.accelerator
                    .as_ref()
                    .map_or(String::new(), |a| escape(a.kind.name())),
                pct(s.efficiency())
            );
        }
        h.push_str("</table>\n");

        let accelerated: Vec<_> = list
            .systems
            .iter()
            .filter(|s| s.accelerator.is_some())
            .collect();
        if !accelerated.is_empty() {
            let _ = writeln!(h, "<h3>Accelerated systems ({})</h3>", accelerated.len());
            h.push_str("<table><tr><th>Rank</th><th>System</th><th>Kind</th><th>Evidence</th><th>Interconnect</th><th>Efficiency %</th></tr>\n");
            for s in accelerated {
                let Some(a) = s.accelerator.as_ref() else {
                    continue;
                };
                let evidence = match a.evidence {
                    Evidence::Published => format!("published: {}", a.matched),
                    Evidence::Inferred => format!("text: “{}”", a.matched),
                };
                let _ = writeln!(
                    h,
                    "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                    s.rank(),
                    escape(&s.label()),
                    escape(a.kind.name()),
                    escape(&evidence),
                    escape(s.family.name()),
                    pct(s.efficiency())
                );
            }
            h.push_str("</table>\n");
        }
    }

    if lists.len() >= 2 {
        let c = compare::compare(&lists[0], &lists[lists.len() - 1]);
        comparison_html(&mut h, &c);
    }
    let dated: Vec<TopList> = lists.iter().filter(|l| l.id.is_some()).cloned().collect();
    if dated.len() >= 3 {
        let points = trend::trend(&dated)?;
        h.push_str("<h2>Trend</h2>\n");
        h.push_str(&trend::to_svg(&points)?);
        h.push('\n');
    }
    h.push_str("</body></html>\n");
    Ok(h)
}

fn comparison_html(h: &mut String, c: &Comparison) {
    let _ = writeln!(
        h,
        "<h2>From {} to {}</h2>",
        escape(&c.old.label),
        escape(&c.new.label)
    );
    let ups = c.moved.iter().filter(|m| m.climbed() > 0).count();
    let _ = writeln!(
        h,
        "<p>{} systems entered, {} left, {} moved ({} up, {} down), {} kept their rank. Median efficiency {} % → {} %.</p>",
        c.entered.len(),
        c.left.len(),
        c.moved.len(),
        ups,
        c.moved.len() - ups,
        c.unchanged,
        pct(c.old.median_efficiency),
        pct(c.new.median_efficiency)
    );
    h.push_str("<table><tr><th>Family</th><th>Systems</th><th>Δ</th><th>Share of Rmax %</th><th>Δ pp</th><th>Median efficiency %</th><th>Δ pp</th></tr>\n");
    for f in &c.families {
        let count = |x: &Option<stats::FamilyStats>| x.as_ref().map_or(0, |x| x.systems);
        let share =
            |x: &Option<stats::FamilyStats>| x.as_ref().map_or("–".into(), |x| pct(x.rmax_share));
        let med = |x: &Option<stats::FamilyStats>| {
            x.as_ref().map_or("–".into(), |x| pct(x.median_efficiency))
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{} → {}</td><td class=\"n\">{:+}</td><td class=\"n\">{} → {}</td><td class=\"n\">{}</td><td class=\"n\">{} → {}</td><td class=\"n\">{}</td></tr>",
            escape(f.family.name()),
            count(&f.old),
            count(&f.new),
            f.systems_change,
            share(&f.old),
            share(&f.new),
            signed(f.rmax_share_change_pp),
            med(&f.old),
            med(&f.new),
            f.median_efficiency_change_pp.map_or("–".into(), signed)
        );
    }
    h.push_str("</table>\n");
    let _ = writeln!(h, "<h3>Entered the top 100</h3>");
    h.push_str("<table><tr><th>Rank</th><th>System</th><th>Interconnect</th><th>Rmax TFlop/s</th><th>Efficiency %</th><th>GPGPU</th></tr>\n");
    for e in c.entered.iter().filter(|e| e.rank <= 100) {
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            e.rank,
            escape(&e.label),
            escape(e.family.name()),
            e.rmax_tflops,
            pct(e.efficiency),
            if e.gpgpu { "yes" } else { "" }
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_contained() {
        let lists = crate::seed::lists().unwrap();
        let page = html(&lists, &PlotOptions::default()).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<svg"));
        assert!(page.contains("Nebulae"));
        for external in ["<script", "<link", "src=\"http", "href=\"http", "@import"] {
            assert!(!page.contains(external), "{external}");
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
    }
}
