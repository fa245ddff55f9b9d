//! One guest thread as the plugin sees it (a vCPU in QEMU's user mode), and the state all
//! threads share: the simulation back end, the phase of the run (fast-forward, region of
//! interest, instruction limit), the futex bookkeeping and the trace writers.
//!
//! Two back ends. The **multi-core engine** (default): every thread only produces records —
//! its instructions plus synchronisation records (thread creation and exit, futex waits that
//! sleep, wakes that wake a sleeper, see [`crate::futex`]) — into its core's queue, and
//! intervalsim's multi-core engine simulates them on its own thread ([`crate::engine`]); the
//! trace files get exactly the same streams. The **inline** path (`cores=1`): each thread owns
//! an intervalsim core stepped on the guest thread itself, with a clock offset for the time it
//! spent blocked; the shared LLC/DRAM sit behind a mutex taken only on L2 misses, and threads
//! meet at a lax barrier ([`crate::sync`]). Inline is the fastest for single-threaded programs;
//! with several threads its timing depends on host scheduling.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use intervalsim::config::{Config, CoreModel};
use intervalsim::core::Core;
use intervalsim::frontend::qemu::{BarrierStats, Report, ThreadCounts, ThreadReport};
use intervalsim::frontend::{Instr, Kind, SyncOp};
use intervalsim::memory::cache::CacheStats;
use intervalsim::memory::{Level, Request, SharedLlc, Uncore, UncoreStats};
use intervalsim::multicore::report::MultiStats;
use intervalsim::stats::{Component, RunStats};

use crate::decode::{Marker, TbInfo};
use crate::engine::{Engine, Sink};
use crate::futex::{Effect, Futexes, read_guest_u32};
use crate::options::{Mode, Options};
use crate::sync::Barrier;
use crate::thread::{Consumer, Thread};
use crate::tracefile::{TraceSet, TraceSink};

/// Records handed to the core at once while several threads run (finer barrier steps).
const MULTI_THREAD_BATCH: usize = 128;
/// Instructions a thread executes before it publishes its count to the global total.
const PUBLISH_EVERY: u64 = 4096;

/// x86-64 system call numbers.
const SYS_CLONE: i64 = 56;
const SYS_CLONE3: i64 = 435;
const SYS_FUTEX: i64 = 202;
const SYS_EXIT: i64 = 60;
const SYS_SET_TID_ADDRESS: i64 = 218;
/// clone flag: clear the child's tid word and wake it when the child exits.
pub const CLONE_CHILD_CLEARTID: u64 = 0x0020_0000;

/// Cores of the machine a live run simulates when neither `cores=` nor the configuration asks
/// for more.
pub const DEFAULT_CORES: u32 = 8;

/// The synchronisation event of a futex call (`op` is the futex operation argument).
pub fn futex_event(op: u64) -> Option<SyncOp> {
    match op & 0x7f {
        // WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2
        0 | 6 | 9 | 11 | 13 => Some(SyncOp::Wait),
        // WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP, UNLOCK_PI, WAKE_BITSET, CMP_REQUEUE_PI
        1 | 3 | 4 | 5 | 7 | 10 | 12 => Some(SyncOp::Wake),
        _ => None,
    }
}

/// A synchronisation record for traces.
fn sync_record(pc: u64, op: SyncOp, object: u64) -> Instr {
    Instr {
        pc,
        kind: Kind::Sync,
        sync: op,
        target: object,
        ..Instr::default()
    }
}

/// State shared by all threads.
pub struct Shared {
    opts: Options,
    config: Config,
    llc: Mutex<SharedLlc>,
    /// The lax barrier (simulation mode).
    pub barrier: Barrier,
    /// Region of interest open (always true without `roi=on`).
    roi_open: AtomicBool,
    /// Simulation over (`max-instr` reached).
    stopped: AtomicBool,
    /// Instructions executed by all threads, published in steps of [`PUBLISH_EVERY`].
    executed: AtomicU64,
    /// Instructions simulated by all threads, published likewise.
    simulated: AtomicU64,
    /// Clock of the last thread that called clone: the start time of the thread it creates.
    clone_time: AtomicU64,
    /// Threads created so far; traces carry sync events once there is more than one.
    threads_seen: AtomicU64,
    traces: Option<TraceSet>,
    /// The multi-core engine (simulation with more than one core).
    pub engine: Option<Engine>,
    /// Threads write the engine's synchronisation records (engine or trace mode).
    engine_records: bool,
    /// Guest threads that get a core (thread *k* runs on core *k*).
    machine_cores: u32,
    /// futex sleepers per address.
    futexes: Futexes,
}

impl Shared {
    /// Shared state for `opts`; errors explain a bad configuration file.
    pub fn new(opts: &Options) -> Result<Shared, String> {
        let text = match &opts.config {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("config {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let name = opts
            .config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let build = |over: &[String]| {
            Config::build(
                "gainestown",
                text.as_deref().map(|t| (name.as_str(), t)),
                over,
            )
            .map_err(|e| e.to_string())
        };
        let mut config = build(&[])?;
        let cores = opts
            .cores
            .unwrap_or_else(|| config.system.cores.max(DEFAULT_CORES));
        let use_engine = opts.mode == Mode::Sim && cores > 1;
        if use_engine {
            // The machine `intervalsim run -c <config> --cores N` replays on.
            let mut over = vec![format!("system.cores={cores}")];
            if let Some(q) = opts.quantum_ns {
                over.push(format!("system.quantum_ns={q}"));
            }
            config = build(&over)?;
        }
        if opts.mode == Mode::Sim && config.core.model != CoreModel::Interval {
            return Err(format!(
                "core model {:?}: execution-driven runs use the interval model (the detailed \
                 rob model needs instructions ahead of the one it retires); record a trace \
                 with `intervalsim record` and replay it with --core rob instead",
                config.core.model
            ));
        }
        let cycles_per_ns = config.core.frequency_ghz;
        let quantum_ns = opts
            .quantum_ns
            .map_or(config.system.quantum_ns, |q| q as f64);
        let quantum = (quantum_ns * cycles_per_ns).round().max(1.0) as u64;
        let traces = TraceSet::new(opts)?;
        let engine = if use_engine {
            Some(Engine::start(config.clone())?)
        } else {
            None
        };
        Ok(Shared {
            engine_records: use_engine || opts.mode == Mode::Trace,
            machine_cores: if use_engine { cores } else { u32::MAX },
            engine,
            futexes: Futexes::default(),
            opts: opts.clone(),
            llc: Mutex::new(SharedLlc::new(&config)),
            config,
            barrier: Barrier::new(crate::MAX_THREADS, quantum),
            roi_open: AtomicBool::new(!opts.roi),
            stopped: AtomicBool::new(false),
            executed: AtomicU64::new(0),
            simulated: AtomicU64::new(0),
            clone_time: AtomicU64::new(0),
            threads_seen: AtomicU64::new(0),
            traces,
        })
    }

    /// Report fields that are not per thread.
    pub fn summary(&self) -> Report {
        let c = self.barrier.counters();
        Report {
            truncated: self.stopped.load(Ordering::Relaxed),
            barrier: BarrierStats {
                quantum_ns: self
                    .opts
                    .quantum_ns
                    .unwrap_or(self.config.system.quantum_ns.round() as u64),
                crossings: c.crossings,
                waits: c.waits,
                timeouts: c.timeouts,
            },
            ..Report::default()
        }
    }

    /// Finish the trace files.
    pub fn close(&self) -> Result<(), String> {
        match &self.traces {
            Some(t) => t.close(),
            None => Ok(()),
        }
    }

    #[inline]
    fn active(&self) -> bool {
        self.roi_open.load(Ordering::Relaxed) && !self.stopped.load(Ordering::Relaxed)
    }
}

/// The timing side of one thread.
struct Sim {
    core: Core,
    uncore: ThreadUncore,
    /// Cycles this thread spent blocked, plus its start time: global time = core cycle + offset.
    offset: u64,
    sync_cycles: u64,
    start_cycle: u64,
    next_boundary: u64,
    wall: f64,
}

/// The uncore as one thread sees it: the shared LLC/DRAM, requests moved to global time, and
/// this thread's share of the LLC and DRAM counters.
struct ThreadUncore {
    llc: &'static Mutex<SharedLlc>,
    offset: u64,
    stats: UncoreStats,
}

impl ThreadUncore {
    fn account(&mut self, before: UncoreStats, after: UncoreStats) {
        let d = |a: u64, b: u64| a.wrapping_sub(b);
        let l3 = &mut self.stats.l3;
        let (a, b) = (after.l3, before.l3);
        *l3 = CacheStats {
            reads: l3.reads + d(a.reads, b.reads),
            read_misses: l3.read_misses + d(a.read_misses, b.read_misses),
            writes: l3.writes + d(a.writes, b.writes),
            write_misses: l3.write_misses + d(a.write_misses, b.write_misses),
            writebacks: l3.writebacks + d(a.writebacks, b.writebacks),
            prefetches: l3.prefetches + d(a.prefetches, b.prefetches),
            useful_prefetches: l3.useful_prefetches + d(a.useful_prefetches, b.useful_prefetches),
            mshr_wait_cycles: l3.mshr_wait_cycles + d(a.mshr_wait_cycles, b.mshr_wait_cycles),
        };
        let dr = &mut self.stats.dram;
        dr.reads += d(after.dram.reads, before.dram.reads);
        dr.writes += d(after.dram.writes, before.dram.writes);
        dr.queue_cycles += d(after.dram.queue_cycles, before.dram.queue_cycles);
    }
}

impl Uncore for ThreadUncore {
    fn read(&mut self, core: u32, line: u64, now: u64, req: Request) -> (u64, Level) {
        let Ok(mut llc) = self.llc.lock() else {
            return (now, Level::L3);
        };
        let before = llc.stats();
        let (ready, level) = llc.read(core, line, now + self.offset, req);
        let after = llc.stats();
        drop(llc);
        self.account(before, after);
        (ready.saturating_sub(self.offset).max(now), level)
    }

    fn writeback(&mut self, core: u32, line: u64, now: u64) {
        let Ok(mut llc) = self.llc.lock() else {
            return;
        };
        let before = llc.stats();
        llc.writeback(core, line, now + self.offset);
        let after = llc.stats();
        drop(llc);
        self.account(before, after);
    }
}

/// Where one thread's records go.
struct Backend {
    shared: &'static Shared,
    slot: usize,
    sim: Option<Sim>,
    /// This thread's core queue (multi-core engine).
    live: Option<Sink>,
    trace: Option<TraceSink>,
    /// Synchronisation records written.
    sync_events: u64,
    simulated: u64,
    simulated_unpublished: u64,
    executed_unpublished: u64,
}

impl Consumer for Backend {
    #[inline]
    fn consume(&mut self, records: &[Instr]) {
        let n = records.len() as u64;
        self.executed_unpublished += n;
        let unsimulated = self.sim.is_none() && self.live.is_none() && self.trace.is_none();
        if unsimulated || !self.shared.active() || !self.fast_forward_done() {
            self.publish(false);
            return;
        }
        let mut records = records;
        let max = self.shared.opts.max_instr;
        if max > 0 {
            let done = self.shared.simulated.load(Ordering::Relaxed) + self.simulated_unpublished;
            let left = max.saturating_sub(done);
            if left < n {
                records = &records[..left as usize];
                self.shared.stopped.store(true, Ordering::Relaxed);
                self.shared.barrier.disable();
            }
        }
        if let Some(t) = &mut self.trace {
            t.push(records);
        }
        if let Some(l) = &mut self.live {
            l.push(records);
        }
        if let Some(sim) = &mut self.sim {
            let t0 = Instant::now();
            // The interval core reads the batch in place (no copy through a stream buffer).
            sim.core.step_records(records, &mut sim.uncore);
            sim.wall += t0.elapsed().as_secs_f64();
            let now = sim.core.cycle() + sim.offset;
            if now >= sim.next_boundary {
                self.shared.barrier.cross(self.slot, now, sim.next_boundary);
                sim.next_boundary = self.shared.barrier.next_boundary(now);
            }
        }
        self.simulated += records.len() as u64;
        self.simulated_unpublished += records.len() as u64;
        self.publish(false);
    }

    fn marker(&mut self, marker: Marker) {
        if self.shared.opts.roi {
            self.shared
                .roi_open
                .store(marker == Marker::RoiBegin, Ordering::Relaxed);
        }
    }
}

impl Backend {
    #[inline]
    fn fast_forward_done(&self) -> bool {
        let ff = self.shared.opts.fast_forward;
        ff == 0 || self.shared.executed.load(Ordering::Relaxed) + self.executed_unpublished > ff
    }

    #[inline]
    fn publish(&mut self, force: bool) {
        if force || self.executed_unpublished >= PUBLISH_EVERY {
            self.shared
                .executed
                .fetch_add(self.executed_unpublished, Ordering::Relaxed);
            self.executed_unpublished = 0;
        }
        if force || self.simulated_unpublished >= PUBLISH_EVERY {
            self.shared
                .simulated
                .fetch_add(self.simulated_unpublished, Ordering::Relaxed);
            self.simulated_unpublished = 0;
        }
    }

    fn now(&self) -> u64 {
        self.sim.as_ref().map_or(0, |s| s.core.cycle() + s.offset)
    }

    /// Whether this thread's records are being written now (simulated region, after the
    /// fast-forward, before the limit).
    fn recording(&self) -> bool {
        self.shared.active() && self.fast_forward_done()
    }

    /// Write a synchronisation record to the engine's queue and the trace.
    fn sync(&mut self, rec: Instr) {
        if self.live.is_none() && self.trace.is_none() {
            return;
        }
        if let Some(t) = &mut self.trace {
            t.push(&[rec]);
        }
        if let Some(l) = &mut self.live {
            l.push(&[rec]);
        }
        self.sync_events += 1;
    }
}

/// One guest thread.
pub struct Vcpu {
    number: u32,
    tid: i64,
    /// Guest address the kernel clears and wakes when this thread exits (`CLONE_CHILD_CLEARTID`,
    /// `set_tid_address`).
    clear_tid: u64,
    /// Its exit record is written.
    exited: bool,
    /// The record builder.
    pub thread: Thread,
    backend: Backend,
}

impl Vcpu {
    /// Guest thread `number` running on vCPU `index`, with its clear-tid address.
    pub fn new(
        number: u32,
        index: u32,
        opts: &Options,
        shared: &'static Shared,
        clear_tid: u64,
    ) -> Vcpu {
        let slot = index as usize;
        let start = shared.clone_time.load(Ordering::Acquire);
        let inline = opts.mode == Mode::Sim && shared.engine.is_none();
        let sim = inline.then(|| {
            shared.barrier.join(slot, start);
            Sim {
                core: Core::new(number, &shared.config),
                uncore: ThreadUncore {
                    llc: &shared.llc,
                    offset: start,
                    stats: UncoreStats::default(),
                },
                offset: start,
                sync_cycles: 0,
                start_cycle: start,
                next_boundary: shared.barrier.next_boundary(start),
                wall: 0.0,
            }
        });
        shared.threads_seen.fetch_add(1, Ordering::Relaxed);
        let has_core = number < shared.machine_cores;
        let mut trace = has_core
            .then(|| shared.traces.as_ref().map(|t| t.sink(number)))
            .flatten();
        if number > 0
            && let Some(t) = &mut trace
        {
            let start = if shared.engine_records {
                // The record the engine's stream of this core begins with.
                intervalsim::frontend::threads::start_record(number)
            } else {
                sync_record(0, SyncOp::ThreadStart, u64::from(number))
            };
            t.push(&[start]);
        }
        let live = match &shared.engine {
            Some(e) if has_core => Some(Sink::new(e.hub, number as usize)),
            Some(_) => {
                eprintln!(
                    "intervalsim-qemu: thread {number} has no core on the {}-core machine; it \
                     runs unsimulated (use cores=N for more)",
                    shared.machine_cores
                );
                None
            }
            None => None,
        };
        Vcpu {
            number,
            tid: 0,
            clear_tid,
            exited: false,
            thread: Thread::new(),
            backend: Backend {
                shared,
                slot,
                sim,
                live,
                trace,
                sync_events: 0,
                simulated: 0,
                simulated_unpublished: 0,
                executed_unpublished: 0,
            },
        }
    }

    /// A block is about to run on this thread.
    #[inline]
    pub fn block(&mut self, tb: &'static TbInfo) {
        if self.tid == 0 {
            self.tid = i64::from(unsafe { libc::gettid() });
        }
        let shared = self.backend.shared;
        if shared.stopped.load(Ordering::Relaxed) {
            // Simulation over: only count.
            self.thread.flush(Some(tb.pc), &mut self.backend);
            self.thread.discard_memory();
            self.thread.count_block(tb);
            return;
        }
        let batch = if self.backend.sim.is_some() && shared.barrier_busy(self.backend.slot) {
            // Inline path with other threads running: look at the barrier more often.
            MULTI_THREAD_BATCH
        } else {
            crate::thread::RECORD_BATCH
        };
        self.thread.set_batch(batch);
        self.thread.start_block(tb, &mut self.backend);
    }

    /// Guest thread `number`, which this thread is creating in a `clone`, is born now.
    pub fn created(&mut self, number: u32) {
        if self.backend.shared.engine_records && number < self.backend.shared.machine_cores {
            self.backend
                .sync(sync_record(0, SyncOp::ThreadStart, u64::from(number)));
            self.flush_live();
        }
    }

    /// The clear-tid address this thread's `clone` call `args` gives the child it creates.
    pub fn child_clear_tid(num: i64, args: &[u64; 6]) -> u64 {
        match num {
            SYS_CLONE if args[0] & CLONE_CHILD_CLEARTID != 0 => args[3],
            // struct clone_args { flags, pidfd, child_tid, ... } (u64 fields)
            SYS_CLONE3 => match crate::futex::read_guest_u64(args[0]) {
                Some(flags) if flags & CLONE_CHILD_CLEARTID != 0 => {
                    crate::futex::read_guest_u64(args[0] + 16).unwrap_or(0)
                }
                _ => 0,
            },
            _ => 0,
        }
    }

    fn flush_live(&mut self) {
        if let Some(l) = &mut self.backend.live {
            l.flush();
        }
    }

    /// The thread enters system call `num` with arguments `args`.
    pub fn syscall_enter(&mut self, num: i64, args: &[u64; 6]) {
        if self.tid == 0 {
            self.tid = i64::from(unsafe { libc::gettid() });
        }
        self.thread.flush(None, &mut self.backend);
        if self.backend.shared.engine_records {
            self.sync_syscall(num, args);
            return;
        }
        let (a1, a2) = (args[0], args[1]);
        let now = self.backend.now();
        if num == SYS_CLONE || num == SYS_CLONE3 {
            self.backend.shared.clone_time.store(now, Ordering::Release);
        }
        // Traces of multi-threaded programs carry futex waits and wakes as sync events (the
        // live cores account blocking through the barrier instead).
        if num == SYS_FUTEX
            && self.backend.shared.active()
            && self.backend.shared.threads_seen.load(Ordering::Relaxed) > 1
            && let (Some(t), Some(op)) = (&mut self.backend.trace, futex_event(a2))
        {
            t.push(&[sync_record(self.thread.next_pc(), op, a1)]);
        }
        if self.backend.sim.is_some() {
            self.backend.shared.barrier.block(self.backend.slot, now);
        }
    }

    /// The synchronisation records of system call `num` (engine or trace mode); everything
    /// queued goes to the engine before the thread may block in the host.
    fn sync_syscall(&mut self, num: i64, args: &[u64; 6]) {
        let shared = self.backend.shared;
        match num {
            SYS_FUTEX => {
                let recording = self.backend.recording();
                match shared.futexes.call(*args, recording, read_guest_u32) {
                    Effect::Wait(addr) => {
                        self.backend
                            .sync(sync_record(self.thread.next_pc(), SyncOp::Wait, addr));
                    }
                    Effect::Wake(origins) => {
                        for addr in origins {
                            self.backend.sync(sync_record(
                                self.thread.next_pc(),
                                SyncOp::Wake,
                                addr,
                            ));
                        }
                    }
                    Effect::None => {}
                }
            }
            SYS_SET_TID_ADDRESS => self.clear_tid = args[0],
            SYS_EXIT => self.exit_records(),
            _ => {}
        }
        self.flush_live();
    }

    /// The thread exits: the kernel wakes its joiners (clear-tid), then it ends.
    fn exit_records(&mut self) {
        if self.exited {
            return;
        }
        self.exited = true;
        let shared = self.backend.shared;
        if self.clear_tid != 0 {
            let recording = self.backend.recording();
            for addr in shared.futexes.exit(self.clear_tid, recording) {
                self.backend
                    .sync(sync_record(self.thread.next_pc(), SyncOp::Wake, addr));
            }
        }
        if shared.threads_seen.load(Ordering::Relaxed) > 1 {
            self.backend.sync(sync_record(
                self.thread.next_pc(),
                SyncOp::ThreadExit,
                u64::from(self.number),
            ));
        }
    }

    /// The thread returns from system call `_num`: it catches up with the others.
    pub fn syscall_exit(&mut self, _num: i64) {
        let shared = self.backend.shared;
        let slot = self.backend.slot;
        if let Some(sim) = &mut self.backend.sim {
            let now = sim.core.cycle() + sim.offset;
            let resumed = shared.barrier.unblock(slot, now);
            // Outside the simulated region clocks stand still; no sync is charged.
            if resumed > now && shared.active() {
                sim.sync_cycles += resumed - now;
                sim.offset += resumed - now;
                sim.uncore.offset = sim.offset;
            }
            sim.next_boundary = shared.barrier.next_boundary(sim.core.cycle() + sim.offset);
        }
    }

    /// The thread ends (exit or program exit): complete its records and report, with the
    /// number of its instructions that were executed but not simulated.
    pub fn finish(mut self) -> (ThreadReport, u64) {
        self.thread.flush(None, &mut self.backend);
        self.backend.publish(true);
        let shared = self.backend.shared;
        let end = self.backend.now();
        if shared.engine_records {
            self.exit_records();
            if let Some(l) = self.backend.live.take() {
                l.close();
            }
        }
        if let Some(mut t) = self.backend.trace.take() {
            if !shared.engine_records && shared.threads_seen.load(Ordering::Relaxed) > 1 {
                t.push(&[sync_record(
                    self.thread.next_pc(),
                    SyncOp::ThreadExit,
                    u64::from(self.number),
                )]);
            }
            t.finish();
        }
        let c = self.thread.counts;
        let counts = ThreadCounts {
            instructions: c.instructions,
            blocks: c.blocks,
            memory_accesses: c.memory_accesses,
            memory_accesses_dropped: c.memory_accesses_dropped,
            syscalls: c.syscalls,
            futex_calls: c.futex_calls,
            sync_events: self.backend.sync_events,
        };
        let mut report = ThreadReport {
            thread: self.number,
            tid: self.tid,
            counts,
            end_cycle: end,
            ..ThreadReport::default()
        };
        if let Some(sim) = self.backend.sim.take() {
            shared.barrier.leave(self.backend.slot, end);
            report.start_cycle = sim.start_cycle;
            report.sync_cycles = sim.sync_cycles;
            let stats = sim.core.stats();
            report.end_cycle = sim.start_cycle + stats.cycles + sim.sync_cycles;
            report.stats = Some(RunStats {
                label: format!("thread {} (tid {})", self.number, self.tid),
                config: shared.config.name.clone(),
                model: sim.core.model_name().to_string(),
                frequency_ghz: shared.config.core.frequency_ghz,
                core: stats,
                uncore: sim.uncore.stats,
                wall_seconds: sim.wall,
            });
        }
        let skipped = if shared.opts.mode == Mode::Count {
            0
        } else {
            c.instructions.saturating_sub(self.backend.simulated)
        };
        (report, skipped)
    }
}

impl Shared {
    /// Put the multi-core engine's results into the per-thread reports (thread *k* ran on
    /// core *k*): its core statistics and CPI stack (which already hold its `sync` time), and
    /// when it started and finished.
    pub fn attach(&self, threads: &mut [ThreadReport], m: &MultiStats) {
        for t in threads {
            let Some(c) = m.cores.get(t.thread as usize) else {
                continue;
            };
            let width = u64::from(c.stats.cpi.width.max(1));
            t.sync_cycles = c.stats.cpi.slots[Component::Sync as usize] / width;
            // The core's cycle count runs from its start to its finish.
            t.start_cycle = c.finish_cycle.saturating_sub(c.stats.cycles);
            t.end_cycle = t.start_cycle + c.stats.cycles;
            t.stats = Some(RunStats {
                label: format!("core {} = thread {} (tid {})", t.thread, t.thread, t.tid),
                config: self.config.name.clone(),
                model: "interval".into(),
                frequency_ghz: self.config.core.frequency_ghz,
                core: c.stats.clone(),
                uncore: UncoreStats::default(),
                wall_seconds: m.host.wall_seconds,
            });
        }
    }

    /// Whether another thread takes part in the barrier besides `slot`.
    #[inline]
    fn barrier_busy(&self, slot: usize) -> bool {
        self.barrier.others_running(slot)
    }
}
