//! A set-associative cache: write-back, write-allocate, with pluggable replacement and MSHRs.
//!
//! Storage is flat: the tags of set `s` are `tags[s*ways .. (s+1)*ways]` in one `Vec<u64>`, with
//! the fill-completion time and the dirty/prefetched bits in parallel vectors, and the set index
//! is `line & (sets - 1)`. A line whose fill has not completed yet is present with a future
//! `ready` time, so a second access to a line in flight waits for it (a hit under miss) instead
//! of counting as a hit at full speed.

use crate::config::Replacement;

const INVALID: u64 = u64::MAX;
const DIRTY: u8 = 1;
const PREFETCHED: u8 = 2;

/// Demand and prefetch counters of one cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheStats {
    /// Demand reads (loads, instruction fetches).
    pub reads: u64,
    /// Demand reads that missed.
    pub read_misses: u64,
    /// Demand writes (stores, writebacks from the level above).
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
    /// All demand accesses.
    pub fn accesses(&self) -> u64 {
        self.reads + self.writes
    }
    /// All demand misses.
    pub fn misses(&self) -> u64 {
        self.read_misses + self.write_misses
    }
}

#[derive(Clone, Debug)]
enum Repl {
    Lru { stamp: Vec<u64>, clock: u64 },
    Plru { bits: Vec<u64> },
    Srrip { rrpv: Vec<u8> },
    Random { state: u64 },
}

/// One set-associative cache (or TLB, with pages as lines).
#[derive(Clone, Debug)]
pub struct Cache {
    name: &'static str,
    set_mask: u64,
    ways: usize,
    latency: u32,
    tags: Vec<u64>,
    ready: Vec<u64>,
    flags: Vec<u8>,
    repl: Repl,
    mshr: Vec<u64>,
    /// Counters.
    pub stats: CacheStats,
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
    /// A cache of `sets` × `ways` lines; `sets` must be a power of two (checked by the config).
    pub fn new(
        name: &'static str,
        sets: u64,
        ways: u32,
        latency: u32,
        replacement: Replacement,
        mshrs: u32,
    ) -> Cache {
        assert!(sets.is_power_of_two() && ways > 0, "validated by Config");
        let n = (sets * ways as u64) as usize;
        let repl = match replacement {
            Replacement::Lru => Repl::Lru {
                stamp: vec![0; n],
                clock: 0,
            },
            Replacement::TreePlru => Repl::Plru {
                bits: vec![0; sets as usize],
            },
            Replacement::Srrip => Repl::Srrip { rrpv: vec![3; n] },
            Replacement::Random => Repl::Random {
                state: 0x2545_f491_4f6c_dd1d,
            },
        };
        Cache {
            name,
            set_mask: sets - 1,
            ways: ways as usize,
            latency,
            tags: vec![INVALID; n],
            ready: vec![0; n],
            flags: vec![0; n],
            repl,
            mshr: vec![0; mshrs.max(1) as usize],
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

    /// The cache's name ("l1d", …).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Access latency in cycles.
    #[inline]
    pub fn latency(&self) -> u32 {
        self.latency
    }

    #[inline]
    fn base(&self, line: u64) -> usize {
        ((line & self.set_mask) as usize) * self.ways
    }

    #[inline]
    fn find(&self, line: u64) -> Option<usize> {
        let b = self.base(line);
        self.tags[b..b + self.ways]
            .iter()
            .position(|&t| t == line)
            .map(|w| b + w)
    }

    /// Whether `line` is present (no side effects).
    #[inline]
    pub fn contains(&self, line: u64) -> bool {
        self.find(line).is_some()
    }

    #[inline]
    fn touch(&mut self, idx: usize, fill: bool) {
        match &mut self.repl {
            Repl::Lru { stamp, clock } => {
                *clock += 1;
                stamp[idx] = *clock;
            }
            Repl::Plru { bits } => {
                let ways = self.ways;
                let set = idx / ways;
                let way = idx % ways;
                // Point every node on the path away from `way`.
                let mut node = 1usize;
                let mut span = ways;
                let mut lo = 0usize;
                while span > 1 {
                    span /= 2;
                    let right = way >= lo + span;
                    if right {
                        bits[set] &= !(1 << node);
                        lo += span;
                        node = 2 * node + 1;
                    } else {
                        bits[set] |= 1 << node;
                        node *= 2;
                    }
                }
            }
            Repl::Srrip { rrpv } => {
                rrpv[idx] = if fill { 2 } else { 0 };
            }
            Repl::Random { .. } => {}
        }
    }

    fn victim_way(&mut self, base: usize) -> usize {
        let ways = self.ways;
        if let Some(w) = self.tags[base..base + ways]
            .iter()
            .position(|&t| t == INVALID)
        {
            return base + w;
        }
        match &mut self.repl {
            Repl::Lru { stamp, .. } => {
                let s = &stamp[base..base + ways];
                let mut best = 0;
                for w in 1..ways {
                    if s[w] < s[best] {
                        best = w;
                    }
                }
                base + best
            }
            Repl::Plru { bits } => {
                let set = base / ways;
                let mut node = 1usize;
                let mut span = ways;
                let mut lo = 0usize;
                while span > 1 {
                    span /= 2;
                    // bit set = the left half was used more recently → go right
                    if bits[set] & (1 << node) != 0 {
                        lo += span;
                        node = 2 * node + 1;
                    } else {
                        node *= 2;
                    }
                }
                base + lo
            }
            Repl::Srrip { rrpv } => loop {
                if let Some(w) = rrpv[base..base + ways].iter().position(|&r| r >= 3) {
                    break base + w;
                }
                for r in &mut rrpv[base..base + ways] {
                    *r += 1;
                }
            },
            Repl::Random { state } => {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                base + (*state % ways as u64) as usize
            }
        }
    }

    /// Demand lookup. On a hit returns the time the line's data is there (its fill time) and
    /// updates replacement state; a write marks the line dirty. Counts the access.
    #[inline]
    pub fn access(&mut self, line: u64, write: bool) -> Option<u64> {
        if write {
            self.stats.writes += 1;
        } else {
            self.stats.reads += 1;
        }
        match self.find(line) {
            Some(i) => {
                if self.flags[i] & PREFETCHED != 0 {
                    self.flags[i] &= !PREFETCHED;
                    self.stats.useful_prefetches += 1;
                }
                if write {
                    self.flags[i] |= DIRTY;
                }
                self.touch(i, false);
                Some(self.ready[i])
            }
            None => {
                if write {
                    self.stats.write_misses += 1;
                } else {
                    self.stats.read_misses += 1;
                }
                None
            }
        }
    }

    /// Lookup without counting or replacement update (used by the hierarchy for writebacks and
    /// prefetch filtering); marks dirty when `write`.
    #[inline]
    pub fn probe(&mut self, line: u64, write: bool) -> Option<u64> {
        let i = self.find(line)?;
        if write {
            self.flags[i] |= DIRTY;
        }
        Some(self.ready[i])
    }

    /// Install `line` (ready at `ready`), evicting a victim when the set is full.
    pub fn fill(&mut self, line: u64, ready: u64, dirty: bool, prefetch: bool) -> Option<Victim> {
        if let Some(i) = self.find(line) {
            self.ready[i] = self.ready[i].min(ready);
            if dirty {
                self.flags[i] |= DIRTY;
            }
            return None;
        }
        let base = self.base(line);
        let i = self.victim_way(base);
        let old = self.tags[i];
        let victim = (old != INVALID).then(|| Victim {
            line: old,
            dirty: self.flags[i] & DIRTY != 0,
        });
        if let Some(v) = victim
            && v.dirty
        {
            self.stats.writebacks += 1;
        }
        self.tags[i] = line;
        self.ready[i] = ready;
        self.flags[i] = (dirty as u8 * DIRTY) | (prefetch as u8 * PREFETCHED);
        if prefetch {
            self.stats.prefetches += 1;
        }
        self.touch(i, true);
        victim
    }

    /// Reserve an MSHR for a miss that wants to start at `now`: returns (slot, start time);
    /// the start is delayed to the earliest completion when all MSHRs are busy.
    #[inline]
    pub fn mshr_acquire(&mut self, now: u64) -> (usize, u64) {
        let mut best = 0;
        for (i, &done) in self.mshr.iter().enumerate() {
            if done <= now {
                return (i, now);
            }
            if done < self.mshr[best] {
                best = i;
            }
        }
        let start = self.mshr[best];
        self.stats.mshr_wait_cycles += start - now;
        (best, start)
    }

    /// Whether an MSHR is free at `now` (prefetches only use idle MSHRs).
    #[inline]
    pub fn mshr_free(&self, now: u64) -> Option<usize> {
        self.mshr.iter().position(|&d| d <= now)
    }

    /// Record when the miss held in `slot` completes.
    #[inline]
    pub fn mshr_release(&mut self, slot: usize, done: u64) {
        self.mshr[slot] = done;
    }

    /// Drop all contents and counters (keeps geometry).
    pub fn reset_stats(&mut self) {
        self.stats = CacheStats::default();
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
