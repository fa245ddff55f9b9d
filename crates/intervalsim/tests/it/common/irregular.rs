//! Irregular programs for validating the interval model against the detailed one.
//!
//! The built-in workloads exercise one mechanism at a time, where both models reduce to the same
//! analytic answer. These generators mix them the way real code does: a static loop body of
//! random instructions (classes, registers and therefore dependence chains fixed per static
//! instruction), executed over and over with dynamic addresses and branch outcomes, so that
//! chains of different latencies interleave, mispredicted branches depend on loads that miss,
//! and independent misses arrive in bursts.

use intervalsim::frontend::synthetic::SplitMix64;
use intervalsim::frontend::{BranchKind, Instr, InstrStream, Kind, TraceError};

/// Where a static load or store takes its addresses from.
#[derive(Clone, Copy, Debug)]
enum Addr {
    /// Sequential 8-byte steps over `footprint` bytes.
    Stream,
    /// Uniformly random over `footprint` bytes.
    Random,
    /// Random over `footprint`, and the address register is the load's own destination, so
    /// each instance depends on the previous one (a pointer chase).
    Chase,
}

/// Mix of one irregular program (probabilities in percent of static instructions).
#[derive(Clone, Debug)]
pub struct Profile {
    pub body: usize,
    pub mul: u32,
    pub div: u32,
    pub fp: u32,
    pub load: u32,
    pub store: u32,
    pub branch: u32,
    /// Registers the body draws from: fewer registers give longer dependence chains.
    pub regs: u8,
    /// Footprint of the loads and stores.
    pub footprint: u64,
    /// Load address classes, in percent: streaming, random, chase (the rest).
    pub stream_pct: u32,
    pub random_pct: u32,
    /// Branch bias range: each static branch is taken with a probability drawn from
    /// `[bias_lo, 100]` percent (50 = coin flips, 100 = always taken).
    pub bias_lo: u32,
    /// Percentage of branches whose condition reads the most recent load's result.
    pub branch_on_load: u32,
    /// Random loads take their address from a register nothing writes (independent misses).
    pub indep_addr: bool,
    /// Arithmetic reads the most recent load's result and writes a register nobody reads: a
    /// wide fan-out that becomes ready all at once when the load returns.
    pub fanout: bool,
}

#[derive(Clone, Copy, Debug)]
struct Static {
    kind: Kind,
    src: [u8; 2],
    dst: u8,
    addr: Addr,
    /// Taken probability in 1/65536 (branches).
    bias: u32,
    /// Offset of this static access's region.
    region: u64,
}

/// An endless stream of one irregular program.
pub struct Irregular {
    body: Vec<Static>,
    footprint: u64,
    rng: SplitMix64,
    slot: usize,
    cursor: Vec<u64>,
}

const R0: u8 = 32;
/// A base register no generated instruction writes.
const ADDR_REG: u8 = 7;
const BASE: u64 = 0x3000_0000_0000;
const CODE: u64 = 0x50_0000;

impl Irregular {
    pub fn new(p: &Profile, seed: u64) -> Irregular {
        let mut rng = SplitMix64::new(seed);
        let mut pick = |n: u64| rng.next_u64() % n;
        let mut body = Vec::with_capacity(p.body);
        let mut last_load_dst = R0;
        for i in 0..p.body {
            let r = pick(100) as u32;
            let reg = |x: u64| R0 + (x % p.regs as u64) as u8;
            let mut s = Static {
                kind: Kind::Int,
                src: [reg(pick(256)), reg(pick(256))],
                dst: reg(pick(256)),
                addr: Addr::Random,
                bias: 0,
                region: (i as u64) * 4096,
            };
            let mut acc = 0;
            let mut is = |pct: u32| {
                acc += pct;
                r < acc
            };
            if is(p.mul) {
                s.kind = Kind::Mul;
            } else if is(p.div) {
                s.kind = Kind::Div;
            } else if is(p.fp) {
                s.kind = Kind::Fp;
            } else if is(p.load) {
                s.kind = Kind::Load;
                let a = pick(100) as u32;
                s.addr = if a < p.stream_pct {
                    Addr::Stream
                } else if a < p.stream_pct + p.random_pct {
                    Addr::Random
                } else {
                    Addr::Chase
                };
                if let Addr::Chase = s.addr {
                    s.src = [s.dst, 0];
                } else if p.indep_addr {
                    s.src = [ADDR_REG, 0];
                } else {
                    s.src[1] = 0;
                }
                last_load_dst = s.dst;
            } else if is(p.store) {
                s.kind = Kind::Store;
                s.addr = if pick(100) < (p.stream_pct + p.random_pct / 2) as u64 {
                    Addr::Stream
                } else {
                    Addr::Random
                };
                s.dst = 0;
            } else if is(p.branch) {
                s.kind = Kind::Branch;
                let lo = p.bias_lo.min(100) as u64;
                let pct = lo + pick(101 - lo);
                // Half the branches lean not-taken, half taken.
                let pct = if pick(2) == 0 { pct } else { 100 - pct };
                s.bias = (pct * 65536 / 100) as u32;
                s.src[1] = 25; // flags
                if pick(100) < p.branch_on_load as u64 {
                    s.src[0] = last_load_dst;
                }
                s.dst = 0;
            }
            if p.fanout && matches!(s.kind, Kind::Int | Kind::Mul | Kind::Div | Kind::Fp) {
                s.src = [last_load_dst, 0];
                s.dst = R0 + 64 + (i % 8) as u8;
            }
            body.push(s);
        }
        Irregular {
            cursor: vec![0; body.len()],
            body,
            footprint: p.footprint,
            rng,
            slot: 0,
        }
    }
}

impl Irregular {
    fn next(&mut self) -> Instr {
        let n = self.body.len();
        let pc = CODE + 4 * self.slot as u64;
        if self.slot == n {
            // loop back
            self.slot = 0;
            let mut b = Instr::new(pc, Kind::Branch);
            b.len = 4;
            b.branch = BranchKind::Conditional;
            b.taken = true;
            b.target = CODE;
            b.src[0] = 25;
            return b;
        }
        let i = self.slot;
        let s = self.body[i];
        let mut ins = Instr::new(pc, s.kind);
        ins.len = 4;
        ins.src[..2].copy_from_slice(&s.src);
        ins.dst[0] = s.dst;
        self.slot += 1;
        match s.kind {
            Kind::Load | Kind::Store => {
                let lines = (self.footprint / 64).max(1);
                let addr = match s.addr {
                    Addr::Stream => {
                        let c = &mut self.cursor[i];
                        *c = (*c + 8) % self.footprint;
                        BASE + (s.region << 20) % self.footprint + *c
                    }
                    Addr::Random | Addr::Chase => {
                        BASE + (self.rng.next_u64() % lines) * 64 + (self.rng.next_u64() % 8) * 8
                    }
                };
                ins.push_mem(addr, 8, s.kind == Kind::Store);
            }
            Kind::Branch => {
                ins.branch = BranchKind::Conditional;
                let taken = (self.rng.next_u64() & 0xffff) < s.bias as u64;
                if taken && self.slot < n {
                    // skip the next instruction
                    ins.taken = true;
                    ins.target = pc + 8;
                    self.slot += 1;
                }
            }
            _ => {}
        }
        ins
    }
}

impl InstrStream for Irregular {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        for slot in buf.iter_mut() {
            *slot = self.next();
        }
        Ok(buf.len())
    }
    fn describe(&self) -> String {
        "irregular".into()
    }
}

/// The harder validation set: (label, profile).
pub fn programs() -> Vec<(&'static str, Profile)> {
    let base = Profile {
        body: 200,
        mul: 0,
        div: 0,
        fp: 0,
        load: 0,
        store: 0,
        branch: 0,
        regs: 16,
        footprint: 16 << 10,
        stream_pct: 50,
        random_pct: 50,
        bias_lo: 95,
        branch_on_load: 0,
        indep_addr: false,
        fanout: false,
    };
    vec![
        (
            // integer code with mixed chains, L1-resident data, mostly predictable branches
            "int-mixed-chains",
            Profile {
                mul: 10,
                load: 20,
                store: 8,
                branch: 14,
                regs: 10,
                bias_lo: 90,
                ..base.clone()
            },
        ),
        (
            // FP and multiply chains of different latencies with L2-resident loads
            "fp-mul-chains",
            Profile {
                mul: 15,
                fp: 35,
                div: 1,
                load: 20,
                store: 5,
                branch: 6,
                regs: 12,
                footprint: 192 << 10,
                bias_lo: 98,
                ..base.clone()
            },
        ),
        (
            // branches on loaded values that miss to DRAM: mispredictions under long misses
            "mispredict-under-miss",
            Profile {
                load: 15,
                store: 5,
                branch: 15,
                regs: 12,
                footprint: 64 << 20,
                stream_pct: 0,
                random_pct: 100,
                bias_lo: 60,
                branch_on_load: 60,
                ..base.clone()
            },
        ),
        (
            // bursts of independent random DRAM loads between compute: memory-level parallelism
            "mlp-bursts",
            Profile {
                mul: 5,
                fp: 10,
                load: 12,
                store: 3,
                branch: 5,
                regs: 20,
                footprint: 64 << 20,
                stream_pct: 0,
                random_pct: 100,
                bias_lo: 99,
                ..base.clone()
            },
        ),
        (
            // independent DRAM misses, each followed by a long chain of work that depends on
            // it: the waiting dependents fill the detailed model's issue queue (36 entries)
            // long before the ROB (128), which the interval model does not model, so it finds
            // more memory-level parallelism
            "mlp-behind-dependents",
            Profile {
                mul: 20,
                load: 8,
                branch: 4,
                regs: 3,
                footprint: 64 << 20,
                stream_pct: 0,
                random_pct: 100,
                bias_lo: 99,
                indep_addr: true,
                ..base.clone()
            },
        ),
        (
            // each LLC-hitting load feeds many multiplies at once: when it returns they all
            // wake up together and contend for the single multiplier, which the detailed model
            // arbitrates at issue (oldest first) and the interval model at dispatch
            "wakeup-burst",
            Profile {
                mul: 60,
                load: 6,
                branch: 2,
                regs: 8,
                footprint: 4 << 20,
                stream_pct: 0,
                random_pct: 100,
                bias_lo: 99,
                indep_addr: true,
                fanout: true,
                ..base.clone()
            },
        ),
        (
            // pointer chases in the LLC interleaved with independent work
            "chase-and-compute",
            Profile {
                mul: 8,
                fp: 8,
                load: 15,
                store: 5,
                branch: 10,
                regs: 14,
                footprint: 4 << 20,
                stream_pct: 20,
                random_pct: 20,
                bias_lo: 85,
                ..base.clone()
            },
        ),
        (
            // streaming loads and stores with unpredictable data-dependent branches
            "stream-branchy",
            Profile {
                mul: 5,
                load: 22,
                store: 12,
                branch: 18,
                regs: 12,
                footprint: 32 << 20,
                stream_pct: 90,
                random_pct: 10,
                bias_lo: 50,
                branch_on_load: 30,
                ..base.clone()
            },
        ),
    ]
}
