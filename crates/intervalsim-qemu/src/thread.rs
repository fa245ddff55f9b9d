//! Per-guest-thread state: turning executed blocks and memory callbacks into instruction records.
//!
//! QEMU calls the block callback *before* a block runs and the memory callbacks *while* it runs,
//! so the records of a block are completed when the next block starts on the same thread (its
//! address is the branch outcome of the previous block's last instruction) or when the thread
//! enters a system call, exits, or the program ends.
//!
//! Everything here is owned by one guest thread and touched only from that thread's callbacks;
//! nothing allocates after construction.

use crate::decode::{Marker, StaticInsn, TbInfo};
use crate::record::{BranchKind, Instr};

/// Memory accesses buffered per executing block. x86 blocks rarely exceed a few dozen; an
/// `xsave` touches a few hundred bytes in 8- or 16-byte pieces. Extra accesses are dropped and
/// counted.
pub const MEM_BUF: usize = 1024;

/// Records buffered before they are handed to the consumer (256 records = 24 KiB: the batch is
/// still in the host's L1 cache when the timing model reads it).
pub const RECORD_BATCH: usize = 256;

/// One memory access reported by QEMU during a block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemAccess {
    /// Virtual address.
    pub addr: u64,
    /// Index of the instruction within its block.
    pub insn: u16,
    /// Size in bytes.
    pub size: u8,
    /// True for a write.
    pub write: bool,
}

/// Counters kept per guest thread whatever the mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Instructions executed.
    pub instructions: u64,
    /// Translation blocks executed.
    pub blocks: u64,
    /// Memory accesses seen (record modes only).
    pub memory_accesses: u64,
    /// Memory accesses beyond the per-instruction record capacity (merged away).
    pub memory_accesses_dropped: u64,
    /// System calls made.
    pub syscalls: u64,
    /// futex system calls made.
    pub futex_calls: u64,
}

/// Where completed records go.
pub trait Consumer {
    /// Take a batch of records in program order.
    fn consume(&mut self, records: &[Instr]);
    /// A region-of-interest marker was executed (after the records before it were consumed).
    fn marker(&mut self, _marker: Marker) {}
}

/// The record builder of one guest thread.
pub struct Thread {
    pending: Option<&'static TbInfo>,
    mem: Box<[MemAccess]>,
    mem_len: usize,
    records: Vec<Instr>,
    batch: usize,
    next_pc: u64,
    /// Counters.
    pub counts: Counts,
}

impl Default for Thread {
    fn default() -> Self {
        Self::new()
    }
}

impl Thread {
    /// A thread with empty buffers.
    pub fn new() -> Thread {
        Thread {
            pending: None,
            mem: vec![MemAccess::default(); MEM_BUF].into_boxed_slice(),
            mem_len: 0,
            records: Vec::with_capacity(RECORD_BATCH),
            batch: RECORD_BATCH,
            next_pc: 0,
            counts: Counts::default(),
        }
    }

    /// Hand records to the consumer in batches of `batch` (1 ..= [`RECORD_BATCH`]); smaller
    /// batches let the consumer look at the clock more often.
    #[inline]
    pub fn set_batch(&mut self, batch: usize) {
        self.batch = batch.clamp(1, RECORD_BATCH);
    }

    /// Address of the instruction after the last completed block (where execution went on).
    #[inline]
    pub fn next_pc(&self) -> u64 {
        self.next_pc
    }

    /// Count a block without building records (count mode).
    #[inline]
    pub fn count_block(&mut self, tb: &TbInfo) {
        self.counts.blocks += 1;
        self.counts.instructions += tb.len() as u64;
    }

    /// A block is about to run: complete the previous one (its successor is `tb.pc`) and make
    /// `tb` the pending block.
    #[inline]
    pub fn start_block(&mut self, tb: &'static TbInfo, consumer: &mut impl Consumer) {
        if self.pending.is_some() {
            self.finish(tb.pc, consumer);
        }
        self.pending = Some(tb);
        self.mem_len = 0;
    }

    /// Forget buffered memory accesses (records are no longer built).
    #[inline]
    pub fn discard_memory(&mut self) {
        self.mem_len = 0;
    }

    /// A memory access by instruction `insn` of the pending block.
    #[inline]
    pub fn memory(&mut self, insn: u16, addr: u64, size: u8, write: bool) {
        if self.mem_len < self.mem.len() {
            self.mem[self.mem_len] = MemAccess {
                addr,
                insn,
                size,
                write,
            };
            self.mem_len += 1;
        } else {
            self.counts.memory_accesses_dropped += 1;
        }
    }

    /// Complete the pending block, if any, assuming it ran to its end and continued at
    /// `next_pc` (`None`: at its fall-through address, e.g. after a system call or at exit),
    /// then hand every buffered record to `consumer`.
    pub fn flush(&mut self, next_pc: Option<u64>, consumer: &mut impl Consumer) {
        if let Some(tb) = self.pending {
            self.finish(next_pc.unwrap_or_else(|| tb.fallthrough()), consumer);
        }
        self.drain(consumer);
    }

    fn drain(&mut self, consumer: &mut impl Consumer) {
        if !self.records.is_empty() {
            consumer.consume(&self.records);
            self.records.clear();
        }
    }

    fn finish(&mut self, next_pc: u64, consumer: &mut impl Consumer) {
        let Some(tb) = self.pending.take() else {
            return;
        };
        self.next_pc = next_pc;
        self.counts.blocks += 1;
        self.counts.instructions += tb.len() as u64;
        self.counts.memory_accesses += self.mem_len as u64;
        let last = tb.len() - 1;
        let mut cursor = 0usize;
        for (i, s) in tb.insns.iter().enumerate() {
            if tb.has_marker && s.marker != Marker::None {
                self.drain(consumer);
                consumer.marker(s.marker);
                // Markers are no-ops; they are not simulated.
                while cursor < self.mem_len && usize::from(self.mem[cursor].insn) == i {
                    cursor += 1;
                }
                continue;
            }
            // Built in place in the batch (no record-sized temporary to copy).
            self.records.push(template(s));
            let rec = self.records.last_mut().expect("just pushed");
            while cursor < self.mem_len && usize::from(self.mem[cursor].insn) == i {
                let m = self.mem[cursor];
                if !rec.push_mem(m.addr, m.size, m.write) {
                    self.counts.memory_accesses_dropped += 1;
                }
                cursor += 1;
            }
            if i == last && s.branch != BranchKind::None {
                let fallthrough = s.pc + u64::from(s.len);
                rec.taken = next_pc != fallthrough || s.branch.is_unconditional();
                rec.target = if rec.taken { next_pc } else { 0 };
            }
            if self.records.len() >= self.batch {
                self.drain(consumer);
            }
        }
        self.mem_len = 0;
    }
}

/// The record of a static instruction before its dynamic parts are known.
#[inline]
fn template(s: &StaticInsn) -> Instr {
    Instr {
        pc: s.pc,
        len: s.len,
        kind: s.kind,
        branch: s.branch,
        src: s.src,
        dst: s.dst,
        ..Instr::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::BlockDecoder;
    use crate::record::Kind;

    #[derive(Default)]
    struct Collect {
        records: Vec<Instr>,
        markers: Vec<(usize, Marker)>,
    }

    impl Consumer for Collect {
        fn consume(&mut self, records: &[Instr]) {
            self.records.extend_from_slice(records);
        }
        fn marker(&mut self, marker: Marker) {
            self.markers.push((self.records.len(), marker));
        }
    }

    fn block(code: &[(u64, &[u8])]) -> &'static TbInfo {
        Box::leak(Box::new(
            BlockDecoder::new().decode_block(code.iter().copied()),
        ))
    }

    #[test]
    fn branch_outcome_comes_from_the_next_block() {
        // loop: mov rax,[rbx]; add rbx,8; jne loop
        let body = block(&[
            (0x100, &[0x48, 0x8b, 0x03]),
            (0x103, &[0x48, 0x83, 0xc3, 0x08]),
            (0x107, &[0x75, 0xf7]),
        ]);
        let exit = block(&[(0x109, &[0xc3])]);
        let mut t = Thread::new();
        let mut c = Collect::default();
        t.start_block(body, &mut c);
        t.memory(0, 0x5000, 8, false);
        t.start_block(body, &mut c); // taken back to 0x100
        t.memory(0, 0x5008, 8, false);
        t.start_block(exit, &mut c); // not taken, fell through to 0x109
        t.memory(0, 0x7ff0, 8, false);
        t.flush(Some(0x400), &mut c);
        let r = &c.records;
        assert_eq!(r.len(), 7);
        assert_eq!(t.counts.instructions, 7);
        assert_eq!(
            (r[0].kind, r[0].n_mem, r[0].mem[0].addr),
            (Kind::Load, 1, 0x5000)
        );
        assert!(r[2].taken && r[2].target == 0x100);
        assert_eq!(r[3].mem[0].addr, 0x5008);
        assert!(!r[5].taken && r[5].target == 0);
        assert!(r[6].taken && r[6].target == 0x400 && r[6].branch == BranchKind::Return);
    }

    #[test]
    fn memory_accesses_attach_to_their_instruction_and_overflow_is_counted() {
        // push rbp; mov rbp,rsp; movsq (2 accesses)
        let b = block(&[
            (0x10, &[0x55]),
            (0x11, &[0x48, 0x89, 0xe5]),
            (0x14, &[0x48, 0xa5]),
        ]);
        let mut t = Thread::new();
        let mut c = Collect::default();
        t.start_block(b, &mut c);
        t.memory(0, 0x7ff8, 8, true);
        for k in 0..6 {
            t.memory(2, 0x1000 + 8 * k, 8, k % 2 == 1);
        }
        t.flush(None, &mut c);
        let r = &c.records;
        assert_eq!((r[0].n_mem, r[0].mem[0].write), (1, true));
        assert_eq!(r[1].n_mem, 0);
        assert_eq!(r[2].n_mem as usize, crate::record::MAX_MEM);
        assert_eq!(t.counts.memory_accesses, 7);
        assert_eq!(
            t.counts.memory_accesses_dropped,
            6 - crate::record::MAX_MEM as u64
        );
    }

    #[test]
    fn markers_are_reported_in_order_and_not_simulated() {
        let b = block(&[
            (0x10, &[0x90]),
            (0x11, &[0x66, 0x87, 0xdb]),
            (0x14, &[0x90]),
            (0x15, &[0x66, 0x87, 0xc9]),
        ]);
        let mut t = Thread::new();
        let mut c = Collect::default();
        t.start_block(b, &mut c);
        t.flush(None, &mut c);
        assert_eq!(c.records.len(), 2);
        assert_eq!(c.markers, vec![(1, Marker::RoiBegin), (2, Marker::RoiEnd)]);
        assert_eq!(t.counts.instructions, 4);
    }
}
