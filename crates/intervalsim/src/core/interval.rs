//! The interval core model, in its instruction-window formulation.
//!
//! Each instruction gets four timestamps in program order, computed in O(1):
//!
//! * **dispatch** `d_i`: the front end delivers `D` instructions per cycle; an I-cache or ITLB
//!   miss delays it by the miss latency beyond an L1 hit, a mispredicted branch restarts it
//!   `penalty` cycles after the branch resolves, a BTB miss costs a short bubble, and a full
//!   window (ROB) holds it until instruction `i - W` has retired: `d_i >= r_{i-W}` (likewise
//!   a full load or store queue for loads and stores);
//!   Each functional-unit class (ALU, multiply/divide, FP, load, store) dispatches at most as
//!   many instructions per cycle as it has units.
//! * **issue** `s_i = max(d_i, ready(sources))` — dependence-limited dispatch inside the window;
//! * **completion** `c_i = s_i + latency_i`, where a load's latency comes from the memory
//!   hierarchy at time `s_i` (so independent misses inside the window overlap — memory-level
//!   parallelism — while dependent ones serialise);
//! * **retirement** `r_i = max(c_i, r_{i-1})`, at most `D` per cycle.
//!
//! Between miss events the core therefore runs at `D` instructions per cycle; a miss event
//! costs exactly the interval-analysis penalty (a long-latency load blocks the ROB head for its
//! latency, overlapping misses within `W` instructions count once; a mispredicted branch costs
//! its resolution time plus the front-end refill). Cycles lost at retirement are charged to the
//! CPI stack: the part before the instruction could start goes to its start cause (front-end
//! event or dependences), the part while it executed to its execution cause (the memory level
//! that served a load, or dependences).

use super::{InstrBuffer, Latencies, Stop};
use crate::bpred::{BranchUnit, Outcome};
use crate::config::Config;
use crate::frontend::{BranchKind, Instr, InstrStream, Kind, TraceError};
use crate::memory::{PrivateCaches, Uncore};
use crate::stats::{Component, CoreStats, CpiStack};

/// Functional-unit class of an instruction that does not access memory, by [`Kind`]: ALU (0),
/// multiply/divide (1), floating point (2). Loads and stores use classes 3 and 4.
const FU_OF_KIND: [u8; 10] = [0, 1, 1, 2, 0, 0, 0, 0, 0, 0];

/// Bits of a record's memory mask: it reads memory (a load, 1 << false) or writes it (a
/// store, 1 << true).
const READS: u8 = 1;
const WRITES: u8 = 2;

/// Functional-unit class of an instruction that accesses memory, by memory mask: reads use
/// the load units (3) even when they also write, writes alone the store units (4).
const FU_OF_MEM: [u8; 4] = [0, 3, 4, 3];

/// Entries of the functional-unit array: the five classes, rounded up to a power of two.
const FU_SLOTS: usize = 8;

/// What the core needs to know of a [`Kind`] for every record, in one table entry so that a
/// single lookup serves the latency and unit class. (Whether a kind serialises, waiting for
/// all older instructions and holding younger ones back, [`Kind::Serial`] and [`Kind::Sync`],
/// is tested on the record: records without memory operands that do not serialise then take
/// a variant of the per-record code without the serialisation tests.)
#[derive(Clone, Copy, Debug)]
struct KindInfo {
    /// Execution latency.
    lat: u32,
    /// Functional-unit class when the instruction does not access memory.
    fu: u8,
}

/// Ring size of [`Waiting`]: above the largest issue queue the configuration accepts, and a
/// constant so that masked indices need no bounds checks.
const WAITING_RING: usize = 8192;

/// Issue times of the instructions waiting in the issue queue, ascending, in a ring: releases
/// pop the front; an insertion shifts the few later entries from the back (dependence chains
/// issue in order, so usually none).
struct Waiting {
    ring: Box<[u64; WAITING_RING]>,
    head: usize,
    len: usize,
}

impl Waiting {
    const MASK: usize = WAITING_RING - 1;

    fn new(capacity: usize) -> Waiting {
        assert!(
            capacity < WAITING_RING,
            "issue queue size validated by Config"
        );
        Waiting {
            ring: vec![0; WAITING_RING]
                .into_boxed_slice()
                .try_into()
                .expect("WAITING_RING entries"),
            head: 0,
            len: 0,
        }
    }

    /// Drop the entries below `t`.
    #[inline]
    fn release_before(&mut self, t: u64) {
        while self.len > 0 && self.ring[self.head] < t {
            self.head = (self.head + 1) & Self::MASK;
            self.len -= 1;
        }
    }

    /// Remove and return the earliest entry (the queue must not be empty).
    #[inline]
    fn pop_min(&mut self) -> u64 {
        let v = self.ring[self.head];
        self.head = (self.head + 1) & Self::MASK;
        self.len -= 1;
        v
    }

    /// Insert `x` in order (the ring must have room).
    #[inline]
    fn insert(&mut self, x: u64) {
        let mut k = self.len;
        while k > 0 {
            let prev = self.ring[(self.head + k - 1) & Self::MASK];
            if prev <= x {
                break;
            }
            self.ring[(self.head + k) & Self::MASK] = prev;
            k -= 1;
        }
        self.ring[(self.head + k) & Self::MASK] = x;
        self.len += 1;
    }
}

/// Dispatch bookkeeping of one functional-unit class (kept together: one index per record).
#[derive(Clone, Copy, Debug)]
struct FuClass {
    /// Cycle the class dispatches in next.
    cycle: u64,
    /// Instructions of the class already dispatched in `cycle`.
    used: u32,
    /// Units of the class (instructions per cycle).
    units: u32,
}

/// Interval-model core.
pub struct IntervalCore {
    width: u32,
    /// Latency, unit class and serialisation by [`Kind`].
    kinds: [KindInfo; 10],
    lat: Latencies,
    penalty: u64,
    btb_penalty: u64,
    l1i_lat: u64,
    /// Private caches and TLBs.
    pub mem: PrivateCaches,
    /// Branch predictor, BTB, RAS.
    pub bpred: BranchUnit,
    buf: InstrBuffer,
    fe_cycle: u64,
    fe_slots: u32,
    fe_cause: Component,
    fe_cause_cycle: u64,
    last_line: u64,
    /// When each register's value is ready. Inline rather than boxed: reached from `self`
    /// with no pointer to reload after each store.
    reg_ready: [u64; 256],
    rob: Vec<u64>,
    rob_pos: usize,
    lq: Vec<u64>,
    lq_pos: usize,
    sq: Vec<u64>,
    sq_pos: usize,
    /// Issue times of dispatched instructions still waiting in the issue queue, ascending
    /// (dependence chains issue in order, so an insertion is nearly always at the back).
    iq: Waiting,
    iq_size: usize,
    ret_cycle: u64,
    ret_slots: u32,
    max_complete: u64,
    /// Per functional-unit class: ALU, multiply/divide, FP, load, store; padded with
    /// unused entries to [`FU_SLOTS`] so that a masked index needs no bounds check.
    fu: [FuClass; FU_SLOTS],
    start_cycle: u64,
    instrs: u64,
    loads: u64,
    stores: u64,
    cpi: CpiStack,
}

impl IntervalCore {
    /// Core number `id` of configuration `c`.
    pub fn new(id: u32, c: &Config) -> IntervalCore {
        let lat = Latencies::new(c);
        let kinds = std::array::from_fn(|i| {
            let kind = Kind::from_u8(i as u8).expect("a Kind for every table entry");
            KindInfo {
                lat: lat.of(kind),
                fu: FU_OF_KIND[i],
            }
        });
        IntervalCore {
            width: c.core.dispatch_width,
            kinds,
            lat,
            penalty: c.bpred.mispredict_penalty as u64,
            btb_penalty: c.bpred.btb_miss_penalty as u64,
            l1i_lat: c.l1i.latency as u64,
            mem: PrivateCaches::new(id, c),
            bpred: BranchUnit::new(&c.bpred),
            buf: InstrBuffer::default(),
            fe_cycle: 0,
            fe_slots: 0,
            fe_cause: Component::Depend,
            fe_cause_cycle: u64::MAX,
            last_line: u64::MAX,
            reg_ready: [0; 256],
            rob: vec![0; c.core.rob_size as usize],
            rob_pos: 0,
            lq: vec![0; c.core.load_queue as usize],
            lq_pos: 0,
            sq: vec![0; c.core.store_queue as usize],
            sq_pos: 0,
            iq: Waiting::new(c.core.issue_queue as usize),
            iq_size: (c.core.issue_queue as usize).max(1),
            ret_cycle: 0,
            ret_slots: 0,
            max_complete: 0,
            fu: [
                c.core.alu_units,
                c.core.mul_units,
                c.core.fp_units,
                c.core.load_units,
                c.core.store_units,
                1,
                1,
                1,
            ]
            .map(|units| FuClass {
                cycle: 0,
                used: 0,
                units,
            }),
            start_cycle: 0,
            instrs: 0,
            loads: 0,
            stores: 0,
            cpi: CpiStack::new(c.core.dispatch_width),
        }
    }

    /// Current cycle (of the last retirement).
    pub fn cycle(&self) -> u64 {
        self.ret_cycle
    }

    /// See [`super::Core::step`].
    pub fn step<S: InstrStream + ?Sized, U: Uncore>(
        &mut self,
        stream: &mut S,
        u: &mut U,
        max_instrs: u64,
        until_cycle: u64,
    ) -> Result<Stop, TraceError> {
        let mut n = 0;
        while n < max_instrs {
            if self.ret_cycle >= until_cycle {
                return Ok(Stop::Cycles);
            }
            if self.buf.peek(stream)?.is_none() {
                return Ok(Stop::EndOfStream);
            }
            // Simulate straight out of the batch buffer, without copying each record: the
            // buffer is moved out while the core borrows itself mutably.
            let buf = std::mem::take(&mut self.buf.buf);
            let start = self.buf.pos;
            let end = self
                .buf
                .len
                .min(start.saturating_add((max_instrs - n) as usize));
            let mut k = start;
            if until_cycle == u64::MAX {
                // No cycle limit (single-core runs): the clock cannot reach it, so the batch
                // runs without a test per instruction.
                for ins in &buf[start..end] {
                    self.simulate_any(ins, u);
                }
                k = end;
            } else {
                for ins in &buf[start..end] {
                    self.simulate_any(ins, u);
                    k += 1;
                    if self.ret_cycle >= until_cycle {
                        break;
                    }
                }
            }
            self.buf.buf = buf;
            self.buf.pos = k;
            // Counted per batch rather than per record.
            self.instrs += (k - start) as u64;
            n += (k - start) as u64;
        }
        Ok(Stop::Instructions)
    }

    /// Simulate `records` in program order, read in place from the caller's slice (a live
    /// front end that already holds a batch saves the copy through the stream buffer).
    /// Instructions still buffered from an earlier [`IntervalCore::step`] go first.
    pub fn step_records<U: Uncore>(&mut self, records: &[Instr], u: &mut U) {
        if self.buf.pos < self.buf.len {
            let buf = std::mem::take(&mut self.buf.buf);
            for ins in &buf[self.buf.pos..self.buf.len] {
                self.simulate_any(ins, u);
            }
            self.instrs += (self.buf.len - self.buf.pos) as u64;
            self.buf.buf = buf;
            self.buf.pos = self.buf.len;
        }
        for ins in records {
            self.simulate_any(ins, u);
        }
        self.instrs += records.len() as u64;
    }

    #[inline]
    fn redirect(&mut self, t: u64, cause: Component) {
        if t > self.fe_cycle {
            self.fe_cycle = t;
            self.fe_slots = 0;
            self.fe_cause = cause;
            self.fe_cause_cycle = t;
        }
    }

    /// Instruction fetch of a new cache line at the front end's cycle; an access slower than
    /// an L1 hit delays the front end.
    #[inline]
    fn fetch_line<U: Uncore>(&mut self, pc: u64, u: &mut U) {
        let s = self.mem.fetch(u, pc, self.fe_cycle);
        let lat = s.ready - self.fe_cycle;
        if lat > self.l1i_lat {
            let extra = lat - self.l1i_lat;
            let cause = if s.tlb_cycles as u64 * 2 >= extra {
                Component::Tlb
            } else {
                Component::icache(s.level)
            };
            let t = self.fe_cycle + extra;
            self.redirect(t, cause);
        }
    }

    /// Charge the `g` cycles between the last retirement and this instruction's completion
    /// (the slots left in the current cycle plus `g - 1` whole cycles): the part before
    /// `issue` to `start_cause`, the rest to `exec_cause` (its translation share to the TLB).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn charge(
        &mut self,
        complete: u64,
        issue: u64,
        start_cause: Component,
        exec_cause: Component,
        tlb_cycles: u64,
    ) {
        let d = self.width;
        let g = complete - self.ret_cycle;
        let lost = (d - self.ret_slots) as u64 + (g - 1) * d as u64;
        let s = issue.saturating_sub(self.ret_cycle).min(g);
        // The split is proportional; its ends (common) need no division.
        let lost_start = if s == 0 {
            0
        } else if s == g {
            lost
        } else {
            lost * s / g
        };
        self.cpi.add(start_cause, lost_start);
        let lost_exec = lost - lost_start;
        if tlb_cycles > 0 {
            // Translation is the first part of a load's latency.
            let exec_time = complete - issue;
            let lost_tlb = lost_exec * tlb_cycles.min(exec_time) / exec_time;
            self.cpi.add(Component::Tlb, lost_tlb);
            self.cpi.add(exec_cause, lost_exec - lost_tlb);
        } else {
            self.cpi.add(exec_cause, lost_exec);
        }
        self.ret_cycle = complete;
        self.ret_slots = 0;
    }

    /// Simulate one instruction; the caller counts it in `instrs`. Records without memory
    /// operands that do not serialise (most) take a variant that carries no load or store
    /// state and no serialisation tests.
    #[inline(always)]
    fn simulate_any<U: Uncore>(&mut self, ins: &Instr, u: &mut U) {
        let serial = matches!(ins.kind, Kind::Serial | Kind::Sync);
        if ins.n_mem == 0 {
            if !serial {
                self.simulate::<false, false, U>(ins, u);
            } else {
                self.simulate::<false, true, U>(ins, u);
            }
        } else {
            self.simulate::<true, true, U>(ins, u);
        }
    }

    /// Simulate one instruction, which has memory operands exactly when `MEM`, and may be of
    /// a serialising kind only when `SERIAL`.
    #[inline(always)]
    fn simulate<const MEM: bool, const SERIAL: bool, U: Uncore>(&mut self, ins: &Instr, u: &mut U) {
        let d = self.width;
        // Front end: instruction fetch, one cache access per new line.
        if ins.pc >> 6 != self.last_line {
            self.last_line = ins.pc >> 6;
            self.fetch_line(ins.pc, u);
        }
        if self.fe_slots >= d {
            self.fe_cycle += 1;
            self.fe_slots = 0;
        }
        let fe = self.fe_cycle;
        let info = self.kinds[ins.kind as usize];
        // One read/write mask rather than flags: fewer values to keep live.
        let mut rw = 0u8;
        if MEM {
            for m in ins.mem_ops() {
                rw |= 1 << m.write as u8;
            }
        }
        // Dispatch: the earliest cycle at or after the front end's with a free ROB (and load
        // or store queue) entry, a free issue-queue entry and a free functional unit. Each
        // limit only raises `disp`, so the stall is applied to the front end once, at the end.
        let mut disp = fe.max(self.rob[self.rob_pos]);
        if MEM {
            if rw & READS != 0 {
                disp = disp.max(self.lq[self.lq_pos]);
            }
            if rw & WRITES != 0 {
                disp = disp.max(self.sq[self.sq_pos]);
            }
        }
        // Issue-queue capacity: an entry frees when its instruction issues, for dispatch in
        // the next cycle. Only instructions that wait for their operands are tracked (one that
        // issues in its dispatch cycle holds an entry for that cycle only).
        if self.iq.len > 0 {
            self.iq.release_before(disp);
            if self.iq.len >= self.iq_size {
                let first_free = self.iq.pop_min();
                disp = disp.max(first_free + 1);
                self.iq.release_before(disp);
            }
        }
        // Functional-unit throughput: each class sustains at most `units` per cycle.
        let fu = if !MEM {
            info.fu
        } else {
            FU_OF_MEM[rw as usize]
        } as usize;
        let f = &mut self.fu[fu & (FU_SLOTS - 1)];
        if f.cycle >= disp {
            disp = f.cycle;
        } else {
            f.cycle = disp;
            f.used = 0;
        }
        f.used += 1;
        if f.used >= f.units {
            f.cycle += 1;
            f.used = 0;
        }
        let disp_cause = if disp > fe {
            self.fe_cycle = disp;
            self.fe_slots = 1;
            Component::Depend
        } else {
            self.fe_slots += 1;
            if self.fe_cause_cycle == fe {
                self.fe_cause
            } else {
                Component::Depend
            }
        };

        // Issue when the sources are ready.
        // Register 0 means "none"; its ready time stays 0, so no test per source.
        let rr = &self.reg_ready;
        let src_ready = rr[ins.src[0] as usize]
            .max(rr[ins.src[1] as usize])
            .max(rr[ins.src[2] as usize].max(rr[ins.src[3] as usize]));
        let serial = SERIAL && matches!(ins.kind, Kind::Serial | Kind::Sync);
        let mut issue = disp.max(src_ready);
        if serial {
            issue = issue.max(self.max_complete);
        }
        let waited = issue > disp;
        if waited {
            self.iq.insert(issue);
        }
        let start_cause = if waited {
            if serial && issue == self.max_complete && issue > src_ready {
                Component::Serial
            } else {
                Component::Depend
            }
        } else {
            disp_cause
        };

        // Execute.
        let mut complete = issue + info.lat as u64;
        let mut exec_cause = if waited {
            Component::Depend
        } else {
            disp_cause
        };
        let mut tlb_cycles = 0u64;
        if MEM {
            self.stores += (rw & WRITES != 0) as u64;
            if let Some((ready, level, tlb)) =
                super::access_memory(&mut self.mem, u, &self.lat, ins, issue)
            {
                self.loads += 1;
                complete = ready;
                exec_cause = Component::dcache(level);
                tlb_cycles = tlb;
            }
        }
        self.reg_ready[ins.dst[0] as usize] = complete;
        self.reg_ready[ins.dst[1] as usize] = complete;
        self.reg_ready[0] = 0;
        self.max_complete = self.max_complete.max(complete);

        // Retire in order, D per cycle; charge empty slots.
        if self.ret_slots >= d {
            self.ret_cycle += 1;
            self.ret_slots = 0;
        }
        if complete > self.ret_cycle {
            self.charge(complete, issue, start_cause, exec_cause, tlb_cycles);
        }
        self.ret_slots += 1;
        let r = self.ret_cycle;
        self.rob[self.rob_pos] = r;
        self.rob_pos += 1;
        if self.rob_pos == self.rob.len() {
            self.rob_pos = 0;
        }
        if MEM {
            if rw & READS != 0 {
                self.lq[self.lq_pos] = r;
                self.lq_pos += 1;
                if self.lq_pos == self.lq.len() {
                    self.lq_pos = 0;
                }
            }
            if rw & WRITES != 0 {
                self.sq[self.sq_pos] = r;
                self.sq_pos += 1;
                if self.sq_pos == self.sq.len() {
                    self.sq_pos = 0;
                }
            }
        }

        // Branch prediction, at dispatch in program order; redirects apply to younger ones.
        // It comes after retirement, which it does not affect, so that fewer values stay live
        // across the predictor call.
        if ins.branch != BranchKind::None {
            match self.bpred.predict_update(ins) {
                Outcome::Correct => {}
                Outcome::Mispredict => self.redirect(complete + self.penalty, Component::Branch),
                Outcome::BtbMiss => {
                    let t = self.fe_cycle + self.btb_penalty;
                    self.redirect(t, Component::Branch)
                }
            }
        }
        if serial {
            self.redirect(complete, Component::Serial);
        }
    }

    /// Statistics since the last reset.
    pub fn stats(&self) -> CoreStats {
        // Every retired instruction fills one base slot: counted here, not one by one.
        let mut cpi = self.cpi;
        cpi.add(Component::Base, self.instrs);
        let cycles = if self.instrs == 0 && self.ret_slots == 0 {
            0
        } else {
            cpi.add(
                Component::Base,
                (self.width - self.ret_slots.min(self.width)) as u64,
            );
            self.ret_cycle + 1 - self.start_cycle
        };
        super::core_stats(
            self.instrs,
            cycles,
            self.loads,
            self.stores,
            cpi,
            &self.mem,
            &self.bpred,
        )
    }

    /// Hold the core idle until cycle `t` (blocked in a synchronisation, or waiting for the
    /// shared memory system beyond what it was told): the slots from now to `t` go to `cause`.
    /// Nothing happens when the core is already at or past `t`.
    pub fn stall_until(&mut self, t: u64, cause: Component) {
        if t <= self.ret_cycle {
            return;
        }
        let d = self.width;
        let lost = (d - self.ret_slots.min(d)) as u64 + (t - self.ret_cycle - 1) * d as u64;
        self.cpi.add(cause, lost);
        self.ret_cycle = t;
        self.ret_slots = 0;
        if self.fe_cycle < t {
            self.fe_cycle = t;
            self.fe_slots = 0;
        }
    }

    /// Start counting afresh.
    pub fn reset_stats(&mut self) {
        self.cpi = CpiStack::new(self.width);
        self.cpi.add(Component::Base, self.ret_slots as u64);
        self.start_cycle = self.ret_cycle;
        self.instrs = 0;
        self.loads = 0;
        self.stores = 0;
        super::reset_shared_stats(&mut self.mem, &mut self.bpred);
    }
}

#[cfg(test)]
mod tests {
    use super::Waiting;

    /// Drive a [`Waiting`] and a sorted reference with the same operations: inserts at or
    /// after the release point up to `reach` cycles ahead, releases, and pops when full.
    fn check_against_reference(capacity: usize, reach: u64, advance: u64, seed: u64) {
        let mut w = Waiting::new(capacity);
        let mut reference: Vec<u64> = Vec::new();
        let mut x = seed;
        let mut now = 0u64;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = x >> 33;
            if r.is_multiple_of(4) {
                now += r % advance;
                w.release_before(now);
                reference.retain(|&t| t >= now);
            }
            if reference.len() == capacity {
                let m = reference.remove(0);
                assert_eq!(w.pop_min(), m);
                now = now.max(m + 1);
                w.release_before(now);
                reference.retain(|&t| t >= now);
            }
            let t = now + (r >> 8) % reach;
            w.insert(t);
            let at = reference.partition_point(|&v| v <= t);
            reference.insert(at, t);
            assert_eq!(w.len, reference.len());
        }
        for m in reference.drain(..) {
            assert_eq!(w.pop_min(), m);
        }
        assert_eq!(w.len, 0);
    }

    #[test]
    fn waiting_matches_a_sorted_list_near_the_release_point() {
        check_against_reference(5, 16, 4, 7);
        check_against_reference(36, 200, 3, 8);
        check_against_reference(96, 70, 130, 9);
    }

    #[test]
    fn waiting_keeps_order_far_ahead_and_across_the_rings() {
        // issue times far ahead, releases jumping far, rings wrapping many times
        check_against_reference(36, 12_000, 600, 10);
        check_against_reference(128, 20_000, 9_000, 11);
        check_against_reference(8, 5_000, 5_000, 12);
    }
}
