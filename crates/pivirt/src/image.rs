//! Reading a Pi SD-card image without mounting it: the FAT boot partition and the ext4 root.
//!
//! The image file is opened read-only; FAT is read through `fatfs` over a partition [`Slice`],
//! ext4 through `ext4-view`. Nothing here writes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::elf::{self, Arch};
use crate::partition::{Partition, PartitionTable, Slice, TableKind};

/// `Read + Seek` source a whole disk image can come from (a file, or bytes in memory).
pub trait Disk: Read + Seek + Send {}
impl<T: Read + Seek + Send> Disk for T {}

/// Adapter giving a read-only stream the `Write` that `fatfs` wants; every write fails.
struct ReadOnly<R>(R);
impl<R: Read> Read for ReadOnly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
impl<R: Seek> Seek for ReadOnly<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}
impl<R> Write for ReadOnly<R> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the source image is read-only",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An opened image: its partition table and where the boot and root filesystems are.
pub struct PiImage {
    disk: SharedBox,
    /// Where the image came from (for messages).
    pub source: String,
    /// Image length in bytes.
    pub len: u64,
    /// Its partition table.
    pub table: PartitionTable,
    /// The FAT boot partition.
    pub boot: Partition,
    /// The ext2/3/4 root partition.
    pub root: Partition,
}

impl PiImage {
    /// Open an image file read-only.
    pub fn open(path: &Path) -> Result<Self> {
        let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = f.metadata()?.len();
        Self::from_disk(Box::new(f), len, path.display().to_string())
    }

    /// Use any readable disk (the demo image lives in memory).
    pub fn from_disk(mut disk: Box<dyn Disk>, len: u64, source: String) -> Result<Self> {
        let table = PartitionTable::read(&mut disk).with_context(|| source.clone())?;
        let mut boot = None;
        let mut root = None;
        for p in &table.partitions {
            let mut magic = [0u8; 2];
            let mut boot_sig = [0u8; 2];
            disk.seek(SeekFrom::Start(p.start + 1080))?;
            let ext = disk.read_exact(&mut magic).is_ok() && magic == [0x53, 0xEF];
            disk.seek(SeekFrom::Start(p.start + 510))?;
            let fat = disk.read_exact(&mut boot_sig).is_ok() && boot_sig == [0x55, 0xAA];
            if ext && root.is_none() {
                root = Some(p.clone());
            } else if fat && p.is_fat_type() && boot.is_none() {
                boot = Some(p.clone());
            }
        }
        let boot = boot.ok_or_else(|| {
            anyhow!(
                "{source}: no FAT boot partition among {} partitions",
                table.partitions.len()
            )
        })?;
        let root = root.ok_or_else(|| {
            anyhow!("{source}: no ext2/3/4 root partition (superblock magic 0xEF53 not found)")
        })?;
        Ok(PiImage {
            disk: Arc::new(Mutex::new(disk)),
            source,
            len,
            table,
            boot,
            root,
        })
    }

    /// Read a file from the boot partition (`name` relative to its root, `/`-separated).
    pub fn boot_file(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let mut guard = self.lock()?;
        let slice = Slice::new(ReadOnly(&mut **guard), self.boot.start, self.boot.size);
        let fs = fatfs::FileSystem::new(slice, fatfs::FsOptions::new())
            .with_context(|| format!("{}: boot partition is not a FAT filesystem", self.source))?;
        let name = name.trim_start_matches('/');
        let r = match fs.root_dir().open_file(name) {
            Ok(mut f) => {
                let mut v = Vec::new();
                f.read_to_end(&mut v)?;
                Some(v)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("boot partition: {name}")),
        };
        Ok(r)
    }

    /// Names (and sizes) of the files at the top of the boot partition.
    pub fn boot_listing(&mut self) -> Result<Vec<(String, u64, bool)>> {
        let mut guard = self.lock()?;
        let slice = Slice::new(ReadOnly(&mut **guard), self.boot.start, self.boot.size);
        let fs = fatfs::FileSystem::new(slice, fatfs::FsOptions::new())
            .with_context(|| format!("{}: boot partition is not a FAT filesystem", self.source))?;
        let mut out = Vec::new();
        for e in fs.root_dir().iter() {
            let e = e?;
            let n = e.file_name();
            if n == "." || n == ".." {
                continue;
            }
            out.push((n, e.len(), e.is_dir()));
        }
        out.sort();
        Ok(out)
    }

    /// Open the root filesystem for reading.
    pub fn root_fs(&mut self) -> Result<ext4_view::Ext4> {
        let reader = PartReader {
            disk: self.disk.clone(),
            start: self.root.start,
            len: self.root.size,
        };
        ext4_view::Ext4::load(Box::new(reader))
            .map_err(|e| anyhow!("{}: root filesystem: {e}", self.source))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Box<dyn Disk>>> {
        self.disk.lock().map_err(|_| anyhow!("disk lock poisoned"))
    }
}

type SharedBox = Arc<Mutex<Box<dyn Disk>>>;

struct PartReader {
    disk: SharedBox,
    start: u64,
    len: u64,
}

impl ext4_view::Ext4Read for PartReader {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        if start_byte + dst.len() as u64 > self.len {
            return Err("read past the end of the root partition".into());
        }
        let mut d = self.disk.lock().map_err(|_| "disk lock poisoned")?;
        d.seek(SeekFrom::Start(self.start + start_byte))?;
        d.read_exact(dst)?;
        Ok(())
    }
}

/// What `config.txt` says, for the parts pivirt uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConfigTxt {
    /// `arm_64bit=1` (64-bit kernel on a Pi 3/4).
    pub arm_64bit: Option<bool>,
    /// `kernel=` override.
    pub kernel: Option<String>,
    /// `initramfs NAME followkernel`.
    pub initramfs: Option<String>,
    /// `device_tree=` override.
    pub device_tree: Option<String>,
    /// `auto_initramfs=1`: load the initramfs named after the kernel (`kernel8.img` →
    /// `initramfs8`), as Raspberry Pi OS since bookworm sets.
    pub auto_initramfs: Option<bool>,
}

impl ConfigTxt {
    /// Parse the settings that apply to a Pi 3 (lines outside sections, in `[all]`, `[pi3]`,
    /// `[pi3+]`, `[pi02]`; other model sections are skipped).
    pub fn parse(text: &str) -> Self {
        let mut c = ConfigTxt::default();
        let mut active = true;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Some(sec) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                let sec = sec.to_ascii_lowercase();
                active = matches!(sec.as_str(), "all" | "pi3" | "pi3+" | "pi02" | "none")
                    || !sec.starts_with("pi") && !sec.starts_with("cm") && !sec.contains('=');
                continue;
            }
            if !active {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                let (k, v) = (k.trim(), v.trim());
                match k {
                    "arm_64bit" => c.arm_64bit = Some(v != "0"),
                    "kernel" => c.kernel = Some(v.to_string()),
                    "device_tree" => c.device_tree = Some(v.to_string()),
                    "auto_initramfs" => c.auto_initramfs = Some(v != "0"),
                    _ => {}
                }
            } else if let Some(rest) = line.strip_prefix("initramfs") {
                c.initramfs = rest.split_whitespace().next().map(str::to_string);
            }
        }
        c
    }

    /// The kernel a Pi 3's firmware loads, given which boot files exist: `kernel=`, else
    /// `kernel8.img` with `arm_64bit=1` (or with `arm_64bit` unset when it is present, as
    /// current firmware does), else the 32-bit `kernel7.img`.
    pub fn pi3_kernel(&self, has: impl Fn(&str) -> bool) -> String {
        match (&self.kernel, self.arm_64bit) {
            (Some(k), _) => k.clone(),
            (None, Some(true)) => "kernel8.img".into(),
            (None, None) if has("kernel8.img") => "kernel8.img".into(),
            (None, _) => "kernel7.img".into(),
        }
    }

    /// The initramfs the firmware loads with `kernel`: the `initramfs` line's file, else with
    /// `auto_initramfs=1` the kernel's name with `kernel` turned into `initramfs` and `.img`
    /// dropped (`kernel8.img` → `initramfs8`, `kernel_2712.img` → `initramfs_2712`).
    pub fn initramfs_for(&self, kernel: &str) -> Option<String> {
        if let Some(i) = &self.initramfs {
            return Some(i.clone());
        }
        if self.auto_initramfs != Some(true) {
            return None;
        }
        let stem = kernel.strip_suffix(".img").unwrap_or(kernel);
        let suffix = stem.strip_prefix("kernel")?;
        Some(format!("initramfs{suffix}"))
    }

    /// Device tree names a Pi 3 B's firmware would load, best first: `device_tree=`, then the
    /// Raspberry Pi kernel's name (`bcm2710-rpi-3-b.dtb`), then the upstream kernel's
    /// (`bcm2837-rpi-3-b.dtb`, as Debian ships it).
    pub fn pi3b_dtbs(&self) -> Vec<String> {
        let mut v: Vec<String> = self.device_tree.iter().cloned().collect();
        v.extend(PI3B_DTBS.iter().map(|s| s.to_string()));
        v
    }
}

/// The Pi 3 B device tree under the Raspberry Pi kernel's name and the upstream one.
pub const PI3B_DTBS: [&str; 2] = ["bcm2710-rpi-3-b.dtb", "bcm2837-rpi-3-b.dtb"];

/// One `/etc/fstab` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FstabEntry {
    /// Device spec (`PARTUUID=…`, `/dev/mmcblk0p2`, …).
    pub spec: String,
    /// Mount point.
    pub mountpoint: String,
    /// Filesystem type.
    pub fstype: String,
    /// Options.
    pub options: String,
}

/// Parse fstab text (comments and blank lines skipped).
pub fn parse_fstab(text: &str) -> Vec<FstabEntry> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                return None;
            }
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| FstabEntry {
                spec: f[0].into(),
                mountpoint: f[1].into(),
                fstype: f[2].into(),
                options: f.get(3).unwrap_or(&"defaults").to_string(),
            })
        })
        .collect()
}

/// Kernel command-line facts pivirt cares about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cmdline {
    /// The whole line.
    pub line: String,
    /// `root=` value.
    pub root: Option<String>,
    /// `rootfstype=` value.
    pub rootfstype: Option<String>,
}

impl Cmdline {
    /// Parse a `cmdline.txt` (first line only, as the firmware does).
    pub fn parse(text: &str) -> Self {
        let line = text.lines().next().unwrap_or("").trim().to_string();
        let get = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k).map(str::to_string))
        };
        Cmdline {
            root: get("root="),
            rootfstype: get("rootfstype="),
            line: line.clone(),
        }
    }
}

/// Everything `pivirt inspect` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Image path.
    pub image: String,
    /// Image size in bytes.
    pub size: u64,
    /// Partition table.
    pub table: TableKind,
    /// All partitions.
    pub partitions: Vec<Partition>,
    /// Boot partition number.
    pub boot_partition: u32,
    /// Root partition number.
    pub root_partition: u32,
    /// Files at the top of the boot partition.
    pub boot_files: Vec<String>,
    /// Kernels (`kernel*.img`) on the boot partition.
    pub kernels: Vec<String>,
    /// Device trees (`*.dtb`) on the boot partition.
    pub dtbs: Vec<String>,
    /// Parsed `config.txt`.
    pub config: ConfigTxt,
    /// Parsed `cmdline.txt`.
    pub cmdline: Option<Cmdline>,
    /// Root filesystem label.
    pub root_label: String,
    /// Root filesystem UUID.
    pub root_uuid: String,
    /// `PRETTY_NAME` from `/etc/os-release`.
    pub os: Option<String>,
    /// `VERSION_CODENAME` from `/etc/os-release`.
    pub codename: Option<String>,
    /// Userland architecture (from the ELF header of `/bin/sh`).
    pub arch: Option<Arch>,
    /// Which file the architecture came from.
    pub arch_from: Option<String>,
    /// Directories in `/lib/modules`.
    pub kernel_versions: Vec<String>,
    /// `/etc/fstab` entries.
    pub fstab: Vec<FstabEntry>,
    /// `/etc/ld.so.preload` entries (uncommented).
    pub ld_so_preload: Vec<String>,
    /// Machines that can run the image, with the reason or the obstacle.
    pub machines: Vec<MachineFit>,
}

/// Whether a QEMU machine can run the image.
#[derive(Debug, Clone, Serialize)]
pub struct MachineFit {
    /// `virt` or `raspi3b`.
    pub machine: String,
    /// Can it?
    pub ok: bool,
    /// How, or why not.
    pub note: String,
}

/// Read `path` from the root filesystem, following symlinks; `None` if absent.
pub fn root_read(fs: &ext4_view::Ext4, path: &str) -> Result<Option<Vec<u8>>> {
    match fs.read(path) {
        Ok(v) => Ok(Some(v)),
        Err(ext4_view::Ext4Error::NotFound) => Ok(None),
        Err(e) => Err(anyhow!("root filesystem: {path}: {e}")),
    }
}

/// Inspect an opened image.
pub fn inspect(img: &mut PiImage) -> Result<Report> {
    let listing = img.boot_listing()?;
    let names: Vec<String> = listing.iter().map(|(n, _, _)| n.clone()).collect();
    let find = |n: &str| names.iter().find(|x| x.eq_ignore_ascii_case(n)).cloned();
    let config = match find("config.txt") {
        Some(n) => ConfigTxt::parse(&String::from_utf8_lossy(
            &img.boot_file(&n)?.unwrap_or_default(),
        )),
        None => ConfigTxt::default(),
    };
    let cmdline = match find("cmdline.txt") {
        Some(n) => Some(Cmdline::parse(&String::from_utf8_lossy(
            &img.boot_file(&n)?.unwrap_or_default(),
        ))),
        None => None,
    };
    let lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let kernels: Vec<String> = names
        .iter()
        .zip(&lower)
        .filter(|(_, l)| l.starts_with("kernel") && l.ends_with(".img"))
        .map(|(n, _)| n.clone())
        .collect();
    let dtbs: Vec<String> = names
        .iter()
        .zip(&lower)
        .filter(|(_, l)| l.ends_with(".dtb"))
        .map(|(n, _)| n.clone())
        .collect();

    let fs = img.root_fs()?;
    let root_label = fs.label().to_str().unwrap_or("").to_string();
    let root_uuid = fs.uuid().to_string();
    let osr = root_read(&fs, "/etc/os-release")?
        .or(root_read(&fs, "/usr/lib/os-release")?)
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let osval = |k: &str| {
        osr.as_deref().and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix(k)
                    .and_then(|v| v.strip_prefix('='))
                    .map(|v| v.trim().trim_matches('"').to_string())
            })
        })
    };
    let mut arch = None;
    let mut arch_from = None;
    for cand in [
        "/bin/sh",
        "/bin/busybox",
        "/sbin/init",
        "/bin/ls",
        "/usr/bin/env",
    ] {
        if let Some(bytes) = root_read(&fs, cand)?
            && let Ok(a) = elf::arch_of(&bytes[..bytes.len().min(64)])
        {
            arch = Some(a);
            arch_from = Some(cand.to_string());
            break;
        }
    }
    let mut kernel_versions = Vec::new();
    for dir in ["/lib/modules", "/usr/lib/modules"] {
        if let Ok(rd) = fs.read_dir(dir) {
            for e in rd {
                let e = e.map_err(|e| anyhow!("root filesystem: {dir}: {e}"))?;
                let n = e.file_name().as_str().unwrap_or("").to_string();
                if n != "." && n != ".." && !kernel_versions.contains(&n) {
                    kernel_versions.push(n);
                }
            }
            break;
        }
    }
    kernel_versions.sort();
    let fstab = root_read(&fs, "/etc/fstab")?
        .map(|b| parse_fstab(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    let ld_so_preload = root_read(&fs, "/etc/ld.so.preload")?
        .map(|b| {
            String::from_utf8_lossy(&b)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();

    let mut report = Report {
        image: img.source.clone(),
        size: img.len,
        table: img.table.table.clone(),
        partitions: img.table.partitions.clone(),
        boot_partition: img.boot.number,
        root_partition: img.root.number,
        boot_files: names,
        kernels,
        dtbs,
        config,
        cmdline,
        root_label,
        root_uuid,
        os: osval("PRETTY_NAME"),
        codename: osval("VERSION_CODENAME"),
        arch,
        arch_from,
        kernel_versions,
        fstab,
        ld_so_preload,
        machines: Vec::new(),
    };
    report.machines = machine_fits(&report);
    Ok(report)
}

fn machine_fits(r: &Report) -> Vec<MachineFit> {
    let mut out = Vec::new();
    match r.arch {
        Some(Arch::Arm64) => out.push(MachineFit {
            machine: "virt".into(),
            ok: true,
            note: "qemu-system-aarch64 -M virt with Debian's arm64 kernel, virtio disk and network"
                .into(),
        }),
        Some(Arch::Armhf) | Some(Arch::Armel) => out.push(MachineFit {
            machine: "virt".into(),
            ok: true,
            note:
                "qemu-system-arm -M virt with Debian's armmp-lpae kernel, virtio disk and network"
                    .into(),
        }),
        Some(a) => out.push(MachineFit {
            machine: "virt".into(),
            ok: false,
            note: format!("userland is {a}, not Arm"),
        }),
        None => out.push(MachineFit {
            machine: "virt".into(),
            ok: false,
            note: "unknown architecture: no ELF /bin/sh, /bin/busybox or /sbin/init".into(),
        }),
    }
    let has = |n: &str| r.boot_files.iter().any(|f| f.eq_ignore_ascii_case(n));
    let k8 = r.config.pi3_kernel(has);
    let dtb = r.config.pi3b_dtbs().into_iter().find(|d| has(d));
    let arm = r.arch.is_some_and(Arch::is_arm);
    let is32 = matches!(k8.as_str(), "kernel7.img" | "kernel7l.img" | "kernel.img");
    out.push(match (has(&k8), dtb, arm) {
        (true, _, true) if is32 => MachineFit {
            machine: "raspi3b".into(),
            ok: false,
            note: format!(
                "config.txt selects the 32-bit {k8}; raspi3b boots 64-bit kernels (arm_64bit=1 with a kernel8.img, or --kernel-deb with an arm64 kernel)"
            ),
        },
        (true, Some(d), true) => MachineFit {
            machine: "raspi3b".into(),
            ok: true,
            note: format!("qemu-system-aarch64 -M raspi3b with the image's {k8} and {d}, usb-net"),
        },
        (_, _, false) => MachineFit {
            machine: "raspi3b".into(),
            ok: false,
            note: "not an Arm userland".into(),
        },
        (false, _, _) => MachineFit {
            machine: "raspi3b".into(),
            ok: false,
            note: format!(
                "no 64-bit kernel {k8} on the boot partition (or give --kernel-deb with an arm64 kernel)"
            ),
        },
        (true, None, _) => MachineFit {
            machine: "raspi3b".into(),
            ok: false,
            note: "no Pi 3 B device tree (bcm2710-rpi-3-b.dtb or bcm2837-rpi-3-b.dtb) on the boot partition".into(),
        },
    });
    out
}

impl Report {
    /// Human-readable report.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let mib = |b: u64| b as f64 / 1048576.0;
        let _ = writeln!(s, "image      {} ({:.1} MiB)", self.image, mib(self.size));
        let _ = writeln!(s, "table      {}", self.table);
        for p in &self.partitions {
            let role = if p.number == self.boot_partition {
                "boot"
            } else if p.number == self.root_partition {
                "root"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "  {:>2}  type {:<8} start {:>10}  {:>9.1} MiB  PARTUUID={}  {}",
                p.number,
                &p.type_id[..p.type_id.len().min(8)],
                p.start,
                mib(p.size),
                p.partuuid,
                role
            );
        }
        let _ = writeln!(s, "boot files {}", self.boot_files.join(" "));
        let _ = writeln!(s, "kernels    {}", list(&self.kernels));
        let _ = writeln!(s, "dtbs       {}", list(&self.dtbs));
        let _ = writeln!(
            s,
            "config.txt arm_64bit={} kernel={} initramfs={}",
            self.config
                .arm_64bit
                .map_or("-".into(), |b| u8::from(b).to_string()),
            self.config.kernel.as_deref().unwrap_or("-"),
            self.config.initramfs.as_deref().unwrap_or("-")
        );
        if let Some(c) = &self.cmdline {
            let _ = writeln!(s, "cmdline    {}", c.line);
        }
        let _ = writeln!(
            s,
            "root fs    label={:?} uuid={}",
            self.root_label, self.root_uuid
        );
        let _ = writeln!(s, "os         {}", self.os.as_deref().unwrap_or("unknown"));
        let _ = writeln!(
            s,
            "arch       {} (from {})",
            self.arch.map_or("unknown".into(), |a| a.to_string()),
            self.arch_from.as_deref().unwrap_or("-")
        );
        let _ = writeln!(s, "modules    {}", list(&self.kernel_versions));
        let _ = writeln!(s, "fstab");
        for e in &self.fstab {
            let _ = writeln!(
                s,
                "  {:<28} {:<12} {:<6} {}",
                e.spec, e.mountpoint, e.fstype, e.options
            );
        }
        let _ = writeln!(s, "ld.so.preload {}", list(&self.ld_so_preload));
        let _ = writeln!(s, "machines");
        for m in &self.machines {
            let _ = writeln!(
                s,
                "  {:<8} {}  {}",
                m.machine,
                if m.ok { "yes" } else { "no " },
                m.note
            );
        }
        s
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(" ")
    }
}

/// Where the bundled demo image's compressed bytes live.
pub const DEMO_IMAGE: &[u8] = include_bytes!("../data/demo-pi.img.xz");

/// The bundled demo image, decompressed into memory.
pub fn demo_image() -> Result<PiImage> {
    let mut bytes = Vec::new();
    xz2::read::XzDecoder::new(DEMO_IMAGE)
        .read_to_end(&mut bytes)
        .context("bundled demo image is damaged")?;
    let len = bytes.len() as u64;
    PiImage::from_disk(
        Box::new(io::Cursor::new(bytes)),
        len,
        "demo-pi.img (bundled)".into(),
    )
}

/// Resolve an image argument: an existing file.
pub fn check_image_path(p: &Path) -> Result<PathBuf> {
    if !p.exists() {
        bail!("{}: no such image file", p.display());
    }
    if p.is_dir() {
        bail!("{}: is a directory, not a disk image", p.display());
    }
    Ok(p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_sections() {
        let c = ConfigTxt::parse(
            "# x\narm_64bit=1\n[pi4]\nkernel=k4.img\n[all]\ninitramfs initrd.img followkernel\n",
        );
        assert_eq!(c.arm_64bit, Some(true));
        assert_eq!(c.kernel, None);
        assert_eq!(c.initramfs.as_deref(), Some("initrd.img"));
        assert_eq!(c.pi3_kernel(|_| false), "kernel8.img");
        assert_eq!(
            c.initramfs_for("kernel8.img").as_deref(),
            Some("initrd.img")
        );
    }

    #[test]
    fn firmware_file_selection() {
        let c = ConfigTxt::parse("arm_64bit=1\nauto_initramfs=1\n");
        assert_eq!(c.pi3_kernel(|_| false), "kernel8.img");
        assert_eq!(
            c.initramfs_for("kernel8.img").as_deref(),
            Some("initramfs8")
        );
        assert_eq!(
            c.initramfs_for("kernel_2712.img").as_deref(),
            Some("initramfs_2712")
        );
        assert_eq!(c.initramfs_for("Image").as_deref(), None);
        let c = ConfigTxt::parse("device_tree=my.dtb\n");
        assert_eq!(c.pi3_kernel(|_| false), "kernel7.img");
        assert_eq!(c.pi3_kernel(|k| k == "kernel8.img"), "kernel8.img");
        assert_eq!(
            ConfigTxt::parse("arm_64bit=0").pi3_kernel(|_| true),
            "kernel7.img"
        );
        assert_eq!(c.initramfs_for("kernel7.img"), None);
        assert_eq!(
            c.pi3b_dtbs(),
            ["my.dtb", "bcm2710-rpi-3-b.dtb", "bcm2837-rpi-3-b.dtb"]
        );
    }

    #[test]
    fn cmdline_and_fstab() {
        let c = Cmdline::parse(
            "console=serial0,115200 root=PARTUUID=abcd-02 rootfstype=ext4 rootwait\nignored",
        );
        assert_eq!(c.root.as_deref(), Some("PARTUUID=abcd-02"));
        assert_eq!(c.rootfstype.as_deref(), Some("ext4"));
        let f = parse_fstab(
            "proc /proc proc defaults 0 0\n# c\n/dev/mmcblk0p1 /boot vfat defaults 0 2\n",
        );
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].spec, "/dev/mmcblk0p1");
    }
}
