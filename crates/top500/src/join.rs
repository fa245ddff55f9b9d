//! Joining exports of the same list: XML names and system ids onto CSV/Excel rows, and choosing one
//! list per date when several files describe it.
//!
//! The CSV and Excel exports before 2011-11 have no system name; the XML export of the same list folds it
//! into the computer text ("Nebulae - Dawning TC3600 Blade, …" where the CSV says "Dawning TC3600 Blade,
//! …"). Rows are paired by rank; a pair must agree on Rmax (to 1 part in 10⁶), and if more than 5 % of
//! the pairs disagree the two files are different lists and the join is refused. A name is taken from
//! the XML `system-name` element, else from the part of the XML computer before " - " when the rest
//! equals the CSV computer (compared case-insensitively, with white space and spaces before commas
//! collapsed).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Error;
use crate::record::{Format, TopList};

/// What a join did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JoinReport {
    /// Rows paired by rank with agreeing Rmax.
    pub matched: usize,
    /// Rows that received a name.
    pub named: usize,
    /// Rows that received a system id.
    pub ids: usize,
    /// Ranks whose Rmax disagreed (left alone).
    pub disagreeing: Vec<u32>,
}

/// Text compared loosely: case-insensitive, white space collapsed, no space before commas.
pub(crate) fn normalise(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.replace(" ,", ",").to_lowercase()
}

/// Join names and system ids from `names` (normally an XML export) onto `rows` (CSV/Excel) of the same list.
///
/// ```
/// use top500::{join::join_names, read::read_bytes};
/// let csv = "Rank,Computer,RMax,RPeak\n1,Cray XT5-HE Opteron Six Core 2.6 GHz,1759000,2331000\n";
/// let xml = r#"<l:list xmlns:l="http://www.top500.org/xml/top500/1.0"><l:site><l:rank>1</l:rank>
///   <l:computer>Jaguar - Cray XT5-HE Opteron Six Core 2.6 GHz</l:computer>
///   <l:r-max>1.759e+06</l:r-max><l:r-peak>2.331e+06</l:r-peak></l:site></l:list>"#;
/// let mut list = read_bytes(csv.as_bytes(), "a.csv", None).unwrap();
/// let names = read_bytes(xml.as_bytes(), "a.xml", None).unwrap();
/// let report = join_names(&mut list, &names).unwrap();
/// assert_eq!(report.named, 1);
/// assert_eq!(list.systems[0].name.as_deref(), Some("Jaguar"));
/// ```
pub fn join_names(rows: &mut TopList, names: &TopList) -> Result<JoinReport, Error> {
    let mut report = JoinReport::default();
    let mut compared = 0usize;
    for s in rows.systems.iter_mut() {
        let Some(x) = names.by_rank(s.rank()) else {
            continue;
        };
        compared += 1;
        let (a, b) = (s.rmax().tflops(), x.rmax().tflops());
        if (a - b).abs() > 1e-6 * a.abs().max(b.abs()) {
            report.disagreeing.push(s.rank());
            continue;
        }
        report.matched += 1;
        if s.system_id.is_none() && x.system_id.is_some() {
            s.system_id = x.system_id;
            report.ids += 1;
        }
        if s.name.is_some() {
            continue;
        }
        let name = x.name.clone().or_else(|| {
            let (prefix, rest) = x.computer.split_once(" - ")?;
            (normalise(rest) == normalise(&s.computer) && !prefix.trim().is_empty())
                .then(|| prefix.trim().to_string())
        });
        if name.is_some() {
            s.name = name;
            report.named += 1;
        }
    }
    let left = rows.label();
    let right = names
        .sources
        .first()
        .map(|s| s.origin.clone())
        .unwrap_or_default();
    if compared == 0 {
        return Err(Error::Join {
            left,
            right,
            problem: "no rank appears in both".into(),
        });
    }
    if report.disagreeing.len() * 20 > compared {
        return Err(Error::Join {
            left,
            right,
            problem: format!(
                "Rmax differs on {} of {} ranks (first at rank {}): these are different lists",
                report.disagreeing.len(),
                compared,
                report.disagreeing[0]
            ),
        });
    }
    rows.sources.extend(names.sources.iter().cloned());
    Ok(report)
}

/// Reduce several files to one list per date: the richest export is kept (CSV, then Excel, then XML —
/// only the tabular ones have interconnects), and an XML export of the same date lends it names.
/// If the XML turns out to be a different revision of the list (the join is refused), the rows are
/// kept without names and a warning is logged. Lists whose date is unknown are kept as they are. The
/// result is in date order.
pub fn merge(lists: Vec<TopList>) -> Result<Vec<TopList>, Error> {
    let mut by_id: BTreeMap<crate::ListId, Vec<TopList>> = BTreeMap::new();
    let mut undated = Vec::new();
    for list in lists {
        match list.id {
            Some(id) => by_id.entry(id).or_default().push(list),
            None => undated.push(list),
        }
    }
    let mut out = Vec::with_capacity(by_id.len() + undated.len());
    for (_, mut group) in by_id {
        group.sort_by_key(|l| l.format());
        let mut primary = group.remove(0);
        if primary.format() != Some(Format::Xml)
            && let Some(xml) = group.iter().find(|l| l.format() == Some(Format::Xml))
        {
            match join_names(&mut primary, xml) {
                Ok(report) => {
                    tracing::debug!(list = %primary.label(), named = report.named, "joined XML names")
                }
                // Exports of one date that are different revisions: keep the rows, unnamed.
                Err(e) => tracing::warn!("{e}; keeping {} without names", primary.label()),
            }
        }
        out.push(primary);
    }
    out.extend(undated);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::read_bytes;

    #[test]
    fn refuses_different_lists() {
        let a = "Rank,Computer,RMax,RPeak\n1,A,10,20\n2,B,9,20\n";
        let b = "Rank,Computer,RMax,RPeak\n1,A,11,20\n2,B,8,20\n";
        let mut la = read_bytes(a.as_bytes(), "a.csv", None).unwrap();
        let lb = read_bytes(b.as_bytes(), "b.csv", None).unwrap();
        let e = join_names(&mut la, &lb).unwrap_err();
        assert!(e.to_string().contains("different lists"), "{e}");
    }

    #[test]
    fn names_only_when_computer_matches() {
        let a = "Rank,Computer,RMax,RPeak\n1,Cluster Xeon 2.4 GHz,10,20\n";
        let x = r#"<l:list xmlns:l="http://www.top500.org/xml/top500/1.0"><l:site><l:rank>1</l:rank>
            <l:computer>MCR Linux Cluster Xeon 2.4 GHz - Quadrics</l:computer>
            <l:r-max>10</l:r-max><l:r-peak>20</l:r-peak></l:site></l:list>"#;
        let mut la = read_bytes(a.as_bytes(), "a.csv", None).unwrap();
        let lx = read_bytes(x.as_bytes(), "a.xml", None).unwrap();
        let r = join_names(&mut la, &lx).unwrap();
        assert_eq!((r.matched, r.named), (1, 0));
        assert_eq!(la.systems[0].name, None);
    }
}
