//! Waveform analysis: measures a [`Recording`] and checks the multiplexing
//! invariants on it.
//!
//! The invariants, each of which protects the tubes or the picture:
//! 1. never two anodes on at once (one decoder drives all cathodes, so two
//!    lit tubes would show the same digit, and the supply would see twice
//!    the current);
//! 2. the BCD code is stable for the whole time an anode is on (a change
//!    would flash a wrong digit);
//! 3. from an anode going off to the next going on there is at least the
//!    configured blank (the TLP627 turns off slowly; less blank shows as
//!    "ghost" digits);
//! 4. every lit tube gets the same total on-time within 1 %.

use crate::backend::sim::Recording;
use crate::board::{BLANK_CODE, TUBES};
use crate::mux::Timing;

/// One broken invariant, with the time it happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Violation {
    /// More than one anode conducting.
    TwoAnodes {
        /// Time of the write (ns since the recording start).
        at_ns: u64,
        /// Anode bit mask after the write.
        anodes: u8,
    },
    /// The BCD code changed while an anode was on (before or after the write).
    BcdWhileLit {
        /// Time of the write (ns since the recording start).
        at_ns: u64,
        /// Code before the write.
        from: u8,
        /// Code after the write.
        to: u8,
    },
    /// An anode went on less than the blank time after the previous went off.
    ShortBlank {
        /// Time of the anode-on edge (ns since the recording start).
        at_ns: u64,
        /// Measured dark time (ns).
        width_ns: u64,
    },
    /// Lit tubes' total on-times differ by more than 1 %.
    UnequalOnTime {
        /// On-time per tube (ns).
        on_ns: [u64; TUBES],
    },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::TwoAnodes { at_ns, anodes } => {
                write!(
                    f,
                    "{:.3} ms: two anodes on ({anodes:04b})",
                    *at_ns as f64 / 1e6
                )
            }
            Violation::BcdWhileLit { at_ns, from, to } => write!(
                f,
                "{:.3} ms: BCD changed {from} -> {to} while an anode was on",
                *at_ns as f64 / 1e6
            ),
            Violation::ShortBlank { at_ns, width_ns } => write!(
                f,
                "{:.3} ms: blank only {:.1} µs",
                *at_ns as f64 / 1e6,
                *width_ns as f64 / 1e3
            ),
            Violation::UnequalOnTime { on_ns } => {
                write!(f, "on-time per tube differs by more than 1 %: {on_ns:?} ns")
            }
        }
    }
}

/// Order statistics of a set of durations (ns).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Number of values.
    pub count: usize,
    /// Smallest.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Stats {
    /// Statistics of `values` (sorted in place).
    pub fn of(values: &mut [u64]) -> Stats {
        if values.is_empty() {
            return Stats::default();
        }
        values.sort_unstable();
        let q = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
        Stats {
            count: values.len(),
            min: values[0],
            p50: q(0.5),
            p99: q(0.99),
            max: values[values.len() - 1],
        }
    }
}

/// Everything measured on a recording.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Length of the analysed window (ns).
    pub duration_ns: u64,
    /// Complete frames (rising edges of the first lit tube's anode).
    pub frames: usize,
    /// Measured frame rate (Hz).
    pub frame_hz: f64,
    /// Total on-time per tube (ns).
    pub on_ns: [u64; TUBES],
    /// Dark time before each anode-on edge (ns).
    pub blank: Stats,
    /// Broken invariants.
    pub violations: Vec<Violation>,
}

impl Analysis {
    /// The violations of the ordering and blank invariants, which hold
    /// whatever the host's timing (all but [`Violation::UnequalOnTime`]).
    pub fn ordering_violations(&self) -> Vec<&Violation> {
        self.violations
            .iter()
            .filter(|v| !matches!(v, Violation::UnequalOnTime { .. }))
            .collect()
    }

    /// Duty (on-time / duration) per tube.
    pub fn duty(&self) -> [f64; TUBES] {
        self.on_ns
            .map(|ns| ns as f64 / self.duration_ns.max(1) as f64)
    }

    /// Relative spread `(max − min) / mean` of the on-time of lit tubes.
    pub fn on_time_spread(&self) -> f64 {
        let lit: Vec<u64> = self.on_ns.iter().copied().filter(|&n| n > 0).collect();
        if lit.len() < 2 {
            return 0.0;
        }
        let mean = lit.iter().sum::<u64>() as f64 / lit.len() as f64;
        let (lo, hi) = (lit.iter().min(), lit.iter().max());
        match (lo, hi) {
            (Some(&lo), Some(&hi)) => (hi - lo) as f64 / mean,
            _ => 0.0,
        }
    }
}

/// Analyses `rec` made with `timing`. `origin_ns`, the start of the
/// multiplexer's slot grid, bounds the analysed window from below.
pub fn analyse(rec: &Recording, timing: &Timing, origin_ns: u64) -> Analysis {
    let rel = |t: u64| t.saturating_sub(rec.start_ns);
    let mut a = Analysis {
        duration_ns: rec.end_ns.saturating_sub(rec.start_ns),
        ..Analysis::default()
    };
    let mut prev = rec.initial;
    let mut last_off: Option<u64> = None;
    let mut on_since: [Option<u64>; TUBES] = [None; TUBES];
    let mut blanks = Vec::new();
    let mut first_tube: Option<usize> = None;

    for s in rec.samples.iter().filter(|s| s.t_ns >= origin_ns) {
        let l = s.levels;
        if l.anodes().count_ones() > 1 {
            a.violations.push(Violation::TwoAnodes {
                at_ns: rel(s.t_ns),
                anodes: l.anodes(),
            });
        }
        if l.bcd() != prev.bcd() && (l.anodes() != 0 || prev.anodes() != 0) {
            a.violations.push(Violation::BcdWhileLit {
                at_ns: rel(s.t_ns),
                from: prev.bcd(),
                to: l.bcd(),
            });
        }
        let rising = l.anodes() & !prev.anodes();
        let falling = prev.anodes() & !l.anodes();
        for (tube, since) in on_since.iter_mut().enumerate() {
            if falling & (1 << tube) != 0 {
                if let Some(t0) = since.take() {
                    a.on_ns[tube] += s.t_ns - t0;
                }
                last_off = Some(s.t_ns);
            }
        }
        for (tube, since) in on_since.iter_mut().enumerate() {
            if rising & (1 << tube) == 0 {
                continue;
            }
            *since = Some(s.t_ns);
            if let Some(off) = last_off {
                let width = s.t_ns - off;
                blanks.push(width);
                // A lit tube showing the blank code is dark, so it needs no blank before it.
                if width < timing.blank_ns && l.bcd() != BLANK_CODE {
                    a.violations.push(Violation::ShortBlank {
                        at_ns: rel(s.t_ns),
                        width_ns: width,
                    });
                }
            }
            match first_tube {
                None => {
                    first_tube = Some(tube);
                    a.frames = 1;
                }
                Some(f) if f == tube => a.frames += 1,
                _ => {}
            }
        }
        prev = l;
    }
    for (tube, since) in on_since.iter().enumerate() {
        if let Some(t0) = since {
            a.on_ns[tube] += rec.end_ns.saturating_sub(*t0);
        }
    }
    a.frame_hz = a.frames as f64 / (a.duration_ns.max(1) as f64 / 1e9);
    a.blank = Stats::of(&mut blanks);
    if a.on_time_spread() > 0.01 {
        a.violations
            .push(Violation::UnequalOnTime { on_ns: a.on_ns });
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::Sample;
    use crate::board::{Levels, Signal};
    use crate::mux::Spin;

    fn rec(samples: &[(u64, Levels)], end: u64) -> Recording {
        Recording {
            initial: Levels::all_off(),
            start_ns: 0,
            end_ns: end,
            samples: samples
                .iter()
                .map(|&(t_ns, levels)| Sample { t_ns, levels })
                .collect(),
            truncated: false,
        }
    }

    #[test]
    fn stats_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let s = Stats::of(&mut v);
        assert_eq!((s.min, s.max, s.count), (1, 100, 100));
        assert_eq!(s.p50, 51);
        assert_eq!(s.p99, 99);
    }

    #[test]
    fn detects_each_violation() {
        let off = Levels::all_off();
        let a0 = off.with_bcd(1).with(Signal::Anode(0), true);
        let r = rec(
            &[
                (100, off.with_bcd(1)),
                (200, a0),
                // BCD changes while tube 0 is lit.
                (300, a0.with_bcd(2)),
                // Second anode on while the first is still on.
                (400, a0.with_bcd(2).with(Signal::Anode(1), true)),
                (500, off.with_bcd(2)),
                // Only 50 ns of blank.
                (550, off.with_bcd(2).with(Signal::Anode(2), true)),
                (600, off),
            ],
            1000,
        );
        let t = Timing {
            frame_hz: 100,
            blank_ns: 100,
            spin: Spin::Off,
        };
        let a = analyse(&r, &t, 0);
        let kinds: Vec<String> = a.violations.iter().map(|v| v.to_string()).collect();
        assert!(kinds.iter().any(|k| k.contains("two anodes")), "{kinds:?}");
        assert!(
            kinds.iter().any(|k| k.contains("BCD changed 1 -> 2")),
            "{kinds:?}"
        );
        assert!(kinds.iter().any(|k| k.contains("blank only")), "{kinds:?}");
        assert!(kinds.iter().any(|k| k.contains("differs")), "{kinds:?}");
    }

    #[test]
    fn clean_waveform_passes() {
        let off = Levels::all_off();
        let mut s = Vec::new();
        let slot = 2_500_000;
        for k in 0..8u64 {
            let tube = (k % 4) as u8;
            let t = k * slot;
            s.push((t + 600_000, off.with_bcd(tube)));
            s.push((
                t + 600_000,
                off.with_bcd(tube).with(Signal::Anode(tube), true),
            ));
            s.push((t + slot, off.with_bcd(tube)));
            s.push((t + slot, off));
        }
        let a = analyse(&rec(&s, 8 * slot), &Timing::default(), 0);
        assert!(a.violations.is_empty(), "{:?}", a.violations);
        assert_eq!(a.frames, 2);
        assert_eq!(a.on_ns, [3_800_000; 4]);
        assert_eq!(a.blank.min, 600_000);
        assert!((a.frame_hz - 100.0).abs() < 1e-9);
    }
}
