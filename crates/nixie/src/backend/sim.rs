//! The simulated board: pins that remember every change with its timestamp.
//!
//! Two things can be observed through a [`SimProbe`]:
//! - a [`Recording`] of every write (bounded by a capacity chosen at
//!   construction), which [`crate::wave`] analyses and draws;
//! - a *persistence-of-vision* accumulator: for every tube and cathode, how
//!   long it was lit since the last look. The terminal view draws the tubes
//!   from it, so what it shows is derived from the pin waveform, exactly as
//!   an eye would integrate the multiplexed light.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{Backend, BackendError};
use crate::board::{Levels, Signal, TUBES, k155id1_output};
use crate::mux::prefault;

/// One write to the board: the levels from `t_ns` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Monotonic time of the write, in nanoseconds.
    pub t_ns: u64,
    /// Board state after the write.
    pub levels: Levels,
}

/// A recorded waveform: the state before the first sample, then every change.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    /// Board state before the first sample.
    pub initial: Levels,
    /// Time at which the recording starts (ns).
    pub start_ns: u64,
    /// Time at which the recording ends (ns); the last state lasts until then.
    pub end_ns: u64,
    /// Every write that changed at least one line, in time order.
    pub samples: Vec<Sample>,
    /// Whether writes were dropped because the capacity was reached.
    pub truncated: bool,
}

impl Recording {
    /// Ends the recording at `end_ns`: later writes are dropped and the
    /// last state lasts until then.
    pub fn clip(&mut self, end_ns: u64) {
        self.end_ns = end_ns;
        self.samples.retain(|s| s.t_ns <= end_ns);
    }

    /// The level intervals `(from_ns, to_ns, levels)` covering the recording.
    pub fn intervals(&self) -> impl Iterator<Item = (u64, u64, Levels)> + '_ {
        let mut prev_t = self.start_ns;
        let mut prev_l = self.initial;
        let mut i = 0;
        std::iter::from_fn(move || {
            if i > self.samples.len() {
                return None;
            }
            let (t, next_l) = match self.samples.get(i) {
                Some(s) => (s.t_ns, s.levels),
                None => (self.end_ns.max(prev_t), prev_l),
            };
            i += 1;
            let out = (prev_t, t, prev_l);
            prev_t = t;
            prev_l = next_l;
            Some(out)
        })
        .filter(|(a, b, _)| b > a)
    }
}

/// Light integrated over a window: what an eye (or camera) sees.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Glow {
    /// Length of the window in nanoseconds.
    pub window_ns: u64,
    /// Lit time per tube and decoder output (cathode code 0–9).
    pub cathode_ns: [[u64; 10]; TUBES],
    /// Lit time of the colon.
    pub colon_ns: u64,
}

impl Glow {
    /// The brightest cathode of `tube` and its duty (lit time / window).
    pub fn brightest(&self, tube: usize) -> Option<(u8, f64)> {
        let (c, &ns) = self.cathode_ns[tube]
            .iter()
            .enumerate()
            .max_by_key(|&(_, ns)| *ns)?;
        (ns > 0).then(|| (c as u8, ns as f64 / self.window_ns.max(1) as f64))
    }

    /// Colon duty over the window.
    pub fn colon_duty(&self) -> f64 {
        self.colon_ns as f64 / self.window_ns.max(1) as f64
    }
}

#[derive(Debug)]
struct State {
    levels: Levels,
    last_t: Option<u64>,
    recording: Recording,
    capacity: usize,
    glow: Glow,
    glow_start: Option<u64>,
}

impl State {
    fn integrate(&mut self, t_ns: u64) {
        if let Some(last) = self.last_t {
            let dt = t_ns.saturating_sub(last);
            if let Some(tube) = self.levels.lit_tube()
                && let Some(c) = k155id1_output(self.levels.bcd())
            {
                self.glow.cathode_ns[tube][usize::from(c)] += dt;
            }
            if self.levels.get(Signal::Colon) {
                self.glow.colon_ns += dt;
            }
        }
        self.glow_start.get_or_insert(t_ns);
        self.last_t = Some(t_ns);
    }
}

/// The most writes a [`SimBackend`] records (64 MiB of samples).
pub const MAX_CAPACITY: usize = 1 << 22;

/// The simulated board backend. Create it with [`SimBackend::new`], which
/// also hands out a [`SimProbe`] to observe it from other threads.
#[derive(Debug)]
pub struct SimBackend {
    state: Arc<Mutex<State>>,
}

/// A read handle on a [`SimBackend`], usable from any thread.
#[derive(Clone, Debug)]
pub struct SimProbe {
    state: Arc<Mutex<State>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimBackend {
    /// A simulated board recording at most `capacity` writes (0: record
    /// nothing, only integrate the glow; at most [`MAX_CAPACITY`]). The
    /// board starts all off. The whole buffer is allocated and its pages
    /// touched here, so recording never allocates or page-faults on the
    /// multiplexer's timing-critical path.
    pub fn new(capacity: usize) -> (SimBackend, SimProbe) {
        let capacity = capacity.min(MAX_CAPACITY);
        let mut samples = Vec::with_capacity(capacity);
        prefault(
            &mut samples,
            Sample {
                t_ns: 0,
                levels: Levels::all_off(),
            },
        );
        let state = Arc::new(Mutex::new(State {
            levels: Levels::all_off(),
            last_t: None,
            recording: Recording {
                initial: Levels::all_off(),
                samples,
                ..Recording::default()
            },
            capacity,
            glow: Glow::default(),
            glow_start: None,
        }));
        (
            SimBackend {
                state: state.clone(),
            },
            SimProbe { state },
        )
    }
}

impl Backend for SimBackend {
    fn write(&mut self, t_ns: u64, levels: Levels) -> Result<(), BackendError> {
        let mut s = lock(&self.state);
        if s.last_t.is_none() {
            s.recording.start_ns = t_ns;
        }
        s.integrate(t_ns);
        s.recording.end_ns = t_ns;
        if levels == s.levels {
            return Ok(());
        }
        s.levels = levels;
        if s.recording.samples.len() < s.capacity {
            s.recording.samples.push(Sample { t_ns, levels });
        } else if s.capacity > 0 {
            s.recording.truncated = true;
        }
        Ok(())
    }
}

impl SimProbe {
    /// The current board state.
    pub fn levels(&self) -> Levels {
        lock(&self.state).levels
    }

    /// A copy of everything recorded so far, ending at `now_ns`.
    pub fn recording(&self, now_ns: u64) -> Recording {
        let s = lock(&self.state);
        let mut r = s.recording.clone();
        r.end_ns = r.end_ns.max(now_ns);
        r
    }

    /// The light integrated since the previous call (or since the start),
    /// up to `now_ns`; starts a new window.
    pub fn take_glow(&self, now_ns: u64) -> Glow {
        let mut s = lock(&self.state);
        s.integrate(now_ns);
        let start = s.glow_start.unwrap_or(now_ns);
        let mut g = std::mem::take(&mut s.glow);
        g.window_ns = now_ns.saturating_sub(start);
        s.glow_start = Some(now_ns);
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_changes() {
        let (mut b, p) = SimBackend::new(100);
        let l1 = Levels::all_off().with_bcd(3);
        b.write(10, Levels::all_off()).unwrap();
        b.write(20, l1).unwrap();
        b.write(30, l1).unwrap();
        let r = p.recording(40);
        assert_eq!(
            r.samples,
            vec![Sample {
                t_ns: 20,
                levels: l1
            }]
        );
        assert_eq!(r.start_ns, 10);
        let iv: Vec<_> = r.intervals().collect();
        assert_eq!(iv, vec![(10, 20, Levels::all_off()), (20, 40, l1)]);
    }

    #[test]
    fn capacity_truncates() {
        let (mut b, p) = SimBackend::new(1);
        b.write(0, Levels::all_off().with_bcd(1)).unwrap();
        b.write(1, Levels::all_off().with_bcd(2)).unwrap();
        let r = p.recording(2);
        assert_eq!(r.samples.len(), 1);
        assert!(r.truncated);
    }

    #[test]
    fn glow_integrates_lit_cathodes() {
        let (mut b, p) = SimBackend::new(0);
        b.write(0, Levels::all_off()).unwrap();
        b.write(
            100,
            Levels::all_off().with_bcd(4).with(Signal::Anode(1), true),
        )
        .unwrap();
        b.write(400, Levels::all_off()).unwrap();
        // Code 12 lights nothing even with an anode on.
        b.write(
            500,
            Levels::all_off().with_bcd(12).with(Signal::Anode(2), true),
        )
        .unwrap();
        let g = p.take_glow(1000);
        assert_eq!(g.window_ns, 1000);
        assert_eq!(g.cathode_ns[1][4], 300);
        assert_eq!(g.brightest(1), Some((4, 0.3)));
        assert_eq!(g.brightest(2), None);
        let g2 = p.take_glow(1500);
        assert_eq!(g2.window_ns, 500);
        assert_eq!(g2.cathode_ns[1][4], 0);
    }
}
