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
            // 4 KiB blocks as on Raspberry Pi OS cards (mke2fs would pick 1 KiB for a small
            // filesystem, and growing it keeps that block size).
            "-b".as_ref(),
            "4096".as_ref(),
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

/// The `/sbin/init` of the busybox test image: prints `PIVIRT-*` facts on the console,
/// optionally receives `pivirt.sink=N` TCP transfers on port 5001, then powers off.
pub const GUEST_INIT: &str = include_str!("initramfs/guest-init.sh");

/// How the test image's `/etc/fstab` and `cmdline.txt` name the root partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RootNaming {
    /// `PARTUUID=…-02` (Raspberry Pi OS since 2019).
    Partuuid,
    /// `/dev/mmcblk0p2` (older images).
    Device,
}

/// Build a small bootable Pi-like image whose userland is Debian's static busybox for `arch`
/// (taken from the `busybox-static` package in `cache`), with a `config.txt`, `cmdline.txt`,
/// an fstab, a Pi-only `ld.so.preload` entry, and [`GUEST_INIT`] as `/sbin/init`.
/// `boot_extra` adds boot-partition files (e.g. a `kernel8.img` and DTB); one named like a
/// generated file (`config.txt`, `cmdline.txt`) replaces it.
pub fn busybox_image(
    cache: &crate::kernel::apt::Cache,
    arch: crate::elf::Arch,
    out: &Path,
    disk_id: u32,
    naming: RootNaming,
    boot_extra: Vec<(String, Vec<u8>)>,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let bb = crate::kernel::deb::read_file(&cache.busybox_deb(arch)?, "bin/busybox")?;
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("root");
    for d in [
        "bin",
        "sbin",
        "etc",
        "proc",
        "sys",
        "dev",
        "boot",
        "lib/modules",
        "tmp",
        "root",
    ] {
        std::fs::create_dir_all(root.join(d))?;
    }
    std::fs::write(root.join("bin/busybox"), &bb)?;
    std::fs::set_permissions(
        root.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o755),
    )?;
    // Applets the init script uses (the image is mounted read-only, so they cannot be
    // installed at boot; the foreign binary cannot be run here to list them).
    for applet in [
        "sh", "mount", "umount", "grep", "cut", "tr", "ls", "cat", "head", "wc", "ip", "nc",
        "usleep", "sleep", "sync", "poweroff", "reboot", "uname", "dmesg", "df", "dd", "modprobe",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))?;
    }
    std::fs::write(root.join("sbin/init"), GUEST_INIT)?;
    std::fs::set_permissions(
        root.join("sbin/init"),
        std::fs::Permissions::from_mode(0o755),
    )?;
    let rootspec = match naming {
        RootNaming::Partuuid => format!("PARTUUID={disk_id:08x}-02"),
        RootNaming::Device => "/dev/mmcblk0p2".to_string(),
    };
    std::fs::write(
        root.join("etc/fstab"),
        format!(
            "proc  /proc  proc  defaults  0  0\nPARTUUID={disk_id:08x}-01  /boot  vfat  defaults  0  2\n{rootspec}  /  ext4  defaults,noatime  0  1\n"
        ),
    )?;
    let libdir = match arch {
        crate::elf::Arch::Arm64 => "aarch64-linux-gnu",
        _ => "arm-linux-gnueabihf",
    };
    std::fs::write(
        root.join("etc/ld.so.preload"),
        format!("/usr/lib/{libdir}/libarmmem-${{PLATFORM}}.so\n"),
    )?;
    std::fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"pivirt busybox test image\"\nNAME=\"pivirt test\"\nVERSION_CODENAME=bookworm\nID=debian\n",
    )?;
    std::fs::write(root.join("etc/hostname"), "raspberrypi\n")?;
    let mut boot_files = vec![
        (
            "config.txt".to_string(),
            format!(
                "# pivirt test image\n[all]\narm_64bit={}\nenable_uart=1\n",
                u8::from(arch == crate::elf::Arch::Arm64)
            )
            .into_bytes(),
        ),
        (
            "cmdline.txt".to_string(),
            format!("console=serial0,115200 console=tty1 root={rootspec} rootfstype=ext4 fsck.repair=yes rootwait\n")
                .into_bytes(),
        ),
    ];
    boot_files.extend(boot_extra);
    build(
        &ImageSpec {
            disk_id,
            boot_mib: 32,
            root_mib: 96,
            boot_files,
            root_dir: root,
            root_label: "rootfs".into(),
            root_uuid: format!("{disk_id:08x}-0000-4000-8000-000000000002"),
        },
        out,
    )
}

/// Turn an image made by [`build`] into a GPT disk: the same partitions at the same offsets,
/// the MBR replaced by a protective one and a GUID partition table (1 MiB is added at the end
/// for the backup table). Partition GUIDs are derived from `seed` (`{seed:08x}-0000-4000-8000-00000000000N`
/// for partition N) so tests can name them.
pub fn mbr_to_gpt(path: &Path, seed: u32) -> Result<()> {
    use crate::partition::{
        GPT_BASIC_DATA_BYTES, GPT_LINUX_BYTES, GptSpec, PartitionTable, TableKind, write_gpt,
    };
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let table = PartitionTable::read(&mut f)?;
    if !matches!(table.table, TableKind::Mbr { .. }) {
        bail!("{}: already GPT", path.display());
    }
    let guid = |n: u8| {
        let mut g = [0u8; 16];
        g[0..4].copy_from_slice(&seed.to_le_bytes()); // first field is stored little endian
        g[7] = 0x40; // version 4 (third field, little endian)
        g[8] = 0x80; // variant
        g[15] = n;
        g
    };
    let parts: Vec<GptSpec> = table
        .partitions
        .iter()
        .map(|p| GptSpec {
            type_guid: if p.is_fat_type() {
                GPT_BASIC_DATA_BYTES
            } else {
                GPT_LINUX_BYTES
            },
            guid: guid(p.number as u8),
            first_lba: p.start / SECTOR,
            last_lba: (p.start + p.size) / SECTOR - 1,
            name: if p.is_fat_type() { "boot" } else { "root" }.into(),
        })
        .collect();
    let len = f.metadata()?.len() + (1 << 20);
    f.set_len(len)?;
    write_gpt(&mut f, len / SECTOR, guid(0), &parts)?;
    f.sync_all()?;
    Ok(())
}
