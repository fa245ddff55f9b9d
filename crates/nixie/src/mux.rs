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
//! errors never accumulate). Before an anode edge it wakes a margin early
//! and busy-waits to the edge; the margin follows the wake-up lateness the
//! host has recently shown (just above its 99.5th percentile), bounded so
//! that the spinning stays under [`SPIN_CPU_SHARE`] of a core.
//! [`VirtualTimer`] lets tests run many seconds of waveform in
//! milliseconds, with injected wake-up lateness.
//!
//! An edge's time is read from CLOCK_MONOTONIC right *after* the backend's
//! write returned, so the lateness logged for it includes the write itself:
//! by then the pin is certainly at its new level.

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

/// The largest share of one core the adaptive pre-edge spin may take (2.5 %):
/// the margin never exceeds the median wake-up lateness plus this share of
/// a second divided by the anode edges per second, and shrinks when the
/// measured spinning goes over it.
pub const SPIN_CPU_SHARE: f64 = 0.025;

/// How the multiplexer absorbs wake-up lateness before an anode edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spin {
    /// Sleep right up to the edge: each edge is as late as the wake-up.
    Off,
    /// Wake this long (ns) before every edge and busy-wait the rest.
    Fixed(u64),
    /// Wake a margin before every edge, chosen from the recent wake-up
    /// lateness (just above its 99.5th percentile), never more than
    /// `max_ns` nor than [`SPIN_CPU_SHARE`] of a core allows.
    Adaptive {
        /// Upper bound of the margin (ns).
        max_ns: u64,
    },
}

/// Timing parameters of the multiplexer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Frames per second (every tube lit once per frame), 50–500.
    pub frame_hz: u32,
    /// Dark time between one anode going off and the next going on (ns).
    pub blank_ns: u64,
    /// Pre-edge busy-wait.
    pub spin: Spin,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            frame_hz: 100,
            blank_ns: 600_000,
            spin: Spin::Adaptive { max_ns: 100_000 },
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
    /// Anode edges per second (one on, one off per slot).
    pub fn edges_per_s(&self) -> u64 {
        2 * TUBES as u64 * u64::from(self.frame_hz)
    }
    /// The largest pre-edge margin the spin may use (ns).
    pub fn spin_cap_ns(&self) -> u64 {
        match self.spin {
            Spin::Off => 0,
            Spin::Fixed(ns) | Spin::Adaptive { max_ns: ns } => ns,
        }
    }
    /// Spin time per edge that [`SPIN_CPU_SHARE`] of a core pays for (ns).
    pub fn spin_budget_per_edge_ns(&self) -> u64 {
        (SPIN_CPU_SHARE * 1e9) as u64 / self.edges_per_s().max(1)
    }
}

/// A source of monotonic time that can sleep until an absolute deadline.
pub trait Timer: Send {
    /// Current time (ns).
    fn now_ns(&mut self) -> u64;
    /// Returns at or after `deadline_ns`, never before. For deadlines that
    /// need no precision (the start of a slot).
    fn sleep_until(&mut self, deadline_ns: u64);
    /// Returns as close after `deadline_ns` as the timer can manage: the
    /// deadline of an anode edge.
    fn wait_edge(&mut self, deadline_ns: u64) {
        self.sleep_until(deadline_ns);
    }
}

impl<T: Timer + ?Sized> Timer for Box<T> {
    fn now_ns(&mut self) -> u64 {
        (**self).now_ns()
    }
    fn sleep_until(&mut self, deadline_ns: u64) {
        (**self).sleep_until(deadline_ns);
    }
    fn wait_edge(&mut self, deadline_ns: u64) {
        (**self).wait_edge(deadline_ns);
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time consumed by the calling thread (ns).
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sleeps until CLOCK_MONOTONIC reaches `t_ns`.
fn sleep_abs(t_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (t_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (t_ns % 1_000_000_000) as libc::c_long,
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
}

/// Touches every page of `v`'s spare capacity so that later pushes (up to
/// the capacity) never page-fault on the timing-critical path.
pub(crate) fn prefault<T: Copy>(v: &mut Vec<T>, fill: T) {
    let per_page = (4096 / std::mem::size_of::<T>().max(1)).max(1);
    let spare = v.spare_capacity_mut();
    let last = spare.len().checked_sub(1);
    for i in (0..spare.len()).step_by(per_page).chain(last) {
        // SAFETY: writing an initialised `T` into spare capacity is sound; the
        // length is not changed, so the value is never read as part of `v`.
        // Volatile so the write cannot be optimised away.
        unsafe { spare[i].as_mut_ptr().write_volatile(fill) };
    }
}

/// A log of durations (ns) that never allocates after it is made: pushes
/// beyond the capacity are dropped. Its pages are touched when it is made,
/// so pushing never page-faults on the timing-critical path.
#[derive(Clone, Debug, Default)]
pub struct DurationLog(Vec<u64>);

impl DurationLog {
    /// A log with room for `capacity` values (0: logs nothing).
    pub fn with_capacity(capacity: usize) -> DurationLog {
        let mut v = Vec::with_capacity(capacity);
        prefault(&mut v, 0);
        DurationLog(v)
    }

    /// Appends `ns` if there is room.
    pub fn push(&mut self, ns: u64) {
        if self.0.len() < self.0.capacity() {
            self.0.push(ns);
        }
    }

    /// The values logged so far.
    pub fn as_slice(&self) -> &[u64] {
        &self.0
    }
}

/// Wake-ups in the window the adaptive margin is fitted on.
const WAKE_WINDOW: usize = 1024;
/// Refit the margin every this many wake-ups.
const REFIT_EVERY: u32 = 128;
/// Added to the observed lateness quantile (ns).
const MARGIN_HEADROOM_NS: u64 = 2_000;

/// What the pre-edge spin did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpinStats {
    /// Edge wake-ups (sleeps that ended in a spin, or would have).
    pub wakes: u64,
    /// Total time spent busy-waiting (ns).
    pub spun_ns: u64,
    /// The margin in use at the end (ns).
    pub margin_ns: u64,
    /// The cap on the margin (ns).
    pub cap_ns: u64,
}

/// The real clock: absolute-deadline sleeps, plus a pre-edge spin whose
/// margin is fixed or follows the host's recent wake-up lateness.
#[derive(Clone, Debug)]
pub struct RealTimer {
    spin: Spin,
    cap_ns: u64,
    budget_per_edge_ns: u64,
    margin_ns: u64,
    /// Time and total spin at the last refit.
    fit_at_ns: u64,
    spun_at_fit_ns: u64,
    /// Ring of recent wake-up lateness (ns, saturated).
    recent: Box<[u32; WAKE_WINDOW]>,
    filled: usize,
    next: usize,
    since_fit: u32,
    stats: SpinStats,
    /// Every edge wake-up's lateness (ns), when logging is on.
    wake_log: DurationLog,
}

impl RealTimer {
    /// A timer spinning as `timing` says. An adaptive margin starts at what
    /// the CPU budget pays for (within the cap) and follows the host from
    /// the first refit on.
    pub fn new(timing: &Timing) -> RealTimer {
        let cap_ns = timing.spin_cap_ns();
        let budget_per_edge_ns = timing.spin_budget_per_edge_ns();
        let margin_ns = match timing.spin {
            Spin::Adaptive { .. } => cap_ns.min(budget_per_edge_ns),
            _ => cap_ns,
        };
        RealTimer {
            spin: timing.spin,
            cap_ns,
            budget_per_edge_ns,
            margin_ns,
            fit_at_ns: monotonic_ns(),
            spun_at_fit_ns: 0,
            recent: Box::new([0; WAKE_WINDOW]),
            filled: 0,
            next: 0,
            since_fit: 0,
            stats: SpinStats {
                cap_ns,
                margin_ns,
                ..SpinStats::default()
            },
            wake_log: DurationLog::default(),
        }
    }

    /// Logs the lateness of up to `capacity` edge wake-ups (the buffer is
    /// allocated and touched now, not while running).
    pub fn log_wakes(&mut self, capacity: usize) {
        self.wake_log = DurationLog::with_capacity(capacity);
    }

    /// The logged wake-up lateness (ns): how late `clock_nanosleep` returned
    /// compared with the time asked for (before any spin).
    pub fn wake_lateness(&self) -> &[u64] {
        self.wake_log.as_slice()
    }

    /// What the spin did so far.
    pub fn stats(&self) -> SpinStats {
        self.stats
    }

    /// The pre-edge margin in use (ns).
    pub fn margin_ns(&self) -> u64 {
        self.margin_ns
    }

    fn note_wake(&mut self, late_ns: u64) {
        self.stats.wakes += 1;
        self.wake_log.push(late_ns);
        self.recent[self.next] = late_ns.min(u64::from(u32::MAX)) as u32;
        self.next = (self.next + 1) % WAKE_WINDOW;
        self.filled = (self.filled + 1).min(WAKE_WINDOW);
        self.since_fit += 1;
    }

    /// Sets the adaptive margin just above the 99.5th percentile of the
    /// recent wake-up lateness, within the cap and the CPU budget: an edge
    /// costs about `margin − lateness` of spinning, so the margin may exceed
    /// the median lateness by the budget per edge; if the spinning measured
    /// since the last refit still went over [`SPIN_CPU_SHARE`], the margin
    /// shrinks by a quarter.
    fn refit(&mut self, now_ns: u64) {
        self.since_fit = 0;
        let elapsed = now_ns.saturating_sub(self.fit_at_ns);
        let spun = self.stats.spun_ns - self.spun_at_fit_ns;
        self.fit_at_ns = now_ns;
        self.spun_at_fit_ns = self.stats.spun_ns;
        let n = self.filled;
        if n < REFIT_EVERY as usize {
            return;
        }
        let mut scratch = *self.recent;
        let window = &mut scratch[..n];
        let (_, median, above) = window.select_nth_unstable(n / 2);
        let median = u64::from(*median);
        // The 99.5th percentile lies among the values above the median.
        let k = ((n - 1) * 995 / 1000).saturating_sub(n / 2 + 1);
        let q = if above.is_empty() {
            median
        } else {
            let k = k.min(above.len() - 1);
            u64::from(*above.select_nth_unstable(k).1)
        };
        let mut allowed = (median + self.budget_per_edge_ns).min(self.cap_ns);
        if elapsed > 0 && spun as f64 > SPIN_CPU_SHARE * elapsed as f64 {
            allowed = allowed.min(self.margin_ns * 3 / 4);
        }
        self.margin_ns = (q + MARGIN_HEADROOM_NS).min(allowed);
        self.stats.margin_ns = self.margin_ns;
    }
}

impl Timer for RealTimer {
    fn now_ns(&mut self) -> u64 {
        monotonic_ns()
    }

    fn sleep_until(&mut self, deadline_ns: u64) {
        if monotonic_ns() < deadline_ns {
            sleep_abs(deadline_ns);
        }
    }

    fn wait_edge(&mut self, deadline_ns: u64) {
        let mut now = monotonic_ns();
        if now >= deadline_ns {
            return;
        }
        // Refit while there is time to spare before the edge.
        if matches!(self.spin, Spin::Adaptive { .. })
            && self.since_fit >= REFIT_EVERY
            && deadline_ns - now > self.margin_ns + 100_000
        {
            self.refit(now);
        }
        let margin = match self.spin {
            Spin::Off => 0,
            Spin::Fixed(_) => self.cap_ns,
            Spin::Adaptive { .. } => self.margin_ns,
        };
        let wake = deadline_ns.saturating_sub(margin);
        if now < wake {
            sleep_abs(wake);
            now = monotonic_ns();
            self.note_wake(now.saturating_sub(wake));
        }
        let spin_from = now;
        while now < deadline_ns {
            std::hint::spin_loop();
            now = monotonic_ns();
        }
        self.stats.spun_ns += now.saturating_sub(spin_from);
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
    /// Pin the multiplexer thread to this CPU.
    pub cpu: Option<usize>,
}

/// What [`prepare_thread`] actually obtained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RealtimeStatus {
    /// Timer slack is 1 ns.
    pub timer_slack: bool,
    /// SCHED_FIFO priority in effect, if any.
    pub fifo: Option<u8>,
    /// Memory is locked.
    pub memory_locked: bool,
    /// CPU the thread is pinned to, if any.
    pub cpu: Option<usize>,
}

impl std::fmt::Display for RealtimeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.fifo {
            Some(p) => write!(f, "SCHED_FIFO {p}")?,
            None => write!(f, "normal scheduling")?,
        }
        write!(
            f,
            ", mlockall {}, timer slack {}",
            if self.memory_locked { "yes" } else { "no" },
            if self.timer_slack { "1 ns" } else { "default" }
        )?;
        match self.cpu {
            Some(c) => write!(f, ", pinned to CPU {c}"),
            None => write!(f, ", any CPU"),
        }
    }
}

/// Whether `mlockall(MCL_CURRENT | MCL_FUTURE)` can be used without making
/// later allocations fail: root, or no limit on locked memory.
fn may_lock_all() -> bool {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit; geteuid cannot fail.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) };
    (rc == 0 && lim.rlim_cur == libc::RLIM_INFINITY) || unsafe { libc::geteuid() } == 0
}

/// Logs the outcome of one real-time set-up step (`what`, and what it
/// means when it failed); returns whether it worked.
fn attempt(what: &str, r: std::io::Result<()>, otherwise: &str) -> bool {
    match &r {
        Ok(()) => tracing::info!("mux: {what}: in effect"),
        Err(e) => tracing::warn!("mux: {what}: not in effect ({e}); {otherwise}"),
    }
    r.is_ok()
}

/// `Ok` for a zero return code, else the error in `errno`.
fn errno_result(rc: libc::c_int) -> std::io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn set_timer_slack_1ns() -> std::io::Result<()> {
    // SAFETY: prctl with PR_SET_TIMERSLACK takes plain integers.
    errno_result(unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) })
}

fn pin_to_cpu(cpu: usize) -> std::io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: an all-zero cpu_set_t is a valid empty set; CPU_SET stays
    // inside it for cpu < CPU_SETSIZE (checked); pid 0 is this thread.
    errno_result(unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    })
}

fn set_fifo(prio: u8) -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: i32::from(prio),
    };
    // SAFETY: `param` is valid for the call; pthread_self is always valid.
    match unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) } {
        0 => Ok(()),
        rc => Err(std::io::Error::from_raw_os_error(rc)),
    }
}

fn lock_all_memory() -> std::io::Result<()> {
    if !may_lock_all() {
        // With a finite RLIMIT_MEMLOCK, MCL_FUTURE would make later
        // allocations fail once the limit is reached: do without.
        return Err(std::io::Error::other("RLIMIT_MEMLOCK is limited"));
    }
    // SAFETY: mlockall takes flags only.
    errno_result(unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) })
}

/// Prepares the calling thread for precise wake-ups and says, in the log,
/// what it could and could not get. Never fails: every step is best effort;
/// the result says what is in effect.
pub fn prepare_thread(rt: Realtime) -> RealtimeStatus {
    RealtimeStatus {
        timer_slack: attempt(
            "timer slack 1 ns",
            set_timer_slack_1ns(),
            "wake-ups will be ~50 µs late",
        ),
        cpu: rt.cpu.filter(|&cpu| {
            attempt(
                &format!("pinning to CPU {cpu}"),
                pin_to_cpu(cpu),
                "running on any CPU",
            )
        }),
        fifo: rt.fifo_priority.filter(|&prio| {
            attempt(
                &format!("SCHED_FIFO priority {prio}"),
                set_fifo(prio),
                &format!(
                    "running with normal scheduling. Allow it with LimitRTPRIO={prio} in the \
                     systemd unit or `ulimit -r {prio}`"
                ),
            )
        }),
        memory_locked: rt.lock_memory
            && attempt(
                "mlockall",
                lock_all_memory(),
                "pages may fault in during a slot. Allow it with LimitMEMLOCK=infinity in the \
                 systemd unit",
            ),
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
    lateness: DurationLog,
    /// Duration of each backend write that changed a line (ns), when
    /// logging is on.
    write_ns: DurationLog,
    /// Slots skipped because the thread woke after they had ended.
    missed_slots: u64,
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
            lateness: DurationLog::default(),
            write_ns: DurationLog::default(),
            missed_slots: 0,
        }
    }

    /// Logs how late each of up to `capacity` anode-on and anode-off edges
    /// is written compared with its deadline (for `--report` and the
    /// benchmark). The buffer is allocated and touched now, so logging never
    /// allocates or page-faults while running. An edge that could not be
    /// written at all (its slot had passed) is logged with the lateness it
    /// had when the thread woke up.
    pub fn log_lateness(&mut self, capacity: usize) {
        self.lateness = DurationLog::with_capacity(capacity);
        self.write_ns = DurationLog::with_capacity(capacity * 3);
    }

    /// The lateness log (ns), empty unless [`Multiplexer::log_lateness`] was called.
    pub fn lateness(&self) -> &[u64] {
        self.lateness.as_slice()
    }

    /// How long each logged backend write took (ns), from issuing it to
    /// its return (empty unless [`Multiplexer::log_lateness`] was called).
    pub fn write_durations(&self) -> &[u64] {
        self.write_ns.as_slice()
    }

    /// Slots skipped so far because the thread woke after they had ended.
    pub fn missed_slots(&self) -> u64 {
        self.missed_slots
    }

    /// The timer.
    pub fn timer(&self) -> &T {
        &self.timer
    }

    /// Start of the slot grid (ns): slot `k` starts at `origin + k × slot`.
    pub fn next_slot_ns(&self) -> u64 {
        self.next_slot
    }

    /// Starts the slot grid at the timer's current time (after set-up that
    /// took a while); returns the new origin.
    pub fn restart_grid(&mut self) -> u64 {
        let now = self.timer.now_ns();
        self.next_slot = now;
        self.last_off = now;
        now
    }

    /// Writes `levels` if they differ from the current ones. The backend
    /// is given the time the write is issued (what the simulator records);
    /// the time returned is read after the write returned, when the pins are
    /// certainly at their new levels: edge lateness and the blank are
    /// measured from it.
    fn put(&mut self, levels: Levels) -> Result<u64, BackendError> {
        let t = self.timer.now_ns();
        if levels == self.levels {
            return Ok(t);
        }
        self.backend.write(t, levels)?;
        let done = self.timer.now_ns();
        self.write_ns.push(done.saturating_sub(t));
        if levels.anodes() == 0 && self.levels.anodes() != 0 {
            self.last_off = done;
        }
        self.levels = levels;
        Ok(done)
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
        // Woken after the whole slot passed: skip ahead on the grid, keep
        // tube order. The slot's anode-on edge is logged as late as it was.
        if now >= start + slot {
            let missed = (now - start) / slot;
            self.next_slot = start + missed * slot;
            self.missed_slots += missed;
            self.lateness
                .push(now.saturating_sub(start + self.timing.blank_ns));
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
        self.timer.wait_edge(on_at);
        now = self.timer.now_ns();
        let slot_end = start + slot;
        if target == 0 || now + 1_000 >= slot_end {
            if target > 0 {
                self.lateness.push(now.saturating_sub(on_at));
            }
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
        self.timer.wait_edge(off_at);
        // 5. anode off.
        let t_off = self.put(base.with_bcd(code))?;
        self.lateness.push(t_on.saturating_sub(on_at));
        self.lateness.push(t_off.saturating_sub(off_at));
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

/// What a multiplexer thread measured about itself.
#[derive(Clone, Debug, Default)]
pub struct MuxReport {
    /// The real-time settings that were in effect.
    pub realtime: RealtimeStatus,
    /// Lateness of every anode edge against its deadline (ns), when measured.
    pub edge_lateness: Vec<u64>,
    /// How long each backend write took (ns), when measured: the part of
    /// the edge lateness the write itself adds.
    pub write_ns: Vec<u64>,
    /// Lateness of every edge wake-up from `clock_nanosleep` (ns), when measured.
    pub wake_lateness: Vec<u64>,
    /// Slots skipped because the thread woke after they had ended.
    pub missed_slots: u64,
    /// What the pre-edge spin did.
    pub spin: SpinStats,
    /// CPU time of the multiplexer thread (ns).
    pub thread_cpu_ns: u64,
    /// Wall time the thread ran (ns).
    pub run_ns: u64,
}

/// Stack of the multiplexer thread: it needs little, and with `mlockall`
/// every byte of it is resident.
const MUX_STACK: usize = 256 * 1024;

type MuxResult<B> = (Result<(), BackendError>, B, MuxReport);

/// A multiplexer running on its own thread.
pub struct MuxThread<B: Backend + 'static> {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<MuxResult<B>>>,
}

impl<B: Backend + 'static> MuxThread<B> {
    /// Starts the multiplexer on a dedicated thread named `nixie-mux`, after
    /// [`prepare_thread`]. The backend is moved into the thread and handed
    /// back by [`MuxThread::stop`]. With `measure_edges > 0` the thread logs
    /// the lateness of that many edges and wake-ups (buffers allocated
    /// before it starts), returned by [`MuxThread::stop_with_report`].
    pub fn spawn(
        timing: Timing,
        map: CathodeMap,
        backend: B,
        frame: Arc<FrameCell>,
        rt: Realtime,
        measure_edges: usize,
    ) -> std::io::Result<MuxThread<B>> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("nixie-mux".into())
            .stack_size(MUX_STACK)
            .spawn(move || {
                let mut timer = RealTimer::new(&timing);
                timer.log_wakes(measure_edges);
                let mut mux = Multiplexer::new(timing, map, backend, timer, frame);
                mux.log_lateness(measure_edges);
                // Buffers are in place: lock them with everything else.
                let realtime = prepare_thread(rt);
                let cpu0 = thread_cpu_ns();
                let t0 = mux.restart_grid();
                let r = mux.run(&stop2);
                if let Err(e) = &r {
                    tracing::error!("mux: {e}");
                }
                let report = MuxReport {
                    realtime,
                    edge_lateness: mux.lateness().to_vec(),
                    write_ns: mux.write_durations().to_vec(),
                    wake_lateness: mux.timer.wake_lateness().to_vec(),
                    missed_slots: mux.missed_slots,
                    spin: mux.timer.stats(),
                    thread_cpu_ns: thread_cpu_ns().saturating_sub(cpu0),
                    run_ns: monotonic_ns().saturating_sub(t0),
                };
                (r, mux.into_parts().0, report)
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
        self.stop_inner().map(|(b, _)| b)
    }

    /// Like [`MuxThread::stop`], also returning what the thread measured.
    pub fn stop_with_report(mut self) -> Result<(B, MuxReport), BackendError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(B, MuxReport), BackendError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok((Ok(()), b, report))) => Ok((b, report)),
            Some(Ok((Err(e), _, _))) => Err(e),
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
    use crate::backend::sim::{SimBackend, SimProbe};

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

    /// A multiplexer with default timing on a simulated board recording
    /// 100 writes, showing `digits` at `brightness` (colon and HV on).
    fn sim_mux(
        digits: [Option<u8>; TUBES],
        brightness: f32,
        timer: VirtualTimer,
    ) -> (Multiplexer<SimBackend, VirtualTimer>, SimProbe) {
        let (sim, probe) = SimBackend::new(100);
        let frame = Arc::new(FrameCell::new(Frame {
            digits,
            colon: true,
            brightness,
            hv: true,
        }));
        let m = Multiplexer::new(Timing::default(), CathodeMap::default(), sim, timer, frame);
        (m, probe)
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
        let digits = [Some(1), Some(2), Some(3), Some(4)];
        let (mut m, probe) = sim_mux(digits, 1.0, VirtualTimer::exact(1_000));
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
    fn adaptive_margin_follows_the_lateness_within_the_cpu_budget() {
        let timing = Timing::default();
        let budget = timing.spin_budget_per_edge_ns();
        assert_eq!(budget, 31_250, "2.5 % of a core over 800 edges/s");
        let mut t = RealTimer::new(&timing);
        assert_eq!(t.margin_ns(), budget, "starts at what the budget pays for");
        // Quiet host: 5 µs typical, 1 in 100 at 12 µs.
        for i in 0..WAKE_WINDOW as u64 {
            t.note_wake(if i % 100 == 0 { 12_000 } else { 5_000 });
        }
        t.refit(t.fit_at_ns + 1_000_000_000);
        assert_eq!(t.margin_ns(), 12_000 + MARGIN_HEADROOM_NS);
        // Loaded host: lateness spread up to 90 µs, median 45 µs: the 99.5th
        // percentile is beyond what the budget allows over the median.
        for i in 0..WAKE_WINDOW as u64 {
            t.note_wake(i * 90_000 / WAKE_WINDOW as u64);
        }
        t.refit(t.fit_at_ns + 1_000_000_000);
        let median = 45_000;
        assert!(
            t.margin_ns().abs_diff(median + budget) <= 100,
            "{}",
            t.margin_ns()
        );
        // Measured spinning over budget (10 % of the last second): shrink.
        let before = t.margin_ns();
        t.stats.spun_ns += 100_000_000;
        t.refit(t.fit_at_ns + 1_000_000_000);
        assert_eq!(t.margin_ns(), before * 3 / 4);
        // Never above the configured bound.
        let small = Timing {
            spin: Spin::Adaptive { max_ns: 10_000 },
            ..Timing::default()
        };
        let mut t = RealTimer::new(&small);
        for _ in 0..WAKE_WINDOW {
            t.note_wake(30_000);
        }
        t.refit(t.fit_at_ns + 1_000_000_000);
        assert_eq!(t.margin_ns(), 10_000);
        assert_eq!(
            RealTimer::new(&Timing {
                spin: Spin::Off,
                ..small
            })
            .margin_ns(),
            0
        );
    }

    #[test]
    fn real_timer_never_returns_before_the_edge() {
        let mut t = RealTimer::new(&Timing::default());
        t.log_wakes(16);
        for _ in 0..8 {
            let deadline = monotonic_ns() + 300_000;
            t.wait_edge(deadline);
            assert!(monotonic_ns() >= deadline);
        }
        assert_eq!(t.stats().wakes, 8);
        assert_eq!(t.wake_lateness().len(), 8);
    }

    #[test]
    fn prefault_keeps_the_vector_empty() {
        let mut v: Vec<u64> = Vec::with_capacity(10_000);
        prefault(&mut v, 7);
        assert!(v.is_empty());
        assert_eq!(v.capacity(), 10_000);
        let mut e: Vec<u64> = Vec::new();
        prefault(&mut e, 7);
        assert!(e.is_empty());
    }

    #[test]
    fn a_missed_slot_is_counted_and_logged_as_late() {
        let (mut m, _probe) = sim_mux([Some(1); 4], 1.0, VirtualTimer::exact(0));
        m.log_lateness(64);
        m.step().unwrap();
        // The host stalls the thread for three slots (7.5 ms).
        m.timer.now += 7_500_000;
        m.step().unwrap();
        assert_eq!(m.missed_slots(), 3);
        let l = m.lateness();
        assert_eq!(l.len(), 3, "on, off, then the missed slot's on edge");
        assert_eq!(l[2], 7_500_000 - 600_000);
    }

    #[test]
    fn pinning_restricts_the_thread_to_one_cpu() {
        std::thread::spawn(|| {
            // SAFETY: sched_getcpu has no preconditions.
            let cpu = unsafe { libc::sched_getcpu() } as usize;
            let status = prepare_thread(Realtime {
                cpu: Some(cpu),
                ..Realtime::default()
            });
            assert_eq!(status.cpu, Some(cpu));
            assert_eq!(status.fifo, None);
            assert!(status.timer_slack);
            // SAFETY: an all-zero cpu_set_t is valid; the kernel fills it in.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::cpu_set_t>();
            assert_eq!(unsafe { libc::sched_getaffinity(0, size, &mut set) }, 0);
            assert_eq!(unsafe { libc::CPU_COUNT(&set) }, 1);
            assert!(unsafe { libc::CPU_ISSET(cpu, &set) });
            // A CPU that cannot exist is refused, not fatal.
            let status = prepare_thread(Realtime {
                cpu: Some(libc::CPU_SETSIZE as usize + 1),
                ..Realtime::default()
            });
            assert_eq!(status.cpu, None);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn realtime_status_says_what_is_in_effect() {
        let s = RealtimeStatus {
            timer_slack: true,
            fifo: Some(10),
            memory_locked: true,
            cpu: Some(1),
        };
        assert_eq!(
            s.to_string(),
            "SCHED_FIFO 10, mlockall yes, timer slack 1 ns, pinned to CPU 1"
        );
        assert!(
            RealtimeStatus::default()
                .to_string()
                .starts_with("normal scheduling, mlockall no")
        );
    }

    #[test]
    fn all_off_turns_anodes_off_before_the_code_changes() {
        let (mut m, probe) = sim_mux([Some(5); 4], 0.5, VirtualTimer::exact(0));
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
