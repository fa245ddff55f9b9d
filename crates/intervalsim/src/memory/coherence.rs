//! Directory-based MESI coherence: a full-map directory kept with the shared LLC.
//!
//! For every line some core holds, the directory knows either the set of cores holding it
//! *shared* (read-only, state S) or the one core holding it *exclusively* (E or M — the
//! directory does not tell them apart, since E → M is silent). [`Directory::access`] applies
//! one request and returns what the protocol must do ([`Outcome`]):
//!
//! | request | directory state | actions | requester gets |
//! |---|---|---|---|
//! | read | none | data from LLC/memory | E |
//! | read | shared by others | data from LLC | S |
//! | read | owned by *o* | *o* forwards the data (dirty forwarding) and keeps it shared (downgrade, dirty data written to the LLC) | S |
//! | write | none | data from LLC/memory | M |
//! | write | shared | invalidate the other sharers; data from LLC, or none when the requester held it shared (upgrade miss) | M |
//! | write | owned by *o* | *o* forwards the data and invalidates its copy | M |
//! | evict | held | dirty data written back to the LLC; requester removed | I |
//!
//! An LLC eviction removes the line's entry ([`Directory::drop_line`]); its holders are
//! invalidated (the LLC is inclusive of the private caches as far as the directory knows).
//! The protocol is checked by a property test (`tests/it/coherence.rs`): random multi-core
//! access streams, an oracle that keeps every line's last written version, and the
//! single-writer/multiple-reader invariant after every step.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Largest number of cores a [`CoreSet`] can hold.
pub const MAX_CORES: usize = 256;

/// A set of core ids (a full-map sharer vector).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CoreSet([u64; MAX_CORES / 64]);

impl CoreSet {
    /// The empty set.
    pub const EMPTY: CoreSet = CoreSet([0; MAX_CORES / 64]);

    /// A set of one core.
    pub fn one(c: u32) -> CoreSet {
        let mut s = CoreSet::EMPTY;
        s.insert(c);
        s
    }
    /// Add `c`.
    #[inline]
    pub fn insert(&mut self, c: u32) {
        self.0[(c / 64) as usize] |= 1 << (c % 64);
    }
    /// Remove `c`.
    #[inline]
    pub fn remove(&mut self, c: u32) {
        self.0[(c / 64) as usize] &= !(1 << (c % 64));
    }
    /// Whether `c` is in the set.
    #[inline]
    pub fn contains(&self, c: u32) -> bool {
        self.0[(c / 64) as usize] & (1 << (c % 64)) != 0
    }
    /// Whether the set is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }
    /// Number of cores in the set.
    pub fn len(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
    /// The set without `c`.
    #[inline]
    pub fn without(mut self, c: u32) -> CoreSet {
        self.remove(c);
        self
    }
    /// The members, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some(i as u32 * 64 + b)
            })
        })
    }
}

/// Stable state of a line in one private cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mesi {
    /// Not present.
    Invalid,
    /// Read-only, possibly held by others.
    Shared,
    /// The only copy, clean (a write makes it M without telling anyone).
    Exclusive,
    /// The only copy, dirty.
    Modified,
}

/// A request to the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Read miss (GetS).
    Read,
    /// Write miss or upgrade (GetM).
    Write,
    /// The requester drops its copy (PutS / PutM); `dirty` when it held modified data.
    Evict {
        /// Whether the evicted copy was modified.
        dirty: bool,
    },
}

/// The directory's record of one line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// Cores holding the line shared (empty when an owner holds it).
    pub sharers: CoreSet,
    /// The core holding it exclusively (E or M), if any.
    pub owner: Option<u16>,
}

impl Entry {
    /// Every core holding a copy.
    pub fn holders(&self) -> CoreSet {
        let mut s = self.sharers;
        if let Some(o) = self.owner {
            s.insert(o as u32);
        }
        s
    }
}

/// What the protocol does for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The state the requester ends in (`None` for an eviction).
    pub grant: Option<Mesi>,
    /// Cores whose copies must be invalidated (never the requester).
    pub invalidate: CoreSet,
    /// The previous exclusive owner, which supplies the data (a cache-to-cache transfer).
    pub forward_from: Option<u32>,
    /// The previous owner keeps a shared copy (a read downgraded it); its dirty data, if any,
    /// is written to the LLC.
    pub downgrade: bool,
    /// The requester already held the line shared: an upgrade, no data moves.
    pub upgrade: bool,
    /// The data comes from the LLC or memory.
    pub from_llc: bool,
    /// Modified data was written back to the LLC (an eviction of a dirty copy).
    pub writeback: bool,
}

/// A fast hasher for line addresses (multiplicative; line numbers are not adversarial).
#[derive(Default, Clone, Copy)]
pub struct LineHasher(u64);

impl Hasher for LineHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        let x = (self.0 ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 32);
    }
}

/// A `HashMap` keyed by line address with [`LineHasher`].
pub type LineMap<V> = HashMap<u64, V, BuildHasherDefault<LineHasher>>;

/// Protocol counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProtocolStats {
    /// Read requests.
    pub reads: u64,
    /// Write requests (misses and upgrades).
    pub writes: u64,
    /// Upgrades (write to a line held shared).
    pub upgrades: u64,
    /// Copies invalidated by writes.
    pub invalidations: u64,
    /// Owners downgraded to shared by reads.
    pub downgrades: u64,
    /// Cache-to-cache transfers from an owner.
    pub forwards: u64,
    /// Dirty evictions written back to the LLC.
    pub writebacks: u64,
    /// Lines dropped by LLC evictions (back-invalidations).
    pub llc_evictions: u64,
}

impl ProtocolStats {
    /// Add `o`'s counters.
    pub fn add(&mut self, o: &ProtocolStats) {
        self.reads += o.reads;
        self.writes += o.writes;
        self.upgrades += o.upgrades;
        self.invalidations += o.invalidations;
        self.downgrades += o.downgrades;
        self.forwards += o.forwards;
        self.writebacks += o.writebacks;
        self.llc_evictions += o.llc_evictions;
    }
}

/// The full-map directory.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    lines: LineMap<Entry>,
    /// Counters.
    pub stats: ProtocolStats,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Directory {
        Directory::default()
    }

    /// The entry of `line`, if some core holds it.
    #[inline]
    pub fn get(&self, line: u64) -> Option<&Entry> {
        self.lines.get(&line)
    }

    /// Lines with an entry.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no line has an entry.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Apply one request by `core` for `line`.
    pub fn access(&mut self, core: u32, line: u64, op: Op) -> Outcome {
        let e = self.lines.entry(line).or_default();
        let mut out = Outcome::default();
        match op {
            Op::Read => {
                self.stats.reads += 1;
                match e.owner {
                    Some(o) if o as u32 != core => {
                        out.forward_from = Some(o as u32);
                        out.downgrade = true;
                        e.owner = None;
                        e.sharers = CoreSet::one(o as u32);
                        e.sharers.insert(core);
                        out.grant = Some(Mesi::Shared);
                        self.stats.forwards += 1;
                        self.stats.downgrades += 1;
                    }
                    Some(_) => {
                        // the owner lost its clean copy silently and reads it again
                        out.from_llc = true;
                        out.grant = Some(Mesi::Exclusive);
                    }
                    None => {
                        out.from_llc = true;
                        if e.sharers.without(core).is_empty() {
                            e.sharers = CoreSet::EMPTY;
                            e.owner = Some(core as u16);
                            out.grant = Some(Mesi::Exclusive);
                        } else {
                            e.sharers.insert(core);
                            out.grant = Some(Mesi::Shared);
                        }
                    }
                }
            }
            Op::Write => {
                self.stats.writes += 1;
                match e.owner {
                    Some(o) if o as u32 != core => {
                        out.forward_from = Some(o as u32);
                        out.invalidate = CoreSet::one(o as u32);
                        self.stats.forwards += 1;
                        self.stats.invalidations += 1;
                    }
                    Some(_) => out.from_llc = true,
                    None => {
                        out.invalidate = e.sharers.without(core);
                        out.upgrade = e.sharers.contains(core);
                        out.from_llc = !out.upgrade;
                        self.stats.invalidations += out.invalidate.len() as u64;
                        if out.upgrade {
                            self.stats.upgrades += 1;
                        }
                    }
                }
                e.sharers = CoreSet::EMPTY;
                e.owner = Some(core as u16);
                out.grant = Some(Mesi::Modified);
            }
            Op::Evict { dirty } => {
                if e.owner == Some(core as u16) {
                    e.owner = None;
                    if dirty {
                        out.writeback = true;
                        self.stats.writebacks += 1;
                    }
                }
                e.sharers.remove(core);
                if e.owner.is_none() && e.sharers.is_empty() {
                    self.lines.remove(&line);
                }
            }
        }
        out
    }

    /// The LLC evicted `line`: forget it and return the cores whose copies must be
    /// invalidated (an owner among them writes its dirty data back to memory).
    pub fn drop_line(&mut self, line: u64) -> CoreSet {
        match self.lines.remove(&line) {
            Some(e) => {
                let h = e.holders();
                if !h.is_empty() {
                    self.stats.llc_evictions += 1;
                }
                h
            }
            None => CoreSet::EMPTY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_sets_hold_up_to_256_cores() {
        let mut s = CoreSet::EMPTY;
        for c in [0, 63, 64, 200, 255] {
            s.insert(c);
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 63, 64, 200, 255]);
        assert_eq!(s.len(), 5);
        assert!(s.contains(200) && !s.contains(201));
        assert!(s.without(0).without(63).without(64).len() == 2);
    }

    #[test]
    fn mesi_transitions() {
        let mut d = Directory::new();
        // first reader gets E
        let o = d.access(0, 7, Op::Read);
        assert_eq!(o.grant, Some(Mesi::Exclusive));
        assert!(o.from_llc);
        // a second reader makes the owner forward and downgrade
        let o = d.access(1, 7, Op::Read);
        assert_eq!(
            (o.grant, o.forward_from, o.downgrade),
            (Some(Mesi::Shared), Some(0), true)
        );
        // a third reads from the LLC
        let o = d.access(2, 7, Op::Read);
        assert_eq!((o.grant, o.from_llc), (Some(Mesi::Shared), true));
        // core 1 writes: an upgrade invalidating 0 and 2
        let o = d.access(1, 7, Op::Write);
        assert!(o.upgrade && !o.from_llc);
        assert_eq!(o.invalidate.iter().collect::<Vec<_>>(), vec![0, 2]);
        // core 3 writes: dirty forward from 1, which is invalidated
        let o = d.access(3, 7, Op::Write);
        assert_eq!(o.forward_from, Some(1));
        assert_eq!(o.invalidate.iter().collect::<Vec<_>>(), vec![1]);
        // core 3 evicts dirty: a writeback, the entry goes away
        let o = d.access(3, 7, Op::Evict { dirty: true });
        assert!(o.writeback);
        assert!(d.get(7).is_none());
        assert_eq!(d.stats.invalidations, 3);
        assert_eq!(d.stats.upgrades, 1);
    }
}
