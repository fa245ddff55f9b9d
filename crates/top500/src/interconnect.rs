//! Interconnect families: the published text, normalised.
//!
//! The TOP500 publishes two columns, "Interconnect Family" and "Interconnect". Their values drift over the
//! years: typos ("Infinband DDR 4x"), speeds inside the name ("Infiniband QDR", "10G Ethernet"), faster
//! Ethernet filed under "Gigabit Ethernet" (2017–2019 put 10G/25G/40G/100G there), Omni-Path filed under
//! "Infiniband", proprietary networks under six different family names. [`normalise`] maps both columns to
//! one [`Family`] by these rules, applied in order to the lower-cased text of both columns:
//!
//! 1. empty → [`Family::NotPublished`] (the XML exports have no interconnect at all);
//! 2. published family "Mixed…" → [`Family::Mixed`];
//! 3. mentions Myrinet → [`Family::Myrinet`] (before the speed rule: "Myrinet 10G" is not Ethernet);
//! 4. Omni-Path / Omnipath → [`Family::OmniPath`];
//! 5. any spelling of Infiniband (`infini…`, `infinband`), InfiniPath, TrueScale → [`Family::Infiniband`];
//! 6. Quadrics → [`Family::Quadrics`];
//! 7. Ethernet (`ethernet`, `gige`, `gigabit`, family `10G`): the link speed is the first number written
//!    before a `G`/`Gb`/`Gig` in the interconnect text — none → [`Family::GigabitEthernet`], 10 →
//!    [`Family::TenGigabitEthernet`], 25 or more → [`Family::FastEthernet`];
//! 8. proprietary and custom networks (Proprietary, Custom, Cray, SP Switch/Federation, NUMAlink,
//!    crossbar, torus, Tofu, Aries, Gemini, SeaStar, TH Express, BXI, Sunway) → [`Family::Proprietary`];
//!    ("Fat Tree Network", 2007, says nothing about the technology and stays [`Family::Other`]);
//! 9. anything else → [`Family::Other`].
//!
//! So 1 GbE and 10 GbE are separate families, which is what the seed analysis needs to see that 10 GbE had
//! not taken off by 2010.

use serde::Serialize;

/// A normalised interconnect family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Family {
    /// 1 Gbit/s Ethernet.
    GigabitEthernet,
    /// 10 Gbit/s Ethernet.
    TenGigabitEthernet,
    /// Ethernet at 25 Gbit/s or more (25G, 40G, 100G, 200G).
    FastEthernet,
    /// Infiniband at any speed (SDR … HDR), including InfiniPath and TrueScale.
    Infiniband,
    /// Intel Omni-Path.
    OmniPath,
    /// Myricom Myrinet (including Myrinet 10G).
    Myrinet,
    /// Quadrics QsNet.
    Quadrics,
    /// Vendor-specific networks: Cray, IBM SP/Blue Gene, SGI NUMAlink, Fujitsu Tofu, NUDT TH Express, …
    Proprietary,
    /// Published as a mix of networks.
    Mixed,
    /// Published, but none of the above.
    Other,
    /// The list does not say (XML exports).
    NotPublished,
}

impl Family {
    /// Every family, in legend order.
    pub const ALL: [Family; 11] = [
        Family::GigabitEthernet,
        Family::TenGigabitEthernet,
        Family::FastEthernet,
        Family::Infiniband,
        Family::OmniPath,
        Family::Myrinet,
        Family::Quadrics,
        Family::Proprietary,
        Family::Mixed,
        Family::Other,
        Family::NotPublished,
    ];

    /// A display name.
    pub fn name(self) -> &'static str {
        match self {
            Family::GigabitEthernet => "Gigabit Ethernet",
            Family::TenGigabitEthernet => "10G Ethernet",
            Family::FastEthernet => "25G+ Ethernet",
            Family::Infiniband => "Infiniband",
            Family::OmniPath => "Omni-Path",
            Family::Myrinet => "Myrinet",
            Family::Quadrics => "Quadrics",
            Family::Proprietary => "Proprietary",
            Family::Mixed => "Mixed",
            Family::Other => "Other",
            Family::NotPublished => "Not published",
        }
    }

    /// A fixed colour (RGB) so pictures of different lists stay comparable.
    pub fn colour(self) -> (u8, u8, u8) {
        match self {
            Family::GigabitEthernet => (31, 119, 180),    // blue
            Family::TenGigabitEthernet => (23, 190, 207), // cyan
            Family::FastEthernet => (148, 103, 189),      // purple
            Family::Infiniband => (214, 39, 40),          // red
            Family::OmniPath => (227, 119, 194),          // pink
            Family::Myrinet => (255, 127, 14),            // orange
            Family::Quadrics => (140, 86, 75),            // brown
            Family::Proprietary => (44, 160, 44),         // green
            Family::Mixed => (188, 189, 34),              // olive
            Family::Other => (127, 127, 127),             // grey
            Family::NotPublished => (199, 199, 199),      // light grey
        }
    }

    /// The colour as `#rrggbb`.
    pub fn hex(self) -> String {
        let (r, g, b) = self.colour();
        format!("#{r:02x}{g:02x}{b:02x}")
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Map the published "Interconnect Family" and "Interconnect" columns to a [`Family`] (rules in the
/// module documentation).
///
/// ```
/// use top500::interconnect::{normalise, Family};
/// assert_eq!(normalise(Some("Infiniband"), Some("Infinband DDR 4x")), Family::Infiniband);
/// assert_eq!(normalise(Some("Gigabit Ethernet"), Some("10G Ethernet")), Family::TenGigabitEthernet);
/// assert_eq!(normalise(Some("Myrinet"), Some("Myrinet 10G")), Family::Myrinet);
/// assert_eq!(normalise(None, None), Family::NotPublished);
/// ```
pub fn normalise(family: Option<&str>, interconnect: Option<&str>) -> Family {
    let fam = family.unwrap_or("").trim().to_lowercase();
    let ic = interconnect.unwrap_or("").trim().to_lowercase();
    if fam.is_empty() && ic.is_empty() {
        return Family::NotPublished;
    }
    if fam.starts_with("mixed") {
        return Family::Mixed;
    }
    let both = format!("{fam} | {ic}");
    let has = |needle: &str| both.contains(needle);
    if has("myrinet") {
        return Family::Myrinet;
    }
    if has("omni-path") || has("omnipath") || has("omni path") {
        return Family::OmniPath;
    }
    if has("infini") || has("infinband") || has("truescale") || has("truscale") {
        return Family::Infiniband;
    }
    if has("quadrics") {
        return Family::Quadrics;
    }
    let ethernet = has("ethernet") || has("gige") || has("gigabit") || fam == "10g";
    if ethernet {
        // The speed lives in the interconnect column; the family column says "10G" for 10 GbE in 2013–2016.
        let speed = link_speed_gbit(&ic).or_else(|| link_speed_gbit(&fam));
        return match speed {
            None | Some(0..=9) => Family::GigabitEthernet,
            Some(10..=24) => Family::TenGigabitEthernet,
            Some(_) => Family::FastEthernet,
        };
    }
    const PROPRIETARY: [&str; 18] = [
        "proprietary",
        "custom",
        "cray",
        "sp switch",
        "federation",
        "numalink",
        "crossbar",
        "torus",
        "tofu",
        "aries",
        "gemini",
        "seastar",
        "th express",
        "bxi",
        "sunway",
        "internal interconnect",
        "blue gene",
        "hyperplex",
    ];
    if PROPRIETARY.iter().any(|p| has(p)) {
        return Family::Proprietary;
    }
    Family::Other
}

/// The first link speed in Gbit/s written as a number followed by `g`, `gb` or `gig` ("10g ethernet",
/// "100gb 6d-torus", "10gig"), if any.
fn link_speed_gbit(text: &str) -> Option<u32> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if bytes.get(i) == Some(&b'g') {
                return text[start..i].parse().ok();
            }
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(f: &str, i: &str) -> Family {
        normalise(Some(f), Some(i))
    }

    #[test]
    fn infiniband_spellings_and_speeds_merge() {
        for ic in [
            "Infiniband",
            "Infinband DDR 4x",
            "Infiniband QDR",
            "InfiniBand 4x FDR",
            "Dual-rail Mellanox EDR Infiniband",
            "InfiniPath",
            "Intel Truscale",
            "Mellanox HDR100",
        ] {
            let family = if ic == "Mellanox HDR100" {
                "Infiniband"
            } else {
                ""
            };
            assert_eq!(n(family, ic), Family::Infiniband, "{ic}");
        }
    }

    #[test]
    fn ethernet_speeds_are_separated() {
        assert_eq!(
            n("Gigabit Ethernet", "Gigabit Ethernet"),
            Family::GigabitEthernet
        );
        assert_eq!(
            n("Gigabit Ethernet", "10G Ethernet"),
            Family::TenGigabitEthernet
        );
        assert_eq!(n("10G", "10G Ethernet"), Family::TenGigabitEthernet);
        assert_eq!(n("Gigabit Ethernet", "25G Ethernet"), Family::FastEthernet);
        assert_eq!(n("Gigabit Ethernet", "40G Ethernet"), Family::FastEthernet);
        assert_eq!(n("Ethernet", "100G Ethernet"), Family::FastEthernet);
        assert_eq!(
            n("Gigabit Ethernet", "100Gb 6D-Torus"),
            Family::FastEthernet
        );
    }

    #[test]
    fn other_families() {
        assert_eq!(n("Myrinet", "Myrinet 10G"), Family::Myrinet);
        assert_eq!(n("Infiniband", "Intel Omni-Path"), Family::OmniPath);
        assert_eq!(n("Omnipath", "Intel Omni-Path 100G"), Family::OmniPath);
        assert_eq!(
            n("Mixed", "GigabitEthernet/10Gig Infiniband"),
            Family::Mixed
        );
        assert_eq!(n("Quadrics", "Quadrics"), Family::Quadrics);
        for (f, i) in [
            ("Proprietary", "XT4 Internal Interconnect"),
            ("Cray Interconnect", "Cray Gemini interconnect"),
            ("Custom Interconnect", "Aries interconnect "),
            ("SP Switch", "Federation"),
            ("NUMAlink", "NUMAlink"),
            ("Crossbar", "Multi-stage crossbar"),
            ("Proprietary Network", "Tofu interconnect 2"),
            ("Custom", "Custom"),
        ] {
            assert_eq!(n(f, i), Family::Proprietary, "{f} / {i}");
        }
        assert_eq!(n("Something", "New"), Family::Other);
        assert_eq!(normalise(Some(""), Some(" ")), Family::NotPublished);
    }

    #[test]
    fn speed_parser() {
        assert_eq!(link_speed_gbit("10g ethernet"), Some(10));
        assert_eq!(link_speed_gbit("infiniband fdr14"), None);
        assert_eq!(link_speed_gbit("200gb 6d-torus"), Some(200));
        assert_eq!(link_speed_gbit("gigabit ethernet"), None);
    }

    #[test]
    fn colours_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for f in Family::ALL {
            assert!(seen.insert(f.colour()), "{f}");
        }
    }
}
