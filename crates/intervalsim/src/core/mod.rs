//! Core timing models: [`interval::IntervalCore`] (fast) and [`rob::RobCore`] (detailed
//! reference), behind the [`Core`] enum.
//!
//! A core owns its private memory levels, branch unit and an instruction buffer refilled from an
//! [`InstrStream`] in batches. [`Core::step`] advances it until an instruction limit, a cycle
//! limit or the end of the stream, so a multi-core scheduler can step cores by quanta of
//! simulated time; the shared levels ([`Uncore`]) are passed in on each step, not owned.

pub mod interval;
pub mod rob;

use crate::config::{Config, CoreModel};
use crate::frontend::{Instr, InstrStream, Kind, TraceError};
use crate::memory::Uncore;
use crate::stats::CoreStats;

/// Instructions fetched from the stream per refill.
pub const BATCH: usize = 4096;

/// Why [`Core::step`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The instruction budget of this step was used up.
    Instructions,
    /// The core's clock reached the cycle limit.
    Cycles,
    /// The stream has no more instructions.
    EndOfStream,
}

/// Batch buffer between a stream and a core.
#[derive(Clone, Debug)]
pub struct InstrBuffer {
    buf: Vec<Instr>,
    pos: usize,
    len: usize,
    ended: bool,
}

impl Default for InstrBuffer {
    fn default() -> Self {
        InstrBuffer {
            buf: vec![Instr::default(); BATCH],
            pos: 0,
            len: 0,
            ended: false,
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
            if self.ended {
                return Ok(None);
            }
            self.len = stream.fill(&mut self.buf)?;
            self.pos = 0;
            if self.len == 0 {
                self.ended = true;
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
            if self.ended {
                return Ok(None);
            }
            self.len = stream.fill(&mut self.buf)?;
            self.pos = 0;
            if self.len == 0 {
                self.ended = true;
                return Ok(None);
            }
        }
        Ok(Some(&self.buf[self.pos]))
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

/// One simulated core of either model.
#[allow(clippy::large_enum_variant)]
pub enum Core {
    /// Interval model.
    Interval(interval::IntervalCore),
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
