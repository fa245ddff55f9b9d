//! Multi-core simulation: N interval cores with private L1/L2, a coherent banked LLC with a
//! full-map MESI directory, DRAM controllers and a network, advanced in quanta of simulated
//! time on one or more host threads, with deterministic results.
//!
//! **How simulated time advances.** Every core has its own clock. The scheduler repeats:
//!
//! 1. *Parallel phase.* Every runnable core runs until its clock reaches the end of the
//!    current quantum (default 100 ns, `system.quantum_ns`) — or it reaches a synchronisation
//!    event or the end of its thread. Cores are sharded over host worker threads (rayon). A
//!    core touches only its own state: private caches hit and miss as usual; a request to the
//!    shared levels (L2 miss, upgrade, writeback) is *answered* from a read-only view of the
//!    shared state as it was at the start of the quantum (directory, LLC contents, network
//!    and DRAM contention estimates) and *logged*.
//! 2. *Serial phase (the barrier).* The logged requests of all cores are sorted by
//!    (time, core, sequence) and applied to the directory, LLC slices, network and DRAM
//!    queues in that order: invalidations and downgrades reach the other cores' private
//!    caches, lines are filled and evicted, DRAM requests go through the exact bandwidth
//!    queue (a load that the exact queue finishes later than estimated holds its core until
//!    that real completion at the next quantum), and misses are classified. Then the
//!    synchronisation events the cores stopped at are handled in (time, core) order: barriers
//!    release when every live thread arrived, waits consume wakes, joins wait for exits;
//!    a blocked core's clock jumps to its wake-up time and the gap is charged to `sync`.
//!    Finally the contention estimates are updated from the quantum's traffic.
//!
//! Nothing in a core's parallel phase depends on another core's progress in the same
//! quantum, and the serial phase is a pure function of the sorted logs, so the statistics
//! are identical for any number of host threads. The price is the usual lax-synchronisation
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

pub mod report;

use crate::config::{Config, CoreModel};
use crate::core::Stop;
use crate::core::interval::IntervalCore;
use crate::dram::Controller;
use crate::frontend::threads::{SyncEvent, ThreadStream};
use crate::frontend::{InstrStream, SyncOp};
use crate::memory::cache::{Cache, Victim};
use crate::memory::coherence::{CoreSet, Directory, LineMap, Mesi, Op};
use crate::memory::{Level, Request, Uncore};
use crate::noc::{CTRL_BYTES, DATA_BYTES, Noc, Topology};
use crate::stats::Component;
use anyhow::{Result, bail};
use report::{CoherenceStats, CoreResult, HostStats, MultiStats};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

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

/// A core's view of the coherence state that only it changes during a quantum.
struct CoreLocal {
    id: u32,
    node: u32,
    /// Lines this core holds shared (a store to one is an upgrade miss).
    readonly: LineMap<()>,
    /// Lines another core's write took away, with the word that write touched.
    invalidated: LineMap<u8>,
    log: Vec<Req>,
    seq: u32,
    miss_addr: u64,
    debt: u64,
    /// Per DRAM controller: when this core's fair share of it is next free.
    vq: Vec<u64>,
    stats: CoherenceStats,
}

/// Everything shared: read-only while the cores run, updated at the barriers.
struct Shared {
    topo: Topology,
    noc: Noc,
    dir: Directory,
    llc: Vec<Cache>,
    ctrls: Vec<Controller>,
    l3_latency: u64,
    /// Per core: cycles for its private levels to supply a forwarded line.
    forward_latency: Vec<u64>,
    /// Per line: the cores that ever requested it (cold-miss classification).
    seen: LineMap<CoreSet>,
}

/// Whether a core can run, waits, or has finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Run,
    Blocked,
    Done,
}

struct Slot {
    core: IntervalCore,
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
    /// Latency of a request of `kind` by core `c` at `now`, from the state at the start of the
    /// quantum; also whether a read will be granted shared.
    #[inline]
    fn estimate(
        &self,
        c: u32,
        node: u32,
        line: u64,
        kind: Kind,
        now: u64,
        vq: &mut [u64],
    ) -> (u64, Level, bool) {
        let s = self.topo.slice_of(line);
        let sn = self.topo.slice_node(s);
        let t = now + self.noc.latency(node, sn, CTRL_BYTES) + self.l3_latency;
        let exclusive = matches!(kind, Kind::ReadEx | Kind::Upgrade);
        let mut shared = false;
        if let Some(e) = self.dir.get(line) {
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
        if self.llc[s as usize].contains(line) {
            return (
                t + self.noc.latency(sn, node, DATA_BYTES),
                Level::L3,
                shared,
            );
        }
        let k = self.topo.controller_of(line);
        let kn = self.topo.controller_node(k);
        let at = t + self.noc.latency(sn, kn, CTRL_BYTES);
        let r = self.ctrls[k as usize].predict(at, &mut vq[k as usize])
            + self.noc.latency(kn, node, DATA_BYTES);
        (r, Level::Dram, shared)
    }
}

impl View<'_> {
    #[inline]
    fn log(&mut self, time: u64, line: u64, kind: Kind, est: u64) {
        let word = if self.l.miss_addr >> 6 == line {
            ((self.l.miss_addr & 63) >> 3) as u8
        } else {
            0xff
        };
        self.l.seq += 1;
        self.l.log.push(Req {
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
        let (ready, level, shared) =
            self.s
                .estimate(self.l.id, self.l.node, line, kind, now, &mut self.l.vq);
        if shared {
            self.l.readonly.insert(line, ());
        } else {
            self.l.readonly.remove(&line);
        }
        self.log(now, line, kind, ready);
        (ready, level)
    }

    #[inline]
    fn writeback(&mut self, _core: u32, line: u64, now: u64) {
        self.l.readonly.remove(&line);
        self.log(now, line, Kind::Writeback, now);
    }

    #[inline]
    fn store_hit(&mut self, _core: u32, addr: u64, now: u64) -> Option<u64> {
        let line = addr >> 6;
        if self.l.readonly.is_empty() || self.l.readonly.remove(&line).is_none() {
            return None;
        }
        self.l.miss_addr = addr;
        let (ready, _, _) = self.s.estimate(
            self.l.id,
            self.l.node,
            line,
            Kind::Upgrade,
            now,
            &mut self.l.vq,
        );
        self.log(now, line, Kind::Upgrade, ready);
        Some(ready)
    }

    #[inline]
    fn miss_address(&mut self, _core: u32, addr: u64) {
        self.l.miss_addr = addr;
    }
}

impl Slot {
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

    fn invalidate(&mut self, line: u64) -> bool {
        let m = &mut self.core.mem;
        let a = m.l1d.invalidate(line).unwrap_or(false);
        let b = m.l1i.invalidate(line).unwrap_or(false);
        let c = m.l2.invalidate(line).unwrap_or(false);
        self.local.readonly.remove(&line);
        a || b || c
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

/// Apply one logged request at the barrier.
fn apply(sh: &mut Shared, slots: &mut [Slot], r: &Req) {
    let c = r.core;
    let line = r.line;
    let s = sh.topo.slice_of(line) as usize;
    let sn = sh.topo.slice_node(s as u32);
    let node = sh.topo.core_node(c);
    if r.kind == Kind::Writeback {
        sh.dir.access(c, line, Op::Evict { dirty: true });
        sh.noc.record(node, sn, DATA_BYTES);
        if sh.llc[s].probe(line, true).is_none()
            && let Some(v) = sh.llc[s].fill(line, r.time, true, false)
        {
            llc_victim(sh, slots, v, r.time);
        }
        return;
    }
    let demand = matches!(r.kind, Kind::Read | Kind::ReadEx);
    {
        let seen = sh.seen.entry(line).or_default();
        let first = !seen.contains(c);
        seen.insert(c);
        let l = &mut slots[c as usize].local;
        if demand {
            if let Some(w) = l.invalidated.remove(&line) {
                if w == r.word || w == 0xff || r.word == 0xff {
                    l.stats.true_sharing += 1;
                } else {
                    l.stats.false_sharing += 1;
                }
            } else if first {
                l.stats.cold += 1;
            } else {
                l.stats.capacity += 1;
            }
        } else if r.kind == Kind::Upgrade {
            l.stats.upgrades += 1;
            l.invalidated.remove(&line);
        }
    }
    sh.noc.record(node, sn, CTRL_BYTES);
    let op = if matches!(r.kind, Kind::Read | Kind::Prefetch) {
        Op::Read
    } else {
        Op::Write
    };
    let out = sh.dir.access(c, line, op);
    for v in out.invalidate.iter() {
        let vs = &mut slots[v as usize];
        vs.invalidate(line);
        if vs.local.invalidated.len() > 1 << 16 {
            vs.local.invalidated.clear();
        }
        vs.local.invalidated.insert(line, r.word);
        vs.local.stats.invalidated += 1;
        let vn = sh.topo.core_node(v);
        sh.noc.record(sn, vn, CTRL_BYTES);
        sh.noc.record(vn, node, CTRL_BYTES);
    }
    {
        let l = &mut slots[c as usize].local;
        if out.grant == Some(Mesi::Shared) {
            l.readonly.insert(line, ());
        } else {
            l.readonly.remove(&line);
        }
    }
    if let Some(o) = out.forward_from {
        let on = sh.topo.core_node(o);
        sh.noc.record(sn, on, CTRL_BYTES);
        sh.noc.record(on, node, DATA_BYTES);
        slots[c as usize].local.stats.remote += 1;
        if out.downgrade {
            slots[o as usize].local.readonly.insert(line, ());
        }
        return;
    }
    if out.upgrade {
        sh.noc.record(sn, node, CTRL_BYTES);
        return;
    }
    let hit = if r.kind == Kind::Prefetch {
        sh.llc[s].probe(line, false)
    } else {
        sh.llc[s].access(line, false)
    };
    if hit.is_some() {
        slots[c as usize].local.stats.llc_hits += 1;
        sh.noc.record(sn, node, DATA_BYTES);
        return;
    }
    let k = sh.topo.controller_of(line) as usize;
    let kn = sh.topo.controller_node(k as u32);
    let t_ctrl = r.time
        + sh.noc.latency(node, sn, CTRL_BYTES)
        + sh.l3_latency
        + sh.noc.latency(sn, kn, CTRL_BYTES);
    sh.noc.record(sn, kn, CTRL_BYTES);
    let done = sh.ctrls[k].read(c, t_ctrl);
    let actual = done + sh.noc.latency(kn, node, DATA_BYTES);
    sh.noc.record(kn, node, DATA_BYTES);
    let l = &mut slots[c as usize].local;
    l.stats.dram_reads += 1;
    if r.kind == Kind::Read && actual > r.est {
        // the load retires no earlier than its data arrives
        l.debt = l.debt.max(actual);
    }
    if let Some(v) = sh.llc[s].fill(line, done, false, r.kind == Kind::Prefetch) {
        llc_victim(sh, slots, v, r.time);
    }
}

/// The LLC evicted `v`: back-invalidate the private copies the directory knows of and write
/// dirty data to memory.
fn llc_victim(sh: &mut Shared, slots: &mut [Slot], v: Victim, now: u64) {
    let holders = sh.dir.drop_line(v.line);
    let mut dirty = v.dirty;
    for h in holders.iter() {
        dirty |= slots[h as usize].invalidate(v.line);
    }
    if dirty {
        let k = sh.topo.controller_of(v.line) as usize;
        sh.ctrls[k].write(now);
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

/// Simulate `streams` (one per core, thread *i* on core *i*) on the system `base` describes,
/// with per-core configurations `cores` (from [`per_core_configs`]). `progress` is called
/// after quanta with the instructions simulated so far.
pub fn run(
    base: &Config,
    cores: &[Config],
    streams: Vec<Box<dyn InstrStream + Send>>,
    label: &str,
    opts: Options,
    mut progress: impl FnMut(u64),
) -> Result<MultiStats> {
    check_configs(base, cores)?;
    let n = cores.len();
    if streams.len() != n {
        bail!("{} thread streams for {n} cores", streams.len());
    }
    let topo = Topology::new(&base.system);
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
                invalidated: LineMap::default(),
                log: Vec::new(),
                seq: 0,
                miss_addr: 0,
                debt: 0,
                vq: vec![0; topo.controllers as usize],
                stats: CoherenceStats::default(),
            },
            state: State::Run,
            finish: 0,
            error: None,
            at_event: false,
        })
        .collect();
    let mut sh = Shared {
        noc: Noc::new(&base.system),
        dir: Directory::new(),
        llc: (0..topo.slices)
            .map(|_| Cache::from_config("l3", &base.l3))
            .collect(),
        ctrls: (0..topo.controllers)
            .map(|_| Controller::new(base.dram_latency_cycles(), base.dram_cycles_per_line()))
            .collect(),
        l3_latency: base.l3.latency as u64,
        forward_latency: cores
            .iter()
            .map(|c| (c.l2.latency + c.l1d.latency) as u64)
            .collect(),
        seen: LineMap::default(),
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
    let pool = if opts.host_threads > 1 {
        Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(opts.host_threads)
                .build()?,
        )
    } else {
        None
    };
    let start = Instant::now();
    let cpu0 = report::cpu_seconds();
    let mut serial = std::time::Duration::ZERO;
    let mut q_end = quantum;
    let mut quanta = 0u64;
    let mut reqs: Vec<Req> = Vec::new();
    loop {
        // 1. parallel phase
        match &pool {
            Some(p) => {
                use rayon::prelude::*;
                let shr = &sh;
                p.install(|| {
                    slots
                        .par_iter_mut()
                        .with_max_len(1)
                        .for_each(|s| s.step(shr, q_end))
                });
            }
            None => slots.iter_mut().for_each(|s| s.step(&sh, q_end)),
        }
        if let Some(i) = slots.iter().position(|s| s.error.is_some()) {
            let e = slots[i].error.take().expect("checked");
            bail!("core {i} ({}): {e}", slots[i].stream.describe());
        }
        // 2. serial phase: shared-level requests in (time, core, seq) order
        let t_serial = Instant::now();
        reqs.clear();
        for s in &mut slots {
            reqs.append(&mut s.local.log);
        }
        reqs.sort_unstable_by_key(|r| (r.time, r.core, r.seq));
        for r in &reqs {
            apply(&mut sh, &mut slots, r);
        }
        // synchronisation events in (time, core) order
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
        for c in &mut sh.ctrls {
            c.end_quantum(q_end, quantum);
        }
        quanta += 1;
        serial += t_serial.elapsed();
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
    let results: Vec<CoreResult> = slots
        .iter()
        .map(|s| CoreResult {
            stats: s.core.stats(),
            coherence: s.local.stats,
            finish_cycle: s.finish,
        })
        .collect();
    let mut llc = crate::memory::cache::CacheStats::default();
    for c in &sh.llc {
        llc.add(&c.stats);
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
        dram: sh.ctrls.iter().map(|c| c.dram.stats).collect(),
        dram_bandwidth_gbps: base.dram.bandwidth_gbps,
        protocol: sh.dir.stats,
        noc: sh.noc.stats.clone(),
        host: HostStats {
            threads: opts.host_threads,
            wall_seconds: wall,
            peak_rss_bytes: report::peak_rss_bytes(),
            serial_seconds: serial.as_secs_f64(),
            cpu_seconds: report::cpu_seconds() - cpu0,
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
