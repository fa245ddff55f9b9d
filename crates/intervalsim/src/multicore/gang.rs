//! The host worker threads of a multi-core run: a fixed gang that lives as long as the run.
//!
//! A quantum has three short parallel phases (the cores, the LLC home shards, the DRAM
//! controllers), a few hundred microseconds or less each. Forking and joining a general thread
//! pool for every phase costs a sleeping worker's wake-up (a futex call and a scheduler
//! round-trip, tens of microseconds on a loaded host) several times per quantum. Here the
//! workers instead wait for the next phase by spinning on an epoch counter for a short while
//! (the serial part between two phases is microseconds) and only then park; the calling thread
//! is worker 0 and takes part in every phase.
//!
//! Work is handed out by [`Gang::for_each_mut`]: every worker owns a contiguous chunk of the
//! items (sized by the caller's cost estimate, so a chunk keeps the same items from quantum to
//! quantum and their state stays in that host core's caches), runs it, then takes items from
//! the chunks of workers that are behind. Which worker runs an item never changes what the item
//! computes: the phases touch disjoint state.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{Scope, Thread};
use std::time::{Duration, Instant};

/// How long an idle worker spins before it parks.
const SPIN: Duration = Duration::from_micros(50);

/// `ctl` layout: the phase number in the high 32 bits, then whether the phase is open to
/// workers joining, then how many workers are in it.
const OPEN: u64 = 1 << 31;
const ACTIVE: u64 = OPEN - 1;

type Job = dyn Fn(usize) + Sync;

/// State shared by the gang's threads.
pub(crate) struct Inner {
    ctl: AtomicU64,
    /// The current job; written by worker 0 before it opens a phase, read by the workers that
    /// joined it.
    job: UnsafeCell<Option<&'static Job>>,
    sleeping: Vec<AtomicBool>,
    stop: AtomicBool,
    panicked: AtomicBool,
    /// Per worker: the next unclaimed position of its chunk.
    cursors: Vec<AtomicUsize>,
    /// Whether to measure the critical path (`INTERVALSIM_HOST_PROFILE=1`).
    profile: bool,
}

// SAFETY: `job` is written only by worker 0 while no phase is open and no worker is in one,
// and read only by workers that joined the open phase (a successful compare-and-swap on
// `ctl`, which worker 0's opening store released).
unsafe impl Sync for Inner {}

impl Inner {
    /// State for `threads` workers (worker 0 included).
    pub(crate) fn new(threads: usize) -> Inner {
        let threads = threads.max(1);
        Inner {
            ctl: AtomicU64::new(0),
            job: UnsafeCell::new(None),
            sleeping: (0..threads).map(|_| AtomicBool::new(false)).collect(),
            stop: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            cursors: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
            profile: std::env::var_os("INTERVALSIM_HOST_PROFILE").is_some_and(|v| v == "1"),
        }
    }
}

/// A gang of host threads; the thread that builds it is worker 0.
pub(crate) struct Gang<'a> {
    inner: &'a Inner,
    handles: Vec<Thread>,
    /// Profiling: thread CPU nanoseconds worker 0 spent in parallel phases.
    waited: std::cell::Cell<u64>,
    /// Profiling: the sum over parallel phases of the costliest chunk.
    longest: std::cell::Cell<u64>,
}

/// CPU nanoseconds the calling thread has used (not advanced while the host runs other
/// threads, so it measures work even on a loaded host).
pub(crate) fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write to.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if r != 0 {
        return 0;
    }
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

impl<'a> Gang<'a> {
    /// Start the workers 1 … n−1 of `inner` in `scope`.
    pub(crate) fn start<'scope>(scope: &'scope Scope<'scope, '_>, inner: &'a Inner) -> Gang<'a>
    where
        'a: 'scope,
    {
        let handles = (1..inner.sleeping.len())
            .map(|w| scope.spawn(move || worker(inner, w)).thread().clone())
            .collect();
        Gang {
            inner,
            handles,
            waited: std::cell::Cell::new(0),
            longest: std::cell::Cell::new(0),
        }
    }

    /// Whether the critical path is measured.
    pub(crate) fn profiling(&self) -> bool {
        self.inner.profile
    }

    /// Profiling: the critical path of the run so far on an idle host, given the calling
    /// thread's CPU time `main_ns` since the start: its serial work plus, for every parallel
    /// phase, the CPU time of the costliest worker's chunk. Measured in per-thread CPU time
    /// (which other load does not inflate) and independent of which worker actually ran an
    /// item, so a loaded host still gives the idle host's figure; it ignores the hand-off
    /// between workers (a spinning worker's sub-microsecond reaction).
    pub(crate) fn critical_path_ns(&self, main_ns: u64) -> u64 {
        main_ns.saturating_sub(self.waited.get()) + self.longest.get()
    }

    /// Number of workers, the calling thread included.
    pub(crate) fn threads(&self) -> usize {
        self.inner.sleeping.len()
    }

    /// Run `f(0)` here and `f(w)` on every other worker `w` that joins before `f(0)` returns;
    /// return when all that joined have finished. `f` must get the whole job done even when no
    /// other worker joins (a worker the host has not scheduled is never waited for).
    fn run<'f>(&self, f: &'f (dyn Fn(usize) + Sync + 'f)) {
        let inner = self.inner;
        // SAFETY: the workers use the reference only inside a phase they joined, and this
        // function closes the phase and waits until they have all left it (in `Close`, also
        // when `f` unwinds) before the reference expires.
        let job: &'static Job =
            unsafe { std::mem::transmute::<&'f (dyn Fn(usize) + Sync + 'f), &'static Job>(f) };
        unsafe { *inner.job.get() = Some(job) };
        let t_phase = if inner.profile { thread_cpu_ns() } else { 0 };
        let phase = (inner.ctl.load(Ordering::Relaxed) >> 32).wrapping_add(1) & 0xffff_ffff;
        inner.ctl.store(phase << 32 | OPEN, Ordering::SeqCst);
        for (w, h) in self.handles.iter().enumerate() {
            if inner.sleeping[w + 1].load(Ordering::SeqCst) {
                h.unpark();
            }
        }
        struct Close<'b>(&'b Inner);
        impl Drop for Close<'_> {
            fn drop(&mut self) {
                self.0.ctl.fetch_and(!OPEN, Ordering::SeqCst);
                let t0 = Instant::now();
                let mut n = 0u32;
                while self.0.ctl.load(Ordering::Acquire) & ACTIVE != 0 {
                    n = n.wrapping_add(1);
                    if n.is_multiple_of(64) && t0.elapsed() > SPIN {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
            }
        }
        let close = Close(inner);
        f(0);
        drop(close);
        if inner.profile {
            self.waited
                .set(self.waited.get() + thread_cpu_ns() - t_phase);
        }
        if inner.panicked.load(Ordering::Relaxed) {
            panic!("a host worker thread of the multi-core engine panicked");
        }
    }

    /// Call `f(index, item)` on every item exactly once, spread over the workers: worker *w*
    /// first takes `order[bounds[w]..bounds[w + 1]]` (indices into `items`, each appearing
    /// once), then helps with the other workers' chunks. The calling thread takes part and
    /// finishes whatever the others have not claimed, so a worker that the host does not
    /// schedule delays nothing.
    pub(crate) fn for_each_mut<T: Send>(
        &self,
        items: &mut [T],
        order: &[u32],
        bounds: &[usize],
        f: impl Fn(usize, &mut T) + Sync,
    ) {
        let n = self.threads();
        debug_assert_eq!(bounds.len(), n + 1);
        debug_assert_eq!(order.len(), items.len());
        if n == 1 {
            if !self.inner.profile {
                for &i in order {
                    f(i as usize, &mut items[i as usize]);
                }
                return;
            }
            // profiled exactly as on several workers, so that the clock reads cost the same
            let t_phase = thread_cpu_ns();
            let mut total = 0;
            for &i in order {
                let t0 = thread_cpu_ns();
                f(i as usize, &mut items[i as usize]);
                total += thread_cpu_ns() - t0;
            }
            self.waited
                .set(self.waited.get() + thread_cpu_ns() - t_phase);
            self.longest.set(self.longest.get() + total);
            return;
        }
        for (c, &b) in self.inner.cursors.iter().zip(bounds) {
            c.store(b, Ordering::Relaxed);
        }
        let base = SendPtr(items.as_mut_ptr());
        let len = items.len();
        let cursors = &self.inner.cursors;
        let profile = self.inner.profile;
        let costs: Vec<AtomicU64> = if profile {
            (0..order.len()).map(|_| AtomicU64::new(0)).collect()
        } else {
            Vec::new()
        };
        let costs = &costs;
        self.run(&|w| {
            let base = &base;
            for k in 0..n {
                let v = (w + k) % n;
                loop {
                    let pos = cursors[v].fetch_add(1, Ordering::Relaxed);
                    if pos >= bounds[v + 1] {
                        break;
                    }
                    let i = order[pos] as usize;
                    assert!(i < len);
                    let t0 = if profile { thread_cpu_ns() } else { 0 };
                    // SAFETY: every position of `order` is claimed by exactly one fetch_add,
                    // and `order` holds each index once, so no two workers get the same item;
                    // `items` is borrowed mutably for the whole call.
                    f(i, unsafe { &mut *base.0.add(i) });
                    if profile {
                        costs[pos].store(thread_cpu_ns() - t0, Ordering::Relaxed);
                    }
                }
            }
        });
        if profile {
            let c: Vec<u64> = costs.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            self.longest
                .set(self.longest.get() + idle_schedule(&c, bounds));
        }
    }
}

impl Drop for Gang<'_> {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        for h in &self.handles {
            h.unpark();
        }
    }
}

struct SendPtr<T>(*mut T);
// SAFETY: the pointer is only used to hand out disjoint `&mut T`, and `T: Send`.
unsafe impl<T: Send> Sync for SendPtr<T> {}

fn worker(inner: &Inner, w: usize) {
    let mut seen = 0u64;
    loop {
        // wait for a new open phase, spinning a while, then parked
        let t0 = Instant::now();
        let mut n = 0u32;
        let joined = loop {
            if inner.stop.load(Ordering::Acquire) {
                return;
            }
            let c = inner.ctl.load(Ordering::Acquire);
            if c >> 32 != seen {
                seen = c >> 32;
                // join the phase while it is open (others may join at the same time)
                let mut cur = c;
                while cur >> 32 == seen && cur & OPEN != 0 {
                    match inner.ctl.compare_exchange_weak(
                        cur,
                        cur + 1,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => break,
                        Err(now) => cur = now,
                    }
                }
                if cur >> 32 == seen && cur & OPEN != 0 {
                    break true;
                }
                continue;
            }
            n = n.wrapping_add(1);
            if !n.is_multiple_of(64) || t0.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            inner.sleeping[w].store(true, Ordering::SeqCst);
            if inner.ctl.load(Ordering::SeqCst) >> 32 == seen && !inner.stop.load(Ordering::SeqCst)
            {
                std::thread::park();
            }
            inner.sleeping[w].store(false, Ordering::SeqCst);
        };
        if joined {
            // SAFETY: see `Inner`: this worker joined the open phase the job belongs to.
            let job = unsafe { *inner.job.get() };
            if let Some(job) = job
                && catch_unwind(AssertUnwindSafe(|| job(w))).is_err()
            {
                inner.panicked.store(true, Ordering::Relaxed);
            }
            inner.ctl.fetch_sub(1, Ordering::Release);
        }
    }
}

/// How long a phase takes when every worker is running: items of the given CPU `costs` (in
/// position order), worker *w* starting on positions `bounds[w]..bounds[w + 1]` and then
/// taking from the next workers' chunks, as [`Gang::for_each_mut`] does.
fn idle_schedule(costs: &[u64], bounds: &[usize]) -> u64 {
    let n = bounds.len() - 1;
    let mut next: Vec<usize> = bounds[..n].to_vec();
    let mut t = vec![0u64; n];
    loop {
        // the worker that is free first takes the next item it would claim
        let w = (0..n).min_by_key(|&w| (t[w], w)).unwrap_or(0);
        let Some(v) = (0..n)
            .map(|k| (w + k) % n)
            .find(|&v| next[v] < bounds[v + 1])
        else {
            break;
        };
        t[w] += costs[next[v]];
        next[v] += 1;
    }
    t.into_iter().max().unwrap_or(0)
}

/// Split `costs` (in the order of `order`) into `parts` contiguous chunks of about equal total
/// cost; writes `parts + 1` boundaries into `bounds`.
pub(crate) fn balance(
    costs: impl Iterator<Item = u64> + Clone,
    parts: usize,
    bounds: &mut Vec<usize>,
) {
    let total: u64 = costs.clone().map(|c| c.max(1)).sum();
    bounds.clear();
    bounds.push(0);
    let mut acc = 0u64;
    let mut next = 1;
    let mut count = 0;
    for c in costs {
        acc += c.max(1);
        count += 1;
        while next < parts && acc * parts as u64 >= total * next as u64 {
            bounds.push(count);
            next += 1;
        }
    }
    while bounds.len() < parts {
        bounds.push(count);
    }
    bounds.push(count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_runs_once_on_any_number_of_threads() {
        for threads in 1..=3 {
            let inner = Inner::new(threads);
            std::thread::scope(|s| {
                let gang = Gang::start(s, &inner);
                let mut items: Vec<u64> = vec![0; 37];
                let order: Vec<u32> = (0..37).rev().collect();
                let mut bounds = Vec::new();
                balance(order.iter().map(|&i| i as u64), threads, &mut bounds);
                for round in 0..50u64 {
                    gang.for_each_mut(&mut items, &order, &bounds, |i, x| *x += round + i as u64);
                }
                for (i, &x) in items.iter().enumerate() {
                    assert_eq!(x, (0..50).sum::<u64>() + 50 * i as u64);
                }
            });
        }
    }

    #[test]
    fn an_idle_schedule_steals_from_the_slow_chunk() {
        // worker 0's chunk holds all the work: worker 1 takes half of it
        assert_eq!(idle_schedule(&[10, 10, 10, 10], &[0, 4, 4]), 20);
        assert_eq!(idle_schedule(&[30, 5, 5], &[0, 1, 3]), 30);
        assert_eq!(idle_schedule(&[7], &[0, 1]), 7);
    }

    #[test]
    fn chunks_split_the_cost_evenly() {
        let mut b = Vec::new();
        balance([10u64, 10, 10, 10, 40].into_iter(), 2, &mut b);
        assert_eq!(b, vec![0, 4, 5]);
        balance([1u64; 9].into_iter(), 3, &mut b);
        assert_eq!(b, vec![0, 3, 6, 9]);
        balance(std::iter::empty(), 2, &mut b);
        assert_eq!(b, vec![0, 0, 0]);
    }
}
