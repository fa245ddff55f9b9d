//! Statistics: per-core counters, the CPI stack, and their text, JSON and SVG renderings.
//!
//! The CPI stack is kept in *dispatch slots*: every cycle offers `width` slots; each retired
//! instruction fills one (the base component) and every slot left empty is charged to exactly
//! one cause. The components therefore sum to `cycles × width` exactly, and dividing by the
//! width gives cycles that sum exactly to the total.

use crate::bpred::BranchStats;
use crate::memory::Level;
use crate::memory::UncoreStats;
use crate::memory::cache::CacheStats;
use crate::memory::tlb::TlbStats;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// A CPI-stack component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum Component {
    /// Useful work: one slot per instruction.
    Base = 0,
    /// Waiting for operands (dependence chains, long-latency arithmetic, a full window).
    Depend,
    /// Branch mispredictions and BTB-miss bubbles.
    Branch,
    /// Instruction fetch served by L2.
    IcacheL2,
    /// Instruction fetch served by L3.
    IcacheL3,
    /// Instruction fetch served by DRAM.
    IcacheDram,
    /// Loads served by L1.
    DcacheL1,
    /// Loads served by L2.
    DcacheL2,
    /// Loads served by L3.
    DcacheL3,
    /// Loads served by DRAM.
    DcacheDram,
    /// Address translation (TLB misses, page walks).
    Tlb,
    /// Serialising instructions draining the window.
    Serial,
    /// Multi-core: data from another core's cache, invalidations and upgrades (coherence).
    MemRemote,
    /// Multi-core: blocked in a synchronisation (barrier, lock/futex wait, join).
    Sync,
}

/// Number of components.
pub const COMPONENTS: usize = 14;

/// All components in stacking order.
pub const ALL: [Component; COMPONENTS] = [
    Component::Base,
    Component::Depend,
    Component::Branch,
    Component::IcacheL2,
    Component::IcacheL3,
    Component::IcacheDram,
    Component::DcacheL1,
    Component::DcacheL2,
    Component::DcacheL3,
    Component::DcacheDram,
    Component::Tlb,
    Component::Serial,
    Component::MemRemote,
    Component::Sync,
];

impl Component {
    /// Display name, as in the text table and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Component::Base => "base",
            Component::Depend => "depend",
            Component::Branch => "branch",
            Component::IcacheL2 => "icache-l2",
            Component::IcacheL3 => "icache-l3",
            Component::IcacheDram => "icache-dram",
            Component::DcacheL1 => "dcache-l1",
            Component::DcacheL2 => "dcache-l2",
            Component::DcacheL3 => "dcache-l3",
            Component::DcacheDram => "dcache-dram",
            Component::Tlb => "tlb",
            Component::Serial => "serial",
            Component::MemRemote => "mem-remote",
            Component::Sync => "sync",
        }
    }

    /// Component for a load served at `level`.
    #[inline]
    pub fn dcache(level: Level) -> Component {
        match level {
            Level::L1 => Component::DcacheL1,
            Level::L2 => Component::DcacheL2,
            Level::L3 => Component::DcacheL3,
            Level::Dram => Component::DcacheDram,
            Level::Remote => Component::MemRemote,
        }
    }

    /// Component for an instruction fetch served at `level` (an L1 hit waiting for a line in
    /// flight is charged to L2).
    #[inline]
    pub fn icache(level: Level) -> Component {
        match level {
            Level::L1 | Level::L2 => Component::IcacheL2,
            Level::L3 => Component::IcacheL3,
            Level::Dram => Component::IcacheDram,
            Level::Remote => Component::MemRemote,
        }
    }
}

/// Slots per component.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpiStack {
    /// Dispatch width (slots per cycle).
    pub width: u32,
    /// Slots charged to each component, indexed by `Component as usize`.
    pub slots: [u64; COMPONENTS],
}

impl CpiStack {
    /// Empty stack for a core of `width`.
    pub fn new(width: u32) -> CpiStack {
        CpiStack {
            width,
            slots: [0; COMPONENTS],
        }
    }
    /// Charge `n` slots to `c`.
    #[inline]
    pub fn add(&mut self, c: Component, n: u64) {
        self.slots[c as usize] += n;
    }
    /// Cycles charged to `c`.
    pub fn cycles(&self, c: Component) -> f64 {
        self.slots[c as usize] as f64 / self.width as f64
    }
    /// Total slots (= cycles × width).
    pub fn total_slots(&self) -> u64 {
        self.slots.iter().sum()
    }
}

/// Everything measured for one core.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoreStats {
    /// Instructions retired.
    pub instructions: u64,
    /// Cycles elapsed.
    pub cycles: u64,
    /// Instructions with a memory read.
    pub loads: u64,
    /// Instructions with a memory write.
    pub stores: u64,
    /// Branch prediction.
    pub branch: BranchStats,
    /// CPI stack (slots).
    pub cpi: CpiStack,
    /// L1 instruction cache.
    pub l1i: CacheStats,
    /// L1 data cache.
    pub l1d: CacheStats,
    /// L2.
    pub l2: CacheStats,
    /// TLBs.
    pub tlb: TlbStats,
}

impl CoreStats {
    /// Instructions per cycle.
    pub fn ipc(&self) -> f64 {
        if self.cycles == 0 {
            0.0
        } else {
            self.instructions as f64 / self.cycles as f64
        }
    }
    /// Cycles per instruction.
    pub fn cpi(&self) -> f64 {
        if self.instructions == 0 {
            0.0
        } else {
            self.cycles as f64 / self.instructions as f64
        }
    }
    fn per_ki(&self, n: u64) -> f64 {
        if self.instructions == 0 {
            0.0
        } else {
            n as f64 * 1000.0 / self.instructions as f64
        }
    }
}

/// One simulation's results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Label (workload or trace).
    pub label: String,
    /// Configuration name.
    pub config: String,
    /// Core model ("interval" or "rob").
    pub model: String,
    /// Core clock in GHz.
    pub frequency_ghz: f64,
    /// The core.
    pub core: CoreStats,
    /// LLC and DRAM.
    pub uncore: UncoreStats,
    /// Host seconds spent simulating (after warm-up).
    pub wall_seconds: f64,
}

impl RunStats {
    /// Simulated instructions per host second, in millions.
    pub fn mips(&self) -> f64 {
        if self.wall_seconds <= 0.0 {
            0.0
        } else {
            self.core.instructions as f64 / self.wall_seconds / 1e6
        }
    }

    /// DRAM bandwidth in GB/s of simulated time.
    pub fn dram_gbps(&self) -> f64 {
        let secs = self.core.cycles as f64 / (self.frequency_ghz * 1e9);
        if secs == 0.0 {
            return 0.0;
        }
        (self.uncore.dram.reads + self.uncore.dram.writes) as f64 * 64.0 / secs / 1e9
    }

    /// A text report like Sniper's `sim.out`.
    pub fn to_text(&self) -> String {
        let c = &self.core;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} | config {} | model {}",
            self.label, self.config, self.model
        );
        let row = |s: &mut String, k: &str, v: String| {
            let _ = writeln!(s, "  {k:<28}| {v:>14}");
        };
        row(&mut s, "Instructions", c.instructions.to_string());
        row(&mut s, "Cycles", c.cycles.to_string());
        row(&mut s, "IPC", format!("{:.3}", c.ipc()));
        row(&mut s, "CPI", format!("{:.3}", c.cpi()));
        row(
            &mut s,
            "Time (ns)",
            format!("{:.0}", c.cycles as f64 / self.frequency_ghz),
        );
        let _ = writeln!(s, "Branch predictor");
        row(&mut s, "  branches", c.branch.branches.to_string());
        row(&mut s, "  mispredictions", c.branch.mispredicts.to_string());
        row(
            &mut s,
            "  misprediction rate",
            format!(
                "{:.2}%",
                100.0 * c.branch.mispredicts as f64 / c.branch.branches.max(1) as f64
            ),
        );
        row(
            &mut s,
            "  MPKI",
            format!("{:.2}", c.per_ki(c.branch.mispredicts)),
        );
        row(&mut s, "  BTB misses", c.branch.btb_misses.to_string());
        for (name, cs) in [
            ("L1-I", c.l1i),
            ("L1-D", c.l1d),
            ("L2", c.l2),
            ("L3", self.uncore.l3),
        ] {
            let _ = writeln!(s, "Cache {name}");
            row(&mut s, "  accesses", cs.accesses().to_string());
            row(&mut s, "  misses", cs.misses().to_string());
            row(
                &mut s,
                "  miss rate",
                format!(
                    "{:.2}%",
                    100.0 * cs.misses() as f64 / cs.accesses().max(1) as f64
                ),
            );
            row(&mut s, "  MPKI", format!("{:.2}", c.per_ki(cs.misses())));
            if cs.prefetches > 0 {
                row(
                    &mut s,
                    "  prefetches (useful)",
                    format!("{} ({})", cs.prefetches, cs.useful_prefetches),
                );
            }
        }
        let _ = writeln!(s, "TLB");
        row(&mut s, "  ITLB misses", c.tlb.itlb_misses.to_string());
        row(&mut s, "  DTLB misses", c.tlb.dtlb_misses.to_string());
        row(&mut s, "  page walks", c.tlb.walks.to_string());
        let _ = writeln!(s, "DRAM");
        row(&mut s, "  reads", self.uncore.dram.reads.to_string());
        row(&mut s, "  writes", self.uncore.dram.writes.to_string());
        row(
            &mut s,
            "  bandwidth (GB/s)",
            format!("{:.2}", self.dram_gbps()),
        );
        row(
            &mut s,
            "  avg queue delay (cycles)",
            format!(
                "{:.1}",
                self.uncore.dram.queue_cycles as f64 / self.uncore.dram.reads.max(1) as f64
            ),
        );
        let _ = writeln!(s, "CPI stack");
        let total = c.cpi.total_slots().max(1) as f64;
        for comp in ALL {
            let cyc = c.cpi.cycles(comp);
            if c.cpi.slots[comp as usize] == 0 {
                continue;
            }
            row(
                &mut s,
                &format!("  {}", comp.name()),
                format!(
                    "{:.4} {:>5.1}%",
                    cyc / c.instructions.max(1) as f64,
                    100.0 * c.cpi.slots[comp as usize] as f64 / total
                ),
            );
        }
        row(&mut s, "  total", format!("{:.4}", c.cpi()));
        if self.wall_seconds > 0.0 {
            let _ = writeln!(s, "Simulation");
            row(
                &mut s,
                "  host seconds",
                format!("{:.3}", self.wall_seconds),
            );
            row(&mut s, "  MIPS", format!("{:.2}", self.mips()));
        }
        s
    }
}

const COLORS: [(u8, u8, u8); COMPONENTS] = [
    (76, 114, 176),
    (221, 132, 82),
    (196, 78, 82),
    (129, 114, 179),
    (147, 120, 96),
    (218, 139, 195),
    (140, 140, 140),
    (204, 185, 116),
    (100, 181, 205),
    (85, 168, 104),
    (170, 170, 60),
    (60, 60, 60),
    (227, 74, 51),
    (255, 196, 0),
];

/// The colour a component is drawn in.
pub fn component_color(c: Component) -> (u8, u8, u8) {
    COLORS[c as usize]
}

/// Draw the CPI stacks of several runs side by side as stacked bars into an SVG file
/// (written through a temporary file and renamed).
pub fn write_cpi_svg(path: &std::path::Path, runs: &[RunStats], title: &str) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let width = (220 + 110 * runs.len() as u32).max(640);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let ymax = runs
            .iter()
            .map(|r| r.core.cpi())
            .fold(0.0f64, f64::max)
            .max(0.1)
            * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .margin_right(170)
            .x_label_area_size(60)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..runs.len() as f64, 0f64..ymax)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(runs.len().max(1))
            .x_label_formatter(&|x| {
                let i = (*x - 0.5).round() as usize;
                runs.get(i).map(|r| r.label.clone()).unwrap_or_default()
            })
            .y_desc("CPI")
            .draw()?;
        for (k, comp) in ALL.iter().enumerate() {
            let (r, g, b) = COLORS[k];
            let color = RGBColor(r, g, b);
            let bars: Vec<_> = runs
                .iter()
                .enumerate()
                .map(|(i, run)| {
                    let per =
                        |c: Component| run.core.cpi.cycles(c) / run.core.instructions.max(1) as f64;
                    let below: f64 = ALL[..k].iter().map(|&c| per(c)).sum();
                    let h = per(*comp);
                    Rectangle::new(
                        [(i as f64 + 0.15, below), (i as f64 + 0.85, below + h)],
                        color.filled(),
                    )
                })
                .collect();
            chart
                .draw_series(bars)?
                .label(comp.name())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .margin(5)
            .legend_area_size(15)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.9))
            .draw()?;
        root.present()?;
    }
    write_atomic(path, svg.as_bytes())
}

/// Write `bytes` to `path` through a temporary file in the same directory.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "out".into());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}
