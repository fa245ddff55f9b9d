//! Comparing two lists: which systems entered, left and moved, and how each interconnect family's
//! count, share of Rmax and median efficiency changed.
//!
//! Systems are matched in four passes, each over what the previous passes left unmatched:
//! 1. the TOP500 system id, where both lists have it (XML exports, joined names, CSV from 2017-11);
//! 2. site + computer + Rmax (an unchanged installation);
//! 3. site + computer (an installation that was re-measured or upgraded in place);
//! 4. site + system name (an upgrade that changed the computer text and the system id, as Pleiades
//!    between 2009-11 and 2010-06).
//!
//! Within a pass, equal keys pair in rank order (three identical QPACE racks at one site pair up one by
//! one). Whatever is left is "left" (old list) or "entered" (new list). Anonymous industrial sites
//! with several identical clusters may pair up in rank order rather than as they really correspond:
//! the lists carry nothing finer to tell them apart.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::interconnect::Family;
use crate::join::normalise;
use crate::record::{System, TopList};
use crate::stats::{self, FamilyStats, ListStats};

/// A system that entered or left.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Rank in the list it is in.
    pub rank: u32,
    /// Name or short computer.
    pub label: String,
    /// Site.
    pub site: String,
    /// Normalised interconnect family.
    pub family: Family,
    /// Rmax, TFlop/s.
    pub rmax_tflops: f64,
    /// Rmax / Rpeak.
    pub efficiency: f64,
    /// Has a GPU.
    pub gpgpu: bool,
}

impl Entry {
    fn of(s: &System) -> Self {
        Entry {
            rank: s.rank(),
            label: s.label(),
            site: s.site.clone(),
            family: s.family,
            rmax_tflops: s.rmax().tflops(),
            efficiency: s.efficiency(),
            gpgpu: s.is_gpgpu(),
        }
    }
}

/// A system present in both lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    /// Name or short computer (new list).
    pub label: String,
    /// Rank in the old list.
    pub old_rank: u32,
    /// Rank in the new list.
    pub new_rank: u32,
    /// Rmax in the old list, TFlop/s.
    pub old_rmax_tflops: f64,
    /// Rmax in the new list, TFlop/s.
    pub new_rmax_tflops: f64,
}

impl Move {
    /// Places climbed (positive) or dropped (negative).
    pub fn climbed(&self) -> i64 {
        i64::from(self.old_rank) - i64::from(self.new_rank)
    }
}

/// One family in both lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyChange {
    /// The family.
    pub family: Family,
    /// Figures in the old list (`None`: absent).
    pub old: Option<FamilyStats>,
    /// Figures in the new list (`None`: absent).
    pub new: Option<FamilyStats>,
    /// Change in the number of systems.
    pub systems_change: i64,
    /// Change in the share of Rmax, in percentage points.
    pub rmax_share_change_pp: f64,
    /// Change in median efficiency, in percentage points (`None` if absent from either list).
    pub median_efficiency_change_pp: Option<f64>,
}

/// The comparison of two lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Figures of the old list.
    pub old: ListStats,
    /// Figures of the new list.
    pub new: ListStats,
    /// Systems only in the new list, by new rank.
    pub entered: Vec<Entry>,
    /// Systems only in the old list, by old rank.
    pub left: Vec<Entry>,
    /// Systems in both lists whose rank changed, by new rank.
    pub moved: Vec<Move>,
    /// Systems in both lists at the same rank.
    pub unchanged: usize,
    /// Per-family change, for every family present in either list.
    pub families: Vec<FamilyChange>,
}

/// Compare `old` with `new`.
///
/// ```
/// let lists = top500::seed::lists().unwrap();
/// let c = top500::compare::compare(&lists[0], &lists[1]);
/// assert_eq!(c.entered.len(), c.left.len());
/// assert!(c.entered.iter().any(|e| e.label == "Nebulae"));
/// ```
pub fn compare(old: &TopList, new: &TopList) -> Comparison {
    let mut old_match: Vec<Option<usize>> = vec![None; old.systems.len()];
    let mut new_taken = vec![false; new.systems.len()];

    type KeyFn = fn(&System) -> Option<String>;
    let passes: [KeyFn; 4] = [
        |s| s.system_id.map(|id| id.to_string()),
        |s| {
            Some(format!(
                "{}|{}|{}",
                normalise(&s.site),
                normalise(&s.computer),
                s.rmax().gflops().round()
            ))
        },
        |s| Some(format!("{}|{}", normalise(&s.site), normalise(&s.computer))),
        |s| {
            s.name
                .as_ref()
                .map(|n| format!("{}|{}", normalise(&s.site), normalise(n)))
        },
    ];
    for key in passes {
        let mut pool: HashMap<String, Vec<usize>> = HashMap::new();
        for (j, s) in new.systems.iter().enumerate() {
            if !new_taken[j]
                && let Some(k) = key(s)
            {
                pool.entry(k).or_default().push(j);
            }
        }
        for v in pool.values_mut() {
            v.reverse(); // pop() yields the best-ranked first
        }
        for (i, s) in old.systems.iter().enumerate() {
            if old_match[i].is_some() {
                continue;
            }
            if let Some(j) = key(s).and_then(|k| pool.get_mut(&k)).and_then(Vec::pop) {
                old_match[i] = Some(j);
                new_taken[j] = true;
            }
        }
    }

    let left = old
        .systems
        .iter()
        .zip(&old_match)
        .filter(|(_, m)| m.is_none())
        .map(|(s, _)| Entry::of(s))
        .collect();
    let entered = new
        .systems
        .iter()
        .zip(&new_taken)
        .filter(|(_, t)| !**t)
        .map(|(s, _)| Entry::of(s))
        .collect();
    let mut moved: Vec<Move> = Vec::new();
    let mut unchanged = 0;
    for (i, m) in old_match.iter().enumerate() {
        let Some(j) = *m else { continue };
        let (a, b) = (&old.systems[i], &new.systems[j]);
        if a.rank() == b.rank() {
            unchanged += 1;
        } else {
            moved.push(Move {
                label: b.label(),
                old_rank: a.rank(),
                new_rank: b.rank(),
                old_rmax_tflops: a.rmax().tflops(),
                new_rmax_tflops: b.rmax().tflops(),
            });
        }
    }
    moved.sort_by_key(|m| m.new_rank);

    let (so, sn) = (stats::summarise(old), stats::summarise(new));
    let families = Family::ALL
        .iter()
        .filter_map(|&f| {
            let (o, n) = (so.family(f).cloned(), sn.family(f).cloned());
            if o.is_none() && n.is_none() {
                return None;
            }
            let count = |x: &Option<FamilyStats>| x.as_ref().map_or(0, |x| x.systems) as i64;
            let share = |x: &Option<FamilyStats>| x.as_ref().map_or(0.0, |x| x.rmax_share);
            let median_change = match (&o, &n) {
                (Some(o), Some(n)) => Some((n.median_efficiency - o.median_efficiency) * 100.0),
                _ => None,
            };
            Some(FamilyChange {
                family: f,
                systems_change: count(&n) - count(&o),
                rmax_share_change_pp: (share(&n) - share(&o)) * 100.0,
                median_efficiency_change_pp: median_change,
                old: o,
                new: n,
            })
        })
        .collect();
    Comparison {
        old: so,
        new: sn,
        entered,
        left,
        moved,
        unchanged,
        families,
    }
}

/// A fraction as a percentage with one decimal.
pub(crate) fn pct(x: f64) -> String {
    format!("{:.1}", x * 100.0)
}

/// A change in percentage points with its sign ("+1.2", "-0.4", "0.0").
pub(crate) fn signed(x: f64) -> String {
    if x.abs() < 0.05 {
        "0.0".into()
    } else {
        format!("{x:+.1}")
    }
}

impl Comparison {
    /// A plain-text report; lists of systems are cut after `limit` rows each.
    pub fn to_text(&self, limit: usize) -> String {
        let mut t = String::new();
        let (o, n) = (&self.old, &self.new);
        let _ = writeln!(t, "TOP500 {} → {}", o.label, n.label);
        let _ = writeln!(
            t,
            "systems {} → {}; total Rmax {:.0} → {:.0} TFlop/s; median efficiency {} % → {} % ({} pp); GPGPU systems {} → {}",
            o.systems,
            n.systems,
            o.total_rmax_tflops,
            n.total_rmax_tflops,
            pct(o.median_efficiency),
            pct(n.median_efficiency),
            signed((n.median_efficiency - o.median_efficiency) * 100.0),
            o.gpgpu,
            n.gpgpu
        );
        let ups = self.moved.iter().filter(|m| m.climbed() > 0).count();
        let _ = writeln!(
            t,
            "entered {}, left {}, moved {} ({} up, {} down), same rank {}",
            self.entered.len(),
            self.left.len(),
            self.moved.len(),
            ups,
            self.moved.len() - ups,
            self.unchanged
        );
        let _ = writeln!(t);
        let _ = writeln!(t, "Interconnect families");
        let _ = writeln!(
            t,
            "{:<18} {:>7} {:>7} {:>6}  {:>8} {:>8} {:>7}  {:>8} {:>8} {:>7}",
            "family", "systems", "", "Δ", "Rmax %", "", "Δ pp", "med eff", "", "Δ pp"
        );
        for f in &self.families {
            let count = |x: &Option<FamilyStats>| x.as_ref().map_or(0, |x| x.systems);
            let share =
                |x: &Option<FamilyStats>| x.as_ref().map_or("-".into(), |x| pct(x.rmax_share));
            let med = |x: &Option<FamilyStats>| {
                x.as_ref().map_or("-".into(), |x| pct(x.median_efficiency))
            };
            let _ = writeln!(
                t,
                "{:<18} {:>7} {:>7} {:>6}  {:>8} {:>8} {:>7}  {:>8} {:>8} {:>7}",
                f.family.name(),
                count(&f.old),
                count(&f.new),
                format!("{:+}", f.systems_change),
                share(&f.old),
                share(&f.new),
                signed(f.rmax_share_change_pp),
                med(&f.old),
                med(&f.new),
                f.median_efficiency_change_pp.map_or("-".into(), signed),
            );
        }
        let entry_table = |t: &mut String, title: &str, rows: &[Entry]| {
            let _ = writeln!(t);
            let _ = writeln!(t, "{title} ({})", rows.len());
            for e in rows.iter().take(limit) {
                let _ = writeln!(
                    t,
                    "  #{:<4} {:<40} {:<18} {:>10.1} TF {:>5} %{}",
                    e.rank,
                    clip(&e.label, 40),
                    e.family.name(),
                    e.rmax_tflops,
                    pct(e.efficiency),
                    if e.gpgpu { "  GPGPU" } else { "" }
                );
            }
            if rows.len() > limit {
                let _ = writeln!(t, "  … {} more", rows.len() - limit);
            }
        };
        entry_table(&mut t, "Entered", &self.entered);
        entry_table(&mut t, "Left", &self.left);
        let mut climbers: Vec<&Move> = self.moved.iter().filter(|m| m.climbed() > 0).collect();
        climbers.sort_by_key(|m| (-m.climbed(), m.new_rank));
        let _ = writeln!(t);
        let _ = writeln!(t, "Climbed (upgraded or re-measured) ({})", climbers.len());
        for m in climbers.iter().take(limit) {
            let _ = writeln!(
                t,
                "  #{:<4} ← #{:<4} {:<40} {:>10.1} → {:.1} TF",
                m.new_rank,
                m.old_rank,
                clip(&m.label, 40),
                m.old_rmax_tflops,
                m.new_rmax_tflops
            );
        }
        if climbers.len() > limit {
            let _ = writeln!(t, "  … {} more", climbers.len() - limit);
        }
        t
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::read_bytes;

    fn list(csv: &str) -> TopList {
        read_bytes(csv.as_bytes(), "t.csv", None).unwrap()
    }

    #[test]
    fn entered_left_moved() {
        let old = list(
            "Rank,Site,Computer,RMax,RPeak,Interconnect Family,Interconnect\n\
            1,A,X,100,120,Proprietary,Proprietary\n2,B,Y,90,100,Infiniband,Infiniband\n3,C,Z,80,100,Gigabit Ethernet,Gigabit Ethernet\n",
        );
        let new = list(
            "Rank,Site,Computer,RMax,RPeak,Interconnect Family,Interconnect\n\
            1,D,W,200,400,Infiniband,Infiniband QDR\n2,A,X,100,120,Proprietary,Proprietary\n3,B,Y,95,100,Infiniband,Infiniband\n",
        );
        let c = compare(&old, &new);
        assert_eq!(
            c.entered.iter().map(|e| e.rank).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(c.left.iter().map(|e| e.rank).collect::<Vec<_>>(), vec![3]);
        assert_eq!(c.moved.len(), 2);
        assert_eq!(c.moved[0].climbed(), -1);
        let ge = c
            .families
            .iter()
            .find(|f| f.family == Family::GigabitEthernet)
            .unwrap();
        assert_eq!(ge.systems_change, -1);
        assert!(ge.new.is_none());
        assert!(ge.median_efficiency_change_pp.is_none());
        let text = c.to_text(10);
        assert!(text.contains("entered 1, left 1, moved 2"), "{text}");
    }

    #[test]
    fn identical_systems_pair_in_rank_order() {
        let old = list("Rank,Site,Computer,RMax,RPeak\n1,U,QPACE,10,20\n2,U,QPACE,10,20\n");
        let new = list(
            "Rank,Site,Computer,RMax,RPeak\n1,N,New,50,60\n2,U,QPACE,10,20\n3,U,QPACE,10,20\n",
        );
        let c = compare(&old, &new);
        assert_eq!(c.left.len(), 0);
        let pairs: Vec<(u32, u32)> = c.moved.iter().map(|m| (m.old_rank, m.new_rank)).collect();
        assert_eq!(pairs, vec![(1, 2), (2, 3)]);
    }
}
