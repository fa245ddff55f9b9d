//! Branch prediction: direction predictors (bimodal, gshare, tournament, TAGE), a BTB and a
//! return address stack. All tables are flat arrays indexed with power-of-two masks.

use crate::config::{BpredConfig, PredictorKind};
use crate::frontend::{BranchKind, Instr};

/// Result of predicting one branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Direction and target right.
    Correct,
    /// Direction right, but a taken direct branch missed in the BTB: the front end redirects
    /// at decode after a short bubble.
    BtbMiss,
    /// Wrong direction or wrong indirect/return target: full misprediction.
    Mispredict,
}

/// Branch counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BranchStats {
    /// Branches seen.
    pub branches: u64,
    /// Conditional branches.
    pub conditional: u64,
    /// Full mispredictions.
    pub mispredicts: u64,
    /// Taken direct branches that missed in the BTB.
    pub btb_misses: u64,
}

/// Next value of a two-bit saturating counter, by outcome (row) and current value (column).
const CTR_NEXT: [[u8; 4]; 2] = [[0, 0, 1, 2], [1, 2, 3, 3]];

/// Train a two-bit saturating counter: a table lookup, not branches on the (often random)
/// outcome.
#[inline(always)]
fn ctr_update(c: &mut u8, taken: bool) {
    *c = CTR_NEXT[taken as usize][(*c & 3) as usize];
}

#[inline]
fn hash_pc(pc: u64) -> u64 {
    (pc >> 2) ^ (pc >> 17)
}

/// One step of a folded global history (a circular shift register of the last `olen`
/// outcomes compressed to `clen` bits): shift `new_bit` in, cancel `old_bit` (the outcome
/// leaving the history) at `out_point = olen % clen`, fold the bit shifted out back in.
/// A free function of plain values, so that with the constant tag widths the shifts and
/// masks fold into the code.
#[inline(always)]
fn fold(comp: u64, new_bit: u64, old_bit: u64, out_point: u32, clen: u32) -> u64 {
    let c = ((comp << 1) | new_bit) ^ (old_bit << out_point);
    (c ^ (c >> clen)) & ((1 << clen) - 1)
}

const TAGE_TABLES: usize = 6;
const HIST_RING: usize = 2048;
/// Tag width per tagged table.
const TAG_BITS: [u32; TAGE_TABLES] = [8, 9, 10, 11, 12, 12];

#[derive(Clone, Debug)]
struct Tage {
    base: Vec<u8>,
    base_mask: u64,
    idx_bits: u32,
    /// Per table, the shift of the pc hash folded into the index (`idx_bits - i % idx_bits`).
    idx_shift: [u32; TAGE_TABLES],
    lengths: [u32; TAGE_TABLES],
    tags: Vec<u16>,
    ctrs: Vec<i8>,
    useful: Vec<u8>,
    /// Per table, the history folded to the index width, to the tag width and to one bit
    /// less than the tag width.
    fidx: [u64; TAGE_TABLES],
    ft1: [u64; TAGE_TABLES],
    ft2: [u64; TAGE_TABLES],
    /// Per table, where the bit leaving the history enters each folded value (`length %
    /// width`, kept so that an update divides nothing).
    out_idx: [u32; TAGE_TABLES],
    out_t1: [u32; TAGE_TABLES],
    out_t2: [u32; TAGE_TABLES],
    hist: Box<[u8; HIST_RING]>,
    pos: usize,
    use_alt: i8,
    tick: u64,
    rng: u64,
    // scratch of the last prediction
    idx: [usize; TAGE_TABLES],
    tag: [u16; TAGE_TABLES],
}

impl Tage {
    fn new(entries: u32, history_bits: u32) -> Tage {
        let idx_bits = entries.trailing_zeros().max(4);
        let max_len = (history_bits * 16).clamp(32, HIST_RING as u32 - 1);
        let min_len = 4f64;
        let mut lengths = [0u32; TAGE_TABLES];
        for (i, l) in lengths.iter_mut().enumerate() {
            let r = (max_len as f64 / min_len).powf(i as f64 / (TAGE_TABLES - 1) as f64);
            *l = (min_len * r).round() as u32;
        }
        let n = TAGE_TABLES << idx_bits;
        Tage {
            base: vec![2; 1 << (idx_bits + 1)],
            base_mask: (1 << (idx_bits + 1)) - 1,
            idx_bits,
            idx_shift: std::array::from_fn(|i| idx_bits - i as u32 % idx_bits),
            lengths,
            tags: vec![0; n],
            ctrs: vec![0; n],
            useful: vec![0; n],
            fidx: [0; TAGE_TABLES],
            ft1: [0; TAGE_TABLES],
            ft2: [0; TAGE_TABLES],
            out_idx: std::array::from_fn(|i| lengths[i] % idx_bits),
            out_t1: std::array::from_fn(|i| lengths[i] % TAG_BITS[i]),
            out_t2: std::array::from_fn(|i| lengths[i] % (TAG_BITS[i] - 1)),
            hist: Box::new([0; HIST_RING]),
            pos: 0,
            use_alt: 0,
            tick: 0,
            rng: 0x1234_5678,
            idx: [0; TAGE_TABLES],
            tag: [0; TAGE_TABLES],
        }
    }

    #[inline]
    fn predict_update(&mut self, pc: u64, taken: bool) -> bool {
        let h = hash_pc(pc);
        let mask = (1u64 << self.idx_bits) - 1;
        let mut provider = usize::MAX;
        let mut alt = usize::MAX;
        for i in (0..TAGE_TABLES).rev() {
            let idx = ((h ^ (h >> self.idx_shift[i]) ^ self.fidx[i]) & mask) as usize
                + (i << self.idx_bits);
            let tag = ((h ^ self.ft1[i] ^ (self.ft2[i] << 1)) & ((1 << TAG_BITS[i]) - 1)) as u16;
            self.idx[i] = idx;
            self.tag[i] = tag;
        }
        for i in (0..TAGE_TABLES).rev() {
            if self.tags[self.idx[i]] == self.tag[i] {
                if provider == usize::MAX {
                    provider = i;
                } else {
                    alt = i;
                    break;
                }
            }
        }
        let bidx = (h & self.base_mask) as usize;
        let base_pred = self.base[bidx] >= 2;
        let alt_pred = if alt != usize::MAX {
            self.ctrs[self.idx[alt]] >= 0
        } else {
            base_pred
        };
        let pred;
        if provider != usize::MAX {
            let e = self.idx[provider];
            let c = self.ctrs[e];
            let prov_pred = c >= 0;
            let weak = c == 0 || c == -1;
            pred = if weak && self.useful[e] == 0 && self.use_alt >= 0 {
                alt_pred
            } else {
                prov_pred
            };
            if weak && self.useful[e] == 0 && prov_pred != alt_pred {
                self.use_alt = if alt_pred == taken {
                    (self.use_alt + 1).min(7)
                } else {
                    (self.use_alt - 1).max(-8)
                };
            }
            // provider counter
            self.ctrs[e] = if taken {
                (c + 1).min(3)
            } else {
                (c - 1).max(-4)
            };
            if prov_pred != alt_pred {
                let u = &mut self.useful[e];
                if prov_pred == taken {
                    *u = (*u + 1).min(3);
                } else {
                    *u = u.saturating_sub(1);
                }
            }
            if alt == usize::MAX {
                ctr_update(&mut self.base[bidx], taken);
            }
        } else {
            pred = base_pred;
            ctr_update(&mut self.base[bidx], taken);
        }
        // allocate on a misprediction
        let start = if provider == usize::MAX {
            0
        } else {
            provider + 1
        };
        if pred != taken && start < TAGE_TABLES {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            let skip = (self.rng & 1) as usize;
            let mut done = false;
            let mut seen = 0;
            for i in start..TAGE_TABLES {
                let e = self.idx[i];
                if self.useful[e] == 0 {
                    if seen < skip && i + 1 < TAGE_TABLES {
                        seen += 1;
                        continue;
                    }
                    self.tags[e] = self.tag[i];
                    self.ctrs[e] = if taken { 0 } else { -1 };
                    done = true;
                    break;
                }
            }
            if !done {
                for i in start..TAGE_TABLES {
                    let e = self.idx[i];
                    self.useful[e] = self.useful[e].saturating_sub(1);
                }
            }
        }
        self.tick += 1;
        if self.tick.is_multiple_of(1 << 18) {
            for u in &mut self.useful {
                *u >>= 1;
            }
        }
        // push history
        let bit = taken as u64;
        self.pos = (self.pos + 1) % HIST_RING;
        self.hist[self.pos] = bit as u8;
        let idx_bits = self.idx_bits;
        for (i, &tag_bits) in TAG_BITS.iter().enumerate() {
            let old = self.hist[self.pos.wrapping_sub(self.lengths[i] as usize) % HIST_RING] as u64;
            self.fidx[i] = fold(self.fidx[i], bit, old, self.out_idx[i], idx_bits);
            self.ft1[i] = fold(self.ft1[i], bit, old, self.out_t1[i], tag_bits);
            self.ft2[i] = fold(self.ft2[i], bit, old, self.out_t2[i], tag_bits - 1);
        }
        pred
    }
}

#[derive(Clone, Debug)]
enum Direction {
    Bimodal {
        table: Vec<u8>,
        mask: u64,
    },
    Gshare {
        table: Vec<u8>,
        mask: u64,
        hist: u64,
        hist_mask: u64,
    },
    Tournament {
        /// Per pc: the bimodal counter and the chooser counter (one lookup for both).
        bim_chooser: Vec<[u8; 2]>,
        gsh: Vec<u8>,
        mask: u64,
        hist: u64,
        hist_mask: u64,
    },
    Tage(Box<Tage>),
}

impl Direction {
    fn new(c: &BpredConfig) -> Direction {
        let n = c.table_entries as usize;
        let mask = n as u64 - 1;
        let hist_mask = if c.history_bits >= 64 {
            u64::MAX
        } else {
            (1 << c.history_bits) - 1
        };
        match c.kind {
            PredictorKind::Bimodal => Direction::Bimodal {
                table: vec![2; n],
                mask,
            },
            PredictorKind::Gshare => Direction::Gshare {
                table: vec![2; n],
                mask,
                hist: 0,
                hist_mask,
            },
            PredictorKind::Tournament => Direction::Tournament {
                bim_chooser: vec![[2, 2]; n],
                gsh: vec![2; n],
                mask,
                hist: 0,
                hist_mask,
            },
            PredictorKind::Tage => {
                Direction::Tage(Box::new(Tage::new(c.table_entries, c.history_bits)))
            }
        }
    }

    /// Predict the direction of the conditional branch at `pc`, then learn `taken`.
    #[inline]
    fn predict_update(&mut self, pc: u64, taken: bool) -> bool {
        let h = hash_pc(pc);
        match self {
            Direction::Bimodal { table, mask } => {
                let c = &mut table[(h & *mask) as usize];
                let p = *c >= 2;
                ctr_update(c, taken);
                p
            }
            Direction::Gshare {
                table,
                mask,
                hist,
                hist_mask,
            } => {
                let c = &mut table[((h ^ *hist) & *mask) as usize];
                let p = *c >= 2;
                ctr_update(c, taken);
                *hist = ((*hist << 1) | taken as u64) & *hist_mask;
                p
            }
            Direction::Tournament {
                bim_chooser,
                gsh,
                mask,
                hist,
                hist_mask,
            } => {
                let bc = &mut bim_chooser[(h & *mask) as usize];
                let g = &mut gsh[((h ^ *hist) & *mask) as usize];
                let pb = bc[0] >= 2;
                let pg = *g >= 2;
                let use_g = bc[1] >= 2;
                if pb != pg {
                    ctr_update(&mut bc[1], pg == taken);
                }
                ctr_update(&mut bc[0], taken);
                ctr_update(g, taken);
                *hist = ((*hist << 1) | taken as u64) & *hist_mask;
                if use_g { pg } else { pb }
            }
            Direction::Tage(t) => t.predict_update(pc, taken),
        }
    }
}

/// Branch target buffer: set-associative, LRU, flat arrays.
#[derive(Clone, Debug)]
struct Btb {
    pcs: Vec<u64>,
    targets: Vec<u64>,
    stamps: Vec<u64>,
    set_mask: u64,
    ways: usize,
    clock: u64,
}

impl Btb {
    fn new(entries: u32, ways: u32) -> Btb {
        let n = entries as usize;
        Btb {
            pcs: vec![u64::MAX; n],
            targets: vec![0; n],
            stamps: vec![0; n],
            set_mask: (entries / ways) as u64 - 1,
            ways: ways as usize,
            clock: 0,
        }
    }

    /// Look up `pc`, then record `target`; returns the stored target before the update.
    #[inline(always)]
    fn lookup_update(&mut self, pc: u64, target: u64) -> Option<u64> {
        let base = ((hash_pc(pc) & self.set_mask) as usize) * self.ways;
        self.clock += 1;
        let set = base..base + self.ways;
        if let Some(w) = self.pcs[set.clone()].iter().position(|&p| p == pc) {
            let i = base + w;
            let old = self.targets[i];
            self.targets[i] = target;
            self.stamps[i] = self.clock;
            return Some(old);
        }
        let mut v = base;
        for i in set {
            if self.stamps[i] < self.stamps[v] {
                v = i;
            }
        }
        self.pcs[v] = pc;
        self.targets[v] = target;
        self.stamps[v] = self.clock;
        None
    }
}

/// Return address stack (circular; overflow overwrites the oldest entry).
#[derive(Clone, Debug)]
struct Ras {
    entries: Vec<(u64, bool)>,
    top: usize,
    depth: usize,
}

impl Ras {
    fn push(&mut self, pc: u64, len: u8) {
        self.top = (self.top + 1) % self.entries.len();
        self.entries[self.top] = if len > 0 {
            (pc + len as u64, true)
        } else {
            (pc, false)
        };
        self.depth = (self.depth + 1).min(self.entries.len());
    }
    /// Whether the popped prediction matches `target`.
    fn pop_matches(&mut self, target: u64) -> bool {
        if self.depth == 0 {
            return false;
        }
        let (v, exact) = self.entries[self.top];
        self.top = (self.top + self.entries.len() - 1) % self.entries.len();
        self.depth -= 1;
        if exact {
            v == target
        } else {
            // Call length unknown (ChampSim traces): the return lands just after the call.
            target > v && target - v <= 15
        }
    }
}

/// Direction predictor, BTB and RAS together: what the front end consults per branch.
#[derive(Clone, Debug)]
pub struct BranchUnit {
    dir: Direction,
    btb: Btb,
    ras: Ras,
    /// Counters.
    pub stats: BranchStats,
}

impl BranchUnit {
    /// Build from a configuration.
    pub fn new(c: &BpredConfig) -> BranchUnit {
        BranchUnit {
            dir: Direction::new(c),
            btb: Btb::new(c.btb_entries, c.btb_ways),
            ras: Ras {
                entries: vec![(0, false); c.ras_depth as usize],
                top: 0,
                depth: 0,
            },
            stats: BranchStats::default(),
        }
    }

    /// Predict `ins` (a branch) and train on its real outcome.
    #[inline]
    pub fn predict_update(&mut self, ins: &Instr) -> Outcome {
        // Conditional branches are nearly all of them: their path comes first, the other
        // kinds go through `predict_other`.
        if ins.branch != BranchKind::Conditional {
            return self.predict_other(ins);
        }
        self.stats.branches += 1;
        self.stats.conditional += 1;
        let taken = ins.taken;
        let p = self.dir.predict_update(ins.pc, taken);
        if p != taken {
            if taken {
                self.btb.lookup_update(ins.pc, ins.target);
            }
            self.stats.mispredicts += 1;
            Outcome::Mispredict
        } else if taken && self.btb.lookup_update(ins.pc, ins.target).is_none() {
            self.stats.btb_misses += 1;
            Outcome::BtbMiss
        } else {
            Outcome::Correct
        }
    }

    /// [`BranchUnit::predict_update`] for every kind but conditional branches.
    #[inline(never)]
    fn predict_other(&mut self, ins: &Instr) -> Outcome {
        self.stats.branches += 1;
        let target = ins.target;
        let out = match ins.branch {
            // (conditional branches never come here)
            BranchKind::None | BranchKind::Conditional => return Outcome::Correct,
            BranchKind::DirectJump | BranchKind::DirectCall => {
                if ins.branch == BranchKind::DirectCall {
                    self.ras.push(ins.pc, ins.len);
                }
                if self.btb.lookup_update(ins.pc, target).is_none() {
                    Outcome::BtbMiss
                } else {
                    Outcome::Correct
                }
            }
            BranchKind::Indirect | BranchKind::IndirectCall | BranchKind::Other => {
                if ins.branch == BranchKind::IndirectCall {
                    self.ras.push(ins.pc, ins.len);
                }
                let predicted = self.btb.lookup_update(ins.pc, target);
                if target == 0 || predicted == Some(target) {
                    Outcome::Correct
                } else {
                    Outcome::Mispredict
                }
            }
            BranchKind::Return => {
                if target == 0 || self.ras.pop_matches(target) {
                    Outcome::Correct
                } else {
                    Outcome::Mispredict
                }
            }
        };
        match out {
            Outcome::Mispredict => self.stats.mispredicts += 1,
            Outcome::BtbMiss => self.stats.btb_misses += 1,
            Outcome::Correct => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::frontend::Kind;
    use crate::frontend::synthetic::SplitMix64;

    fn cond(pc: u64, taken: bool) -> Instr {
        let mut i = Instr::new(pc, Kind::Branch);
        i.branch = BranchKind::Conditional;
        i.taken = taken;
        i.target = pc + 64;
        i
    }

    fn rate(kind: &str, pattern: impl Fn(u64) -> bool) -> f64 {
        let c = Config::build("gainestown", None, &[format!("bpred.kind={kind}")]).unwrap();
        let mut b = BranchUnit::new(&c.bpred);
        for k in 0..20_000u64 {
            b.predict_update(&cond(0x1000 + 4 * (k % 4), pattern(k)));
        }
        b.stats = BranchStats::default();
        for k in 20_000..40_000u64 {
            b.predict_update(&cond(0x1000 + 4 * (k % 4), pattern(k)));
        }
        b.stats.mispredicts as f64 / b.stats.branches as f64
    }

    #[test]
    fn always_taken_is_learned_by_all() {
        for k in ["bimodal", "gshare", "tournament", "tage"] {
            assert!(rate(k, |_| true) < 0.01, "{k}");
        }
    }

    #[test]
    fn history_predictors_learn_patterns_bimodal_cannot() {
        // per-site period-3 pattern: T T N
        let p = |k: u64| (k / 4) % 3 != 2;
        assert!(rate("bimodal", p) > 0.2);
        for k in ["gshare", "tournament", "tage"] {
            assert!(rate(k, p) < 0.02, "{k}: {}", rate(k, p));
        }
    }

    #[test]
    fn random_branches_mispredict_half_the_time() {
        for k in ["bimodal", "gshare", "tage"] {
            let mut r = SplitMix64::new(3);
            let v: Vec<bool> = (0..40_000).map(|_| r.next_u64() & 1 == 1).collect();
            let m = rate(k, |i| v[i as usize]);
            assert!((m - 0.5).abs() < 0.03, "{k}: {m}");
        }
    }

    #[test]
    fn folded_history_is_the_xor_of_its_chunks() {
        // After any sequence of pushes, a folded history holds bit j of the last `olen`
        // outcomes (j = 0 newest) at position j % clen.
        let mut r = SplitMix64::new(9);
        for (olen, clen) in [(4, 13), (37, 11), (64, 7), (255, 12), (13, 13)] {
            let mut hist: Vec<u64> = Vec::new();
            let mut comp = 0u64;
            for _ in 0..600 {
                let bit = r.next_u64() & 1;
                hist.insert(0, bit);
                let old = hist.get(olen as usize).copied().unwrap_or(0);
                comp = fold(comp, bit, old, olen % clen, clen);
                let want = hist
                    .iter()
                    .take(olen as usize)
                    .enumerate()
                    .fold(0u64, |a, (j, &b)| a ^ (b << (j as u32 % clen)));
                assert_eq!(comp, want, "olen {olen} clen {clen}");
            }
        }
    }

    #[test]
    fn returns_use_the_stack() {
        let c = Config::preset("gainestown").unwrap();
        let mut b = BranchUnit::new(&c.bpred);
        let mut call = Instr::new(0x100, Kind::Branch);
        call.branch = BranchKind::DirectCall;
        call.taken = true;
        call.target = 0x900;
        call.len = 5;
        let mut ret = Instr::new(0x950, Kind::Branch);
        ret.branch = BranchKind::Return;
        ret.taken = true;
        ret.target = 0x105;
        b.predict_update(&call);
        assert_eq!(b.predict_update(&ret), Outcome::Correct);
        assert_eq!(b.predict_update(&ret), Outcome::Mispredict);
    }
}
