//! The oscilloscope view: record the simulated board for a while, then draw
//! the waveform as an SVG timing diagram or print the measurements.
//!
//! The SVG is written by hand (a timing diagram is a few polylines), which
//! keeps it small, crisp and diffable.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::backend::sim::{Recording, SimBackend};
use crate::board::{BLANK_CODE, Levels, Signal, TUBES, k155id1_output};
use crate::config::Config;
use crate::mux::{
    Frame, FrameCell, Multiplexer, MuxReport, RealTimer, RealtimeStatus, Spin, Timer, Timing,
    VirtualTimer, prepare_thread,
};
use crate::wave::{Analysis, Stats, analyse};

/// A finished simulated run.
#[derive(Clone, Debug)]
pub struct Run {
    /// Every write.
    pub recording: Recording,
    /// Start of the slot grid.
    pub origin_ns: u64,
    /// Timing used.
    pub timing: Timing,
    /// Lateness of every timed anode edge against its deadline (ns).
    pub lateness: Stats,
    /// Slots skipped because the thread woke after they had ended.
    pub missed_slots: u64,
    /// Real-time settings in effect (real-time runs).
    pub realtime: Option<RealtimeStatus>,
    /// Recorded in virtual time (ideal timing) rather than real time.
    pub virtual_time: bool,
}

impl Run {
    /// Measures the run.
    pub fn analyse(&self) -> Analysis {
        analyse(&self.recording, &self.timing, self.origin_ns)
    }
}

/// Runs the multiplexer on the simulated board for `frames` frames showing
/// `frame`, in real time (`virtual_time = false`: real sleeps, real
/// jitter) or in virtual time (instant and deterministic).
pub fn record(cfg: &Config, frame: Frame, frames: u64, virtual_time: bool) -> Result<Run> {
    let timing = cfg.timing();
    // Enough room for every write (at most ~12 per slot), up to 4 Mi writes
    // (64 MiB); longer runs are marked truncated in the report.
    let capacity = (frames as usize * TUBES * 12).clamp(64, 1 << 22);
    let (sim, probe) = SimBackend::new(capacity);
    let cell = Arc::new(FrameCell::new(frame));
    let edges = (frames as usize * TUBES * 2 + 64).min(1 << 22);
    let go = |timer: Box<dyn Timer>, rt: Option<&Config>| -> Result<_> {
        let mut mux = Multiplexer::new(timing, cfg.cathode_map(), sim, timer, cell);
        mux.log_lateness(edges);
        // Every buffer is in place before memory is locked.
        let realtime = rt.map(|c| prepare_thread(c.realtime()));
        let origin = mux.restart_grid();
        mux.run_until(origin + frames * TUBES as u64 * timing.slot_ns())?;
        mux.all_off()?;
        let lateness = Stats::of(&mut mux.lateness().to_vec());
        let missed = mux.missed_slots();
        let (_, mut timer) = mux.into_parts();
        Ok((origin, timer.now_ns(), lateness, missed, realtime))
    };
    let (origin_ns, end, lateness, missed_slots, realtime) = if virtual_time {
        go(Box::new(VirtualTimer::exact(1_000_000)), None)?
    } else {
        go(Box::new(RealTimer::new(&timing)), Some(cfg))?
    };
    let mut recording = probe.recording(end);
    // Analyse whole frames only: drop the final all-off write's tail.
    recording.clip(origin_ns + frames * TUBES as u64 * timing.slot_ns());
    Ok(Run {
        recording,
        origin_ns,
        timing,
        lateness,
        missed_slots,
        realtime,
        virtual_time,
    })
}

/// The report printed by `nixie sim --report`.
pub fn report(run: &Run, a: &Analysis) -> String {
    let t = &run.timing;
    let mut s = String::new();
    let us = |ns: u64| ns as f64 / 1000.0;
    let _ = writeln!(
        s,
        "simulated run: {:.3} s, {} writes{}",
        a.duration_ns as f64 / 1e9,
        run.recording.samples.len(),
        if run.recording.truncated {
            " (recording truncated)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "frame rate     {:.2} Hz (configured {} Hz, slot {:.0} µs, blank {:.0} µs)",
        a.frame_hz,
        t.frame_hz,
        us(t.slot_ns()),
        us(t.blank_ns)
    );
    let duty = a.duty();
    let _ = writeln!(
        s,
        "duty per tube  {}  (max possible {:.2} %), spread {:.3} %",
        duty.iter()
            .map(|d| format!("{:.2} %", d * 100.0))
            .collect::<Vec<_>>()
            .join("  "),
        t.max_on_ns() as f64 / t.slot_ns() as f64 / TUBES as f64 * 100.0,
        a.on_time_spread() * 100.0
    );
    let _ = writeln!(
        s,
        "blank width    min {:.1} µs  p50 {:.1} µs  max {:.1} µs  ({} blanks)",
        us(a.blank.min),
        us(a.blank.p50),
        us(a.blank.max),
        a.blank.count
    );
    let _ = writeln!(
        s,
        "edge jitter    {}",
        jitter_line(&run.lateness, run.missed_slots)
    );
    if let Some(rt) = &run.realtime {
        let _ = writeln!(s, "real time      {rt}");
    }
    if a.violations.is_empty() {
        let _ = writeln!(
            s,
            "invariants     ok: never two anodes on, BCD stable while lit, blank ≥ {:.0} µs, on-time equal within 1 %",
            us(t.blank_ns)
        );
    } else {
        let _ = writeln!(s, "invariants     {} VIOLATIONS:", a.violations.len());
        for v in a.violations.iter().take(20) {
            let _ = writeln!(s, "  {v}");
        }
    }
    s
}

/// "p50 … µs  p99 … µs  max … µs" with `digits` decimals.
fn quantiles(l: &Stats, digits: usize) -> String {
    let us = |ns: u64| ns as f64 / 1000.0;
    format!(
        "p50 {:.digits$} µs  p99 {:.digits$} µs  max {:.1} µs",
        us(l.p50),
        us(l.p99),
        us(l.max)
    )
}

fn jitter_line(l: &Stats, missed_slots: u64) -> String {
    format!(
        "{}  ({} anode edges, {} missed slots; lateness of the finished pin write vs deadline)",
        quantiles(l, 1),
        l.count,
        missed_slots
    )
}

/// The machine's CPU time counters from `/proc/stat`: (steal, total) in
/// clock ticks, summed over all CPUs. Steal is time a virtual machine's
/// CPUs were ready to run but the hypervisor ran something else.
pub fn host_cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_ticks(&stat)
}

fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    (v.len() == 8).then(|| (v[7], v.iter().sum()))
}

/// The report printed by `nixie --report` when the daemon stops: edge
/// lateness, wake-up lateness, the spin, CPU use and the hypervisor's steal.
/// `process_cpu_ns` and `wall_ns` are the whole daemon's CPU time and
/// lifetime; `host_ticks` the [`host_cpu_ticks`] at its start and end.
pub fn daemon_report(
    report: &MuxReport,
    timing: &Timing,
    backend: &str,
    process_cpu_ns: u64,
    wall_ns: u64,
    host_ticks: Option<((u64, u64), (u64, u64))>,
) -> String {
    let mut s = String::new();
    let us = |ns: u64| ns as f64 / 1000.0;
    let pct = |ns: u64, of: u64| ns as f64 / of.max(1) as f64 * 100.0;
    let _ = writeln!(
        s,
        "daemon run     {:.2} s on the {backend} backend, {} Hz; {}",
        wall_ns as f64 / 1e9,
        timing.frame_hz,
        report.realtime
    );
    let edges = Stats::of(&mut report.edge_lateness.clone());
    let _ = writeln!(
        s,
        "edge jitter    {}",
        jitter_line(&edges, report.missed_slots)
    );
    let writes = Stats::of(&mut report.write_ns.clone());
    let _ = writeln!(
        s,
        "pin writes     {}  ({} writes; issue to return, part of the edge lateness)",
        quantiles(&writes, 2),
        writes.count
    );
    let wakes = Stats::of(&mut report.wake_lateness.clone());
    let _ = writeln!(
        s,
        "wake-ups       {}  ({} wakes; clock_nanosleep lateness before the spin)",
        quantiles(&wakes, 1),
        wakes.count
    );
    let mode = match timing.spin {
        Spin::Off => "off",
        Spin::Fixed(_) => "fixed",
        Spin::Adaptive { .. } => "adaptive",
    };
    let _ = writeln!(
        s,
        "spin           {mode}, margin {:.1} µs at the end (cap {:.1} µs); {:.2} % of a core spinning",
        us(report.spin.margin_ns),
        us(report.spin.cap_ns),
        pct(report.spin.spun_ns, report.run_ns)
    );
    let _ = writeln!(
        s,
        "cpu            daemon {:.2} % of one core (multiplexer thread {:.2} %)",
        pct(process_cpu_ns, wall_ns),
        pct(report.thread_cpu_ns, report.run_ns)
    );
    if let Some(((s0, t0), (s1, t1))) = host_ticks {
        let _ = writeln!(
            s,
            "host           steal {:.1} % of CPU time during the run (virtual CPUs ready but not run by the hypervisor)",
            pct(s1.saturating_sub(s0), t1.saturating_sub(t0))
        );
    }
    s
}

const ROW_H: f64 = 34.0;
const LEFT: f64 = 96.0;
const TOP: f64 = 56.0;
const WIDTH: f64 = 1200.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Draws `window_ns` of the run (from its start) as an SVG timing diagram:
/// BCD lines, the decoded bus, the four anodes and the colon.
pub fn svg(run: &Run, window_ns: u64) -> String {
    let rec = &run.recording;
    let t0 = run.origin_ns;
    let t1 = t0 + window_ns;
    let plot_w = WIDTH - LEFT - 20.0;
    let x = |t: u64| LEFT + (t.clamp(t0, t1) - t0) as f64 / window_ns.max(1) as f64 * plot_w;
    let rows: Vec<(String, Option<Signal>)> = vec![
        ("A".into(), Some(Signal::A)),
        ("B".into(), Some(Signal::B)),
        ("C".into(), Some(Signal::C)),
        ("D".into(), Some(Signal::D)),
        ("decoder".into(), None),
        ("anode 1".into(), Some(Signal::Anode(0))),
        ("anode 2".into(), Some(Signal::Anode(1))),
        ("anode 3".into(), Some(Signal::Anode(2))),
        ("anode 4".into(), Some(Signal::Anode(3))),
        ("colon".into(), Some(Signal::Colon)),
    ];
    let height = TOP + rows.len() as f64 * ROW_H + 50.0;
    let intervals: Vec<(u64, u64, Levels)> = rec
        .intervals()
        .filter(|&(a, b, _)| b > t0 && a < t1)
        .collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" font-family="monospace" font-size="12">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#0b1410"/>"##);
    let t = &run.timing;
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="22" fill="#d8f5e0" font-size="15">nixie — multiplexed tubes, {} Hz frame, {:.0} µs slots, {:.0} µs blank (shaded)</text>"##,
        t.frame_hz,
        t.slot_ns() as f64 / 1000.0,
        t.blank_ns as f64 / 1000.0
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="40" fill="#7fa08a">recorded on the simulated board {}: every edge at the time the multiplexer wrote it</text>"##,
        if run.virtual_time {
            "in virtual time (ideal timing)"
        } else {
            "in real time"
        }
    );
    // Blank periods: every anode off.
    let rows_bottom = TOP + rows.len() as f64 * ROW_H;
    for &(a, b, l) in &intervals {
        if l.anodes() == 0 {
            let (xa, xb) = (x(a), x(b));
            if xb - xa > 0.3 {
                let _ = writeln!(
                    s,
                    r##"<rect x="{xa:.2}" y="{TOP}" width="{:.2}" height="{:.1}" fill="#1d2f26"/>"##,
                    xb - xa,
                    rows_bottom - TOP
                );
            }
        }
    }
    // Slot grid and time axis.
    let slot = t.slot_ns();
    let mut k = 0;
    while t0 + k * slot <= t1 {
        let xx = x(t0 + k * slot);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.2}" y1="{TOP}" x2="{xx:.2}" y2="{rows_bottom}" stroke="#2c4236" stroke-dasharray="2,3"/>"##
        );
        k += 1;
    }
    let ms = window_ns / 1_000_000;
    let step = if ms > 20 { 5 } else { 1 };
    let mut m = 0;
    while m <= ms {
        let xx = x(t0 + m * 1_000_000);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.2}" y1="{rows_bottom}" x2="{xx:.2}" y2="{:.1}" stroke="#7fa08a"/><text x="{xx:.2}" y="{:.1}" fill="#7fa08a" text-anchor="middle">{m} ms</text>"##,
            rows_bottom + 5.0,
            rows_bottom + 19.0
        );
        m += step;
    }
    for (i, (name, sig)) in rows.iter().enumerate() {
        let y_hi = TOP + i as f64 * ROW_H + 8.0;
        let y_lo = TOP + (i + 1) as f64 * ROW_H - 8.0;
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="#d8f5e0" text-anchor="end">{}</text>"##,
            LEFT - 10.0,
            (y_hi + y_lo) / 2.0 + 4.0,
            esc(name)
        );
        match sig {
            Some(sig) => {
                let color = match sig {
                    Signal::Anode(_) => "#ffb347",
                    Signal::Colon => "#ff6f61",
                    _ => "#7CFC9A",
                };
                let mut pts = String::new();
                for &(a, b, l) in &intervals {
                    let y = if l.get(*sig) { y_hi } else { y_lo };
                    let _ = write!(pts, "{:.2},{y:.1} {:.2},{y:.1} ", x(a), x(b));
                }
                let _ = writeln!(
                    s,
                    r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.4"/>"##,
                    pts.trim_end()
                );
            }
            None => {
                // The decoder output as a bus: one segment per code.
                let mut seg_start = t0;
                let mut code = intervals.first().map_or(BLANK_CODE, |i| i.2.bcd());
                let mut segs = Vec::new();
                for &(a, _, l) in &intervals {
                    if l.bcd() != code {
                        segs.push((seg_start, a.max(t0), code));
                        seg_start = a.max(t0);
                        code = l.bcd();
                    }
                }
                segs.push((seg_start, t1, code));
                let ym = (y_hi + y_lo) / 2.0;
                for (a, b, code) in segs {
                    let (xa, xb) = (x(a), x(b));
                    let e = 2.0f64.min((xb - xa) / 2.0);
                    let lit = k155id1_output(code);
                    let color = if lit.is_some() { "#7CFC9A" } else { "#4f6b5a" };
                    let _ = writeln!(
                        s,
                        r##"<polygon points="{xa:.2},{ym:.1} {:.2},{y_hi:.1} {:.2},{y_hi:.1} {xb:.2},{ym:.1} {:.2},{y_lo:.1} {:.2},{y_lo:.1}" fill="none" stroke="{color}" stroke-width="1.2"/>"##,
                        xa + e,
                        xb - e,
                        xb - e,
                        xa + e
                    );
                    if xb - xa > 14.0 {
                        let label = lit.map_or("–".to_string(), |d| d.to_string());
                        let _ = writeln!(
                            s,
                            r##"<text x="{:.2}" y="{:.1}" fill="{color}" text-anchor="middle">{label}</text>"##,
                            (xa + xb) / 2.0,
                            ym + 4.0
                        );
                    }
                }
            }
        }
    }
    let _ = writeln!(s, "</svg>");
    s
}

/// Writes `contents` to `path` through a temporary file in the same
/// directory, renamed into place.
pub fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("the output path has no file name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        Frame {
            digits: [Some(1), Some(2), Some(3), Some(4)],
            colon: true,
            brightness: 1.0,
            hv: true,
        }
    }

    #[test]
    fn steal_comes_from_the_cpu_line() {
        let stat = "cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 50 0 25 400 5 0 2 18 0 0\n";
        assert_eq!(parse_cpu_ticks(stat), Some((35, 1000)));
        assert_eq!(parse_cpu_ticks("cpu0 1 2 3\n"), None);
        assert_eq!(parse_cpu_ticks("cpu  1 2 x 4 5 6 7 8\n"), None);
    }

    #[test]
    fn virtual_run_is_exact() {
        let run = record(&Config::default(), frame(), 100, true).unwrap();
        let a = run.analyse();
        assert!(a.violations.is_empty(), "{:?}", a.violations);
        assert_eq!(a.frames, 100);
        assert!((a.frame_hz - 100.0).abs() < 0.01, "{}", a.frame_hz);
        assert_eq!(run.lateness.max, 0);
        assert_eq!(run.lateness.count, 800);
        assert_eq!(a.blank.min, 600_000);
        for d in a.duty() {
            assert!((d - 0.19).abs() < 1e-6, "{d}");
        }
        let r = report(&run, &a);
        assert!(r.contains("invariants     ok"), "{r}");
    }

    #[test]
    fn svg_has_every_row_and_the_digits() {
        let run = record(&Config::default(), frame(), 5, true).unwrap();
        let svg = svg(&run, 50_000_000);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        for label in [
            "anode 1", "anode 4", "decoder", "colon", ">1<", ">4<", "0 ms", "50 ms",
        ] {
            assert!(svg.contains(label), "missing {label}");
        }
        assert_eq!(svg.matches("<polyline").count(), 9);
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.svg");
        write_atomically(&p, "a").unwrap();
        write_atomically(&p, "b").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "b");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
