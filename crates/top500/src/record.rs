//! The record type: one system of one list, with its units written into its types.
//!
//! Every export format is normalised into [`System`]; a whole list is a [`TopList`]. Performance figures
//! are [`TFlops`] (teraflop/s) whatever unit the source used, power is [`Kilowatts`], and the derived
//! classification ([`Family`], [`Accelerator`]) is computed once, when the record is built.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

use crate::accelerator::{self, Accelerator};
use crate::interconnect::{self, Family};

/// A performance figure in teraflop/s (10¹² floating-point operations per second).
///
/// TOP500 exports up to 2016 give Rmax/Rpeak in GFlop/s; later ones in TFlop/s. Readers convert once,
/// here, so no other code ever sees a GFlop/s number.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct TFlops(f64);

impl TFlops {
    /// A figure given in teraflop/s.
    pub fn from_tflops(value: f64) -> Self {
        TFlops(value)
    }

    /// A figure given in gigaflop/s.
    pub fn from_gflops(value: f64) -> Self {
        TFlops(value / 1000.0)
    }

    /// The figure in teraflop/s.
    pub fn tflops(self) -> f64 {
        self.0
    }

    /// The figure in gigaflop/s.
    pub fn gflops(self) -> f64 {
        self.0 * 1000.0
    }
}

impl fmt::Display for TFlops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} TFlop/s", trim_float(self.0))
    }
}

/// Electrical power in kilowatts, as the TOP500 publishes it.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Kilowatts(pub f64);

impl fmt::Display for Kilowatts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} kW", trim_float(self.0))
    }
}

/// Format a float with at most three decimals and no trailing zeros.
pub(crate) fn trim_float(value: f64) -> String {
    let s = format!("{value:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Which list: the TOP500 is published twice a year, in June and November.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ListId {
    /// The year of publication, e.g. 2010.
    pub year: u16,
    /// The month of publication, 1–12 (6 or 11 for every list so far).
    pub month: u8,
}

impl ListId {
    /// A list identifier; `month` must be 1–12 and `year` 1993 or later.
    pub fn new(year: u16, month: u8) -> Option<Self> {
        ((1..=12).contains(&month) && year >= 1993).then_some(ListId { year, month })
    }

    /// Find the list a file name speaks of: `TOP500_201006.csv`, `TOP500_201006_all.xml`, `2010-06.csv`.
    ///
    /// ```
    /// use top500::ListId;
    /// let id = ListId::from_file_name("TOP500_201006_all.xml").unwrap();
    /// assert_eq!(id.to_string(), "2010-06");
    /// assert_eq!(ListId::from_file_name("notes.txt"), None);
    /// ```
    pub fn from_file_name(name: &str) -> Option<Self> {
        let bytes = name.as_bytes();
        let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
        let number = |from: usize, len: usize| name.get(from..from + len)?.parse::<u16>().ok();
        for start in 0..bytes.len() {
            if start > 0 && digit(start - 1) {
                continue;
            }
            // YYYYMM not followed by another digit
            if (0..6).all(|k| digit(start + k))
                && !digit(start + 6)
                && let (Some(y), Some(m)) = (number(start, 4), number(start + 4, 2))
                && let Some(id) = ListId::new(y, m as u8)
            {
                return Some(id);
            }
            // YYYY-MM
            if (0..4).all(|k| digit(start + k))
                && bytes.get(start + 4) == Some(&b'-')
                && digit(start + 5)
                && digit(start + 6)
                && !digit(start + 7)
                && let (Some(y), Some(m)) = (number(start, 4), number(start + 5, 2))
                && let Some(id) = ListId::new(y, m as u8)
            {
                return Some(id);
            }
        }
        None
    }
}

impl fmt::Display for ListId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for ListId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ListId::from_file_name(s).ok_or_else(|| format!("`{s}` is not a list date like 2010-06"))
    }
}

/// The file format a list was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values, as exported by the TOP500 site.
    Csv,
    /// Excel 97–2003 (`.xls`) or Office Open XML (`.xlsx`) workbook.
    Excel,
    /// The TOP500 XML schema (`http://www.top500.org/xml/top500/1.0`).
    Xml,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Csv => "CSV",
            Format::Excel => "Excel",
            Format::Xml => "XML",
        })
    }
}

/// One system of one list, normalised from any export format.
///
/// Invariant (checked by [`System::new`]): `rank >= 1`, Rmax and Rpeak positive and finite.
/// Rmax ≤ Rpeak holds for every system of every list except where the TOP500 published otherwise (the
/// NEC SX-4 systems of 1996-06); such a system is kept and flagged by [`System::rmax_exceeds_rpeak`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct System {
    rank: u32,
    rmax: TFlops,
    rpeak: TFlops,
    /// The system's own name ("Jaguar", "Nebulae"), where the list or a joined XML export gives one.
    pub name: Option<String>,
    /// The computer as published ("Cray XT5-HE Opteron Six Core 2.6 GHz").
    pub computer: String,
    /// The installation site.
    pub site: String,
    /// The manufacturer (vendor).
    pub manufacturer: String,
    /// The country of the site.
    pub country: String,
    /// Year of installation.
    pub year: Option<u16>,
    /// Total cores (older lists: processors).
    pub cores: Option<u64>,
    /// Power draw; `None` where the list gives none (the exports write 0 for "not reported").
    pub power: Option<Kilowatts>,
    /// Processor as published.
    pub processor: String,
    /// Segment (Research, Academic, Industry, …).
    pub segment: String,
    /// System family as published (e.g. "Cray XT"), empty where absent.
    pub system_family: String,
    /// System model as published, empty where absent.
    pub system_model: String,
    /// The accelerator column as published; `None` for lists before the column existed (2011-06).
    pub accelerator_published: Option<String>,
    /// The "Interconnect Family" column as published; `None` where the format has none (XML).
    pub interconnect_family_published: Option<String>,
    /// The "Interconnect" column as published; `None` where the format has none (XML).
    pub interconnect_published: Option<String>,
    /// The TOP500 system id, where the export gives one (XML, CSV from 2017-11).
    pub system_id: Option<u64>,
    /// The normalised interconnect family (see [`crate::interconnect`]).
    pub family: Family,
    /// Accelerator detected from the published column or the text (see [`crate::accelerator`]).
    pub accelerator: Option<Accelerator>,
}

/// Why a system could not be built.
#[derive(Debug, Clone, PartialEq)]
pub enum SystemError {
    /// Rank 0.
    ZeroRank,
    /// Rmax or Rpeak not a positive finite number.
    NotPositive(&'static str, f64),
}

impl fmt::Display for SystemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SystemError::ZeroRank => f.write_str("rank must be 1 or more"),
            SystemError::NotPositive(what, v) => {
                write!(f, "{what} must be a positive number, got {v}")
            }
        }
    }
}

impl std::error::Error for SystemError {}

impl System {
    /// A system with the required figures; text fields start empty and can be set afterwards,
    /// then [`System::classify`] derives family and accelerator.
    ///
    /// ```
    /// use top500::{System, TFlops};
    /// let s = System::new(2, TFlops::from_gflops(1_271_000.0), TFlops::from_gflops(2_984_300.0)).unwrap();
    /// assert_eq!(s.rmax().tflops(), 1271.0);
    /// assert!((s.efficiency() - 0.4259).abs() < 1e-4);
    /// assert!(System::new(1, TFlops::from_tflops(0.0), TFlops::from_tflops(2.0)).is_err());
    /// // Rmax above Rpeak is kept, as the TOP500 published it, and flagged.
    /// let odd = System::new(10, TFlops::from_gflops(66.53), TFlops::from_gflops(64.0)).unwrap();
    /// assert!(odd.rmax_exceeds_rpeak());
    /// ```
    pub fn new(rank: u32, rmax: TFlops, rpeak: TFlops) -> Result<Self, SystemError> {
        if rank == 0 {
            return Err(SystemError::ZeroRank);
        }
        for (what, v) in [("Rmax", rmax.0), ("Rpeak", rpeak.0)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(SystemError::NotPositive(what, v));
            }
        }
        Ok(System {
            rank,
            rmax,
            rpeak,
            name: None,
            computer: String::new(),
            site: String::new(),
            manufacturer: String::new(),
            country: String::new(),
            year: None,
            cores: None,
            power: None,
            processor: String::new(),
            segment: String::new(),
            system_family: String::new(),
            system_model: String::new(),
            accelerator_published: None,
            interconnect_family_published: None,
            interconnect_published: None,
            system_id: None,
            family: Family::NotPublished,
            accelerator: None,
        })
    }

    /// Position in the list, 1 = fastest.
    pub fn rank(&self) -> u32 {
        self.rank
    }

    /// Measured LINPACK performance.
    pub fn rmax(&self) -> TFlops {
        self.rmax
    }

    /// Theoretical peak performance.
    pub fn rpeak(&self) -> TFlops {
        self.rpeak
    }

    /// Rmax / Rpeak: in (0, 1] except for systems published with Rmax above Rpeak.
    pub fn efficiency(&self) -> f64 {
        self.rmax.0 / self.rpeak.0
    }

    /// True if the list publishes an Rmax above the Rpeak (a data erratum kept as published).
    pub fn rmax_exceeds_rpeak(&self) -> bool {
        self.rmax.0 > self.rpeak.0
    }

    /// Derive [`System::family`] and [`System::accelerator`] from the published text.
    pub fn classify(&mut self) {
        self.family = interconnect::normalise(
            self.interconnect_family_published.as_deref(),
            self.interconnect_published.as_deref(),
        );
        self.accelerator = accelerator::detect(self);
    }

    /// A short label for pictures and tables: the name if known, else the computer up to its first comma.
    pub fn label(&self) -> String {
        if let Some(name) = self.name.as_deref().filter(|n| !n.trim().is_empty()) {
            return name.trim().to_string();
        }
        let short = self.computer.split(',').next().unwrap_or("").trim();
        if short.is_empty() {
            format!("#{}", self.rank)
        } else {
            short.to_string()
        }
    }

    /// True if the system carries a GPU (NVIDIA, AMD/ATI) — the "GPGPU clusters" of the seed analysis.
    pub fn is_gpgpu(&self) -> bool {
        self.accelerator
            .as_ref()
            .is_some_and(|a| a.kind == accelerator::Kind::Gpu)
    }
}

/// Where a list came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// File path or a descriptive origin (e.g. `embedded:TOP500_201006.csv`).
    pub origin: String,
    /// The format detected from the content.
    pub format: Format,
}

/// One TOP500 list: its identity, its origin(s) and its systems in rank order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopList {
    /// Which list, where it could be told (from the file name).
    pub id: Option<ListId>,
    /// Where the rows came from; a joined list has more than one source.
    pub sources: Vec<Source>,
    /// The systems, sorted by rank.
    pub systems: Vec<System>,
}

impl TopList {
    /// A list from its parts; systems are sorted by rank.
    pub fn new(id: Option<ListId>, source: Source, mut systems: Vec<System>) -> Self {
        systems.sort_by_key(|s| s.rank);
        TopList {
            id,
            sources: vec![source],
            systems,
        }
    }

    /// A human label: the list date if known, else the first origin's file name.
    pub fn label(&self) -> String {
        match self.id {
            Some(id) => id.to_string(),
            None => self
                .sources
                .first()
                .map(|s| {
                    let p = PathBuf::from(&s.origin);
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or(s.origin.clone())
                })
                .unwrap_or_else(|| "list".to_string()),
        }
    }

    /// The primary format: the one the rows came from.
    pub fn format(&self) -> Option<Format> {
        self.sources.first().map(|s| s.format)
    }

    /// Total Rmax of the list.
    pub fn total_rmax(&self) -> TFlops {
        TFlops(self.systems.iter().map(|s| s.rmax.0).sum())
    }

    /// The system at `rank`, if present.
    pub fn by_rank(&self, rank: u32) -> Option<&System> {
        self.systems
            .binary_search_by_key(&rank, |s| s.rank)
            .ok()
            .map(|i| &self.systems[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_once() {
        let t = TFlops::from_gflops(1_759_000.0);
        assert_eq!(t.tflops(), 1759.0);
        assert_eq!(t.gflops(), 1_759_000.0);
        assert_eq!(t.to_string(), "1759 TFlop/s");
        assert_eq!(
            TFlops::from_gflops(2_984_300.0).to_string(),
            "2984.3 TFlop/s"
        );
    }

    #[test]
    fn list_id_from_names() {
        assert_eq!(
            ListId::from_file_name("TOP500_200911.csv"),
            ListId::new(2009, 11)
        );
        assert_eq!(
            ListId::from_file_name("x/2010-06.xls"),
            ListId::new(2010, 6)
        );
        assert_eq!(ListId::from_file_name("TOP500_201013.csv"), None);
        assert_eq!(ListId::from_file_name("1234567.csv"), None);
        assert!(ListId::new(2010, 0).is_none());
        assert!("2019-06".parse::<ListId>().is_ok());
    }

    #[test]
    fn invariant_is_enforced() {
        assert_eq!(
            System::new(0, TFlops(1.0), TFlops(2.0)).unwrap_err(),
            SystemError::ZeroRank
        );
        assert!(System::new(1, TFlops(f64::NAN), TFlops(2.0)).is_err());
        assert!(System::new(1, TFlops(0.0), TFlops(2.0)).is_err());
        assert!(System::new(1, TFlops(2.0), TFlops(2.0)).is_ok());
        assert!(
            !System::new(1, TFlops(2.0), TFlops(2.0))
                .unwrap()
                .rmax_exceeds_rpeak()
        );
    }

    #[test]
    fn label_prefers_name() {
        let mut s = System::new(7, TFlops(1.0), TFlops(2.0)).unwrap();
        s.computer = "NUDT TH-1 Cluster, Xeon E5540/E5450, ATI Radeon HD 4870 2, Infiniband".into();
        assert_eq!(s.label(), "NUDT TH-1 Cluster");
        s.name = Some("Tianhe-1".into());
        assert_eq!(s.label(), "Tianhe-1");
    }
}
