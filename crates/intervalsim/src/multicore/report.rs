//! Results of a multi-core run: per-core statistics and coherence counters, the shared
//! levels, text and JSON renderings, and a picture of every core's CPI stack.

use crate::dram::DramStats;
use crate::memory::cache::CacheStats;
use crate::memory::coherence::ProtocolStats;
use crate::noc::NocStats;
use crate::stats::{ALL, Component, CoreStats, write_atomic};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Misses to the shared levels of one core, by cause, and its coherence traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoherenceStats {
    /// First request for a line by this core (compulsory).
    pub cold: u64,
    /// Requests for a line this core had before and lost to its own evictions
    /// (capacity and conflict).
    pub capacity: u64,
    /// Requests for a line another core's write invalidated, touching the word that write
    /// touched (true sharing).
    pub true_sharing: u64,
    /// … touching another word of the line (false sharing).
    pub false_sharing: u64,
    /// Writes to lines held shared (upgrade misses).
    pub upgrades: u64,
    /// Copies this core lost to other cores' writes.
    pub invalidated: u64,
    /// Lines this core received from another core's cache.
    pub remote: u64,
    /// Lines served by the LLC.
    pub llc_hits: u64,
    /// Lines read from DRAM for this core.
    pub dram_reads: u64,
    /// Cycles this core was stalled at barriers because DRAM answered later than estimated
    /// (its clock moved to the latest late load's real completion).
    pub debt_cycles: u64,
}

impl CoherenceStats {
    /// Coherence misses (true plus false sharing).
    pub fn coherence(&self) -> u64 {
        self.true_sharing + self.false_sharing
    }
    pub(crate) fn add(&mut self, o: &CoherenceStats) {
        self.cold += o.cold;
        self.capacity += o.capacity;
        self.true_sharing += o.true_sharing;
        self.false_sharing += o.false_sharing;
        self.upgrades += o.upgrades;
        self.invalidated += o.invalidated;
        self.remote += o.remote;
        self.llc_hits += o.llc_hits;
        self.dram_reads += o.dram_reads;
        self.debt_cycles += o.debt_cycles;
    }
}

/// One core's results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoreResult {
    /// Core counters and CPI stack.
    pub stats: CoreStats,
    /// Misses by cause and coherence traffic.
    pub coherence: CoherenceStats,
    /// Cycle its thread finished.
    pub finish_cycle: u64,
}

/// How the host ran the simulation (not part of the simulated results).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostStats {
    /// Worker threads.
    pub threads: usize,
    /// Seconds of simulation.
    pub wall_seconds: f64,
    /// Peak resident memory of the process (bytes; 0 when unknown).
    pub peak_rss_bytes: u64,
    /// Seconds spent at the quantum barriers (their parallel parts and the serial rest).
    pub serial_seconds: f64,
    /// Host CPU seconds (user + system) of the process during the simulation (0 when
    /// unknown); unlike wall time, not inflated by other processes on a loaded host.
    pub cpu_seconds: f64,
    /// With `INTERVALSIM_HOST_PROFILE=1` (else 0): host CPU seconds along the critical path —
    /// the calling thread's serial work plus, for every parallel phase, the CPU time of the
    /// costliest worker's share of it — what the run would take on an otherwise idle host,
    /// measured in per-thread CPU time, which other load does not inflate.
    #[serde(default)]
    pub critical_path_seconds: f64,
}

/// The results of a multi-core run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiStats {
    /// Workload or trace label.
    pub label: String,
    /// Configuration name.
    pub config: String,
    /// Core clock (GHz).
    pub frequency_ghz: f64,
    /// Network kind.
    pub network: String,
    /// Quantum length (cycles).
    pub quantum_cycles: u64,
    /// Quanta simulated.
    pub quanta: u64,
    /// Simulated time: the cycle the last thread finished.
    pub cycles: u64,
    /// LLC slices.
    pub slices: u32,
    /// Per core.
    pub cores: Vec<CoreResult>,
    /// All LLC slices together.
    pub llc: CacheStats,
    /// Per DRAM controller.
    pub dram: Vec<DramStats>,
    /// Configured bandwidth of each controller (GB/s).
    pub dram_bandwidth_gbps: f64,
    /// Directory counters.
    pub protocol: ProtocolStats,
    /// Network counters.
    pub noc: NocStats,
    /// Host-side figures.
    pub host: HostStats,
}

/// CPU seconds (user + system) this process has used, from `/proc/self/stat` (0 elsewhere).
pub fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // fields after the command name (which may contain spaces) in parentheses
    let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the state field
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set of this process in bytes, from `/proc/self/status` (0 elsewhere).
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

impl MultiStats {
    /// Instructions over all cores.
    pub fn instructions(&self) -> u64 {
        self.cores.iter().map(|c| c.stats.instructions).sum()
    }

    /// Aggregate IPC: all instructions over the simulated time.
    pub fn ipc(&self) -> f64 {
        self.instructions() as f64 / self.cycles.max(1) as f64
    }

    /// Simulated seconds.
    pub fn seconds(&self) -> f64 {
        self.cycles as f64 / (self.frequency_ghz * 1e9)
    }

    /// DRAM traffic (reads + writes) in GB/s of simulated time.
    pub fn dram_gbps(&self) -> f64 {
        let lines: u64 = self.dram.iter().map(|d| d.reads + d.writes).sum();
        if self.cycles == 0 {
            return 0.0;
        }
        lines as f64 * 64.0 / self.seconds() / 1e9
    }

    /// Configured DRAM bandwidth of the whole system (GB/s).
    pub fn dram_peak_gbps(&self) -> f64 {
        self.dram_bandwidth_gbps * self.dram.len() as f64
    }

    /// Aggregate simulated MIPS (instructions per host second, millions).
    pub fn mips(&self) -> f64 {
        if self.host.wall_seconds <= 0.0 {
            0.0
        } else {
            self.instructions() as f64 / self.host.wall_seconds / 1e6
        }
    }

    /// Sum of every core's coherence counters.
    pub fn coherence_total(&self) -> CoherenceStats {
        let mut t = CoherenceStats::default();
        for c in &self.cores {
            t.add(&c.coherence);
        }
        t
    }

    /// The results with the host-side figures cleared (what must not depend on the host).
    pub fn simulated(&self) -> MultiStats {
        MultiStats {
            host: HostStats::default(),
            ..self.clone()
        }
    }

    /// Text report: aggregate figures, shared levels, one row per core, CPI stacks.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let n = self.cores.len();
        let _ = writeln!(
            s,
            "{} | config {} | {n} cores | network {} | {} LLC slices | {} DRAM controllers",
            self.label,
            self.config,
            self.network,
            self.slices,
            self.dram.len()
        );
        let row = |s: &mut String, k: &str, v: String| {
            let _ = writeln!(s, "  {k:<30}| {v:>16}");
        };
        row(&mut s, "Instructions", self.instructions().to_string());
        row(&mut s, "Cycles (last thread done)", self.cycles.to_string());
        row(&mut s, "Time (ns)", format!("{:.0}", self.seconds() * 1e9));
        row(&mut s, "Aggregate IPC", format!("{:.3}", self.ipc()));
        row(
            &mut s,
            "Quanta",
            format!("{} of {} cycles", self.quanta, self.quantum_cycles),
        );
        let t = self.coherence_total();
        let _ = writeln!(s, "Shared-level misses by cause");
        row(&mut s, "  cold", t.cold.to_string());
        row(&mut s, "  capacity/conflict", t.capacity.to_string());
        row(&mut s, "  true sharing", t.true_sharing.to_string());
        row(&mut s, "  false sharing", t.false_sharing.to_string());
        row(&mut s, "  upgrades", t.upgrades.to_string());
        let p = &self.protocol;
        let _ = writeln!(s, "Coherence");
        row(&mut s, "  invalidations", p.invalidations.to_string());
        row(&mut s, "  downgrades", p.downgrades.to_string());
        row(&mut s, "  cache-to-cache transfers", p.forwards.to_string());
        row(&mut s, "  dirty writebacks", p.writebacks.to_string());
        row(
            &mut s,
            "  LLC back-invalidations",
            p.llc_evictions.to_string(),
        );
        let _ = writeln!(s, "LLC");
        row(&mut s, "  accesses", self.llc.accesses().to_string());
        row(
            &mut s,
            "  miss rate",
            format!(
                "{:.2}%",
                100.0 * self.llc.misses() as f64 / self.llc.accesses().max(1) as f64
            ),
        );
        let _ = writeln!(s, "DRAM");
        let reads: u64 = self.dram.iter().map(|d| d.reads).sum();
        let writes: u64 = self.dram.iter().map(|d| d.writes).sum();
        let queue: u64 = self.dram.iter().map(|d| d.queue_cycles).sum();
        row(&mut s, "  reads / writes", format!("{reads} / {writes}"));
        row(
            &mut s,
            "  bandwidth (GB/s)",
            format!("{:.2} of {:.1}", self.dram_gbps(), self.dram_peak_gbps()),
        );
        row(
            &mut s,
            "  utilisation",
            format!("{:.1}%", 100.0 * self.dram_gbps() / self.dram_peak_gbps()),
        );
        row(
            &mut s,
            "  avg queue delay (cycles)",
            format!("{:.1}", queue as f64 / reads.max(1) as f64),
        );
        let _ = writeln!(s, "Network");
        row(&mut s, "  messages", self.noc.messages.to_string());
        row(
            &mut s,
            "  mean latency (cycles)",
            format!("{:.1}", self.noc.mean_latency()),
        );
        row(
            &mut s,
            "  link utilisation mean / max",
            format!(
                "{:.1}% / {:.1}%",
                100.0 * self.noc.mean_utilisation(self.cycles),
                100.0 * self.noc.max_utilisation(self.cycles)
            ),
        );
        let _ = writeln!(s, "Per core");
        let _ = writeln!(
            s,
            "  {:>4} {:>11} {:>10} {:>6} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "core",
            "instr",
            "cycles",
            "IPC",
            "L1D-MK",
            "L2-MK",
            "cold",
            "capacity",
            "true-sh",
            "false-sh",
            "inval"
        );
        for (i, c) in self.cores.iter().enumerate() {
            let k = c.stats.instructions.max(1) as f64 / 1000.0;
            let _ = writeln!(
                s,
                "  {:>4} {:>11} {:>10} {:>6.3} {:>7.2} {:>7.2} {:>8} {:>8} {:>8} {:>8} {:>8}",
                i,
                c.stats.instructions,
                c.stats.cycles,
                c.stats.ipc(),
                c.stats.l1d.misses() as f64 / k,
                c.stats.l2.misses() as f64 / k,
                c.coherence.cold,
                c.coherence.capacity,
                c.coherence.true_sharing,
                c.coherence.false_sharing,
                c.coherence.invalidated
            );
        }
        let _ = writeln!(s, "CPI stacks (cycles per instruction)");
        let used: Vec<Component> = ALL
            .iter()
            .copied()
            .filter(|&k| self.cores.iter().any(|c| c.stats.cpi.slots[k as usize] > 0))
            .collect();
        let _ = write!(s, "  {:>4}", "core");
        for k in &used {
            let _ = write!(s, " {:>11}", k.name());
        }
        let _ = writeln!(s, " {:>8}", "total");
        let mut agg = [0f64; crate::stats::COMPONENTS];
        let mut agg_instr = 0u64;
        for (i, c) in self.cores.iter().enumerate() {
            let instr = c.stats.instructions.max(1) as f64;
            let _ = write!(s, "  {i:>4}");
            for &k in &used {
                let v = c.stats.cpi.cycles(k);
                agg[k as usize] += v;
                let _ = write!(s, " {:>11.4}", v / instr);
            }
            agg_instr += c.stats.instructions;
            let _ = writeln!(s, " {:>8.4}", c.stats.cpi());
        }
        let _ = write!(s, "  {:>4}", "all");
        let ai = agg_instr.max(1) as f64;
        let mut total = 0.0;
        for &k in &used {
            total += agg[k as usize] / ai;
            let _ = write!(s, " {:>11.4}", agg[k as usize] / ai);
        }
        let _ = writeln!(s, " {total:>8.4}");
        if self.host.wall_seconds > 0.0 {
            let _ = writeln!(s, "Simulation");
            row(&mut s, "  host threads", self.host.threads.to_string());
            row(
                &mut s,
                "  host seconds",
                format!("{:.3}", self.host.wall_seconds),
            );
            row(&mut s, "  aggregate MIPS", format!("{:.2}", self.mips()));
            row(
                &mut s,
                "  barrier share",
                format!(
                    "{:.1}%",
                    100.0 * self.host.serial_seconds / self.host.wall_seconds
                ),
            );
            if self.host.cpu_seconds > 0.0 {
                row(
                    &mut s,
                    "  MIPS per host CPU second",
                    format!(
                        "{:.2}",
                        self.instructions() as f64 / self.host.cpu_seconds / 1e6
                    ),
                );
            }
            if self.host.peak_rss_bytes > 0 {
                row(
                    &mut s,
                    "  peak memory per core (KiB)",
                    format!(
                        "{:.0}",
                        self.host.peak_rss_bytes as f64 / 1024.0 / n.max(1) as f64
                    ),
                );
            }
        }
        s
    }

    /// Draw every core's CPI stack as a stacked bar (plus the average) into an SVG file.
    pub fn write_svg(&self, path: &std::path::Path) -> anyhow::Result<()> {
        use plotters::prelude::*;
        let n = self.cores.len();
        let bars = n + 1;
        let width = (260 + 22 * bars as u32).clamp(720, 6000);
        let per = |c: &CoreStats, k: Component| c.cpi.cycles(k) / c.instructions.max(1) as f64;
        let mut avg = CoreStats::default();
        for c in &self.cores {
            avg.instructions += c.stats.instructions;
            avg.cycles += c.stats.cycles;
            avg.cpi.width = c.stats.cpi.width;
            for k in 0..crate::stats::COMPONENTS {
                avg.cpi.slots[k] += c.stats.cpi.slots[k];
            }
        }
        let stacks: Vec<(String, &CoreStats)> = self
            .cores
            .iter()
            .enumerate()
            .map(|(i, c)| (i.to_string(), &c.stats))
            .chain(std::iter::once(("avg".to_string(), &avg)))
            .collect();
        let ymax = stacks
            .iter()
            .map(|(_, c)| c.cpi())
            .fold(0.0f64, f64::max)
            .max(0.1)
            * 1.1;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, 480)).into_drawing_area();
            root.fill(&WHITE)?;
            let title = format!("CPI stacks, {} cores — {} ({})", n, self.label, self.config);
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 18))
                .margin(12)
                .margin_right(150)
                .x_label_area_size(40)
                .y_label_area_size(50)
                .build_cartesian_2d(-0.5f64..bars as f64 - 0.5, 0f64..ymax)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(bars.min(33))
                .x_label_formatter(&|x| {
                    if (x - x.round()).abs() > 1e-6 || *x < 0.0 {
                        return String::new();
                    }
                    let i = x.round() as usize;
                    if i == n {
                        "avg".into()
                    } else if i < n {
                        i.to_string()
                    } else {
                        String::new()
                    }
                })
                .x_desc("core")
                .y_desc("CPI")
                .draw()?;
            let mut legend: Vec<(&str, RGBColor)> = Vec::new();
            for (k, comp) in ALL.iter().enumerate() {
                if stacks.iter().all(|(_, c)| c.cpi.slots[*comp as usize] == 0) {
                    continue;
                }
                let (r, g, b) = crate::stats::component_color(*comp);
                let color = RGBColor(r, g, b);
                let rects: Vec<_> = stacks
                    .iter()
                    .enumerate()
                    .map(|(i, (_, c))| {
                        let below: f64 = ALL[..k].iter().map(|&x| per(c, x)).sum();
                        let h = per(c, *comp);
                        Rectangle::new(
                            [(i as f64 - 0.4, below), (i as f64 + 0.4, below + h)],
                            color.filled(),
                        )
                    })
                    .collect();
                chart.draw_series(rects)?;
                legend.push((comp.name(), color));
            }
            // the legend in the right margin, top component first
            let x0 = width as i32 - 140;
            for (j, (name, color)) in legend.iter().rev().enumerate() {
                let y = 50 + 20 * j as i32;
                root.draw(&Rectangle::new(
                    [(x0, y - 6), (x0 + 12, y + 6)],
                    color.filled(),
                ))?;
                root.draw(&Text::new(
                    name.to_string(),
                    (x0 + 18, y - 7),
                    ("sans-serif", 13),
                ))?;
            }
            root.present()?;
        }
        write_atomic(path, svg.as_bytes())
    }
}
