//! The memory hierarchy: per-core private caches and TLBs in front of an [`Uncore`].
//!
//! The boundary between a core's private levels ([`PrivateCaches`]: L1I, L1D, L2, TLBs,
//! prefetchers) and everything shared ([`Uncore`]: here the LLC and DRAM of [`SharedLlc`]) is a
//! trait, so a coherent, banked, multi-core LLC can replace [`SharedLlc`] without touching the
//! core models. Accesses are timestamped: each returns the cycle its data arrives, computed from
//! per-level latencies (which add up along the path), MSHR occupancy and DRAM queueing.

pub mod cache;
pub mod coherence;
pub mod prefetch;
pub mod tlb;

use crate::config::Config;
use crate::dram::Dram;
use cache::Cache;
use prefetch::Prefetcher;
use tlb::Tlbs;

/// Where an access was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// First-level cache.
    L1 = 0,
    /// Second-level private cache.
    L2 = 1,
    /// Last-level cache.
    L3 = 2,
    /// Main memory.
    Dram = 3,
    /// Another core's private cache (a coherence transfer or invalidation in a multi-core
    /// system).
    Remote = 4,
}

/// Kind of request sent to the uncore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Demand read (load miss or instruction fetch miss).
    Read,
    /// Read for ownership (store miss).
    ReadExclusive,
    /// Prefetch from a private level.
    Prefetch,
}

/// The shared part of the memory system, seen from one core's private levels.
///
/// A multi-core implementation (coherent directory, banked LLC, network) implements the same
/// trait; `core` identifies the requester.
pub trait Uncore {
    /// A line request arriving at `now`; returns when the data arrives and where it came from.
    fn read(&mut self, core: u32, line: u64, now: u64, req: Request) -> (u64, Level);
    /// A dirty line written back from a private level at `now`.
    fn writeback(&mut self, core: u32, line: u64, now: u64);
    /// A store by `core` to `addr` that hit in a private level at `now`. A coherent uncore
    /// checks write permission here (an upgrade miss when the line is held shared) and returns
    /// when it is granted; `None` = no permission needed (the default, single-core).
    #[inline]
    fn store_hit(&mut self, _core: u32, _addr: u64, _now: u64) -> Option<u64> {
        None
    }
    /// The byte address of the demand miss about to be sent by `core` (called before the
    /// private levels look further than L1), so a coherent uncore can tell true from false
    /// sharing. Default: ignored.
    #[inline]
    fn miss_address(&mut self, _core: u32, _addr: u64) {}
}

/// Counters of the shared levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UncoreStats {
    /// LLC counters.
    pub l3: cache::CacheStats,
    /// DRAM counters.
    pub dram: crate::dram::DramStats,
}

/// A single shared LLC in front of one DRAM channel.
#[derive(Clone, Debug)]
pub struct SharedLlc {
    l3: Cache,
    pf: Prefetcher,
    dram: Dram,
    /// The LLC is an LRU cache of 9 to 16 ways without a prefetcher (every preset's but
    /// bigcore's): its accesses then take the fixed two-word LRU path, tested once per request
    /// instead of at each lookup, fill and prefetcher check.
    fast: bool,
}

impl SharedLlc {
    /// Build from a configuration.
    pub fn new(c: &Config) -> SharedLlc {
        let l3 = Cache::from_config("l3", &c.l3);
        let pf = Prefetcher::new(c.l3.prefetcher, c.l3.prefetch_degree);
        SharedLlc {
            fast: l3.lru_words() == 2 && !pf.is_active(),
            l3,
            pf,
            dram: Dram::new(c.dram_latency_cycles(), c.dram_cycles_per_line()),
        }
    }

    /// Counters.
    pub fn stats(&self) -> UncoreStats {
        UncoreStats {
            l3: self.l3.stats,
            dram: self.dram.stats,
        }
    }

    /// Clear counters (after warm-up).
    pub fn reset_stats(&mut self) {
        self.l3.reset_stats();
        self.dram.stats = Default::default();
    }

    /// A DRAM read of absent `line` at `t` and its fill, through the two-word LRU path when
    /// `FAST` (see `fast`).
    #[inline(always)]
    fn fetch<const FAST: bool>(&mut self, line: u64, t: u64, prefetch: bool) -> u64 {
        let (slot, start) = self.l3.mshr_acquire(t);
        let ready = self.dram.read(start);
        self.l3.mshr_release(slot, ready);
        let victim = if FAST {
            self.l3.fill_absent_lru::<2>(line, ready, false, prefetch)
        } else {
            self.l3.fill_absent(line, ready, false, prefetch)
        };
        if let Some(v) = victim
            && v.dirty
        {
            self.dram.write(t);
        }
        ready
    }

    /// [`Uncore::read`] through the two-word LRU path, no prefetcher (see `fast`).
    #[inline(always)]
    fn read_fast(&mut self, line: u64, now: u64, req: Request) -> (u64, Level) {
        let t = now + self.l3.latency() as u64;
        let prefetch = req == Request::Prefetch;
        let hit = self.l3.read_behind_lru::<2>(line, prefetch);
        match hit {
            Some(r) => (t.max(r), Level::L3),
            None => (self.fetch::<true>(line, t, prefetch), Level::Dram),
        }
    }

    /// [`Uncore::read`] for any LLC shape and prefetcher (out of line: most presets take
    /// [`SharedLlc::read_fast`]).
    #[inline(never)]
    fn read_any(&mut self, line: u64, now: u64, req: Request) -> (u64, Level) {
        let t = now + self.l3.latency() as u64;
        let prefetch = req == Request::Prefetch;
        let hit = self.l3.read_behind(line, prefetch);
        let out = match hit {
            Some(r) => (t.max(r), Level::L3),
            None => (self.fetch::<false>(line, t, prefetch), Level::Dram),
        };
        if !prefetch && self.pf.trains_on(hit.is_some()) {
            self.prefetch(line, hit.is_some(), t);
        }
        out
    }

    /// Train the LLC prefetcher on a demand access to `line` at `t` and issue its prefetches
    /// (out of line: the demand path stays small).
    #[inline(never)]
    fn prefetch(&mut self, line: u64, hit: bool, t: u64) {
        let mut buf = [0u64; 16];
        let n = self.pf.train(0, line, hit, &mut buf);
        for &c in &buf[..n] {
            if !self.l3.contains(c) && self.l3.mshr_free(t).is_some() {
                self.fetch::<false>(c, t, true);
            }
        }
    }
}

impl Uncore for SharedLlc {
    // Inlined into the private levels' miss path: a call there spills and reloads most of
    // their state around it.
    #[inline(always)]
    fn read(&mut self, _core: u32, line: u64, now: u64, req: Request) -> (u64, Level) {
        if self.fast {
            self.read_fast(line, now, req)
        } else {
            self.read_any(line, now, req)
        }
    }

    fn writeback(&mut self, _core: u32, line: u64, now: u64) {
        if let Some(v) = self.l3.absorb_writeback::<2>(line, now, self.fast)
            && v.dirty
        {
            self.dram.write(now);
        }
    }
}

/// A call that marks its branch unlikely (`std::hint::cold_path` needs a newer Rust than the
/// crate's minimum): the branch's block then gets the spills and the far layout.
#[cold]
#[inline(never)]
fn cold_path() {}

/// The result of one access through the hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// Cycle the data is available.
    pub ready: u64,
    /// Level that supplied it.
    pub level: Level,
    /// Cycles spent in address translation (TLB levels and page walk) beyond nothing.
    pub tlb_cycles: u32,
}

/// One core's private memory levels: L1I, L1D, L2, TLBs and their prefetchers.
#[derive(Clone, Debug)]
pub struct PrivateCaches {
    core: u32,
    /// Instruction cache.
    pub l1i: Cache,
    /// Data cache.
    pub l1d: Cache,
    /// Private second level.
    pub l2: Cache,
    /// Translation.
    pub tlbs: Tlbs,
    pf_l1i: Prefetcher,
    pf_l1d: Prefetcher,
    pf_l2: Prefetcher,
    /// The L2 is an LRU cache of up to 8 ways without a prefetcher (every preset's but
    /// bigcore's): its accesses then take the fixed one-word LRU path, tested once per request
    /// instead of at each lookup, fill and prefetcher check.
    l2_fast: bool,
}

struct L2Side<'a> {
    l2: &'a mut Cache,
    pf: &'a mut Prefetcher,
    core: u32,
    /// See [`PrivateCaches::l2_fast`].
    fast: bool,
}

impl L2Side<'_> {
    /// A demand read: the one-word LRU path is inlined into the L1 miss path (and with it
    /// into the cores' step: no call, no saved registers), every other shape calls
    /// [`L2Side::read_any`].
    #[inline(always)]
    fn read<U: Uncore>(
        &mut self,
        u: &mut U,
        pc: u64,
        line: u64,
        now: u64,
        req: Request,
    ) -> (u64, Level) {
        if self.fast {
            self.read_fast(u, line, now, req)
        } else {
            self.read_any(u, pc, line, now, req)
        }
    }

    /// [`L2Side::read`] through the one-word LRU path, no prefetcher (see
    /// [`PrivateCaches::l2_fast`]).
    #[inline(always)]
    fn read_fast<U: Uncore>(
        &mut self,
        u: &mut U,
        line: u64,
        now: u64,
        req: Request,
    ) -> (u64, Level) {
        let lat = self.l2.latency() as u64;
        let prefetch = req == Request::Prefetch;
        let hit = self.l2.read_behind_lru::<1>(line, prefetch);
        match hit {
            Some(r) => ((now + lat).max(r), Level::L2),
            None => self.miss::<U, true>(u, line, now, req, prefetch),
        }
    }

    /// [`L2Side::read`] for any L2 shape and prefetcher (out of line: it also serves the L1
    /// prefetches, and would only grow the cores' step).
    #[inline(never)]
    fn read_any<U: Uncore>(
        &mut self,
        u: &mut U,
        pc: u64,
        line: u64,
        now: u64,
        req: Request,
    ) -> (u64, Level) {
        let lat = self.l2.latency() as u64;
        let prefetch = req == Request::Prefetch;
        let hit = self.l2.read_behind(line, prefetch);
        let out = match hit {
            Some(r) => ((now + lat).max(r), Level::L2),
            None => self.miss::<U, false>(u, line, now, req, prefetch),
        };
        if !prefetch && self.pf.trains_on(hit.is_some()) {
            self.prefetch(u, pc, line, hit.is_some(), now);
        }
        out
    }

    /// Train the L2 prefetcher on a demand access to `line` at `now` and issue its
    /// prefetches (out of line: the demand path stays small).
    #[inline(never)]
    fn prefetch<U: Uncore>(&mut self, u: &mut U, pc: u64, line: u64, hit: bool, now: u64) {
        let mut buf = [0u64; 16];
        let n = self.pf.train(pc, line, hit, &mut buf);
        for &c in &buf[..n] {
            if !self.l2.contains(c) && self.l2.mshr_free(now).is_some() {
                self.miss::<U, false>(u, c, now, Request::Prefetch, true);
            }
        }
    }

    /// An L2 miss of `line` at `now`: the uncore, then the fill (through the one-word LRU
    /// path when `FAST`).
    #[inline(always)]
    fn miss<U: Uncore, const FAST: bool>(
        &mut self,
        u: &mut U,
        line: u64,
        now: u64,
        req: Request,
        prefetch: bool,
    ) -> (u64, Level) {
        let lat = self.l2.latency() as u64;
        let (slot, start) = self.l2.mshr_acquire(now);
        let (ready, level) = u.read(self.core, line, start + lat, req);
        self.l2.mshr_release(slot, ready);
        let victim = if FAST {
            self.l2.fill_absent_lru::<1>(line, ready, false, prefetch)
        } else {
            self.l2.fill_absent(line, ready, false, prefetch)
        };
        if let Some(v) = victim
            && v.dirty
        {
            u.writeback(self.core, v.line, now);
        }
        (ready, level)
    }

    fn writeback<U: Uncore>(&mut self, u: &mut U, line: u64, now: u64) {
        if let Some(v) = self.l2.absorb_writeback::<1>(line, now, self.fast)
            && v.dirty
        {
            u.writeback(self.core, v.line, now);
        }
    }
}

impl PrivateCaches {
    /// Build core `core`'s private levels from a configuration.
    pub fn new(core: u32, c: &Config) -> PrivateCaches {
        let l2 = Cache::from_config("l2", &c.l2);
        let pf_l2 = Prefetcher::new(c.l2.prefetcher, c.l2.prefetch_degree);
        PrivateCaches {
            core,
            l1i: Cache::from_config("l1i", &c.l1i).with_set_mru(),
            l1d: Cache::from_config("l1d", &c.l1d).with_set_mru(),
            l2_fast: l2.lru_words() == 1 && !pf_l2.is_active(),
            l2,
            tlbs: Tlbs::new(c),
            pf_l1i: Prefetcher::new(c.l1i.prefetcher, c.l1i.prefetch_degree),
            pf_l1d: Prefetcher::new(c.l1d.prefetcher, c.l1d.prefetch_degree),
            pf_l2,
        }
    }

    /// Fetch the instruction line holding `pc` at `now`.
    #[inline]
    pub fn fetch<U: Uncore>(&mut self, u: &mut U, pc: u64, now: u64) -> Served {
        self.access::<U, true>(u, pc, pc, false, now)
    }

    /// A data access (load or store) by the instruction at `pc`.
    #[inline]
    pub fn data<U: Uncore>(
        &mut self,
        u: &mut U,
        pc: u64,
        addr: u64,
        write: bool,
        now: u64,
    ) -> Served {
        self.access::<U, false>(u, pc, addr, write, now)
    }

    /// One demand access, on the instruction side when `INSTR`: a constant, so that each side
    /// gets its own copy without the tests of which TLB, cache and prefetcher to use.
    #[inline]
    fn access<U: Uncore, const INSTR: bool>(
        &mut self,
        u: &mut U,
        pc: u64,
        addr: u64,
        write: bool,
        now: u64,
    ) -> Served {
        let tlb_cycles = if INSTR {
            self.tlbs.translate_fetch(addr)
        } else {
            self.tlbs.translate_side::<false>(addr)
        };
        let t = now + tlb_cycles as u64;
        let line = addr >> 6;
        let l1 = if INSTR { &mut self.l1i } else { &mut self.l1d };
        let hit = l1.access_mru(line, write);
        // The hit path stays small: the miss and the prefetches are out of line.
        let mut served = match hit {
            Some(r) => Served {
                ready: (t + l1.latency() as u64).max(r),
                level: Level::L1,
                tlb_cycles,
            },
            None => {
                // Marked cold so that the register allocator keeps the spills of the inlined
                // miss path (L2, LLC, DRAM) off the hit path.
                cold_path();
                self.l1_miss::<U, INSTR>(u, pc, addr, write, t, tlb_cycles)
            }
        };
        if write
            && matches!(served.level, Level::L1 | Level::L2)
            && let Some(r) = u.store_hit(self.core, addr, t)
        {
            served.ready = served.ready.max(r);
            served.level = Level::Remote;
        }
        let pf = if INSTR { &self.pf_l1i } else { &self.pf_l1d };
        if pf.trains_on(hit.is_some()) {
            self.l1_prefetch(u, INSTR, pc, line, hit.is_some(), t);
        }
        served
    }

    /// An L1 demand miss at `t` (after translation): L2 and beyond, then the L1 fill.
    #[inline(always)]
    fn l1_miss<U: Uncore, const INSTR: bool>(
        &mut self,
        u: &mut U,
        pc: u64,
        addr: u64,
        write: bool,
        t: u64,
        tlb_cycles: u32,
    ) -> Served {
        let line = addr >> 6;
        let l1 = if INSTR { &mut self.l1i } else { &mut self.l1d };
        let mut side = L2Side {
            l2: &mut self.l2,
            pf: &mut self.pf_l2,
            core: self.core,
            fast: self.l2_fast,
        };
        u.miss_address(self.core, addr);
        let (slot, start) = l1.mshr_acquire(t);
        let req = if write {
            Request::ReadExclusive
        } else {
            Request::Read
        };
        let at = start + l1.latency() as u64;
        let (ready, level) = side.read(u, pc, line, at, req);
        l1.mshr_release(slot, ready);
        if let Some(v) = l1.fill_absent_mru(line, ready, write, false)
            && v.dirty
        {
            side.writeback(u, v.line, ready);
        }
        Served {
            ready,
            level,
            tlb_cycles,
        }
    }

    /// Train the L1 prefetcher on a demand access to `line` and issue its prefetches.
    #[inline(never)]
    fn l1_prefetch<U: Uncore>(
        &mut self,
        u: &mut U,
        instr: bool,
        pc: u64,
        line: u64,
        hit: bool,
        t: u64,
    ) {
        let (l1, pf) = if instr {
            (&mut self.l1i, &mut self.pf_l1i)
        } else {
            (&mut self.l1d, &mut self.pf_l1d)
        };
        let mut side = L2Side {
            l2: &mut self.l2,
            pf: &mut self.pf_l2,
            core: self.core,
            fast: self.l2_fast,
        };
        let lat1 = l1.latency() as u64;
        let mut buf = [0u64; 16];
        let n = pf.train(pc, line, hit, &mut buf);
        for &c in &buf[..n] {
            if l1.contains(c) {
                continue;
            }
            let Some(slot) = l1.mshr_free(t) else { break };
            let (ready, _) = side.read_any(u, pc, c, t + lat1, Request::Prefetch);
            l1.mshr_release(slot, ready);
            if let Some(v) = l1.fill_absent_mru(c, ready, false, true)
                && v.dirty
            {
                side.writeback(u, v.line, ready);
            }
        }
    }

    /// Clear counters (after warm-up).
    pub fn reset_stats(&mut self) {
        self.l1i.reset_stats();
        self.l1d.reset_stats();
        self.l2.reset_stats();
        self.tlbs.reset_stats();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_add_up_along_the_path() {
        let c = Config::preset("gainestown").unwrap();
        let mut p = PrivateCaches::new(0, &c);
        let mut u = SharedLlc::new(&c);
        let dram = c.dram_latency_cycles() as u64;
        let addr = 0x1234_5000;
        let s = p.data(&mut u, 0, addr, false, 1000);
        assert_eq!(s.level, Level::Dram);
        let walk = s.tlb_cycles as u64;
        assert_eq!(s.ready, 1000 + walk + 4 + 8 + 30 + dram);
        let s = p.data(&mut u, 0, addr, false, 10_000);
        assert_eq!((s.level, s.ready), (Level::L1, 10_004));
        // in flight: a second access to a line still being filled waits for it
        let s1 = p.data(&mut u, 0, addr + 4096 * 3, false, 20_000);
        let s2 = p.data(&mut u, 0, addr + 4096 * 3 + 8, false, 20_001);
        assert_eq!(s2.ready, s1.ready);
    }

    #[test]
    fn the_fixed_lru_paths_match_the_general_ones() {
        // gainestown takes the one-word L2 path and the two-word LLC path; the same hierarchy
        // forced onto the general paths must give the same times, levels and counters.
        let c = Config::preset("gainestown").unwrap();
        let (mut fast, mut fast_u) = (PrivateCaches::new(0, &c), SharedLlc::new(&c));
        assert!(fast.l2_fast && fast_u.fast);
        let (mut any, mut any_u) = (fast.clone(), fast_u.clone());
        any.l2_fast = false;
        any_u.fast = false;
        let mut x = 7u64;
        for i in 0..200_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // a 16 MiB footprint with some reuse: hits and misses at every level, dirty victims
            let addr = (x >> 20) % (16 << 20);
            let write = x >> 63 == 1;
            let now = i * 3;
            let a = fast.data(&mut fast_u, i % 64, addr, write, now);
            let b = any.data(&mut any_u, i % 64, addr, write, now);
            assert_eq!(a, b, "access {i}");
            if i % 7 == 0 {
                let a = fast.fetch(&mut fast_u, addr, now);
                let b = any.fetch(&mut any_u, addr, now);
                assert_eq!(a, b, "fetch {i}");
            }
        }
        assert_eq!(fast.l2.stats, any.l2.stats);
        assert_eq!(fast_u.stats(), any_u.stats());
        assert!(fast_u.stats().dram.writes > 0 && fast.l2.stats.writebacks > 0);
    }
}
