//! Every export in `../shared/data/top500` reads to a full list with consistent units.

use crate::common;

use std::collections::BTreeMap;

use top500::accelerator;
use top500::read::read_path;
use top500::{Family, Format, ListId, TopList};

fn read_all(sub: &str) -> Vec<TopList> {
    common::files(sub)
        .iter()
        .map(|p| read_path(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn check_list(list: &TopList) {
    let label = list.sources[0].origin.clone();
    assert_eq!(list.systems.len(), 500, "{label}");
    let ranks: Vec<u32> = list.systems.iter().map(|s| s.rank()).collect();
    assert_eq!(
        ranks,
        (1..=500).collect::<Vec<_>>(),
        "{label}: ranks 1..=500 once each"
    );
    for s in &list.systems {
        assert!(s.rmax().tflops() > 0.0);
        // The one exception in 26 years of lists, kept as published and flagged: the NEC SX-4
        // systems of June 1996 have Rmax above Rpeak in the official export.
        let erratum = list.id == ListId::new(1996, 6) && s.computer.starts_with("SX-4");
        assert_eq!(
            s.rmax_exceeds_rpeak(),
            erratum,
            "{label} #{}: Rmax {} Rpeak {}",
            s.rank(),
            s.rmax(),
            s.rpeak()
        );
        assert_eq!(s.rmax() <= s.rpeak(), !erratum);
    }
    // Units: every list is in TFlop/s. The fastest system of 1993 did 0.06 TFlop/s, that of 2019
    // 148 600 TFlop/s; a GFlop/s number left unconverted would be 1000 times too big.
    let top = list.systems[0].rmax().tflops();
    assert!(
        (0.05..=200_000.0).contains(&top),
        "{label}: #1 at {top} TFlop/s"
    );
    let last = list.systems[499].rmax().tflops();
    assert!(
        (0.0004..=1_100.0).contains(&last),
        "{label}: #500 at {last} TFlop/s"
    );
}

/// Rmax of #1 and of #500 never fell from one list to the next: checks the unit switch of 2017.
fn check_monotone(lists: &[TopList]) {
    let by_id: BTreeMap<ListId, &TopList> = lists
        .iter()
        .map(|l| (l.id.expect("dated file name"), l))
        .collect();
    let mut prev: Option<(ListId, f64, f64)> = None;
    for (id, l) in by_id {
        let (first, last) = (l.systems[0].rmax().tflops(), l.systems[499].rmax().tflops());
        if let Some((pid, pf, pl)) = prev {
            // 2017-06 rounds TaihuLight's Rmax to 93014.594 TFlop/s, 2017-11 gives 93014.59388.
            assert!(
                first >= pf * (1.0 - 1e-8) && last >= pl,
                "{pid} → {id}: #1 {pf} → {first}, #500 {pl} → {last}"
            );
        }
        prev = Some((id, first, last));
    }
}

#[test]
fn every_csv_list() {
    let lists = read_all("csv");
    assert_eq!(lists.len(), 24);
    for l in &lists {
        assert_eq!(l.format(), Some(Format::Csv));
        check_list(l);
        let unpublished = l
            .systems
            .iter()
            .filter(|s| s.family == Family::NotPublished)
            .count();
        assert_eq!(unpublished, 0, "{}", l.label());
        let other = l
            .systems
            .iter()
            .filter(|s| s.family == Family::Other)
            .count();
        assert!(other <= 10, "{}: {other} systems in no family", l.label());
    }
    check_monotone(&lists);
    // The 2019-06 CSV is in TFlop/s (with a BOM), the 2016-11 one in GFlop/s: both come out in TFlop/s.
    let summit = lists
        .iter()
        .find(|l| l.label() == "2019-06")
        .unwrap()
        .by_rank(1)
        .unwrap();
    assert_eq!(summit.name.as_deref(), Some("Summit"));
    assert_eq!(summit.rmax().tflops(), 148_600.0);
    let taihu = lists
        .iter()
        .find(|l| l.label() == "2016-11")
        .unwrap()
        .by_rank(1)
        .unwrap();
    // (The CSV rounds to whole GFlop/s: 93 014 594; the Excel export has 93 014 593.88.)
    assert_eq!(taihu.rmax().tflops(), 93_014.594);
}

#[test]
fn every_excel_list() {
    let lists = read_all("xls");
    assert_eq!(lists.len(), 18);
    for l in &lists {
        assert_eq!(l.format(), Some(Format::Excel));
        check_list(l);
    }
    check_monotone(&lists);
}

#[test]
fn every_xml_list() {
    let lists = read_all("xml");
    assert_eq!(lists.len(), 44);
    for l in &lists {
        assert_eq!(l.format(), Some(Format::Xml));
        check_list(l);
        assert!(
            l.systems
                .iter()
                .all(|s| s.family == Family::NotPublished && s.system_id.is_some())
        );
    }
    check_monotone(&lists);
    let sx4 = lists.iter().find(|l| l.label() == "1996-06").unwrap();
    assert_eq!(
        sx4.systems
            .iter()
            .filter(|s| s.rmax_exceeds_rpeak())
            .count(),
        27
    );
    let first = lists
        .iter()
        .find(|l| l.label() == "1993-06")
        .unwrap()
        .by_rank(1)
        .unwrap();
    assert_eq!(first.computer, "CM-5/1024");
    assert!((first.rmax().tflops() - 0.0597).abs() < 1e-12);
}

/// The text rule of `accelerator` against the published column, on every list that has the column.
#[test]
fn accelerator_text_rule_agrees_with_published_column() {
    for l in read_all("csv") {
        if l.systems.iter().all(|s| s.accelerator_published.is_none()) {
            continue;
        }
        let mut disagree = Vec::new();
        for s in &l.systems {
            let published = s.accelerator.as_ref().map(|a| a.kind);
            let inferred = accelerator::infer(s).map(|a| a.kind);
            if published.is_some() != inferred.is_some() {
                disagree.push(format!(
                    "#{} {} ({:?} vs {:?})",
                    s.rank(),
                    s.computer,
                    published,
                    inferred
                ));
            }
        }
        // The text rule finds an accelerator exactly where the column says so on ≥ 98 % of systems.
        assert!(
            disagree.len() <= 10,
            "{}: {} disagreements: {:#?}",
            l.label(),
            disagree.len(),
            disagree
        );
    }
}
