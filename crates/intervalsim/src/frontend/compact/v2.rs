//! Versions 2 and 3 of the compact record coding: static shapes kept once, dynamic fields per
//! record; version 3 adds run codes for stretches of fully predicted records.
//!
//! Encoder and decoder keep the same two tables, updated identically after every record:
//!
//! * the **shape table**: up to [`SHAPES`] distinct static shapes (class, length, branch kind,
//!   registers, memory-operand count/sizes/write flags, and a direct branch's target as an
//!   offset from the pc), numbered in order of first appearance and then reused round-robin.
//!   Each shape also holds its address predictor per memory operand: the last address, and a
//!   stride that changes only when the same delta is seen twice in a row (so a strided stream
//!   costs no address bytes and a one-off jump costs one miss, not two);
//! * the **pc table**: a direct-mapped table of 2^14 entries mapping (pc, previous record's
//!   shape) to a shape. Keying by the previous shape as well as the pc lets a pc that takes
//!   several shapes in a regular order (synthetic kernels) still hit.
//!
//! A record is a head byte then only the fields it needs:
//!
//! | head bit | meaning |
//! |---|---|
//! | 0 | pc is the expected next pc (previous pc + length, or the taken target); else a zigzag varint pc delta from it follows |
//! | 1–2 | shape: 0 = the pc table's entry, 1 = `u16` shape id follows, 2 = a new shape follows, 3 = a run code (version 3; invalid in version 2) |
//! | 3 | branch taken |
//! | 4 | every memory address equals its prediction (no address bytes) |
//! | 5 | explicit target follows (zigzag varint from the pc), overriding the shape's |
//! | 6 | synchronisation event follows |
//! | 7 | reserved, 0 |
//!
//! Field order: pc delta, shape id or new shape, target, addresses (unless bit 4: per memory
//! operand the zigzag varint of address − prediction), sync (`u8` op, varint object, stored in
//! `target`). A new shape is `u8 (kind | branch kind << 4 | has relative target << 7)`,
//! `u8 len`, `u8` register mask (bits 0–3 sources, 4–5 destinations present) and the present
//! register ids, `u8 (n_mem | write mask << 4)`, `n_mem` size bytes, and with a relative
//! target its zigzag varint offset from the pc.
//!
//! Every pc-table entry also keeps the outcome of the last record through it. A **run code** (version 3) is a head byte
//! with bits 0–2 = `0b110` and a length field `c` in bits 3–7: `c` < 31 stands for `c + 1`
//! records, `c` = 31 is followed by a number `e` and stands for `e + 32` records. Each of
//! them is fully predicted and changes the tables as a plain record would: pc = the expected
//! pc, shape = the pc table's entry for it (a miss is corrupt input), target = the shape's,
//! taken = the pc-table entry's last outcome, no sync event, every address its prediction. The encoder
//! writes a stretch of two or more such records as one code, a single one as a plain record
//! (the decoder reads either way, so files of earlier builds, which wrote stretches of up to
//! three as plain records, decode the same).

use super::{OnError, unzigzag, zigzag};
use crate::frontend::{BranchKind, Instr, Kind, MAX_MEM, MemOp, SyncOp};
use std::collections::HashMap;

/// Distinct static shapes kept; ids are below this (a `u16`).
pub const SHAPES: usize = 4096;
const TABLE_BITS: u32 = 14;
/// Bytes of the decode window. The longest record (head 1, pc 10, new shape 24, target 10,
/// four addresses 40, sync 11 = 96 bytes) fits, so the fast path reads inside the window
/// without a bounds check per byte.
pub const WINDOW: usize = 128;

const SEQ: u8 = 1;
const MODE_SHIFT: u8 = 1;
const MODE_HIT: u8 = 0;
const MODE_ID: u8 = 1;
const MODE_NEW: u8 = 2;
const TAKEN: u8 = 1 << 3;
const ADDR_PREDICTED: u8 = 1 << 4;
const TARGET: u8 = 1 << 5;
const SYNC: u8 = 1 << 6;
const RESERVED: u8 = 1 << 7;
/// Version 3: head bits 0–2 of a run code (shape mode 3, bit 0 clear).
const RUN: u8 = 0b110;
const RUN_MASK: u8 = 0b111;
/// A run code's length field (bits 3–7): `c` < [`RUN_LONG`] means `c + 1` records;
/// [`RUN_LONG`] means a number `e` follows and the run is `e + RUN_LONG + 1` records.
const RUN_SHIFT: u8 = 3;
const RUN_LONG: u8 = 31;
/// The shortest run written as a run code. The decoder handles run codes and plain records in
/// one loop, so a run code costs it little more than a plain record; a run of two already
/// decodes faster as a code (on a real program's trace), a single record does not.
const MIN_RUN: u64 = 2;

const SLOTS: usize = 1 << TABLE_BITS;

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: u64,
    /// The shape's byte offset in the shape table (its id times the size of a [`Shape`]): the
    /// hot loops add it to the table's start, with no multiplication per record.
    at: u32,
    /// The outcome of the last record through this entry: a run's predicted outcome.
    taken: bool,
}

// Every offset of a shape fits the `u32`.
const _: () = assert!(SHAPES * size_of::<Shape>() <= u32::MAX as usize);

impl Slot {
    /// The entry of key `key` for shape `id` with outcome `taken`.
    #[inline(always)]
    fn new(key: u64, id: usize, taken: bool) -> Slot {
        Slot {
            key,
            at: (id * size_of::<Shape>()) as u32,
            taken,
        }
    }

    /// The shape's id.
    #[inline(always)]
    fn id(&self) -> usize {
        self.at as usize / size_of::<Shape>()
    }
}

/// A static shape and its address predictors.
// `repr(C)`: the template first, so a shape's address is its template's.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Shape {
    /// The record as decoded before the dynamic fields: pc 0, `target` the relative offset
    /// (masked by `tmask`), `mem[k].addr` the operand's last address.
    tmpl: Instr,
    /// All ones when the target is pc-relative, else 0.
    tmask: u64,
    /// Mixed into the pc table's key of the record that follows this shape.
    salt: u64,
    stride: [u64; MAX_MEM],
    last_delta: [u64; MAX_MEM],
    /// Whether the template is a branch (a taken record's next pc is its target).
    branch: bool,
}

impl Shape {
    #[inline(always)]
    fn predict(&self, k: usize) -> u64 {
        self.tmpl.mem[k].addr.wrapping_add(self.stride[k])
    }

    #[inline(always)]
    fn advance(&mut self, k: usize, addr: u64) {
        let delta = addr.wrapping_sub(self.tmpl.mem[k].addr);
        if delta == self.last_delta[k] {
            self.stride[k] = delta;
        }
        self.last_delta[k] = delta;
        self.tmpl.mem[k].addr = addr;
    }

    /// Write the record of this shape at `pc` with outcome `taken` into `o` (addresses already
    /// advanced; a direct target relative to `pc`); returns the next record's pc. The
    /// template goes as one block copy (a few wide moves), then the dynamic fields.
    #[inline(always)]
    fn emit(&self, o: &mut Instr, pc: u64, taken: bool) -> u64 {
        self.emit_to(o, pc, taken, self.target_at(pc))
    }

    /// The shape's target for a record at `pc` (0 unless the shape keeps a relative target).
    #[inline(always)]
    fn target_at(&self, pc: u64) -> u64 {
        pc.wrapping_add(self.tmpl.target) & self.tmask
    }

    /// [`Shape::emit`] with the record's `target` given.
    #[inline(always)]
    fn emit_to(&self, o: &mut Instr, pc: u64, taken: bool, target: u64) -> u64 {
        std::slice::from_mut(o).copy_from_slice(std::slice::from_ref(&self.tmpl));
        o.pc = pc;
        o.target = target;
        o.taken = taken;
        // `Instr::next_pc` from the template, not read back from the record.
        let mut next = pc.wrapping_add(self.tmpl.len as u64);
        if taken & self.branch {
            next = target;
        }
        next
    }

    /// [`Shape::advance`] to the predicted address (the delta is the stride, so only the last
    /// delta and the address change).
    #[inline(always)]
    fn advance_predicted(&mut self, k: usize) {
        self.last_delta[k] = self.stride[k];
        self.tmpl.mem[k].addr = self.tmpl.mem[k].addr.wrapping_add(self.stride[k]);
    }
}

/// Tables shared by the encoder and the decoder of version 2.
#[derive(Clone, Debug)]
pub(super) struct Tables {
    /// Fixed size, indexed by masked values: no bounds checks on the hot path.
    slots: Box<[Slot; 1 << TABLE_BITS]>,
    /// Grows to at most [`SHAPES`] as shapes appear, so memory follows the trace's variety.
    shapes: Vec<Shape>,
    /// Id the next new shape takes.
    next_new: usize,
    /// [`Shape::salt`] of the previous record's shape (0 before the first record): the pc
    /// table's key is `pc ^ ctx`.
    ctx: u64,
    next_pc: u64,
    /// Whether run codes are read and written (version 3).
    runs: bool,
    /// Records of the current run still to produce.
    run_left: u64,
    /// Bytes of the current run's code (the reader stands just past it during the run, so an
    /// error in the run can name the code's offset).
    run_code_len: usize,
    /// Whether [`Tables::decode_run`] takes its build for AVX2 and BMI (checked once here).
    wide: bool,
}

impl Tables {
    /// Empty tables; `runs` for version 3 (run codes), else version 2.
    pub(super) fn new(runs: bool) -> Tables {
        Tables {
            slots: empty_slots(),
            shapes: Vec::new(),
            next_new: 0,
            ctx: 0,
            next_pc: 0,
            runs,
            run_left: 0,
            run_code_len: 0,
            wide: wide_available(),
        }
    }
}

/// Whether this CPU runs the AVX2/BMI build of the fast loop.
fn wide_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("lzcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A boxed array of `N` copies of `x`, built on the heap.
fn boxed_array<T: Copy, const N: usize>(x: T) -> Box<[T; N]> {
    let v: Box<[T]> = vec![x; N].into_boxed_slice();
    match v.try_into() {
        Ok(a) => a,
        Err(_) => unreachable!("the vector has N elements"),
    }
}

/// The pc table's index of a key (the salt's low bits differ for every shape id, and the pc's
/// low bits vary most, so a shift and an xor spread keys well).
#[inline(always)]
fn slot_index(key: u64) -> usize {
    (key ^ (key >> 17)) as usize & (SLOTS - 1)
}

/// An empty pc table: slot `i` holds a key whose index is not `i`, so no lookup matches it.
fn empty_slots() -> Box<[Slot; SLOTS]> {
    let mut slots = boxed_array(Slot::new(0, 0, false));
    for (i, s) in slots.iter_mut().enumerate() {
        s.key = (i ^ 1) as u64;
        debug_assert_ne!(slot_index(s.key), i);
    }
    slots
}

/// The salt of shape `id`: distinct low bits for every id.
#[inline(always)]
fn salt(id: usize) -> u64 {
    (id as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Whether a shape keeps this instruction's target relative to its pc.
fn relative_target(ins: &Instr) -> bool {
    ins.sync == SyncOp::None
        && ins.target != 0
        && matches!(
            ins.branch,
            BranchKind::Conditional | BranchKind::DirectJump | BranchKind::DirectCall
        )
}

/// The static part of `ins` (the encoder's lookup key): dynamic fields cleared, the target
/// replaced by its offset from the pc when relative.
fn shape_key(ins: &Instr) -> (Instr, bool) {
    let rel = relative_target(ins);
    let mut k = *ins;
    k.pc = 0;
    k.taken = false;
    k.sync = SyncOp::None;
    k.target = if rel {
        ins.target.wrapping_sub(ins.pc)
    } else {
        0
    };
    for m in k.mem.iter_mut() {
        m.addr = 0;
    }
    (k, rel)
}

/// The shape of a pc-table entry.
///
/// # Safety
///
/// The entry's key must have matched a lookup. An entry is only ever written with the id of a
/// shape that exists at that moment, shapes are never removed, and an entry never written holds
/// a key no lookup matches (see [`empty_slots`]); so a matched entry's offset is in range and
/// the hot loops skip the bounds check (two instructions per record).
#[inline(always)]
unsafe fn matched_shape<'a>(shapes: &'a mut [Shape], slot: &Slot) -> &'a mut Shape {
    debug_assert!(slot.id() < shapes.len());
    debug_assert_eq!(slot.at as usize % size_of::<Shape>(), 0);
    // SAFETY: the caller's promise (see above): `at` is the offset of an existing shape.
    unsafe { &mut *shapes.as_mut_ptr().byte_add(slot.at as usize) }
}

/// Produce one record of a run into `o`: fully predicted, so the expected pc `next_pc`, its
/// shape and last outcome from the pc table entry of `next_pc ^ ctx`, the shape's target, every
/// address on its stride; then `next_pc` and `ctx` move on to the next record. Returns false,
/// changing nothing, where the pc table has no shape (corrupt input). The reporting decoder
/// and the fast loop both take this step, so they cannot disagree; inlined, so the fast loop
/// keeps `next_pc` and `ctx` in registers.
#[inline(always)]
fn run_record(
    slots: &[Slot; SLOTS],
    shapes: &mut [Shape],
    o: &mut Instr,
    next_pc: &mut u64,
    ctx: &mut u64,
) -> bool {
    let key = *next_pc ^ *ctx;
    let slot = slots[slot_index(key)];
    if slot.key != key {
        return false;
    }
    // SAFETY: the entry's key matched.
    let shape = unsafe { matched_shape(shapes, &slot) };
    let nm = (shape.tmpl.n_mem as usize).min(MAX_MEM);
    for k in 0..nm {
        shape.advance_predicted(k);
    }
    *next_pc = shape.emit(o, *next_pc, slot.taken);
    *ctx = shape.salt;
    true
}

impl Tables {
    /// Store a new shape under the next id; returns the id.
    fn install(&mut self, key: &(Instr, bool)) -> usize {
        let shape = Shape {
            tmpl: key.0,
            tmask: if key.1 { u64::MAX } else { 0 },
            salt: salt(self.next_new),
            stride: [0; MAX_MEM],
            last_delta: [0; MAX_MEM],
            branch: key.0.kind == Kind::Branch,
        };
        let id = self.next_new;
        if id < self.shapes.len() {
            self.shapes[id] = shape;
        } else {
            self.shapes.push(shape);
        }
        self.next_new = (id + 1) % SHAPES;
        id
    }

    #[inline(always)]
    fn finish(&mut self, id: usize, ins: &Instr) {
        self.ctx = self.shapes[id].salt;
        self.next_pc = ins.next_pc();
    }

    /// Produce up to `run_left` records of the current run into `out`; returns how many. Stops
    /// early only where the pc table has no shape (corrupt input), which [`decode`] then
    /// reports.
    #[inline(always)]
    fn replay(&mut self, out: &mut [Instr]) -> usize {
        let k = (out.len() as u64).min(self.run_left) as usize;
        let (mut next_pc, mut ctx) = (self.next_pc, self.ctx);
        let mut n = 0;
        for o in &mut out[..k] {
            if !run_record(&self.slots, &mut self.shapes, o, &mut next_pc, &mut ctx) {
                break;
            }
            n += 1;
        }
        self.ctx = ctx;
        self.next_pc = next_pc;
        self.run_left -= n as u64;
        n
    }

    /// Use the baseline build of [`Tables::decode_run`] even where the CPU could take the wide
    /// one (tests compare the two).
    #[cfg(test)]
    pub(super) fn baseline_only(&mut self) {
        self.wide = false;
    }

    /// Whether records of a run are still to come.
    #[inline(always)]
    pub(super) fn pending(&self) -> bool {
        self.run_left > 0
    }
}

/// The version 2 and 3 encoder: [`Tables`] plus a map from shape to id.
#[derive(Debug)]
pub struct Encoder {
    t: Tables,
    ids: HashMap<(Instr, bool), u16>,
    keys: Vec<(Instr, bool)>,
    /// Fully predicted records not yet written (version 3 writes them as one run code).
    pending: u64,
    /// Outcomes of the first pending records (bit k: record k taken), for a short run that is
    /// written as plain records.
    pending_taken: u32,
}

impl Encoder {
    /// An encoder of format version 3 (`runs`: run codes) or 2.
    pub fn new(runs: bool) -> Encoder {
        Encoder {
            t: Tables::new(runs),
            ids: HashMap::new(),
            keys: Vec::new(),
            pending: 0,
            pending_taken: 0,
        }
    }

    /// Append the record of `ins` to `out` (a fully predicted record may wait for the next
    /// record or [`Encoder::finish`], which write it as part of a run).
    pub fn encode(&mut self, ins: &Instr, out: &mut Vec<u8>) {
        let t = &mut self.t;
        let pc = ins.pc;
        let key = shape_key(ins);
        let sk = pc ^ t.ctx;
        let si = slot_index(sk);
        let slot = t.slots[si];
        let hit = slot.key == sk && self.keys[slot.id()] == key;
        let known = if hit {
            Some(slot.id())
        } else {
            self.ids.get(&key).map(|&id| id as usize)
        };
        if hit && t.runs && pc == t.next_pc {
            let id = slot.id();
            let shape = &t.shapes[id];
            let n = ins.n_mem as usize;
            if ins.sync == SyncOp::None
                && ins.taken == slot.taken
                && ins.target == pc.wrapping_add(shape.tmpl.target) & shape.tmask
                && (0..n).all(|k| ins.mem[k].addr == shape.predict(k))
            {
                let shape = &mut t.shapes[id];
                for k in 0..n {
                    shape.advance_predicted(k);
                }
                t.finish(id, ins);
                if self.pending < MIN_RUN {
                    self.pending_taken |= (ins.taken as u32) << self.pending;
                }
                self.pending += 1;
                return;
            }
        }
        self.flush(out);
        let t = &mut self.t;
        let mut head = 0u8;
        let at_head = out.len();
        out.push(0);
        if pc == t.next_pc {
            head |= SEQ;
        } else {
            put_number(out, zigzag(pc.wrapping_sub(t.next_pc) as i64));
        }
        let id = if hit {
            t.slots[si].taken = ins.taken;
            slot.id()
        } else if let Some(id) = known {
            head |= MODE_ID << MODE_SHIFT;
            out.extend_from_slice(&(id as u16).to_le_bytes());
            t.slots[si] = Slot::new(sk, id, ins.taken);
            id
        } else {
            head |= MODE_NEW << MODE_SHIFT;
            put_shape(&key, out);
            let id = t.install(&key);
            if id < self.keys.len() {
                let old = std::mem::replace(&mut self.keys[id], key);
                self.ids.remove(&old);
            } else {
                self.keys.push(key);
            }
            self.ids.insert(key, id as u16);
            t.slots[si] = Slot::new(sk, id, ins.taken);
            id
        };
        let shape = &mut t.shapes[id];
        head |= (ins.taken as u8) << 3;
        if ins.sync != SyncOp::None {
            head |= SYNC;
        } else if ins.target != pc.wrapping_add(shape.tmpl.target) & shape.tmask {
            head |= TARGET;
            put_number(out, zigzag(ins.target.wrapping_sub(pc) as i64));
        }
        let n = ins.n_mem as usize;
        let predicted = (0..n).all(|k| ins.mem[k].addr == shape.predict(k));
        if predicted {
            head |= ADDR_PREDICTED;
        } else {
            for k in 0..n {
                put_number(
                    out,
                    zigzag(ins.mem[k].addr.wrapping_sub(shape.predict(k)) as i64),
                );
            }
        }
        if ins.sync != SyncOp::None {
            out.push(ins.sync as u8);
            put_number(out, ins.target);
        }
        for k in 0..n {
            shape.advance(k, ins.mem[k].addr);
        }
        out[at_head] = head;
        t.finish(id, ins);
    }

    /// Write the records still waiting (call once after the last record).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.flush(out);
    }

    /// Write the pending fully predicted records as one run code, or a short run as plain
    /// records (each a head byte that changes the tables exactly as a run record does).
    fn flush(&mut self, out: &mut Vec<u8>) {
        let k = std::mem::take(&mut self.pending);
        let taken = std::mem::take(&mut self.pending_taken);
        if k < MIN_RUN {
            for j in 0..k {
                out.push(SEQ | ADDR_PREDICTED | (((taken >> j) & 1) as u8) << 3);
            }
        } else if k <= RUN_LONG as u64 {
            out.push(RUN | ((k - 1) as u8) << RUN_SHIFT);
        } else {
            out.push(RUN | RUN_LONG << RUN_SHIFT);
            put_number(out, k - (RUN_LONG as u64 + 1));
        }
    }
}

fn put_shape(key: &(Instr, bool), out: &mut Vec<u8>) {
    let (s, rel) = key;
    out.push(s.kind as u8 | (s.branch as u8) << 4 | (*rel as u8) << 7);
    out.push(s.len);
    let mut mask = 0u8;
    for (k, &r) in s.src.iter().enumerate() {
        mask |= ((r != 0) as u8) << k;
    }
    for (k, &r) in s.dst.iter().enumerate() {
        mask |= ((r != 0) as u8) << (4 + k);
    }
    out.push(mask);
    out.extend(s.src.iter().chain(s.dst.iter()).filter(|&&r| r != 0));
    let mut writes = 0u8;
    for (k, m) in s.mem_ops().iter().enumerate() {
        writes |= (m.write as u8) << k;
    }
    out.push(s.n_mem | writes << 4);
    out.extend(s.mem_ops().iter().map(|m| m.size));
    if *rel {
        put_number(out, zigzag(s.target as i64));
    }
}

/// The bytes of one record, from its first byte. `avail` bytes of `w` are real; the rest of the
/// window is padding. The fast path ([`OnError::CHECKED`] false) is only used with a full
/// window, where no record can run past the end, so it reads without checks (the index mask
/// keeps every read inside the array).
pub(super) struct Window<'a> {
    /// The bytes.
    pub(super) w: &'a [u8; WINDOW],
    /// How many of them are real.
    pub(super) avail: usize,
}

impl Window<'_> {
    #[inline(always)]
    fn byte<E: OnError>(&self, p: &mut usize, what: &'static str, on: &E) -> Result<u8, E::Error> {
        if E::CHECKED && *p >= self.avail {
            return Err(on.truncated(what));
        }
        let x = self.w[*p & (WINDOW - 1)];
        *p += 1;
        Ok(x)
    }

    /// A prefix-coded number (see [`put_number`]).
    #[inline(always)]
    fn number<E: OnError>(
        &self,
        p: &mut usize,
        what: &'static str,
        on: &E,
    ) -> Result<u64, E::Error> {
        let x = self.byte(p, what, on)?;
        let n = (!x).leading_zeros();
        if n == 0 {
            return Ok(x as u64);
        }
        let mut rest = 0u64;
        let more = if n == 8 { 8 } else { n };
        for k in 0..more {
            rest |= (self.byte(p, what, on)? as u64) << (8 * k);
        }
        Ok(if n == 8 {
            rest
        } else {
            (x & (0x7f >> n)) as u64 | rest << (7 - n)
        })
    }
}

/// Read a new shape's fields (see the module doc).
fn read_shape<E: OnError>(w: &Window, p: &mut usize, on: &E) -> Result<(Instr, bool), E::Error> {
    let at = *p;
    let kb = w.byte(p, "shape class", on)?;
    let Some(kind) = Kind::from_u8(kb & 0x0f) else {
        return Err(on.corrupt(at, || {
            format!("instruction class {} is not defined", kb & 0x0f)
        }));
    };
    let branch = BranchKind::from_u8((kb >> 4) & 7).unwrap_or_default();
    let rel = kb & 0x80 != 0;
    let mut s = Instr::new(0, kind);
    s.branch = branch;
    s.len = w.byte(p, "length", on)?;
    let at = *p;
    let mask = w.byte(p, "register mask", on)?;
    if mask & 0xc0 != 0 {
        return Err(on.corrupt(at, || format!("register mask {mask:#x}: bits 6–7 set")));
    }
    for k in 0..4 {
        if mask & (1 << k) != 0 {
            s.src[k] = w.byte(p, "source register", on)?;
        }
    }
    for k in 0..2 {
        if mask & (1 << (4 + k)) != 0 {
            s.dst[k] = w.byte(p, "destination register", on)?;
        }
    }
    let at = *p;
    let nm = w.byte(p, "memory operand count", on)?;
    let n = (nm & 0x0f) as usize;
    let writes = nm >> 4;
    if n > MAX_MEM || writes >> n != 0 {
        return Err(on.corrupt(at, || {
            format!(
                "memory operand byte {nm:#x}: {n} operands (at most {MAX_MEM}), write mask {writes:#x}"
            )
        }));
    }
    for k in 0..n {
        let size = w.byte(p, "access size", on)?;
        s.mem[k] = MemOp {
            addr: 0,
            size,
            write: writes & (1 << k) != 0,
        };
    }
    s.n_mem = n as u8;
    if rel {
        s.target = unzigzag(w.number(p, "branch target", on)?) as u64;
    }
    Ok((s, rel))
}

impl Tables {
    /// Decode the common records from `buf[pos..]` into `out` while a whole record surely lies
    /// in `buf`: run records (version 3) and plain records, whose shape comes from the pc
    /// table or by id (any pc, explicit target or not, but no new shape and no sync event).
    /// `announced` is the count of records the header still announces. Stops before the first
    /// other record, which [`decode`] then handles; returns the new position and the records
    /// decoded. The common plain record (sequential pc, the shape's target) takes a path of
    /// its own without a test for either; the others (a `rep` instruction's iterations,
    /// returns, indirect branches: 7 % of a Python interpreter's records) stay in the loop
    /// too, since a trip through the reporting decoder's path costs twice a record.
    ///
    /// Run codes and plain records are handled in one loop with all state in locals: real
    /// programs switch between the two every few records, and a call per switch cost as much
    /// as the records themselves. Such a record cannot be malformed once its shape is found
    /// (every number is readable).
    ///
    /// The loop is built twice: for the baseline x86-64 and, taken when the CPU has them, for
    /// AVX2 and BMI, where a record's 96-byte copy is three moves instead of six and shifts need
    /// no count register. Both builds compute the same records.
    #[inline(always)]
    pub(super) fn decode_run(
        &mut self,
        buf: &[u8],
        pos: usize,
        out: &mut [Instr],
        announced: u64,
    ) -> (usize, usize) {
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` is set only where the CPU has AVX2, BMI1, BMI2 and LZCNT.
            return unsafe { self.decode_run_wide(buf, pos, out, announced) };
        }
        self.decode_run_base(buf, pos, out, announced)
    }

    /// [`Tables::decode_run`] for the baseline x86-64.
    // Not inlined: a loop of its own keeps its state in registers, not spilled by the reader's.
    #[inline(never)]
    fn decode_run_base(
        &mut self,
        buf: &[u8],
        pos: usize,
        out: &mut [Instr],
        announced: u64,
    ) -> (usize, usize) {
        self.decode_run_body(buf, pos, out, announced)
    }

    /// [`Tables::decode_run`] for CPUs with AVX2, BMI1, BMI2 and LZCNT.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,bmi1,bmi2,lzcnt")]
    #[inline(never)]
    fn decode_run_wide(
        &mut self,
        buf: &[u8],
        pos: usize,
        out: &mut [Instr],
        announced: u64,
    ) -> (usize, usize) {
        self.decode_run_body(buf, pos, out, announced)
    }

    /// The loop of [`Tables::decode_run`].
    #[allow(clippy::needless_range_loop)]
    // `k` indexes two arrays of the shape
    #[inline(always)]
    fn decode_run_body(
        &mut self,
        buf: &[u8],
        pos: usize,
        out: &mut [Instr],
        announced: u64,
    ) -> (usize, usize) {
        let Tables {
            slots,
            shapes,
            next_pc: next_pc_at,
            ctx: ctx_at,
            runs,
            run_left: run_left_at,
            run_code_len,
            ..
        } = self;
        let slots = &mut **slots;
        let (mut next_pc, mut ctx) = (*next_pc_at, *ctx_at);
        // The run's count stays in memory: it changes once per run, and the plain records need
        // every register.
        let run_left = run_left_at;
        let total = out.len();
        // Records the header announces past the end of `out` (the caller passes at least
        // `out.len()`), so a run's limit needs no count of the records decoded.
        let slack = announced.saturating_sub(total as u64);
        // The records still to fill: a slice, not an index, so no count lives in a register.
        let mut rest: &mut [Instr] = out;
        // Where a run stopped at corrupt input: its records done and its length in this call.
        let mut stopped: Option<(usize, usize)> = None;
        // The reader's place as a pointer, and the first place without a whole window behind
        // it: one register and one compare per record, where a position, the buffer's start
        // and its length took three (spilled to the stack) and four instructions.
        let base = buf.as_ptr();
        let mut cur = base.wrapping_add(pos);
        let stop = base.wrapping_add((buf.len() + 1).saturating_sub(WINDOW));
        'records: loop {
            if *run_left > 0 {
                // Run records: fully predicted, no byte to read.
                let k = rest.len().min((*run_left).min(usize::MAX as u64) as usize);
                let (run, tail) = std::mem::take(&mut rest).split_at_mut(k);
                rest = tail;
                // No count of the records done: only a run that stops needs it, and there it
                // follows from the record's place in `run`, by a function out of line (a
                // count worked out in line became two counters updated on every record).
                let start = run.as_ptr();
                for o in run.iter_mut() {
                    if !run_record(slots, shapes, o, &mut next_pc, &mut ctx) {
                        // Corrupt input: the reporting decoder names the run code.
                        stopped = Some((records_between(start, o), k));
                        break 'records;
                    }
                }
                *run_left -= k as u64;
            }
            let Some(o) = rest.first_mut() else {
                break;
            };
            if cur >= stop {
                break;
            }
            // SAFETY: `base <= cur < stop`, so `cur + WINDOW <= base + buf.len()`: the window
            // lies inside `buf`.
            let w = unsafe { &*cur.cast::<[u8; WINDOW]>() };
            let head = w[0];
            let used = if head & (RESERVED | TARGET | SYNC | SEQ | MODE_NEW << MODE_SHIFT) == SEQ {
                // The common record: sequential pc, the shape's own target.
                plain_record::<false>(slots, shapes, w, head, o, &mut next_pc, &mut ctx)
            } else if head & (RESERVED | SYNC | MODE_NEW << MODE_SHIFT) == 0 {
                // A pc off the expected one (a `rep` instruction's next iteration, a jump the
                // trace does not show) or an explicit target (returns, indirect branches).
                plain_record::<true>(slots, shapes, w, head, o, &mut next_pc, &mut ctx)
            } else {
                // A run code (version 3), or a record left to the reporting decoder.
                if head & RUN_MASK != RUN || !*runs || shapes.is_empty() {
                    break;
                }
                let (k, len) = if head >> RUN_SHIFT < RUN_LONG {
                    ((head >> RUN_SHIFT) as u64 + 1, 1)
                } else {
                    let (e, len) = fast_number(w, 1);
                    match e.checked_add(RUN_LONG as u64 + 1) {
                        Some(k) => (k, 1 + len),
                        None => break,
                    }
                };
                if k > slack.saturating_add(rest.len() as u64) {
                    break;
                }
                *run_left = k;
                *run_code_len = len;
                cur = cur.wrapping_add(len);
                continue;
            };
            let Some(p) = used else {
                break;
            };
            cur = cur.wrapping_add(p);
            rest = &mut std::mem::take(&mut rest)[1..];
        }
        *next_pc_at = next_pc;
        *ctx_at = ctx;
        // Records left unfilled.
        let mut unfilled = rest.len();
        if let Some((done, k)) = stopped {
            *run_left -= done as u64;
            unfilled += k - done;
        }
        (cur as usize - base as usize, total - unfilled)
    }
}

/// The records from `start` to `o` in one slice.
#[cold]
#[inline(never)]
fn records_between(start: *const Instr, o: &Instr) -> usize {
    (o as *const Instr as usize - start as usize) / size_of::<Instr>()
}

/// Decode the plain record (no new shape, no sync event) at the start of `w`, whose head byte
/// is `head`, into `o`, and move `next_pc` and `ctx` on; returns the bytes it takes. Returns
/// `None`, changing nothing, where its shape is unknown (corrupt input, left to the reporting
/// decoder). With `GENERAL` false the caller has checked that the pc is the expected one and
/// the target the shape's (the common record, with no test for either); with `GENERAL` true
/// the record may carry a pc delta and an explicit target. With a whole record in the window
/// no number can be cut short, so nothing else can go wrong.
#[allow(clippy::needless_range_loop)]
// `k` indexes two arrays of the shape
#[inline(always)]
fn plain_record<const GENERAL: bool>(
    slots: &mut [Slot; SLOTS],
    shapes: &mut [Shape],
    w: &[u8; WINDOW],
    head: u8,
    o: &mut Instr,
    next_pc: &mut u64,
    ctx: &mut u64,
) -> Option<usize> {
    let mut p = 1;
    let mut pc = *next_pc;
    if GENERAL && head & SEQ == 0 {
        let (e, len) = fast_number(w, p);
        p += len;
        pc = pc.wrapping_add(unzigzag(e) as u64);
    }
    let key = pc ^ *ctx;
    let si = slot_index(key);
    let taken = head & TAKEN != 0;
    let shape = if head & (MODE_ID << MODE_SHIFT) == 0 {
        let slot = &mut slots[si];
        if slot.key != key {
            return None;
        }
        slot.taken = taken;
        // SAFETY: the entry's key matched.
        unsafe { matched_shape(shapes, slot) }
    } else {
        let id = fast_u16(w, p) as usize;
        let shape = shapes.get_mut(id)?;
        slots[si] = Slot::new(key, id, taken);
        p += 2;
        shape
    };
    let mut target = shape.target_at(pc);
    if GENERAL && head & TARGET != 0 {
        let (e, len) = fast_number(w, p);
        p += len;
        target = pc.wrapping_add(unzigzag(e) as u64);
    }
    let nm = (shape.tmpl.n_mem as usize).min(MAX_MEM);
    if head & ADDR_PREDICTED != 0 {
        for k in 0..nm {
            shape.advance_predicted(k);
        }
    } else {
        for k in 0..nm {
            let (e, len) = fast_number(w, p);
            p += len;
            shape.advance(k, shape.predict(k).wrapping_add(unzigzag(e) as u64));
        }
    }
    *next_pc = shape.emit_to(o, pc, taken, target);
    *ctx = shape.salt;
    Some(p)
}

/// The little-endian `u16` at `w[p..]` (the clamp of `p`, as in [`fast_number`], only keeps
/// the compiler from adding bounds checks).
#[inline(always)]
fn fast_u16(w: &[u8; WINDOW], p: usize) -> u16 {
    let p = p.min(WINDOW - 2);
    u16::from_le_bytes([w[p], w[p + 1]])
}

/// Append `v` as a prefix-coded number: the count of leading one bits of the first byte, `n`,
/// says how many bytes follow (`0xxxxxxx` is 7 bits, `10xxxxxx` + 1 byte 14 bits, … ,
/// `11111110` + 7 bytes 56 bits, `11111111` + 8 bytes any 64-bit value); the first byte's
/// remaining bits are the low bits, the following bytes (little-endian) the rest. Unlike LEB128,
/// the length is known from the first byte, so a decoder needs one 8-byte load and a few shifts,
/// not a loop over the bytes.
fn put_number(out: &mut Vec<u8>, v: u64) {
    let bits = 64 - v.leading_zeros();
    if bits <= 7 {
        out.push(v as u8);
        return;
    }
    let n = bits.saturating_sub(1) / 7; // 7 + 7n >= bits
    if n >= 8 {
        out.push(0xff);
        out.extend_from_slice(&v.to_le_bytes());
        return;
    }
    let first = !(0xffu8 >> n) | (v as u8 & (0x7f >> n));
    out.push(first);
    out.extend_from_slice(&(v >> (7 - n)).to_le_bytes()[..n as usize]);
}

/// Per count `n` of bytes that follow a number's first byte (1–7): the mask of their bits, and
/// of the first byte's value bits. Table loads instead of variable shifts, which on x86-64
/// need the count in one register and cost moves around it.
const REST_MASK: [u64; 8] = [
    0,
    0xff,
    0xffff,
    0xff_ffff,
    0xffff_ffff,
    0xff_ffff_ffff,
    0xffff_ffff_ffff,
    0xff_ffff_ffff_ffff,
];
const FIRST_MASK: [u8; 8] = [0x7f, 0x3f, 0x1f, 0x0f, 0x07, 0x03, 0x01, 0x00];

/// [`Window::number`] without checks: with a whole record in the window nothing can go wrong
/// (the clamp of `p` only keeps the compiler from adding bounds checks; it never changes a
/// position inside a record, which ends before byte 96).
#[inline(always)]
fn fast_number(w: &[u8; WINDOW], p: usize) -> (u64, usize) {
    let p = p.min(WINDOW - 9);
    let x = w[p];
    if x < 0x80 {
        return (x as u64, 1);
    }
    let n = (!x).leading_zeros() as usize;
    let after = u64::from_le_bytes(*w[p + 1..].first_chunk::<8>().unwrap_or(&[0; 8]));
    if n == 8 {
        return (after, 9);
    }
    let rest = after & REST_MASK[n & 7];
    ((x & FIRST_MASK[n & 7]) as u64 | rest << (7 - n), n + 1)
}

/// Decode the record at the start of `w` into `out`; returns the bytes consumed. With the fast
/// policy the tables change only when the record decodes without error (a new shape defers to
/// the reporting policy), so the reader can decode the same record again to report.
#[inline(always)]
pub(super) fn decode<E: OnError>(
    w: &Window,
    t: &mut Tables,
    out: &mut Instr,
    on: &E,
    announced: u64,
) -> Result<usize, E::Error> {
    if t.run_left > 0 {
        decode_pending(t, out, on, t.run_code_len)?;
        return Ok(0);
    }
    let mut p = 0;
    let head = w.byte(&mut p, "head", on)?;
    if t.runs && head & ((MODE_NEW | MODE_ID) << MODE_SHIFT) == (3 << MODE_SHIFT) {
        return decode_run_code(w, t, out, on, announced, head);
    }
    if head & RESERVED != 0 {
        return Err(on.corrupt(0, || format!("head byte {head:#x}: reserved bit 7 set")));
    }
    let pc = if head & SEQ != 0 {
        t.next_pc
    } else {
        t.next_pc
            .wrapping_add(unzigzag(w.number(&mut p, "pc", on)?) as u64)
    };
    let sk = pc ^ t.ctx;
    let si = slot_index(sk);
    let mode = (head >> MODE_SHIFT) & 3;
    let id = match mode {
        MODE_HIT => {
            let slot = t.slots[si];
            if slot.key != sk {
                return Err(on.corrupt(0, || {
                    format!(
                        "pc-table reference, but no shape is recorded for pc {pc:#x} after the previous record's shape"
                    )
                }));
            }
            slot.id()
        }
        MODE_ID => {
            let at = p;
            let lo = w.byte(&mut p, "shape id", on)?;
            let hi = w.byte(&mut p, "shape id", on)?;
            let id = u16::from_le_bytes([lo, hi]) as usize;
            if id >= t.shapes.len() {
                let n = t.shapes.len();
                return Err(on.corrupt(at, || {
                    format!("shape id {id} is not defined ({n} shapes so far)")
                }));
            }
            id
        }
        MODE_NEW => {
            if !E::CHECKED {
                // Rare: leave it to the reporting decoder, which may change the tables early.
                return Err(on.truncated("new shape"));
            }
            let key = read_shape(w, &mut p, on)?;
            t.install(&key)
        }
        _ => {
            return Err(on.corrupt(0, || {
                format!("head byte {head:#x}: shape mode 3 is not defined")
            }));
        }
    };
    let Some(shape) = t.shapes.get(id) else {
        return Err(on.corrupt(0, || format!("shape id {id} is not defined")));
    };
    // Read and check every dynamic field before anything changes.
    let taken = head & TAKEN != 0;
    let mut target = pc.wrapping_add(shape.tmpl.target) & shape.tmask;
    if head & TARGET != 0 {
        target = pc.wrapping_add(unzigzag(w.number(&mut p, "target", on)?) as u64);
    }
    let n = (shape.tmpl.n_mem as usize).min(MAX_MEM);
    let mut addr = [0u64; MAX_MEM];
    if head & ADDR_PREDICTED != 0 {
        for (k, a) in addr.iter_mut().enumerate().take(n) {
            *a = shape.predict(k);
        }
    } else {
        for (k, a) in addr.iter_mut().enumerate().take(n) {
            *a = shape
                .predict(k)
                .wrapping_add(unzigzag(w.number(&mut p, "address", on)?) as u64);
        }
    }
    let mut sync = SyncOp::None;
    if head & SYNC != 0 {
        let at = p;
        let op = w.byte(&mut p, "sync op", on)?;
        sync = match SyncOp::from_u8(op) {
            Some(o) if o != SyncOp::None => o,
            _ => {
                return Err(on.corrupt(at, || format!("synchronisation op {op} is not defined")));
            }
        };
        target = w.number(&mut p, "sync object", on)?;
    }
    // Commit: nothing below fails. The template is copied as one block (a slice copy, which
    // compiles to a few wide moves) and only the dynamic fields are patched.
    std::slice::from_mut(out).copy_from_slice(std::slice::from_ref(&shape.tmpl));
    out.pc = pc;
    out.target = target;
    out.taken = taken;
    out.sync = sync;
    let next_pc = out.next_pc();
    let shape = &mut t.shapes[id];
    for (k, &a) in addr.iter().enumerate().take(n) {
        out.mem[k].addr = a;
        shape.advance(k, a);
    }
    t.slots[si] = Slot::new(sk, id, taken);
    t.ctx = shape.salt;
    t.next_pc = next_pc;
    Ok(p)
}

/// Decode a run code (head byte `head`, already read) and produce the run's first record;
/// the rest follow from [`Tables::decode_run`]. `announced` counts this record.
#[cold]
fn decode_run_code<E: OnError>(
    w: &Window,
    t: &mut Tables,
    out: &mut Instr,
    on: &E,
    announced: u64,
    head: u8,
) -> Result<usize, E::Error> {
    if head & SEQ != 0 {
        return Err(on.corrupt(0, || {
            format!("head byte {head:#x}: shape mode 3 with bit 0 set is not defined")
        }));
    }
    if !E::CHECKED {
        // Runs are the run loop's job; leave anything else to the reporting decoder.
        return Err(on.truncated("run"));
    }
    let mut p = 1;
    let c = head >> RUN_SHIFT;
    let k = if c < RUN_LONG {
        c as u64 + 1
    } else {
        let e = w.number(&mut p, "run length", on)?;
        match e.checked_add(RUN_LONG as u64 + 1) {
            Some(k) => k,
            None => {
                return Err(on.corrupt(1, || format!("run length {e} + 32 overflows 64 bits")));
            }
        }
    };
    if t.shapes.is_empty() {
        return Err(on.corrupt(0, || "run code before any record".into()));
    }
    if k > announced {
        return Err(on.corrupt(0, || {
            format!("run of {k} records passes the {announced} records the header still announces")
        }));
    }
    t.run_left = k;
    t.run_code_len = p;
    // The reader stands at the code itself: the error names this offset.
    decode_pending(t, out, on, 0)?;
    Ok(p)
}

/// Produce the next record of the current run, or name the run code (`back` bytes before the
/// reader's position) if the pc table has no shape for it.
#[cold]
fn decode_pending<E: OnError>(
    t: &mut Tables,
    out: &mut Instr,
    on: &E,
    back: usize,
) -> Result<(), E::Error> {
    if t.replay(std::slice::from_mut(out)) == 1 {
        return Ok(());
    }
    let pc = t.next_pc;
    let left = t.run_left;
    Err(on.corrupt_back(back, || {
        format!(
            "record of the run coded here ({left} to go): no shape is recorded for pc {pc:#x} after the previous record's shape"
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Checked;
    impl OnError for Checked {
        type Error = &'static str;
        const CHECKED: bool = true;
        fn truncated(&self, what: &'static str) -> &'static str {
            what
        }
        fn corrupt(&self, _: usize, _: impl FnOnce() -> String) -> &'static str {
            "corrupt"
        }
        fn corrupt_back(&self, _: usize, _: impl FnOnce() -> String) -> &'static str {
            "corrupt"
        }
    }

    #[test]
    fn numbers_round_trip_through_both_decoders() {
        let mut values = vec![0u64, 1, 127, 128, 300, u64::MAX, i64::MAX as u64];
        for b in 7..64 {
            values.extend([(1u64 << b) - 1, 1u64 << b, (1u64 << b) + 1]);
        }
        for v in values {
            let mut out = Vec::new();
            put_number(&mut out, v);
            let bits = 64 - v.leading_zeros();
            let expect = if bits <= 56 {
                (bits.max(1) as usize).div_ceil(7)
            } else {
                9
            };
            assert_eq!(out.len(), expect, "{v:#x}");
            let mut w = [0xa5u8; WINDOW];
            w[3..3 + out.len()].copy_from_slice(&out);
            assert_eq!(fast_number(&w, 3), (v, out.len()), "{v:#x}");
            let win = Window {
                w: &w,
                avail: 3 + out.len(),
            };
            let mut p = 3;
            assert_eq!(win.number(&mut p, "n", &Checked), Ok(v));
            assert_eq!(p, 3 + out.len());
            // One byte short: truncated, never a wrong value.
            let win = Window {
                w: &w,
                avail: 2 + out.len(),
            };
            let mut p = 3;
            assert_eq!(win.number(&mut p, "n", &Checked), Err("n"));
        }
    }

    #[test]
    fn empty_slots_never_match() {
        let slots = empty_slots();
        for (i, s) in slots.iter().enumerate() {
            assert_ne!(slot_index(s.key), i);
        }
        for id in 0..SHAPES {
            assert_ne!(
                salt(id) & (SLOTS as u64 - 1),
                salt((id + 1) % SHAPES) & (SLOTS as u64 - 1)
            );
        }
    }
}
