//! The detailed reference model: a cycle-level out-of-order core.
//!
//! Every cycle, in this order: retire up to `D` completed instructions from the ROB head;
//! fetch and dispatch up to `D` instructions into the ROB, issue queue and load/store queues
//! (stalled by I-cache misses, a mispredicted branch until it resolves plus the refill penalty,
//! a full ROB/IQ/LQ/SQ, or a serialising instruction waiting for an empty ROB); then issue
//! ready instructions oldest-first, limited by the number of functional units of each class.
//! Loads access the memory hierarchy when they issue (MSHRs bound outstanding misses). Idle
//! cycles (nothing can retire, dispatch or issue) are skipped to the next event; they are
//! charged to the same CPI component as the cycle before.
//!
//! CPI stack: each cycle's `D` retire slots are charged one per retired instruction to base and
//! the rest to the reason the ROB head has not retired (its memory level for a load, dependences
//! otherwise, serialisation), or to the front-end event when the ROB is empty.

use super::{InstrBuffer, Latencies, Stop};
use crate::bpred::{BranchUnit, Outcome};
use crate::config::Config;
use crate::frontend::{BranchKind, Instr, InstrStream, Kind, TraceError};
use crate::memory::{PrivateCaches, Uncore};
use crate::stats::{Component, CoreStats, CpiStack};

const NONE: u64 = u64::MAX;

#[derive(Clone, Copy, Debug)]
struct Entry {
    ins: Instr,
    deps: [u64; 4],
    complete: u64,
    issued: bool,
    load: bool,
    store: bool,
    cause: Component,
    /// Until this cycle a load is still translating its address (charged to the TLB).
    tlb_until: u64,
    /// Front-end stall applied when this instruction resolves (mispredict / serialise).
    redirect: Option<(u64, Component)>,
}

#[derive(Clone, Copy)]
enum Fu {
    Alu = 0,
    Mul = 1,
    Fp = 2,
    Load = 3,
    Store = 4,
}

/// Cycle-level out-of-order core.
pub struct RobCore {
    width: u32,
    rob_size: u64,
    iq_size: usize,
    lq_size: u32,
    sq_size: u32,
    units: [u32; 5],
    lat: Latencies,
    penalty: u64,
    btb_penalty: u64,
    l1i_lat: u64,
    /// Private caches and TLBs.
    pub mem: PrivateCaches,
    /// Branch predictor, BTB, RAS.
    pub bpred: BranchUnit,
    buf: InstrBuffer,
    cycle: u64,
    rob: Vec<Entry>,
    head: u64,
    tail: u64,
    iq: Vec<u64>,
    rename: Box<[u64; 256]>,
    lq: u32,
    sq: u32,
    fe_ready: u64,
    fe_block: u64,
    fe_cause: Component,
    last_line: u64,
    start_cycle: u64,
    instrs: u64,
    loads: u64,
    stores: u64,
    cpi: CpiStack,
}

impl RobCore {
    /// Core number `id` of configuration `c`.
    pub fn new(id: u32, c: &Config) -> RobCore {
        let k = &c.core;
        let filler = Entry {
            ins: Instr::default(),
            deps: [NONE; 4],
            complete: NONE,
            issued: false,
            load: false,
            store: false,
            cause: Component::Depend,
            tlb_until: 0,
            redirect: None,
        };
        RobCore {
            width: k.dispatch_width,
            rob_size: k.rob_size as u64,
            iq_size: k.issue_queue as usize,
            lq_size: k.load_queue,
            sq_size: k.store_queue,
            units: [
                k.alu_units,
                k.mul_units,
                k.fp_units,
                k.load_units,
                k.store_units,
            ],
            lat: Latencies::new(c),
            penalty: c.bpred.mispredict_penalty as u64,
            btb_penalty: c.bpred.btb_miss_penalty as u64,
            l1i_lat: c.l1i.latency as u64,
            mem: PrivateCaches::new(id, c),
            bpred: BranchUnit::new(&c.bpred),
            buf: InstrBuffer::default(),
            cycle: 0,
            rob: vec![filler; k.rob_size as usize],
            head: 0,
            tail: 0,
            iq: Vec::with_capacity(k.issue_queue as usize),
            rename: Box::new([NONE; 256]),
            lq: 0,
            sq: 0,
            fe_ready: 0,
            fe_block: NONE,
            fe_cause: Component::Depend,
            last_line: u64::MAX,
            start_cycle: 0,
            instrs: 0,
            loads: 0,
            stores: 0,
            cpi: CpiStack::new(k.dispatch_width),
        }
    }

    /// Current cycle.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    #[inline]
    fn entry(&self, seq: u64) -> &Entry {
        &self.rob[(seq % self.rob_size) as usize]
    }

    #[inline]
    fn entry_mut(&mut self, seq: u64) -> &mut Entry {
        &mut self.rob[(seq % self.rob_size) as usize]
    }

    /// See [`super::Core::step`]. Instructions count when they retire.
    // Not inlined into `Core::step`: this model's loop then compiles the same whatever the
    // interval core's inlined loop looks like.
    #[inline(never)]
    pub fn step<S: InstrStream + ?Sized, U: Uncore>(
        &mut self,
        stream: &mut S,
        u: &mut U,
        max_instrs: u64,
        until_cycle: u64,
    ) -> Result<Stop, TraceError> {
        let target = self.instrs.saturating_add(max_instrs);
        loop {
            if self.instrs >= target {
                return Ok(Stop::Instructions);
            }
            if self.cycle >= until_cycle {
                return Ok(Stop::Cycles);
            }
            if self.head == self.tail && self.buf.peek(stream)?.is_none() {
                return Ok(Stop::EndOfStream);
            }
            self.tick(stream, u, target)?;
        }
    }

    fn head_cause(&self, now: u64) -> Component {
        if self.head == self.tail {
            return self.fe_cause;
        }
        let e = self.entry(self.head);
        if e.issued && e.load {
            if now < e.tlb_until {
                Component::Tlb
            } else {
                e.cause
            }
        } else if matches!(e.ins.kind, Kind::Serial | Kind::Sync) {
            Component::Serial
        } else {
            Component::Depend
        }
    }

    fn tick<S: InstrStream + ?Sized, U: Uncore>(
        &mut self,
        stream: &mut S,
        u: &mut U,
        target: u64,
    ) -> Result<(), TraceError> {
        let d = self.width;
        let now = self.cycle;
        // 1. retire
        let mut retired = 0u32;
        while retired < d && self.head < self.tail && self.instrs < target {
            let e = *self.entry(self.head);
            if !e.issued || e.complete > now {
                break;
            }
            if e.load {
                self.lq -= 1;
            }
            if e.store {
                self.sq -= 1;
            }
            self.head += 1;
            retired += 1;
            self.instrs += 1;
        }
        self.cpi.add(Component::Base, retired as u64);
        if retired < d {
            let c = self.head_cause(now);
            self.cpi.add(c, (d - retired) as u64);
        }

        // 2. fetch + dispatch
        let mut dispatched = 0u32;
        while dispatched < d && self.fe_block == NONE && now >= self.fe_ready {
            let Some(ins) = self.buf.peek(stream)? else {
                break;
            };
            let ins = *ins;
            let line = ins.pc >> 6;
            if line != self.last_line {
                self.last_line = line;
                let s = self.mem.fetch(u, ins.pc, now);
                let lat = s.ready - now;
                if lat > self.l1i_lat {
                    let extra = lat - self.l1i_lat;
                    self.fe_ready = now + extra;
                    self.fe_cause = if s.tlb_cycles as u64 * 2 >= extra {
                        Component::Tlb
                    } else {
                        Component::icache(s.level)
                    };
                    break;
                }
            }
            let serial = matches!(ins.kind, Kind::Serial | Kind::Sync);
            let is_load = ins.has_load();
            let is_store = ins.has_store();
            if self.tail - self.head >= self.rob_size
                || self.iq.len() >= self.iq_size
                || (is_load && self.lq >= self.lq_size)
                || (is_store && self.sq >= self.sq_size)
                || (serial && self.head != self.tail)
            {
                break;
            }
            self.buf.next(stream)?;
            let seq = self.tail;
            self.tail += 1;
            let mut deps = [NONE; 4];
            for (k, &r) in ins.src.iter().enumerate() {
                if r != 0 {
                    let p = self.rename[r as usize];
                    if p != NONE && p >= self.head {
                        deps[k] = p;
                    }
                }
            }
            for &r in &ins.dst {
                if r != 0 {
                    self.rename[r as usize] = seq;
                }
            }
            let mut redirect = None;
            let mut stop_after = false;
            if ins.branch != BranchKind::None {
                match self.bpred.predict_update(&ins) {
                    Outcome::Correct => {}
                    Outcome::Mispredict => {
                        redirect = Some((self.penalty, Component::Branch));
                        self.fe_block = seq;
                    }
                    Outcome::BtbMiss => {
                        self.fe_ready = now + self.btb_penalty;
                        self.fe_cause = Component::Branch;
                        stop_after = true;
                    }
                }
            }
            if serial {
                redirect = Some((0, Component::Serial));
                self.fe_block = seq;
            }
            if is_load {
                self.lq += 1;
                self.loads += 1;
            }
            if is_store {
                self.sq += 1;
                self.stores += 1;
            }
            *self.entry_mut(seq) = Entry {
                ins,
                deps,
                complete: NONE,
                issued: false,
                load: is_load,
                store: is_store,
                cause: Component::Depend,
                tlb_until: 0,
                redirect,
            };
            self.iq.push(seq);
            dispatched += 1;
            if stop_after || self.fe_block != NONE {
                break;
            }
        }

        // 3. issue, oldest first
        let mut free = self.units;
        let mut issued_any = false;
        let mut k = 0;
        while k < self.iq.len() {
            let seq = self.iq[k];
            // Most scanned entries are not ready: test them in place and copy only the
            // entry that issues (a whole entry is over a hundred bytes).
            let e = self.entry(seq);
            let fu = if e.load {
                Fu::Load
            } else if e.store {
                Fu::Store
            } else {
                match e.ins.kind {
                    Kind::Mul | Kind::Div => Fu::Mul,
                    Kind::Fp => Fu::Fp,
                    _ => Fu::Alu,
                }
            };
            let serial = matches!(e.ins.kind, Kind::Serial | Kind::Sync);
            let ready = free[fu as usize] > 0
                && (!serial || seq == self.head)
                && e.deps.iter().all(|&p| {
                    p == NONE || p < self.head || {
                        let pe = self.entry(p);
                        pe.issued && pe.complete <= now
                    }
                });
            if !ready {
                k += 1;
                continue;
            }
            let e = *e;
            free[fu as usize] -= 1;
            let (complete, cause, tlb) = self.execute(&e.ins, u, now);
            if let Some((pen, c)) = e.redirect {
                self.fe_ready = complete + pen;
                self.fe_cause = c;
                if self.fe_block == seq {
                    self.fe_block = NONE;
                }
            }
            let em = self.entry_mut(seq);
            em.issued = true;
            em.complete = complete;
            em.cause = cause;
            em.tlb_until = now + tlb;
            self.iq.remove(k);
            issued_any = true;
        }

        // 4. advance time, skipping idle stretches
        let mut next = now + 1;
        if retired == 0 && dispatched == 0 && !issued_any {
            let mut ev = NONE;
            if self.fe_block == NONE && self.fe_ready > now {
                ev = ev.min(self.fe_ready);
            }
            for seq in self.head..self.tail {
                let e = self.entry(seq);
                if e.issued && e.complete > now {
                    ev = ev.min(e.complete);
                }
            }
            if ev != NONE && ev > next {
                // Nothing changes until `ev`; the head's cause may switch once, when its
                // address translation ends.
                let split = if self.head < self.tail {
                    self.entry(self.head).tlb_until.clamp(next, ev)
                } else {
                    next
                };
                if split > next {
                    let c = self.head_cause(next);
                    self.cpi.add(c, (split - next) * d as u64);
                }
                let c = self.head_cause(split);
                self.cpi.add(c, (ev - split) * d as u64);
                next = ev;
            }
        }
        self.cycle = next;
        Ok(())
    }

    #[inline]
    fn execute<U: Uncore>(&mut self, ins: &Instr, u: &mut U, now: u64) -> (u64, Component, u64) {
        match super::access_memory(&mut self.mem, u, &self.lat, ins, now) {
            Some((ready, level, tlb)) => (ready, Component::dcache(level), tlb),
            None => (now + self.lat.of(ins.kind) as u64, Component::Depend, 0),
        }
    }

    /// Statistics since the last reset.
    pub fn stats(&self) -> CoreStats {
        super::core_stats(
            self.instrs,
            self.cycle - self.start_cycle,
            self.loads,
            self.stores,
            self.cpi,
            &self.mem,
            &self.bpred,
        )
    }

    /// Start counting afresh.
    pub fn reset_stats(&mut self) {
        self.cpi = CpiStack::new(self.width);
        self.start_cycle = self.cycle;
        self.instrs = 0;
        self.loads = 0;
        self.stores = 0;
        super::reset_shared_stats(&mut self.mem, &mut self.bpred);
    }
}
