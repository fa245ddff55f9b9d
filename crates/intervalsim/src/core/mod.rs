//! Core timing models: [`interval::IntervalCore`] (fast) and [`rob::RobCore`] (detailed
//! reference), behind the [`Core`] enum.
//!
//! A core owns its private memory levels, branch unit and an instruction buffer refilled from an
//! [`InstrStream`] in batches. [`Core::step`] advances it until an instruction limit, a cycle
//! limit or the end of the stream, so a multi-core scheduler can step cores by quanta of
//! simulated time; the shared levels ([`Uncore`]) are passed in on each step, not owned.

pub mod interval;
pub mod rob;

use crate::bpred::BranchUnit;
use crate::config::{Config, CoreModel};
use crate::frontend::{Instr, InstrStream, Kind, TraceError};
use crate::memory::{PrivateCaches, Uncore};
use crate::stats::{CoreStats, CpiStack};

/// Instructions fetched from the stream per refill (256 records = 24 KiB, so the batch a
/// source writes is still in the host's L1 cache when the core reads it).
pub const BATCH: usize = 256;

/// Why [`Core::step`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The instruction budget of this step was used up.
    Instructions,
    /// The core's clock reached the cycle limit.
    Cycles,
    /// The stream has no more instructions (for a live source: none available now; the
    /// core keeps its state and can be stepped again when more arrive).
    EndOfStream,
}

/// Batch buffer between a stream and a core.
///
/// An empty `fill` is not latched: a live source (an emulator feeding instructions as it runs)
/// may have nothing now and more later, so the buffer asks again on the next call.
#[derive(Clone, Debug)]
pub struct InstrBuffer {
    buf: Vec<Instr>,
    pos: usize,
    len: usize,
}

impl Default for InstrBuffer {
    fn default() -> Self {
        InstrBuffer {
            buf: vec![Instr::default(); BATCH],
            pos: 0,
            len: 0,
        }
    }
}

impl InstrBuffer {
    /// The next instruction, refilling from `stream` when empty; `None` at end of stream.
    #[inline]
    pub fn next<S: InstrStream + ?Sized>(
        &mut self,
        stream: &mut S,
    ) -> Result<Option<&Instr>, TraceError> {
        if self.pos == self.len {
            self.len = stream.fill(&mut self.buf)?;
            self.pos = 0;
            if self.len == 0 {
                return Ok(None);
            }
        }
        let i = &self.buf[self.pos];
        self.pos += 1;
        Ok(Some(i))
    }

    /// Look at the next instruction without consuming it.
    #[inline]
    pub fn peek<S: InstrStream + ?Sized>(
        &mut self,
        stream: &mut S,
    ) -> Result<Option<&Instr>, TraceError> {
        if self.pos == self.len {
            self.len = stream.fill(&mut self.buf)?;
            self.pos = 0;
            if self.len == 0 {
                return Ok(None);
            }
        }
        Ok(Some(&self.buf[self.pos]))
    }
}

/// A borrowed slice of records as a stream.
struct SliceStream<'a>(&'a [Instr]);

impl InstrStream for SliceStream<'_> {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
    fn describe(&self) -> String {
        "records".into()
    }
}

/// Execution latency of a non-memory instruction class.
#[derive(Clone, Copy, Debug)]
pub struct Latencies {
    table: [u32; 10],
}

impl Latencies {
    /// From the core configuration.
    pub fn new(c: &Config) -> Latencies {
        let k = &c.core;
        let mut table = [k.int_latency; 10];
        table[Kind::Mul as usize] = k.mul_latency;
        table[Kind::Div as usize] = k.div_latency;
        table[Kind::Fp as usize] = k.fp_latency;
        Latencies { table }
    }
    /// Latency of `kind`.
    #[inline]
    pub fn of(&self, kind: Kind) -> u32 {
        self.table[kind as usize]
    }
}

/// Perform every memory access of `ins` at cycle `now` (stores included: write-allocate, but
/// nobody waits for them). For an instruction that reads memory, returns when its result is
/// ready (the slowest read, plus the operation's own latency for arithmetic with a memory
/// operand), the level that served that read and its translation cycles; `None` otherwise.
// Always inlined: both core models call it once per instruction, and the data side's access
// path inlined into it would otherwise tip it over the inlining threshold.
#[inline(always)]
pub(crate) fn access_memory<U: Uncore>(
    mem: &mut crate::memory::PrivateCaches,
    u: &mut U,
    lat: &Latencies,
    ins: &Instr,
    now: u64,
) -> Option<(u64, crate::memory::Level, u64)> {
    let mut ready = now;
    let mut level = crate::memory::Level::L1;
    let mut tlb = 0u32;
    let mut any_load = false;
    for m in ins.mem_ops() {
        let s = mem.data(u, ins.pc, m.addr, m.write, now);
        if !m.write {
            any_load = true;
            if s.ready > ready {
                ready = s.ready;
                level = s.level;
                tlb = s.tlb_cycles;
            }
        }
    }
    if !any_load {
        return None;
    }
    if !matches!(
        ins.kind,
        Kind::Load | Kind::Store | Kind::Other | Kind::Branch
    ) {
        ready += lat.of(ins.kind) as u64;
    }
    Some((ready, level, tlb as u64))
}

/// A core's statistics: its own counters (`instructions`, `cycles`, `loads`, `stores`, the CPI
/// stack) with the counters of the parts both models share (private levels, branch unit).
#[inline]
fn core_stats(
    instructions: u64,
    cycles: u64,
    loads: u64,
    stores: u64,
    cpi: CpiStack,
    mem: &PrivateCaches,
    bpred: &BranchUnit,
) -> CoreStats {
    CoreStats {
        instructions,
        cycles,
        loads,
        stores,
        branch: bpred.stats,
        cpi,
        l1i: mem.l1i.stats,
        l1d: mem.l1d.stats,
        l2: mem.l2.stats,
        tlb: mem.tlbs.stats,
    }
}

/// Clear the counters of the parts both models share (end of warm-up).
#[inline]
fn reset_shared_stats(mem: &mut PrivateCaches, bpred: &mut BranchUnit) {
    mem.reset_stats();
    bpred.stats = Default::default();
}

/// One simulated core of either model.
#[allow(clippy::large_enum_variant)]
pub enum Core {
    /// Interval model: boxed, as it is built on the heap (see [`interval::IntervalCore::new`]).
    Interval(Box<interval::IntervalCore>),
    /// Detailed out-of-order model.
    Rob(rob::RobCore),
}

impl Core {
    /// Build core number `id` with the model the configuration selects.
    pub fn new(id: u32, c: &Config) -> Core {
        match c.core.model {
            CoreModel::Interval => Core::Interval(interval::IntervalCore::new(id, c)),
            CoreModel::Rob => Core::Rob(rob::RobCore::new(id, c)),
        }
    }

    /// Simulate at most `max_instrs` more instructions, stopping early when the core's clock
    /// reaches `until_cycle` or the stream ends.
    pub fn step<S: InstrStream + ?Sized, U: Uncore>(
        &mut self,
        stream: &mut S,
        uncore: &mut U,
        max_instrs: u64,
        until_cycle: u64,
    ) -> Result<Stop, TraceError> {
        match self {
            Core::Interval(c) => c.step(stream, uncore, max_instrs, until_cycle),
            Core::Rob(c) => c.step(stream, uncore, max_instrs, until_cycle),
        }
    }

    /// Simulate `records`, in program order, after any instructions still buffered from an
    /// earlier [`Core::step`], with no cycle limit. The interval model reads them in place; the
    /// detailed model goes through its stream buffer.
    pub fn step_records<U: Uncore>(&mut self, records: &[Instr], uncore: &mut U) {
        match self {
            Core::Interval(c) => c.step_records(records, uncore),
            Core::Rob(c) => {
                let mut stream = SliceStream(records);
                // A slice stream never fails.
                let _ = c.step(&mut stream, uncore, u64::MAX, u64::MAX);
            }
        }
    }

    /// The core's current cycle.
    pub fn cycle(&self) -> u64 {
        match self {
            Core::Interval(c) => c.cycle(),
            Core::Rob(c) => c.cycle(),
        }
    }

    /// Statistics since construction or the last reset.
    pub fn stats(&self) -> CoreStats {
        match self {
            Core::Interval(c) => c.stats(),
            Core::Rob(c) => c.stats(),
        }
    }

    /// Start counting afresh (end of warm-up); microarchitectural state is kept.
    pub fn reset_stats(&mut self) {
        match self {
            Core::Interval(c) => c.reset_stats(),
            Core::Rob(c) => c.reset_stats(),
        }
    }

    /// Model name.
    pub fn model_name(&self) -> &'static str {
        match self {
            Core::Interval(_) => "interval",
            Core::Rob(_) => "rob",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::synthetic::Workload;
    use crate::frontend::{VecStream, collect};
    use crate::memory::SharedLlc;
    use std::collections::VecDeque;

    /// A live source: instructions arrive in bursts, with nothing available in between.
    struct Live(VecDeque<Instr>);

    impl InstrStream for Live {
        fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
            let n = buf.len().min(self.0.len());
            for slot in &mut buf[..n] {
                *slot = self.0.pop_front().expect("counted");
            }
            Ok(n)
        }
        fn describe(&self) -> String {
            "live".into()
        }
    }

    #[test]
    fn a_starved_live_stream_can_be_resumed() {
        let v = collect(&mut Workload::Mixed { footprint: 1 << 20 }.stream(2), 6000).unwrap();
        for model in ["interval", "rob"] {
            let c = Config::build("gainestown", None, &[format!("core.model={model}")]).unwrap();
            let mut core = Core::new(0, &c);
            let mut u = SharedLlc::new(&c);
            let mut live = Live(v[..2500].iter().copied().collect());
            assert_eq!(
                core.step(&mut live, &mut u, u64::MAX, u64::MAX).unwrap(),
                Stop::EndOfStream
            );
            live.0.extend(v[2500..].iter().copied());
            assert_eq!(
                core.step(&mut live, &mut u, u64::MAX, u64::MAX).unwrap(),
                Stop::EndOfStream
            );
            assert_eq!(core.stats().instructions, 6000, "{model}");
            // the same instructions in one go give the same timing
            let mut whole = Core::new(0, &c);
            let mut u2 = SharedLlc::new(&c);
            whole
                .step(&mut VecStream::new(v.clone()), &mut u2, u64::MAX, u64::MAX)
                .unwrap();
            let (a, b) = (core.stats(), whole.stats());
            let diff = (a.cycles as f64 - b.cycles as f64).abs() / b.cycles as f64;
            assert!(diff < 0.01, "{model}: {} vs {}", a.cycles, b.cycles);
        }
    }

    #[test]
    fn records_stepped_in_place_time_like_a_stream() {
        let v = collect(&mut Workload::Mixed { footprint: 1 << 20 }.stream(5), 9000).unwrap();
        for model in ["interval", "rob"] {
            let c = Config::build("gainestown", None, &[format!("core.model={model}")]).unwrap();
            let mut a = Core::new(0, &c);
            let mut ua = SharedLlc::new(&c);
            // instructions left in the stream buffer by a partial step go first
            let mut s = VecStream::new(v[..150].to_vec());
            a.step(&mut s, &mut ua, 100, u64::MAX).unwrap();
            a.step_records(&v[150..300], &mut ua);
            assert_eq!(a.stats().instructions, 300, "{model}");
            for chunk in v[300..].chunks(1000) {
                a.step_records(chunk, &mut ua);
            }
            let mut b = Core::new(0, &c);
            let mut ub = SharedLlc::new(&c);
            b.step(&mut VecStream::new(v.clone()), &mut ub, u64::MAX, u64::MAX)
                .unwrap();
            assert_eq!(a.stats().instructions, 9000, "{model}");
            let (sa, sb) = (a.stats(), b.stats());
            let diff = (sa.cycles as f64 - sb.cycles as f64).abs() / sb.cycles as f64;
            assert!(diff < 0.01, "{model}: {} vs {}", sa.cycles, sb.cycles);
            if model == "interval" {
                assert_eq!(sa, sb);
            }
        }
    }

    #[test]
    fn cycle_limits_stop_a_core_for_quantum_stepping() {
        for model in ["interval", "rob"] {
            let c = Config::build("gainestown", None, &[format!("core.model={model}")]).unwrap();
            let mut core = Core::new(0, &c);
            let mut u = SharedLlc::new(&c);
            let mut s = Workload::Mixed { footprint: 1 << 20 }.stream(3);
            let mut quantum_end = 0;
            for _ in 0..20 {
                quantum_end += 266; // 100 ns at 2.66 GHz
                let stop = core.step(&mut s, &mut u, u64::MAX, quantum_end).unwrap();
                assert_eq!(stop, Stop::Cycles);
                assert!(
                    core.cycle() >= quantum_end && core.cycle() < quantum_end + 400,
                    "{model}"
                );
            }
        }
    }
}
