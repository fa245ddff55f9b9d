//! Build a small Raspberry-Pi-like SD-card image without root: an MBR written here, a FAT boot
//! partition formatted and filled through `fatfs`, and an ext4 root made by `mke2fs -d DIR`
//! straight into the image at the partition's offset.
//!
//! The test suite and the bundled demo image are made with it; it is also handy for trying
//! pivirt on a machine without a real Pi card.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::partition::{MbrSpec, SECTOR, Slice, write_mbr};
use crate::tools::run_tool;

/// What to put in the image.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// MBR disk signature (PARTUUIDs become `{disk_id:08x}-01`, `-02`).
    pub disk_id: u32,
    /// Boot partition size in MiB (≥ 16).
    pub boot_mib: u64,
    /// Root partition size in MiB (≥ 8).
    pub root_mib: u64,
    /// Files for the boot partition: name (may contain `/` for subdirectories) and bytes.
    pub boot_files: Vec<(String, Vec<u8>)>,
    /// A directory whose contents become the root filesystem.
    pub root_dir: PathBuf,
    /// Root filesystem label.
    pub root_label: String,
    /// Root filesystem UUID (so tests are repeatable).
    pub root_uuid: String,
}

/// First sector of the boot partition (4 MiB, as Raspberry Pi OS images use).
pub const BOOT_START_LBA: u64 = 8192;

/// Write the image to `out` (created or truncated; sparse where the filesystem allows).
pub fn build(spec: &ImageSpec, out: &Path) -> Result<()> {
    if spec.boot_mib < 16 || spec.root_mib < 8 {
        bail!("image spec: boot needs ≥ 16 MiB and root ≥ 8 MiB");
    }
    let boot_sectors = spec.boot_mib * 1024 * 1024 / SECTOR;
    let root_start = BOOT_START_LBA + boot_sectors;
    let root_sectors = spec.root_mib * 1024 * 1024 / SECTOR;
    let total = (root_start + root_sectors) * SECTOR;
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    f.set_len(total)?;
    write_mbr(
        &mut f,
        spec.disk_id,
        &[
            MbrSpec {
                kind: 0x0c,
                start_lba: BOOT_START_LBA as u32,
                sectors: boot_sectors as u32,
            },
            MbrSpec {
                kind: 0x83,
                start_lba: root_start as u32,
                sectors: root_sectors as u32,
            },
        ],
    )?;
    {
        let mut part = Slice::new(&mut f, BOOT_START_LBA * SECTOR, boot_sectors * SECTOR);
        fatfs::format_volume(
            &mut part,
            fatfs::FormatVolumeOptions::new()
                .volume_label(*b"bootfs     ")
                .volume_id(spec.disk_id),
        )?;
        let fs = fatfs::FileSystem::new(part, fatfs::FsOptions::new())?;
        fill_fat(&fs.root_dir(), &spec.boot_files)?;
        fs.unmount()?;
    }
    f.sync_all()?;
    drop(f);
    let offset = format!("offset={}", root_start * SECTOR);
    let size = format!("{}k", spec.root_mib * 1024);
    run_tool(
        "mke2fs",
        "e2fsprogs",
        &[
            "-q".as_ref(),
            "-F".as_ref(),
            "-t".as_ref(),
            "ext4".as_ref(),
            "-L".as_ref(),
            spec.root_label.as_ref(),
            "-U".as_ref(),
            spec.root_uuid.as_ref(),
            "-E".as_ref(),
            offset.as_ref(),
            "-d".as_ref(),
            spec.root_dir.as_os_str(),
            out.as_os_str(),
            size.as_ref(),
        ],
    )?;
    Ok(())
}

fn fill_fat<T: fatfs::ReadWriteSeek>(
    root: &fatfs::Dir<'_, T>,
    files: &[(String, Vec<u8>)],
) -> Result<()> {
    for (name, bytes) in files {
        let mut dir = root.clone();
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        for d in &parts[..parts.len().saturating_sub(1)] {
            dir = match dir.open_dir(d) {
                Ok(x) => x,
                Err(_) => dir.create_dir(d)?,
            };
        }
        let leaf = parts.last().copied().unwrap_or(name.as_str());
        let mut file = dir.create_file(leaf)?;
        file.truncate()?;
        file.write_all(bytes)?;
    }
    Ok(())
}
