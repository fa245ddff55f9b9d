//! Translation look-aside buffers: ITLB and DTLB backed by a shared STLB and a page walk.

use super::cache::Cache;
use crate::config::{Config, Replacement};

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
    itlb: Cache,
    dtlb: Cache,
    stlb: Cache,
    page_shift: u32,
    walk_penalty: u32,
    /// Last page translated on each side: a repeat hits the MRU entry, which changes nothing.
    last_page: [u64; 2],
    /// Counters.
    pub stats: TlbStats,
}

impl Tlbs {
    /// Build from a configuration.
    pub fn new(c: &Config) -> Tlbs {
        let mk = |name, entries: u32, ways: u32, lat| {
            Cache::new(
                name,
                (entries / ways) as u64,
                ways,
                lat,
                Replacement::Lru,
                1,
            )
        };
        Tlbs {
            itlb: mk("itlb", c.itlb.entries, c.itlb.ways, c.itlb.latency),
            dtlb: mk("dtlb", c.dtlb.entries, c.dtlb.ways, c.dtlb.latency),
            stlb: mk("stlb", c.stlb.entries, c.stlb.ways, c.stlb.latency),
            page_shift: c.stlb.page_size.0.trailing_zeros(),
            walk_penalty: c.stlb.walk_penalty,
            last_page: [u64::MAX; 2],
            stats: TlbStats::default(),
        }
    }

    /// Translate a data (`instr == false`) or instruction address; returns the extra cycles
    /// beyond the first-level TLB hit latency, which is hidden in the cache access.
    #[inline]
    pub fn translate(&mut self, addr: u64, instr: bool) -> u32 {
        let page = addr >> self.page_shift;
        if self.last_page[instr as usize] == page {
            if instr {
                self.stats.itlb_accesses += 1;
                return self.itlb.latency();
            }
            self.stats.dtlb_accesses += 1;
            return self.dtlb.latency();
        }
        self.last_page[instr as usize] = page;
        let l1 = if instr {
            self.stats.itlb_accesses += 1;
            &mut self.itlb
        } else {
            self.stats.dtlb_accesses += 1;
            &mut self.dtlb
        };
        let l1_lat = l1.latency();
        if l1.access(page, false).is_some() {
            return l1_lat;
        }
        l1.fill_absent(page, 0, false, false);
        if instr {
            self.stats.itlb_misses += 1;
        } else {
            self.stats.dtlb_misses += 1;
        }
        let mut extra = l1_lat + self.stlb.latency();
        if self.stlb.access(page, false).is_none() {
            self.stlb.fill_absent(page, 0, false, false);
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
