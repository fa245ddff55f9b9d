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

/// Next value of a two-bit saturating counter (a `const fn`: the step tables below are built
/// at compile time).
const fn ctr_next(c: u8, up: bool) -> u8 {
    if up {
        if c < 3 { c + 1 } else { 3 }
    } else if c > 0 {
        c - 1
    } else {
        0
    }
}

/// Bit of a step table's entry saying that the prediction was wrong.
const MISS: u8 = 1 << 6;

/// One two-bit counter step as a table: index `counter | taken << 2`, entry `counter' |
/// MISS if the counter predicted the other way`. A lookup, not branches on the (often random)
/// outcome; 256 entries so that any byte indexes it without a bounds check.
const COUNTER_STEP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = (i & 3) as u8;
        let taken = (i >> 2) & 1 == 1;
        t[i] = ctr_next(c, taken) | if (c >= 2) != taken { MISS } else { 0 };
        i += 1;
    }
    t
};

/// Train a two-bit counter on `taken`; returns whether it predicted wrong.
#[inline(always)]
fn counter_step(c: &mut u8, taken: bool) -> bool {
    let e = COUNTER_STEP[(*c | (taken as u8) << 2) as usize];
    *c = e & 3;
    e & MISS != 0
}

/// The tournament's per-pc byte: bimodal counter in bits 0–1, chooser counter in bits 2–3.
const TOUR_BC: u8 = 15;
/// The tournament's gshare byte: its counter sits in bits 4–5, where the step table wants it.
const TOUR_G: u8 = 3 << 4;

/// One whole tournament step as a table. Index: `bimodal | chooser << 2 | gshare << 4 | taken
/// << 6`, the per-pc byte or-ed with the gshare byte. Entry: `bimodal' | chooser' << 2 |
/// gshare' << 4 | MISS if the chosen prediction was wrong`. The chooser moves toward gshare
/// when only gshare was right and toward bimodal when only bimodal was. 256 entries so that
/// any byte indexes it without a bounds check.
const TOURNAMENT_STEP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = (i & 3) as u8;
        let ch = ((i >> 2) & 3) as u8;
        let g = ((i >> 4) & 3) as u8;
        let taken = (i >> 6) & 1 == 1;
        let (pb, pg) = (b >= 2, g >= 2);
        let ch2 = if pb != pg {
            ctr_next(ch, pg == taken)
        } else {
            ch
        };
        let pred = if ch >= 2 { pg } else { pb };
        t[i] = ctr_next(b, taken)
            | ch2 << 2
            | ctr_next(g, taken) << 4
            | if pred != taken { MISS } else { 0 };
        i += 1;
    }
    t
};

/// [`PredictorKind`]s as const-generic parameters (an enum cannot be one), mapped from the
/// kind in [`conditional_path`] only.
const BIMODAL: u8 = 0;
const GSHARE: u8 = 1;
const TOURNAMENT: u8 = 2;
const TAGE: u8 = 3;

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
    /// The tagged tables, one after the other (`TAGE_TABLES << idx_bits` entries).
    entries: Vec<TageEntry>,
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
}

/// One entry of a tagged table: its fields side by side, so that a lookup touches one
/// place.
#[derive(Clone, Copy, Debug, Default)]
struct TageEntry {
    tag: u16,
    ctr: i8,
    useful: u8,
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
            entries: vec![TageEntry::default(); n],
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
        }
    }

    /// Out of line: the many tables would otherwise crowd the registers of the tournament
    /// and gshare paths it shares a caller with.
    #[inline(never)]
    fn predict_update(&mut self, pc: u64, taken: bool) -> bool {
        let h = hash_pc(pc);
        let mask = (1u64 << self.idx_bits) - 1;
        let mut provider = usize::MAX;
        let mut alt = usize::MAX;
        // (locals, not fields: only this call uses them)
        let mut idxs = [0usize; TAGE_TABLES];
        let mut tags = [0u16; TAGE_TABLES];
        debug_assert_eq!(self.entries.len(), TAGE_TABLES << self.idx_bits);
        for i in (0..TAGE_TABLES).rev() {
            let idx = ((h ^ (h >> self.idx_shift[i]) ^ self.fidx[i]) & mask) as usize
                + (i << self.idx_bits);
            let tag = ((h ^ self.ft1[i] ^ (self.ft2[i] << 1)) & ((1 << TAG_BITS[i]) - 1)) as u16;
            idxs[i] = idx;
            tags[i] = tag;
        }
        for i in (0..TAGE_TABLES).rev() {
            // SAFETY: `idxs[i]` is masked to `idx_bits` bits plus `i << idx_bits`, below
            // `TAGE_TABLES << idx_bits == entries.len()`. Unchecked: six lookups per branch.
            if unsafe { self.entries.get_unchecked(idxs[i]) }.tag == tags[i] {
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
            self.entries[idxs[alt]].ctr >= 0
        } else {
            base_pred
        };
        let pred;
        if provider != usize::MAX {
            let e = &mut self.entries[idxs[provider]];
            let c = e.ctr;
            let prov_pred = c >= 0;
            let weak = c == 0 || c == -1;
            pred = if weak && e.useful == 0 && self.use_alt >= 0 {
                alt_pred
            } else {
                prov_pred
            };
            if weak && e.useful == 0 && prov_pred != alt_pred {
                self.use_alt = if alt_pred == taken {
                    (self.use_alt + 1).min(7)
                } else {
                    (self.use_alt - 1).max(-8)
                };
            }
            // provider counter
            e.ctr = if taken {
                (c + 1).min(3)
            } else {
                (c - 1).max(-4)
            };
            if prov_pred != alt_pred {
                let u = &mut e.useful;
                if prov_pred == taken {
                    *u = (*u + 1).min(3);
                } else {
                    *u = u.saturating_sub(1);
                }
            }
            if alt == usize::MAX {
                counter_step(&mut self.base[bidx], taken);
            }
        } else {
            pred = base_pred;
            counter_step(&mut self.base[bidx], taken);
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
                let e = &mut self.entries[idxs[i]];
                if e.useful == 0 {
                    if seen < skip && i + 1 < TAGE_TABLES {
                        seen += 1;
                        continue;
                    }
                    e.tag = tags[i];
                    e.ctr = if taken { 0 } else { -1 };
                    done = true;
                    break;
                }
            }
            if !done {
                for &k in &idxs[start..] {
                    let e = &mut self.entries[k];
                    e.useful = e.useful.saturating_sub(1);
                }
            }
        }
        self.tick += 1;
        if self.tick.is_multiple_of(1 << 18) {
            for e in &mut self.entries {
                e.useful >>= 1;
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

/// The direction predictor: the tables of every kind in one struct, since the kind is
/// dispatched once, at construction ([`conditional_path`]), not per branch.
#[derive(Clone, Debug)]
struct Direction {
    /// Bimodal and gshare: the counters. Tournament: per pc, the bimodal and chooser counters
    /// in one byte ([`TOUR_BC`]), so one load and one store serve both. TAGE: empty.
    table: Vec<u8>,
    /// Tournament: the gshare counters, kept in bits 4–5 ([`TOUR_G`]). Empty otherwise.
    gsh: Vec<u8>,
    /// `table.len() - 1` (and `gsh.len() - 1` for the tournament).
    mask: u64,
    hist: u64,
    hist_mask: u64,
    tage: Option<Box<Tage>>,
}

impl Direction {
    fn new(c: &BpredConfig) -> Direction {
        let n = c.table_entries as usize;
        let hist_mask = if c.history_bits >= 64 {
            u64::MAX
        } else {
            (1 << c.history_bits) - 1
        };
        let (table, gsh, tage) = match c.kind {
            PredictorKind::Bimodal | PredictorKind::Gshare => (vec![2; n], Vec::new(), None),
            PredictorKind::Tournament => (vec![2 | 2 << 2; n], vec![2 << 4; n], None),
            PredictorKind::Tage => (
                Vec::new(),
                Vec::new(),
                Some(Box::new(Tage::new(c.table_entries, c.history_bits))),
            ),
        };
        Direction {
            table,
            gsh,
            mask: n as u64 - 1,
            hist: 0,
            hist_mask,
            tage,
        }
    }

    /// Predict the direction of the conditional branch at `pc`, then learn `taken`; returns
    /// whether the prediction was wrong. `KIND` is the predictor kind's code ([`TAGE`] …), fixed at
    /// compile time so each predictor gets its own straight-line code.
    #[inline(always)]
    fn mispredicts<const KIND: u8>(&mut self, pc: u64, taken: bool) -> bool {
        if KIND == TAGE {
            return self.tage_mispredicts(pc, taken);
        }
        let h = hash_pc(pc);
        let i = (h & self.mask) as usize;
        let gi = ((h ^ self.hist) & self.mask) as usize;
        self.hist = ((self.hist << 1) | taken as u64) & self.hist_mask;
        debug_assert!(self.table.len() == self.mask as usize + 1);
        if KIND == TOURNAMENT {
            debug_assert!(self.gsh.len() == self.mask as usize + 1);
            // SAFETY: both tables have `mask + 1` entries (`Direction::new`), and the indices
            // are masked. Unchecked: this is the hottest path of the branch unit.
            let (bc, g) = unsafe {
                (
                    self.table.get_unchecked_mut(i),
                    self.gsh.get_unchecked_mut(gi),
                )
            };
            let e = TOURNAMENT_STEP[(*bc | *g | (taken as u8) << 6) as usize];
            *bc = e & TOUR_BC;
            *g = e & TOUR_G;
            e & MISS != 0
        } else {
            // Bimodal and gshare: one table, indexed without or with the history.
            let k = if KIND == GSHARE { gi } else { i };
            // SAFETY: as above, `table` has `mask + 1` entries and `k` is masked.
            counter_step(unsafe { self.table.get_unchecked_mut(k) }, taken)
        }
    }

    /// The TAGE case of [`Direction::mispredicts`] (out of line).
    #[inline(never)]
    fn tage_mispredicts(&mut self, pc: u64, taken: bool) -> bool {
        match &mut self.tage {
            Some(t) => t.predict_update(pc, taken) != taken,
            None => unreachable!("a TAGE direction predictor has its tables"),
        }
    }
}

/// Branch target buffer: set-associative, LRU.
#[derive(Clone, Debug)]
struct Btb {
    /// Per set, its `ways` pcs, then their `ways` targets, then their `ways` LRU stamps (the
    /// clock at the last access; 0 = never): one base address per lookup.
    sets: Vec<u64>,
    set_mask: u64,
    ways: usize,
    clock: u64,
}

impl Btb {
    fn new(entries: u32, ways: u32) -> Btb {
        let ways = ways as usize;
        let n_sets = entries as usize / ways;
        let mut sets = vec![0; 3 * entries as usize];
        for set in sets.chunks_exact_mut(3 * ways) {
            set[..ways].fill(u64::MAX);
        }
        Btb {
            sets,
            set_mask: n_sets as u64 - 1,
            ways,
            clock: 0,
        }
    }

    /// Look up `pc`; on a hit record `target` and return the stored target before the update.
    /// A miss changes nothing but the clock: [`Btb::fill`] completes it. `W` is the number of
    /// ways when it is fixed at compile time (the search then unrolls), 0 when it is not.
    #[inline(always)]
    fn hit_update<const W: usize>(&mut self, pc: u64, target: u64) -> Option<u64> {
        let w = if W == 0 { self.ways } else { W };
        debug_assert_eq!(w, self.ways);
        let s = (hash_pc(pc) & self.set_mask) as usize * (3 * w);
        self.clock += 1;
        debug_assert!(s + 3 * w <= self.sets.len());
        // (`0..w` rather than `s..s + w`: a range that cannot overflow unrolls without
        // per-way checks)
        for k in 0..w {
            let i = s + k;
            // SAFETY: the set index is masked to `set_mask`, and `sets` holds `(set_mask + 1)
            // * 3 * ways` words (`Btb::new`), so `s + 3 * ways <= sets.len()`. Unchecked: the
            // search runs on every taken branch.
            unsafe {
                if *self.sets.get_unchecked(i) == pc {
                    let old = std::mem::replace(self.sets.get_unchecked_mut(i + w), target);
                    *self.sets.get_unchecked_mut(i + 2 * w) = self.clock;
                    return Some(old);
                }
            }
        }
        None
    }

    /// After [`Btb::hit_update`] missed: put `pc` in the least recently used way of its set
    /// (the first of equally old ones).
    #[cold]
    #[inline(never)]
    fn fill(&mut self, pc: u64, target: u64) {
        let w = self.ways;
        let s = (hash_pc(pc) & self.set_mask) as usize * (3 * w);
        let set = &mut self.sets[s..s + 3 * w];
        let (pcs, rest) = set.split_at_mut(w);
        let (targets, stamps) = rest.split_at_mut(w);
        let mut v = 0;
        for (i, &st) in stamps.iter().enumerate() {
            if st < stamps[v] {
                v = i;
            }
        }
        pcs[v] = pc;
        targets[v] = target;
        stamps[v] = self.clock;
    }

    /// Look up `pc`, then record `target`; returns the stored target before the update.
    #[inline(always)]
    fn lookup_update(&mut self, pc: u64, target: u64) -> Option<u64> {
        let old = self.hit_update::<0>(pc, target);
        if old.is_none() {
            self.fill(pc, target);
        }
        old
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
    /// The conditional-branch path for this predictor kind and BTB associativity
    /// ([`BranchUnit::conditional`] specialised): one indirect call, well predicted since
    /// it never changes, instead of tests of the kind and a loop over the ways.
    conditional: CondFn,
    dir: Direction,
    btb: Btb,
    ras: Ras,
    /// Counters.
    pub stats: BranchStats,
}

/// A specialised conditional-branch path: the unit, then the branch's pc, target and outcome
/// (plain values, not the record: a record passed through a function pointer would have to
/// live in memory in the caller).
type CondFn = fn(&mut BranchUnit, u64, u64, bool) -> Outcome;

/// The specialisation of [`BranchUnit::conditional`] for predictor kind `kind` and `ways` BTB
/// ways: the common associativities get an unrolled search.
fn conditional_path(kind: PredictorKind, ways: u32) -> CondFn {
    fn by_ways<const K: u8>(ways: u32) -> CondFn {
        match ways {
            2 => BranchUnit::conditional::<K, 2>,
            4 => BranchUnit::conditional::<K, 4>,
            8 => BranchUnit::conditional::<K, 8>,
            _ => BranchUnit::conditional::<K, 0>,
        }
    }
    match kind {
        PredictorKind::Bimodal => by_ways::<BIMODAL>(ways),
        PredictorKind::Gshare => by_ways::<GSHARE>(ways),
        PredictorKind::Tournament => by_ways::<TOURNAMENT>(ways),
        PredictorKind::Tage => by_ways::<TAGE>(ways),
    }
}

impl BranchUnit {
    /// Build from a configuration.
    pub fn new(c: &BpredConfig) -> BranchUnit {
        BranchUnit {
            conditional: conditional_path(c.kind, c.btb_ways),
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
    ///
    /// Never inlined: in the core's step it would cost registers (and spills) on every
    /// instruction for the sake of the branches; here it is two tail jumps.
    #[inline(never)]
    pub fn predict_update(&mut self, ins: &Instr) -> Outcome {
        // Conditional branches are nearly all of them: their path comes first, the other
        // kinds go through `predict_other`.
        if ins.branch != BranchKind::Conditional {
            return self.predict_other(ins);
        }
        (self.conditional)(self, ins.pc, ins.target, ins.taken)
    }

    /// [`BranchUnit::predict_update`] for a conditional branch, with the predictor kind
    /// (`KIND`, its code) and the BTB's ways (`W`, 0 = not fixed) known at compile
    /// time. Under the bimodal, gshare and tournament predictors it makes no call but a tail
    /// call on a BTB miss, so it needs no callee-saved registers.
    fn conditional<const KIND: u8, const W: usize>(
        &mut self,
        pc: u64,
        target: u64,
        taken: bool,
    ) -> Outcome {
        let miss = self.dir.mispredicts::<KIND>(pc, taken);
        self.stats.branches += 1;
        self.stats.conditional += 1;
        if miss {
            self.stats.mispredicts += 1;
            if taken && self.btb.hit_update::<W>(pc, target).is_none() {
                return self.btb_fill(pc, target, Outcome::Mispredict);
            }
            Outcome::Mispredict
        } else if taken && self.btb.hit_update::<W>(pc, target).is_none() {
            self.stats.btb_misses += 1;
            self.btb_fill(pc, target, Outcome::BtbMiss)
        } else {
            Outcome::Correct
        }
    }

    /// Complete a BTB miss of the branch at `pc` and pass `out` on (a tail call from the hot
    /// path).
    #[inline(never)]
    fn btb_fill(&mut self, pc: u64, target: u64, out: Outcome) -> Outcome {
        self.btb.fill(pc, target);
        out
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

    /// A saturating two-bit counter, spelled out.
    fn ref_train(c: &mut u8, up: bool) {
        *c = if up {
            (*c + 1).min(3)
        } else {
            c.saturating_sub(1)
        };
    }

    #[test]
    fn simple_predictors_match_a_plain_reference() {
        // Random outcomes over a few hundred pcs, with a bias per pc so that every counter
        // state and chooser move occurs; the packed tables must mispredict exactly when
        // separately kept counters do.
        for kind in ["bimodal", "gshare", "tournament"] {
            let mut over = vec![format!("bpred.kind={kind}")];
            over.push("bpred.table_entries=256".into());
            over.push("bpred.history_bits=9".into());
            let c = Config::build("gainestown", None, &over).unwrap();
            let mut b = BranchUnit::new(&c.bpred);
            let n = 256usize;
            let (mut bim, mut ch, mut gsh) = (vec![2u8; n], vec![2u8; n], vec![2u8; n]);
            let mut hist = 0u64;
            let mut r = SplitMix64::new(17);
            let mut misses = 0;
            for _ in 0..200_000 {
                let x = r.next_u64();
                let pc = 0x4000 + 4 * (x % 700);
                let taken = (x >> 20) % 8 < (x % 700) % 8;
                let h = hash_pc(pc);
                let (i, gi) = ((h as usize) % n, ((h ^ hist) as usize) % n);
                let (pb, pg) = (bim[i] >= 2, gsh[gi] >= 2);
                let want = match kind {
                    "bimodal" => pb,
                    "gshare" => pg,
                    _ => {
                        let pred = if ch[i] >= 2 { pg } else { pb };
                        if pb != pg {
                            ref_train(&mut ch[i], pg == taken);
                        }
                        pred
                    }
                };
                if kind != "gshare" {
                    ref_train(&mut bim[i], taken);
                }
                if kind != "bimodal" {
                    ref_train(&mut gsh[gi], taken);
                }
                hist = ((hist << 1) | taken as u64) & 511;
                let got = b.predict_update(&cond(pc, taken)) == Outcome::Mispredict;
                assert_eq!(got, want != taken, "{kind}");
                misses += got as u64;
            }
            assert_eq!(b.stats.mispredicts, misses);
        }
    }

    /// A set-associative LRU BTB, spelled out: per set, its entries from least to most
    /// recently used, invalid ways counting as least recently used in way order.
    struct RefBtb {
        sets: Vec<Vec<(u64, u64)>>,
        ways: usize,
    }

    impl RefBtb {
        fn lookup_update(&mut self, pc: u64, target: u64) -> Option<u64> {
            let n = self.sets.len() as u64;
            let set = &mut self.sets[(hash_pc(pc) % n) as usize];
            let old = set.iter().position(|e| e.0 == pc).map(|k| set.remove(k).1);
            if old.is_none() && set.len() == self.ways {
                set.remove(0);
            }
            set.push((pc, target));
            old
        }
    }

    #[test]
    fn btb_matches_a_plain_lru_reference() {
        // Random pcs from a small pool (so sets overflow and entries come back), random
        // targets; every associativity the specialised paths cover, and others.
        let mut r = SplitMix64::new(5);
        for (entries, ways) in [(64, 1), (64, 2), (64, 4), (128, 8), (64, 16), (32, 32)] {
            let mut btb = Btb::new(entries, ways);
            let mut rf = RefBtb {
                sets: vec![Vec::new(); (entries / ways) as usize],
                ways: ways as usize,
            };
            let pool: Vec<u64> = (0..3 * entries as u64)
                .map(|_| r.next_u64() >> 16)
                .collect();
            for step in 0..100_000 {
                let pc = pool[(r.next_u64() % pool.len() as u64) as usize];
                let target = r.next_u64() % 8;
                let want = rf.lookup_update(pc, target);
                let got = match (ways, step % 2) {
                    (4, 0) => btb.hit_update::<4>(pc, target),
                    (2, 0) => btb.hit_update::<2>(pc, target),
                    (8, 0) => btb.hit_update::<8>(pc, target),
                    _ => btb.hit_update::<0>(pc, target),
                };
                if got.is_none() {
                    btb.fill(pc, target);
                }
                assert_eq!(got, want, "{entries} entries, {ways} ways, step {step}");
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
