//! Machine configuration: TOML, presets shipped in the binary, `section.key=value` overrides.
//!
//! A configuration always starts from a preset (whose TOML lists every key, so the defaults are
//! visible in one place); a file or `-o` overrides may only change keys the preset has. An
//! unknown key is an error listing the valid ones; a value of the wrong type or out of range is
//! an error naming the key.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Presets shipped in the binary: (name, TOML text).
pub const PRESETS: &[(&str, &str)] = &[
    ("gainestown", include_str!("../presets/gainestown.toml")),
    ("bigcore", include_str!("../presets/bigcore.toml")),
    ("smallcore", include_str!("../presets/smallcore.toml")),
    ("mesh64", include_str!("../presets/mesh64.toml")),
];

/// A configuration error; the message names the key or file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A byte size written as an integer or a string with a binary unit ("32KiB", "8MB", "4k").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

/// Parse "32KiB", "8 MB", "4k", "65536".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (examples: 32KiB, 8MiB, 4096)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        u => {
            return Err(format!(
                "'{s}': unknown size unit '{u}' (use B, KiB, MiB, GiB)"
            ));
        }
    };
    let v = num * mult as f64;
    if v < 0.0 || v.fract() != 0.0 || v > u64::MAX as f64 {
        return Err(format!("'{s}' is not a whole number of bytes"));
    }
    Ok(v as u64)
}

/// Format bytes with the largest exact binary unit ("32KiB").
pub fn format_size(b: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if b >= 1 << shift && b.is_multiple_of(1 << shift) {
            return format!("{}{unit}", b >> shift);
        }
    }
    format!("{b}B")
}

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(self.0))
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 32KiB or a byte count")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom(format!("negative size {v}")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Size, E> {
                parse_size(v).map(Size).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Which core timing model to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoreModel {
    /// The interval model (fast).
    Interval,
    /// The detailed cycle-level out-of-order model (reference).
    Rob,
}

/// Replacement policy of a cache or TLB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Replacement {
    /// Least recently used.
    Lru,
    /// Tree pseudo-LRU (ways must be a power of two).
    TreePlru,
    /// Static re-reference interval prediction (2-bit).
    Srrip,
    /// Random (deterministic generator).
    Random,
}

/// Hardware prefetcher attached to a cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrefetcherKind {
    /// No prefetching.
    None,
    /// Fetch the next `degree` lines on a miss.
    NextLine,
    /// Per-instruction stride detection.
    IpStride,
}

/// Branch direction predictor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PredictorKind {
    /// Table of 2-bit counters indexed by pc.
    Bimodal,
    /// 2-bit counters indexed by pc xor global history.
    Gshare,
    /// Bimodal and gshare with a chooser (Pentium-M-like hybrid).
    Tournament,
    /// TAGE: a bimodal base and tagged tables with geometric history lengths.
    Tage,
}

/// Core parameters.
#[allow(missing_docs)]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreConfig {
    pub model: CoreModel,
    pub frequency_ghz: f64,
    pub dispatch_width: u32,
    pub rob_size: u32,
    pub issue_queue: u32,
    pub load_queue: u32,
    pub store_queue: u32,
    pub alu_units: u32,
    pub mul_units: u32,
    pub fp_units: u32,
    pub load_units: u32,
    pub store_units: u32,
    pub int_latency: u32,
    pub mul_latency: u32,
    pub div_latency: u32,
    pub fp_latency: u32,
}

/// Branch prediction parameters.
#[allow(missing_docs)]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BpredConfig {
    pub kind: PredictorKind,
    pub table_entries: u32,
    pub history_bits: u32,
    pub mispredict_penalty: u32,
    pub btb_entries: u32,
    pub btb_ways: u32,
    pub btb_miss_penalty: u32,
    pub ras_depth: u32,
}

/// One cache level. `latency` is this level's own access time; latencies add up along the path.
#[allow(missing_docs)]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub size: Size,
    pub ways: u32,
    pub latency: u32,
    pub replacement: Replacement,
    pub mshrs: u32,
    pub prefetcher: PrefetcherKind,
    pub prefetch_degree: u32,
}

/// A first-level TLB.
#[allow(missing_docs)]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlbConfig {
    pub entries: u32,
    pub ways: u32,
    pub latency: u32,
}

/// The second-level TLB and the page walk behind it.
#[allow(missing_docs)]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StlbConfig {
    pub entries: u32,
    pub ways: u32,
    pub latency: u32,
    pub page_size: Size,
    pub walk_penalty: u32,
}

/// DRAM: fixed latency plus a bandwidth queue.
#[allow(missing_docs)]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DramConfig {
    pub latency_ns: f64,
    pub bandwidth_gbps: f64,
}

/// On-chip network connecting cores, LLC slices and DRAM controllers (multi-core).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkKind {
    /// One shared bus: every message crosses it (fixed latency, serialised by its width).
    Bus,
    /// 2-D mesh with dimension-order (XY) routing; latency per hop, bandwidth per link.
    Mesh,
    /// Zero latency, infinite bandwidth (for comparison).
    Magic,
}

/// The multi-core system: how many cores, how the shared levels are split, the network and
/// the synchronisation quantum. Ignored by single-core runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// Number of cores (1 ..= 256).
    pub cores: u32,
    /// Cores per LLC slice: the LLC is one coherent shared cache made of
    /// `ceil(cores / llc_shared_by)` slices of `l3.size` each, lines interleaved across slices.
    pub llc_shared_by: u32,
    /// Cores per DRAM controller: `ceil(cores / cores_per_controller)` controllers of
    /// `dram.bandwidth_gbps` each, lines interleaved across them.
    pub cores_per_controller: u32,
    /// Network kind.
    pub network: NetworkKind,
    /// Mesh: cycles per hop (router plus link).
    pub hop_latency: u32,
    /// Mesh link or bus width in bytes per cycle.
    pub link_bytes_per_cycle: u32,
    /// Bus: cycles per transfer besides serialisation (arbitration, wires).
    pub bus_latency: u32,
    /// Mesh columns; 0 = the smallest square that holds every core.
    pub mesh_width: u32,
    /// Simulated time between synchronisations of the cores (lax barrier), in ns.
    pub quantum_ns: f64,
    /// Cycles from the last arrival at a barrier (or a wake) to the waiting cores running.
    pub sync_latency: u32,
}

/// A whole machine.
#[allow(missing_docs)]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub name: String,
    pub core: CoreConfig,
    pub bpred: BpredConfig,
    pub l1i: CacheConfig,
    pub l1d: CacheConfig,
    pub l2: CacheConfig,
    pub l3: CacheConfig,
    pub itlb: TlbConfig,
    pub dtlb: TlbConfig,
    pub stlb: StlbConfig,
    pub dram: DramConfig,
    pub system: SystemConfig,
}

/// Cache line size in bytes (fixed).
pub const LINE_BYTES: u64 = 64;

/// The most entries a core's ROB, issue queue, load queue or store queue may have: the
/// interval core sizes its rings from it.
pub const MAX_QUEUE_ENTRIES: u32 = 4096;

fn preset_table(name: &str) -> Result<toml::Table, ConfigError> {
    let text = PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            ConfigError(format!(
                "unknown preset '{name}'; presets: {}",
                PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
            ))
        })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError(format!("preset {name}: {e}")))
}

fn valid_keys(t: &toml::Table, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in t {
        let full = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(sub) => out.extend(valid_keys(sub, &full)),
            _ => out.push(full),
        }
    }
    out
}

/// Set `key` (dotted) in `root` to `value`, which must have the type the preset gives the key.
fn set_key(root: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), ConfigError> {
    let all = valid_keys(root, "");
    let unknown = || {
        ConfigError(format!(
            "unknown configuration key '{key}'; valid keys: {}",
            all.join(", ")
        ))
    };
    let parts: Vec<&str> = key.split('.').collect();
    let mut t = &mut *root;
    for p in &parts[..parts.len() - 1] {
        t = match t.get_mut(*p) {
            Some(toml::Value::Table(sub)) => sub,
            _ => return Err(unknown()),
        };
    }
    let last = parts[parts.len() - 1];
    let slot = t.get_mut(last).ok_or_else(unknown)?;
    let bad = |what: &str| ConfigError(format!("{key}: {what}"));
    let new = match (&*slot, value) {
        (toml::Value::Integer(_), toml::Value::Integer(i)) => {
            if i < 0 {
                return Err(bad(&format!("must not be negative (got {i})")));
            }
            toml::Value::Integer(i)
        }
        (toml::Value::Float(_), toml::Value::Integer(i)) => toml::Value::Float(i as f64),
        (toml::Value::Float(_), toml::Value::Float(f)) => {
            if !f.is_finite() || f < 0.0 {
                return Err(bad(&format!("must be a non-negative number (got {f})")));
            }
            toml::Value::Float(f)
        }
        (toml::Value::String(_), toml::Value::String(s)) => toml::Value::String(s),
        (toml::Value::String(_), toml::Value::Integer(i)) => {
            if i < 0 {
                return Err(bad(&format!("must not be negative (got {i})")));
            }
            toml::Value::String(i.to_string())
        }
        (toml::Value::Boolean(_), toml::Value::Boolean(b)) => toml::Value::Boolean(b),
        (old, v) => {
            return Err(bad(&format!(
                "expected a {} like the preset's {old}, got {v}",
                old.type_str()
            )));
        }
    };
    *slot = new;
    Ok(())
}

fn parse_scalar(s: &str) -> toml::Value {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = t.parse::<f64>() {
        toml::Value::Float(f)
    } else if t == "true" || t == "false" {
        toml::Value::Boolean(t == "true")
    } else {
        toml::Value::String(t.trim_matches('"').to_string())
    }
}

/// Flatten nested tables into dotted keys (`{l2 = {size = …}}` → `l2.size`).
pub(crate) fn flatten(t: &toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in t {
        let full = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(sub) => flatten(sub, &full, out),
            other => out.push((full, other.clone())),
        }
    }
}

impl Config {
    /// A preset by name.
    pub fn preset(name: &str) -> Result<Config, ConfigError> {
        Config::build(name, None, &[])
    }

    /// Resolve a configuration: `base` is a preset name or a TOML file path (a file may name
    /// its base preset with `base = "…"`, default gainestown); then `overrides` (`section.key=value`).
    pub fn build(
        base: &str,
        file_text: Option<(&str, &str)>,
        overrides: &[String],
    ) -> Result<Config, ConfigError> {
        let mut root;
        if let Some((path, text)) = file_text {
            let file: toml::Table = text
                .parse()
                .map_err(|e| ConfigError(format!("{path}: {e}")))?;
            let base_name = match file.get("base") {
                Some(toml::Value::String(s)) => s.clone(),
                Some(_) => return Err(ConfigError(format!("{path}: base: must be a preset name"))),
                None => "gainestown".to_string(),
            };
            root = preset_table(&base_name)?;
            let mut leaves = Vec::new();
            flatten(&file, "", &mut leaves);
            for (k, v) in leaves {
                if k == "base" {
                    continue;
                }
                set_key(&mut root, &k, v).map_err(|e| ConfigError(format!("{path}: {e}")))?;
            }
        } else {
            root = preset_table(base)?;
        }
        for o in overrides {
            let (k, v) = o.split_once('=').ok_or_else(|| {
                ConfigError(format!("override '{o}': expected section.key=value"))
            })?;
            set_key(&mut root, k.trim(), parse_scalar(v))?;
        }
        let cfg: Config = toml::Value::Table(root)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError(format!("configuration: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Check ranges and shapes; errors name the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |k: &str, m: String| Err(ConfigError(format!("{k}: {m}")));
        let c = &self.core;
        if !(c.frequency_ghz > 0.0 && c.frequency_ghz < 100.0) {
            return err(
                "core.frequency_ghz",
                format!("{} is not a plausible clock", c.frequency_ghz),
            );
        }
        for (k, v, max) in [
            ("core.dispatch_width", c.dispatch_width, 16),
            ("core.rob_size", c.rob_size, MAX_QUEUE_ENTRIES),
            ("core.issue_queue", c.issue_queue, MAX_QUEUE_ENTRIES),
            ("core.load_queue", c.load_queue, MAX_QUEUE_ENTRIES),
            ("core.store_queue", c.store_queue, MAX_QUEUE_ENTRIES),
            ("core.alu_units", c.alu_units, 64),
            ("core.mul_units", c.mul_units, 64),
            ("core.fp_units", c.fp_units, 64),
            ("core.load_units", c.load_units, 64),
            ("core.store_units", c.store_units, 64),
            ("core.int_latency", c.int_latency, 1000),
            ("core.mul_latency", c.mul_latency, 1000),
            ("core.div_latency", c.div_latency, 1000),
            ("core.fp_latency", c.fp_latency, 1000),
        ] {
            if v == 0 || v > max {
                return err(k, format!("{v} out of range 1..={max}"));
            }
        }
        if c.rob_size < c.dispatch_width {
            return err(
                "core.rob_size",
                "must be at least core.dispatch_width".into(),
            );
        }
        let b = &self.bpred;
        for (k, v) in [
            ("bpred.table_entries", b.table_entries),
            ("bpred.btb_entries", b.btb_entries),
        ] {
            if v == 0 || !v.is_power_of_two() {
                return err(k, format!("{v} must be a power of two"));
            }
        }
        if b.btb_ways == 0
            || !b.btb_entries.is_multiple_of(b.btb_ways)
            || !(b.btb_entries / b.btb_ways).is_power_of_two()
        {
            return err(
                "bpred.btb_ways",
                format!(
                    "{} ways do not divide {} entries into a power-of-two number of sets",
                    b.btb_ways, b.btb_entries
                ),
            );
        }
        if b.history_bits == 0 || b.history_bits > 64 {
            return err(
                "bpred.history_bits",
                format!("{} out of range 1..=64", b.history_bits),
            );
        }
        if b.ras_depth == 0 || b.ras_depth > 1024 {
            return err(
                "bpred.ras_depth",
                format!("{} out of range 1..=1024", b.ras_depth),
            );
        }
        for (name, cc) in [
            ("l1i", &self.l1i),
            ("l1d", &self.l1d),
            ("l2", &self.l2),
            ("l3", &self.l3),
        ] {
            check_cache(name, cc)?;
        }
        for (name, t) in [("itlb", &self.itlb), ("dtlb", &self.dtlb)] {
            check_sets(name, t.entries, t.ways)?;
        }
        check_sets("stlb", self.stlb.entries, self.stlb.ways)?;
        let ps = self.stlb.page_size.0;
        if ps < 4096 || !ps.is_power_of_two() {
            return err(
                "stlb.page_size",
                format!(
                    "{} must be a power of two of at least 4KiB",
                    format_size(ps)
                ),
            );
        }
        if !(self.dram.latency_ns > 0.0 && self.dram.latency_ns < 100_000.0) {
            return err(
                "dram.latency_ns",
                format!("{} out of range", self.dram.latency_ns),
            );
        }
        if !(self.dram.bandwidth_gbps > 0.0 && self.dram.bandwidth_gbps < 100_000.0) {
            return err(
                "dram.bandwidth_gbps",
                format!("{} out of range", self.dram.bandwidth_gbps),
            );
        }
        let y = &self.system;
        if y.cores == 0 || y.cores > 256 {
            return err("system.cores", format!("{} out of range 1..=256", y.cores));
        }
        for (k, v, max) in [
            ("system.llc_shared_by", y.llc_shared_by, 256),
            ("system.cores_per_controller", y.cores_per_controller, 256),
            ("system.link_bytes_per_cycle", y.link_bytes_per_cycle, 1024),
        ] {
            if v == 0 || v > max {
                return err(k, format!("{v} out of range 1..={max}"));
            }
        }
        for (k, v) in [
            ("system.hop_latency", y.hop_latency),
            ("system.bus_latency", y.bus_latency),
            ("system.sync_latency", y.sync_latency),
        ] {
            if v > 100_000 {
                return err(k, format!("{v} out of range 0..=100000"));
            }
        }
        if y.mesh_width > 256 {
            return err(
                "system.mesh_width",
                format!("{} out of range 0..=256", y.mesh_width),
            );
        }
        if !(y.quantum_ns >= 1.0 && y.quantum_ns <= 1e6) {
            return err(
                "system.quantum_ns",
                format!("{} out of range 1..=1000000", y.quantum_ns),
            );
        }
        Ok(())
    }

    /// The quantum of simulated time between core synchronisations, in core cycles.
    pub fn quantum_cycles(&self) -> u64 {
        (self.system.quantum_ns * self.core.frequency_ghz)
            .round()
            .max(1.0) as u64
    }

    /// DRAM latency in core cycles.
    pub fn dram_latency_cycles(&self) -> u32 {
        (self.dram.latency_ns * self.core.frequency_ghz)
            .round()
            .max(1.0) as u32
    }

    /// Cycles one 64-byte line occupies the DRAM channel.
    pub fn dram_cycles_per_line(&self) -> f64 {
        LINE_BYTES as f64 * self.core.frequency_ghz / self.dram.bandwidth_gbps
    }

    /// The configuration as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

fn check_sets(name: &str, entries: u32, ways: u32) -> Result<(), ConfigError> {
    if ways == 0 {
        return Err(ConfigError(format!("{name}.ways: must be at least 1")));
    }
    if entries == 0 || !entries.is_multiple_of(ways) || !(entries / ways).is_power_of_two() {
        return Err(ConfigError(format!(
            "{name}.entries: {entries} entries / {ways} ways must give a power-of-two number of sets"
        )));
    }
    Ok(())
}

fn check_cache(name: &str, c: &CacheConfig) -> Result<(), ConfigError> {
    if c.ways == 0 || c.ways > 64 {
        return Err(ConfigError(format!(
            "{name}.ways: {} out of range 1..=64",
            c.ways
        )));
    }
    let lines = c.size.0 / LINE_BYTES;
    if !c.size.0.is_multiple_of(LINE_BYTES) || lines == 0 || !lines.is_multiple_of(c.ways as u64) {
        return Err(ConfigError(format!(
            "{name}.size: {} is not a whole number of {}-way sets of 64-byte lines",
            format_size(c.size.0),
            c.ways
        )));
    }
    let sets = lines / c.ways as u64;
    if !sets.is_power_of_two() {
        return Err(ConfigError(format!(
            "{name}.size: {} with {} ways gives {sets} sets, which is not a power of two",
            format_size(c.size.0),
            c.ways
        )));
    }
    if c.replacement == Replacement::TreePlru && !c.ways.is_power_of_two() {
        return Err(ConfigError(format!(
            "{name}.replacement: tree-plru needs a power-of-two number of ways, not {}",
            c.ways
        )));
    }
    if c.mshrs == 0 || c.mshrs > 256 {
        return Err(ConfigError(format!(
            "{name}.mshrs: {} out of range 1..=256",
            c.mshrs
        )));
    }
    if c.latency > 10_000 {
        return Err(ConfigError(format!(
            "{name}.latency: {} out of range",
            c.latency
        )));
    }
    if c.prefetch_degree > 16 {
        return Err(ConfigError(format!(
            "{name}.prefetch_degree: {} out of range 0..=16",
            c.prefetch_degree
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_load_and_validate() {
        for (name, _) in PRESETS {
            let c = Config::preset(name).unwrap();
            assert_eq!(&c.name, name);
        }
        let g = Config::preset("gainestown").unwrap();
        assert_eq!(g.l1d.size.0, 32 << 10);
        assert_eq!(g.dram_latency_cycles(), 120);
    }

    #[test]
    fn overrides_apply_and_unknown_keys_list_valid_ones() {
        let c = Config::build(
            "gainestown",
            None,
            &["l2.size=512KiB".into(), "core.dispatch_width=2".into()],
        )
        .unwrap();
        assert_eq!(c.l2.size.0, 512 << 10);
        assert_eq!(c.core.dispatch_width, 2);
        let e = Config::build("gainestown", None, &["l2.sise=1".into()])
            .unwrap_err()
            .0;
        assert!(
            e.contains("l2.sise") && e.contains("l2.size") && e.contains("core.rob_size"),
            "{e}"
        );
    }

    #[test]
    fn nonsense_values_name_the_key() {
        for (o, key) in [
            ("l1d.ways=0", "l1d.ways"),
            ("l2.size=300KiB", "l2.size"),
            ("l1d.latency=-3", "l1d.latency"),
            ("core.dispatch_width=abc", "core.dispatch_width"),
            ("stlb.page_size=3000", "stlb.page_size"),
            ("l3.replacement=magic", "configuration"),
        ] {
            let e = Config::build("gainestown", None, &[o.to_string()])
                .unwrap_err()
                .0;
            assert!(e.contains(key), "{o}: {e}");
        }
    }

    #[test]
    fn file_configs_merge_over_their_base() {
        let text = "base = \"bigcore\"\n[l1d]\nsize = \"96KiB\"\n";
        let c = Config::build("", Some(("x.toml", text)), &[]).unwrap();
        assert_eq!(c.l1d.size.0, 96 << 10);
        assert_eq!(c.core.dispatch_width, 6);
        let e = Config::build("", Some(("x.toml", "[l1d]\nbogus = 1\n")), &[])
            .unwrap_err()
            .0;
        assert!(e.contains("x.toml") && e.contains("l1d.bogus"), "{e}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("32KiB").unwrap(), 32768);
        assert_eq!(parse_size("8MB").unwrap(), 8 << 20);
        assert_eq!(parse_size("1.5KiB").unwrap(), 1536);
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(format_size(8 << 20), "8MiB");
    }
}
