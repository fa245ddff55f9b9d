//! The multiplexer: lights one tube at a time, fast enough that all four
//! look steadily lit.
//!
//! Each frame has one slot per tube. A slot is
//!
//! ```text
//!  slot start                      on_at                        off_at      next slot
//!  |-- anodes off, BCD = blank --->|-- BCD = digit, anode on --->|-- off --->|
//!                                  |   (colon with it, if shown)  |
//!  |<------- blank (600 µs) ------>|<-- duty × (slot − blank) -->|
//! ```
//!
//! Ordering makes two of the invariants true by construction: the BCD code
//! is only changed while every anode is off, and an anode is only switched
//! on after every other anode was switched off in an earlier write. The
//! blank is measured from the *actual* previous anode-off, so a late wake-up
//! shortens the light, never the blank. The third invariant, equal on-time
//! per tube, is kept by carrying each tube's surplus or deficit of light
//! (caused by late wake-ups) into its next slots.
//!
//! Time comes from a [`Timer`]: [`RealTimer`] sleeps on absolute
//! CLOCK_MONOTONIC deadlines with `clock_nanosleep(TIMER_ABSTIME)` (so
//! errors never accumulate) and optionally spins the last microseconds;
//! [`VirtualTimer`] lets tests run many seconds of waveform in
//! milliseconds, with injected wake-up lateness.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use crate::backend::{Backend, BackendError};
use crate::board::{BLANK_CODE, CathodeMap, Levels, Signal, TUBES};

/// What the tubes should show; published by the display logic, read by the
/// multiplexer once per frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    /// Digit per tube, `None` for a dark tube.
    pub digits: [Option<u8>; TUBES],
    /// Colon lit.
    pub colon: bool,
    /// Brightness 0.0–1.0: the share of `(slot − blank)` an anode conducts.
    pub brightness: f32,
    /// High-voltage supply enabled.
    pub hv: bool,
}

impl Frame {
    /// Every tube dark, colon off, high voltage off.
    pub const DARK: Frame = Frame {
        digits: [None; TUBES],
        colon: false,
        brightness: 0.0,
        hv: false,
    };

    fn pack(self) -> u64 {
        let mut w = 0u64;
        for (i, d) in self.digits.iter().enumerate() {
            let code = d.filter(|&d| d < 10).unwrap_or(15);
            w |= u64::from(code) << (4 * i);
        }
        w |= u64::from(self.colon) << 16;
        w |= u64::from(self.hv) << 17;
        let b = (self.brightness.clamp(0.0, 1.0) * 10_000.0).round() as u64;
        w | (b << 32)
    }

    fn unpack(w: u64) -> Frame {
        let mut digits = [None; TUBES];
        for (i, d) in digits.iter_mut().enumerate() {
            let code = ((w >> (4 * i)) & 0xf) as u8;
            *d = (code < 10).then_some(code);
        }
        Frame {
            digits,
            colon: w & (1 << 16) != 0,
            hv: w & (1 << 17) != 0,
            brightness: ((w >> 32) & 0xffff) as f32 / 10_000.0,
        }
    }
}

/// A frame shared between the display logic and the multiplexer thread
/// without a lock: the whole frame packs into one atomic word, so the
/// multiplexer never waits and never sees half an update.
#[derive(Debug)]
pub struct FrameCell(AtomicU64);

impl FrameCell {
    /// A cell holding `frame`.
    pub fn new(frame: Frame) -> FrameCell {
        FrameCell(AtomicU64::new(frame.pack()))
    }
    /// Publishes a new frame.
    pub fn store(&self, frame: Frame) {
        self.0.store(frame.pack(), Ordering::Release);
    }
    /// The latest frame.
    pub fn load(&self) -> Frame {
        Frame::unpack(self.0.load(Ordering::Acquire))
    }
}

/// Timing parameters of the multiplexer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Frames per second (every tube lit once per frame), 50–500.
    pub frame_hz: u32,
    /// Dark time between one anode going off and the next going on (ns).
    pub blank_ns: u64,
    /// Busy-wait this long before each edge instead of sleeping (ns).
    pub spin_ns: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            frame_hz: 100,
            blank_ns: 600_000,
            spin_ns: 20_000,
        }
    }
}

impl Timing {
    /// Length of one tube's slot (ns).
    pub fn slot_ns(&self) -> u64 {
        1_000_000_000 / (u64::from(self.frame_hz) * TUBES as u64)
    }
    /// The longest an anode may conduct in one slot (ns).
    pub fn max_on_ns(&self) -> u64 {
        self.slot_ns().saturating_sub(self.blank_ns)
    }
    /// Nominal on-time for `brightness` (ns).
    pub fn on_ns(&self, brightness: f32) -> u64 {
        (self.max_on_ns() as f64 * f64::from(brightness.clamp(0.0, 1.0))).round() as u64
    }
}

/// A source of monotonic time that can sleep until an absolute deadline.
pub trait Timer: Send {
    /// Current time (ns).
    fn now_ns(&mut self) -> u64;
    /// Returns at or after `deadline_ns`, never before.
    fn sleep_until(&mut self, deadline_ns: u64);
}

/// CLOCK_MONOTONIC now, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The real clock: absolute-deadline sleeps plus an optional final spin.
#[derive(Clone, Copy, Debug)]
pub struct RealTimer {
    /// Spin (busy-wait) this long before each deadline.
    pub spin_ns: u64,
}

impl Timer for RealTimer {
    fn now_ns(&mut self) -> u64 {
        monotonic_ns()
    }

    fn sleep_until(&mut self, deadline_ns: u64) {
        let wake = deadline_ns.saturating_sub(self.spin_ns);
        let ts = libc::timespec {
            tv_sec: (wake / 1_000_000_000) as libc::time_t,
            tv_nsec: (wake % 1_000_000_000) as libc::c_long,
        };
        loop {
            // SAFETY: `ts` is a valid timespec; the remainder pointer may be null with TIMER_ABSTIME.
            let rc = unsafe {
                libc::clock_nanosleep(
                    libc::CLOCK_MONOTONIC,
                    libc::TIMER_ABSTIME,
                    &ts,
                    std::ptr::null_mut(),
                )
            };
            // Interrupted by a signal: the deadline is absolute, just sleep again.
            if rc != libc::EINTR {
                break;
            }
        }
        while monotonic_ns() < deadline_ns {
            std::hint::spin_loop();
        }
    }
}

/// A simulated clock for tests: sleeping jumps the time forward, plus a
/// pseudo-random lateness drawn from a small deterministic generator.
#[derive(Clone, Debug)]
pub struct VirtualTimer {
    now: u64,
    rng: u64,
    /// Typical lateness of a wake-up (ns), drawn uniformly from 0..=this.
    pub late_ns: u64,
    /// One wake-up in `outlier_every` is late by up to `outlier_ns`.
    pub outlier_every: u64,
    /// Largest outlier lateness (ns).
    pub outlier_ns: u64,
}

impl VirtualTimer {
    /// A timer starting at `start_ns` that wakes exactly on time.
    pub fn exact(start_ns: u64) -> VirtualTimer {
        VirtualTimer {
            now: start_ns,
            rng: 0x9e37_79b9_7f4a_7c15,
            late_ns: 0,
            outlier_every: 0,
            outlier_ns: 0,
        }
    }

    /// A timer with lateness like a busy non-real-time Linux host: up to
    /// `late_ns` usually, up to `outlier_ns` once every `outlier_every` wakes.
    pub fn jittery(start_ns: u64, late_ns: u64, outlier_every: u64, outlier_ns: u64) -> Self {
        VirtualTimer {
            late_ns,
            outlier_every,
            outlier_ns,
            ..VirtualTimer::exact(start_ns)
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Timer for VirtualTimer {
    fn now_ns(&mut self) -> u64 {
        self.now
    }
    fn sleep_until(&mut self, deadline_ns: u64) {
        let mut late = 0;
        if self.late_ns > 0 {
            late = self.next_rand() % (self.late_ns + 1);
        }
        if self.outlier_every > 0 && self.next_rand().is_multiple_of(self.outlier_every) {
            late += self.next_rand() % (self.outlier_ns + 1);
        }
        self.now = self.now.max(deadline_ns + late);
    }
}

/// Thread set-up options for the real-time path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Realtime {
    /// Run the multiplexer thread under SCHED_FIFO at this priority (1–99).
    pub fifo_priority: Option<u8>,
    /// Lock all memory (`mlockall`) so a page fault never delays an edge.
    pub lock_memory: bool,
}

/// Prepares the calling thread for precise wake-ups and says, in the log,
/// what it could and could not get. Never fails: every step is best effort.
pub fn prepare_thread(rt: Realtime) {
    // SAFETY: prctl with PR_SET_TIMERSLACK takes plain integers.
    let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
    if rc == 0 {
        tracing::debug!("mux: timer slack set to 1 ns");
    } else {
        tracing::warn!(
            "mux: cannot set timer slack ({}); wake-ups will be ~50 µs late",
            std::io::Error::last_os_error()
        );
    }
    if let Some(prio) = rt.fifo_priority {
        let param = libc::sched_param {
            sched_priority: i32::from(prio),
        };
        // SAFETY: `param` is valid for the call; pthread_self is always valid.
        let rc =
            unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        if rc == 0 {
            tracing::info!("mux: running under SCHED_FIFO priority {prio}");
        } else {
            tracing::warn!(
                "mux: SCHED_FIFO priority {prio} not permitted ({}); running with normal \
                 scheduling. Allow it with LimitRTPRIO={prio} in the systemd unit or \
                 `ulimit -r {prio}`",
                std::io::Error::from_raw_os_error(rc)
            );
        }
    }
    if rt.lock_memory {
        // SAFETY: mlockall takes flags only.
        let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
        if rc == 0 {
            tracing::info!("mux: memory locked (mlockall)");
        } else {
            tracing::warn!(
                "mux: mlockall not permitted ({}); pages may fault in during a slot. Allow it \
                 with LimitMEMLOCK=infinity in the systemd unit",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// How many slots' worth of light a tube may be owed or owe.
const DEBT_LIMIT: i64 = 64;

/// The multiplexer: owns the backend and the timer, reads frames from a
/// [`FrameCell`].
pub struct Multiplexer<B: Backend, T: Timer> {
    timing: Timing,
    map: CathodeMap,
    backend: B,
    timer: T,
    frame: Arc<FrameCell>,
    levels: Levels,
    /// Light surplus (+) or deficit (−) per tube, ns, relative to nominal.
    debt: [i64; TUBES],
    /// Actual time of the last anode-off write.
    last_off: u64,
    /// Start of the next slot on the absolute grid.
    next_slot: u64,
    tube: usize,
    current: Frame,
    /// Lateness of timed anode edges (ns), when logging is on.
    lateness: Option<Vec<u64>>,
}

impl<B: Backend, T: Timer> Multiplexer<B, T> {
    /// A multiplexer starting its slot grid at the timer's current time.
    pub fn new(
        timing: Timing,
        map: CathodeMap,
        backend: B,
        mut timer: T,
        frame: Arc<FrameCell>,
    ) -> Self {
        let start = timer.now_ns();
        Multiplexer {
            timing,
            map,
            backend,
            timer,
            frame,
            levels: Levels::all_off(),
            debt: [0; TUBES],
            last_off: start,
            next_slot: start,
            tube: 0,
            current: Frame::DARK,
            lateness: None,
        }
    }

    /// Logs how late each anode-on and anode-off edge is written compared
    /// with its deadline (for `nixie sim --report` and the benchmark).
    pub fn log_lateness(&mut self) {
        self.lateness = Some(Vec::new());
    }

    /// The lateness log (ns), empty unless [`Multiplexer::log_lateness`] was called.
    pub fn lateness(&self) -> &[u64] {
        self.lateness.as_deref().unwrap_or(&[])
    }

    /// Start of the slot grid (ns): slot `k` starts at `origin + k × slot`.
    pub fn next_slot_ns(&self) -> u64 {
        self.next_slot
    }

    /// Writes `levels` if they differ from the current ones; returns the
    /// time stamped on the write (the same the simulator records).
    fn put(&mut self, levels: Levels) -> Result<u64, BackendError> {
        let t = self.timer.now_ns();
        if levels == self.levels {
            return Ok(t);
        }
        self.backend.write(t, levels)?;
        if levels.anodes() == 0 && self.levels.anodes() != 0 {
            self.last_off = t;
        }
        self.levels = levels;
        Ok(t)
    }

    /// Adds `delta` ns to the light `tube` has had beyond its nominal share
    /// (negative: owed), within ±[`DEBT_LIMIT`] slots.
    fn owe(&mut self, tube: usize, delta: i64) {
        let limit = DEBT_LIMIT * self.timing.max_on_ns() as i64;
        self.debt[tube] = (self.debt[tube] + delta).clamp(-limit, limit);
    }

    /// Runs one slot (one tube); returns after its anode went off.
    pub fn step(&mut self) -> Result<(), BackendError> {
        let slot = self.timing.slot_ns();
        let start = self.next_slot;
        let tube = self.tube;
        self.timer.sleep_until(start);
        if tube == 0 {
            self.current = self.frame.load();
        }
        let f = self.current;
        let mut now = self.timer.now_ns();
        // Woken after the whole slot passed: skip ahead on the grid, keep tube order.
        if now >= start + slot {
            let missed = (now - start) / slot;
            self.next_slot = start + missed * slot;
            self.put(self.levels.without_anodes())?;
            return Ok(());
        }
        self.next_slot = start + slot;
        self.tube = (tube + 1) % TUBES;

        // 1. every anode off (and the colon, which is lit together with
        // the anodes so it dims with the tubes; HV follows the frame),
        // 2. blank code.
        let base = self
            .levels
            .without_anodes()
            .with(Signal::Colon, false)
            .with(Signal::HvEnable, f.hv);
        self.put(base)?;
        self.put(base.with_bcd(BLANK_CODE))?;

        let code = self.map.code(tube, f.digits[tube]);
        let nominal = self.timing.on_ns(f.brightness) as i64;
        if code == BLANK_CODE || nominal == 0 || !f.hv {
            return Ok(());
        }
        let max_on = self.timing.max_on_ns() as i64;
        // A tube owed light gets more; when the most-owed tube cannot get
        // all it is owed (full brightness), every tube gives up the same
        // amount instead, so on-times stay equal.
        let most_owed = self.debt.iter().copied().min().unwrap_or(0);
        let excess = (nominal - most_owed - max_on).max(0);
        let target = (nominal - self.debt[tube] - excess).clamp(0, max_on) as u64;
        // The blank counts from the real anode-off, so lateness never eats it.
        let on_at = (start + self.timing.blank_ns).max(self.last_off + self.timing.blank_ns);
        self.timer.sleep_until(on_at);
        now = self.timer.now_ns();
        let slot_end = start + slot;
        if target == 0 || now + 1_000 >= slot_end {
            self.owe(tube, -nominal);
            return Ok(());
        }
        // 3. digit code while dark, 4. anode on.
        self.put(base.with_bcd(code))?;
        let lit = base
            .with_bcd(code)
            .with(Signal::Anode(tube as u8), true)
            .with(Signal::Colon, f.colon);
        let t_on = self.put(lit)?;
        let off_at = (t_on + target).min(slot_end);
        self.timer.sleep_until(off_at);
        // 5. anode off.
        let t_off = self.put(base.with_bcd(code))?;
        if let Some(log) = &mut self.lateness {
            log.push(t_on.saturating_sub(on_at));
            log.push(t_off.saturating_sub(off_at));
        }
        let actual = self.last_off.saturating_sub(t_on) as i64;
        self.owe(tube, actual - nominal);
        Ok(())
    }

    /// Runs whole frames until `stop` is set, then turns everything off.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), BackendError> {
        let r = (|| {
            while !stop.load(Ordering::Relaxed) {
                self.step()?;
            }
            Ok(())
        })();
        let off = self.all_off();
        r.and(off)
    }

    /// Runs `frames` whole frames (tests and `nixie sim`).
    pub fn run_frames(&mut self, frames: u64) -> Result<(), BackendError> {
        for _ in 0..frames * TUBES as u64 {
            self.step()?;
        }
        Ok(())
    }

    /// Runs slots until the slot grid reaches `deadline_ns` (slots the
    /// host made the thread miss are skipped, not made up).
    pub fn run_until(&mut self, deadline_ns: u64) -> Result<(), BackendError> {
        while self.next_slot < deadline_ns {
            self.step()?;
        }
        Ok(())
    }

    /// Anodes off first, then blank code, colon and high voltage off.
    pub fn all_off(&mut self) -> Result<(), BackendError> {
        self.put(self.levels.without_anodes())?;
        self.put(Levels::all_off())?;
        Ok(())
    }

    /// Gives back the backend and timer.
    pub fn into_parts(self) -> (B, T) {
        (self.backend, self.timer)
    }
}

/// A multiplexer running on its own thread.
pub struct MuxThread<B: Backend + 'static> {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<(Result<(), BackendError>, B)>>,
}

impl<B: Backend + 'static> MuxThread<B> {
    /// Starts the multiplexer on a dedicated thread named `nixie-mux`, after
    /// [`prepare_thread`]. The backend is moved into the thread and handed
    /// back by [`MuxThread::stop`].
    pub fn spawn(
        timing: Timing,
        map: CathodeMap,
        backend: B,
        frame: Arc<FrameCell>,
        rt: Realtime,
    ) -> std::io::Result<MuxThread<B>> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("nixie-mux".into())
            .spawn(move || {
                prepare_thread(rt);
                let timer = RealTimer {
                    spin_ns: timing.spin_ns,
                };
                let mut mux = Multiplexer::new(timing, map, backend, timer, frame);
                let r = mux.run(&stop2);
                if let Err(e) = &r {
                    tracing::error!("mux: {e}");
                }
                (r, mux.into_parts().0)
            })?;
        Ok(MuxThread {
            stop,
            handle: Some(handle),
        })
    }

    /// Whether the thread is still running (it ends on a backend error).
    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Stops the thread, which turns every anode, the colon and HV off
    /// before it ends, and returns the backend.
    pub fn stop(mut self) -> Result<B, BackendError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<B, BackendError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok((Ok(()), b))) => Ok(b),
            Some(Ok((Err(e), _))) => Err(e),
            Some(Err(_)) => Err(BackendError::Thread("multiplexer thread panicked".into())),
            None => Err(BackendError::Thread("multiplexer already stopped".into())),
        }
    }
}

impl<B: Backend + 'static> Drop for MuxThread<B> {
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.stop_inner();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::SimBackend;

    #[test]
    fn frame_packs_round_trip() {
        let f = Frame {
            digits: [None, Some(2), Some(9), Some(0)],
            colon: true,
            brightness: 0.37,
            hv: true,
        };
        let g = Frame::unpack(f.pack());
        assert_eq!(g.digits, f.digits);
        assert!(g.colon && g.hv);
        assert!((g.brightness - 0.37).abs() < 1e-4);
        assert_eq!(Frame::unpack(Frame::DARK.pack()), Frame::DARK);
    }

    #[test]
    fn timing_arithmetic() {
        let t = Timing::default();
        assert_eq!(t.slot_ns(), 2_500_000);
        assert_eq!(t.max_on_ns(), 1_900_000);
        assert_eq!(t.on_ns(0.5), 950_000);
        assert_eq!(t.on_ns(2.0), 1_900_000);
    }

    #[test]
    fn one_slot_has_the_documented_order() {
        let (sim, probe) = SimBackend::new(100);
        let frame = Arc::new(FrameCell::new(Frame {
            digits: [Some(1), Some(2), Some(3), Some(4)],
            colon: true,
            brightness: 1.0,
            hv: true,
        }));
        let mut m = Multiplexer::new(
            Timing::default(),
            CathodeMap::default(),
            sim,
            VirtualTimer::exact(1_000),
            frame,
        );
        m.step().unwrap();
        let r = probe.recording(0);
        let s: Vec<_> = r
            .samples
            .iter()
            .map(|s| (s.t_ns - 1_000, s.levels))
            .collect();
        let base = Levels::all_off().with(Signal::HvEnable, true);
        let lit = base
            .with_bcd(1)
            .with(Signal::Anode(0), true)
            .with(Signal::Colon, true);
        assert_eq!(
            s,
            vec![
                (0, base),
                (600_000, base.with_bcd(1)),
                (600_000, lit),
                (2_500_000, base.with_bcd(1)),
            ]
        );
    }

    #[test]
    fn all_off_turns_anodes_off_before_the_code_changes() {
        let (sim, probe) = SimBackend::new(100);
        let frame = Arc::new(FrameCell::new(Frame {
            digits: [Some(5); 4],
            colon: true,
            brightness: 0.5,
            hv: true,
        }));
        let mut m = Multiplexer::new(
            Timing::default(),
            CathodeMap::default(),
            sim,
            VirtualTimer::exact(0),
            frame,
        );
        // Stop in the middle of a lit slot.
        m.timer.now = 0;
        m.step().unwrap();
        m.put(m.levels.with(Signal::Anode(0), true)).unwrap();
        m.all_off().unwrap();
        let r = probe.recording(0);
        let n = r.samples.len();
        assert_eq!(r.samples[n - 2].levels.anodes(), 0);
        assert_eq!(r.samples[n - 2].levels.bcd(), 5);
        assert_eq!(r.samples[n - 1].levels, Levels::all_off());
    }
}
