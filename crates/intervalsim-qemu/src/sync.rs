//! Lax barrier synchronisation of simulated time across guest threads.
//!
//! Every guest thread is a simulated core with its own clock (in core cycles). Time is cut into
//! quanta (100 ns by default); a thread whose clock crosses the end of a quantum waits there
//! until every other *running* thread has reached it too, so no thread runs more than about a
//! quantum ahead of another. Threads inside a system call (a futex wait, a join, a blocking read)
//! are *blocked*: they are left out of the barrier, so a thread waiting for a lock held by a
//! thread stuck at the barrier cannot deadlock it. When a blocked thread comes back its clock
//! jumps forward to the others' (the frontier) and the jump is charged to `sync`.
//!
//! QEMU itself can hold a running thread still (its exclusive sections stop all vCPUs); a waiter
//! that sees no progress from the threads it waits for for [`STALL_TIMEOUT`] gives way and
//! counts a timeout rather than deadlock.
//!
//! Slots are indexed by vCPU index and only written by the thread owning that index; waiting
//! reads the others' published clocks with atomic loads. No lock anywhere.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

// `running` counts slots in the RUNNING state; it lets a lone thread skip the barrier entirely.
use std::time::{Duration, Instant};

/// How long a waiter tolerates no progress at all from the threads it waits for.
pub const STALL_TIMEOUT: Duration = Duration::from_millis(200);

const FREE: u8 = 0;
const RUNNING: u8 = 1;
const BLOCKED: u8 = 2;

#[repr(align(64))]
struct Slot {
    state: AtomicU8,
    time: AtomicU64,
}

/// Barrier counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Quantum ends crossed (all threads).
    pub crossings: u64,
    /// Crossings that waited for another thread.
    pub waits: u64,
    /// Waits abandoned after [`STALL_TIMEOUT`] without progress.
    pub timeouts: u64,
}

/// The barrier shared by all simulated cores.
pub struct Barrier {
    slots: Box<[Slot]>,
    high_water: AtomicUsize,
    running: AtomicUsize,
    quantum: u64,
    /// Largest clock published by a thread leaving or blocking: the frontier when no thread runs.
    max_time: AtomicU64,
    disabled: AtomicBool,
    crossings: AtomicU64,
    waits: AtomicU64,
    timeouts: AtomicU64,
    stall_timeout: Duration,
}

impl Barrier {
    /// A barrier for up to `slots` threads with a quantum of `quantum` cycles (at least 1).
    pub fn new(slots: usize, quantum: u64) -> Barrier {
        Barrier {
            slots: (0..slots)
                .map(|_| Slot {
                    state: AtomicU8::new(FREE),
                    time: AtomicU64::new(0),
                })
                .collect(),
            high_water: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            quantum: quantum.max(1),
            max_time: AtomicU64::new(0),
            disabled: AtomicBool::new(false),
            crossings: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            stall_timeout: STALL_TIMEOUT,
        }
    }

    /// Quantum length in cycles.
    pub fn quantum(&self) -> u64 {
        self.quantum
    }

    /// The first quantum end after `time`.
    pub fn next_boundary(&self, time: u64) -> u64 {
        (time / self.quantum + 1) * self.quantum
    }

    /// Stop all waiting for good (simulation over); later crossings return at once.
    pub fn disable(&self) {
        self.disabled.store(true, Ordering::Release);
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        Counters {
            crossings: self.crossings.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
        }
    }

    /// Thread `slot` starts running at `time`.
    pub fn join(&self, slot: usize, time: u64) {
        let Some(s) = self.slots.get(slot) else {
            return;
        };
        s.time.store(time, Ordering::Release);
        self.set_state(s, RUNNING);
        self.high_water.fetch_max(slot + 1, Ordering::AcqRel);
    }

    fn set_state(&self, s: &Slot, state: u8) {
        let old = s.state.swap(state, Ordering::AcqRel);
        if old == RUNNING && state != RUNNING {
            self.running.fetch_sub(1, Ordering::AcqRel);
        } else if old != RUNNING && state == RUNNING {
            self.running.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Whether a thread other than `slot` (assumed running) is running.
    #[inline]
    pub fn others_running(&self, _slot: usize) -> bool {
        self.running.load(Ordering::Relaxed) > 1
    }

    /// Thread `slot` ends at `time`.
    pub fn leave(&self, slot: usize, time: u64) {
        if let Some(s) = self.slots.get(slot) {
            s.time.store(time, Ordering::Release);
            self.set_state(s, FREE);
            self.max_time.fetch_max(time, Ordering::AcqRel);
        }
    }

    /// Thread `slot` blocks (enters a system call) at `time`.
    pub fn block(&self, slot: usize, time: u64) {
        if let Some(s) = self.slots.get(slot) {
            s.time.store(time, Ordering::Release);
            self.set_state(s, BLOCKED);
            self.max_time.fetch_max(time, Ordering::AcqRel);
        }
    }

    /// Thread `slot`, blocked since its clock read `time`, runs again; returns its new clock:
    /// the slowest running thread's clock if that is later, or, with no thread running, the
    /// latest clock any thread published when it blocked or ended.
    pub fn unblock(&self, slot: usize, time: u64) -> u64 {
        let frontier = self
            .min_running(slot)
            .unwrap_or_else(|| self.max_time.load(Ordering::Acquire));
        let now = time.max(frontier);
        if let Some(s) = self.slots.get(slot) {
            s.time.store(now, Ordering::Release);
            self.set_state(s, RUNNING);
        }
        now
    }

    /// Smallest published clock among running threads other than `me`.
    fn min_running(&self, me: usize) -> Option<u64> {
        let n = self
            .high_water
            .load(Ordering::Acquire)
            .min(self.slots.len());
        let mut min: Option<u64> = None;
        for (i, s) in self.slots[..n].iter().enumerate() {
            if i != me && s.state.load(Ordering::Acquire) == RUNNING {
                let t = s.time.load(Ordering::Acquire);
                min = Some(min.map_or(t, |m: u64| m.min(t)));
            }
        }
        min
    }

    /// Thread `slot` reached `time`, at or past the quantum end `boundary`: publish the clock
    /// and wait until every other running thread has reached `boundary`.
    pub fn cross(&self, slot: usize, time: u64, boundary: u64) {
        let Some(s) = self.slots.get(slot) else {
            return;
        };
        s.time.store(time, Ordering::Release);
        self.crossings.fetch_add(1, Ordering::Relaxed);
        if self.running.load(Ordering::Acquire) <= 1 {
            return;
        }
        let mut waited = false;
        let mut spins = 0u32;
        let mut last_progress = Instant::now();
        let mut last_min = 0u64;
        loop {
            if self.disabled.load(Ordering::Acquire) {
                break;
            }
            let lagging = match self.min_running(slot) {
                Some(min) if min < boundary => min,
                _ => break,
            };
            if !waited {
                waited = true;
                self.waits.fetch_add(1, Ordering::Relaxed);
                last_min = lagging;
            }
            if lagging != last_min {
                last_min = lagging;
                last_progress = Instant::now();
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else if spins < 256 {
                std::thread::yield_now();
            } else {
                if last_progress.elapsed() > self.stall_timeout {
                    self.timeouts.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn boundaries_and_single_thread_never_waits() {
        let b = Barrier::new(4, 100);
        assert_eq!(b.next_boundary(0), 100);
        assert_eq!(b.next_boundary(250), 300);
        b.join(0, 0);
        b.cross(0, 120, 100);
        assert_eq!(
            b.counters(),
            Counters {
                crossings: 1,
                waits: 0,
                timeouts: 0
            }
        );
    }

    #[test]
    fn blocked_threads_are_left_out_and_catch_up_as_sync() {
        let b = Barrier::new(4, 100);
        b.join(0, 0);
        b.join(1, 0);
        b.block(1, 50);
        // Thread 0 crosses many quanta without waiting for the blocked thread.
        b.cross(0, 1000, 1000);
        assert_eq!(b.counters().waits, 0);
        // Thread 1 comes back at thread 0's clock.
        assert_eq!(b.unblock(1, 50), 1000);
        // Nobody else running: a returning thread takes the latest published clock.
        b.leave(0, 5000);
        b.block(1, 1200);
        assert_eq!(b.unblock(1, 1200), 5000);
        // A thread already ahead keeps its clock.
        b.block(1, 9000);
        assert_eq!(b.unblock(1, 9000), 9000);
    }

    #[test]
    fn threads_advance_in_lock_step() {
        let b = Arc::new(Barrier::new(4, 10));
        b.join(0, 0);
        b.join(1, 0);
        let max_skew = Arc::new(AtomicU64::new(0));
        let clocks: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let handles: Vec<_> = (0..2usize)
            .map(|me| {
                let (b, clocks, max_skew) = (b.clone(), clocks.clone(), max_skew.clone());
                std::thread::spawn(move || {
                    let step = if me == 0 { 1 } else { 7 };
                    let mut t = 0u64;
                    let mut next = b.next_boundary(0);
                    while t < 2000 {
                        t += step;
                        clocks[me].store(t, Ordering::SeqCst);
                        let other = clocks[1 - me].load(Ordering::SeqCst);
                        max_skew.fetch_max(t.saturating_sub(other), Ordering::SeqCst);
                        if t >= next {
                            b.cross(me, t, next);
                            next = b.next_boundary(t);
                        }
                    }
                    b.leave(me, t);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // The fast thread never gets more than a quantum plus one step ahead.
        assert!(
            max_skew.load(Ordering::SeqCst) <= 10 + 7 + 7,
            "{:?}",
            max_skew
        );
        assert!(b.counters().waits > 0);
        assert_eq!(b.counters().timeouts, 0);
    }

    #[test]
    fn a_stalled_thread_times_out_instead_of_deadlocking() {
        let mut b = Barrier::new(2, 10);
        b.stall_timeout = Duration::from_millis(20);
        b.join(0, 0);
        b.join(1, 0); // never advances
        b.cross(0, 15, 10);
        assert_eq!(b.counters().timeouts, 1);
    }
}
