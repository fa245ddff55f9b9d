//! The interval core model, in its instruction-window formulation.
//!
//! Each instruction gets four timestamps in program order, computed in O(1):
//!
//! * **dispatch** `d_i`: the front end delivers `D` instructions per cycle; an I-cache or ITLB
//!   miss delays it by the miss latency beyond an L1 hit, a mispredicted branch restarts it
//!   `penalty` cycles after the branch resolves, a BTB miss costs a short bubble, and a full
//!   window (ROB) holds it until instruction `i - W` has retired: `d_i >= r_{i-W}` (likewise
//!   a full load or store queue for loads and stores);
//!   Each functional-unit class (ALU, multiply/divide, FP, load, store) dispatches at most as
//!   many instructions per cycle as it has units.
//! * **issue** `s_i = max(d_i, ready(sources))` — dependence-limited dispatch inside the window;
//! * **completion** `c_i = s_i + latency_i`, where a load's latency comes from the memory
//!   hierarchy at time `s_i` (so independent misses inside the window overlap — memory-level
//!   parallelism — while dependent ones serialise);
//! * **retirement** `r_i = max(c_i, r_{i-1})`, at most `D` per cycle.
//!
//! Between miss events the core therefore runs at `D` instructions per cycle; a miss event
//! costs exactly the interval-analysis penalty (a long-latency load blocks the ROB head for its
//! latency, overlapping misses within `W` instructions count once; a mispredicted branch costs
//! its resolution time plus the front-end refill). Cycles lost at retirement are charged to the
//! CPI stack: the part before the instruction could start goes to its start cause (front-end
//! event or dependences), the part while it executed to its execution cause (the memory level
//! that served a load, or dependences).

use super::{InstrBuffer, Latencies, Stop};
use crate::bpred::{BranchUnit, Outcome};
use crate::config::{Config, MAX_QUEUE_ENTRIES};
use crate::frontend::{BranchKind, Instr, InstrStream, Kind, TraceError};
use crate::memory::{PrivateCaches, Uncore};
use crate::stats::{Component, CoreStats, CpiStack};

/// Functional-unit class of an instruction that does not access memory, by [`Kind`]: ALU (0),
/// multiply/divide (1), floating point (2). Loads and stores use classes 3 and 4.
const FU_OF_KIND: [u8; 10] = [0, 1, 1, 2, 0, 0, 0, 0, 0, 0];

/// Bits of a record's memory mask: it reads memory (a load, 1 << false) or writes it (a
/// store, 1 << true).
const READS: u8 = 1;
const WRITES: u8 = 2;

/// Functional-unit class of an instruction that accesses memory, by memory mask: reads use
/// the load units (3) even when they also write, writes alone the store units (4).
const FU_OF_MEM: [u8; 4] = [0, 3, 4, 3];

/// Entries of the functional-unit array: the five classes, rounded up to a power of two.
const FU_SLOTS: usize = 8;

/// What the core needs to know of a [`Kind`] for every record, in one table entry so that a
/// single lookup serves the latency and unit class. (Whether a kind serialises, waiting for
/// all older instructions and holding younger ones back, [`Kind::Serial`] and [`Kind::Sync`],
/// is tested on the record: records without memory operands that do not serialise then take
/// a variant of the per-record code without the serialisation tests.)
#[derive(Clone, Copy, Debug)]
struct KindInfo {
    /// Execution latency.
    lat: u32,
    /// Functional-unit class when the instruction does not access memory.
    fu: u8,
}

/// Ring size of a [`Pile`]: above the largest issue queue the configuration accepts plus its
/// two sentinel slots, and a constant power of two so that masked indices need no bounds checks.
const WAITING_RING: usize = (MAX_QUEUE_ENTRIES as usize + 3).next_power_of_two();

/// Sorted rings ("piles") of [`Waiting`]. Most out-of-order issue times (a short wait behind
/// a long one) fall at or above the back of another pile and are appended there instead of
/// shifted into place: of the insertions that would land inside one sorted ring, two piles
/// append 50–60 % on real programs (`python3`, `xz`, `sort`), three piles 80–90 %.
const PILES: usize = 3;

/// Issue times of some of the instructions waiting in the issue queue, ascending, in a ring.
/// Entries below the dispatch cycle have issued; they are released lazily (see [`Waiting`]).
///
/// Two sentinels spare the loops their bounds tests. The slot at `tail` (just past the last
/// entry) always holds `u64::MAX`, which stops a release and a forward insertion scan. The slot
/// just before `head` always holds a value no larger than any later insertion, which stops a
/// backward scan (and makes an empty ring append): it is an entry already released or popped,
/// and every removed value lies below the release point, which never decreases and which every
/// insertion reaches (an entry is the issue time of an instruction that waited past its
/// dispatch); or it is 0. `head` and `tail` count up without wrapping (mod 2^64) and are masked
/// on use, so `tail - head` is the ring's length.
struct Pile {
    /// Inline rather than boxed: indexed from the core with no pointer to load.
    ring: [u64; WAITING_RING],
    head: usize,
    tail: usize,
}

impl Pile {
    const MASK: usize = WAITING_RING - 1;

    /// Initialise an empty pile in place at `p`.
    ///
    /// # Safety
    ///
    /// `p` must be valid for writes and aligned; afterwards every field of `*p` is initialised.
    unsafe fn init(p: *mut Pile) {
        // SAFETY: the caller guarantees that `p` is valid for writes and aligned, hence so are
        // its fields; the ring's WAITING_RING u64 are all written (zero, then the sentinel).
        unsafe {
            let ring = (&raw mut (*p).ring).cast::<u64>();
            ring.write_bytes(0, WAITING_RING);
            ring.write(u64::MAX);
            (&raw mut (*p).head).write(0);
            (&raw mut (*p).tail).write(0);
        }
    }

    #[inline]
    fn at(&self, k: usize) -> u64 {
        self.ring[k & Self::MASK]
    }

    #[inline]
    fn set(&mut self, k: usize, v: u64) {
        self.ring[k & Self::MASK] = v;
    }

    /// Entries in the ring.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.tail.wrapping_sub(self.head)
    }

    /// The earliest entry (`u64::MAX` when the ring is empty: the tail sentinel).
    #[inline]
    fn front(&self) -> u64 {
        self.at(self.head)
    }

    /// The last entry; on an empty ring the head sentinel (no larger than any later insertion).
    #[inline]
    fn back(&self) -> u64 {
        self.at(self.tail.wrapping_sub(1))
    }

    /// Drop the entries below `t` (`t < u64::MAX`: the tail sentinel stops the scan); returns
    /// how many.
    #[inline]
    fn release_before(&mut self, t: u64) -> usize {
        let start = self.head;
        let mut h = start;
        if self.at(h) < t {
            loop {
                h = h.wrapping_add(1);
                if self.at(h) >= t {
                    break;
                }
            }
            self.head = h;
        }
        h.wrapping_sub(start)
    }

    /// Append `x` when it is at least the last entry (or the ring is empty); whether it was.
    #[inline(always)]
    fn try_append(&mut self, x: u64) -> bool {
        let tail = self.tail;
        if self.back() <= x {
            self.set(tail, x);
            self.tail = tail.wrapping_add(1);
            self.set(self.tail, u64::MAX);
            true
        } else {
            false
        }
    }

    /// Insert `x`, below the last entry, from the nearer end, dispatched at `disp < x` (the
    /// ring must have room); returns how many issued entries it released first.
    fn insert_inside(&mut self, x: u64, disp: u64) -> usize {
        // Issued entries would be shifted too: release them first (the last entry is live).
        let released = self.release_before(disp);
        let tail = self.tail;
        let back = self.back();
        debug_assert!(x < back);
        if x.saturating_sub(self.front()) < back - x {
            // Nearer the front (a short wait among long ones): shift the smaller entries one
            // slot forward; the tail sentinel stops the scan.
            // (Masked slot numbers carried from one step to the next: fewer instructions.)
            let head = self.head;
            let mut hole = head.wrapping_sub(1) & Self::MASK;
            let mut i = head & Self::MASK;
            loop {
                let v = self.ring[i];
                if v >= x {
                    break;
                }
                self.ring[hole] = v;
                hole = i;
                i = (i + 1) & Self::MASK;
            }
            self.ring[hole] = x;
            self.head = head.wrapping_sub(1);
            // The new slot before the head: no larger than any later insertion.
            self.set(self.head.wrapping_sub(1), 0);
        } else {
            // From the back, shifting the larger entries one slot back; the slot before the
            // head stops the scan.
            self.set(tail, back);
            let mut hole = tail.wrapping_sub(1) & Self::MASK;
            let mut i = hole.wrapping_sub(1) & Self::MASK;
            loop {
                let v = self.ring[i];
                if v <= x {
                    break;
                }
                self.ring[hole] = v;
                hole = i;
                i = i.wrapping_sub(1) & Self::MASK;
            }
            self.ring[hole] = x;
            self.tail = tail.wrapping_add(1);
            self.set(self.tail, u64::MAX);
        }
        released
    }
}

/// Issue times of the instructions waiting in the issue queue, in [`PILES`] sorted rings
/// (piles). Entries below the dispatch cycle have issued; they are released lazily, only when
/// the piles' total length (an upper bound of the live entries) reaches the capacity or an
/// insertion lands inside a pile: the queue is full when, those released, it is still at
/// capacity, and then the least of the piles' fronts is the entry that frees first.
///
/// An issue time goes to the back of the first pile whose last entry is not above it
/// (dependence chains issue in order, so that is nearly always the first pile; a short wait
/// behind a long one usually finds a later pile); only when every pile ends above it is it
/// shifted into place, in the pile that ends lowest, from its nearer end. Which pile holds an
/// entry never changes when the queue admits, so the admission times are those of one sorted
/// list of all entries.
struct Waiting {
    piles: [Pile; PILES],
    /// Capacity minus the piles' total length: the queue may be full when it reaches 0 (one
    /// compare per record). Negative only after [`Self::set_capacity`] lowers the capacity.
    room: isize,
    /// Total length of the piles after the first: while it is 0, a full queue pops the first
    /// pile's front without looking at the others.
    others: usize,
}

impl Waiting {
    /// Initialise an empty queue of `capacity` entries in place at `w`: its rings are too
    /// large to build on the stack and move (see [`IntervalCore::new`]).
    ///
    /// # Safety
    ///
    /// `w` must be valid for writes and aligned; afterwards every field of `*w` is initialised.
    unsafe fn init(w: *mut Waiting, capacity: usize) {
        assert!(
            capacity + 2 < WAITING_RING,
            "issue queue size validated by Config"
        );
        // SAFETY: the caller guarantees that `w` is valid for writes and aligned, hence so are
        // its fields, and each pile of the array.
        unsafe {
            let piles = (&raw mut (*w).piles).cast::<Pile>();
            for i in 0..PILES {
                Pile::init(piles.add(i));
            }
            (&raw mut (*w).room).write(capacity as isize);
            (&raw mut (*w).others).write(0);
        }
    }

    /// An empty queue of `capacity` entries, built on the heap.
    #[cfg(test)]
    fn new_boxed(capacity: usize) -> Box<Waiting> {
        let mut w = Box::<Waiting>::new_uninit();
        // SAFETY: `init` writes every field of the fresh allocation.
        unsafe {
            Waiting::init(w.as_mut_ptr(), capacity);
            w.assume_init()
        }
    }

    /// Change the capacity (a test drains the queue through one entry).
    #[cfg(test)]
    fn set_capacity(&mut self, capacity: usize) {
        self.room = capacity as isize - self.len() as isize;
    }

    /// Entries in the piles (issued ones not yet released included).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.piles.iter().map(Pile::len).sum()
    }

    /// Drop the entries below `t` from every pile.
    #[inline]
    fn release_before(&mut self, t: u64) {
        self.room += self.piles[0].release_before(t) as isize;
        for p in &mut self.piles[1..] {
            let n = p.release_before(t);
            self.room += n as isize;
            self.others -= n;
        }
    }

    /// Take the least of the piles' fronts (the queue must not be empty).
    #[inline]
    fn pop_min(&mut self) -> u64 {
        let mut best = 0;
        for i in 1..PILES {
            if self.piles[i].front() < self.piles[best].front() {
                best = i;
            }
        }
        let p = &mut self.piles[best];
        let m = p.front();
        p.head = p.head.wrapping_add(1);
        self.room += 1;
        if best > 0 {
            self.others -= 1;
        }
        m
    }

    /// The dispatch cycle, at or after `disp`, at which the queue has a free entry: when the
    /// piles are at capacity, the entries below `disp` are released, and if it is still full
    /// its earliest entry is taken (it frees in its issue cycle, for dispatch in the next).
    /// `disp` never decreases from one call to the next.
    #[inline(always)]
    fn admit(&mut self, disp: u64) -> u64 {
        if self.room > 0 {
            return disp;
        }
        self.admit_full(disp)
    }

    /// [`Self::admit`] when the piles are at capacity. Out of line, so that its loops do not
    /// crowd the registers of the per-record code.
    #[cold]
    #[inline(never)]
    fn admit_full(&mut self, disp: u64) -> u64 {
        if self.others == 0 {
            // All entries in the first pile: the common case of a queue that stays full
            // behind a dependence chain (see below), tested first.
            let p = &mut self.piles[0];
            let front = p.front();
            if front >= disp {
                p.head = p.head.wrapping_add(1);
                self.room += 1;
                return front + 1;
            }
        }
        if self.piles.iter().all(|p| p.front() >= disp) {
            // Nothing to release (a queue that stays full, as behind a dependence chain): the
            // earliest entry frees first. The entries it leaves below the returned cycle are
            // released by the next call that finds the piles at capacity.
            return self.pop_min() + 1;
        }
        self.release_before(disp);
        if self.room > 0 {
            return disp;
        }
        let first_free = self.pop_min();
        let disp = disp.max(first_free + 1);
        self.release_before(disp);
        disp
    }

    /// Insert `x` (the queue must have room), dispatched at `disp < x`. `x` must be at least
    /// every value removed so far (see [`Pile`]'s sentinels).
    #[inline]
    fn insert(&mut self, x: u64, disp: u64) {
        self.room -= 1;
        // At the back of the first pile (dependence chains issue in order: the common case).
        if self.piles[0].try_append(x) {
            return;
        }
        self.insert_rest(x, disp);
    }

    /// [`Self::insert`] beyond the first pile. Out of line, so that its loops do not crowd the
    /// registers of the per-record code (a call per later pile's append costs less than the
    /// inline test spoils there).
    #[cold]
    #[inline(never)]
    fn insert_rest(&mut self, x: u64, disp: u64) {
        for p in &mut self.piles[1..] {
            if p.try_append(x) {
                self.others += 1;
                return;
            }
        }
        // Every pile ends above `x`: into the one that ends lowest.
        let mut best = 0;
        for i in 1..PILES {
            if self.piles[i].back() < self.piles[best].back() {
                best = i;
            }
        }
        let released = self.piles[best].insert_inside(x, disp);
        self.room += released as isize;
        if best > 0 {
            self.others = self.others + 1 - released;
        }
    }
}

/// Ring size of [`Window`]: the largest ROB, load or store queue the configuration accepts,
/// rounded up to a power of two, a constant so that masked indices need no bounds checks.
const WINDOW_RING: usize = (MAX_QUEUE_ENTRIES as usize).next_power_of_two();

/// Retirement times of the last `size` instructions of a kind (all, loads, stores), in the
/// first `size` slots of a ring: the slot at `pos` holds the oldest, whose retirement frees
/// the entry the next one needs. `pos` counts down (a test for zero rather than a compare
/// with `size`) and is always below `size`, so it indexes without a mask or bounds check.
struct Window {
    /// Inline rather than a `Vec`: no pointer or length to load.
    ring: [u64; WINDOW_RING],
    pos: usize,
    size: usize,
}

impl Window {
    /// Initialise an empty window of `size` entries in place at `w`: its ring is too large to
    /// build on the stack and move (see [`IntervalCore::new`]).
    ///
    /// # Safety
    ///
    /// `w` must be valid for writes and aligned; afterwards every field of `*w` is initialised.
    unsafe fn init(w: *mut Window, size: usize) {
        assert!(
            (1..=WINDOW_RING).contains(&size),
            "window size validated by Config"
        );
        // SAFETY: the caller guarantees that `w` is valid for writes and aligned, hence so are
        // its fields; the ring's WINDOW_RING u64 are all written.
        unsafe {
            (&raw mut (*w).ring)
                .cast::<u64>()
                .write_bytes(0, WINDOW_RING);
            (&raw mut (*w).pos).write(size - 1);
            (&raw mut (*w).size).write(size);
        }
    }

    /// When the oldest entry retires (0 while the window is not yet full).
    #[inline]
    fn oldest(&self) -> u64 {
        // SAFETY: `pos < size <= WINDOW_RING` (set by `init`, kept by `push`).
        unsafe { *self.ring.get_unchecked(self.pos) }
    }

    /// Replace the oldest entry by one retiring at `r`.
    #[inline]
    fn push(&mut self, r: u64) {
        let pos = self.pos;
        // SAFETY: `pos < size <= WINDOW_RING` (set by `init`, kept below).
        unsafe { *self.ring.get_unchecked_mut(pos) = r };
        self.pos = if pos == 0 { self.size } else { pos } - 1;
    }
}

/// Dispatch bookkeeping of one functional-unit class (kept together: one index per record).
#[derive(Clone, Copy, Debug)]
struct FuClass {
    /// Cycle the class dispatches in next.
    cycle: u64,
    /// Units of the class still free in `cycle` (counted down: a test for zero per record
    /// rather than a compare with `units`).
    free: u32,
    /// Units of the class (instructions per cycle).
    units: u32,
}

/// Interval-model core.
pub struct IntervalCore {
    width: u32,
    /// Latency, unit class and serialisation by [`Kind`].
    kinds: [KindInfo; 10],
    lat: Latencies,
    penalty: u64,
    btb_penalty: u64,
    l1i_lat: u64,
    /// Private caches and TLBs.
    pub mem: PrivateCaches,
    /// Branch predictor, BTB, RAS.
    pub bpred: BranchUnit,
    buf: InstrBuffer,
    fe_cycle: u64,
    fe_slots: u32,
    fe_cause: Component,
    fe_cause_cycle: u64,
    last_line: u64,
    /// When each register's value is ready. Inline rather than boxed: reached from `self`
    /// with no pointer to reload after each store.
    reg_ready: [u64; 256],
    rob: Window,
    lq: Window,
    sq: Window,
    /// Issue times of dispatched instructions still waiting in the issue queue, in sorted
    /// piles (an insertion nearly always goes to the back of one).
    iq: Waiting,
    ret_cycle: u64,
    ret_slots: u32,
    max_complete: u64,
    /// Per functional-unit class: ALU, multiply/divide, FP, load, store; padded with
    /// unused entries to [`FU_SLOTS`] so that a masked index needs no bounds check.
    fu: [FuClass; FU_SLOTS],
    start_cycle: u64,
    instrs: u64,
    loads: u64,
    stores: u64,
    cpi: CpiStack,
}

impl IntervalCore {
    /// Core number `id` of configuration `c`, built directly on the heap.
    ///
    /// The core holds its rings inline (about 290 KB: [`Waiting`]'s three piles and three
    /// [`Window`]s), so that the per-record code indexes them from `self` with no pointer to
    /// load. Built as a
    /// value it would pass through the stack, several copies of it in a debug build, which
    /// overflows the small stack of a QEMU guest thread (the `intervalsim-qemu` plugin builds
    /// its cores there). So the allocation is made uninitialised and each field written in
    /// place; the rings are initialised by [`Waiting::init`] and [`Window::init`].
    pub fn new(id: u32, c: &Config) -> Box<IntervalCore> {
        let lat = Latencies::new(c);
        let kinds = std::array::from_fn(|i| {
            let kind = Kind::from_u8(i as u8).expect("a Kind for every table entry");
            KindInfo {
                lat: lat.of(kind),
                fu: FU_OF_KIND[i],
            }
        });
        let fu = [
            c.core.alu_units,
            c.core.mul_units,
            c.core.fp_units,
            c.core.load_units,
            c.core.store_units,
            1,
            1,
            1,
        ]
        // (A class of no units, which `Config` rejects, would act as one of one.)
        .map(|units| FuClass {
            cycle: 0,
            free: units.max(1),
            units: units.max(1),
        });
        // The parts are built before the allocation, so that a panic there has nothing to
        // leak. (After it, only the ring size assertions of the `init`s can panic: that frees
        // the allocation as uninitialised, leaking the fields written so far, never reading them.)
        let mem = PrivateCaches::new(id, c);
        let bpred = BranchUnit::new(&c.bpred);
        let cpi = CpiStack::new(c.core.dispatch_width);
        let mut core = Box::<IntervalCore>::new_uninit();
        let p = core.as_mut_ptr();
        // SAFETY: `p` points to a fresh allocation of an `IntervalCore`, so it and every field
        // reached through it are valid for writes and aligned. Each field is written exactly
        // once below (`every_field_is_written_by_new` fails to compile when a field is added and
        // not listed there, a reminder to write it here too), so `assume_init` is sound.
        unsafe {
            (&raw mut (*p).width).write(c.core.dispatch_width);
            (&raw mut (*p).kinds).write(kinds);
            (&raw mut (*p).lat).write(lat);
            (&raw mut (*p).penalty).write(c.bpred.mispredict_penalty as u64);
            (&raw mut (*p).btb_penalty).write(c.bpred.btb_miss_penalty as u64);
            (&raw mut (*p).l1i_lat).write(c.l1i.latency as u64);
            (&raw mut (*p).mem).write(mem);
            (&raw mut (*p).bpred).write(bpred);
            (&raw mut (*p).buf).write(InstrBuffer::default());
            (&raw mut (*p).fe_cycle).write(0);
            (&raw mut (*p).fe_slots).write(0);
            (&raw mut (*p).fe_cause).write(Component::Depend);
            (&raw mut (*p).fe_cause_cycle).write(u64::MAX);
            (&raw mut (*p).last_line).write(u64::MAX);
            (&raw mut (*p).reg_ready).write([0; 256]);
            Window::init(&raw mut (*p).rob, c.core.rob_size as usize);
            Window::init(&raw mut (*p).lq, c.core.load_queue as usize);
            Window::init(&raw mut (*p).sq, c.core.store_queue as usize);
            Waiting::init(&raw mut (*p).iq, (c.core.issue_queue as usize).max(1));
            (&raw mut (*p).ret_cycle).write(0);
            (&raw mut (*p).ret_slots).write(0);
            (&raw mut (*p).max_complete).write(0);
            (&raw mut (*p).fu).write(fu);
            (&raw mut (*p).start_cycle).write(0);
            (&raw mut (*p).instrs).write(0);
            (&raw mut (*p).loads).write(0);
            (&raw mut (*p).stores).write(0);
            (&raw mut (*p).cpi).write(cpi);
            core.assume_init()
        }
    }

    /// Never called: its pattern names every field of [`IntervalCore`] (no `..`), so adding a
    /// field fails to compile here until it is listed, a reminder to write it in [`Self::new`].
    #[allow(dead_code)]
    fn every_field_is_written_by_new(&self) {
        let IntervalCore {
            width: _,
            kinds: _,
            lat: _,
            penalty: _,
            btb_penalty: _,
            l1i_lat: _,
            mem: _,
            bpred: _,
            buf: _,
            fe_cycle: _,
            fe_slots: _,
            fe_cause: _,
            fe_cause_cycle: _,
            last_line: _,
            reg_ready: _,
            rob: _,
            lq: _,
            sq: _,
            iq: _,
            ret_cycle: _,
            ret_slots: _,
            max_complete: _,
            fu: _,
            start_cycle: _,
            instrs: _,
            loads: _,
            stores: _,
            cpi: _,
        } = self;
    }

    /// Current cycle (of the last retirement).
    pub fn cycle(&self) -> u64 {
        self.ret_cycle
    }

    /// See [`super::Core::step`].
    pub fn step<S: InstrStream + ?Sized, U: Uncore>(
        &mut self,
        stream: &mut S,
        u: &mut U,
        max_instrs: u64,
        until_cycle: u64,
    ) -> Result<Stop, TraceError> {
        let mut n = 0;
        while n < max_instrs {
            if self.ret_cycle >= until_cycle {
                return Ok(Stop::Cycles);
            }
            if self.buf.peek(stream)?.is_none() {
                return Ok(Stop::EndOfStream);
            }
            // Simulate straight out of the batch buffer, without copying each record: the
            // buffer is moved out while the core borrows itself mutably.
            let buf = std::mem::take(&mut self.buf.buf);
            let start = self.buf.pos;
            let end = self
                .buf
                .len
                .min(start.saturating_add((max_instrs - n) as usize));
            let mut k = start;
            if until_cycle == u64::MAX {
                // No cycle limit (single-core runs): the clock cannot reach it, so the batch
                // runs without a test per instruction.
                for ins in &buf[start..end] {
                    self.simulate_any(ins, u);
                }
                k = end;
            } else {
                for ins in &buf[start..end] {
                    self.simulate_any(ins, u);
                    k += 1;
                    if self.ret_cycle >= until_cycle {
                        break;
                    }
                }
            }
            self.buf.buf = buf;
            self.buf.pos = k;
            // Counted per batch rather than per record.
            self.instrs += (k - start) as u64;
            n += (k - start) as u64;
        }
        Ok(Stop::Instructions)
    }

    /// Simulate `records` in program order, read in place from the caller's slice (a live
    /// front end that already holds a batch saves the copy through the stream buffer).
    /// Instructions still buffered from an earlier [`IntervalCore::step`] go first.
    pub fn step_records<U: Uncore>(&mut self, records: &[Instr], u: &mut U) {
        if self.buf.pos < self.buf.len {
            let buf = std::mem::take(&mut self.buf.buf);
            for ins in &buf[self.buf.pos..self.buf.len] {
                self.simulate_any(ins, u);
            }
            self.instrs += (self.buf.len - self.buf.pos) as u64;
            self.buf.buf = buf;
            self.buf.pos = self.buf.len;
        }
        for ins in records {
            self.simulate_any(ins, u);
        }
        self.instrs += records.len() as u64;
    }

    #[inline]
    fn redirect(&mut self, t: u64, cause: Component) {
        if t > self.fe_cycle {
            self.fe_cycle = t;
            self.fe_slots = 0;
            self.fe_cause = cause;
            self.fe_cause_cycle = t;
        }
    }

    /// Instruction fetch of a new cache line at the front end's cycle; an access slower than
    /// an L1 hit delays the front end.
    #[inline]
    fn fetch_line<U: Uncore>(&mut self, pc: u64, u: &mut U) {
        let s = self.mem.fetch(u, pc, self.fe_cycle);
        let lat = s.ready - self.fe_cycle;
        if lat > self.l1i_lat {
            let extra = lat - self.l1i_lat;
            let cause = if s.tlb_cycles as u64 * 2 >= extra {
                Component::Tlb
            } else {
                Component::icache(s.level)
            };
            let t = self.fe_cycle + extra;
            self.redirect(t, cause);
        }
    }

    /// Charge the `g` cycles between the last retirement and this instruction's completion
    /// (the slots left in the current cycle plus `g - 1` whole cycles): the part before
    /// `issue` to `start_cause`, the rest to `exec_cause` (its translation share to the TLB).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn charge(
        &mut self,
        complete: u64,
        issue: u64,
        start_cause: Component,
        exec_cause: Component,
        tlb_cycles: u64,
    ) {
        let d = self.width;
        let g = complete - self.ret_cycle;
        let lost = (d - self.ret_slots) as u64 + (g - 1) * d as u64;
        let s = issue.saturating_sub(self.ret_cycle).min(g);
        // The split is proportional; its ends (common) need no division.
        let lost_start = if s == 0 {
            0
        } else if s == g {
            lost
        } else {
            lost * s / g
        };
        self.cpi.add(start_cause, lost_start);
        let lost_exec = lost - lost_start;
        if tlb_cycles > 0 {
            // Translation is the first part of a load's latency.
            let exec_time = complete - issue;
            let lost_tlb = lost_exec * tlb_cycles.min(exec_time) / exec_time;
            self.cpi.add(Component::Tlb, lost_tlb);
            self.cpi.add(exec_cause, lost_exec - lost_tlb);
        } else {
            self.cpi.add(exec_cause, lost_exec);
        }
        self.ret_cycle = complete;
        self.ret_slots = 0;
    }

    /// Simulate one instruction; the caller counts it in `instrs`. Records without memory
    /// operands that do not serialise (most) take a variant that carries no load or store
    /// state and no serialisation tests.
    #[inline(always)]
    fn simulate_any<U: Uncore>(&mut self, ins: &Instr, u: &mut U) {
        let serial = matches!(ins.kind, Kind::Serial | Kind::Sync);
        if ins.n_mem == 0 {
            if !serial {
                self.simulate::<false, false, U>(ins, u);
            } else {
                self.simulate::<false, true, U>(ins, u);
            }
        } else {
            self.simulate::<true, true, U>(ins, u);
        }
    }

    /// Simulate one instruction, which has memory operands exactly when `MEM`, and may be of
    /// a serialising kind only when `SERIAL`.
    #[inline(always)]
    fn simulate<const MEM: bool, const SERIAL: bool, U: Uncore>(&mut self, ins: &Instr, u: &mut U) {
        let d = self.width;
        // Front end: instruction fetch, one cache access per new line.
        if ins.pc >> 6 != self.last_line {
            self.last_line = ins.pc >> 6;
            self.fetch_line(ins.pc, u);
        }
        if self.fe_slots >= d {
            self.fe_cycle += 1;
            self.fe_slots = 0;
        }
        let fe = self.fe_cycle;
        let info = self.kinds[ins.kind as usize];
        // One read/write mask rather than flags: fewer values to keep live.
        let mut rw = 0u8;
        if MEM {
            for m in ins.mem_ops() {
                rw |= 1 << m.write as u8;
            }
        }
        // Dispatch: the earliest cycle at or after the front end's with a free ROB (and load
        // or store queue) entry, a free issue-queue entry and a free functional unit. Each
        // limit only raises `disp`, so the stall is applied to the front end once, at the end.
        let mut disp = fe.max(self.rob.oldest());
        if MEM {
            if rw & READS != 0 {
                disp = disp.max(self.lq.oldest());
            }
            if rw & WRITES != 0 {
                disp = disp.max(self.sq.oldest());
            }
        }
        // Issue-queue capacity: an entry frees when its instruction issues, for dispatch in
        // the next cycle. Only instructions that wait for their operands are tracked (one that
        // issues in its dispatch cycle holds an entry for that cycle only).
        disp = self.iq.admit(disp);
        // Functional-unit throughput: each class sustains at most `units` per cycle.
        let fu = if !MEM {
            info.fu
        } else {
            FU_OF_MEM[rw as usize]
        } as usize;
        let f = &mut self.fu[fu & (FU_SLOTS - 1)];
        if f.cycle >= disp {
            disp = f.cycle;
        } else {
            f.cycle = disp;
            f.free = f.units;
        }
        f.free -= 1;
        if f.free == 0 {
            f.cycle += 1;
            f.free = f.units;
        }
        let disp_cause = if disp > fe {
            self.fe_cycle = disp;
            self.fe_slots = 1;
            Component::Depend
        } else {
            self.fe_slots += 1;
            if self.fe_cause_cycle == fe {
                self.fe_cause
            } else {
                Component::Depend
            }
        };

        // Issue when the sources are ready.
        // Register 0 means "none"; its ready time stays 0, so no test per source.
        let rr = &self.reg_ready;
        let src_ready = rr[ins.src[0] as usize]
            .max(rr[ins.src[1] as usize])
            .max(rr[ins.src[2] as usize].max(rr[ins.src[3] as usize]));
        let serial = SERIAL && matches!(ins.kind, Kind::Serial | Kind::Sync);
        let mut issue = disp.max(src_ready);
        if serial {
            issue = issue.max(self.max_complete);
        }
        let waited = issue > disp;
        if waited {
            self.iq.insert(issue, disp);
        }
        let start_cause = if waited {
            if serial && issue == self.max_complete && issue > src_ready {
                Component::Serial
            } else {
                Component::Depend
            }
        } else {
            disp_cause
        };

        // Execute.
        let mut complete = issue + info.lat as u64;
        let mut exec_cause = if waited {
            Component::Depend
        } else {
            disp_cause
        };
        let mut tlb_cycles = 0u64;
        if MEM {
            self.stores += (rw & WRITES != 0) as u64;
            if let Some((ready, level, tlb)) =
                super::access_memory(&mut self.mem, u, &self.lat, ins, issue)
            {
                self.loads += 1;
                complete = ready;
                exec_cause = Component::dcache(level);
                tlb_cycles = tlb;
            }
        }
        self.reg_ready[ins.dst[0] as usize] = complete;
        self.reg_ready[ins.dst[1] as usize] = complete;
        self.reg_ready[0] = 0;
        self.max_complete = self.max_complete.max(complete);

        // Retire in order, D per cycle; charge empty slots.
        if self.ret_slots >= d {
            self.ret_cycle += 1;
            self.ret_slots = 0;
        }
        if complete > self.ret_cycle {
            self.charge(complete, issue, start_cause, exec_cause, tlb_cycles);
        }
        self.ret_slots += 1;
        let r = self.ret_cycle;
        self.rob.push(r);
        if MEM {
            if rw & READS != 0 {
                self.lq.push(r);
            }
            if rw & WRITES != 0 {
                self.sq.push(r);
            }
        }

        // Branch prediction, at dispatch in program order; redirects apply to younger ones.
        // It comes after retirement, which it does not affect, so that fewer values stay live
        // across the predictor call.
        if ins.branch != BranchKind::None {
            match self.bpred.predict_update(ins) {
                Outcome::Correct => {}
                Outcome::Mispredict => self.redirect(complete + self.penalty, Component::Branch),
                Outcome::BtbMiss => {
                    let t = self.fe_cycle + self.btb_penalty;
                    self.redirect(t, Component::Branch)
                }
            }
        }
        if serial {
            self.redirect(complete, Component::Serial);
        }
    }

    /// Statistics since the last reset.
    pub fn stats(&self) -> CoreStats {
        // Every retired instruction fills one base slot: counted here, not one by one.
        let mut cpi = self.cpi;
        cpi.add(Component::Base, self.instrs);
        let cycles = if self.instrs == 0 && self.ret_slots == 0 {
            0
        } else {
            cpi.add(
                Component::Base,
                (self.width - self.ret_slots.min(self.width)) as u64,
            );
            self.ret_cycle + 1 - self.start_cycle
        };
        super::core_stats(
            self.instrs,
            cycles,
            self.loads,
            self.stores,
            cpi,
            &self.mem,
            &self.bpred,
        )
    }

    /// Hold the core idle until cycle `t` (blocked in a synchronisation, or waiting for the
    /// shared memory system beyond what it was told): the slots from now to `t` go to `cause`.
    /// Nothing happens when the core is already at or past `t`.
    pub fn stall_until(&mut self, t: u64, cause: Component) {
        if t <= self.ret_cycle {
            return;
        }
        let d = self.width;
        let lost = (d - self.ret_slots.min(d)) as u64 + (t - self.ret_cycle - 1) * d as u64;
        self.cpi.add(cause, lost);
        self.ret_cycle = t;
        self.ret_slots = 0;
        if self.fe_cycle < t {
            self.fe_cycle = t;
            self.fe_slots = 0;
        }
    }

    /// Start counting afresh.
    pub fn reset_stats(&mut self) {
        self.cpi = CpiStack::new(self.width);
        self.cpi.add(Component::Base, self.ret_slots as u64);
        self.start_cycle = self.ret_cycle;
        self.instrs = 0;
        self.loads = 0;
        self.stores = 0;
        super::reset_shared_stats(&mut self.mem, &mut self.bpred);
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_QUEUE_ENTRIES, Waiting};

    /// Each pile ascends and both its sentinels hold: `u64::MAX` at the tail, and before the
    /// head a value no larger than `now`, below which nothing is inserted; the piles' entries
    /// not below `now` equal `reference`, and the free room is counted right.
    fn check_state(w: &Waiting, capacity: usize, reference: &[u64], now: u64) {
        let mut all = Vec::new();
        for p in &w.piles {
            let ring: Vec<u64> = (0..p.len()).map(|i| p.at(p.head.wrapping_add(i))).collect();
            assert!(ring.is_sorted());
            assert_eq!(p.at(p.tail), u64::MAX);
            assert!(p.at(p.head.wrapping_sub(1)) <= now);
            all.extend(ring);
        }
        all.sort_unstable();
        let live: Vec<u64> = all.into_iter().filter(|&v| v >= now).collect();
        assert_eq!(live, reference);
        assert_eq!(w.room, capacity as isize - w.len() as isize);
        let others: usize = w.piles[1..].iter().map(|p| p.len()).sum();
        assert_eq!(w.others, others);
    }

    /// Every pile's tail sentinel holds.
    fn check_tails(w: &Waiting) {
        for p in &w.piles {
            assert_eq!(p.at(p.tail), u64::MAX);
        }
    }

    /// Drive a [`Waiting`] and a sorted reference with the same operations: admissions at a
    /// rising dispatch cycle (releases, and when full the earliest entry taken), each followed
    /// by an insertion at or after it (`near` cycles ahead at most, or with one chance in
    /// `far_every`, `far` cycles ahead at most).
    fn check_mixture(
        capacity: usize,
        near: u64,
        far: u64,
        far_every: u64,
        advance: u64,
        seed: u64,
    ) {
        let mut w = Waiting::new_boxed(capacity);
        let mut reference: Vec<u64> = Vec::new();
        let mut x = seed;
        let mut now = 0u64;
        // The full comparison of a large queue now and then only: it sorts the queue.
        let check = |w: &Waiting, capacity: usize, reference: &[u64], now: u64, i: usize| {
            if reference.len() <= 128 || i.is_multiple_of(500) {
                check_state(w, capacity, reference, now);
            } else {
                assert!(w.len() >= reference.len());
                check_tails(w);
            }
        };
        for i in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = x >> 33;
            if r.is_multiple_of(4) {
                now += r % advance;
            }
            let disp = w.admit(now);
            reference.retain(|&t| t >= now);
            if reference.len() >= capacity {
                let m = reference.remove(0);
                now = now.max(m + 1);
                reference.retain(|&t| t >= now);
            }
            assert_eq!(disp, now);
            check(&w, capacity, &reference, now, i);
            let reach = if (r >> 4).is_multiple_of(far_every) {
                far
            } else {
                near
            };
            let t = now + (r >> 8) % reach;
            w.insert(t, now);
            let at = reference.partition_point(|&v| v <= t);
            reference.insert(at, t);
            check(&w, capacity, &reference, now, i);
        }
        // Drain it through a queue of one entry: each admission takes the earliest.
        w.set_capacity(1);
        while !reference.is_empty() {
            let disp = w.admit(now);
            reference.retain(|&t| t >= now);
            if !reference.is_empty() {
                let m = reference.remove(0);
                now = now.max(m + 1);
                reference.retain(|&t| t >= now);
            }
            assert_eq!(disp, now);
            check(&w, 1, &reference, now, reference.len());
        }
        w.release_before(now);
        assert_eq!(w.len(), 0);
        assert_eq!(w.room, 1);
        check_tails(&w);
    }

    /// Inserts spread evenly up to `reach` cycles ahead.
    fn check_against_reference(capacity: usize, reach: u64, advance: u64, seed: u64) {
        check_mixture(capacity, reach, reach, 1, advance, seed);
    }

    #[test]
    fn waiting_matches_a_sorted_list_near_the_release_point() {
        check_against_reference(5, 16, 4, 7);
        check_against_reference(36, 200, 3, 8);
        check_against_reference(96, 70, 130, 9);
        check_against_reference(1, 5, 2, 17);
    }

    #[test]
    fn waiting_keeps_order_far_ahead_and_across_the_rings() {
        // issue times far ahead, releases jumping far, rings wrapping many times
        check_against_reference(36, 12_000, 600, 10);
        check_against_reference(128, 20_000, 9_000, 11);
        check_against_reference(8, 5_000, 5_000, 12);
    }

    #[test]
    fn waiting_inserts_short_waits_among_long_ones_from_the_front() {
        // a few long waits (misses) among many short ones: insertions near the front
        check_mixture(36, 4, 400, 5, 2, 13);
        check_mixture(96, 3, 1_000, 3, 1, 14);
        check_mixture(64, 2, 300, 8, 1, 15);
    }

    #[test]
    fn waiting_holds_the_largest_queue_across_the_ring_end() {
        // the largest issue queue the configuration accepts, full most of the time
        check_mixture(MAX_QUEUE_ENTRIES as usize, 50_000, 50_000, 1, 3, 16);
    }
}
