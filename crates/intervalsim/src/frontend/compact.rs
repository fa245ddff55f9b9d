//! intervalsim's compact trace format (`.ist`): a versioned header followed by a zstd stream of
//! records. Unlike ChampSim records it keeps instruction length, access sizes, instruction class,
//! branch kind and synchronisation events, so a replay gives the same statistics as the source.
//!
//! Header (32 bytes, little-endian, uncompressed): magic `b"IVSTRACE"`, `u16 version` (3 is
//! written; 1, 2 and 3 are read), `u16 flags` (0), `u32 thread` (thread id of this stream),
//! `u64 count` (records), 8 reserved bytes. Records follow, zstd-compressed.
//!
//! **Version 2** (see [`v2`]) keeps each static instruction shape once, as trace formats of fast
//! simulators do: encoder and decoder maintain the same table of shapes (class, length, registers,
//! memory-operand sizes, a direct branch's target) and a pc-indexed table pointing into it, so
//! the record of an instruction seen before is a head byte plus its dynamic fields only (an
//! address that differs from its stride prediction, an indirect target, a sync event). Decoding
//! such a record copies the shape's template `Instr` and patches the pc, target and addresses.
//!
//! **Version 3** is version 2 plus *run codes*: one byte (two or three for long runs) standing
//! for the next K records when each is exactly what the tables predict — the expected pc, the
//! pc table's shape and last outcome, the shape's target, every address on its stride. Loop
//! kernels then take a few bytes per iteration pattern, and the decoder produces run records
//! in a tight loop with no byte to read.
//!
//! **Version 1** records (still read) are each:
//!
//! * `u8 head` — bits 0–3 kind, bit 4 pc follows the previous instruction (pc = prev pc + prev
//!   len, no pc field), bit 5 taken, bit 6 registers present, bit 7 sync event present;
//! * pc delta from the expected pc (zigzag varint) unless bit 4;
//! * `u8 len`;
//! * for branches `u8 (branch kind | has_target << 4)`, and with a target its delta from pc
//!   (zigzag varint);
//! * if bit 6: `u8 (nsrc << 4 | ndst)` then the register ids;
//! * `u8 n_mem`, then per operand `u8 (size & 0x7f | write << 7)` and the address delta from the
//!   previous address of the same operand slot (zigzag varint);
//! * if bit 7: `u8 sync op` and the object (varint).
//!
//! Malformed input never panics: every error names the file, the record number and the
//! decompressed byte offset (header included).

use super::{BranchKind, Instr, InstrStream, Kind, MAX_MEM, SyncOp, TraceError};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

pub mod v2;

/// File magic.
pub const MAGIC: &[u8; 8] = b"IVSTRACE";
/// Format version written by default.
pub const VERSION: u16 = 3;
/// Format versions read.
pub const VERSIONS: [u16; 3] = [1, 2, 3];
const HEADER: usize = 32;
/// Bytes that surely hold a whole version 1 record.
const MAX_RECORD: usize = 128;
const _: () = assert!(v2::WINDOW == MAX_RECORD);

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Version 1 encoder and decoder state (previous pc and addresses).
#[derive(Clone, Debug, Default)]
struct Codec {
    next_pc: u64,
    prev_addr: [u64; MAX_MEM],
}

impl Codec {
    fn encode(&mut self, ins: &Instr, out: &mut Vec<u8>) {
        let seq = ins.pc == self.next_pc;
        let has_regs = ins.src.iter().chain(ins.dst.iter()).any(|&r| r != 0);
        let has_sync = ins.sync != SyncOp::None;
        let head = (ins.kind as u8)
            | (seq as u8) << 4
            | (ins.taken as u8) << 5
            | (has_regs as u8) << 6
            | (has_sync as u8) << 7;
        out.push(head);
        if !seq {
            put_varint(out, zigzag(ins.pc.wrapping_sub(self.next_pc) as i64));
        }
        out.push(ins.len);
        if ins.kind == Kind::Branch {
            let has_target = ins.target != 0;
            out.push(ins.branch as u8 | (has_target as u8) << 4);
            if has_target {
                put_varint(out, zigzag(ins.target.wrapping_sub(ins.pc) as i64));
            }
        }
        if has_regs {
            let srcs: Vec<u8> = ins.src.iter().copied().filter(|&r| r != 0).collect();
            let dsts: Vec<u8> = ins.dst.iter().copied().filter(|&r| r != 0).collect();
            out.push(((srcs.len() as u8) << 4) | dsts.len() as u8);
            out.extend_from_slice(&srcs);
            out.extend_from_slice(&dsts);
        }
        out.push(ins.n_mem);
        for (k, m) in ins.mem_ops().iter().enumerate() {
            out.push((m.size & 0x7f) | ((m.write as u8) << 7));
            put_varint(out, zigzag(m.addr.wrapping_sub(self.prev_addr[k]) as i64));
            self.prev_addr[k] = m.addr;
        }
        if has_sync {
            out.push(ins.sync as u8);
            put_varint(out, ins.target);
        }
        self.next_pc = ins.next_pc();
    }
}

/// Writes the compact format (the current version) to `path` atomically (temporary file, then
/// rename); streaming, in constant memory.
pub fn write_file(
    path: &Path,
    stream: &mut dyn InstrStream,
    limit: u64,
    thread: u32,
) -> Result<u64, TraceError> {
    write_file_version(path, stream, limit, thread, VERSION)
}

/// [`VERSIONS`] as text for error messages ("1, 2, 3").
fn versions_list() -> String {
    VERSIONS.map(|v| v.to_string()).join(", ")
}

/// [`write_file`] in a given format version (1, 2 or 3), e.g. for readers that predate the
/// current one.
pub fn write_file_version(
    path: &Path,
    stream: &mut dyn InstrStream,
    limit: u64,
    thread: u32,
    version: u16,
) -> Result<u64, TraceError> {
    if !VERSIONS.contains(&version) {
        return Err(TraceError::Format {
            path: path.display().to_string(),
            detail: format!(
                "cannot write compact format version {version} (versions: {})",
                versions_list()
            ),
        });
    }
    let io = |p: &Path, source| TraceError::Io {
        path: p.display().to_string(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "trace".into());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = BufWriter::new(File::create(&tmp).map_err(|e| io(&tmp, e))?);
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(MAGIC);
        header[8..10].copy_from_slice(&version.to_le_bytes());
        header[12..16].copy_from_slice(&thread.to_le_bytes());
        f.write_all(&header).map_err(|e| io(&tmp, e))?;
        let mut enc = zstd::stream::write::Encoder::new(f, 6).map_err(|e| io(&tmp, e))?;
        let mut v1 = Codec::default();
        let mut v2 = v2::Encoder::new(version >= 3);
        let mut buf = vec![Instr::default(); 4096];
        let mut bytes = Vec::with_capacity(1 << 16);
        let mut written = 0u64;
        while written < limit {
            let want = (limit - written).min(buf.len() as u64) as usize;
            let n = stream.fill(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            bytes.clear();
            if version == 1 {
                for ins in &buf[..n] {
                    v1.encode(ins, &mut bytes);
                }
            } else {
                for ins in &buf[..n] {
                    v2.encode(ins, &mut bytes);
                }
            }
            enc.write_all(&bytes).map_err(|e| io(&tmp, e))?;
            written += n as u64;
        }
        bytes.clear();
        v2.finish(&mut bytes);
        enc.write_all(&bytes).map_err(|e| io(&tmp, e))?;
        let f = enc.finish().map_err(|e| io(&tmp, e))?;
        let mut file = f.into_inner().map_err(|e| io(&tmp, e.into_error()))?;
        file.seek(SeekFrom::Start(16)).map_err(|e| io(&tmp, e))?;
        file.write_all(&written.to_le_bytes())
            .map_err(|e| io(&tmp, e))?;
        file.sync_all().map_err(|e| io(&tmp, e))?;
        Ok(written)
    })();
    match result {
        Ok(n) => {
            std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// How [`decode`] reports a malformed record. The fast path ([`Quiet`]) only needs to know
/// that something is unusual — the reader then decodes the record again with [`Report`], which
/// names what is wrong and where — so one decoder serves both and the fast one carries no
/// error-building code.
trait OnError {
    type Error;
    /// Whether reads check for the end of the bytes (the fast path reads only where a whole
    /// record surely fits) and rare records are decoded in full.
    const CHECKED: bool;
    /// The bytes end inside the record, while reading `what`.
    fn truncated(&self, what: &'static str) -> Self::Error;
    /// The byte at `at` (from the record's start) is not valid; `what` says why.
    fn corrupt(&self, at: usize, what: impl FnOnce() -> String) -> Self::Error;
    /// The record is not valid, because of the code `back` bytes before its position (a run
    /// code, which stands for several records).
    fn corrupt_back(&self, back: usize, what: impl FnOnce() -> String) -> Self::Error;
}

/// No detail: any problem is `()`.
struct Quiet;

impl OnError for Quiet {
    type Error = ();
    const CHECKED: bool = false;
    #[inline(always)]
    fn truncated(&self, _: &'static str) {}
    #[inline(always)]
    fn corrupt(&self, _: usize, _: impl FnOnce() -> String) {}
    #[inline(always)]
    fn corrupt_back(&self, _: usize, _: impl FnOnce() -> String) {}
}

/// Errors that name the file, the record and the decompressed byte offset.
struct Report<'a> {
    path: &'a str,
    record: u64,
    /// Offset of the record's first byte in the file's decompressed view (header included).
    offset: u64,
    /// Records the header announces from this one on (this one included).
    announced: u64,
}

impl OnError for Report<'_> {
    type Error = TraceError;
    const CHECKED: bool = true;
    fn truncated(&self, what: &'static str) -> TraceError {
        TraceError::Truncated {
            path: self.path.to_string(),
            record: self.record,
            offset: self.offset,
            detail: format!("stream ends inside the record ({what})"),
        }
    }
    fn corrupt(&self, at: usize, what: impl FnOnce() -> String) -> TraceError {
        TraceError::Corrupt {
            path: self.path.to_string(),
            record: self.record,
            offset: self.offset + at as u64,
            detail: what(),
        }
    }
    fn corrupt_back(&self, back: usize, what: impl FnOnce() -> String) -> TraceError {
        TraceError::Corrupt {
            path: self.path.to_string(),
            record: self.record,
            offset: self.offset.saturating_sub(back as u64),
            detail: what(),
        }
    }
}

#[inline(always)]
fn byte<E: OnError>(b: &[u8], p: &mut usize, what: &'static str, on: &E) -> Result<u8, E::Error> {
    match b.get(*p) {
        Some(&x) => {
            *p += 1;
            Ok(x)
        }
        None => Err(on.truncated(what)),
    }
}

/// A LEB128 varint of at most ten bytes (the tenth may only hold the top bit).
#[inline(always)]
fn varint<E: OnError>(
    b: &[u8],
    p: &mut usize,
    what: &'static str,
    on: &E,
) -> Result<u64, E::Error> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let at = *p;
        let x = byte(b, p, what, on)?;
        if shift == 63 && x > 1 {
            return Err(on.corrupt(at, || format!("{what}: varint overflows 64 bits")));
        }
        v |= ((x & 0x7f) as u64) << shift;
        if x & 0x80 == 0 {
            return Ok(v);
        }
        shift += 7;
        if shift > 63 {
            return Err(on.corrupt(*p, || format!("{what}: varint longer than 10 bytes")));
        }
    }
}

/// Decode the record at the start of `b` into `ins`, advancing `codec` only on success.
/// Returns the bytes consumed. Positions given to `on` count from `b`'s start.
#[inline(always)]
fn decode<E: OnError>(
    b: &[u8],
    codec: &mut Codec,
    ins: &mut Instr,
    on: &E,
) -> Result<usize, E::Error> {
    let mut p = 0;
    let head = byte(b, &mut p, "head", on)?;
    let Some(kind) = Kind::from_u8(head & 0x0f) else {
        return Err(on.corrupt(0, || {
            format!("instruction class {} is not defined", head & 0x0f)
        }));
    };
    *ins = Instr::new(0, kind);
    ins.taken = head & 0x20 != 0;
    ins.pc = if head & 0x10 != 0 {
        codec.next_pc
    } else {
        codec
            .next_pc
            .wrapping_add(unzigzag(varint(b, &mut p, "pc", on)?) as u64)
    };
    ins.len = byte(b, &mut p, "length", on)?;
    if kind == Kind::Branch {
        let at = p;
        let bk = byte(b, &mut p, "branch kind", on)?;
        ins.branch = match BranchKind::from_u8(bk & 0x0f) {
            Some(k) if k != BranchKind::None && bk & 0xe0 == 0 => k,
            _ => return Err(on.corrupt(at, || format!("branch kind byte {bk:#x} is not defined"))),
        };
        if bk & 0x10 != 0 {
            ins.target = ins
                .pc
                .wrapping_add(unzigzag(varint(b, &mut p, "target", on)?) as u64);
        }
    } else if ins.taken {
        return Err(on.corrupt(0, || "taken flag on a non-branch".into()));
    }
    if head & 0x40 != 0 {
        let at = p;
        let counts = byte(b, &mut p, "register counts", on)?;
        let (ns, nd) = ((counts >> 4) as usize, (counts & 0x0f) as usize);
        if ns > 4 || nd > 2 {
            return Err(on.corrupt(at, || {
                format!("{ns} sources / {nd} destinations (at most 4 / 2)")
            }));
        }
        if let Some(chunk) = b.get(p..p + 8) {
            // One fixed-size load instead of two variable-length copies (which become memcpy
            // calls): the bytes past the register ids are masked off.
            let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            ins.src = ((w & ((1u64 << (8 * ns)) - 1)) as u32).to_le_bytes();
            ins.dst = (((w >> (8 * ns)) & ((1u64 << (8 * nd)) - 1)) as u16).to_le_bytes();
            p += ns + nd;
        } else {
            for k in 0..ns {
                ins.src[k] = byte(b, &mut p, "source register", on)?;
            }
            for k in 0..nd {
                ins.dst[k] = byte(b, &mut p, "destination register", on)?;
            }
        }
    }
    let at = p;
    let n_mem = byte(b, &mut p, "memory operand count", on)? as usize;
    if n_mem > MAX_MEM {
        return Err(on.corrupt(at, || {
            format!("{n_mem} memory operands (at most {MAX_MEM})")
        }));
    }
    let mut prev = codec.prev_addr;
    for (k, slot) in prev.iter_mut().enumerate().take(n_mem) {
        let sw = byte(b, &mut p, "access size", on)?;
        let addr = slot.wrapping_add(unzigzag(varint(b, &mut p, "address", on)?) as u64);
        *slot = addr;
        ins.mem[k] = super::MemOp {
            addr,
            size: sw & 0x7f,
            write: sw & 0x80 != 0,
        };
    }
    ins.n_mem = n_mem as u8;
    if head & 0x80 != 0 {
        let at = p;
        let op = byte(b, &mut p, "sync op", on)?;
        ins.sync = match SyncOp::from_u8(op) {
            Some(o) if o != SyncOp::None => o,
            _ => {
                return Err(on.corrupt(at, || format!("synchronisation op {op} is not defined")));
            }
        };
        ins.target = varint(b, &mut p, "sync object", on)?;
    }
    codec.prev_addr = prev;
    codec.next_pc = ins.next_pc();
    Ok(p)
}

/// Whether `bytes` (a file's start) carry the compact format's magic.
pub fn is_compact(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[..8] == MAGIC
}

/// One record coding's decoder, as the reader's loop drives it.
trait RecordDecoder {
    /// Decode a run of common records from `buf[pos..]` into `out` by the coding's quickest
    /// path, if it has one; returns the new position and the records decoded. `announced`
    /// counts the records the header still announces (at least `out.len()`).
    #[inline(always)]
    fn run(
        &mut self,
        _buf: &[u8],
        pos: usize,
        _out: &mut [Instr],
        _announced: u64,
    ) -> (usize, usize) {
        (pos, 0)
    }
    /// Whether records are due that take no more bytes (the rest of a run).
    #[inline(always)]
    fn pending(&self) -> bool {
        false
    }
    /// Decode without error detail from a window that surely holds the whole record.
    fn quiet(&mut self, w: &[u8; MAX_RECORD], out: &mut Instr) -> Result<usize, ()>;
    /// Decode with errors that say what is wrong and where.
    fn report(&mut self, b: &[u8], out: &mut Instr, on: &Report) -> Result<usize, TraceError>;
}

impl RecordDecoder for Codec {
    #[inline(always)]
    fn quiet(&mut self, w: &[u8; MAX_RECORD], out: &mut Instr) -> Result<usize, ()> {
        decode(w, self, out, &Quiet)
    }
    fn report(&mut self, b: &[u8], out: &mut Instr, on: &Report) -> Result<usize, TraceError> {
        decode(b, self, out, on)
    }
}

impl RecordDecoder for v2::Tables {
    #[inline(always)]
    fn run(&mut self, buf: &[u8], pos: usize, out: &mut [Instr], announced: u64) -> (usize, usize) {
        self.decode_run(buf, pos, out, announced)
    }
    #[inline(always)]
    fn pending(&self) -> bool {
        v2::Tables::pending(self)
    }
    #[inline(always)]
    fn quiet(&mut self, w: &[u8; MAX_RECORD], out: &mut Instr) -> Result<usize, ()> {
        let w = v2::Window {
            w,
            avail: v2::WINDOW,
        };
        v2::decode(&w, self, out, &Quiet, 0)
    }
    fn report(&mut self, b: &[u8], out: &mut Instr, on: &Report) -> Result<usize, TraceError> {
        let mut pad = [0u8; v2::WINDOW];
        let avail = b.len().min(v2::WINDOW);
        pad[..avail].copy_from_slice(&b[..avail]);
        let w = v2::Window { w: &pad, avail };
        v2::decode(&w, self, out, on, on.announced)
    }
}

/// The record coding of the file's version.
enum Decoder {
    V1(Codec),
    /// Versions 2 and 3 (the tables know which).
    V2(Box<v2::Tables>),
}

/// Streaming reader of the compact format; constant memory.
pub struct CompactReader<R: Read> {
    input: Input<R>,
    decoder: Decoder,
    thread: u32,
    version: u16,
}

/// The decompressed bytes and the reader's position in them.
struct Input<R: Read> {
    inner: R,
    path: String,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    /// Decompressed bytes consumed before `buf[0]`.
    base: u64,
    record: u64,
    count: u64,
}

/// Bytes of decompressed records buffered (a large buffer means fewer, longer zstd calls).
const BUFFER: usize = 1 << 17;

/// Open a compact trace.
pub fn open(path: &Path) -> Result<CompactReader<Box<dyn Read + Send>>, TraceError> {
    let f = File::open(path).map_err(|source| TraceError::Io {
        path: path.display().to_string(),
        source,
    })?;
    CompactReader::new(
        Box::new(BufReader::with_capacity(1 << 16, f)),
        &path.display().to_string(),
    )
}

impl<R: Read> CompactReader<R> {
    /// Read the header from `raw` (the file's bytes) and prepare to decode records.
    pub fn new(mut raw: R, path: &str) -> Result<CompactReader<Box<dyn Read + Send>>, TraceError>
    where
        R: Send + 'static,
    {
        let mut header = [0u8; HEADER];
        let mut got = 0;
        while got < HEADER {
            match raw.read(&mut header[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(source) => {
                    return Err(TraceError::Io {
                        path: path.into(),
                        source,
                    });
                }
            }
        }
        if got < 8 || &header[..8] != MAGIC {
            return Err(TraceError::Format {
                path: path.into(),
                detail: "not an intervalsim compact trace (bad magic at byte offset 0)".into(),
            });
        }
        if got < HEADER {
            return Err(TraceError::Truncated {
                path: path.into(),
                record: 0,
                offset: got as u64,
                detail: format!("header is {got} of {HEADER} bytes"),
            });
        }
        let version = u16::from_le_bytes([header[8], header[9]]);
        let decoder = match version {
            1 => Decoder::V1(Codec::default()),
            2 | 3 => Decoder::V2(Box::new(v2::Tables::new(version == 3))),
            _ => {
                return Err(TraceError::Format {
                    path: path.into(),
                    detail: format!(
                        "format version {version} at byte offset 8 is not supported (this build reads versions {})",
                        versions_list()
                    ),
                });
            }
        };
        let thread = u32::from_le_bytes(header[12..16].try_into().expect("4 bytes"));
        let count = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
        let dec = zstd::stream::read::Decoder::new(raw).map_err(|source| TraceError::Io {
            path: path.into(),
            source,
        })?;
        Ok(CompactReader {
            input: Input {
                inner: Box::new(dec),
                path: path.into(),
                buf: vec![0; BUFFER],
                pos: 0,
                end: 0,
                eof: false,
                base: 0,
                record: 0,
                count,
            },
            decoder,
            thread,
            version,
        })
    }
}

impl<R: Read> CompactReader<R> {
    /// Records the header announces.
    pub fn count(&self) -> u64 {
        self.input.count
    }

    /// Thread id of this stream.
    pub fn thread(&self) -> u32 {
        self.thread
    }

    /// Format version of the file.
    pub fn version(&self) -> u16 {
        self.version
    }
}

impl<R: Read> Input<R> {
    fn refill(&mut self) -> Result<(), TraceError> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        while !self.eof && self.end < self.buf.len() {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(TraceError::Io {
                        path: format!(
                            "{} (record {}, decompressed byte offset {})",
                            self.path,
                            self.record,
                            self.base + self.end as u64
                        ),
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Decode the next record with full error reporting.
    fn decode_one<D: RecordDecoder>(&mut self, dec: &mut D) -> Result<Instr, TraceError> {
        let on = Report {
            path: &self.path,
            record: self.record,
            offset: self.base + self.pos as u64 + HEADER as u64,
            announced: self.count.saturating_sub(self.record),
        };
        let mut ins = Instr::default();
        let used = dec.report(&self.buf[self.pos..self.end], &mut ins, &on)?;
        self.pos += used;
        self.record += 1;
        Ok(ins)
    }

    fn fill_with<D: RecordDecoder>(
        &mut self,
        dec: &mut D,
        out: &mut [Instr],
    ) -> Result<usize, TraceError> {
        let mut n = 0;
        while n < out.len() {
            if self.end - self.pos < MAX_RECORD && !self.eof {
                self.refill()?;
            }
            // Fast path: while a whole record surely fits in the buffer and the header
            // announces more, decode without building error details.
            let announced = usize::try_from(self.count - self.record).unwrap_or(usize::MAX);
            let limit = out.len().min(n.saturating_add(announced));
            // Position and count in locals: the loop then keeps them in registers.
            let (mut pos, first) = (self.pos, n);
            let end = self.end;
            let buf = &self.buf[..end];
            while n < limit {
                let left = self.count - self.record - (n - first) as u64;
                let (p, k) = dec.run(buf, pos, &mut out[n..limit], left);
                pos = p;
                n += k;
                if n == limit {
                    break;
                }
                let Some(w) = buf.get(pos..pos + MAX_RECORD) else {
                    break;
                };
                let Ok(w) = w.try_into() else { break };
                match dec.quiet(w, &mut out[n]) {
                    Ok(used) => {
                        pos += used;
                        n += 1;
                    }
                    Err(()) => break,
                }
            }
            self.pos = pos;
            self.record += (n - first) as u64;
            if n == out.len() {
                break;
            }
            if self.end - self.pos < MAX_RECORD && !self.eof {
                continue;
            }
            // One record the slow way: the end of the stream, a rare record, or something to
            // report.
            if self.pos == self.end && !dec.pending() {
                if self.record != self.count {
                    return Err(TraceError::Truncated {
                        path: self.path.clone(),
                        record: self.record,
                        offset: self.base + self.pos as u64 + HEADER as u64,
                        detail: format!(
                            "header announces {} records, stream ends after {}",
                            self.count, self.record
                        ),
                    });
                }
                break;
            }
            if self.record >= self.count {
                return Err(TraceError::Corrupt {
                    path: self.path.clone(),
                    record: self.record,
                    offset: self.base + self.pos as u64 + HEADER as u64,
                    detail: format!("data after the {} records the header announces", self.count),
                });
            }
            out[n] = self.decode_one(dec)?;
            n += 1;
        }
        Ok(n)
    }
}

impl<R: Read> InstrStream for CompactReader<R> {
    fn fill(&mut self, out: &mut [Instr]) -> Result<usize, TraceError> {
        match &mut self.decoder {
            Decoder::V1(c) => self.input.fill_with(c, out),
            Decoder::V2(t) => self.input.fill_with(&mut **t, out),
        }
    }

    fn describe(&self) -> String {
        format!(
            "compact trace {} (format version {}, thread {}, {} records)",
            self.input.path, self.version, self.thread, self.input.count
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::synthetic::Workload;
    use crate::frontend::{VecStream, collect};

    #[test]
    fn varints_round_trip() {
        for v in [0i64, 1, -1, 63, -64, 1 << 40, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, zigzag(v));
            assert!(out.len() <= 10);
            let mut x = 0u64;
            for (i, b) in out.iter().enumerate() {
                x |= ((b & 0x7f) as u64) << (7 * i);
            }
            assert_eq!(unzigzag(x), v);
        }
    }

    /// An instruction mix with every field exercised: the mixed workload plus indirect
    /// branches, returns, sync events, four memory operands, odd registers and targets.
    fn varied() -> Vec<Instr> {
        let mut v = collect(
            &mut Workload::Mixed { footprint: 1 << 20 }.stream(3),
            30_000,
        )
        .unwrap();
        let mut extra = Vec::new();
        for k in 0..2_000u64 {
            let pc = 0x7000_0000 + (k % 37) * 5;
            let mut i = Instr::new(pc, Kind::Branch);
            i.len = 5;
            i.branch = [
                BranchKind::Indirect,
                BranchKind::Return,
                BranchKind::DirectCall,
            ][k as usize % 3];
            i.taken = k % 4 != 0;
            i.target = if k % 7 == 0 { 0 } else { 0x1234_5678 + k * 16 };
            extra.push(i);
            let mut m = Instr::new(pc + 5, Kind::Load);
            m.len = 3;
            m.src = [0, 7, 0, 200];
            m.dst = [0, 9];
            for j in 0..(k % 5) {
                m.push_mem(
                    0x5000 + k * 24 + j * 4096,
                    [1, 2, 4, 8, 200][j as usize],
                    j % 2 == 1,
                );
            }
            extra.push(m);
            if k % 101 == 0 {
                let mut s = Instr::new(pc + 8, Kind::Sync);
                s.sync = SyncOp::Barrier;
                s.target = 0xabc + k;
                s.len = 2;
                extra.push(s);
            }
        }
        v.extend(extra);
        let mut s = Instr::new(0x99, Kind::Sync);
        s.sync = SyncOp::Barrier;
        s.target = 0xabc;
        v.push(s);
        v
    }

    fn round_trip(v: &[Instr], version: u16) -> Vec<Instr> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.ist");
        let n = write_file_version(&path, &mut VecStream::new(v.to_vec()), u64::MAX, 7, version)
            .unwrap();
        assert_eq!(n, v.len() as u64);
        let mut r = open(&path).unwrap();
        assert_eq!(r.thread(), 7);
        assert_eq!(r.version(), version);
        collect(&mut r, usize::MAX).unwrap()
    }

    #[test]
    fn versions_2_and_3_round_trip_is_exact() {
        let v = varied();
        for version in [2, 3] {
            let back = round_trip(&v, version);
            assert_eq!(back.len(), v.len());
            for (k, (a, b)) in v.iter().zip(&back).enumerate() {
                assert_eq!(a, b, "version {version} record {k}");
            }
        }
    }

    #[test]
    fn versions_2_and_3_survive_shape_table_turnover() {
        // More distinct shapes than the table holds, revisited: ids are reused round-robin.
        let mut v = Vec::new();
        for round in 0..3u64 {
            for k in 0..(v2::SHAPES as u64 + 500) {
                let mut i = Instr::new(0x1000 + 4 * k, Kind::Int);
                i.len = (k % 200) as u8 + 1;
                i.src[0] = (k % 251) as u8;
                i.dst[0] = (k / 251) as u8 + 1;
                if k % 3 == 0 {
                    i.push_mem(round * 64 + k * 8, 8, false);
                }
                v.push(i);
            }
        }
        assert_eq!(round_trip(&v, 2), v);
        assert_eq!(round_trip(&v, 3), v);
    }

    #[test]
    fn version_1_files_stay_readable() {
        // Version 1 drops register-id gaps and a non-branch's target; everything else is kept.
        let v: Vec<Instr> = collect(
            &mut Workload::Mixed { footprint: 1 << 20 }.stream(5),
            20_000,
        )
        .unwrap();
        assert_eq!(round_trip(&v, 1), v);
        assert_eq!(round_trip(&v, 2), v);
        assert_eq!(round_trip(&v, 3), v);
    }

    #[test]
    fn writing_an_unknown_version_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.ist");
        let e = write_file_version(&path, &mut VecStream::new(vec![]), 1, 0, 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("version 4"), "{e}");
        assert!(!path.exists());
    }

    /// A version 2 file around hand-made record bytes.
    fn v2_file(body: &[u8], count: u64) -> Vec<u8> {
        file_of(2, body, count)
    }

    /// A file of `version` around hand-made record bytes.
    fn file_of(version: u16, body: &[u8], count: u64) -> Vec<u8> {
        let mut file = Vec::new();
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&version.to_le_bytes());
        file.extend_from_slice(&[0; 6]);
        file.extend_from_slice(&count.to_le_bytes());
        file.extend_from_slice(&[0; 8]);
        file.extend(zstd::stream::encode_all(body, 1).unwrap());
        file
    }

    fn read_err(file: Vec<u8>) -> String {
        let mut r = CompactReader::new(std::io::Cursor::new(file), "bad.ist").unwrap();
        collect(&mut r, usize::MAX).unwrap_err().to_string()
    }

    /// Encoded records of `v` (version 2).
    fn v2_bytes(v: &[Instr]) -> Vec<u8> {
        encoded(v, false)
    }

    /// Encoded records of `v`: version 3 with `runs`, else version 2.
    fn encoded(v: &[Instr], runs: bool) -> Vec<u8> {
        let mut enc = v2::Encoder::new(runs);
        let mut out = Vec::new();
        for i in v {
            enc.encode(i, &mut out);
        }
        enc.finish(&mut out);
        out
    }

    /// One iteration of a loop at `pc`: an integer op, a load from `addr` and a conditional
    /// back edge, taken or not (not taken with target 0, as the QEMU recorder writes it).
    fn loop_body(pc: u64, addr: u64, taken: bool) -> [Instr; 3] {
        let mut a = Instr::new(pc, Kind::Int);
        a.len = 3;
        a.src[0] = 1;
        a.dst[0] = 1;
        let mut l = Instr::new(pc + 3, Kind::Load);
        l.len = 4;
        l.dst[0] = 2;
        l.push_mem(addr, 8, false);
        let mut b = Instr::new(pc + 7, Kind::Branch);
        b.len = 2;
        b.branch = BranchKind::Conditional;
        b.taken = taken;
        b.target = if taken { pc } else { 0 };
        [a, l, b]
    }

    /// A loop of `iters` iterations: an integer op, a strided load and a taken back edge.
    fn small_loop(iters: u64) -> Vec<Instr> {
        (0..iters)
            .flat_map(|k| loop_body(0x100, 0x8000 + 64 * k, true))
            .collect()
    }

    #[test]
    fn version_3_writes_predicted_records_as_runs() {
        let v = small_loop(1_000);
        let (v2b, v3b) = (encoded(&v, false), encoded(&v, true));
        // Three new shapes, then a few records that set up the successor links, strides and
        // outcomes; after that the whole loop is one run code (head, then the length number).
        assert!(v3b.len() < 40, "{} bytes", v3b.len());
        assert!(v2b.len() > 2_900, "{} bytes", v2b.len());
        let last = v3b.len() - 3;
        assert_eq!(v3b[last], 0x06 | 31 << 3, "{v3b:x?}");
        for (version, body) in [(2, &v2b), (3, &v3b)] {
            let file = file_of(version, body, 3_000);
            let mut r = CompactReader::new(std::io::Cursor::new(file), "ok").unwrap();
            assert_eq!(collect(&mut r, usize::MAX).unwrap(), v, "version {version}");
        }
        // Version 2 does not know run codes: the long run's head byte is an error there.
        let e = read_err(v2_file(&v3b, 3_000));
        // (The first run code may be a short one, whose head byte has bit 7 clear.)
        assert!(
            e.contains("corrupt record")
                && (e.contains("head byte 0xfe: reserved bit 7 set")
                    || e.contains("shape mode 3 is not defined")),
            "{e}"
        );
    }

    /// A record stream shaped like a real program's: a loop body whose load is on its stride
    /// or not and whose back edge is taken or not (not taken with target 0, as the QEMU
    /// recorder writes it) as `choices` say, so predicted stretches of every length from 0
    /// up alternate with records that are not predicted.
    fn program_like(choices: &[u8]) -> Vec<Instr> {
        let mut v = Vec::new();
        let mut addr = 0x9000u64;
        for (k, &c) in choices.iter().enumerate() {
            addr = if c & 3 == 0 {
                addr.wrapping_add(0x1000 + 8 * c as u64)
            } else {
                addr + 8
            };
            let taken = c & 4 == 0 || k % 7 == 0;
            v.extend(loop_body(0x400, addr, taken));
            if !taken {
                let mut j = Instr::new(0x409, Kind::Branch);
                j.len = 5;
                j.branch = BranchKind::DirectJump;
                j.taken = true;
                j.target = 0x400;
                v.push(j);
            }
        }
        v
    }

    #[test]
    fn version_3_writes_two_predicted_records_as_a_run() {
        // Strided loads and a back edge always taken, but an off-stride load every third
        // iteration: the predicted stretches between those loads are short, and one of two
        // records is written as a run code of two.
        let choices: Vec<u8> = (0..60).map(|k| if k % 3 == 0 { 0 } else { 1 }).collect();
        let v = program_like(&choices);
        let body = encoded(&v, true);
        assert!(body.contains(&(0x06 | 1 << 3)), "{body:x?}");
        let mut r = CompactReader::new(
            std::io::Cursor::new(file_of(3, &body, v.len() as u64)),
            "ok",
        )
        .unwrap();
        let back = collect(&mut r, usize::MAX).unwrap();
        assert_eq!(back.len(), v.len());
        for (k, (a, b)) in v.iter().zip(&back).enumerate() {
            assert_eq!(a, b, "record {k}");
        }
    }

    /// Every record of a compact `file`, read through a buffer of `size` records at a time.
    fn read_in_pieces(file: Vec<u8>, size: usize) -> Vec<Instr> {
        let mut r = CompactReader::new(std::io::Cursor::new(file), "ok").unwrap();
        let mut buf = vec![Instr::default(); size];
        let mut back = Vec::new();
        loop {
            let n = r.fill(&mut buf).unwrap();
            if n == 0 {
                return back;
            }
            back.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn version_3_runs_span_reads_of_any_size() {
        let mut v = small_loop(700);
        v.extend(varied());
        v.extend(small_loop(300));
        let file = file_of(3, &encoded(&v, true), v.len() as u64);
        for size in [1, 2, 7, 64, 4096] {
            let back = read_in_pieces(file.clone(), size);
            assert_eq!(back.len(), v.len(), "reads of {size}");
            assert!(back == v, "reads of {size}");
        }
    }

    /// Every record of a compact `file`, or the error that stops the reading; through the
    /// baseline build of the fast loop only when `baseline`, else through the build the CPU
    /// takes.
    fn read_whole(file: Vec<u8>, baseline: bool) -> Result<Vec<Instr>, String> {
        let mut r = CompactReader::new(std::io::Cursor::new(file), "ok").unwrap();
        if baseline && let Decoder::V2(t) = &mut r.decoder {
            t.baseline_only();
        }
        collect(&mut r, usize::MAX).map_err(|e| e.to_string())
    }

    #[test]
    fn both_builds_of_the_fast_loop_read_the_same() {
        let mut v = small_loop(300);
        v.extend(varied());
        v.extend(program_like(
            &(0..200).map(|k| (k * 37 % 256) as u8).collect::<Vec<_>>(),
        ));
        for runs in [false, true] {
            let version = if runs { 3 } else { 2 };
            let body = encoded(&v, runs);
            let file = file_of(version, &body, v.len() as u64);
            assert!(
                read_whole(file.clone(), true).unwrap() == v,
                "version {version}"
            );
            assert!(read_in_pieces(file, 4096) == v, "version {version}");
            // Damaged streams: the same records and the same error either way.
            for at in (0..body.len()).step_by(997) {
                let mut bad = body.clone();
                bad[at] ^= 0x5a;
                let file = file_of(version, &bad, v.len() as u64);
                assert_eq!(
                    read_whole(file.clone(), true),
                    read_whole(file, false),
                    "version {version}, byte {at}"
                );
            }
        }
    }

    #[test]
    fn version_3_bad_run_codes_name_record_and_offset() {
        let v = small_loop(2);
        let good = encoded(&v[..1], true);
        let at = good.len();
        let cases: [(&[u8], u64, &str, usize); 5] = [
            (&[0x07], 2, "shape mode 3 with bit 0 set", at),
            (
                &[0x06 | 4 << 3],
                4,
                "run of 5 records passes the 3 records",
                at,
            ),
            (
                &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                3,
                "overflows",
                at + 1,
            ),
            (&[0xfe, 0x80], 3, "truncated record 1", at),
            (&[0xfe, 0x05], 3, "run of 37 records passes", at),
        ];
        for (rec, count, what, off) in cases {
            let e = read_err(file_of(3, &[&good[..], rec].concat(), count));
            assert!(
                e.contains("bad.ist")
                    && e.contains("record 1")
                    && e.contains(&format!("byte offset {}", 32 + off))
                    && e.contains(what),
                "{what}: {e}"
            );
        }
        // A run whose record has no shape in the pc table: the error names the run code.
        let e = read_err(file_of(3, &[&good[..], &[0x06 | 1 << 3]].concat(), 3));
        assert!(
            e.contains("corrupt record 1")
                && e.contains(&format!("byte offset {}", 32 + at))
                && e.contains("(2 to go): no shape is recorded for pc 0x103"),
            "{e}"
        );
        // A run before any record.
        let e = read_err(file_of(3, &[0x06], 1));
        assert!(
            e.contains("corrupt record 0")
                && e.contains("byte offset 32")
                && e.contains("run code before any record"),
            "{e}"
        );
    }

    #[test]
    fn version_2_bad_records_name_record_and_offset() {
        // Two good records: a new shape, then the same shape by id with another address.
        let mut a = Instr::new(0, Kind::Load);
        a.len = 4;
        a.push_mem(0x100, 8, false);
        let mut b = a;
        b.pc = 4;
        b.mem[0].addr = 0x108;
        let len0 = v2_bytes(&[a]).len();
        let good = v2_bytes(&[a, b]);
        assert_eq!(good[0], 0x05, "sequential pc, new shape");
        assert_eq!(
            &good[len0..],
            &[0x03, 0, 0, 0x10],
            "shape 0 by id, address +8"
        );
        // (bytes of record 1, what the error says, offset of the bad byte in the record)
        let cases: [(&[u8], &str, usize); 9] = [
            (&[0x81, 0], "reserved bit 7", 0),
            (&[0x07], "shape mode 3", 0),
            (&[0x00, 0x78], "no shape is recorded for pc 0x40", 0),
            (&[0x03, 9, 0], "shape id 9 is not defined", 1),
            (&[0x05, 0x0c, 4, 0, 0], "class 12", 1),
            (&[0x05, 0x00, 4, 0xc0, 0], "register mask", 3),
            (&[0x05, 0x04, 4, 0, 5], "5 operands", 4),
            (&[0x05, 0x04, 4, 0, 0x21, 8], "write mask 0x2", 4),
            (&[0x53, 0, 0, 9, 0], "synchronisation op 9", 3),
        ];
        for (rec, what, at) in cases {
            let e = read_err(v2_file(&[&good[..len0], rec].concat(), 2));
            assert!(
                e.contains("bad.ist")
                    && e.contains("corrupt record 1")
                    && e.contains(&format!("byte offset {}", 32 + len0 + at))
                    && e.contains(what),
                "{what}: {e}"
            );
        }
        // Truncated inside the record, and fewer or more records than announced.
        let e = read_err(v2_file(&good[..good.len() - 1], 2));
        assert!(
            e.contains("truncated record 1")
                && e.contains(&format!("byte offset {}", 32 + len0))
                && e.contains("address"),
            "{e}"
        );
        let e = read_err(v2_file(
            &[&good[..len0], &[0x03, 0, 0, 0xff, 1, 2]].concat(),
            2,
        ));
        assert!(
            e.contains("truncated record 1") && e.contains("address"),
            "{e}"
        );
        let e = read_err(v2_file(&good, 3));
        assert!(e.contains("announces 3 records"), "{e}");
        let e = read_err(v2_file(&good, 1));
        assert!(e.contains("data after the 1 records"), "{e}");
        // The good bytes themselves read back.
        let mut r = CompactReader::new(std::io::Cursor::new(v2_file(&good, 2)), "ok").unwrap();
        assert_eq!(collect(&mut r, usize::MAX).unwrap(), vec![a, b]);
    }

    /// A program with `rep` iterations (one pc repeated, its addresses on a stride), calls and
    /// returns to varying places, and indirect jumps: records off the expected pc or with an
    /// explicit target.
    fn jumpy_program(n: u64) -> Vec<Instr> {
        let mut v = Vec::new();
        for k in 0..n {
            let caller = 0x4000 + (k % 5) * 0x40;
            let mut call = Instr::new(caller, Kind::Branch);
            call.len = 5;
            call.branch = BranchKind::DirectCall;
            call.taken = true;
            call.target = 0x9000;
            v.push(call);
            for i in 0..(k % 4 + 1) {
                let mut rep = Instr::new(0x9000, Kind::Store);
                rep.len = 2;
                rep.push_mem(0x10_0000 + k * 64 + i * 8, 8, true);
                rep.push_mem(0x20_0000 + k * 64 + i * 8, 8, false);
                v.push(rep);
            }
            let mut ind = Instr::new(0x9002, Kind::Branch);
            ind.len = 2;
            ind.branch = BranchKind::Indirect;
            ind.taken = true;
            ind.target = 0x9100 + (k % 3) * 0x10;
            v.push(ind);
            let mut ret = Instr::new(ind.target, Kind::Branch);
            ret.len = 1;
            ret.branch = BranchKind::Return;
            ret.taken = true;
            ret.target = caller + 5;
            v.push(ret);
        }
        v
    }

    /// Decode `body` (`n` records) with the fast loop, taking the reporting decoder only where
    /// the loop stops; returns the records and how many took the reporting decoder.
    fn decode_counting_slow(body: &[u8], n: usize, runs: bool) -> (Vec<Instr>, usize) {
        let mut t = v2::Tables::new(runs);
        let mut buf = body.to_vec();
        // Padding, so the last records have a whole window behind them too.
        buf.extend([0u8; v2::WINDOW]);
        let mut out = vec![Instr::default(); n];
        let (mut pos, mut done, mut slow) = (0, 0, 0);
        loop {
            let (p, k) = t.run(&buf, pos, &mut out[done..], (n - done) as u64);
            (pos, done) = (p, done + k);
            if done == n {
                break;
            }
            let on = Report {
                path: "t",
                record: done as u64,
                offset: pos as u64,
                announced: (n - done) as u64,
            };
            pos += t
                .report(&buf[pos..body.len()], &mut out[done], &on)
                .unwrap();
            done += 1;
            slow += 1;
        }
        assert_eq!(pos, body.len());
        (out, slow)
    }

    #[test]
    fn pc_jumps_and_explicit_targets_stay_in_the_fast_loop() {
        let v = jumpy_program(500);
        for runs in [false, true] {
            let body = encoded(&v, runs);
            let (got, slow) = decode_counting_slow(&body, v.len(), runs);
            assert!(got == v, "runs {runs}");
            // Only the records that bring a new shape (one per static instruction) leave it.
            assert!(
                slow <= 16,
                "runs {runs}: {slow} records took the reporting decoder"
            );
            let file = file_of(if runs { 3 } else { 2 }, &body, v.len() as u64);
            assert!(read_whole(file.clone(), true).unwrap() == v, "runs {runs}");
            assert!(read_whole(file, false).unwrap() == v, "runs {runs}");
        }
    }

    #[test]
    fn a_run_that_stops_inside_the_fast_loop_names_its_code() {
        // Straight-line code x, y, z, then a jump back to x: the pc table knows y after x and
        // z after y, but nothing after z.
        let mut x = Instr::new(0x5000, Kind::Int);
        x.len = 3;
        let mut y = Instr::new(0x5003, Kind::Load);
        y.len = 4;
        y.push_mem(0x8000, 8, false);
        let mut z = Instr::new(0x5007, Kind::Int);
        z.len = 2;
        let body = encoded(&[x, y, z, x], true);
        let at = body.len();
        // A run of three: y and z replay, the third has no shape. The padding puts the code
        // in the fast loop's window.
        let mut bad = body.clone();
        bad.push(RUN_CODE_OF_THREE);
        bad.extend_from_slice(&[0; 200]);
        let file = file_of(3, &bad, 20);
        for baseline in [false, true] {
            let e = read_whole(file.clone(), baseline).unwrap_err();
            assert!(
                e.contains("corrupt record 6")
                    && e.contains(&format!("byte offset {}", 32 + at))
                    && e.contains("(1 to go): no shape is recorded for pc 0x5009"),
                "{e}"
            );
        }
    }

    /// A version 3 run code for three records.
    const RUN_CODE_OF_THREE: u8 = 0x06 | 2 << 3;

    #[test]
    fn errors_past_the_fast_path_name_the_right_record() {
        // Corruption after many fast-path records: record number and offset still exact.
        let v = varied();
        let mut body = v2_bytes(&v[..5_000]);
        let at = body.len();
        body.push(0x07);
        body.extend_from_slice(&[0; 200]);
        let e = read_err(v2_file(&body, 6_000));
        assert!(
            e.contains("record 5000") && e.contains(&format!("byte offset {}", 32 + at)),
            "{e}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, .. Default::default() })]

        /// The current encoder's output decodes to the source, record by record, whatever the
        /// mix of run codes and plain records and however the reads are cut.
        #[test]
        fn program_like_streams_round_trip(
            choices in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..300),
            read in 1usize..300,
        ) {
            let v = program_like(&choices);
            let file = file_of(3, &encoded(&v, true), v.len() as u64);
            let back = read_in_pieces(file, read);
            proptest::prop_assert_eq!(back.len(), v.len());
            for (k, (a, b)) in v.iter().zip(&back).enumerate() {
                proptest::prop_assert_eq!(a, b, "record {}", k);
            }
        }

        #[test]
        fn readers_never_panic(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            count in 0u64..80,
            version in 1u16..4,
        ) {
            let mut file = v2_file(&body, count);
            file[8..10].copy_from_slice(&version.to_le_bytes());
            if let Ok(mut r) = CompactReader::new(std::io::Cursor::new(file), "fuzz") {
                let _ = collect(&mut r, usize::MAX);
            }
        }

        #[test]
        fn mutated_good_streams_never_panic(
            flips in proptest::collection::vec((0usize..4000, proptest::prelude::any::<u8>()), 1..6),
            runs in proptest::prelude::any::<bool>(),
        ) {
            let mut v = varied()[29_000..30_500].to_vec();
            v.extend(small_loop(100));
            let mut body = encoded(&v, runs);
            for (at, x) in flips {
                let at = at % body.len();
                body[at] ^= x;
            }
            let version = if runs { 3 } else { 2 };
            let mut r = CompactReader::new(std::io::Cursor::new(file_of(version, &body, 1_800)), "fuzz").unwrap();
            let _ = collect(&mut r, usize::MAX);
        }
    }

    #[test]
    fn file_round_trip_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.ist");
        let mut v = collect(
            &mut Workload::Mixed { footprint: 1 << 20 }.stream(3),
            30_000,
        )
        .unwrap();
        let mut s = Instr::new(0x99, Kind::Sync);
        s.sync = SyncOp::Barrier;
        s.target = 0xabc;
        v.push(s);
        let n = write_file(&path, &mut VecStream::new(v.clone()), u64::MAX, 7).unwrap();
        assert_eq!(n, v.len() as u64);
        let mut r = open(&path).unwrap();
        assert_eq!(r.thread(), 7);
        let back = collect(&mut r, usize::MAX).unwrap();
        assert_eq!(back.len(), v.len());
        for (k, (a, b)) in v.iter().zip(&back).enumerate() {
            assert_eq!(a, b, "record {k}");
        }
    }
}
