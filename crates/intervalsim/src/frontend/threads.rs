//! Multi-threaded instruction streams: built-in shared-memory workloads, one stream per
//! thread with synchronisation events, and [`ThreadStream`], which stops a core at each
//! synchronisation event so the multi-core scheduler can block and wake it.
//!
//! Workloads ([`ParallelWorkload`]), each thread running `budget` instructions or so:
//!
//! * `stream`: every thread streams through its own array (`read` or `copy`), one pass, so
//!   every line comes from DRAM — many threads saturate the DRAM bandwidth.
//! * `false-sharing`: every thread increments its own 8-byte counter; the counters share
//!   lines (8 per line) unless `padded` (one per line).
//! * `counter`: every thread atomically increments one shared counter (true sharing), with
//!   some private work between increments.
//! * `prodcons`: thread pairs pass lines through a ring buffer: the producer writes a line and
//!   wakes the consumer, which reads it and returns the slot (futex-style wait/wake).
//! * `readonly`: every thread reads random entries of one shared table.
//! * `stencil`: a 1-D three-point stencil over an array split among threads, double-buffered,
//!   with a barrier after every sweep.

use super::{Instr, InstrStream, Kind, SyncOp, TraceError};

/// Names accepted by [`ParallelWorkload::from_name`].
pub const NAMES: &[&str] = &[
    "stream",
    "false-sharing",
    "counter",
    "prodcons",
    "readonly",
    "stencil",
];

/// Base of the shared data region.
const SHARED: u64 = 0x4000_0000;
/// Base of thread 0's private region; thread `t` gets `PRIVATE + t * PRIVATE_STRIDE`.
const PRIVATE: u64 = 0x10_0000_0000;
const PRIVATE_STRIDE: u64 = 0x1_0000_0000;

/// A built-in multi-threaded workload.
#[derive(Clone, Debug, PartialEq)]
pub enum ParallelWorkload {
    /// Private streaming; `copy` also writes a second array.
    Stream {
        /// Read and write (copy) instead of read only.
        copy: bool,
    },
    /// Per-thread counters packed into shared lines (or padded to a line each).
    FalseSharing {
        /// One counter per line.
        padded: bool,
    },
    /// One shared counter, atomically incremented.
    Counter {
        /// Independent instructions between increments.
        work: u32,
    },
    /// Producer/consumer pairs over a ring of `ring` lines.
    ProducerConsumer {
        /// Ring size in lines.
        ring: u32,
    },
    /// Random reads of a shared table of `table` bytes.
    ReadOnly {
        /// Table size in bytes.
        table: u64,
    },
    /// Barrier-phased 1-D stencil, `elements` 8-byte elements per thread.
    Stencil {
        /// Elements per thread.
        elements: u64,
    },
}

/// Parameters from the command line (`None` = the workload's default).
#[derive(Clone, Debug, Default)]
pub struct ParallelParams {
    /// `stream`: "read" or "copy".
    pub op: Option<String>,
    /// `false-sharing`: one counter per line.
    pub padded: bool,
    /// `readonly`: table bytes; `prodcons`: ring bytes; `stencil`: bytes per thread.
    pub footprint: Option<u64>,
}

impl ParallelWorkload {
    /// Parse a workload name with its parameters.
    pub fn from_name(name: &str, p: &ParallelParams) -> Result<ParallelWorkload, String> {
        Ok(match name {
            "stream" => ParallelWorkload::Stream {
                copy: match p.op.as_deref() {
                    None | Some("read") => false,
                    Some("copy") => true,
                    Some(o) => {
                        return Err(format!("--op {o}: the parallel stream takes read or copy"));
                    }
                },
            },
            "false-sharing" => ParallelWorkload::FalseSharing { padded: p.padded },
            "counter" => ParallelWorkload::Counter { work: 20 },
            "prodcons" => ParallelWorkload::ProducerConsumer {
                ring: (p.footprint.unwrap_or(4096) / 64).clamp(1, 1 << 20) as u32,
            },
            "readonly" => ParallelWorkload::ReadOnly {
                table: p.footprint.unwrap_or(1 << 20).max(64),
            },
            "stencil" => ParallelWorkload::Stencil {
                elements: (p.footprint.unwrap_or(32 << 10) / 8).max(8),
            },
            o => {
                return Err(format!(
                    "unknown multi-threaded workload '{o}'; workloads: {} (the single-core \
                     workloads run with one core: -o system.cores=1 and no --cores)",
                    NAMES.join(", ")
                ));
            }
        })
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            ParallelWorkload::Stream { copy } => {
                format!("stream {}", if *copy { "copy" } else { "read" })
            }
            ParallelWorkload::FalseSharing { padded } => {
                format!("false-sharing{}", if *padded { " padded" } else { "" })
            }
            ParallelWorkload::Counter { .. } => "counter".into(),
            ParallelWorkload::ProducerConsumer { ring } => format!("prodcons ring {ring} lines"),
            ParallelWorkload::ReadOnly { table } => {
                format!("readonly {}", crate::config::format_size(*table))
            }
            ParallelWorkload::Stencil { elements } => format!("stencil {elements} el/thread"),
        }
    }

    /// One stream per thread, each about `budget` instructions long, ending with a thread
    /// exit.
    pub fn streams(
        &self,
        threads: u32,
        budget: u64,
        seed: u64,
    ) -> Vec<Box<dyn InstrStream + Send>> {
        (0..threads)
            .map(|t| {
                Box::new(ThreadGen::new(self.clone(), t, threads, budget, seed))
                    as Box<dyn InstrStream + Send>
            })
            .collect()
    }
}

/// Generator of one thread of a [`ParallelWorkload`].
struct ThreadGen {
    w: ParallelWorkload,
    tid: u32,
    threads: u32,
    /// Iterations to run (decided up front so that threads meet at the same barriers).
    iters: u64,
    iter: u64,
    /// An iteration that did not fit the caller's buffer, and how much of it was handed out.
    out: Vec<Instr>,
    out_len: usize,
    pos: usize,
    rng: u64,
    finished: bool,
}

const PC: u64 = 0x40_0000;

/// Most instructions one loop iteration of any workload emits.
const MAX_ITER: usize = 64;

/// Where an iteration's instructions go: straight into the caller's buffer when it has room.
struct Sink<'a> {
    dst: &'a mut [Instr],
    k: usize,
}

impl Sink<'_> {
    #[inline]
    fn push(&mut self, i: Instr) {
        self.dst[self.k] = i;
        self.k += 1;
    }
}

fn op(pc: u64, kind: Kind, dst: u8, src: [u8; 2]) -> Instr {
    let mut i = Instr::new(pc, kind);
    i.len = 4;
    i.dst[0] = dst;
    i.src[0] = src[0];
    i.src[1] = src[1];
    i
}

fn load(pc: u64, addr: u64, dst: u8, base: u8) -> Instr {
    let mut i = op(pc, Kind::Load, dst, [base, 0]);
    i.push_mem(addr, 8, false);
    i
}

fn store(pc: u64, addr: u64, val: u8, base: u8) -> Instr {
    let mut i = op(pc, Kind::Store, 0, [val, base]);
    i.push_mem(addr, 8, true);
    i
}

fn branch(pc: u64, target: u64, taken: bool) -> Instr {
    let mut i = op(pc, Kind::Branch, 0, [9, 0]);
    i.branch = super::BranchKind::Conditional;
    i.taken = taken;
    i.target = target;
    i
}

fn sync(pc: u64, s: SyncOp, obj: u64) -> Instr {
    let mut i = Instr::new(pc, Kind::Sync);
    i.len = 4;
    i.sync = s;
    i.target = obj;
    i
}

/// Instructions per iteration of each workload's loop (to turn a budget into iterations).
fn per_iteration(w: &ParallelWorkload) -> u64 {
    match w {
        ParallelWorkload::Stream { copy } => 4 + *copy as u64,
        ParallelWorkload::FalseSharing { .. } => 8,
        ParallelWorkload::Counter { work } => 2 + *work as u64,
        ParallelWorkload::ProducerConsumer { .. } => 18,
        ParallelWorkload::ReadOnly { .. } => 5,
        ParallelWorkload::Stencil { .. } => 7,
    }
}

impl ThreadGen {
    fn new(w: ParallelWorkload, tid: u32, threads: u32, budget: u64, seed: u64) -> ThreadGen {
        let mut iters = (budget / per_iteration(&w)).max(1);
        if let ParallelWorkload::Stencil { elements } = &w {
            // whole sweeps only, the same number for every thread
            iters = (iters / elements).max(1) * elements;
        }
        if let ParallelWorkload::ProducerConsumer { .. } = &w
            && tid + 1 == threads
            && threads % 2 == 1
        {
            iters = 0; // no partner
        }
        ThreadGen {
            w,
            tid,
            threads,
            iters,
            iter: 0,
            out: vec![Instr::default(); MAX_ITER],
            out_len: 0,
            pos: 0,
            rng: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ (tid as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d),
            finished: false,
        }
    }

    fn private(&self) -> u64 {
        PRIVATE + self.tid as u64 * PRIVATE_STRIDE
    }

    /// Generate the next iteration into `dst` (at least [`MAX_ITER`] long); returns how many
    /// instructions it wrote.
    fn generate(&mut self, dst: &mut [Instr]) -> usize {
        let mut sink = Sink { dst, k: 0 };
        let o = &mut sink;
        if self.iter >= self.iters {
            o.push(sync(PC + 0xff00, SyncOp::ThreadExit, self.tid as u64));
            self.finished = true;
            return o.k;
        }
        let i = self.iter;
        let last = i + 1 == self.iters;
        let private = self.private();
        match &self.w {
            ParallelWorkload::Stream { copy } => {
                let pc = PC;
                let a = private + i * 8;
                o.push(load(pc, a, 1, 2));
                if *copy {
                    o.push(store(pc + 4, a + (PRIVATE_STRIDE / 2), 1, 2));
                } else {
                    o.push(op(pc + 4, Kind::Int, 3, [3, 1]));
                }
                o.push(op(pc + 8, Kind::Int, 2, [2, 0]));
                if *copy {
                    o.push(op(pc + 12, Kind::Int, 3, [3, 1]));
                }
                let bpc = pc + 12 + 4 * *copy as u64;
                o.push(branch(bpc, pc, !last));
            }
            ParallelWorkload::FalseSharing { padded } => {
                let pc = PC + 0x1000;
                let stride = if *padded { 64 } else { 8 };
                let c = SHARED + self.tid as u64 * stride;
                o.push(load(pc, c, 1, 0));
                o.push(op(pc + 4, Kind::Int, 1, [1, 0]));
                o.push(store(pc + 8, c, 1, 0));
                for k in 0..4u8 {
                    o.push(op(pc + 12 + 4 * k as u64, Kind::Int, 4 + k, [4 + k, 0]));
                }
                o.push(branch(pc + 28, pc, !last));
            }
            ParallelWorkload::Counter { work } => {
                let pc = PC + 0x2000;
                let mut rmw = op(pc, Kind::Serial, 1, [0, 0]);
                rmw.push_mem(SHARED + 0x10_0000, 8, false);
                rmw.push_mem(SHARED + 0x10_0000, 8, true);
                o.push(rmw);
                for k in 0..*work {
                    let r = 4 + (k % 8) as u8;
                    o.push(op(pc + 4 + 4 * k as u64, Kind::Int, r, [r, 0]));
                }
                o.push(branch(pc + 4 + 4 * *work as u64, pc, !last));
            }
            ParallelWorkload::ProducerConsumer { ring } => {
                let pc = PC + 0x3000;
                let pair = (self.tid / 2) as u64;
                let full = 0x1000 + 2 * pair;
                let space = full + 1;
                let slot = SHARED + 0x100_0000 + pair * 0x100_0000 + (i % *ring as u64) * 64;
                if self.tid.is_multiple_of(2) {
                    if i >= *ring as u64 {
                        o.push(sync(pc, SyncOp::Wait, space));
                    }
                    for w in 0..8u64 {
                        o.push(op(pc + 4 + 8 * w, Kind::Int, 1, [1, 0]));
                        o.push(store(pc + 8 + 8 * w, slot + 8 * w, 1, 0));
                    }
                    o.push(sync(pc + 0x80, SyncOp::Wake, full));
                } else {
                    o.push(sync(pc + 0x100, SyncOp::Wait, full));
                    for w in 0..8u64 {
                        o.push(load(pc + 0x104 + 8 * w, slot + 8 * w, 1, 0));
                        o.push(op(pc + 0x108 + 8 * w, Kind::Int, 2, [2, 1]));
                    }
                    o.push(sync(pc + 0x180, SyncOp::Wake, space));
                }
            }
            ParallelWorkload::ReadOnly { table } => {
                let pc = PC + 0x4000;
                let mut x = self.rng;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.rng = x;
                let entries = (*table / 8).max(1);
                let a = SHARED + 0x800_0000 + (x % entries) * 8;
                o.push(load(pc, a, 1, 0));
                o.push(op(pc + 4, Kind::Int, 2, [2, 1]));
                o.push(op(pc + 8, Kind::Int, 3, [3, 0]));
                o.push(op(pc + 12, Kind::Int, 5, [5, 0]));
                o.push(branch(pc + 16, pc, !last));
            }
            ParallelWorkload::Stencil { elements } => {
                let pc = PC + 0x5000;
                let sweep = i / elements;
                let j = i % elements;
                let n = *elements * self.threads as u64;
                let x = self.tid as u64 * elements + j;
                let (src, dst) = if sweep.is_multiple_of(2) {
                    (SHARED + 0x2000_0000, SHARED + 0x3000_0000)
                } else {
                    (SHARED + 0x3000_0000, SHARED + 0x2000_0000)
                };
                let left = if x == 0 { 0 } else { x - 1 };
                let right = (x + 1).min(n - 1);
                o.push(load(pc, src + 8 * left, 1, 0));
                o.push(load(pc + 4, src + 8 * x, 2, 0));
                o.push(load(pc + 8, src + 8 * right, 3, 0));
                o.push(op(pc + 12, Kind::Fp, 4, [1, 2]));
                o.push(op(pc + 16, Kind::Fp, 4, [4, 3]));
                o.push(store(pc + 20, dst + 8 * x, 4, 0));
                let end_of_sweep = j + 1 == *elements;
                o.push(branch(pc + 24, pc, !end_of_sweep));
                if end_of_sweep {
                    o.push(sync(pc + 28, SyncOp::Barrier, 1));
                }
            }
        }
        self.iter += 1;
        o.k
    }
}

impl InstrStream for ThreadGen {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        let mut n = 0;
        loop {
            if self.pos < self.out_len {
                let k = (self.out_len - self.pos).min(buf.len() - n);
                buf[n..n + k].copy_from_slice(&self.out[self.pos..self.pos + k]);
                self.pos += k;
                n += k;
            }
            if n == buf.len() || self.finished {
                break;
            }
            if buf.len() - n >= MAX_ITER {
                n += self.generate(&mut buf[n..n + MAX_ITER]);
            } else {
                let mut spill = std::mem::take(&mut self.out);
                self.out_len = self.generate(&mut spill);
                self.out = spill;
                self.pos = 0;
            }
        }
        Ok(n)
    }

    fn describe(&self) -> String {
        format!("{} thread {}", self.w.describe(), self.tid)
    }
}

/// The stream of a thread that has not been created yet: one `ThreadStart` record naming
/// `thread` itself. A core running it waits until another core's stream creates the thread
/// (a `ThreadStart` record naming it); a core whose thread is never created stays unused. A
/// replay of fewer per-thread traces than cores gives the cores without a trace this stream,
/// exactly as a live run gives the cores no guest thread reached.
pub fn unstarted(thread: u32) -> Box<dyn InstrStream + Send> {
    Box::new(Unstarted {
        thread,
        done: false,
    })
}

/// The record that begins the stream of thread `thread` (any thread but the first): it waits
/// for its creation.
pub fn start_record(thread: u32) -> Instr {
    sync(0, SyncOp::ThreadStart, thread as u64)
}

struct Unstarted {
    thread: u32,
    done: bool,
}

impl InstrStream for Unstarted {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        self.done = true;
        buf[0] = start_record(self.thread);
        Ok(1)
    }

    fn describe(&self) -> String {
        format!("thread {} (never created)", self.thread)
    }
}

/// A synchronisation event a thread has reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncEvent {
    /// The operation.
    pub op: SyncOp,
    /// Its object (lock/futex address, barrier id, thread id).
    pub object: u64,
}

/// Wraps a thread's stream and hands its instructions to a core up to and including the next
/// synchronisation event (wait, wake, barrier, join, exit); then it gives nothing until the
/// scheduler has handled the event ([`ThreadStream::take_event`]). A core stepping it
/// therefore stops with end-of-stream right after executing the event.
pub struct ThreadStream {
    inner: Box<dyn InstrStream + Send>,
    stash: Vec<Instr>,
    pos: usize,
    len: usize,
    pending: Option<SyncEvent>,
    ended: bool,
}

impl ThreadStream {
    /// Wrap `inner`.
    pub fn new(inner: Box<dyn InstrStream + Send>) -> ThreadStream {
        ThreadStream {
            inner,
            stash: Vec::new(),
            pos: 0,
            len: 0,
            pending: None,
            ended: false,
        }
    }

    /// The event the thread stopped at, if any; the stream continues after it.
    pub fn take_event(&mut self) -> Option<SyncEvent> {
        self.pending.take()
    }

    /// The event the thread stopped at, without clearing it.
    pub fn event(&self) -> Option<SyncEvent> {
        self.pending
    }

    /// Whether the underlying stream has ended.
    pub fn ended(&self) -> bool {
        self.ended && self.pending.is_none()
    }
}

fn sync_stop(ins: &Instr) -> Option<SyncEvent> {
    (ins.kind == Kind::Sync
        && matches!(
            ins.sync,
            SyncOp::Wait
                | SyncOp::Wake
                | SyncOp::Barrier
                | SyncOp::Join
                | SyncOp::ThreadStart
                | SyncOp::ThreadExit
        ))
    .then_some(SyncEvent {
        op: ins.sync,
        object: ins.target,
    })
}

impl InstrStream for ThreadStream {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        if self.pending.is_some() || self.ended {
            return Ok(0);
        }
        let n = if self.pos < self.len {
            // what is left of a batch cut at an event
            let n = (self.len - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.stash[self.pos..self.pos + n]);
            self.pos += n;
            n
        } else {
            // straight into the caller's buffer: no copy unless an event cuts the batch
            let n = self.inner.fill(buf)?;
            if n == 0 {
                self.ended = true;
                return Ok(0);
            }
            n
        };
        for k in 0..n {
            if let Some(ev) = sync_stop(&buf[k]) {
                self.pending = Some(ev);
                // keep the rest for after the event
                let rest = &buf[k + 1..n];
                if self.pos < self.len {
                    self.pos -= rest.len();
                } else {
                    self.stash.clear();
                    self.stash.extend_from_slice(rest);
                    self.pos = 0;
                    self.len = rest.len();
                }
                return Ok(k + 1);
            }
        }
        Ok(n)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::collect;

    #[test]
    fn every_thread_ends_with_an_exit_and_respects_its_budget() {
        for name in NAMES {
            let w = ParallelWorkload::from_name(name, &ParallelParams::default()).unwrap();
            for (t, mut s) in w.streams(4, 20_000, 1).into_iter().enumerate() {
                let v = collect(&mut *s, 1_000_000).unwrap();
                assert!(v.len() < 40_000, "{name} thread {t}: {}", v.len());
                let last = v.last().unwrap();
                assert_eq!(
                    (last.kind, last.sync),
                    (Kind::Sync, SyncOp::ThreadExit),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn the_wrapper_stops_at_each_event() {
        let w = ParallelWorkload::Stencil { elements: 100 };
        let mut s = ThreadStream::new(w.streams(2, 1000, 1).remove(0));
        let mut buf = vec![Instr::default(); 4096];
        let n = s.fill(&mut buf).unwrap();
        assert_eq!(n, 701);
        assert_eq!(buf[n - 1].sync, SyncOp::Barrier);
        assert_eq!(s.fill(&mut buf).unwrap(), 0);
        assert_eq!(s.take_event().map(|e| e.op), Some(SyncOp::Barrier));
        assert_eq!(s.fill(&mut buf).unwrap(), 1);
        assert_eq!(s.take_event().map(|e| e.op), Some(SyncOp::ThreadExit));
    }
}
