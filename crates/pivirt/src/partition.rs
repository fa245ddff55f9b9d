//! Partition tables: MBR (with logical partitions) and GPT, read from any `Read + Seek`.
//!
//! The identifiers computed here are the ones Linux shows as `PARTUUID`: for MBR disks
//! `DDDDDDDD-NN` (the 32-bit disk signature at byte 440 and the partition number in hex), for
//! GPT disks the partition's unique GUID.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};

use serde::Serialize;

/// Bytes per sector; SD-card images always use 512.
pub const SECTOR: u64 = 512;

/// Errors met while reading a partition table.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// The first sector does not end in the `55 AA` boot signature.
    #[error("not a disk image: no MBR boot signature (55 AA) at byte 510")]
    NoSignature,
    /// A GPT header or entry array is damaged.
    #[error("bad GPT: {0}")]
    BadGpt(String),
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Which kind of table the disk carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TableKind {
    /// Classic MBR with its 32-bit disk signature.
    Mbr {
        /// Disk signature at byte 440, printed as 8 hex digits.
        disk_id: String,
    },
    /// GUID partition table.
    Gpt {
        /// Disk GUID.
        disk_guid: String,
    },
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Linux partition number (1–4 primary, 5… logical for MBR).
    pub number: u32,
    /// First byte of the partition in the image.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
    /// MBR type byte as hex (`0c`, `83`) or GPT type GUID.
    pub type_id: String,
    /// What Linux calls `PARTUUID`.
    pub partuuid: String,
    /// GPT partition name (empty for MBR).
    pub name: String,
}

impl Partition {
    /// Whether the type says FAT (MBR 0x01/0x04/0x06/0x0b/0x0c/0x0e or the GPT basic-data/ESP GUIDs).
    pub fn is_fat_type(&self) -> bool {
        matches!(
            self.type_id.as_str(),
            "01" | "04" | "06" | "0b" | "0c" | "0e"
        ) || self.type_id == GPT_BASIC_DATA
            || self.type_id == GPT_ESP
    }
    /// Whether the type says Linux (MBR 0x83 or the GPT Linux filesystem/root GUIDs).
    pub fn is_linux_type(&self) -> bool {
        self.type_id == "83"
            || self.type_id == GPT_LINUX
            || self.type_id == GPT_ROOT_ARM64
            || self.type_id == GPT_ROOT_ARM
    }
}

const GPT_BASIC_DATA: &str = "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7";
const GPT_ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
const GPT_LINUX: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";
const GPT_ROOT_ARM64: &str = "b921b045-1df0-41c3-af44-4c6f280d3fae";
const GPT_ROOT_ARM: &str = "69dad710-2ce4-4e3c-b16c-21a1d49abed3";

/// A disk's partition table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionTable {
    /// MBR or GPT, with the disk identifier.
    pub table: TableKind,
    /// Partitions in Linux numbering order.
    pub partitions: Vec<Partition>,
}

impl PartitionTable {
    /// Read the table of a disk image.
    ///
    /// ```
    /// use pivirt::partition::{MbrSpec, PartitionTable, write_mbr};
    /// let mut disk = std::io::Cursor::new(vec![0u8; 1 << 20]);
    /// let parts = [
    ///     MbrSpec { kind: 0x0c, start_lba: 8, sectors: 64 },
    ///     MbrSpec { kind: 0x83, start_lba: 72, sectors: 128 },
    /// ];
    /// write_mbr(&mut disk, 0x5eed1e55, &parts).unwrap();
    /// let t = PartitionTable::read(&mut disk).unwrap();
    /// assert_eq!(t.get(2).unwrap().partuuid, "5eed1e55-02");
    /// ```
    pub fn read<R: Read + Seek>(disk: &mut R) -> Result<Self, PartitionError> {
        let mut mbr = [0u8; 512];
        disk.seek(SeekFrom::Start(0))?;
        read_full(disk, &mut mbr)?;
        if mbr[510] != 0x55 || mbr[511] != 0xAA {
            return Err(PartitionError::NoSignature);
        }
        let entries = mbr_entries(&mbr);
        if entries.iter().any(|e| e.kind == 0xEE) {
            return read_gpt(disk);
        }
        let disk_id = u32::from_le_bytes([mbr[440], mbr[441], mbr[442], mbr[443]]);
        let mut partitions = Vec::new();
        let mut extended = None;
        for (i, e) in entries.iter().enumerate() {
            if e.kind == 0 || e.sectors == 0 {
                continue;
            }
            if matches!(e.kind, 0x05 | 0x0f | 0x85) {
                extended = Some(u64::from(e.lba));
            }
            partitions.push(mbr_partition(disk_id, i as u32 + 1, 0, e));
        }
        if let Some(ext_start) = extended {
            // Logical partitions: a chain of EBRs, each relative to the extended partition.
            let mut ebr_lba = ext_start;
            let mut number = 5;
            let mut seen = 0;
            loop {
                let mut ebr = [0u8; 512];
                disk.seek(SeekFrom::Start(ebr_lba * SECTOR))?;
                read_full(disk, &mut ebr)?;
                if ebr[510] != 0x55 || ebr[511] != 0xAA {
                    break;
                }
                let es = mbr_entries(&ebr);
                if es[0].kind != 0 && es[0].sectors != 0 {
                    partitions.push(mbr_partition(disk_id, number, ebr_lba, &es[0]));
                    number += 1;
                }
                seen += 1;
                if es[1].kind == 0 || es[1].lba == 0 || seen > 128 {
                    break;
                }
                ebr_lba = ext_start + u64::from(es[1].lba);
            }
        }
        Ok(PartitionTable {
            table: TableKind::Mbr {
                disk_id: format!("{disk_id:08x}"),
            },
            partitions,
        })
    }

    /// The partition with Linux number `n`.
    pub fn get(&self, n: u32) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.number == n)
    }
}

struct MbrEntry {
    kind: u8,
    lba: u32,
    sectors: u32,
}

fn mbr_entries(sector: &[u8; 512]) -> [MbrEntry; 4] {
    std::array::from_fn(|i| {
        let e = &sector[446 + 16 * i..446 + 16 * (i + 1)];
        MbrEntry {
            kind: e[4],
            lba: u32::from_le_bytes([e[8], e[9], e[10], e[11]]),
            sectors: u32::from_le_bytes([e[12], e[13], e[14], e[15]]),
        }
    })
}

fn mbr_partition(disk_id: u32, number: u32, base_lba: u64, e: &MbrEntry) -> Partition {
    Partition {
        number,
        start: (base_lba + u64::from(e.lba)) * SECTOR,
        size: u64::from(e.sectors) * SECTOR,
        type_id: format!("{:02x}", e.kind),
        partuuid: format!("{disk_id:08x}-{number:02x}"),
        name: String::new(),
    }
}

fn read_gpt<R: Read + Seek>(disk: &mut R) -> Result<PartitionTable, PartitionError> {
    let mut hdr = [0u8; 512];
    disk.seek(SeekFrom::Start(SECTOR))?;
    read_full(disk, &mut hdr)?;
    if &hdr[0..8] != b"EFI PART" {
        return Err(PartitionError::BadGpt(
            "protective MBR present but no 'EFI PART' header at LBA 1".into(),
        ));
    }
    let le64 = |o: usize| u64::from_le_bytes(hdr[o..o + 8].try_into().unwrap_or([0; 8]));
    let le32 = |o: usize| u32::from_le_bytes(hdr[o..o + 4].try_into().unwrap_or([0; 4]));
    let disk_guid = guid(&hdr[56..72]);
    let entries_lba = le64(72);
    let count = le32(80);
    let entry_size = le32(84) as usize;
    if !(128..=4096).contains(&entry_size) || count > 1024 {
        return Err(PartitionError::BadGpt(format!(
            "implausible entry array: {count} entries of {entry_size} bytes"
        )));
    }
    let mut array = vec![0u8; entry_size * count as usize];
    disk.seek(SeekFrom::Start(entries_lba * SECTOR))?;
    read_full(disk, &mut array)?;
    let mut partitions = Vec::new();
    for (i, e) in array.chunks(entry_size).enumerate() {
        if e[0..16].iter().all(|&b| b == 0) {
            continue;
        }
        let first = u64::from_le_bytes(e[32..40].try_into().unwrap_or([0; 8]));
        let last = u64::from_le_bytes(e[40..48].try_into().unwrap_or([0; 8]));
        if last < first {
            return Err(PartitionError::BadGpt(format!(
                "entry {} ends before it starts",
                i + 1
            )));
        }
        let name: Vec<u16> = e[56..128]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&c| c != 0)
            .collect();
        partitions.push(Partition {
            number: i as u32 + 1,
            start: first * SECTOR,
            size: (last - first + 1) * SECTOR,
            type_id: guid(&e[0..16]),
            partuuid: guid(&e[16..32]),
            name: String::from_utf16_lossy(&name),
        });
    }
    Ok(PartitionTable {
        table: TableKind::Gpt { disk_guid },
        partitions,
    })
}

/// Format a GPT mixed-endian GUID the way Linux prints it.
fn guid(b: &[u8]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), PartitionError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            PartitionError::NoSignature
        } else {
            PartitionError::Io(e)
        }
    })
}

/// A GPT partition to write with [`write_gpt`].
#[derive(Debug, Clone)]
pub struct GptSpec {
    /// Partition type GUID in on-disk (mixed-endian) byte order.
    pub type_guid: [u8; 16],
    /// Unique partition GUID (the PARTUUID) in on-disk byte order.
    pub guid: [u8; 16],
    /// First sector.
    pub first_lba: u64,
    /// Last sector (inclusive).
    pub last_lba: u64,
    /// Partition name (ASCII, up to 36 characters).
    pub name: String,
}

/// EFI "Microsoft basic data" type (FAT boot partitions), on-disk byte order.
pub const GPT_BASIC_DATA_BYTES: [u8; 16] = [
    0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7,
];
/// Linux filesystem data type, on-disk byte order.
pub const GPT_LINUX_BYTES: [u8; 16] = [
    0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4,
];

/// Write a GUID partition table on a disk of `total_sectors`: protective MBR, primary header
/// and 128-entry array at the start, backup array and header in the last 33 sectors, with the
/// CRC32s the Linux kernel checks. Partitions must lie within sectors 34..total-34.
pub fn write_gpt<W: Write + Seek>(
    disk: &mut W,
    total_sectors: u64,
    disk_guid: [u8; 16],
    parts: &[GptSpec],
) -> io::Result<()> {
    const ENTRIES: u64 = 128;
    const ENTRY: usize = 128;
    let array_sectors = ENTRIES * ENTRY as u64 / SECTOR;
    let last_usable = total_sectors - 2 - array_sectors;
    let first_usable = 2 + array_sectors;
    if parts.len() > ENTRIES as usize
        || parts.iter().any(|p| {
            p.first_lba < first_usable || p.last_lba > last_usable || p.last_lba < p.first_lba
        })
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "GPT partition outside the usable sectors",
        ));
    }
    let mut array = vec![0u8; ENTRIES as usize * ENTRY];
    for (e, p) in array.chunks_mut(ENTRY).zip(parts) {
        e[0..16].copy_from_slice(&p.type_guid);
        e[16..32].copy_from_slice(&p.guid);
        e[32..40].copy_from_slice(&p.first_lba.to_le_bytes());
        e[40..48].copy_from_slice(&p.last_lba.to_le_bytes());
        for (i, c) in p.name.encode_utf16().take(36).enumerate() {
            e[56 + 2 * i..58 + 2 * i].copy_from_slice(&c.to_le_bytes());
        }
    }
    let crc = |b: &[u8]| {
        let mut c = flate2::Crc::new();
        c.update(b);
        c.sum()
    };
    let array_crc = crc(&array);
    let header = |this: u64, other: u64, entries: u64| {
        let mut h = [0u8; 92];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&this.to_le_bytes());
        h[32..40].copy_from_slice(&other.to_le_bytes());
        h[40..48].copy_from_slice(&first_usable.to_le_bytes());
        h[48..56].copy_from_slice(&last_usable.to_le_bytes());
        h[56..72].copy_from_slice(&disk_guid);
        h[72..80].copy_from_slice(&entries.to_le_bytes());
        h[80..84].copy_from_slice(&(ENTRIES as u32).to_le_bytes());
        h[84..88].copy_from_slice(&(ENTRY as u32).to_le_bytes());
        h[88..92].copy_from_slice(&array_crc.to_le_bytes());
        let c = crc(&h);
        h[16..20].copy_from_slice(&c.to_le_bytes());
        h
    };
    let last = total_sectors - 1;
    let mut mbr = [0u8; 512];
    disk.seek(SeekFrom::Start(0))?;
    mbr[446 + 1..446 + 4].copy_from_slice(&[0x00, 0x02, 0x00]);
    mbr[446 + 4] = 0xEE;
    mbr[446 + 5..446 + 8].copy_from_slice(&[0xff, 0xff, 0xff]);
    mbr[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
    let n = u32::try_from(last).unwrap_or(u32::MAX);
    mbr[446 + 12..446 + 16].copy_from_slice(&n.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    disk.write_all(&mbr)?;
    disk.seek(SeekFrom::Start(SECTOR))?;
    disk.write_all(&header(1, last, 2))?;
    disk.seek(SeekFrom::Start(2 * SECTOR))?;
    disk.write_all(&array)?;
    disk.seek(SeekFrom::Start((last - array_sectors) * SECTOR))?;
    disk.write_all(&array)?;
    disk.seek(SeekFrom::Start(last * SECTOR))?;
    disk.write_all(&header(last, 1, last - array_sectors))?;
    Ok(())
}

/// A primary MBR partition to write with [`write_mbr`].
#[derive(Debug, Clone, Copy)]
pub struct MbrSpec {
    /// MBR type byte (0x0c FAT32 LBA, 0x83 Linux).
    pub kind: u8,
    /// First sector.
    pub start_lba: u32,
    /// Length in sectors.
    pub sectors: u32,
}

/// Write a classic MBR (disk signature + up to four primary partitions) at the start of `disk`.
///
/// Bytes 0..440 (boot code) are left as they are; CHS fields are filled with the LBA-only marker.
pub fn write_mbr<W: Write + Seek>(disk: &mut W, disk_id: u32, parts: &[MbrSpec]) -> io::Result<()> {
    if parts.len() > 4 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an MBR holds at most four primary partitions",
        ));
    }
    let mut tail = [0u8; 72];
    tail[0..4].copy_from_slice(&disk_id.to_le_bytes());
    for (i, p) in parts.iter().enumerate() {
        let e = &mut tail[6 + 16 * i..6 + 16 * (i + 1)];
        e[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
        e[4] = p.kind;
        e[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
        e[8..12].copy_from_slice(&p.start_lba.to_le_bytes());
        e[12..16].copy_from_slice(&p.sectors.to_le_bytes());
    }
    tail[70] = 0x55;
    tail[71] = 0xAA;
    disk.seek(SeekFrom::Start(440))?;
    disk.write_all(&tail)
}

/// Change the length (in sectors) of MBR primary partition `number` (1–4) in place.
pub fn set_mbr_partition_sectors<F: Write + Seek>(
    disk: &mut F,
    number: u32,
    sectors: u32,
) -> io::Result<()> {
    if !(1..=4).contains(&number) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("partition {number} is not a primary MBR partition"),
        ));
    }
    disk.seek(SeekFrom::Start(446 + 16 * u64::from(number - 1) + 12))?;
    disk.write_all(&sectors.to_le_bytes())
}

/// A window onto `[start, start + len)` of an underlying stream: a partition seen as its own disk.
///
/// Reads past the end return EOF; writes past the end fail.
#[derive(Debug)]
pub struct Slice<T> {
    inner: T,
    start: u64,
    len: u64,
    pos: u64,
}

impl<T: Seek> Slice<T> {
    /// Wrap `inner`, exposing `len` bytes from `start`.
    pub fn new(inner: T, start: u64, len: u64) -> Self {
        Slice {
            inner,
            start,
            len,
            pos: 0,
        }
    }
    /// The wrapped stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: Read + Seek> Read for Slice<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.inner.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl<T: Write + Seek> Write for Slice<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the partition",
            ));
        }
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let put = self.inner.write(&buf[..n])?;
        self.pos += put as u64;
        Ok(put)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Seek> Seek for Slice<T> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the partition",
            )),
        }
    }
}

impl fmt::Display for TableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableKind::Mbr { disk_id } => write!(f, "MBR, disk identifier 0x{disk_id}"),
            TableKind::Gpt { disk_guid } => write!(f, "GPT, disk GUID {disk_guid}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn mbr_round_trip_gives_linux_partuuids() {
        let mut disk = Cursor::new(vec![0u8; 1 << 20]);
        let parts = [
            MbrSpec {
                kind: 0x0c,
                start_lba: 8,
                sectors: 100,
            },
            MbrSpec {
                kind: 0x83,
                start_lba: 108,
                sectors: 200,
            },
        ];
        write_mbr(&mut disk, 0x1234abcd, &parts).unwrap();
        let t = PartitionTable::read(&mut disk).unwrap();
        assert_eq!(
            t.table,
            TableKind::Mbr {
                disk_id: "1234abcd".into()
            }
        );
        assert_eq!(t.partitions.len(), 2);
        assert_eq!(t.partitions[1].partuuid, "1234abcd-02");
        assert_eq!(t.partitions[1].start, 108 * 512);
        assert!(t.partitions[0].is_fat_type() && t.partitions[1].is_linux_type());
        set_mbr_partition_sectors(&mut disk, 2, 300).unwrap();
        let t = PartitionTable::read(&mut disk).unwrap();
        assert_eq!(t.partitions[1].size, 300 * 512);
    }

    #[test]
    fn rejects_non_disk() {
        let mut disk = Cursor::new(vec![7u8; 4096]);
        assert!(matches!(
            PartitionTable::read(&mut disk),
            Err(PartitionError::NoSignature)
        ));
        let mut tiny = Cursor::new(vec![0u8; 10]);
        assert!(PartitionTable::read(&mut tiny).is_err());
    }

    #[test]
    fn reads_gpt_entries() {
        let mut d = vec![0u8; 64 * 512];
        d[446 + 4] = 0xEE;
        d[510] = 0x55;
        d[511] = 0xAA;
        let h = 512;
        d[h..h + 8].copy_from_slice(b"EFI PART");
        d[h + 72..h + 80].copy_from_slice(&2u64.to_le_bytes());
        d[h + 80..h + 84].copy_from_slice(&4u32.to_le_bytes());
        d[h + 84..h + 88].copy_from_slice(&128u32.to_le_bytes());
        let e = 1024;
        // Linux filesystem type GUID 0FC63DAF-8483-4772-8E79-3D69D8477DE4 in on-disk order.
        let ty = [
            0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47,
            0x7d, 0xe4,
        ];
        d[e..e + 16].copy_from_slice(&ty);
        d[e + 16..e + 32].copy_from_slice(&[0x11; 16]);
        d[e + 32..e + 40].copy_from_slice(&34u64.to_le_bytes());
        d[e + 40..e + 48].copy_from_slice(&63u64.to_le_bytes());
        d[e + 56] = b'r';
        d[e + 58] = b'o';
        let t = PartitionTable::read(&mut Cursor::new(d)).unwrap();
        assert!(matches!(t.table, TableKind::Gpt { .. }));
        let p = &t.partitions[0];
        assert_eq!(p.type_id, GPT_LINUX);
        assert_eq!(p.partuuid, "11111111-1111-1111-1111-111111111111");
        assert_eq!(
            (p.start, p.size, p.name.as_str()),
            (34 * 512, 30 * 512, "ro")
        );
    }

    #[test]
    fn gpt_round_trip_with_valid_crcs() {
        let mut d = Cursor::new(vec![0u8; 200 * 512]);
        let mut g = [0u8; 16];
        g[0] = 0x01;
        g[15] = 0x02;
        let part = GptSpec {
            type_guid: GPT_LINUX_BYTES,
            guid: g,
            first_lba: 40,
            last_lba: 99,
            name: "root".into(),
        };
        write_gpt(&mut d, 200, [7; 16], std::slice::from_ref(&part)).unwrap();
        let bytes = d.get_ref().clone();
        let t = PartitionTable::read(&mut d).unwrap();
        let p = &t.partitions[0];
        assert_eq!(p.partuuid, "00000001-0000-0000-0000-000000000002");
        assert_eq!(
            (p.start, p.size, p.type_id.as_str()),
            (40 * 512, 60 * 512, GPT_LINUX)
        );
        // Header CRC as the kernel checks it: over the 92 header bytes with the field zeroed.
        let mut h = bytes[512..604].to_vec();
        let want = u32::from_le_bytes(h[16..20].try_into().unwrap());
        h[16..20].fill(0);
        let mut c = flate2::Crc::new();
        c.update(&h);
        assert_eq!(c.sum(), want);
        // The backup header sits in the last sector and points back at the primary.
        assert_eq!(&bytes[199 * 512..199 * 512 + 8], b"EFI PART");
        assert!(
            write_gpt(
                &mut d,
                200,
                [7; 16],
                &[GptSpec {
                    last_lba: 190,
                    ..part
                }]
            )
            .is_err()
        );
    }

    #[test]
    fn slice_bounds() {
        let mut s = Slice::new(Cursor::new((0u8..=255).collect::<Vec<_>>()), 10, 5);
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], &[10, 11, 12, 13, 14]);
        assert_eq!(s.read(&mut buf).unwrap(), 0);
        s.seek(SeekFrom::Start(4)).unwrap();
        assert!(s.write(&[1, 2]).unwrap() == 1);
        assert!(s.write(&[1]).is_err());
    }
}
