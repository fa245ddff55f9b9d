//! The instruction stream: a dynamic-instruction record and the sources that produce it.
//!
//! Every source (a trace file, a synthetic generator, later a live emulator) implements
//! [`InstrStream`], which fills a caller-owned buffer with a batch of [`Instr`] records. The
//! batch interface keeps the per-instruction cost of the stream to a few stores: no allocation,
//! no dynamic dispatch per instruction, and a trace reader can decode many records per call.

pub mod champsim;
pub mod compact;
pub mod qemu;
pub mod synthetic;
pub mod threads;

use std::fmt;

/// Largest number of memory operands kept per instruction (ChampSim records carry up to 6;
/// x86 instructions rarely touch more than 2; extra operands are dropped by readers and counted).
pub const MAX_MEM: usize = 4;
/// Source registers kept per instruction.
pub const MAX_SRC: usize = 4;
/// Destination registers kept per instruction.
pub const MAX_DST: usize = 2;

/// Register id of the stack pointer in ChampSim's register numbering.
pub const REG_STACK_POINTER: u8 = 6;
/// Register id of the flags register in ChampSim's register numbering.
pub const REG_FLAGS: u8 = 25;
/// Register id of the instruction pointer in ChampSim's register numbering.
pub const REG_INSTRUCTION_POINTER: u8 = 26;

/// Functional class of an instruction; it selects the execution latency.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum Kind {
    /// Simple integer operation (add, logic, move, compare).
    #[default]
    Int = 0,
    /// Integer multiply.
    Mul = 1,
    /// Integer divide.
    Div = 2,
    /// Floating-point or vector arithmetic.
    Fp = 3,
    /// Load (its memory operands are reads).
    Load = 4,
    /// Store (its memory operands are writes).
    Store = 5,
    /// Control transfer; see [`BranchKind`].
    Branch = 6,
    /// Serialising instruction (fence, cpuid, locked read-modify-write): waits for all older
    /// instructions to complete and holds younger ones back until it completes.
    Serial = 7,
    /// Synchronisation event (thread start/exit, lock, barrier, futex); see [`SyncOp`].
    Sync = 8,
    /// Anything else (no-op, prefetch hint); executes in one cycle.
    Other = 9,
}

impl Kind {
    /// Decode from the numeric value used in the compact trace format.
    pub fn from_u8(v: u8) -> Option<Kind> {
        Some(match v {
            0 => Kind::Int,
            1 => Kind::Mul,
            2 => Kind::Div,
            3 => Kind::Fp,
            4 => Kind::Load,
            5 => Kind::Store,
            6 => Kind::Branch,
            7 => Kind::Serial,
            8 => Kind::Sync,
            9 => Kind::Other,
            _ => return None,
        })
    }
}

/// Kind of a control transfer, as ChampSim distinguishes them.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum BranchKind {
    /// Not a branch.
    #[default]
    None = 0,
    /// Conditional direct branch.
    Conditional = 1,
    /// Unconditional direct jump.
    DirectJump = 2,
    /// Indirect jump (target from a register or memory).
    Indirect = 3,
    /// Direct call.
    DirectCall = 4,
    /// Indirect call.
    IndirectCall = 5,
    /// Return.
    Return = 6,
    /// A write to the instruction pointer that fits none of the above.
    Other = 7,
}

impl BranchKind {
    /// Decode from the numeric value used in the compact trace format.
    pub fn from_u8(v: u8) -> Option<BranchKind> {
        Some(match v {
            0 => BranchKind::None,
            1 => BranchKind::Conditional,
            2 => BranchKind::DirectJump,
            3 => BranchKind::Indirect,
            4 => BranchKind::DirectCall,
            5 => BranchKind::IndirectCall,
            6 => BranchKind::Return,
            7 => BranchKind::Other,
            _ => return None,
        })
    }

    /// Whether the branch is always taken.
    pub fn is_unconditional(self) -> bool {
        !matches!(self, BranchKind::None | BranchKind::Conditional)
    }
}

/// Synchronisation operation carried by a [`Kind::Sync`] record (for multi-threaded traces).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum SyncOp {
    /// No synchronisation.
    #[default]
    None = 0,
    /// A thread starts (object = thread id).
    ThreadStart = 1,
    /// A thread exits (object = thread id).
    ThreadExit = 2,
    /// Block until `object` (a futex/lock address) is woken.
    Wait = 3,
    /// Wake waiters on `object`.
    Wake = 4,
    /// Barrier on `object`.
    Barrier = 5,
    /// Join the thread `object`.
    Join = 6,
}

impl SyncOp {
    /// Decode from the numeric value used in the compact trace format.
    pub fn from_u8(v: u8) -> Option<SyncOp> {
        Some(match v {
            0 => SyncOp::None,
            1 => SyncOp::ThreadStart,
            2 => SyncOp::ThreadExit,
            3 => SyncOp::Wait,
            4 => SyncOp::Wake,
            5 => SyncOp::Barrier,
            6 => SyncOp::Join,
            _ => return None,
        })
    }
}

/// One memory operand of an instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MemOp {
    /// Virtual address of the access.
    pub addr: u64,
    /// Access size in bytes; 0 when the source does not know it.
    pub size: u8,
    /// True for a write, false for a read.
    pub write: bool,
}

/// One dynamic instruction.
///
/// Register id 0 means "no register". Register ids follow the source's numbering (ChampSim's for
/// ChampSim traces); the core models only compare ids, so any consistent numbering below 256 works.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Instr {
    /// Instruction address.
    pub pc: u64,
    /// Branch target when taken (the next instruction's pc); 0 when unknown or not a branch.
    pub target: u64,
    /// Memory operands; only the first `n_mem` are meaningful.
    pub mem: [MemOp; MAX_MEM],
    /// Source registers (0 = none).
    pub src: [u8; MAX_SRC],
    /// Destination registers (0 = none).
    pub dst: [u8; MAX_DST],
    /// Instruction length in bytes; 0 when unknown.
    pub len: u8,
    /// Number of valid entries in `mem`.
    pub n_mem: u8,
    /// Functional class.
    pub kind: Kind,
    /// Branch kind; `BranchKind::None` unless `kind == Kind::Branch`.
    pub branch: BranchKind,
    /// Branch outcome.
    pub taken: bool,
    /// Synchronisation operation for `Kind::Sync` records; the object is in `target`.
    pub sync: SyncOp,
}

impl Instr {
    /// A simple instruction of `kind` at `pc`.
    pub fn new(pc: u64, kind: Kind) -> Instr {
        Instr {
            pc,
            kind,
            ..Instr::default()
        }
    }

    /// The valid memory operands.
    #[inline]
    pub fn mem_ops(&self) -> &[MemOp] {
        &self.mem[..self.n_mem as usize]
    }

    /// Append a memory operand; returns false (and drops it) when `MAX_MEM` are already present.
    #[inline]
    pub fn push_mem(&mut self, addr: u64, size: u8, write: bool) -> bool {
        let n = self.n_mem as usize;
        if n >= MAX_MEM {
            return false;
        }
        self.mem[n] = MemOp { addr, size, write };
        self.n_mem += 1;
        true
    }

    /// Whether the instruction reads memory.
    #[inline]
    pub fn has_load(&self) -> bool {
        self.mem_ops().iter().any(|m| !m.write)
    }

    /// Whether the instruction writes memory.
    #[inline]
    pub fn has_store(&self) -> bool {
        self.mem_ops().iter().any(|m| m.write)
    }

    /// The pc of the instruction after this one in program order: a taken branch's target,
    /// else the next instruction in memory (pc plus length).
    #[inline(always)]
    pub fn next_pc(&self) -> u64 {
        if self.kind == Kind::Branch && self.taken {
            self.target
        } else {
            self.pc.wrapping_add(self.len as u64)
        }
    }

    /// Whether the instruction is a branch.
    #[inline]
    pub fn is_branch(&self) -> bool {
        self.branch != BranchKind::None
    }
}

/// An error while reading or writing an instruction stream. Offsets count bytes of the
/// *decompressed* stream; records count from 0.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// An I/O error (open, read or write).
    #[error("{path}: {source}")]
    Io {
        /// File concerned.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The stream ended in the middle of a record.
    #[error("{path}: truncated record {record} at byte offset {offset}: {detail}")]
    Truncated {
        /// File concerned.
        path: String,
        /// Index of the incomplete record.
        record: u64,
        /// Decompressed byte offset where the incomplete record starts.
        offset: u64,
        /// What was expected.
        detail: String,
    },
    /// A record or header holds an impossible value.
    #[error("{path}: corrupt record {record} at byte offset {offset}: {detail}")]
    Corrupt {
        /// File concerned.
        path: String,
        /// Index of the bad record.
        record: u64,
        /// Decompressed byte offset of the bad field.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// The file is not in the expected format.
    #[error("{path}: {detail}")]
    Format {
        /// File concerned.
        path: String,
        /// What is wrong.
        detail: String,
    },
}

/// A source of dynamic instructions, read in batches.
///
/// `fill` writes up to `buf.len()` instructions at the start of `buf` and returns how many it
/// wrote; 0 means nothing is available: the end, for a file or generator (which must keep
/// returning 0 cheaply), or "not yet" for a live source such as an emulator, which the core
/// asks again when it is stepped next. Implementations must be deterministic: the same source
/// and parameters always produce the same instructions.
pub trait InstrStream {
    /// Fill `buf` with the next instructions; 0 = end of stream.
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError>;

    /// A short human description (file name or workload and parameters).
    fn describe(&self) -> String;
}

impl<S: InstrStream + ?Sized> InstrStream for Box<S> {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        (**self).fill(buf)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// A stream over instructions held in memory (tests, small hand-written programs).
#[derive(Clone, Debug)]
pub struct VecStream {
    instrs: Vec<Instr>,
    pos: usize,
}

impl VecStream {
    /// Stream the given instructions once.
    pub fn new(instrs: Vec<Instr>) -> VecStream {
        VecStream { instrs, pos: 0 }
    }
}

impl InstrStream for VecStream {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        let n = buf.len().min(self.instrs.len() - self.pos);
        buf[..n].copy_from_slice(&self.instrs[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
    fn describe(&self) -> String {
        format!("{} in-memory instructions", self.instrs.len())
    }
}

/// Reads a whole stream into memory (tests and small traces only).
pub fn collect(stream: &mut dyn InstrStream, limit: usize) -> Result<Vec<Instr>, TraceError> {
    let mut out = Vec::new();
    let mut buf = vec![Instr::default(); 4096];
    while out.len() < limit {
        let want = (limit - out.len()).min(buf.len());
        let n = stream.fill(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(out)
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Open a trace file of either format (compact by its magic, otherwise ChampSim raw/.gz/.xz).
pub fn open_trace(path: &std::path::Path) -> Result<Box<dyn InstrStream>, TraceError> {
    let s: Box<dyn InstrStream> = open_trace_send(path)?;
    Ok(s)
}

/// [`open_trace`] for a stream that may move to another thread (multi-core runs).
pub fn open_trace_send(path: &std::path::Path) -> Result<Box<dyn InstrStream + Send>, TraceError> {
    let mut magic = [0u8; 8];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|source| TraceError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut got = 0;
        while got < 8 {
            match f.read(&mut magic[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(source) => {
                    return Err(TraceError::Io {
                        path: path.display().to_string(),
                        source,
                    });
                }
            }
        }
        got
    };
    if compact::is_compact(&magic[..n]) {
        Ok(Box::new(compact::open(path)?))
    } else {
        Ok(Box::new(champsim::open(path)?))
    }
}

/// Write up to `limit` instructions of `stream` to `path`: the compact format for `.ist`, a
/// ChampSim trace otherwise (compressed by `.gz`/`.xz`). Returns the number written.
pub fn write_trace(
    path: &std::path::Path,
    stream: &mut dyn InstrStream,
    limit: u64,
) -> Result<u64, TraceError> {
    if path.extension().and_then(|e| e.to_str()) == Some("ist") {
        compact::write_file(path, stream, limit, 0)
    } else {
        champsim::write_file(path, stream, limit)
    }
}

/// Summary of a trace: instruction mix, branches, memory footprint.
#[derive(Clone, Debug, Default)]
pub struct TraceInfo {
    /// Instructions.
    pub instructions: u64,
    /// Per-class counts, indexed by `Kind as usize`.
    pub kinds: [u64; 10],
    /// Per-branch-kind counts, indexed by `BranchKind as usize`.
    pub branches: [u64; 8],
    /// Taken branches.
    pub taken: u64,
    /// Memory reads and writes.
    pub reads: u64,
    /// Memory writes.
    pub writes: u64,
    /// Distinct 64-byte data lines touched (counted up to 16 M lines).
    pub data_lines: u64,
    /// Distinct 64-byte code lines.
    pub code_lines: u64,
    /// The stream's own description (for a compact trace: its format version, thread and
    /// record count).
    pub source: String,
}

impl TraceInfo {
    /// Read the whole stream once.
    pub fn scan(stream: &mut dyn InstrStream) -> Result<TraceInfo, TraceError> {
        let mut info = TraceInfo::default();
        let mut data = std::collections::HashSet::new();
        let mut code = std::collections::HashSet::new();
        let mut buf = vec![Instr::default(); 4096];
        loop {
            let n = stream.fill(&mut buf)?;
            if n == 0 {
                break;
            }
            for i in &buf[..n] {
                info.instructions += 1;
                info.kinds[i.kind as usize] += 1;
                info.branches[i.branch as usize] += 1;
                info.taken += (i.is_branch() && i.taken) as u64;
                if code.len() < (1 << 24) {
                    code.insert(i.pc >> 6);
                }
                for m in i.mem_ops() {
                    if m.write {
                        info.writes += 1;
                    } else {
                        info.reads += 1;
                    }
                    if data.len() < (1 << 24) {
                        data.insert(m.addr >> 6);
                    }
                }
            }
        }
        info.data_lines = data.len() as u64;
        info.code_lines = code.len() as u64;
        info.source = stream.describe();
        Ok(info)
    }

    /// Text summary.
    pub fn to_text(&self, name: &str) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let pct = |x: u64| 100.0 * x as f64 / self.instructions.max(1) as f64;
        let _ = writeln!(s, "{name}");
        if !self.source.is_empty() {
            let _ = writeln!(s, "  source              {}", self.source);
        }
        let _ = writeln!(s, "  instructions        {}", self.instructions);
        for k in 0..10u8 {
            let c = self.kinds[k as usize];
            if c > 0 {
                let kind = Kind::from_u8(k).unwrap_or_default();
                let _ = writeln!(
                    s,
                    "  {:<20}{c} ({:.1}%)",
                    format!("{kind:?}").to_lowercase(),
                    pct(c)
                );
            }
        }
        for b in 1..8u8 {
            let c = self.branches[b as usize];
            if c > 0 {
                let bk = BranchKind::from_u8(b).unwrap_or_default();
                let _ = writeln!(s, "  branch {:<13}{c}", format!("{bk:?}").to_lowercase());
            }
        }
        let _ = writeln!(s, "  taken branches      {}", self.taken);
        let _ = writeln!(s, "  memory reads        {}", self.reads);
        let _ = writeln!(s, "  memory writes       {}", self.writes);
        let _ = writeln!(
            s,
            "  data footprint      {}",
            crate::config::format_size(self.data_lines * 64)
        );
        let _ = writeln!(
            s,
            "  code footprint      {}",
            crate::config::format_size(self.code_lines * 64)
        );
        s
    }
}
