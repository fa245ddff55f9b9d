//! ChampSim traces: 64-byte little-endian `input_instr` records, raw, gzip or xz, streamed.
//!
//! Record layout (64 bytes): `u64 ip; u8 is_branch; u8 branch_taken; u8 destination_registers[2];
//! u8 source_registers[4]; u64 destination_memory[2]; u64 source_memory[4]`. Zero means "none"
//! for registers and addresses. The branch kind is inferred from the register pattern (stack
//! pointer 6, flags 25, instruction pointer 26) as ChampSim does; a taken branch's target is the
//! next record's ip. Records carry no opcode, size or length: loads and stores are recognised by
//! their memory operands, everything else counts as a one-cycle integer operation.

use super::{
    BranchKind, Instr, InstrStream, Kind, REG_FLAGS, REG_INSTRUCTION_POINTER, REG_STACK_POINTER,
    TraceError,
};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Size of one ChampSim record in bytes.
pub const RECORD_BYTES: usize = 64;
const BATCH_RECORDS: usize = 1024;

/// Compression of a trace file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Uncompressed.
    None,
    /// gzip (`.gz`).
    Gzip,
    /// xz (`.xz`).
    Xz,
    /// zstd (`.zst`).
    Zstd,
}

impl Compression {
    /// Guess from a file name's extension.
    pub fn from_path(path: &Path) -> Compression {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Compression::Gzip,
            Some("xz") => Compression::Xz,
            Some("zst") | Some("zstd") => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// Open `path` for reading, decompressing by magic number (gzip, xz, zstd) or reading raw.
pub fn open_decompressed(path: &Path) -> Result<Box<dyn Read + Send>, TraceError> {
    let io = |source| TraceError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let mut magic = [0u8; 6];
    let mut got = 0;
    while got < magic.len() {
        let n = f.read(&mut magic[got..]).map_err(io)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let f = File::open(path).map_err(io)?;
    let buffered = BufReader::with_capacity(1 << 16, f);
    Ok(if got >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else if got >= 6 && magic == [0xfd, b'7', b'z', b'X', b'Z', 0] {
        Box::new(xz2::read::XzDecoder::new_multi_decoder(buffered))
    } else if got >= 4 && magic[..4] == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(io)?)
    } else {
        Box::new(buffered)
    })
}

enum Sink {
    Raw(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Xz(xz2::write::XzEncoder<BufWriter<File>>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Raw(w) => w.write(b),
            Sink::Gzip(w) => w.write(b),
            Sink::Xz(w) => w.write(b),
            Sink::Zstd(w) => w.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Raw(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
            Sink::Xz(w) => w.flush(),
            Sink::Zstd(w) => w.flush(),
        }
    }
}

/// A file written through a temporary file in the same directory, optionally compressed;
/// [`AtomicFile::commit`] finishes compression and renames it into place. Dropped without a
/// commit, the temporary file is removed and the destination is untouched.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    sink: Option<Sink>,
}

impl AtomicFile {
    /// Start writing `dest` with the given compression.
    pub fn create(dest: &Path, compression: Compression) -> Result<AtomicFile, TraceError> {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "trace".into());
        let tmp = dest.with_file_name(format!(".{name}.tmp{}", std::process::id()));
        let io = |source| TraceError::Io {
            path: tmp.display().to_string(),
            source,
        };
        let out = BufWriter::with_capacity(1 << 16, File::create(&tmp).map_err(io)?);
        let sink = match compression {
            Compression::None => Sink::Raw(out),
            Compression::Gzip => Sink::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::default(),
            )),
            Compression::Xz => Sink::Xz(xz2::write::XzEncoder::new(out, 6)),
            Compression::Zstd => Sink::Zstd(zstd::stream::write::Encoder::new(out, 3).map_err(io)?),
        };
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            sink: Some(sink),
        })
    }

    /// The writer for the file's contents.
    pub fn writer(&mut self) -> &mut dyn Write {
        self.sink.as_mut().expect("sink present until commit")
    }

    /// Flush, finish compression and rename into place.
    pub fn commit(mut self) -> Result<(), TraceError> {
        let io = |path: &Path, source| TraceError::Io {
            path: path.display().to_string(),
            source,
        };
        let sink = self.sink.take().expect("sink present until commit");
        let finished = match sink {
            Sink::Raw(w) => Ok(w),
            Sink::Gzip(w) => w.finish(),
            Sink::Xz(w) => w.finish(),
            Sink::Zstd(w) => w.finish(),
        };
        let result = finished
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .and_then(|f| f.sync_all())
            .map_err(|e| io(&self.tmp, e))
            .and_then(|_| std::fs::rename(&self.tmp, &self.dest).map_err(|e| io(&self.dest, e)));
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.sink.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Classify a record's branch kind from its registers, the way ChampSim does.
pub fn infer_branch(src: &[u8], dst: &[u8]) -> BranchKind {
    let reads_sp = src.contains(&REG_STACK_POINTER);
    let writes_sp = dst.contains(&REG_STACK_POINTER);
    let reads_flags = src.contains(&REG_FLAGS);
    let reads_ip = src.contains(&REG_INSTRUCTION_POINTER);
    let writes_ip = dst.contains(&REG_INSTRUCTION_POINTER);
    let reads_other = src.iter().any(|&r| {
        r != 0 && r != REG_STACK_POINTER && r != REG_FLAGS && r != REG_INSTRUCTION_POINTER
    });
    if !writes_ip {
        BranchKind::None
    } else if !reads_sp && !reads_flags && !reads_other {
        BranchKind::DirectJump
    } else if !reads_sp && !reads_flags && reads_other {
        BranchKind::Indirect
    } else if !reads_sp && reads_ip && !writes_sp && reads_flags && !reads_other {
        BranchKind::Conditional
    } else if reads_sp && reads_ip && writes_sp && !reads_flags && !reads_other {
        BranchKind::DirectCall
    } else if reads_sp && reads_ip && writes_sp && !reads_flags && reads_other {
        BranchKind::IndirectCall
    } else if reads_sp && !reads_ip && writes_sp {
        BranchKind::Return
    } else {
        BranchKind::Other
    }
}

/// Streaming reader of ChampSim traces. Memory use is constant whatever the trace length.
pub struct ChampSimReader<R: Read> {
    inner: R,
    path: String,
    raw: Vec<u8>,
    pending: Option<Instr>,
    record: u64,
    eof: bool,
    dropped_mem: u64,
}

/// Open a ChampSim trace (raw, `.gz` or `.xz`, detected by content).
pub fn open(path: &Path) -> Result<ChampSimReader<Box<dyn Read + Send>>, TraceError> {
    Ok(ChampSimReader::new(
        open_decompressed(path)?,
        &path.display().to_string(),
    ))
}

impl<R: Read> ChampSimReader<R> {
    /// Read records from `inner`; `path` names it in errors.
    pub fn new(inner: R, path: &str) -> ChampSimReader<R> {
        ChampSimReader {
            inner,
            path: path.to_string(),
            raw: vec![0; RECORD_BYTES * BATCH_RECORDS],
            pending: None,
            record: 0,
            eof: false,
            dropped_mem: 0,
        }
    }

    /// Records decoded so far.
    pub fn records(&self) -> u64 {
        self.record
    }

    /// Memory operands dropped because a record had more than [`super::MAX_MEM`].
    pub fn dropped_mem_operands(&self) -> u64 {
        self.dropped_mem
    }

    fn read_chunk(&mut self, want: usize) -> Result<usize, TraceError> {
        let mut got = 0;
        while got < want {
            match self.inner.read(&mut self.raw[got..want]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(TraceError::Io {
                        path: format!(
                            "{} (record {}, byte offset {})",
                            self.path,
                            self.record,
                            self.record * RECORD_BYTES as u64 + got as u64
                        ),
                        source,
                    });
                }
            }
        }
        if got % RECORD_BYTES != 0 {
            let rec = self.record + (got / RECORD_BYTES) as u64;
            return Err(TraceError::Truncated {
                path: self.path.clone(),
                record: rec,
                offset: rec * RECORD_BYTES as u64,
                detail: format!("{} of {RECORD_BYTES} bytes present", got % RECORD_BYTES),
            });
        }
        Ok(got / RECORD_BYTES)
    }

    fn decode(&mut self, r: &[u8], index: u64) -> Result<Instr, TraceError> {
        let u64_at = |o: usize| u64::from_le_bytes(r[o..o + 8].try_into().expect("8 bytes"));
        let corrupt = |field: usize, what: &str| TraceError::Corrupt {
            path: self.path.clone(),
            record: index,
            offset: index * RECORD_BYTES as u64 + field as u64,
            detail: what.to_string(),
        };
        if r[8] > 1 {
            return Err(corrupt(
                8,
                &format!("is_branch = {} (expected 0 or 1)", r[8]),
            ));
        }
        if r[9] > 1 {
            return Err(corrupt(
                9,
                &format!("branch_taken = {} (expected 0 or 1)", r[9]),
            ));
        }
        let mut ins = Instr {
            pc: u64_at(0),
            ..Instr::default()
        };
        ins.dst.copy_from_slice(&r[10..12]);
        ins.src.copy_from_slice(&r[12..16]);
        let mut loads = false;
        let mut stores = false;
        for i in 0..4 {
            let a = u64_at(32 + 8 * i);
            if a != 0 {
                loads = true;
                if !ins.push_mem(a, 0, false) {
                    self.dropped_mem += 1;
                }
            }
        }
        for i in 0..2 {
            let a = u64_at(16 + 8 * i);
            if a != 0 {
                stores = true;
                if !ins.push_mem(a, 0, true) {
                    self.dropped_mem += 1;
                }
            }
        }
        ins.branch = infer_branch(&ins.src, &ins.dst);
        ins.taken = r[9] == 1 || ins.branch.is_unconditional();
        ins.kind = if ins.branch != BranchKind::None {
            Kind::Branch
        } else if loads {
            Kind::Load
        } else if stores {
            Kind::Store
        } else {
            Kind::Int
        };
        if ins.branch == BranchKind::None && r[8] == 1 && r[9] == 1 {
            // Flagged as a taken branch without writing the instruction pointer: keep it as
            // an unclassified branch so its redirect is not lost.
            ins.branch = BranchKind::Other;
            ins.kind = Kind::Branch;
        }
        Ok(ins)
    }
}

impl<R: Read> InstrStream for ChampSimReader<R> {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        let mut out = 0;
        while out < buf.len() {
            if self.eof {
                if let Some(last) = self.pending.take() {
                    buf[out] = last;
                    out += 1;
                }
                break;
            }
            let want = (buf.len() - out).min(BATCH_RECORDS) * RECORD_BYTES;
            let n = self.read_chunk(want)?;
            if n == 0 {
                self.eof = true;
                continue;
            }
            for i in 0..n {
                let rec: [u8; RECORD_BYTES] = self.raw[i * RECORD_BYTES..(i + 1) * RECORD_BYTES]
                    .try_into()
                    .expect("64 bytes");
                let ins = self.decode(&rec, self.record)?;
                self.record += 1;
                if let Some(mut prev) = self.pending.replace(ins) {
                    if prev.taken {
                        prev.target = ins.pc;
                    }
                    buf[out] = prev;
                    out += 1;
                }
            }
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        format!("ChampSim trace {}", self.path)
    }
}

/// Encode one instruction as a ChampSim record. Branches get the register pattern ChampSim
/// infers their kind from; other instructions keep their registers (an instruction-pointer
/// destination is dropped so they do not read back as branches).
pub fn encode(ins: &Instr) -> [u8; RECORD_BYTES] {
    let mut r = [0u8; RECORD_BYTES];
    r[0..8].copy_from_slice(&ins.pc.to_le_bytes());
    let is_branch = ins.branch != BranchKind::None;
    r[8] = is_branch as u8;
    r[9] = (is_branch && ins.taken) as u8;
    let other = ins
        .src
        .iter()
        .copied()
        .find(|&s| {
            s != 0 && s != REG_STACK_POINTER && s != REG_FLAGS && s != REG_INSTRUCTION_POINTER
        })
        .unwrap_or(1);
    let (dst, src): ([u8; 2], [u8; 4]) = match ins.branch {
        BranchKind::None => {
            let mut d = ins.dst;
            for x in &mut d {
                if *x == REG_INSTRUCTION_POINTER {
                    *x = 0;
                }
            }
            (d, ins.src)
        }
        BranchKind::Conditional => (
            [REG_INSTRUCTION_POINTER, 0],
            [REG_INSTRUCTION_POINTER, REG_FLAGS, 0, 0],
        ),
        BranchKind::DirectJump => ([REG_INSTRUCTION_POINTER, 0], [0; 4]),
        BranchKind::Indirect => ([REG_INSTRUCTION_POINTER, 0], [other, 0, 0, 0]),
        BranchKind::DirectCall => (
            [REG_INSTRUCTION_POINTER, REG_STACK_POINTER],
            [REG_INSTRUCTION_POINTER, REG_STACK_POINTER, 0, 0],
        ),
        BranchKind::IndirectCall => (
            [REG_INSTRUCTION_POINTER, REG_STACK_POINTER],
            [REG_INSTRUCTION_POINTER, REG_STACK_POINTER, other, 0],
        ),
        BranchKind::Return => (
            [REG_INSTRUCTION_POINTER, REG_STACK_POINTER],
            [REG_STACK_POINTER, 0, 0, 0],
        ),
        BranchKind::Other => (
            [REG_INSTRUCTION_POINTER, REG_STACK_POINTER],
            [REG_FLAGS, REG_STACK_POINTER, 0, 0],
        ),
    };
    r[10..12].copy_from_slice(&dst);
    r[12..16].copy_from_slice(&src);
    let (mut nl, mut ns) = (0, 0);
    for m in ins.mem_ops() {
        if m.write && ns < 2 {
            r[16 + 8 * ns..24 + 8 * ns].copy_from_slice(&m.addr.to_le_bytes());
            ns += 1;
        } else if !m.write && nl < 4 {
            r[32 + 8 * nl..40 + 8 * nl].copy_from_slice(&m.addr.to_le_bytes());
            nl += 1;
        }
    }
    r
}

/// Write up to `limit` instructions of `stream` as a ChampSim trace at `path` (compression from
/// the extension), atomically. Returns the number written.
pub fn write_file(
    path: &Path,
    stream: &mut dyn InstrStream,
    limit: u64,
) -> Result<u64, TraceError> {
    let mut file = AtomicFile::create(path, Compression::from_path(path))?;
    let mut buf = vec![Instr::default(); 4096];
    let mut bytes = Vec::with_capacity(buf.len() * RECORD_BYTES);
    let mut written = 0u64;
    while written < limit {
        let want = (limit - written).min(buf.len() as u64) as usize;
        let n = stream.fill(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        bytes.clear();
        for ins in &buf[..n] {
            bytes.extend_from_slice(&encode(ins));
        }
        file.writer()
            .write_all(&bytes)
            .map_err(|source| TraceError::Io {
                path: path.display().to_string(),
                source,
            })?;
        written += n as u64;
    }
    file.commit()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::{VecStream, collect};

    #[test]
    fn branch_kinds_follow_register_patterns() {
        assert_eq!(
            infer_branch(&[26, 25, 0, 0], &[26, 0]),
            BranchKind::Conditional
        );
        assert_eq!(infer_branch(&[0; 4], &[26, 0]), BranchKind::DirectJump);
        assert_eq!(infer_branch(&[3, 0, 0, 0], &[26, 0]), BranchKind::Indirect);
        assert_eq!(
            infer_branch(&[26, 6, 0, 0], &[26, 6]),
            BranchKind::DirectCall
        );
        assert_eq!(
            infer_branch(&[26, 6, 7, 0], &[26, 6]),
            BranchKind::IndirectCall
        );
        assert_eq!(infer_branch(&[6, 0, 0, 0], &[26, 6]), BranchKind::Return);
        assert_eq!(infer_branch(&[1, 2, 0, 0], &[3, 0]), BranchKind::None);
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut v = Vec::new();
        for (i, bk) in [
            BranchKind::None,
            BranchKind::Conditional,
            BranchKind::DirectJump,
            BranchKind::Indirect,
            BranchKind::DirectCall,
            BranchKind::IndirectCall,
            BranchKind::Return,
        ]
        .into_iter()
        .enumerate()
        {
            let mut ins = Instr::new(0x1000 + 4 * i as u64, Kind::Int);
            if bk != BranchKind::None {
                ins.kind = Kind::Branch;
                ins.branch = bk;
                ins.taken = true;
                ins.src = [9, 0, 0, 0];
            } else {
                ins.kind = Kind::Load;
                ins.src = [1, 2, 0, 0];
                ins.dst = [3, 0];
                ins.push_mem(0xdead_beef, 0, false);
            }
            v.push(ins);
        }
        let bytes: Vec<u8> = v.iter().flat_map(encode).collect();
        let mut r = ChampSimReader::new(&bytes[..], "mem");
        let back = collect(&mut r, 100).unwrap();
        assert_eq!(back.len(), v.len());
        for (a, b) in v.iter().zip(&back) {
            assert_eq!(a.pc, b.pc);
            assert_eq!(a.branch, b.branch);
            assert_eq!(a.kind, b.kind);
            assert_eq!(a.mem_ops(), b.mem_ops());
        }
        // targets come from the next record
        assert_eq!(back[1].target, back[2].pc);
        let _ = VecStream::new(v);
    }

    #[test]
    fn truncated_record_names_offset() {
        let mut bytes: Vec<u8> = encode(&Instr::new(4, Kind::Int)).to_vec();
        bytes.extend_from_slice(&[0u8; 10]);
        let mut r = ChampSimReader::new(&bytes[..], "t.trace");
        let e = collect(&mut r, 10).unwrap_err().to_string();
        assert!(
            e.contains("record 1") && e.contains("byte offset 64"),
            "{e}"
        );
    }

    #[test]
    fn corrupt_flag_names_offset() {
        let mut bytes = encode(&Instr::new(4, Kind::Int)).to_vec();
        bytes.extend_from_slice(&encode(&Instr::new(8, Kind::Int)));
        bytes[64 + 9] = 7;
        let mut r = ChampSimReader::new(&bytes[..], "t.trace");
        let e = collect(&mut r, 10).unwrap_err().to_string();
        assert!(
            e.contains("record 1") && e.contains("byte offset 73"),
            "{e}"
        );
    }
}
