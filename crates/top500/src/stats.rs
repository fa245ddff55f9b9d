//! Per-family figures of one list: how many systems, what share of the list's Rmax, what median
//! efficiency. The comparison, the trend and the report are all built from these.

use serde::Serialize;

use crate::interconnect::Family;
use crate::record::{ListId, TopList};

/// The figures of one interconnect family in one list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyStats {
    /// The family.
    pub family: Family,
    /// Number of systems.
    pub systems: usize,
    /// Share of the list's systems, 0–1.
    pub count_share: f64,
    /// Sum of Rmax, TFlop/s.
    pub rmax_tflops: f64,
    /// Share of the list's total Rmax, 0–1.
    pub rmax_share: f64,
    /// Median Rmax/Rpeak of the family's systems, 0–1.
    pub median_efficiency: f64,
}

/// The figures of one list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListStats {
    /// List label (date or file name).
    pub label: String,
    /// List date, if known.
    pub id: Option<ListId>,
    /// Number of systems.
    pub systems: usize,
    /// Total Rmax, TFlop/s.
    pub total_rmax_tflops: f64,
    /// Median Rmax/Rpeak of all systems.
    pub median_efficiency: f64,
    /// Systems with a GPU.
    pub gpgpu: usize,
    /// Systems with any accelerator.
    pub accelerated: usize,
    /// The families present, in [`Family::ALL`] order.
    pub families: Vec<FamilyStats>,
}

impl ListStats {
    /// The figures of `family`, if present in the list.
    pub fn family(&self, family: Family) -> Option<&FamilyStats> {
        self.families.iter().find(|f| f.family == family)
    }
}

/// Median of a set of numbers (mean of the middle two for an even count); `None` when empty.
///
/// ```
/// assert_eq!(top500::stats::median(&mut [3.0, 1.0, 2.0]), Some(2.0));
/// assert_eq!(top500::stats::median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
/// assert_eq!(top500::stats::median(&mut []), None);
/// ```
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Compute the figures of a list.
pub fn summarise(list: &TopList) -> ListStats {
    let n = list.systems.len();
    let total: f64 = list.systems.iter().map(|s| s.rmax().tflops()).sum();
    let mut all: Vec<f64> = list.systems.iter().map(|s| s.efficiency()).collect();
    let families = Family::ALL
        .iter()
        .filter_map(|&family| {
            let members: Vec<_> = list.systems.iter().filter(|s| s.family == family).collect();
            if members.is_empty() {
                return None;
            }
            let rmax: f64 = members.iter().map(|s| s.rmax().tflops()).sum();
            let mut eff: Vec<f64> = members.iter().map(|s| s.efficiency()).collect();
            Some(FamilyStats {
                family,
                systems: members.len(),
                count_share: members.len() as f64 / n as f64,
                rmax_tflops: rmax,
                rmax_share: if total > 0.0 { rmax / total } else { 0.0 },
                median_efficiency: median(&mut eff).unwrap_or(0.0),
            })
        })
        .collect();
    ListStats {
        label: list.label(),
        id: list.id,
        systems: n,
        total_rmax_tflops: total,
        median_efficiency: median(&mut all).unwrap_or(0.0),
        gpgpu: list.systems.iter().filter(|s| s.is_gpgpu()).count(),
        accelerated: list
            .systems
            .iter()
            .filter(|s| s.accelerator.is_some())
            .count(),
        families,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::read_bytes;

    #[test]
    fn shares_add_up() {
        let csv = "Rank,Computer,RMax,RPeak,Interconnect Family,Interconnect\n\
                   1,A,30,40,Infiniband,Infiniband QDR\n2,B,20,40,Gigabit Ethernet,Gigabit Ethernet\n\
                   3,C,10,20,Infiniband,Infinband DDR 4x\n";
        let list = read_bytes(csv.as_bytes(), "s.csv", None).unwrap();
        let st = summarise(&list);
        assert_eq!(st.systems, 3);
        assert_eq!(st.families.len(), 2);
        let ib = st.family(Family::Infiniband).unwrap();
        assert_eq!(ib.systems, 2);
        assert!((ib.rmax_share - 40.0 / 60.0).abs() < 1e-12);
        assert!((ib.median_efficiency - 0.625).abs() < 1e-12);
        let sum: f64 = st.families.iter().map(|f| f.rmax_share).sum();
        assert!((sum - 1.0).abs() < 1e-12);
        assert_eq!(st.median_efficiency, 0.5);
    }
}
