//! Translation look-aside buffers: ITLB and DTLB backed by a shared STLB and a page walk.
//!
//! A TLB here is a set-associative LRU array of page numbers, each set kept in recency order
//! (most recent first). One pass over a set both looks a page up and moves it to the front,
//! inserting it (and dropping the least recent entry) on a miss: a TLB always fills on a
//! miss, and its entries carry no other state, so lookup, replacement update and fill are one
//! short loop.

use crate::config::Config;

/// Never a page number (pages are addresses shifted right by at least 12 bits).
const EMPTY: u64 = u64::MAX;

/// One TLB level: `sets` × `ways` page numbers with true LRU replacement.
#[derive(Clone, Debug)]
struct Tlb {
    set_mask: u64,
    ways: usize,
    latency: u32,
    /// Per set, `ways` page numbers, most recently used first.
    pages: Vec<u64>,
}

impl Tlb {
    fn new(entries: u32, ways: u32, latency: u32) -> Tlb {
        let sets = (entries / ways) as u64;
        assert!(sets.is_power_of_two() && ways >= 1, "validated by Config");
        Tlb {
            set_mask: sets - 1,
            ways: ways as usize,
            latency,
            pages: vec![EMPTY; (sets as usize) * ways as usize],
        }
    }

    /// Look `page` up and make it the most recent entry of its set, inserting it in place of
    /// the least recent one on a miss. Returns whether it hit.
    #[inline(always)]
    fn lookup_fill(&mut self, page: u64) -> bool {
        let b = (page & self.set_mask) as usize * self.ways;
        match self.ways {
            4 => move_to_front(fixed::<4>(&mut self.pages, b), page),
            8 => move_to_front(fixed::<8>(&mut self.pages, b), page),
            16 => move_to_front(fixed::<16>(&mut self.pages, b), page),
            _ => move_to_front(&mut self.pages[b..b + self.ways], page),
        }
    }

    /// [`Tlb::lookup_fill`] for a TLB known to have `N` ways (no test of the way count, and the
    /// set base is a shift).
    #[inline(always)]
    fn lookup_fill_n<const N: usize>(&mut self, page: u64) -> bool {
        debug_assert_eq!(self.ways, N);
        let b = (page & self.set_mask) as usize * N;
        move_to_front(fixed::<N>(&mut self.pages, b), page)
    }
}

/// The `N` entries of `v` from `at`, as a fixed-size array (unrolled loops), for a set base
/// `at` of an `N`-way TLB: a multiple of `N` below `v.len()`, so no bound check is needed.
#[inline(always)]
fn fixed<const N: usize>(v: &mut [u64], at: usize) -> &mut [u64; N] {
    debug_assert!(at + N <= v.len());
    // SAFETY: `at` is `set * N` with `set < sets` and `v.len() == sets * N`; `[u64; N]` has
    // the layout of N consecutive `u64`s.
    unsafe { &mut *(v.as_mut_ptr().add(at) as *mut [u64; N]) }
}

/// Shift the entries before `page` (all of them when it is absent) one place back and put
/// `page` first; returns whether `page` was there.
#[inline(always)]
fn move_to_front(set: &mut [u64], page: u64) -> bool {
    if set[0] == page {
        return true;
    }
    let mut carry = page;
    for e in set.iter_mut() {
        let old = std::mem::replace(e, carry);
        if old == page {
            return true;
        }
        carry = old;
    }
    false
}

/// TLB counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TlbStats {
    /// ITLB lookups.
    pub itlb_accesses: u64,
    /// ITLB misses.
    pub itlb_misses: u64,
    /// DTLB lookups.
    pub dtlb_accesses: u64,
    /// DTLB misses.
    pub dtlb_misses: u64,
    /// STLB misses (page walks).
    pub walks: u64,
}

/// The translation hierarchy of one core.
#[derive(Clone, Debug)]
pub struct Tlbs {
    itlb: Tlb,
    dtlb: Tlb,
    stlb: Tlb,
    page_shift: u32,
    walk_penalty: u32,
    /// Last page translated on each side: a repeat hits the MRU entry, which changes nothing.
    last_page: [u64; 2],
    /// All three TLBs have four ways (every preset but bigcore): translations then take fixed
    /// four-way paths, tested once instead of at each level.
    four_ways: bool,
    /// Counters.
    pub stats: TlbStats,
}

impl Tlbs {
    /// Build from a configuration.
    pub fn new(c: &Config) -> Tlbs {
        Tlbs {
            itlb: Tlb::new(c.itlb.entries, c.itlb.ways, c.itlb.latency),
            dtlb: Tlb::new(c.dtlb.entries, c.dtlb.ways, c.dtlb.latency),
            stlb: Tlb::new(c.stlb.entries, c.stlb.ways, c.stlb.latency),
            page_shift: c.stlb.page_size.0.trailing_zeros(),
            walk_penalty: c.stlb.walk_penalty,
            last_page: [u64::MAX; 2],
            four_ways: [c.itlb.ways, c.dtlb.ways, c.stlb.ways] == [4; 3],
            stats: TlbStats::default(),
        }
    }

    /// Translate a data (`instr == false`) or instruction address; returns the extra cycles
    /// beyond the first-level TLB hit latency, which is hidden in the cache access.
    #[inline]
    pub fn translate(&mut self, addr: u64, instr: bool) -> u32 {
        if instr {
            self.translate_side::<true>(addr)
        } else {
            self.translate_side::<false>(addr)
        }
    }

    /// [`Tlbs::translate_side`] with the instruction side's repeat of its last page inlined:
    /// fetches translate once per new line, and nearly all of them stay on the last page.
    #[inline(always)]
    pub fn translate_fetch(&mut self, addr: u64) -> u32 {
        if self.last_page[1] == addr >> self.page_shift {
            self.stats.itlb_accesses += 1;
            return self.itlb.latency;
        }
        self.translate_side::<true>(addr)
    }

    /// [`Tlbs::translate`] for one side, a constant: each side gets its own copy without the
    /// tests of which TLB and counters to use.
    #[inline(never)]
    pub fn translate_side<const INSTR: bool>(&mut self, addr: u64) -> u32 {
        if self.four_ways {
            self.translate_in::<INSTR, 4>(addr)
        } else {
            self.translate_in::<INSTR, 0>(addr)
        }
    }

    /// [`Tlbs::translate_side`] for TLBs of `N` ways each, or of any number when `N` is 0.
    #[inline(always)]
    fn translate_in<const INSTR: bool, const N: usize>(&mut self, addr: u64) -> u32 {
        let page = addr >> self.page_shift;
        let l1 = if INSTR {
            self.stats.itlb_accesses += 1;
            &mut self.itlb
        } else {
            self.stats.dtlb_accesses += 1;
            &mut self.dtlb
        };
        let l1_lat = l1.latency;
        if self.last_page[INSTR as usize] == page {
            return l1_lat;
        }
        self.last_page[INSTR as usize] = page;
        let hit = if N == 0 {
            l1.lookup_fill(page)
        } else {
            l1.lookup_fill_n::<N>(page)
        };
        if hit {
            return l1_lat;
        }
        self.translate_miss::<N>(page, INSTR, l1_lat)
    }

    /// A first-level TLB miss: the STLB, and on its miss the page walk (`N` as for
    /// [`Tlbs::translate_in`]).
    #[inline]
    fn translate_miss<const N: usize>(&mut self, page: u64, instr: bool, l1_lat: u32) -> u32 {
        if instr {
            self.stats.itlb_misses += 1;
        } else {
            self.stats.dtlb_misses += 1;
        }
        let mut extra = l1_lat + self.stlb.latency;
        let hit = if N == 0 {
            self.stlb.lookup_fill(page)
        } else {
            self.stlb.lookup_fill_n::<N>(page)
        };
        if !hit {
            self.stats.walks += 1;
            extra += self.walk_penalty;
        }
        extra
    }

    /// Clear counters.
    pub fn reset_stats(&mut self) {
        self.stats = TlbStats::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_way_path_matches_the_general_one() {
        let c = Config::preset("gainestown").unwrap();
        let mut fast = Tlbs::new(&c);
        assert!(fast.four_ways);
        let mut any = fast.clone();
        any.four_ways = false;
        let mut x = 3u64;
        for i in 0..100_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let addr = (x >> 24) % (8 << 20);
            let instr = i % 5 == 0;
            assert_eq!(
                fast.translate(addr, instr),
                any.translate(addr, instr),
                "{i}"
            );
        }
        assert_eq!(fast.stats, any.stats);
        assert!(fast.stats.walks > 0 && fast.stats.dtlb_misses > fast.stats.walks);
    }

    #[test]
    fn tlb_sets_are_lru_for_every_associativity() {
        for ways in [1u32, 2, 4, 6, 8, 16] {
            let mut t = Tlb::new(ways, ways, 0);
            let mut reference: Vec<u64> = Vec::new(); // most recent first
            let mut x = 99u64;
            for _ in 0..3000 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let page = (x >> 33) % (ways as u64 + 2);
                let hit = t.lookup_fill(page);
                assert_eq!(hit, reference.contains(&page), "{ways} ways, page {page}");
                reference.retain(|&p| p != page);
                reference.insert(0, page);
                reference.truncate(ways as usize);
                assert_eq!(&t.pages[..reference.len()], &reference[..], "{ways} ways");
            }
        }
    }
}
