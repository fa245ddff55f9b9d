//! A set-associative cache: write-back, write-allocate, with pluggable replacement and MSHRs.
//!
//! Storage is two flat `Vec<u64>`s. The first holds, per set, each way's tag followed by its
//! metadata word (fill-completion time and dirty/prefetched bits), so a hit or a fill touches
//! one host cache line of it, not one for the tag and another for the metadata. The second is
//! dense:
//! per set, a one-byte fingerprint (hash) of each way's line, then the replacement state (one
//! byte per way: LRU rank or SRRIP re-reference value; or the tree-PLRU bits) — 32 bytes for a
//! 16-way set. A lookup compares eight fingerprints per word and reads full tags only for
//! candidates; an LRU update and a victim choice read only the dense array. So a miss in a
//! multi-megabyte simulated LLC touches one host cache line of a small array plus the victim's
//! tag and metadata, instead of rows of tags: this matters when the simulated LLC is bigger than the
//! host's caches. The set index is `line & (sets - 1)`.
//!
//! A hit on the most recently used line of an LRU set changes no replacement state, so such hits
//! skip the search: every cache remembers the last line it hit or filled, and a first-level cache
//! ([`Cache::with_set_mru`]) each set's most recent line.
//!
//! A line whose fill has not completed yet is present with a future ready time, so a second
//! access to a line in flight waits for it (a hit under miss) instead of counting as a fast hit.

use crate::config::Replacement;

const INVALID: u64 = u64::MAX;
const DIRTY: u64 = 1 << 56;
const PREFETCHED: u64 = 2 << 56;
const READY_MASK: u64 = (1 << 56) - 1;
/// The high bit of every byte (SWAR on eight replacement bytes per word).
const H: u64 = 0x8080_8080_8080_8080;
/// One in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;

/// Seven-bit hash of a line, kept per way (bit 7 of the byte mirrors the way's dirty bit) so that lookups compare full tags only on a match.
#[inline(always)]
fn fingerprint(line: u64) -> u64 {
    line.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57
}

/// The metadata word and the fingerprint byte of a freshly filled way (both install paths
/// write these, so the encoding lives in one place).
#[inline(always)]
fn filled_way(line: u64, ready: u64, dirty: bool, prefetch: bool) -> (u64, u64) {
    let meta = ready.min(READY_MASK)
        | if dirty { DIRTY } else { 0 }
        | if prefetch { PREFETCHED } else { 0 };
    let byte = fingerprint(line) | if dirty { 0x80 } else { 0 };
    (meta, byte)
}

/// LRU update of one set's replacement words: every rank below the touched way's ages by one,
/// the touched way becomes rank 0. Ranks are < 64, so the per-byte subtraction never borrows
/// across bytes (padding bytes past the last way age too but stay below the ranks that age them).
#[inline(always)]
fn lru_touch<const N: usize>(repl: &mut [u64; N], way: usize) {
    lru_touch_slice(repl, way)
}

/// [`lru_touch`] for any number of words.
#[inline(always)]
fn lru_touch_slice(repl: &mut [u64], way: usize) {
    let (wi, sh) = (way / 8, (way % 8) * 8);
    let r = (repl[wi] >> sh) & 0xff;
    if r != 0 {
        let sub = r * ONES;
        for x in repl.iter_mut() {
            let below = !((*x | H) - sub) & H;
            *x += below >> 7;
        }
        repl[wi] &= !(0xff << sh);
    }
}

/// The `N` words of `v` from `at`, as a fixed-size array (one bound check).
#[inline(always)]
fn fixed<const N: usize>(v: &mut [u64], at: usize) -> &mut [u64; N] {
    (&mut v[at..at + N]).try_into().expect("N words per set")
}

/// The `N` words of `v` from `at` without a bound check, for the hot paths whose set
/// arithmetic keeps `at + N` within `v` (a set's words are `N` apart from a multiple of `N`
/// below `sets * 2 N`).
#[inline(always)]
fn fixed_in<const N: usize>(v: &[u64], at: usize) -> &[u64; N] {
    debug_assert!(at + N <= v.len());
    // SAFETY: in range as above; `[u64; N]` has the layout of N consecutive `u64`s.
    unsafe { &*(v.as_ptr().add(at) as *const [u64; N]) }
}

/// [`fixed_in`], mutable.
#[inline(always)]
fn fixed_in_mut<const N: usize>(v: &mut [u64], at: usize) -> &mut [u64; N] {
    debug_assert!(at + N <= v.len());
    // SAFETY: as for `fixed_in`.
    unsafe { &mut *(v.as_mut_ptr().add(at) as *mut [u64; N]) }
}

/// Demand and prefetch counters of one cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheStats {
    /// Demand reads (loads, instruction fetches).
    pub reads: u64,
    /// Demand reads that missed.
    pub read_misses: u64,
    /// Demand writes (stores).
    pub writes: u64,
    /// Demand writes that missed.
    pub write_misses: u64,
    /// Dirty lines evicted.
    pub writebacks: u64,
    /// Prefetches issued into this cache.
    pub prefetches: u64,
    /// Prefetched lines later hit by a demand access.
    pub useful_prefetches: u64,
    /// Cycles demand misses waited for a free MSHR.
    pub mshr_wait_cycles: u64,
}

impl CacheStats {
    /// Add another cache's counters (slices of one shared level, say).
    pub fn add(&mut self, o: &CacheStats) {
        self.reads += o.reads;
        self.read_misses += o.read_misses;
        self.writes += o.writes;
        self.write_misses += o.write_misses;
        self.writebacks += o.writebacks;
        self.prefetches += o.prefetches;
        self.useful_prefetches += o.useful_prefetches;
        self.mshr_wait_cycles += o.mshr_wait_cycles;
    }

    /// All demand accesses.
    pub fn accesses(&self) -> u64 {
        self.reads + self.writes
    }
    /// All demand misses.
    pub fn misses(&self) -> u64 {
        self.read_misses + self.write_misses
    }
}

/// One set-associative cache (or TLB, with pages as lines).
#[derive(Clone, Debug)]
pub struct Cache {
    name: &'static str,
    set_mask: u64,
    ways: usize,
    /// Words of replacement state per set (`ways.div_ceil(8)`).
    repl_words: usize,
    /// The high bit of each byte of the last fingerprint/replacement word that belongs to a
    /// way (the fixed-size paths ignore padding bytes with it instead of a bound check per
    /// candidate).
    last_bits: u64,
    stride: usize,
    latency: u32,
    data: Vec<u64>,
    /// Per set, `repl_words` words of one-byte line hashes (see `find`) followed by
    /// `repl_words` words of replacement state: everything a lookup, an LRU update and a victim
    /// choice read, in one dense array.
    fps: Vec<u64>,
    policy: Replacement,
    rng: u64,
    mshr: Vec<u64>,
    /// Last line hit and its way's tag index: a repeated hit on the most recently used line
    /// changes no replacement state, so it skips the set scan.
    last: (u64, usize),
    /// Per set, its most recently used line and that line's tag index, or `INVALID` — only
    /// for a first-level cache (see [`Cache::with_set_mru`]; empty otherwise), and read only
    /// when its sets are LRU ones.
    /// A hit on a set's most recent line changes no replacement state, so it skips the
    /// fingerprint search: instruction fetches move from line to line and revisit loops'
    /// lines, and data accesses alternate between lines of different sets, so most hits are
    /// on their set's most recent line but not on the last line accessed.
    mru: Vec<(u64, usize)>,
    /// Which code path serves lookups and fills (chosen once, from policy and ways).
    shape: Shape,
    /// `ways - 1` in every byte: the LRU victim's rank.
    lru_want: u64,
    /// One in each byte of the last replacement word that belongs to a way.
    last_ones: u64,
    /// Counters.
    pub stats: CacheStats,
}

/// The code path of a cache, fixed at construction so that an operation dispatches once
/// instead of testing policy and set width at every step: LRU sets of one or two words of
/// replacement state (up to 16 ways: every LRU level of the presets) get const-generic paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// LRU, up to 8 ways.
    Lru1,
    /// LRU, 9 to 16 ways.
    Lru2,
    /// Any other policy or associativity.
    General,
}

/// What a fill pushed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Victim {
    /// The evicted line.
    pub line: u64,
    /// Whether it was dirty (needs a writeback).
    pub dirty: bool,
}

impl Cache {
    /// A cache of `sets` × `ways` lines; `sets` must be a power of two and `ways` at most 64
    /// (checked by the configuration).
    pub fn new(
        name: &'static str,
        sets: u64,
        ways: u32,
        latency: u32,
        replacement: Replacement,
        mshrs: u32,
    ) -> Cache {
        assert!(
            sets.is_power_of_two() && (1..=64).contains(&ways),
            "validated by Config"
        );
        let w = ways as usize;
        let repl_words = w.div_ceil(8);
        let stride = 2 * w;
        let mut data = vec![0u64; sets as usize * stride];
        for way in data.chunks_exact_mut(2) {
            way[0] = INVALID;
        }
        let mut fps = vec![0u64; sets as usize * 2 * repl_words];
        for set in 0..sets as usize {
            for way in 0..w {
                let init = match replacement {
                    Replacement::Lru => way as u64, // ranks form a permutation
                    Replacement::Srrip => 3,
                    _ => 0,
                };
                fps[(2 * set + 1) * repl_words + way / 8] |= init << ((way % 8) * 8);
            }
        }
        let last_bits = if w.is_multiple_of(8) {
            H
        } else {
            H & ((1u64 << (8 * (w % 8))) - 1)
        };
        let shape = match (replacement, repl_words) {
            (Replacement::Lru, 1) => Shape::Lru1,
            (Replacement::Lru, 2) => Shape::Lru2,
            _ => Shape::General,
        };
        Cache {
            name,
            set_mask: sets - 1,
            ways: w,
            repl_words,
            last_bits,
            shape,
            lru_want: (w as u64 - 1) * ONES,
            last_ones: last_bits >> 7,
            stride,
            latency,
            data,
            fps,
            policy: replacement,
            rng: 0x2545_f491_4f6c_dd1d,
            mshr: vec![0; mshrs.max(1) as usize],
            last: (INVALID, 0),
            mru: Vec::new(),
            stats: CacheStats::default(),
        }
    }

    /// Build from a cache configuration (64-byte lines).
    pub fn from_config(name: &'static str, c: &crate::config::CacheConfig) -> Cache {
        let lines = c.size.0 / crate::config::LINE_BYTES;
        Cache::new(
            name,
            lines / c.ways as u64,
            c.ways,
            c.latency,
            c.replacement,
            c.mshrs,
        )
    }

    /// Keep each set's most recent line (a first-level cache: see `mru`; it serves lookups
    /// when the sets are LRU ones of up to 16 ways). Such a cache is then accessed through
    /// [`Cache::access_mru`] and filled through [`Cache::fill_absent_mru`] only.
    pub fn with_set_mru(mut self) -> Cache {
        self.mru = vec![(INVALID, 0); self.set_mask as usize + 1];
        self
    }

    /// The cache's name ("l1d", …).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Access latency in cycles.
    #[inline]
    pub fn latency(&self) -> u32 {
        self.latency
    }

    /// `data[i]` for an index that set arithmetic keeps in range (a set base plus twice a way,
    /// plus one for the metadata word, or the `last` index): the hot paths skip the bound check.
    #[inline(always)]
    fn tag_at(&self, i: usize) -> u64 {
        debug_assert!(i < self.data.len());
        // SAFETY: callers pass `set * stride + k` with set < sets and k < stride = 2 ways.
        unsafe { *self.data.get_unchecked(i) }
    }

    /// [`Cache::tag_at`], for writing.
    #[inline(always)]
    fn tag_at_mut(&mut self, i: usize) -> &mut u64 {
        debug_assert!(i < self.data.len());
        // SAFETY: as for `tag_at`.
        unsafe { self.data.get_unchecked_mut(i) }
    }

    #[inline]
    fn base(&self, line: u64) -> usize {
        ((line & self.set_mask) as usize) * self.stride
    }

    /// Index in `fps` of the replacement words of `line`'s set.
    #[inline]
    fn rbase(&self, line: u64) -> usize {
        (2 * (line & self.set_mask) as usize + 1) * self.repl_words
    }

    /// (set base, way) of `line` if present.
    #[inline(always)]
    fn find(&self, line: u64) -> Option<(usize, usize)> {
        // Compare the set's one-byte fingerprints eight at a time and read full tags only for
        // candidates: a miss in a large cache then touches a small, host-cache-resident array
        // instead of the tags.
        let set = (line & self.set_mask) as usize;
        let b = set * self.stride;
        let want = fingerprint(line) * ONES;
        match self.repl_words {
            1 => return self.find_in::<1>(set, b, want, line),
            2 => return self.find_in::<2>(set, b, want, line),
            _ => {}
        }
        let f = 2 * set * self.repl_words;
        for (k, &x) in self.fps[f..f + self.repl_words].iter().enumerate() {
            let y = (x & !H) ^ want;
            // every zero byte of `y` is flagged (plus, rarely, a byte above one): candidates
            let mut m = y.wrapping_sub(ONES) & !y & H;
            while m != 0 {
                let w = 8 * k + (m.trailing_zeros() / 8) as usize;
                if w < self.ways && self.data[b + 2 * w] == line {
                    return Some((b, w));
                }
                m &= m - 1;
            }
        }
        None
    }

    /// [`Cache::find`] for sets of `N` fingerprint words (up to `8 N` ways): the loops unroll
    /// and the words are read without per-word bound checks.
    #[inline(always)]
    fn find_in<const N: usize>(
        &self,
        set: usize,
        b: usize,
        want: u64,
        line: u64,
    ) -> Option<(usize, usize)> {
        let f = 2 * set * N;
        let words: &[u64; N] = fixed_in(&self.fps, f);
        for (k, &x) in words.iter().enumerate() {
            let y = (x & !H) ^ want;
            // padding bytes past the last way are masked out, so `w < ways`
            let valid = if k == N - 1 { self.last_bits } else { H };
            let mut m = y.wrapping_sub(ONES) & !y & valid;
            while m != 0 {
                let w = 8 * k + (m.trailing_zeros() / 8) as usize;
                if self.tag_at(b + 2 * w) == line {
                    return Some((b, w));
                }
                m &= m - 1;
            }
        }
        None
    }

    /// Whether `line` is present (no side effects).
    #[inline]
    pub fn contains(&self, line: u64) -> bool {
        self.find(line).is_some()
    }

    #[inline]
    fn rbyte(&self, rb: usize, w: usize) -> u8 {
        (self.fps[rb + w / 8] >> ((w % 8) * 8)) as u8
    }

    #[inline]
    fn set_rbyte(&mut self, rb: usize, w: usize, v: u8) {
        let i = rb + w / 8;
        let sh = (w % 8) * 8;
        self.fps[i] = (self.fps[i] & !(0xff << sh)) | ((v as u64) << sh);
    }

    #[inline(always)]
    fn touch(&mut self, rb: usize, way: usize, fill: bool) {
        if self.policy == Replacement::Lru {
            match self.repl_words {
                1 => lru_touch::<1>(fixed(&mut self.fps, rb), way),
                2 => lru_touch::<2>(fixed(&mut self.fps, rb), way),
                _ => lru_touch_slice(&mut self.fps[rb..rb + self.repl_words], way),
            }
        } else {
            self.touch_other(rb, way, fill);
        }
    }

    #[inline(never)]
    fn touch_other(&mut self, rb: usize, way: usize, fill: bool) {
        match self.policy {
            Replacement::Lru => unreachable!("handled by touch"),
            Replacement::TreePlru => {
                let mut bits = self.fps[rb];
                // Point every node on the path away from `way`.
                let mut node = 1usize;
                let mut span = self.ways;
                let mut lo = 0usize;
                while span > 1 {
                    span /= 2;
                    if way >= lo + span {
                        bits &= !(1 << node);
                        lo += span;
                        node = 2 * node + 1;
                    } else {
                        bits |= 1 << node;
                        node *= 2;
                    }
                }
                self.fps[rb] = bits;
            }
            Replacement::Srrip => self.set_rbyte(rb, way, if fill { 2 } else { 0 }),
            Replacement::Random => {}
        }
    }

    #[inline(always)]
    fn victim_way(&mut self, b: usize, rb: usize) -> usize {
        let ways = self.ways;
        if self.policy == Replacement::Lru {
            // A way is invalid until its first fill, and a way never touched keeps the highest
            // ranks (aging only raises ranks below the touched one), so while any way is
            // invalid the least recently used way is invalid: no scan for invalid ways needed.
            // Find the byte holding rank `ways - 1`, eight ranks per word.
            let want = (ways as u64 - 1) * ONES;
            match self.repl_words {
                1 => return self.lru_victim::<1>(rb, want),
                2 => return self.lru_victim::<2>(rb, want),
                _ => {}
            }
            for (k, &x) in self.fps[rb..rb + self.repl_words].iter().enumerate() {
                let y = x ^ want;
                let mut zero = y.wrapping_sub(ONES) & !y & H;
                if ways < 8 * (k + 1) {
                    // padding bytes beyond the last way carry no rank
                    zero &= (1u64 << (8 * (ways - 8 * k))) - 1;
                }
                if zero != 0 {
                    return 8 * k + (zero.trailing_zeros() / 8) as usize;
                }
            }
            return 0;
        }
        if let Some(w) = (0..ways).find(|&w| self.data[b + 2 * w] == INVALID) {
            return w;
        }
        match self.policy {
            Replacement::Lru => unreachable!("handled above"),
            Replacement::TreePlru => {
                let bits = self.fps[rb];
                let mut node = 1usize;
                let mut span = ways;
                let mut lo = 0usize;
                while span > 1 {
                    span /= 2;
                    // bit set = the left half was used more recently → go right
                    if bits & (1 << node) != 0 {
                        lo += span;
                        node = 2 * node + 1;
                    } else {
                        node *= 2;
                    }
                }
                lo
            }
            Replacement::Srrip => loop {
                if let Some(w) = (0..ways).find(|&w| self.rbyte(rb, w) >= 3) {
                    break w;
                }
                for w in 0..ways {
                    let x = self.rbyte(rb, w);
                    self.set_rbyte(rb, w, x + 1);
                }
            },
            Replacement::Random => {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                (self.rng % ways as u64) as usize
            }
        }
    }

    /// The way holding LRU rank `ways - 1` (`want` in every byte), for sets of `N` words.
    #[inline(always)]
    fn lru_victim<const N: usize>(&self, rb: usize, want: u64) -> usize {
        let words: &[u64; N] = fixed_in(&self.fps, rb);
        for (k, &x) in words.iter().enumerate() {
            let y = x ^ want;
            let valid = if k == N - 1 { self.last_bits } else { H };
            let zero = y.wrapping_sub(ONES) & !y & valid;
            if zero != 0 {
                return 8 * k + (zero.trailing_zeros() / 8) as usize;
            }
        }
        0
    }

    /// A demand hit on the line whose tag sits at `ti` (set base + 2 way; its metadata word
    /// follows): a prefetched line's first use counts as useful, a write marks it dirty.
    /// Returns the line's ready time.
    #[inline(always)]
    fn hit(&mut self, line: u64, ti: usize, write: bool) -> u64 {
        let mi = ti + 1;
        let mut meta = self.tag_at(mi);
        if meta & PREFETCHED != 0 {
            meta &= !PREFETCHED;
            self.stats.useful_prefetches += 1;
        }
        if write && meta & DIRTY == 0 {
            // (the mirrored fingerprint bit is already set when the line is dirty)
            meta |= DIRTY;
            self.mark_dirty(line, (ti - self.base(line)) / 2);
        }
        *self.tag_at_mut(mi) = meta;
        meta & READY_MASK
    }

    /// Demand lookup. On a hit returns the time the line's data is there (its fill time) and
    /// updates replacement state; a write marks the line dirty. Counts the access.
    #[inline(always)]
    pub fn access(&mut self, line: u64, write: bool) -> Option<u64> {
        self.count_access(write);
        let (last_line, ti) = self.last;
        if last_line == line && self.tag_at(ti) == line {
            return Some(self.hit(line, ti, write));
        }
        self.search(line, write)
    }

    /// Count a demand access.
    #[inline(always)]
    fn count_access(&mut self, write: bool) {
        if write {
            self.stats.writes += 1;
        } else {
            self.stats.reads += 1;
        }
    }

    /// [`Cache::access`] without the last-line check, for a level behind another cache
    /// (L2, LLC): the level above keeps the lines it just got, so such a level is rarely
    /// asked for the same line twice in a row, and the check would only cost. (A hit still
    /// becomes the last line, so the two kinds of lookup can be mixed.)
    #[inline(always)]
    pub fn access_behind(&mut self, line: u64, write: bool) -> Option<u64> {
        self.count_access(write);
        self.search(line, write)
    }

    /// The set search of a demand access (already counted); counts a miss.
    #[inline(always)]
    fn search(&mut self, line: u64, write: bool) -> Option<u64> {
        let hit = match self.shape {
            Shape::Lru1 => self.lookup_lru::<1>(line, write),
            Shape::Lru2 => self.lookup_lru::<2>(line, write),
            Shape::General => self.lookup_general(line, write),
        };
        if hit.is_none() {
            self.count_miss(write);
        }
        hit
    }

    /// Count a demand miss.
    #[inline(always)]
    fn count_miss(&mut self, write: bool) {
        if write {
            self.stats.write_misses += 1;
        } else {
            self.stats.read_misses += 1;
        }
    }

    /// The words of LRU state per set when the cache takes a const-generic LRU path (1 or
    /// 2: see [`Cache::access_behind_lru`]), or 0 for the general path. A caller that tests
    /// this once can then use the `_lru` operations without a dispatch at each of them.
    #[inline(always)]
    pub fn lru_words(&self) -> usize {
        match self.shape {
            Shape::Lru1 => 1,
            Shape::Lru2 => 2,
            Shape::General => 0,
        }
    }

    /// [`Cache::access_behind`] for a cache whose [`Cache::lru_words`] is `N` (checked in
    /// debug builds only).
    #[inline(always)]
    pub fn access_behind_lru<const N: usize>(&mut self, line: u64, write: bool) -> Option<u64> {
        debug_assert_eq!(self.lru_words(), N, "{}", self.name);
        self.count_access(write);
        let hit = self.lookup_lru::<N>(line, write);
        if hit.is_none() {
            self.count_miss(write);
        }
        hit
    }

    /// [`Cache::probe`] for a cache whose [`Cache::lru_words`] is `N`.
    #[inline(always)]
    pub fn probe_lru<const N: usize>(&mut self, line: u64, write: bool) -> Option<u64> {
        debug_assert_eq!(self.lru_words(), N, "{}", self.name);
        let set = (line & self.set_mask) as usize;
        let b = set * self.stride;
        let (_, w) = self.find_in::<N>(set, b, fingerprint(line) * ONES, line)?;
        self.probed(line, b, w, write)
    }

    /// [`Cache::fill_absent`] for a cache whose [`Cache::lru_words`] is `N`.
    #[inline(always)]
    pub fn fill_absent_lru<const N: usize>(
        &mut self,
        line: u64,
        ready: u64,
        dirty: bool,
        prefetch: bool,
    ) -> Option<Victim> {
        debug_assert_eq!(self.lru_words(), N, "{}", self.name);
        debug_assert!(
            self.find(line).is_none(),
            "{}: line {line:#x} present",
            self.name
        );
        self.install_lru::<N>(line, ready, dirty, prefetch, false)
    }

    /// A read from the level above at a level behind it: a prefetch probes (neither counted nor
    /// a replacement update), a demand read is an [`Cache::access_behind`].
    #[inline(always)]
    pub fn read_behind(&mut self, line: u64, prefetch: bool) -> Option<u64> {
        if prefetch {
            self.probe(line, false)
        } else {
            self.access_behind(line, false)
        }
    }

    /// [`Cache::read_behind`] for a cache whose [`Cache::lru_words`] is `N`.
    #[inline(always)]
    pub fn read_behind_lru<const N: usize>(&mut self, line: u64, prefetch: bool) -> Option<u64> {
        if prefetch {
            self.probe_lru::<N>(line, false)
        } else {
            self.access_behind_lru::<N>(line, false)
        }
    }

    /// Take a line written back from the level above: mark it dirty where present, else install
    /// it dirty; returns the dirty victim the install displaced. `lru` says the cache's
    /// [`Cache::lru_words`] is `N` (the caller tested it once), so the fixed LRU paths serve.
    #[inline(always)]
    pub fn absorb_writeback<const N: usize>(
        &mut self,
        line: u64,
        now: u64,
        lru: bool,
    ) -> Option<Victim> {
        if lru {
            match self.probe_lru::<N>(line, true) {
                Some(_) => None,
                None => self.fill_absent_lru::<N>(line, now, true, false),
            }
        } else {
            match self.probe(line, true) {
                Some(_) => None,
                None => self.fill_absent(line, now, true, false),
            }
        }
    }

    /// [`Cache::access`] for a cache built [`Cache::with_set_mru`]: a hit on the set's most
    /// recent line needs no search and no replacement update.
    #[inline(always)]
    pub fn access_mru(&mut self, line: u64, write: bool) -> Option<u64> {
        match self.shape {
            Shape::Lru1 => self.access_mru_in::<1>(line, write),
            Shape::Lru2 => self.access_mru_in::<2>(line, write),
            Shape::General => self.access(line, write),
        }
    }

    /// [`Cache::access_mru`] for LRU sets of `N` words.
    #[inline(always)]
    fn access_mru_in<const N: usize>(&mut self, line: u64, write: bool) -> Option<u64> {
        self.count_access(write);
        let set = (line & self.set_mask) as usize;
        debug_assert!(set < self.mru.len());
        // SAFETY: `with_set_mru` gave the cache one entry per set.
        let (mru_line, ti) = unsafe { *self.mru.get_unchecked(set) };
        if mru_line == line {
            // (every fill and invalidation of the cache keeps `mru` true, so no tag check)
            debug_assert_eq!(self.tag_at(ti), line);
            return Some(self.hit(line, ti, write));
        }
        let hit = self.lookup_lru::<N>(line, write);
        if hit.is_some() {
            // SAFETY: as above.
            unsafe { *self.mru.get_unchecked_mut(set) = self.last };
        } else {
            self.count_miss(write);
        }
        hit
    }

    /// [`Cache::fill_absent`] for a cache built [`Cache::with_set_mru`]: the filled line
    /// becomes its set's most recent one.
    #[inline(always)]
    pub fn fill_absent_mru(
        &mut self,
        line: u64,
        ready: u64,
        dirty: bool,
        prefetch: bool,
    ) -> Option<Victim> {
        let v = self.fill_absent(line, ready, dirty, prefetch);
        let set = (line & self.set_mask) as usize;
        debug_assert!(set < self.mru.len());
        // SAFETY: `with_set_mru` gave the cache one entry per set. The install left `last` at
        // the filled line and its tag index.
        unsafe { *self.mru.get_unchecked_mut(set) = self.last };
        v
    }

    /// [`Cache::access`] past the last-line check, for LRU sets of `N` words.
    #[inline(always)]
    fn lookup_lru<const N: usize>(&mut self, line: u64, write: bool) -> Option<u64> {
        let set = (line & self.set_mask) as usize;
        let b = set * self.stride;
        let (_, w) = self.find_in::<N>(set, b, fingerprint(line) * ONES, line)?;
        self.last = (line, b + 2 * w);
        let ready = self.hit(line, b + 2 * w, write);
        lru_touch::<N>(fixed_in_mut(&mut self.fps, (2 * set + 1) * N), w);
        Some(ready)
    }

    /// [`Cache::access`] past the last-line check, any policy and associativity.
    #[inline(never)]
    fn lookup_general(&mut self, line: u64, write: bool) -> Option<u64> {
        let (b, w) = self.find(line)?;
        self.last = (line, b + 2 * w);
        let ready = self.hit(line, b + 2 * w, write);
        self.touch(self.rbase(line), w, false);
        Some(ready)
    }

    /// Lookup without counting or replacement update (used by the hierarchy for writebacks and
    /// prefetch filtering); marks dirty when `write`.
    #[inline]
    pub fn probe(&mut self, line: u64, write: bool) -> Option<u64> {
        let (b, w) = self.find(line)?;
        self.probed(line, b, w, write)
    }

    /// The rest of a probe that found `line` in way `w` of the set at `b`.
    #[inline(always)]
    fn probed(&mut self, line: u64, b: usize, w: usize, write: bool) -> Option<u64> {
        let mi = b + 2 * w + 1;
        if write {
            *self.tag_at_mut(mi) |= DIRTY;
            self.mark_dirty(line, w);
        }
        Some(self.tag_at(mi) & READY_MASK)
    }

    /// Install `line` (ready at `ready`), evicting a victim when the set is full.
    pub fn fill(&mut self, line: u64, ready: u64, dirty: bool, prefetch: bool) -> Option<Victim> {
        let ready = ready.min(READY_MASK);
        if let Some((b, w)) = self.find(line) {
            let mi = b + 2 * w + 1;
            let meta = self.data[mi];
            let r = (meta & READY_MASK).min(ready);
            self.data[mi] = (meta & !READY_MASK) | r | if dirty { DIRTY } else { 0 };
            if dirty {
                self.mark_dirty(line, w);
            }
            return None;
        }
        self.install(line, ready, dirty, prefetch, true)
    }

    /// [`Cache::fill`] for a line the caller knows is not present (it just missed, and nothing
    /// filled this cache since): skips the lookup, and returns the victim only when it is dirty
    /// (a clean victim's tag and metadata are never read — on a big cache they are likely
    /// host cache misses).
    #[inline]
    pub fn fill_absent(
        &mut self,
        line: u64,
        ready: u64,
        dirty: bool,
        prefetch: bool,
    ) -> Option<Victim> {
        debug_assert!(
            self.find(line).is_none(),
            "{}: line {line:#x} present",
            self.name
        );
        self.install(line, ready, dirty, prefetch, false)
    }

    /// Put absent `line` in its set's victim way; returns the victim (clean ones only when
    /// `clean_victims`).
    #[inline(always)]
    fn install(
        &mut self,
        line: u64,
        ready: u64,
        dirty: bool,
        prefetch: bool,
        clean_victims: bool,
    ) -> Option<Victim> {
        match self.shape {
            Shape::Lru1 => self.install_lru::<1>(line, ready, dirty, prefetch, clean_victims),
            Shape::Lru2 => self.install_lru::<2>(line, ready, dirty, prefetch, clean_victims),
            Shape::General => self.install_general(line, ready, dirty, prefetch, clean_victims),
        }
    }

    /// [`Cache::install`] for LRU sets of `N` words: the victim is the way of the highest
    /// rank, so after the fill every other way has aged by one and the victim has rank 0.
    #[inline(always)]
    fn install_lru<const N: usize>(
        &mut self,
        line: u64,
        ready: u64,
        dirty: bool,
        prefetch: bool,
        clean_victims: bool,
    ) -> Option<Victim> {
        let set = (line & self.set_mask) as usize;
        let b = set * self.stride;
        let f = 2 * set * N;
        let w = self.lru_victim::<N>(f + N, self.lru_want);
        let sh = (w % 8) * 8;
        let fpw = fixed_in::<N>(&self.fps, f)[w / 8];
        // The victim's dirty bit is mirrored in its fingerprint byte (bit 7).
        let was_dirty = (fpw >> sh) & 0x80 != 0;
        let ti = b + 2 * w;
        // The old tag is read only when it is reported (`evicted` needs it then).
        let victim = if was_dirty || clean_victims {
            self.evicted(self.tag_at(ti), was_dirty, clean_victims)
        } else {
            None
        };
        let (meta, byte) = filled_way(line, ready, dirty, prefetch);
        *self.tag_at_mut(ti) = line;
        *self.tag_at_mut(ti + 1) = meta;
        fixed_in_mut::<N>(&mut self.fps, f)[w / 8] = (fpw & !(0xff << sh)) | (byte << sh);
        self.last = (line, ti);
        if prefetch {
            self.stats.prefetches += 1;
        }
        let last_ones = self.last_ones;
        let repl = fixed_in_mut::<N>(&mut self.fps, f + N);
        for (k, x) in repl.iter_mut().enumerate() {
            *x += if k == N - 1 { last_ones } else { ONES };
        }
        repl[w / 8] &= !(0xff << sh);
        victim
    }

    /// [`Cache::install`] for any policy and associativity.
    #[inline(never)]
    fn install_general(
        &mut self,
        line: u64,
        ready: u64,
        dirty: bool,
        prefetch: bool,
        clean_victims: bool,
    ) -> Option<Victim> {
        let b = self.base(line);
        let rb = self.rbase(line);
        let w = self.victim_way(b, rb);
        // The victim's dirty bit is mirrored in its fingerprint byte (bit 7).
        let fi = rb - self.repl_words + w / 8;
        let sh = (w % 8) * 8;
        let was_dirty = (self.fps[fi] >> sh) & 0x80 != 0;
        let ti = b + 2 * w;
        let victim = self.evicted(self.data[ti], was_dirty, clean_victims);
        debug_assert_eq!(
            was_dirty,
            self.data[ti] != INVALID && self.data[ti + 1] & DIRTY != 0
        );
        let (meta, byte) = filled_way(line, ready, dirty, prefetch);
        self.data[ti] = line;
        self.fps[fi] = (self.fps[fi] & !(0xff << sh)) | (byte << sh);
        self.last = (line, ti);
        self.data[ti + 1] = meta;
        if prefetch {
            self.stats.prefetches += 1;
        }
        self.touch(rb, w, true);
        victim
    }

    /// What evicting `old` (a tag, possibly `INVALID`) reports: a dirty line always (and it
    /// counts as a writeback), a clean valid one only when `clean_victims`.
    #[inline(always)]
    fn evicted(&mut self, old: u64, was_dirty: bool, clean_victims: bool) -> Option<Victim> {
        if was_dirty {
            self.stats.writebacks += 1;
            Some(Victim {
                line: old,
                dirty: true,
            })
        } else if clean_victims && old != INVALID {
            Some(Victim {
                line: old,
                dirty: false,
            })
        } else {
            None
        }
    }

    /// Mirror a way's dirty bit into its fingerprint byte.
    #[inline]
    fn mark_dirty(&mut self, line: u64, w: usize) {
        let i = 2 * (line & self.set_mask) as usize * self.repl_words + w / 8;
        self.fps[i] |= 0x80 << ((w % 8) * 8);
    }

    /// Reserve an MSHR for a miss that wants to start at `now`: returns (slot, start time);
    /// the start is delayed to the earliest completion when all MSHRs are busy.
    #[inline]
    pub fn mshr_acquire(&mut self, now: u64) -> (usize, u64) {
        // Most misses find the first MSHR free (they rarely overlap much): no scan then.
        if self.mshr_first() <= now {
            return (0, now);
        }
        let (mut best, mut start) = (0, u64::MAX);
        for (i, &done) in self.mshr.iter().enumerate() {
            if done <= now {
                return (i, now);
            }
            if done < start {
                (best, start) = (i, done);
            }
        }
        self.stats.mshr_wait_cycles += start - now;
        (best, start)
    }

    /// Whether an MSHR is free at `now` (prefetches only use idle MSHRs).
    #[inline]
    pub fn mshr_free(&self, now: u64) -> Option<usize> {
        if self.mshr_first() <= now {
            return Some(0);
        }
        self.mshr.iter().position(|&d| d <= now)
    }

    /// When the first MSHR is free.
    #[inline(always)]
    fn mshr_first(&self) -> u64 {
        debug_assert!(!self.mshr.is_empty());
        // SAFETY: `new` allocates at least one MSHR and `mshr` never changes length.
        unsafe { *self.mshr.get_unchecked(0) }
    }

    /// Record when the miss held in `slot` completes.
    #[inline]
    pub fn mshr_release(&mut self, slot: usize, done: u64) {
        debug_assert!(slot < self.mshr.len());
        // SAFETY: `slot` comes from `mshr_acquire` or `mshr_free`, so it is an index of `mshr`,
        // whose length never changes.
        unsafe { *self.mshr.get_unchecked_mut(slot) = done };
    }

    /// Clear the counters (contents stay).
    pub fn reset_stats(&mut self) {
        self.stats = CacheStats::default();
    }

    /// What [`Cache::invalidate`] would return, without side effects: whether `line` is
    /// present and dirty, or `None` when it is not present.
    pub fn peek_dirty(&self, line: u64) -> Option<bool> {
        let (b, w) = self.find(line)?;
        Some(self.data[b + 2 * w + 1] & DIRTY != 0)
    }

    /// Remove `line` (a coherence invalidation); returns whether it was present and dirty,
    /// or `None` when it was not present. Replacement state is left as it is: the freed way
    /// is the first victim candidate since it is invalid.
    pub fn invalidate(&mut self, line: u64) -> Option<bool> {
        let (b, w) = self.find(line)?;
        let mi = b + 2 * w + 1;
        let dirty = self.data[mi] & DIRTY != 0;
        self.data[mi - 1] = INVALID;
        self.data[mi] = 0;
        // Clear the way's fingerprint byte, and with it the mirrored dirty bit.
        let rb = self.rbase(line);
        let fi = rb - self.repl_words + w / 8;
        self.fps[fi] &= !(0xff << ((w % 8) * 8));
        if self.policy == Replacement::Lru {
            // The LRU victim search relies on invalid ways holding the highest ranks: move the
            // freed way to the bottom of the order.
            let ranks = &mut self.fps[rb..rb + self.repl_words];
            let rank_of = |ranks: &[u64], w: usize| (ranks[w / 8] >> ((w % 8) * 8)) & 0xff;
            let mine = rank_of(ranks, w);
            for other in 0..self.ways {
                let r = rank_of(ranks, other);
                if r > mine {
                    let sh = (other % 8) * 8;
                    ranks[other / 8] = (ranks[other / 8] & !(0xff << sh)) | ((r - 1) << sh);
                }
            }
            let sh = (w % 8) * 8;
            ranks[w / 8] = (ranks[w / 8] & !(0xff << sh)) | ((self.ways as u64 - 1) << sh);
        }
        if self.last.1 == b + 2 * w {
            self.last = (INVALID, 0);
        }
        if let Some(m) = self.mru.get_mut((line & self.set_mask) as usize)
            && m.1 == b + 2 * w
        {
            *m = (INVALID, 0);
        }
        Some(dirty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(c: &mut Cache, line: u64) {
        if c.access(line, false).is_none() {
            c.fill(line, 0, false, false);
        }
    }

    #[test]
    fn an_invalidated_line_is_gone_clean_and_its_way_is_refilled_first() {
        let mut c = Cache::new("t", 1, 4, 1, Replacement::Lru, 1);
        for l in 0..4 {
            filled(&mut c, l);
        }
        assert!(c.access(2, true).is_some()); // dirty, most recent
        assert_eq!(c.invalidate(2), Some(true));
        assert_eq!(c.invalidate(2), None);
        assert!(c.access(2, false).is_none());
        // The freed way takes the next fill; nothing valid is evicted, nothing written back.
        assert!(c.fill(7, 0, false, false).is_none());
        for l in [0, 1, 3, 7] {
            assert!(c.access(l, false).is_some(), "line {l}");
        }
        assert_eq!(c.stats.writebacks, 0);
    }

    #[test]
    fn lru_evicts_least_recent() {
        let mut c = Cache::new("t", 1, 4, 1, Replacement::Lru, 1);
        for l in 0..4 {
            filled(&mut c, l);
        }
        filled(&mut c, 0); // 1 is now LRU
        filled(&mut c, 9);
        assert!(!c.contains(1));
        assert!(c.contains(0) && c.contains(2) && c.contains(3) && c.contains(9));
    }

    #[test]
    fn lru_matches_a_reference_list_for_every_associativity() {
        // ways that fill whole replacement words and ways that leave padding bytes
        for ways in [1u32, 2, 3, 4, 6, 8, 12, 16, 20, 64] {
            let mut c = Cache::new("t", 1, ways, 1, Replacement::Lru, 1);
            let mut reference: Vec<u64> = Vec::new(); // most recent first
            let mut x = 12345u64;
            for _ in 0..4000 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let line = (x >> 33) % (ways as u64 + 3);
                let hit = c.access(line, false).is_some();
                assert_eq!(hit, reference.contains(&line), "{ways} ways, line {line}");
                if hit {
                    reference.retain(|&l| l != line);
                } else {
                    let v = c.fill(line, 0, false, false);
                    if reference.len() == ways as usize {
                        let lru = reference.pop();
                        assert_eq!(v.map(|v| v.line), lru, "{ways} ways");
                    } else {
                        assert_eq!(v, None, "{ways} ways: an invalid way is used first");
                    }
                }
                reference.insert(0, line);
            }
        }
    }

    #[test]
    fn plru_never_evicts_most_recent() {
        let mut c = Cache::new("t", 1, 8, 1, Replacement::TreePlru, 1);
        let mut last = 0;
        for l in 0..200u64 {
            let line = (l * 7) % 13;
            filled(&mut c, line);
            assert!(c.contains(line));
            if l > 0 {
                assert!(c.contains(last) || last == line);
            }
            last = line;
        }
    }

    #[test]
    fn every_policy_keeps_a_fitting_working_set() {
        for r in [
            Replacement::Lru,
            Replacement::TreePlru,
            Replacement::Srrip,
            Replacement::Random,
        ] {
            let mut c = Cache::new("t", 16, 4, 1, r, 1);
            for _ in 0..3 {
                for l in 0..64 {
                    filled(&mut c, l);
                }
            }
            c.reset_stats();
            for l in 0..64 {
                filled(&mut c, l);
            }
            assert_eq!(c.stats.read_misses, 0, "{r:?}");
        }
    }

    #[test]
    fn set_mru_lookups_match_plain_ones() {
        // The same accesses, fills and invalidations through the per-set memo and without it
        // give the same hits, ready times, victims and counters, for every policy and shape.
        for (ways, policy) in [
            (4, Replacement::Lru),
            (8, Replacement::Lru),
            (12, Replacement::Lru),
            (16, Replacement::Lru),
            (24, Replacement::Lru),
            (8, Replacement::TreePlru),
            (8, Replacement::Srrip),
            (6, Replacement::Random),
        ] {
            let mut plain = Cache::new("p", 4, ways, 1, policy, 1);
            let mut memo = Cache::new("m", 4, ways, 1, policy, 1).with_set_mru();
            let mut x = 7u64;
            for t in 0..20_000u64 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // a few hot lines revisited often, and a wider pool that forces evictions
                let line = if x >> 63 == 0 {
                    (x >> 40) % 6
                } else {
                    (x >> 40) % (4 * ways as u64 * 2)
                };
                let write = (x >> 20) & 3 == 0;
                if (x >> 24).is_multiple_of(50) {
                    assert_eq!(plain.invalidate(line), memo.invalidate(line));
                    continue;
                }
                let (a, b) = (plain.access(line, write), memo.access_mru(line, write));
                assert_eq!(a, b, "{ways} ways {policy:?}, step {t}, line {line}");
                if a.is_none() {
                    let prefetch = (x >> 30) & 7 == 0;
                    assert_eq!(
                        plain.fill_absent(line, t, write, prefetch),
                        memo.fill_absent_mru(line, t, write, prefetch)
                    );
                }
            }
            assert_eq!(plain.stats, memo.stats);
        }
    }

    #[test]
    fn lookups_behind_another_level_match_plain_ones() {
        // access_behind (no last-line check) and access, mixed on one cache and alone on
        // another, give the same hits, ready times and counters.
        for ways in [4u32, 8, 16, 24] {
            let mut plain = Cache::new("p", 4, ways, 1, Replacement::Lru, 1);
            let mut mixed = Cache::new("m", 4, ways, 1, Replacement::Lru, 1);
            let mut x = 3u64;
            for t in 0..20_000u64 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let line = (x >> 40) % (4 * ways as u64 + 8);
                let write = (x >> 20) & 3 == 0;
                let a = plain.access(line, write);
                let b = if (x >> 30) & 1 == 0 {
                    mixed.access_behind(line, write)
                } else {
                    mixed.access(line, write)
                };
                assert_eq!(a, b, "{ways} ways, step {t}, line {line}");
                if a.is_none() {
                    assert_eq!(
                        plain.fill_absent(line, t, write, false),
                        mixed.fill_absent(line, t, write, false)
                    );
                }
            }
            assert_eq!(plain.stats, mixed.stats);
        }
    }

    #[test]
    fn dirty_victims_are_reported() {
        let mut c = Cache::new("t", 1, 1, 1, Replacement::Lru, 1);
        c.fill(5, 0, true, false);
        let v = c.fill(6, 0, false, false).unwrap();
        assert_eq!(
            v,
            Victim {
                line: 5,
                dirty: true
            }
        );
        assert_eq!(c.stats.writebacks, 1);
    }

    #[test]
    fn evictions_report_each_victim_with_its_own_dirty_bit() {
        // every code path (LRU of one and two words, the general path) and both a full and a
        // partly used last word
        for ways in [4u32, 8, 12, 16, 32] {
            for policy in [Replacement::Lru, Replacement::Srrip] {
                let mut c = Cache::new("t", 4, ways, 1, policy, 1);
                // lines k * 4 all map to set 0; the odd ones are written after their fill
                let lines: Vec<u64> = (0..ways as u64).map(|k| k * 4).collect();
                for &l in &lines {
                    assert!(c.access(l, false).is_none());
                    assert!(c.fill(l, 7, false, false).is_none(), "{ways} {policy:?}");
                }
                for &l in lines.iter().skip(1).step_by(2) {
                    assert_eq!(c.access(l, true), Some(7));
                }
                for &l in &lines {
                    assert_eq!(c.peek_dirty(l), Some(l % 8 == 4), "{ways} {policy:?} {l}");
                }
                let mut evicted: Vec<(u64, bool)> = (0..ways as u64)
                    .map(|k| {
                        let v = c.fill(1000 * 4 + k * 4, 9, false, false);
                        let v = v.unwrap_or_else(|| panic!("{ways} {policy:?}: no victim"));
                        (v.line, v.dirty)
                    })
                    .collect();
                evicted.sort_unstable();
                if policy == Replacement::Lru {
                    // the least recent go first: exactly the old lines
                    let want: Vec<_> = lines.iter().map(|&l| (l, l % 8 == 4)).collect();
                    assert_eq!(evicted, want, "{ways} {policy:?}");
                }
                // any policy: an old line is dirty exactly when it was written, a new one clean
                for &(l, dirty) in &evicted {
                    assert_eq!(dirty, l < 4000 && l % 8 == 4, "{ways} {policy:?} {l}");
                }
                let dirty = evicted.iter().filter(|v| v.1).count() as u64;
                assert_eq!(c.stats.writebacks, dirty, "{ways} {policy:?}");
            }
        }
    }

    #[test]
    fn mshrs_bound_outstanding_misses() {
        let mut c = Cache::new("t", 4, 2, 1, Replacement::Lru, 2);
        let (a, s) = c.mshr_acquire(10);
        assert_eq!(s, 10);
        c.mshr_release(a, 100);
        let (b, s) = c.mshr_acquire(10);
        assert_eq!(s, 10);
        c.mshr_release(b, 120);
        let (_, s) = c.mshr_acquire(10);
        assert_eq!(s, 100);
    }
}
