//! Making the VM's disk from the source image without writing to the source: a reflink clone
//! where the filesystem can, else a sparse copy (only the data extents, found with
//! `SEEK_DATA`/`SEEK_HOLE`, moved with `copy_file_range`), or a qcow2 overlay whose backing file
//! is the source opened read-only. Also offline growth of the disk and its last partition.
//!
//! The sparse copy starts writing each chunk back to disk as soon as it is copied
//! (`sync_file_range`), so the copy and the disk writes overlap: by the time the first tool
//! flushes the copy (`debugfs -w` does), little is left to write.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::partition::{PartitionTable, SECTOR, TableKind, set_mbr_partition_sectors};
use crate::tools::run_tool;

/// How a disk was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMethod {
    /// Copy-on-write clone (btrfs, XFS): instant, shares blocks.
    Reflink,
    /// Data extents copied, holes kept.
    Sparse,
}

impl std::fmt::Display for CopyMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CopyMethod::Reflink => "reflink clone",
            CopyMethod::Sparse => "sparse copy",
        })
    }
}

/// A progress bar over bytes (hidden when stderr is not a terminal or `quiet`).
pub fn byte_bar(len: u64, msg: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(msg.to_string());
    pb
}

/// Copy `src` to `dst` (via a temporary file in `dst`'s directory, renamed into place).
/// `src` is only ever opened read-only.
pub fn copy_image(src: &Path, dst: &Path, quiet: bool) -> Result<CopyMethod> {
    let input = File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
    let len = input.metadata()?.len();
    let tmp = dst.with_extension("partial");
    let out = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    // FICLONE = _IOW(0x94, 9, int)
    const FICLONE: libc::c_ulong = 0x4004_9409;
    let cloned = unsafe { libc::ioctl(out.as_raw_fd(), FICLONE as _, input.as_raw_fd()) } == 0;
    let method = if cloned {
        CopyMethod::Reflink
    } else {
        out.set_len(len)?;
        sparse_copy(&input, &out, len, quiet)?;
        CopyMethod::Sparse
    };
    // Like cp, no fsync of the data: the copy is whole when this returns and the source stays
    // as it was, so a crash costs a re-run, never the original.
    std::fs::rename(&tmp, dst)?;
    Ok(method)
}

/// Bytes moved per `copy_file_range` call; also the unit of early writeback.
const CHUNK: usize = 16 << 20;
/// Chunks whose writeback may still be in flight before the copy waits for the oldest.
const WRITEBACK_WINDOW: usize = 8;

/// Starts writeback of each copied chunk at once and waits for chunks older than
/// [`WRITEBACK_WINDOW`], so the disk writes overlap the copy instead of all landing in the
/// first `fsync` (or the user's `sync`) afterwards, and dirty memory stays bounded
/// (128 MiB) however large the card is.
struct Writeback {
    fd: i32,
    pending: std::collections::VecDeque<(i64, i64)>,
}

impl Writeback {
    fn written(&mut self, off: i64, len: i64) {
        // Advisory: a failure only means the kernel writes the pages back later.
        unsafe { libc::sync_file_range(self.fd, off, len, libc::SYNC_FILE_RANGE_WRITE) };
        self.pending.push_back((off, len));
        while self.pending.len() > WRITEBACK_WINDOW {
            if let Some((o, l)) = self.pending.pop_front() {
                let all = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER;
                unsafe { libc::sync_file_range(self.fd, o, l, all) };
            }
        }
    }
}

fn sparse_copy(input: &File, out: &File, len: u64, quiet: bool) -> Result<()> {
    let pb = byte_bar(len, "copy", quiet);
    let (ifd, ofd) = (input.as_raw_fd(), out.as_raw_fd());
    let mut wb = Writeback {
        fd: ofd,
        pending: Default::default(),
    };
    let mut pos: i64 = 0;
    let end = len as i64;
    while pos < end {
        let data = unsafe { libc::lseek(ifd, pos, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: only a hole remains
        }
        let hole = unsafe { libc::lseek(ifd, data, libc::SEEK_HOLE) };
        let hole = if hole < 0 { end } else { hole.min(end) };
        let mut off_in = data;
        let mut off_out = data;
        while off_in < hole {
            let want = ((hole - off_in) as usize).min(CHUNK);
            let at = off_out;
            let n = unsafe { libc::copy_file_range(ifd, &mut off_in, ofd, &mut off_out, want, 0) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                // Cross-device or unsupported: fall back to read/write for this extent.
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EXDEV)
                        | Some(libc::ENOSYS)
                        | Some(libc::EOPNOTSUPP)
                        | Some(libc::EINVAL)
                ) {
                    rw_copy(input, out, off_in as u64, hole as u64)?;
                    break;
                }
                return Err(e).context("copy_file_range");
            }
            if n == 0 {
                break;
            }
            wb.written(at, n as i64);
            pb.set_position(off_in as u64);
        }
        pos = hole;
        pb.set_position(pos as u64);
    }
    pb.finish_and_clear();
    Ok(())
}

fn rw_copy(input: &File, out: &File, from: u64, to: u64) -> Result<()> {
    let mut i = input.try_clone()?;
    let mut o = out.try_clone()?;
    i.seek(SeekFrom::Start(from))?;
    o.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = to - from;
    while left > 0 {
        let n = (left as usize).min(buf.len());
        i.read_exact(&mut buf[..n])?;
        if buf[..n].iter().all(|&b| b == 0) {
            o.seek(SeekFrom::Current(n as i64))?;
        } else {
            o.write_all(&buf[..n])?;
        }
        left -= n as u64;
    }
    Ok(())
}

/// Create a qcow2 overlay at `dst` whose backing file is `src` (QEMU opens the backing file
/// read-only; all guest writes land in the overlay).
pub fn qcow2_overlay(src: &Path, dst: &Path) -> Result<()> {
    let src = std::fs::canonicalize(src)?;
    run_tool(
        "qemu-img",
        "qemu-utils",
        &[
            "create".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            "-F".as_ref(),
            "raw".as_ref(),
            "-b".as_ref(),
            src.as_os_str(),
            dst.as_os_str(),
        ],
    )?;
    Ok(())
}

/// Grow the disk file to `new_len` bytes, then its last partition (MBR primary) and the ext4
/// filesystem in it (`resize2fs` on `image?offset=N`). Returns the new partition size.
pub fn grow(disk: &Path, new_len: u64, root_number: u32) -> Result<u64> {
    let mut f = OpenOptions::new().read(true).write(true).open(disk)?;
    let cur = f.metadata()?.len();
    if new_len < cur {
        bail!("--size {new_len} is smaller than the image ({cur} bytes); pivirt only grows disks");
    }
    let table = PartitionTable::read(&mut f)?;
    if !matches!(table.table, TableKind::Mbr { .. }) {
        bail!("growing is supported for MBR disks (Raspberry Pi OS images); this one is GPT");
    }
    let root = table
        .get(root_number)
        .context("root partition vanished")?
        .clone();
    let last_end = table
        .partitions
        .iter()
        .map(|p| p.start + p.size)
        .max()
        .unwrap_or(0);
    if root.start + root.size != last_end || root_number > 4 {
        bail!("the root partition is not the last primary partition; cannot grow it in place");
    }
    let new_sectors = (new_len - root.start) / SECTOR;
    let new_sectors = u32::try_from(new_sectors).context("partition too large for MBR (2 TiB)")?;
    let fs_bytes = u64::from(new_sectors) * SECTOR;
    // resize2fs knows nothing of the partition offset: it extends a too-short image file by
    // writing a byte at (filesystem size - 1) and truncates a longer one to the filesystem size
    // after resizing. Both are avoided by giving the file exactly the new filesystem size while
    // it runs (the filesystem's writes past that end extend the file), which is safe only when
    // that cuts nothing that already exists.
    if fs_bytes < cur {
        bail!(
            "--size: grow by at least the root partition's offset ({} MiB) so the image can be resized in place",
            root.start >> 20
        );
    }
    set_mbr_partition_sectors(&mut f, root_number, new_sectors)?;
    f.set_len(fs_bytes)?;
    f.sync_all()?;
    let spec = format!("{}?offset={}", disk.display(), root.start);
    // e2fsck exits 1 when it fixed something; both are fine before a resize.
    let _ = crate::tools::command("e2fsck", "e2fsprogs")?
        .args(["-f", "-p", &spec])
        .output()?;
    let size_k = format!("{}K", fs_bytes / 1024);
    let resized = run_tool("resize2fs", "e2fsprogs", &[spec.as_str(), size_k.as_str()]);
    f.set_len(new_len)?;
    f.sync_all()?;
    resized?;
    Ok(fs_bytes)
}

/// The smallest power of two ≥ `n` (QEMU's SD card model needs one).
pub fn next_power_of_two(n: u64) -> u64 {
    n.next_power_of_two()
}
