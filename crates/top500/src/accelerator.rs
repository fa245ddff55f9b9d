//! Accelerator and GPGPU detection.
//!
//! From 2011-06 on the lists carry an accelerator column ("Accelerator", later
//! "Accelerator/Co-Processor"); before that, an accelerated system shows only in free text. The rule:
//!
//! * **Published column present** (the record's `accelerator_published` is `Some`): it decides. "None" or
//!   empty means no accelerator; any other value is classified by the keywords below, and a value that
//!   matches none of them is [`Kind::Other`].
//! * **No column** (lists up to 2010-11, XML exports): the words of the computer, processor, manufacturer
//!   and system model fields are searched for the keywords below; the first kind that matches, in the order
//!   GPU → many-core → Cell → other, wins (TSUBAME's "ClearSpeed CSX600, nVidia GT200" is a GPU system).
//!
//! Keywords (whole words, case-insensitive):
//!
//! * [`Kind::Gpu`]: NVIDIA, Tesla, Fermi, GPU, GPGPU, GT200, Radeon, ATI, FireStream, FirePro, and NVIDIA
//!   board names (C2050, M2050, M2070, M2090, S2050, K20, K20x, K20m, K40, K80, P100, V100, GV100);
//! * [`Kind::ManyCore`]: "Xeon Phi" coprocessors and Intel MIC — but not the self-hosted Xeon Phi 72xx
//!   (Knights Landing) processors, which are the host CPU rather than an accelerator;
//! * [`Kind::Cell`]: PowerXCell, Cell;
//! * [`Kind::Other`]: ClearSpeed, GRAPE (GRAPE-DR), PEZY, Matrix-2000, "Deep Computing Processor".
//!
//! The rule can be checked per list with [`accelerated`]; the test suite compares the text rule with the
//! published column on every list that has both.

use serde::Serialize;

use crate::record::{System, TopList};

/// What kind of accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    /// A general-purpose GPU (NVIDIA, AMD/ATI).
    Gpu,
    /// A many-core coprocessor (Intel Xeon Phi / MIC).
    ManyCore,
    /// The Cell Broadband Engine (PowerXCell 8i).
    Cell,
    /// Any other accelerator (ClearSpeed, GRAPE-DR, PEZY-SC, Matrix-2000, …).
    Other,
}

impl Kind {
    /// A display name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gpu => "GPGPU",
            Kind::ManyCore => "Xeon Phi",
            Kind::Cell => "Cell",
            Kind::Other => "other accelerator",
        }
    }
}

/// Where the accelerator verdict came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Evidence {
    /// The list's accelerator column.
    Published,
    /// Keywords in the free text (lists before the column existed).
    Inferred,
}

/// An accelerator found on a system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accelerator {
    /// What kind.
    pub kind: Kind,
    /// Published or inferred.
    pub evidence: Evidence,
    /// The keyword (inferred) or published value that decided it.
    pub matched: String,
}

const GPU_WORDS: &[&str] = &[
    "nvidia",
    "tesla",
    "fermi",
    "gpu",
    "gpgpu",
    "gt200",
    "radeon",
    "ati",
    "firestream",
    "firepro",
    "c2050",
    "m2050",
    "m2070",
    "m2090",
    "s2050",
    "k20",
    "k20x",
    "k20m",
    "k40",
    "k40m",
    "k80",
    "p100",
    "v100",
    "gv100",
];
const CELL_WORDS: &[&str] = &["powerxcell", "cell"];
const OTHER_WORDS: &[&str] = &["clearspeed", "grape", "pezy", "matrix-2000"];

/// Classify a piece of text by the keyword rule; `None` if no keyword matches.
///
/// ```
/// use top500::accelerator::{classify_text, Kind};
/// assert_eq!(classify_text("Mole-8.5 Cluster Xeon L5520 2.26 Ghz, nVidia Tesla, Infiniband").unwrap().0, Kind::Gpu);
/// assert_eq!(classify_text("PowerXCell 8i").unwrap().0, Kind::Cell);
/// assert_eq!(classify_text("Cray XC40, Intel Xeon Phi 7250 68C 1.4GHz, Aries interconnect"), None);
/// assert_eq!(classify_text("Cray XT5-HE Opteron Six Core 2.6 GHz"), None);
/// ```
pub fn classify_text(text: &str) -> Option<(Kind, String)> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .flat_map(|w| {
            // "GRAPE-DR" and "PEZY-SC" keep their hyphen for "matrix-2000"; also try the parts.
            std::iter::once(w).chain(w.split('-'))
        })
        .filter(|w| !w.is_empty())
        .collect();
    let has_word = |set: &[&str]| {
        words
            .iter()
            .find(|w| set.contains(w))
            .map(|w| w.to_string())
    };
    if let Some(w) = has_word(GPU_WORDS) {
        return Some((Kind::Gpu, w));
    }
    if let Some(phrase) = xeon_phi_coprocessor(&lower) {
        return Some((Kind::ManyCore, phrase));
    }
    if words.contains(&"mic") {
        return Some((Kind::ManyCore, "mic".into()));
    }
    if let Some(w) = has_word(CELL_WORDS) {
        return Some((Kind::Cell, w));
    }
    if let Some(w) = has_word(OTHER_WORDS) {
        return Some((Kind::Other, w));
    }
    if lower.contains("deep computing processor") {
        return Some((Kind::Other, "deep computing processor".into()));
    }
    None
}

/// "xeon phi" followed by anything but a 72xx model number (self-hosted Knights Landing).
fn xeon_phi_coprocessor(lower: &str) -> Option<String> {
    let mut rest = lower;
    while let Some(at) = rest.find("xeon phi") {
        let after = rest[at + "xeon phi".len()..].trim_start();
        let model: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let knl = model.len() == 4
            && model.starts_with("72")
            && model.chars().all(|c| c.is_ascii_digit());
        if !knl {
            return Some(format!("xeon phi {model}").trim_end().to_string());
        }
        rest = &rest[at + 1..];
    }
    None
}

/// Detect the accelerator of one system by the module's rule.
pub fn detect(system: &System) -> Option<Accelerator> {
    if let Some(published) = system.accelerator_published.as_deref() {
        let p = published.trim();
        if p.is_empty() || p.eq_ignore_ascii_case("none") {
            return None;
        }
        let kind = classify_text(p).map(|(k, _)| k).unwrap_or(Kind::Other);
        return Some(Accelerator {
            kind,
            evidence: Evidence::Published,
            matched: p.to_string(),
        });
    }
    infer(system)
}

/// The text rule alone, ignoring any published column.
pub fn infer(system: &System) -> Option<Accelerator> {
    let text = [
        system.computer.as_str(),
        system.processor.as_str(),
        system.manufacturer.as_str(),
        system.system_model.as_str(),
    ]
    .join(" , ");
    classify_text(&text).map(|(kind, matched)| Accelerator {
        kind,
        evidence: Evidence::Inferred,
        matched,
    })
}

/// The accelerated systems of a list as `(rank, kind)`, in rank order: the per-list result of the rule.
pub fn accelerated(list: &TopList) -> Vec<(u32, Kind)> {
    list.systems
        .iter()
        .filter_map(|s| s.accelerator.as_ref().map(|a| (s.rank(), a.kind)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TFlops;

    fn system(computer: &str, processor: &str, manufacturer: &str) -> System {
        let mut s = System::new(1, TFlops::from_tflops(1.0), TFlops::from_tflops(2.0)).unwrap();
        s.computer = computer.into();
        s.processor = processor.into();
        s.manufacturer = manufacturer.into();
        s.classify();
        s
    }

    #[test]
    fn seed_gpgpu_clusters() {
        let tianhe = system(
            "NUDT TH-1 Cluster, Xeon E5540/E5450, ATI Radeon HD 4870 2, Infiniband",
            "Intel EM64T Xeon E55xx (Nehalem-EP)",
            "NUDT",
        );
        assert!(tianhe.is_gpgpu());
        let mole = system(
            "Mole-8.5 Cluster Xeon L5520 2.26 Ghz, nVidia Tesla, Infiniband",
            "Intel EM64T Xeon L55xx (Nehalem-EP)",
            "IPE, nVidia Tesla C2050, Tyan",
        );
        assert!(mole.is_gpgpu());
        let tsubame = system(
            "Sun Fire x4600/x6250, Opteron 2.4/2.6 GHz, Xeon E5440 2.833 GHz, ClearSpeed CSX600, nVidia GT200; Voltaire Infiniband",
            "AMD x86_64 Opteron Dual Core",
            "NEC/Sun",
        );
        assert!(tsubame.is_gpgpu());
        let roadrunner = system(
            "BladeCenter QS22/LS21 Cluster, PowerXCell 8i 3.2 Ghz / Opteron DC 1.8 GHz, Voltaire Infiniband",
            "PowerXCell 8i",
            "IBM",
        );
        assert_eq!(roadrunner.accelerator.unwrap().kind, Kind::Cell);
        let grape = system(
            "GRAPE-DR accelerator Cluster, Infiniband",
            "Others GRAPE-DR processor",
            "Self-made",
        );
        assert_eq!(grape.accelerator.unwrap().kind, Kind::Other);
        let jaguar = system(
            "Cray XT5-HE Opteron Six Core 2.6 GHz",
            "AMD x86_64 Opteron Six Core",
            "Cray Inc.",
        );
        assert_eq!(jaguar.accelerator, None);
    }

    #[test]
    fn published_column_decides() {
        let mut s = system(
            "NUDT YH MPP, Xeon X5670 6C 2.93 GHz, NVIDIA 2050",
            "",
            "NUDT",
        );
        s.accelerator_published = Some("None".into());
        s.classify();
        assert_eq!(s.accelerator, None);
        s.accelerator_published = Some("Intel Xeon Phi 31S1P".into());
        s.classify();
        let a = s.accelerator.clone().unwrap();
        assert_eq!((a.kind, a.evidence), (Kind::ManyCore, Evidence::Published));
        s.accelerator_published = Some("Unheard-of board".into());
        s.classify();
        assert_eq!(s.accelerator.unwrap().kind, Kind::Other);
    }

    #[test]
    fn words_not_substrings() {
        // "Catia", "Batiment", "Excellence" must not match "ati"/"cell".
        assert_eq!(classify_text("Batiment Excellence Cluster, Catia"), None);
        assert_eq!(classify_text("Intel MIC").unwrap().0, Kind::ManyCore);
        assert_eq!(classify_text("PEZY-SC2 700Mhz").unwrap().0, Kind::Other);
        assert_eq!(classify_text("Matrix-2000").unwrap().0, Kind::Other);
        assert_eq!(
            classify_text("Intel Xeon Phi 7120P").unwrap().0,
            Kind::ManyCore
        );
    }
}
