//! Multi-core simulation: N interval cores with private L1/L2, a coherent banked LLC with a
//! full-map MESI directory, DRAM controllers and a network, advanced in quanta of simulated
//! time on one or more host threads, with deterministic results.
//!
//! **How simulated time advances.** Every core has its own clock. The scheduler repeats:
//!
//! 1. *Parallel phase.* Every runnable core runs until its clock reaches the end of the
//!    current quantum (default 100 ns, `system.quantum_ns`) — or it reaches a synchronisation
//!    event or the end of its thread. A core touches only its own state: private caches hit
//!    and miss as usual; a request to the shared levels (L2 miss, upgrade, writeback) is
//!    *answered* from a read-only view of the shared state as it was at the start of the
//!    quantum (directory, LLC contents, network and DRAM contention estimates) and *logged*,
//!    in one log per home shard (below).
//! 2. *The barrier, in three parts.* (a) *Home shards*, in parallel: the shared state is split
//!    into home shards — an LLC slice's sets and directory entries, cut by the line's low
//!    address bits (the set index), so a line, its set and its directory entry live in exactly
//!    one shard, at least 16 shards in all. Each shard sorts the quantum's requests for its
//!    lines by (time, core, sequence) and applies them: directory, LLC, miss classification.
//!    What it decides about anything else is written down with the request's key: messages
//!    (network traffic, whose sums do not depend on order), DRAM accesses per controller,
//!    and changes to other cores' private state (invalidations, shared/exclusive grants).
//!    (b) *DRAM controllers*, in parallel: each applies its accesses from all shards in key
//!    order to its exact bandwidth queue (a load that the exact queue finishes later than
//!    estimated holds its core until that real completion at the next quantum). (c) *Serial*:
//!    the traffic is added to the network, and the synchronisation events the cores stopped
//!    at are handled in (time, core) order: barriers release when every live thread arrived,
//!    waits consume wakes, joins wait for exits; a blocked core's clock jumps to its wake-up
//!    time and the gap is charged to `sync`. The contention estimates are updated from the
//!    quantum's traffic. Each core applies the changes to its private caches, in key order,
//!    at the start of its next quantum.
//!
//! Nothing in a core's parallel phase depends on another core's progress in the same
//! quantum, every part of the barrier applies its work in key order, and a shard's or a
//! controller's state depends only on its own requests (the relative order of two requests
//! in one shard is their global order), so the results are exactly those of applying every
//! request of the quantum in (time, core, sequence) order on one thread — identical for any
//! number of host threads and home shards (tested). Host threads are a fixed gang
//! (`gang`): idle workers spin briefly on a phase counter instead of sleeping, work is
//! split by each core's measured cost, and the calling thread finishes whatever the others
//! have not claimed. The price of the quantum is the usual lax-synchronisation
//! error: within one quantum a core does not see the other cores' writes (an invalidation
//! takes effect at the barrier), so sharing that ping-pongs faster than the quantum is seen
//! at quantum granularity — use a smaller quantum to study it.
//!
//! ```
//! use intervalsim::frontend::threads::{ParallelParams, ParallelWorkload};
//! use intervalsim::multicore::{self, Options};
//! let over = ["system.cores=2".to_string()];
//! let (base, cores) = multicore::per_core_configs("gainestown", None, &over, &[]).unwrap();
//! let w = ParallelWorkload::from_name("counter", &ParallelParams::default()).unwrap();
//! let streams = w.streams(2, 5_000, 1);
//! let s = multicore::run(&base, &cores, streams, "counter", Options::default(), |_| {}).unwrap();
//! assert_eq!(s.cores.len(), 2);
//! // both threads increment one word: the misses it causes are true sharing
//! let t = s.coherence_total();
//! assert!(t.true_sharing > 0 && t.false_sharing == 0);
//! ```

mod gang;
pub mod report;

use crate::config::{Config, CoreModel, Replacement};
use crate::core::Stop;
use crate::core::interval::IntervalCore;
use crate::dram::Controller;
use crate::frontend::threads::{SyncEvent, ThreadStream};
use crate::frontend::{InstrStream, SyncOp};
use crate::memory::cache::{Cache, Victim};
use crate::memory::coherence::{CoreSet, Directory, LineMap, Mesi, Op};
use crate::memory::{Level, Request, Uncore};
use crate::noc::{CTRL_BYTES, DATA_BYTES, Noc, Topology, Traffic};
use crate::stats::Component;
use anyhow::{Result, bail};
use gang::{Gang, balance};
use report::{CoherenceStats, CoreResult, HostStats, MultiStats};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// At least this many home shards, so that the barrier's work splits over host threads even
/// when there is a single LLC slice.
const MIN_HOMES: u32 = 16;
/// A home shard's part of an LLC slice keeps at least this many sets.
const MIN_HOME_SETS: u64 = 64;

/// Kind of a logged shared-level request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    ReadEx,
    Upgrade,
    Prefetch,
    Writeback,
}

/// A request to the shared levels, logged during a quantum and applied at its barrier.
#[derive(Clone, Copy, Debug)]
struct Req {
    time: u64,
    core: u32,
    seq: u32,
    line: u64,
    /// 8-byte word of the line the demand access touched; 0xff = unknown.
    word: u8,
    kind: Kind,
    /// The ready time the core was given.
    est: u64,
}

/// Orders everything a barrier does: the request's (time, core, sequence), then the step
/// within the request.
type Key = (u64, u32, u32, u8);

/// A change to one core's private state decided at a barrier; the core applies its changes,
/// in key order, before it runs again.
#[derive(Clone, Copy, Debug)]
struct CoreOp {
    key: Key,
    line: u64,
    what: What,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    /// Another core's write or an LLC eviction takes the line away.
    Invalidate,
    /// The core now holds the line shared (a store to it is an upgrade miss), or not.
    Shared(bool),
}

/// A DRAM access decided by a home shard, applied by its controller in key order.
#[derive(Clone, Copy, Debug)]
struct DramOp {
    key: Key,
    /// Arrival at the controller.
    at: u64,
    /// A read (`None`: a writeback).
    read: Option<DramRead>,
}

#[derive(Clone, Copy, Debug)]
struct DramRead {
    core: u32,
    node: u32,
    /// The ready time the core was given.
    est: u64,
    /// A demand load: it retires no earlier than its data arrives.
    load: bool,
}

/// A core's view of the coherence state that only it changes during a quantum.
struct CoreLocal {
    id: u32,
    node: u32,
    /// Lines this core holds shared (a store to one is an upgrade miss).
    readonly: LineMap<()>,
    /// The quantum's shared-level requests, per home shard.
    log: Vec<Vec<Req>>,
    seq: u32,
    miss_addr: u64,
    debt: u64,
    /// Per DRAM controller: when this core's fair share of it is next free.
    vq: Vec<u64>,
    /// Counters kept by the core itself (the barrier's are kept per home shard).
    stats: CoherenceStats,
    /// The last barrier's changes to this core, gathered from the home shards.
    ops: Vec<CoreOp>,
    /// Host nanoseconds of the last quanta (smoothed): the load-balancing weight.
    cost: u64,
}

/// One home shard of the shared state: the lines of one LLC slice whose low address bits are
/// `sub` — that part of the slice's sets, their directory entries, and everything the
/// barrier decides about them. The shards of a slice together behave exactly as the whole
/// slice: a set of the slice lies in exactly one shard (the set index is the line's low bits),
/// and a directory entry concerns one line.
struct Home {
    slice: u32,
    sub: u64,
    llc: Cache,
    dir: Directory,
    /// Per line: the cores that ever requested it (cold-miss classification).
    seen: LineMap<CoreSet>,
    /// Per core: lines of this shard another core's write took away, with the word it touched.
    inval: Vec<LineMap<u8>>,
    /// Per core: what this shard's requests counted for it.
    stats: Vec<CoherenceStats>,
    /// Per line: private copies invalidated at the current barrier.
    gone: LineMap<CoreSet>,
    /// The current barrier's requests, sorted.
    reqs: Vec<Req>,
    /// Outputs of the current barrier: messages, DRAM accesses per controller, changes per core.
    traffic: Traffic,
    dram: Vec<Vec<DramOp>>,
    ops: Vec<Vec<CoreOp>>,
    /// Requests at the last barrier (the load-balancing weight).
    load: u64,
}

/// A DRAM controller with its part of the barrier.
struct Ctrl {
    c: Controller,
    ops: Vec<DramOp>,
    /// Loads whose data the exact queue delivers later than the core was told: (core, time).
    late: Vec<(u32, u64)>,
}

/// Everything shared: read-only while the cores run, updated at the barriers.
struct Shared {
    topo: Topology,
    noc: Noc,
    homes: Vec<Home>,
    ctrls: Vec<Ctrl>,
    /// log2 of the home shards per slice.
    sub_bits: u32,
    l3_latency: u64,
    /// Per core: cycles for its private levels to supply a forwarded line.
    forward_latency: Vec<u64>,
}

/// Whether a core can run, waits, or has finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Run,
    Blocked,
    Done,
}

struct Slot {
    /// Boxed: built on the heap (see [`IntervalCore::new`]).
    core: Box<IntervalCore>,
    stream: ThreadStream,
    local: CoreLocal,
    state: State,
    finish: u64,
    error: Option<crate::frontend::TraceError>,
    /// Stopped at a synchronisation event this quantum.
    at_event: bool,
}

/// How to run.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Host worker threads (1 = everything on the calling thread).
    pub host_threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { host_threads: 1 }
    }
}

struct View<'a> {
    s: &'a Shared,
    l: &'a mut CoreLocal,
}

impl Shared {
    /// The LLC slice and home shard of `line`.
    #[inline]
    fn home_of(&self, line: u64) -> (u32, usize) {
        let s = self.topo.slice_of(line);
        let sub = line & ((1 << self.sub_bits) - 1);
        (s, ((s as u64) << self.sub_bits | sub) as usize)
    }

    /// Latency of a request of `kind` by core `c` at `now`, from the state at the start of the
    /// quantum; also whether a read will be granted shared.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn estimate(
        &self,
        c: u32,
        node: u32,
        line: u64,
        (s, h): (u32, usize),
        kind: Kind,
        now: u64,
        vq: &mut [u64],
    ) -> (u64, Level, bool) {
        let home = &self.homes[h];
        let sn = self.topo.slice_node(s);
        let t = now + self.noc.latency(node, sn, CTRL_BYTES) + self.l3_latency;
        let exclusive = matches!(kind, Kind::ReadEx | Kind::Upgrade);
        let mut shared = false;
        if let Some(e) = home.dir.get(line) {
            if let Some(o) = e.owner
                && o as u32 != c
            {
                let on = self.topo.core_node(o as u32);
                let r = t
                    + self.noc.latency(sn, on, CTRL_BYTES)
                    + self.forward_latency[o as usize]
                    + self.noc.latency(on, node, DATA_BYTES);
                return (r, Level::Remote, !exclusive);
            }
            let others = e.sharers.without(c);
            if !others.is_empty() {
                if exclusive {
                    let mut inv = 0;
                    for v in others.iter() {
                        let vn = self.topo.core_node(v);
                        inv = inv.max(
                            self.noc.latency(sn, vn, CTRL_BYTES)
                                + self.noc.latency(vn, node, CTRL_BYTES),
                        );
                    }
                    let data = if kind == Kind::Upgrade {
                        self.noc.latency(sn, node, CTRL_BYTES)
                    } else {
                        self.noc.latency(sn, node, DATA_BYTES)
                    };
                    return (t + inv.max(data), Level::Remote, false);
                }
                shared = true;
            }
        }
        if kind == Kind::Upgrade {
            return (t + self.noc.latency(sn, node, CTRL_BYTES), Level::L3, false);
        }
        if home.llc.contains(line >> self.sub_bits) {
            return (
                t + self.noc.latency(sn, node, DATA_BYTES),
                Level::L3,
                shared,
            );
        }
        let k = self.topo.controller_of(line);
        let kn = self.topo.controller_node(k);
        let at = t + self.noc.latency(sn, kn, CTRL_BYTES);
        let r = self.ctrls[k as usize].c.predict(at, &mut vq[k as usize])
            + self.noc.latency(kn, node, DATA_BYTES);
        (r, Level::Dram, shared)
    }
}

impl View<'_> {
    /// A request of `kind` for `line` at `now`: estimated from the shared state the last
    /// barrier left, and logged under the line's home shard with that estimate. Returns the
    /// estimated ready time, the level and whether other cores hold the line.
    #[inline]
    fn request(&mut self, line: u64, kind: Kind, now: u64) -> (u64, Level, bool) {
        let home = self.s.home_of(line);
        let (ready, level, shared) = self.s.estimate(
            self.l.id,
            self.l.node,
            line,
            home,
            kind,
            now,
            &mut self.l.vq,
        );
        self.log(home.1, now, line, kind, ready);
        (ready, level, shared)
    }

    #[inline]
    fn log(&mut self, h: usize, time: u64, line: u64, kind: Kind, est: u64) {
        let word = if self.l.miss_addr >> 6 == line {
            ((self.l.miss_addr & 63) >> 3) as u8
        } else {
            0xff
        };
        self.l.seq += 1;
        self.l.log[h].push(Req {
            time,
            core: self.l.id,
            seq: self.l.seq,
            line,
            word,
            kind,
            est,
        });
    }
}

impl Uncore for View<'_> {
    #[inline]
    fn read(&mut self, _core: u32, line: u64, now: u64, req: Request) -> (u64, Level) {
        let kind = match req {
            Request::Read => Kind::Read,
            Request::ReadExclusive => Kind::ReadEx,
            Request::Prefetch => Kind::Prefetch,
        };
        let (ready, level, shared) = self.request(line, kind, now);
        if shared {
            self.l.readonly.insert(line, ());
        } else {
            self.l.readonly.remove(&line);
        }
        (ready, level)
    }

    #[inline]
    fn writeback(&mut self, _core: u32, line: u64, now: u64) {
        self.l.readonly.remove(&line);
        let h = self.s.home_of(line).1;
        self.log(h, now, line, Kind::Writeback, now);
    }

    #[inline]
    fn store_hit(&mut self, _core: u32, addr: u64, now: u64) -> Option<u64> {
        let line = addr >> 6;
        if self.l.readonly.is_empty() || self.l.readonly.remove(&line).is_none() {
            return None;
        }
        self.l.miss_addr = addr;
        let (ready, _, _) = self.request(line, Kind::Upgrade, now);
        Some(ready)
    }

    #[inline]
    fn miss_address(&mut self, _core: u32, addr: u64) {
        self.l.miss_addr = addr;
    }
}

impl Slot {
    /// The core's part of a quantum: apply what the last barrier decided about its private
    /// state, then run until `until`.
    fn quantum(&mut self, shared: &Shared, until: u64) {
        let t0 = Instant::now();
        self.apply_barrier(&shared.homes);
        if self.state == State::Run {
            self.step(shared, until);
            let ns = t0.elapsed().as_nanos() as u64;
            self.local.cost = (self.local.cost + ns) / 2;
        }
    }

    fn apply_barrier(&mut self, homes: &[Home]) {
        let l = &mut self.local;
        for log in &mut l.log {
            log.clear();
        }
        l.ops.clear();
        let mut sources = 0;
        for h in homes {
            let ops = &h.ops[l.id as usize];
            if !ops.is_empty() {
                sources += 1;
                l.ops.extend_from_slice(ops);
            }
        }
        if sources > 1 {
            l.ops.sort_unstable_by_key(|o| o.key);
        }
        let m = &mut self.core.mem;
        for o in &l.ops {
            match o.what {
                What::Invalidate => {
                    m.l1d.invalidate(o.line);
                    m.l1i.invalidate(o.line);
                    m.l2.invalidate(o.line);
                    l.readonly.remove(&o.line);
                }
                What::Shared(true) => {
                    l.readonly.insert(o.line, ());
                }
                What::Shared(false) => {
                    l.readonly.remove(&o.line);
                }
            }
        }
    }

    fn step(&mut self, shared: &Shared, until: u64) {
        if self.state != State::Run || self.error.is_some() {
            return;
        }
        let mut view = View {
            s: shared,
            l: &mut self.local,
        };
        match self.core.step(&mut self.stream, &mut view, u64::MAX, until) {
            Ok(Stop::EndOfStream) => {
                if self.stream.event().is_some() {
                    self.at_event = true;
                } else if self.stream.ended() {
                    self.state = State::Done;
                    self.finish = self.core.cycle();
                }
            }
            Ok(_) => {}
            Err(e) => self.error = Some(e),
        }
    }

    /// Whether the private caches hold `line` dirty (what invalidating it would write back).
    fn holds_dirty(&self, line: u64) -> bool {
        let m = &self.core.mem;
        m.l1d.peek_dirty(line).unwrap_or(false)
            || m.l1i.peek_dirty(line).unwrap_or(false)
            || m.l2.peek_dirty(line).unwrap_or(false)
    }
}

/// The cores as the home shards see them at a barrier: their logs and private caches, read
/// only.
struct Cores<'a>(&'a [Slot]);

// SAFETY: `Cores` reads only the cores' logs (`Vec<Req>`) and private caches (`Cache`), which
// are `Sync`, and nothing changes any core while the home shards run; a core's other parts
// (its instruction stream) are never reached through it.
unsafe impl std::marker::Sync for Cores<'_> {}

impl Cores<'_> {
    fn log(&self, core: usize, home: usize) -> &[Req] {
        &self.0[core].local.log[home]
    }
    fn holds_dirty(&self, core: usize, line: u64) -> bool {
        self.0[core].holds_dirty(line)
    }
}

/// What a home shard reads at a barrier.
struct Ctx<'a> {
    topo: &'a Topology,
    noc: &'a Noc,
    slots: Cores<'a>,
    sub_bits: u32,
    l3_latency: u64,
}

impl Home {
    /// This shard's part of a barrier: its requests of the quantum, from all cores, applied in
    /// (time, core, sequence) order.
    fn barrier(&mut self, id: usize, cx: &Ctx) {
        let mut reqs = std::mem::take(&mut self.reqs);
        reqs.clear();
        for c in 0..cx.slots.0.len() {
            reqs.extend_from_slice(cx.slots.log(c, id));
        }
        reqs.sort_unstable_by_key(|r| (r.time, r.core, r.seq));
        for d in &mut self.dram {
            d.clear();
        }
        for o in &mut self.ops {
            o.clear();
        }
        self.gone.clear();
        self.load = reqs.len() as u64;
        for r in &reqs {
            self.apply(r, cx);
        }
        self.reqs = reqs;
    }

    #[inline]
    fn op(&mut self, core: u32, key: Key, line: u64, what: What) {
        self.ops[core as usize].push(CoreOp { key, line, what });
    }

    /// Apply one logged request.
    fn apply(&mut self, r: &Req, cx: &Ctx) {
        let c = r.core;
        let line = r.line;
        let part = line >> cx.sub_bits;
        let sn = cx.topo.slice_node(self.slice);
        let node = cx.topo.core_node(c);
        let mut step = 0u8;
        let mut key = || {
            step += 1;
            (r.time, r.core, r.seq, step)
        };
        if r.kind == Kind::Writeback {
            self.dir.access(c, line, Op::Evict { dirty: true });
            cx.noc.record_into(&mut self.traffic, node, sn, DATA_BYTES);
            if self.llc.probe(part, true).is_none()
                && let Some(v) = self.llc.fill(part, r.time, true, false)
            {
                self.victim(v, r.time, &mut key, cx);
            }
            return;
        }
        let demand = matches!(r.kind, Kind::Read | Kind::ReadEx);
        {
            let seen = self.seen.entry(line).or_default();
            let first = !seen.contains(c);
            seen.insert(c);
            let inval = &mut self.inval[c as usize];
            let st = &mut self.stats[c as usize];
            if demand {
                if let Some(w) = inval.remove(&line) {
                    if w == r.word || w == 0xff || r.word == 0xff {
                        st.true_sharing += 1;
                    } else {
                        st.false_sharing += 1;
                    }
                } else if first {
                    st.cold += 1;
                } else {
                    st.capacity += 1;
                }
            } else if r.kind == Kind::Upgrade {
                st.upgrades += 1;
                inval.remove(&line);
            }
        }
        cx.noc.record_into(&mut self.traffic, node, sn, CTRL_BYTES);
        let op = if matches!(r.kind, Kind::Read | Kind::Prefetch) {
            Op::Read
        } else {
            Op::Write
        };
        let out = self.dir.access(c, line, op);
        for v in out.invalidate.iter() {
            self.op(v, key(), line, What::Invalidate);
            self.gone.entry(line).or_default().insert(v);
            let inval = &mut self.inval[v as usize];
            if inval.len() > 1 << 16 {
                inval.clear();
            }
            inval.insert(line, r.word);
            self.stats[v as usize].invalidated += 1;
            let vn = cx.topo.core_node(v);
            cx.noc.record_into(&mut self.traffic, sn, vn, CTRL_BYTES);
            cx.noc.record_into(&mut self.traffic, vn, node, CTRL_BYTES);
        }
        self.op(
            c,
            key(),
            line,
            What::Shared(out.grant == Some(Mesi::Shared)),
        );
        if let Some(o) = out.forward_from {
            let on = cx.topo.core_node(o);
            cx.noc.record_into(&mut self.traffic, sn, on, CTRL_BYTES);
            cx.noc.record_into(&mut self.traffic, on, node, DATA_BYTES);
            self.stats[c as usize].remote += 1;
            if out.downgrade {
                self.op(o, key(), line, What::Shared(true));
            }
            return;
        }
        if out.upgrade {
            cx.noc.record_into(&mut self.traffic, sn, node, CTRL_BYTES);
            return;
        }
        let hit = if r.kind == Kind::Prefetch {
            self.llc.probe(part, false)
        } else {
            self.llc.access(part, false)
        };
        if hit.is_some() {
            self.stats[c as usize].llc_hits += 1;
            cx.noc.record_into(&mut self.traffic, sn, node, DATA_BYTES);
            return;
        }
        let k = cx.topo.controller_of(line) as usize;
        let kn = cx.topo.controller_node(k as u32);
        let at = r.time
            + cx.noc.latency(node, sn, CTRL_BYTES)
            + cx.l3_latency
            + cx.noc.latency(sn, kn, CTRL_BYTES);
        cx.noc.record_into(&mut self.traffic, sn, kn, CTRL_BYTES);
        self.dram[k].push(DramOp {
            key: key(),
            at,
            read: Some(DramRead {
                core: c,
                node,
                est: r.est,
                load: r.kind == Kind::Read,
            }),
        });
        cx.noc.record_into(&mut self.traffic, kn, node, DATA_BYTES);
        self.stats[c as usize].dram_reads += 1;
        // The LLC's fill times are never read in a multi-core run (a line present in the
        // LLC is a hit whatever its fill time), so the line is installed with its arrival
        // time at the controller; its real completion is known only to the controller.
        if let Some(v) = self.llc.fill(part, at, false, r.kind == Kind::Prefetch) {
            self.victim(v, r.time, &mut key, cx);
        }
    }

    /// The LLC evicted `v`: back-invalidate the private copies the directory knows of and
    /// write dirty data to memory.
    fn victim(&mut self, v: Victim, now: u64, key: &mut impl FnMut() -> Key, cx: &Ctx) {
        let line = (v.line << cx.sub_bits) | self.sub;
        let holders = self.dir.drop_line(line);
        let mut dirty = v.dirty;
        for h in holders.iter() {
            let gone = self.gone.entry(line).or_default();
            if !gone.contains(h) {
                dirty |= cx.slots.holds_dirty(h as usize, line);
                gone.insert(h);
            }
            self.op(h, key(), line, What::Invalidate);
        }
        if dirty {
            let k = cx.topo.controller_of(line) as usize;
            self.dram[k].push(DramOp {
                key: key(),
                at: now,
                read: None,
            });
        }
    }
}

impl Ctrl {
    /// This controller's part of a barrier: the DRAM accesses all home shards decided, in key
    /// order, through the exact bandwidth queue.
    #[allow(clippy::too_many_arguments)]
    fn barrier(
        &mut self,
        k: usize,
        homes: &[Home],
        topo: &Topology,
        noc: &Noc,
        q_end: u64,
        quantum: u64,
    ) {
        self.ops.clear();
        let mut sources = 0;
        for h in homes {
            if !h.dram[k].is_empty() {
                sources += 1;
                self.ops.extend_from_slice(&h.dram[k]);
            }
        }
        if sources > 1 {
            self.ops.sort_unstable_by_key(|o| o.key);
        }
        self.late.clear();
        let kn = topo.controller_node(k as u32);
        for o in &self.ops {
            match o.read {
                Some(r) => {
                    let done = self.c.read(r.core, o.at);
                    let actual = done + noc.latency(kn, r.node, DATA_BYTES);
                    if r.load && actual > r.est {
                        self.late.push((r.core, actual));
                    }
                }
                None => self.c.write(o.at),
            }
        }
        self.c.end_quantum(q_end, quantum);
    }
}

/// Synchronisation bookkeeping (handled at the barriers).
#[derive(Default)]
struct Sync {
    barriers: HashMap<u64, Vec<(u64, u32)>>,
    /// Wakes not yet consumed, per object (their times).
    wakes: HashMap<u64, VecDeque<u64>>,
    waiters: HashMap<u64, VecDeque<(u64, u32)>>,
    joiners: Vec<(u32, u32, u64)>,
    exits: Vec<Option<u64>>,
    latency: u64,
    /// Per thread: when another thread created it (a `ThreadStart` naming it).
    created: Vec<Option<u64>>,
    /// Per core: waiting at its own `ThreadStart` for its creation.
    unborn: Vec<bool>,
}

fn resume(slot: &mut Slot, at: u64) {
    slot.core.stall_until(at, Component::Sync);
    slot.state = State::Run;
}

/// A created thread's core starts at `at`: its clock moves there and its statistics count
/// from there (the time before its creation is not part of its run).
fn start(slot: &mut Slot, at: u64) {
    slot.core.stall_until(at, Component::Sync);
    slot.core.reset_stats();
    slot.state = State::Run;
}

impl Sync {
    /// No core can run. Threads never created stay unused and end the run (`Ok(true)`);
    /// otherwise a wait that no wake in any stream will ever match (a live run records a
    /// futex wait that the kernel ended without a wake: a timeout, a signal, or a value that
    /// changed just before it slept) resumes at the latest clock of any core, the earliest
    /// such wait first (`Ok(false)`: run on). A barrier or join nobody can complete is an
    /// error.
    fn unblock_or_end(&mut self, slots: &mut [Slot]) -> Result<bool> {
        let stuck = slots
            .iter()
            .enumerate()
            .any(|(i, s)| s.state == State::Blocked && !self.unborn[i]);
        if !stuck {
            return Ok(true);
        }
        let earliest = self
            .waiters
            .iter()
            .filter_map(|(&obj, q)| q.front().map(|&(t, c)| (t, c, obj)))
            .min();
        if let Some((_, c, obj)) = earliest {
            if let Some(q) = self.waiters.get_mut(&obj) {
                q.pop_front();
            }
            let latest = slots.iter().map(|s| s.core.cycle()).max().unwrap_or(0);
            resume(&mut slots[c as usize], latest);
            return Ok(false);
        }
        let blocked: Vec<String> = slots
            .iter()
            .enumerate()
            .filter(|(i, s)| s.state == State::Blocked && !self.unborn[*i])
            .map(|(i, _)| i.to_string())
            .collect();
        bail!(
            "deadlock: cores {} are blocked and no running core can wake them",
            blocked.join(", ")
        )
    }

    /// Threads that take part in barriers: created and not finished.
    fn live(&self, slots: &[Slot]) -> usize {
        slots
            .iter()
            .zip(&self.unborn)
            .filter(|(s, unborn)| s.state != State::Done && !**unborn)
            .count()
    }

    fn check_barriers(&mut self, slots: &mut [Slot]) {
        let live = self.live(slots);
        let mut done = Vec::new();
        for (&obj, arrivals) in &self.barriers {
            if !arrivals.is_empty() && arrivals.len() >= live {
                done.push(obj);
            }
        }
        done.sort_unstable();
        for obj in done {
            let arrivals = self.barriers.remove(&obj).unwrap_or_default();
            let t = arrivals.iter().map(|a| a.0).max().unwrap_or(0) + self.latency;
            for (_, c) in arrivals {
                resume(&mut slots[c as usize], t);
            }
        }
    }

    fn handle(&mut self, slots: &mut [Slot], c: u32, t: u64, ev: SyncEvent) {
        let lat = self.latency;
        match ev.op {
            SyncOp::ThreadExit => {
                let s = &mut slots[c as usize];
                s.state = State::Done;
                s.finish = t;
                self.exits[c as usize] = Some(t);
                let mut i = 0;
                while i < self.joiners.len() {
                    let (j, target, tj) = self.joiners[i];
                    if target == c {
                        self.joiners.swap_remove(i);
                        resume(&mut slots[j as usize], tj.max(t) + lat);
                    } else {
                        i += 1;
                    }
                }
                self.check_barriers(slots);
            }
            SyncOp::Wake => {
                if let Some((tw, w)) = self.waiters.get_mut(&ev.object).and_then(|q| q.pop_front())
                {
                    resume(&mut slots[w as usize], tw.max(t) + lat);
                } else {
                    self.wakes.entry(ev.object).or_default().push_back(t);
                }
            }
            SyncOp::Wait => {
                if let Some(tw) = self.wakes.get_mut(&ev.object).and_then(|q| q.pop_front()) {
                    if tw > t {
                        resume(&mut slots[c as usize], tw + lat);
                    }
                } else {
                    slots[c as usize].state = State::Blocked;
                    self.waiters.entry(ev.object).or_default().push_back((t, c));
                }
            }
            SyncOp::Barrier => {
                slots[c as usize].state = State::Blocked;
                self.barriers.entry(ev.object).or_default().push((t, c));
                self.check_barriers(slots);
            }
            SyncOp::ThreadStart => {
                let t_obj = ev.object as usize;
                if t_obj == c as usize {
                    // A thread's own first record: it runs from its creation on.
                    match self.created.get(t_obj).copied().flatten() {
                        Some(tc) => start(&mut slots[c as usize], t.max(tc)),
                        None => {
                            slots[c as usize].state = State::Blocked;
                            self.unborn[c as usize] = true;
                        }
                    }
                } else if t_obj < slots.len() && self.created[t_obj].is_none() {
                    // Core `c` creates thread `t_obj` now.
                    self.created[t_obj] = Some(t);
                    if self.unborn[t_obj] {
                        self.unborn[t_obj] = false;
                        let s = &mut slots[t_obj];
                        let at = t.max(s.core.cycle());
                        start(s, at);
                    }
                }
            }
            SyncOp::Join => {
                let target = ev.object as usize;
                match self.exits.get(target).copied().flatten() {
                    Some(te) if te > t => resume(&mut slots[c as usize], te + lat),
                    Some(_) => {}
                    None if target < slots.len() && target != c as usize => {
                        slots[c as usize].state = State::Blocked;
                        self.joiners.push((c, target as u32, t));
                    }
                    None => {} // joining nothing or oneself: no effect
                }
            }
            _ => {}
        }
    }
}

/// Check that per-core configurations fit one system: interval model, one clock.
fn check_configs(base: &Config, cores: &[Config]) -> Result<()> {
    if cores.len() != base.system.cores as usize {
        bail!(
            "{} core configurations for system.cores = {}",
            cores.len(),
            base.system.cores
        );
    }
    for (i, c) in cores.iter().enumerate() {
        if c.core.model != CoreModel::Interval {
            bail!("core {i}: core.model: multi-core runs use the interval model");
        }
        if c.core.frequency_ghz != base.core.frequency_ghz {
            bail!(
                "core {i}: core.frequency_ghz: all cores share one clock ({} GHz)",
                base.core.frequency_ghz
            );
        }
    }
    Ok(())
}

/// log2 of the home shards per LLC slice: enough for [`MIN_HOMES`] shards in all, while each
/// keeps [`MIN_HOME_SETS`] sets; one per slice under random replacement (whose generator is
/// per cache, so splitting would change the choices).
fn sub_bits(base: &Config, slices: u32) -> u32 {
    let l3 = &base.l3;
    let sets = (l3.size.0 / crate::config::LINE_BYTES / l3.ways.max(1) as u64).max(1);
    let mut bits = 0;
    while l3.replacement != Replacement::Random
        && (slices << bits) < MIN_HOMES
        && sets >> (bits + 1) >= MIN_HOME_SETS
    {
        bits += 1;
    }
    bits
}

/// Simulate `streams` (one per core, thread *i* on core *i*) on the system `base` describes,
/// with per-core configurations `cores` (from [`per_core_configs`]). `progress` is called
/// after quanta with the instructions simulated so far.
pub fn run(
    base: &Config,
    cores: &[Config],
    streams: Vec<Box<dyn InstrStream + Send>>,
    label: &str,
    opts: Options,
    progress: impl FnMut(u64),
) -> Result<MultiStats> {
    run_split(base, cores, streams, label, opts, None, progress)
}

/// [`run`] with the number of home shards per LLC slice chosen by the caller (log2; `None`:
/// [`sub_bits`]'s choice). The results never depend on it.
fn run_split(
    base: &Config,
    cores: &[Config],
    streams: Vec<Box<dyn InstrStream + Send>>,
    label: &str,
    opts: Options,
    split: Option<u32>,
    progress: impl FnMut(u64),
) -> Result<MultiStats> {
    let inner = gang::Inner::new(opts.host_threads);
    std::thread::scope(|scope| {
        let gang = Gang::start(scope, &inner);
        run_on(&gang, base, cores, streams, label, opts, split, progress)
    })
}

#[allow(clippy::too_many_arguments)]
fn run_on(
    gang: &Gang,
    base: &Config,
    cores: &[Config],
    streams: Vec<Box<dyn InstrStream + Send>>,
    label: &str,
    opts: Options,
    split: Option<u32>,
    mut progress: impl FnMut(u64),
) -> Result<MultiStats> {
    check_configs(base, cores)?;
    let n = cores.len();
    if streams.len() != n {
        bail!("{} thread streams for {n} cores", streams.len());
    }
    let topo = Topology::new(&base.system);
    let sub_bits = split.unwrap_or_else(|| sub_bits(base, topo.slices));
    let nhomes = (topo.slices as usize) << sub_bits;
    let mut slots: Vec<Slot> = cores
        .iter()
        .zip(streams)
        .enumerate()
        .map(|(i, (c, s))| Slot {
            core: IntervalCore::new(i as u32, c),
            stream: ThreadStream::new(s),
            local: CoreLocal {
                id: i as u32,
                node: topo.core_node(i as u32),
                readonly: LineMap::default(),
                log: vec![Vec::new(); nhomes],
                seq: 0,
                miss_addr: 0,
                debt: 0,
                vq: vec![0; topo.controllers as usize],
                stats: CoherenceStats::default(),
                ops: Vec::new(),
                cost: 0,
            },
            state: State::Run,
            finish: 0,
            error: None,
            at_event: false,
        })
        .collect();
    let l3 = &base.l3;
    let l3_sets = l3.size.0 / crate::config::LINE_BYTES / l3.ways as u64;
    let mut sh = Shared {
        noc: Noc::new(&base.system),
        homes: (0..nhomes)
            .map(|h| Home {
                slice: (h >> sub_bits) as u32,
                sub: (h & ((1 << sub_bits) - 1)) as u64,
                llc: Cache::new(
                    "l3",
                    l3_sets >> sub_bits,
                    l3.ways,
                    l3.latency,
                    l3.replacement,
                    l3.mshrs,
                ),
                dir: Directory::new(),
                seen: LineMap::default(),
                inval: vec![LineMap::default(); n],
                stats: vec![CoherenceStats::default(); n],
                gone: LineMap::default(),
                reqs: Vec::new(),
                traffic: Traffic::default(),
                dram: vec![Vec::new(); topo.controllers as usize],
                ops: vec![Vec::new(); n],
                load: 0,
            })
            .collect(),
        ctrls: (0..topo.controllers)
            .map(|_| Ctrl {
                c: Controller::new(base.dram_latency_cycles(), base.dram_cycles_per_line()),
                ops: Vec::new(),
                late: Vec::new(),
            })
            .collect(),
        sub_bits,
        l3_latency: l3.latency as u64,
        forward_latency: cores
            .iter()
            .map(|c| (c.l2.latency + c.l1d.latency) as u64)
            .collect(),
        topo,
    };
    let mut sync = Sync {
        exits: vec![None; n],
        created: vec![None; n],
        unborn: vec![false; n],
        latency: base.system.sync_latency as u64,
        ..Sync::default()
    };
    let quantum = base.quantum_cycles();
    let threads = gang.threads();
    let core_order: Vec<u32> = (0..n as u32).collect();
    let home_order: Vec<u32> = (0..nhomes as u32).collect();
    let ctrl_order: Vec<u32> = (0..sh.ctrls.len() as u32).collect();
    let mut bounds = Vec::new();
    let start = Instant::now();
    let cpu0 = report::cpu_seconds();
    let main0 = gang::thread_cpu_ns();
    let mut barrier_time = std::time::Duration::ZERO;
    let mut q_end = quantum;
    let mut quanta = 0u64;
    loop {
        // 1. the cores, each on its own state and the read-only shared state
        balance(
            slots.iter().map(|s| {
                if s.state == State::Run {
                    s.local.cost
                } else {
                    1
                }
            }),
            threads,
            &mut bounds,
        );
        {
            let shr = &sh;
            gang.for_each_mut(&mut slots, &core_order, &bounds, |_, s| {
                s.quantum(shr, q_end)
            });
        }
        if let Some(i) = slots.iter().position(|s| s.error.is_some()) {
            let e = slots[i].error.take().expect("checked");
            bail!("core {i} ({}): {e}", slots[i].stream.describe());
        }
        let t_barrier = Instant::now();
        // 2. the home shards, each applying its requests in (time, core, seq) order
        {
            let cx = Ctx {
                topo: &sh.topo,
                noc: &sh.noc,
                slots: Cores(&slots),
                sub_bits,
                l3_latency: sh.l3_latency,
            };
            balance(sh.homes.iter().map(|h| h.load + 8), threads, &mut bounds);
            gang.for_each_mut(&mut sh.homes, &home_order, &bounds, |id, h| {
                h.barrier(id, &cx)
            });
        }
        // 3. the DRAM controllers, each applying its accesses in key order
        {
            let (homes, topo, noc) = (&sh.homes, &sh.topo, &sh.noc);
            balance(
                sh.ctrls.iter().map(|c| c.ops.len() as u64 + 8),
                threads,
                &mut bounds,
            );
            gang.for_each_mut(&mut sh.ctrls, &ctrl_order, &bounds, |k, c| {
                c.barrier(k, homes, topo, noc, q_end, quantum)
            });
        }
        // 4. serial: traffic, late loads, synchronisation events in (time, core) order
        for h in &mut sh.homes {
            sh.noc.add(&mut h.traffic);
        }
        for c in &sh.ctrls {
            for &(core, t) in &c.late {
                let l = &mut slots[core as usize].local;
                l.debt = l.debt.max(t);
            }
        }
        let mut events: Vec<(u64, u32)> = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.at_event)
            .map(|(i, s)| (s.core.cycle(), i as u32))
            .collect();
        events.sort_unstable();
        for (t, c) in events {
            let s = &mut slots[c as usize];
            s.at_event = false;
            if let Some(ev) = s.stream.take_event() {
                sync.handle(&mut slots, c, t, ev);
            }
        }
        for s in &mut slots {
            let now = s.core.cycle();
            if s.local.debt > now && s.state == State::Run {
                s.local.stats.debt_cycles += s.local.debt - now;
                s.core.stall_until(s.local.debt, Component::DcacheDram);
            }
            s.local.debt = 0;
        }
        sh.noc.end_quantum(quantum);
        quanta += 1;
        barrier_time += t_barrier.elapsed();
        if quanta.is_multiple_of(64) {
            progress(slots.iter().map(|s| s.core.stats().instructions).sum());
        }
        if slots.iter().all(|s| s.state == State::Done) {
            break;
        }
        if !slots.iter().any(|s| s.state == State::Run) && sync.unblock_or_end(&mut slots)? {
            break;
        }
        q_end += quantum;
    }
    let wall = start.elapsed().as_secs_f64();
    let critical = if gang.profiling() {
        gang.critical_path_ns(gang::thread_cpu_ns() - main0) as f64 * 1e-9
    } else {
        0.0
    };
    let results: Vec<CoreResult> = slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut coherence = s.local.stats;
            for h in &sh.homes {
                coherence.add(&h.stats[i]);
            }
            CoreResult {
                stats: s.core.stats(),
                coherence,
                finish_cycle: s.finish,
            }
        })
        .collect();
    let mut llc = crate::memory::cache::CacheStats::default();
    let mut protocol = crate::memory::coherence::ProtocolStats::default();
    for h in &sh.homes {
        llc.add(&h.llc.stats);
        protocol.add(&h.dir.stats);
    }
    let cycles = results.iter().map(|r| r.finish_cycle).max().unwrap_or(0);
    let stats = MultiStats {
        label: label.to_string(),
        config: base.name.clone(),
        frequency_ghz: base.core.frequency_ghz,
        network: format!("{:?}", base.system.network).to_lowercase(),
        quantum_cycles: quantum,
        quanta,
        cycles,
        slices: sh.topo.slices,
        cores: results,
        llc,
        dram: sh.ctrls.iter().map(|c| c.c.dram.stats).collect(),
        dram_bandwidth_gbps: base.dram.bandwidth_gbps,
        protocol,
        noc: sh.noc.stats.clone(),
        host: HostStats {
            threads: opts.host_threads,
            wall_seconds: wall,
            peak_rss_bytes: report::peak_rss_bytes(),
            serial_seconds: barrier_time.as_secs_f64(),
            cpu_seconds: report::cpu_seconds() - cpu0,
            critical_path_seconds: critical,
        },
    };
    Ok(stats)
}

/// Per-core configurations: `base` for every core, then each `RANGE:key=value` override
/// applied to the cores in its range (`3`, `0-7`, `*`). Shared keys (`l3.*`, `dram.*`,
/// `system.*`) and the clock cannot differ between cores.
pub fn per_core_configs(
    base_name: &str,
    file: Option<(&str, &str)>,
    overrides: &[String],
    per_core: &[String],
) -> Result<(Config, Vec<Config>)> {
    let base = Config::build(base_name, file, overrides)?;
    let n = base.system.cores;
    let mut extra: Vec<Vec<String>> = vec![Vec::new(); n as usize];
    for p in per_core {
        let (range, kv) = p
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--per-core '{p}': expected RANGE:section.key=value"))?;
        let key = kv.split('=').next().unwrap_or("").trim();
        if ["l3.", "dram.", "system."]
            .iter()
            .any(|s| key.starts_with(s))
            || key == "core.frequency_ghz"
            || key == "name"
        {
            bail!("--per-core '{p}': {key} is shared by all cores and cannot differ per core");
        }
        let (lo, hi) = if range.trim() == "*" {
            (0, n - 1)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                a.trim()
                    .parse::<u32>()
                    .map_err(|_| anyhow::anyhow!("--per-core '{p}': bad range"))?,
                b.trim()
                    .parse::<u32>()
                    .map_err(|_| anyhow::anyhow!("--per-core '{p}': bad range"))?,
            )
        } else {
            let c = range
                .trim()
                .parse::<u32>()
                .map_err(|_| anyhow::anyhow!("--per-core '{p}': bad core number '{range}'"))?;
            (c, c)
        };
        if lo > hi || hi >= n {
            bail!("--per-core '{p}': cores {lo}-{hi} outside 0-{}", n - 1);
        }
        for e in &mut extra[lo as usize..=hi as usize] {
            e.push(kv.to_string());
        }
    }
    let mut cores = Vec::with_capacity(n as usize);
    for (i, e) in extra.iter().enumerate() {
        if e.is_empty() {
            cores.push(base.clone());
        } else {
            let mut all = overrides.to_vec();
            all.extend(e.iter().cloned());
            cores.push(
                Config::build(base_name, file, &all)
                    .map_err(|err| anyhow::anyhow!("core {i}: {err}"))?,
            );
        }
    }
    Ok((base, cores))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::threads::{ParallelParams, ParallelWorkload};

    fn stats(workload: &str, over: &[&str], threads: usize, split: u32) -> MultiStats {
        let over: Vec<String> = over.iter().map(|s| s.to_string()).collect();
        let (base, cores) = per_core_configs("gainestown", None, &over, &[]).unwrap();
        let p = ParallelParams {
            footprint: Some(64 << 10),
            ..ParallelParams::default()
        };
        let w = ParallelWorkload::from_name(workload, &p).unwrap();
        let streams = w.streams(cores.len() as u32, 20_000, 1);
        let o = Options {
            host_threads: threads,
        };
        let mut s = run_split(&base, &cores, streams, workload, o, Some(split), |_| {}).unwrap();
        s.host = HostStats::default();
        s
    }

    #[test]
    fn home_shards_and_host_threads_never_change_the_results() {
        for (w, over) in [
            (
                "false-sharing",
                &["system.cores=8", "system.quantum_ns=10"][..],
            ),
            ("prodcons", &["system.cores=4", "l3.size=256KiB"][..]),
            ("stream", &["system.cores=8", "l3.size=256KiB"][..]),
            ("stencil", &["system.cores=8", "system.network=mesh"][..]),
        ] {
            let one = stats(w, over, 1, 0);
            assert!(one.cores.iter().all(|c| c.stats.instructions > 0), "{w}");
            for (threads, split) in [(1, 3), (2, 0), (3, 2)] {
                assert_eq!(
                    one,
                    stats(w, over, threads, split),
                    "{w}: {threads} threads, split {split}"
                );
            }
        }
    }
}
