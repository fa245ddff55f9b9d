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
    Frame, FrameCell, Multiplexer, RealTimer, Timer, Timing, VirtualTimer, prepare_thread,
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
    fn go<T: Timer>(
        timing: Timing,
        cfg: &Config,
        sim: SimBackend,
        timer: T,
        cell: Arc<FrameCell>,
        frames: u64,
    ) -> Result<(u64, u64, Stats)> {
        let mut mux = Multiplexer::new(timing, cfg.cathode_map(), sim, timer, cell);
        mux.log_lateness();
        let origin = mux.next_slot_ns();
        mux.run_until(origin + frames * TUBES as u64 * timing.slot_ns())?;
        mux.all_off()?;
        let lateness = Stats::of(&mut mux.lateness().to_vec());
        let (_, mut timer) = mux.into_parts();
        Ok((origin, timer.now_ns(), lateness))
    }
    let (origin_ns, end, lateness) = if virtual_time {
        go(
            timing,
            cfg,
            sim,
            VirtualTimer::exact(1_000_000),
            cell,
            frames,
        )?
    } else {
        prepare_thread(cfg.realtime());
        go(
            timing,
            cfg,
            sim,
            RealTimer {
                spin_ns: timing.spin_ns,
            },
            cell,
            frames,
        )?
    };
    let mut recording = probe.recording(end);
    // Analyse whole frames only: drop the final all-off write's tail.
    recording.clip(origin_ns + frames * TUBES as u64 * timing.slot_ns());
    Ok(Run {
        recording,
        origin_ns,
        timing,
        lateness,
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
        "edge jitter    p50 {:.1} µs  p99 {:.1} µs  max {:.1} µs  ({} anode edges, lateness vs deadline)",
        us(run.lateness.p50),
        us(run.lateness.p99),
        us(run.lateness.max),
        run.lateness.count
    );
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
