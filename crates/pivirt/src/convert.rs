//! `pivirt convert`: source image → machine directory (disk, kernel, initramfs, `pivirt.toml`,
//! `run.sh`, systemd unit). The source is opened read-only; every change is made to the copy
//! and reported.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::disk::{self, CopyMethod};
use crate::elf::Arch;
use crate::image::{self, PiImage, Report, root_read};
use crate::initramfs;
use crate::kernel::{self, KernelTree, apt::Cache, deb};
use crate::machine::{
    ConfigFile, Conversion, Machine, Net, RASPI3B_DRIVERS, VIRT_DRIVERS, VmConfig, run_script,
    systemd_unit,
};
use crate::partition::Slice;
use crate::tools::run_tool;

/// Kernel file, initramfs, device tree (names in the machine directory) and the unpacked
/// Debian kernel when one is used.
type BootFiles = (String, Option<String>, Option<String>, Option<KernelTree>);

/// Which kernel modules go into the copy's root filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GuestModules {
    /// Every module of the kernel package, so the running system can load any driver.
    All,
    /// Only the initramfs closure (smaller; enough to boot).
    Boot,
    /// None.
    None,
}

/// Everything `convert` needs.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Source image (opened read-only).
    pub image: PathBuf,
    /// Output directory (created; must be empty if it exists).
    pub to: PathBuf,
    /// Target machine.
    pub machine: Machine,
    /// Grow the disk (and root partition and filesystem) to this many bytes.
    pub size: Option<u64>,
    /// A kernel `.deb` to use instead of downloading one.
    pub kernel_deb: Option<PathBuf>,
    /// Debian kernel ABI version to download (`6.1.0-50`).
    pub kernel_version: Option<String>,
    /// Use a qcow2 overlay backed by the source instead of a copy (no fix-ups possible).
    pub overlay: bool,
    /// Enable SSH on first boot (the `ssh` boot-partition file).
    pub ssh: bool,
    /// Create a user on first boot (`userconf.txt`): name and password.
    pub user: Option<(String, String)>,
    /// Modules installed into the copy.
    pub guest_modules: GuestModules,
    /// Host port forwarded to the guest's SSH port.
    pub ssh_port: u16,
    /// Extra TCP forwards (host, guest).
    pub forwards: Vec<(u16, u16)>,
    /// Guest memory in MiB (virt).
    pub memory_mib: u32,
    /// Guest CPUs (virt).
    pub cpus: u32,
    /// Package cache.
    pub cache: Cache,
    /// No progress bars.
    pub quiet: bool,
}

impl ConvertOptions {
    /// Defaults for `image` → `to` on `machine`.
    pub fn new(image: PathBuf, to: PathBuf, machine: Machine) -> Self {
        ConvertOptions {
            image,
            to,
            machine,
            size: None,
            kernel_deb: None,
            kernel_version: None,
            overlay: false,
            ssh: false,
            user: None,
            guest_modules: GuestModules::All,
            ssh_port: 2222,
            forwards: Vec::new(),
            memory_mib: 1024,
            cpus: 2,
            cache: Cache::default_location(),
            quiet: false,
        }
    }
}

/// Convert; returns what was written to `pivirt.toml`.
pub fn convert(o: &ConvertOptions) -> Result<ConfigFile> {
    let src = image::check_image_path(&o.image)?;
    let mut img = PiImage::open(&src)?;
    let report = image::inspect(&mut img)?;
    // What to change in the root filesystem is read from the source now, so the copy is
    // written once, in a single debugfs session, after it lands.
    let (root_edits, lib_is_link) = {
        let view = img.root_fs()?;
        let lib_is_link = view
            .symlink_metadata("/lib")
            .map(|m| m.is_symlink())
            .unwrap_or(false);
        (plan_root_edits(&view, &report, o.machine)?, lib_is_link)
    };
    drop(img);
    let arch = report.arch.ok_or_else(|| {
        anyhow!(
            "{}: unknown architecture: no ELF /bin/sh, /bin/busybox or /sbin/init in the root filesystem",
            src.display()
        )
    })?;
    if !arch.is_arm() {
        bail!(
            "{}: userland is {arch}, not Arm; nothing to emulate",
            src.display()
        );
    }
    if o.to.exists() && fs::read_dir(&o.to)?.next().is_some() {
        bail!(
            "{}: exists and is not empty; choose a new directory",
            o.to.display()
        );
    }
    fs::create_dir_all(&o.to).with_context(|| format!("cannot create {}", o.to.display()))?;
    let dir = fs::canonicalize(&o.to)?;
    if o.overlay && (o.ssh || o.user.is_some() || o.size.is_some()) {
        bail!("--overlay leaves the disk untouched; --ssh, --user and --size need a copy");
    }
    if o.overlay && o.machine == Machine::Raspi3b {
        bail!("raspi3b needs the SD image grown to a power of two: use a copy, not --overlay");
    }
    let clock = std::time::Instant::now();
    let step =
        |what: &str| tracing::debug!("{what} done at {:.2} s", clock.elapsed().as_secs_f64());
    let mut rec = Conversion {
        source: src.display().to_string(),
        source_size: report.size,
        ..Default::default()
    };

    // 1. The disk, copied on a second thread while the kernel work runs on this one.
    let make_disk = || -> Result<(&'static str, &'static str, String)> {
        if o.overlay {
            disk::qcow2_overlay(&src, &dir.join("disk.qcow2"))?;
            Ok((
                "disk.qcow2",
                "qcow2",
                format!("qcow2 overlay backed read-only by {}", src.display()),
            ))
        } else {
            let m: CopyMethod = disk::copy_image(&src, &dir.join("disk.img"), o.quiet)?;
            Ok(("disk.img", "raw", m.to_string()))
        }
    };
    // 2. Kernel, initramfs, device tree.
    let fstype = root_fstype(&report);
    let use_debian =
        o.machine == Machine::Virt || o.kernel_deb.is_some() || o.kernel_version.is_some();
    let kernel_work = |rec: &mut Conversion| -> Result<BootFiles> {
        if use_debian {
            let karch = if o.machine == Machine::Raspi3b {
                Arch::Arm64
            } else {
                arch
            };
            let deb_path = match &o.kernel_deb {
                Some(p) => p.clone(),
                None => o.cache.kernel_deb(karch, o.kernel_version.as_deref())?,
            };
            // No spinner here: the disk copy's progress bar is on screen meanwhile.
            let tree = kernel::unpack(&o.cache.dir, &deb_path)?;
            if o.guest_modules == GuestModules::All && !o.overlay {
                // Made once per package; the first time, while the disk is being copied.
                tree.guest_modules_dir()?;
            }
            rec.kernel_package = deb_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            rec.kernel_release = Some(tree.version.clone());
            fs::copy(&tree.vmlinuz, dir.join("vmlinuz"))?;
            let bb_deb = o.cache.busybox_deb(karch)?;
            let busybox = deb::read_file(&bb_deb, "bin/busybox")?;
            let mut wanted: Vec<&str> = match o.machine {
                Machine::Virt => VIRT_DRIVERS.to_vec(),
                Machine::Raspi3b => RASPI3B_DRIVERS.to_vec(),
            };
            wanted.push(&fstype);
            let info = initramfs::build(&tree, &busybox, &wanted, &dir.join("initrd.img"))?;
            if !info.missing.is_empty() {
                rec.notes.push(format!(
                    "kernel {} has neither module nor built-in driver for: {}",
                    tree.version,
                    info.missing.join(", ")
                ));
            }
            if let Some(note) = kernel_series_note(&report.kernel_versions, &tree.version) {
                rec.notes.push(note);
            }
            rec.initramfs_modules = info.modules.clone();
            let dtb = if o.machine == Machine::Raspi3b {
                let d = tree.dtb("broadcom/bcm2837-rpi-3-b.dtb").ok_or_else(|| {
                    anyhow!(
                        "{}: kernel package has no broadcom/bcm2837-rpi-3-b.dtb",
                        deb_path.display()
                    )
                })?;
                fs::copy(d, dir.join("bcm2837-rpi-3-b.dtb"))?;
                Some("bcm2837-rpi-3-b.dtb".to_string())
            } else {
                None
            };
            Ok((
                "vmlinuz".to_string(),
                Some("initrd.img".to_string()),
                dtb,
                Some(tree),
            ))
        } else {
            let (k, i, d) = pi_boot_files(&src, &report, &dir)?;
            Ok((k, i, d, None))
        }
    };
    let (disk_done, kernel_done) = std::thread::scope(|s| {
        let h = s.spawn(make_disk);
        let k = kernel_work(&mut rec);
        (h.join(), k)
    });
    let (disk_name, disk_format, method) =
        disk_done.map_err(|_| anyhow!("the disk copy thread panicked"))??;
    rec.disk_method = method;
    let (kernel_file, initrd, dtb, kernel_tree) = kernel_done?;

    let disk_path = dir.join(disk_name);
    step("disk");
    if let Some(size) = o.size {
        let part = disk::grow(&disk_path, size, report.root_partition)?;
        rec.fixups.push(format!(
            "grew disk to {size} bytes, root partition {} and its filesystem to {part} bytes",
            report.root_partition
        ));
    }
    if o.machine == Machine::Raspi3b {
        let len = fs::metadata(&disk_path)?.len();
        let p2 = disk::next_power_of_two(len);
        if p2 != len {
            OpenOptions::new()
                .write(true)
                .open(&disk_path)?
                .set_len(p2)?;
            rec.fixups.push(format!(
                "padded the SD image from {len} to {p2} bytes (QEMU's SD card needs a power of two)"
            ));
        }
    }

    step("kernel and initramfs");
    // 3. Changes to the copy: modules and root fix-ups in one debugfs session.
    if !o.overlay {
        let root_start = report
            .partitions
            .iter()
            .find(|p| p.number == report.root_partition)
            .map(|p| p.start)
            .unwrap_or(0);
        let e2 = E2Target {
            image: disk_path.clone(),
            offset: root_start,
        };
        let modules = match &kernel_tree {
            Some(tree) if o.guest_modules != GuestModules::None => {
                let base = if lib_is_link {
                    "/usr/lib/modules"
                } else {
                    "/lib/modules"
                };
                let (script, n, bytes) =
                    modules_script(tree, o.guest_modules, &rec.initramfs_modules, base)?;
                e2.check_room(bytes, n as u64).with_context(|| {
                    format!(
                        "{}: no room for kernel {}'s modules in the root filesystem (grow it with --size, or --guest-modules boot)",
                        src.display(),
                        tree.version
                    )
                })?;
                let dep = format!("{base}/{}/modules.dep", tree.version);
                Some((script, dep, n, tree.version.clone()))
            }
            _ => None,
        };
        let sp = spinner(
            o.quiet,
            "writing modules and fix-ups into the copy (debugfs)",
        );
        write_root(
            &e2,
            modules
                .as_ref()
                .map(|(s, d, n, _)| (s.as_str(), d.as_str(), *n)),
            &root_edits,
        )?;
        sp.finish_and_clear();
        if let Some((_, _, n, version)) = &modules {
            rec.fixups.push(format!(
                "installed {n} files of kernel {version} into the root filesystem"
            ));
        }
        rec.fixups.extend(root_edits.iter().map(|e| e.note.clone()));
        step("root filesystem");
        fix_boot_files(&disk_path, &report, o, &mut rec)?;
    }

    // 4. Command line and machine description.
    let cmdline = guest_cmdline(&report, o.machine);
    let mut forwards = vec![(o.ssh_port, 22)];
    forwards.extend(o.forwards.iter().copied());
    let vm = VmConfig {
        machine: o.machine,
        arch,
        disk: disk_name.into(),
        disk_format: disk_format.into(),
        kernel: kernel_file,
        initrd,
        dtb,
        cmdline,
        memory_mib: if o.machine == Machine::Raspi3b {
            1024
        } else {
            o.memory_mib
        },
        cpus: if o.machine == Machine::Raspi3b {
            4
        } else {
            o.cpus
        },
        net: Net::User { forwards },
    };
    let file = ConfigFile {
        vm,
        conversion: rec,
    };
    write_outputs(&dir, &file)?;
    Ok(file)
}

fn spinner(quiet: bool, msg: &str) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// Compare the image's own kernel series (`6.1.21-v8+`) with the Debian one (`6.1.0-50-arm64`).
pub fn kernel_series_note(image_versions: &[String], debian: &str) -> Option<String> {
    let series = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    let d = series(debian);
    let first = image_versions.first()?;
    if image_versions.iter().any(|v| series(v) == d) {
        Some(format!(
            "the image's kernel {first} and Debian's {debian} are both {d}.x"
        ))
    } else {
        Some(format!(
            "the image ran kernel {first}; Debian's {debian} is series {d}.x (pick another with --kernel-version or --kernel-deb)"
        ))
    }
}

/// Write `pivirt.toml`, `run.sh` and `pivirt.service` into `dir`.
pub fn write_outputs(dir: &Path, file: &ConfigFile) -> Result<()> {
    let toml = toml::to_string_pretty(file)?;
    atomic_write(&dir.join("pivirt.toml"), toml.as_bytes(), 0o644)?;
    atomic_write(&dir.join("run.sh"), run_script(&file.vm).as_bytes(), 0o755)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    atomic_write(
        &dir.join("pivirt.service"),
        systemd_unit(dir, &name).as_bytes(),
        0o644,
    )?;
    Ok(())
}

fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
    fs::rename(&tmp, path)?;
    Ok(())
}

/// The root filesystem type: `rootfstype=`, else the fstab entry for `/`, else ext4.
fn root_fstype(r: &Report) -> String {
    r.cmdline
        .as_ref()
        .and_then(|c| c.rootfstype.clone())
        .or_else(|| {
            r.fstab
                .iter()
                .find(|e| e.mountpoint == "/")
                .map(|e| e.fstype.clone())
        })
        .filter(|t| t != "auto")
        .unwrap_or_else(|| "ext4".into())
}

/// Kernel, DTB and initramfs from the image's own boot partition (raspi3b, Pi kernel), chosen
/// as a Pi 3 B's firmware chooses them from `config.txt`.
fn pi_boot_files(
    src: &Path,
    r: &Report,
    dir: &Path,
) -> Result<(String, Option<String>, Option<String>)> {
    let mut img = PiImage::open(src)?;
    let on_boot = |n: &str| {
        r.boot_files
            .iter()
            .find(|f| f.eq_ignore_ascii_case(n))
            .cloned()
    };
    let want = r.config.pi3_kernel(|n| on_boot(n).is_some());
    let kname = on_boot(&want).ok_or_else(|| {
        anyhow!(
            "{}: config.txt selects {want}, which is not on the boot partition; raspi3b needs a 64-bit Pi kernel (kernel8.img with arm_64bit=1) or --kernel-deb",
            src.display()
        )
    })?;
    let kernel = img.boot_file(&kname)?.ok_or_else(|| {
        anyhow!(
            "{}: cannot read {kname} from the boot partition",
            src.display()
        )
    })?;
    check_arm64_kernel(&kernel).with_context(|| {
        format!(
            "{}: {kname} on the boot partition cannot boot on raspi3b (use --kernel-deb with an arm64 kernel, or --machine virt)",
            src.display()
        )
    })?;
    fs::write(dir.join(&kname), kernel)?;
    let dtb_name = r
        .config
        .pi3b_dtbs()
        .iter()
        .find_map(|d| on_boot(d))
        .ok_or_else(|| {
            anyhow!(
                "{}: no Pi 3 B device tree ({}) on the boot partition",
                src.display(),
                r.config.pi3b_dtbs().join(" or ")
            )
        })?;
    let dtb = img.boot_file(&dtb_name)?.unwrap_or_default();
    fs::write(dir.join(&dtb_name), dtb)?;
    let initrd = match r.config.initramfs_for(&kname) {
        Some(n) => {
            let b = img.boot_file(&n)?.ok_or_else(|| {
                anyhow!(
                    "{}: config.txt asks for initramfs {n}, which is not on the boot partition",
                    src.display()
                )
            })?;
            fs::write(dir.join(&n), b)?;
            Some(n)
        }
        None => None,
    };
    Ok((kname, initrd, Some(dtb_name)))
}

/// Accept an arm64 Linux `Image` (magic `ARM\x64` at byte 56), plain or gzip-compressed as
/// Raspberry Pi OS ships `kernel8.img` (QEMU unpacks gzip for AArch64 guests).
pub fn check_arm64_kernel(bytes: &[u8]) -> Result<()> {
    use std::io::Read;
    let mut head = [0u8; 64];
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(bytes)
            .read_exact(&mut head)
            .map_err(|e| anyhow!("gzip-compressed, but its start does not unpack: {e}"))?;
    } else if bytes.len() >= 64 {
        head.copy_from_slice(&bytes[..64]);
    } else {
        bail!("{} bytes: too short for a kernel image", bytes.len());
    }
    if &head[56..60] == b"ARM\x64" {
        Ok(())
    } else if u32::from_le_bytes([head[36], head[37], head[38], head[39]]) == 0x016f2818 {
        bail!("a 32-bit Arm zImage; QEMU's raspi3b starts its cores in 64-bit mode")
    } else {
        bail!("not an arm64 Linux Image (no ARM\\x64 magic at byte 56)")
    }
}

/// The guest kernel command line: the image's `cmdline.txt` with the console moved to the
/// first PL011 UART and, for `virt`, a Pi device name for root replaced by its PARTUUID.
pub fn guest_cmdline(r: &Report, machine: Machine) -> String {
    let line = r
        .cmdline
        .as_ref()
        .map(|c| c.line.clone())
        .unwrap_or_default();
    let mut words: Vec<String> = Vec::new();
    for w in line.split_whitespace() {
        if w.starts_with("console=") {
            continue;
        }
        if let Some(dev) = w.strip_prefix("root=")
            && machine == Machine::Virt
        {
            words.push(format!("root={}", virt_device_spec(r, dev)));
            continue;
        }
        words.push(w.to_string());
    }
    if !words.iter().any(|w| w.starts_with("root=")) {
        let p = r.partitions.iter().find(|p| p.number == r.root_partition);
        if let Some(p) = p {
            words.push(format!("root=PARTUUID={}", p.partuuid));
        }
    }
    if !words.iter().any(|w| w == "rootwait") {
        words.push("rootwait".into());
    }
    let mut s = String::from("console=ttyAMA0,115200");
    for w in words {
        let _ = write!(s, " {w}");
    }
    s
}

/// `/dev/mmcblk0pN` → `PARTUUID=…` of partition N; anything else unchanged.
fn virt_device_spec(r: &Report, spec: &str) -> String {
    if let Some(n) = spec
        .strip_prefix("/dev/mmcblk0p")
        .and_then(|n| n.parse::<u32>().ok())
        && let Some(p) = r.partitions.iter().find(|p| p.number == n)
    {
        return format!("PARTUUID={}", p.partuuid);
    }
    spec.to_string()
}

/// An ext4 filesystem inside an image file, addressed the way e2fsprogs accepts it.
pub struct E2Target {
    /// The image file.
    pub image: PathBuf,
    /// Byte offset of the filesystem.
    pub offset: u64,
}

impl E2Target {
    fn spec(&self) -> String {
        format!("{}?offset={}", self.image.display(), self.offset)
    }

    /// Run a `debugfs -w` command script.
    pub fn debugfs(&self, script: &str) -> Result<String> {
        let mut tmp = tempfile::NamedTempFile::new()?;
        tmp.write_all(script.as_bytes())?;
        tmp.flush()?;
        let out = run_tool(
            "debugfs",
            "e2fsprogs",
            &[
                "-w".as_ref(),
                "-f".as_ref(),
                tmp.path().as_os_str(),
                self.spec().as_ref(),
            ],
        )?;
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Fail unless the filesystem has room for `files` new files of `bytes` in all, by the
    /// free block and inode counts in its superblock (with a block per file for rounding and
    /// a 5 % margin for directories and extent blocks).
    pub fn check_room(&self, bytes: u64, files: u64) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let mut sb = [0u8; 1024];
        let mut f = fs::File::open(&self.image)?;
        f.seek(SeekFrom::Start(self.offset + 1024))?;
        f.read_exact(&mut sb)?;
        let u32_at = |o: usize| u32::from_le_bytes([sb[o], sb[o + 1], sb[o + 2], sb[o + 3]]);
        if u16::from_le_bytes([sb[0x38], sb[0x39]]) != 0xef53 {
            bail!("no ext2/3/4 superblock at byte {}", self.offset + 1024);
        }
        let block = 1024u64 << u32_at(0x18).min(16);
        let mut free_blocks = u64::from(u32_at(0x0c));
        if u32_at(0x60) & 0x80 != 0 {
            free_blocks |= u64::from(u32_at(0x158)) << 32;
        }
        let free_inodes = u64::from(u32_at(0x10));
        let need_blocks = (bytes.div_ceil(block) + files) * 21 / 20;
        if need_blocks > free_blocks {
            bail!(
                "{} MiB needed, {} MiB free",
                (need_blocks * block) >> 20,
                (free_blocks * block) >> 20
            );
        }
        if files > free_inodes {
            bail!("{files} files needed, {free_inodes} inodes free");
        }
        Ok(())
    }

    /// Open the filesystem read-only through `ext4-view`.
    pub fn view(&self) -> Result<ext4_view::Ext4> {
        let mut img = PiImage::open(&self.image)?;
        img.root_fs()
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

/// The `debugfs` commands that install the kernel's modules (and depmod-format indexes) into
/// the root filesystem under `base` (`/lib/modules` or `/usr/lib/modules`), the number of
/// files they write and their total size in bytes.
fn modules_script(
    tree: &KernelTree,
    which: GuestModules,
    boot: &[String],
    base: &str,
) -> Result<(String, usize, u64)> {
    let guest_root = format!("{base}/{}", tree.version);
    let mut mdir = tree.modules_dir().to_path_buf();
    let mut files: Vec<PathBuf> = Vec::new();
    match which {
        GuestModules::All => {
            mdir = tree.guest_modules_dir()?;
            let mut stack = vec![mdir.clone()];
            while let Some(d) = stack.pop() {
                for e in fs::read_dir(&d)? {
                    let e = e?;
                    if e.file_type()?.is_dir() {
                        stack.push(e.path());
                    } else if e.file_type()?.is_file() {
                        files.push(e.path());
                    }
                }
            }
        }
        GuestModules::Boot => {
            for name in boot {
                if let Some(m) = tree.index.modules.get(name) {
                    files.push(mdir.join(&m.rel_path));
                }
            }
            for f in [
                "modules.dep",
                "modules.alias",
                "modules.softdep",
                "modules.builtin",
                "modules.order",
            ] {
                if mdir.join(f).is_file() {
                    files.push(mdir.join(f));
                }
            }
        }
        GuestModules::None => return Ok((String::new(), 0, 0)),
    }
    // Grouped by directory: debugfs then works inside each one (`cd`, `write SRC NAME`), so a
    // file costs one directory scan instead of a walk from `/`. New inodes belong to root
    // (checked after writing), so no `sif` per file either.
    files.sort_by(|a, b| (a.parent(), a.file_name()).cmp(&(b.parent(), b.file_name())));
    let mut dirs = std::collections::BTreeSet::new();
    let mut script = String::new();
    let mut mk = |p: &str, script: &mut String| {
        let mut acc = String::new();
        for c in p.split('/').filter(|c| !c.is_empty()) {
            acc.push('/');
            acc.push_str(c);
            if dirs.insert(acc.clone()) {
                let _ = writeln!(script, "mkdir {}", quote(&acc));
            }
        }
    };
    mk(&guest_root, &mut script);
    let mut cwd = String::new();
    for f in &files {
        let rel = f.strip_prefix(&mdir).unwrap_or(f);
        let parent = match rel.parent().map(|p| p.to_string_lossy()) {
            Some(p) if !p.is_empty() => format!("{guest_root}/{p}"),
            _ => guest_root.clone(),
        };
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow!("{}: no file name", f.display()))?;
        if parent != cwd {
            mk(&parent, &mut script);
            let _ = writeln!(script, "cd {}", quote(&parent));
            cwd = parent;
        }
        let _ = writeln!(
            script,
            "write {} {}",
            quote(&f.display().to_string()),
            quote(&name)
        );
    }
    script.push_str("cd /\n");
    let mut bytes = 0;
    for f in &files {
        bytes += fs::metadata(f)?.len();
    }
    Ok((script, files.len(), bytes))
}

/// A file of the root filesystem to replace on the copy, and the fix-up line reporting it.
struct RootEdit {
    path: &'static str,
    bytes: Vec<u8>,
    note: String,
}

/// The fstab and ld.so.preload fix-ups, planned from the source's root filesystem (the copy's
/// is byte-identical until pivirt writes to it).
fn plan_root_edits(view: &ext4_view::Ext4, r: &Report, machine: Machine) -> Result<Vec<RootEdit>> {
    let mut edits = Vec::new();
    if machine != Machine::Virt {
        return Ok(edits);
    }
    if let Some(text) = root_read(view, "/etc/fstab")? {
        let text = String::from_utf8_lossy(&text).into_owned();
        let mut out = String::new();
        let mut changed = Vec::new();
        for line in text.lines() {
            let spec = line.split_whitespace().next().unwrap_or("");
            if !line.trim_start().starts_with('#') && spec.starts_with("/dev/mmcblk0p") {
                let new = virt_device_spec(r, spec);
                if new != spec {
                    changed.push(format!("{spec} → {new}"));
                    out.push_str(&line.replacen(spec, &new, 1));
                    out.push('\n');
                    continue;
                }
            }
            out.push_str(line);
            out.push('\n');
        }
        if !changed.is_empty() {
            edits.push(RootEdit {
                path: "/etc/fstab",
                bytes: out.into_bytes(),
                note: format!("/etc/fstab: {}", changed.join(", ")),
            });
        }
    }
    if let Some(text) = root_read(view, "/etc/ld.so.preload")? {
        let text = String::from_utf8_lossy(&text).into_owned();
        let mut out = String::new();
        let mut changed = Vec::new();
        for line in text.lines() {
            let t = line.trim();
            if !t.starts_with('#') && is_pi_only_library(t) {
                changed.push(t.to_string());
                let _ = writeln!(out, "#{line}  # disabled by pivirt: Raspberry Pi only");
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        if !changed.is_empty() {
            edits.push(RootEdit {
                path: "/etc/ld.so.preload",
                bytes: out.into_bytes(),
                note: format!("/etc/ld.so.preload: commented out {}", changed.join(", ")),
            });
        }
    }
    Ok(edits)
}

/// Everything written into the copy's root filesystem, in one `debugfs -w` session (each
/// session ends with a flush of the whole image file), then read back once to check.
fn write_root(
    e2: &E2Target,
    modules: Option<(&str, &str, usize)>,
    edits: &[RootEdit],
) -> Result<()> {
    let mut script = String::new();
    if let Some((s, _, _)) = modules {
        script.push_str(s);
    }
    let mut hosts = Vec::new();
    for e in edits {
        let mut host = tempfile::NamedTempFile::new()?;
        host.write_all(&e.bytes)?;
        host.flush()?;
        let _ = writeln!(
            script,
            "rm {g}\nwrite {h} {g}\nsif {g} mode 0100644\nsif {g} uid 0\nsif {g} gid 0",
            g = quote(e.path),
            h = quote(&host.path().display().to_string()),
        );
        hosts.push(host);
    }
    if script.is_empty() {
        return Ok(());
    }
    e2.debugfs(&script)?;
    let view = e2.view()?;
    if let Some((_, dep, n)) = modules
        && n > 0
    {
        if root_read(&view, dep)?.is_none() {
            bail!("installing modules with debugfs failed: {dep} is missing afterwards");
        }
        let m = view
            .metadata(dep)
            .map_err(|e| anyhow!("{dep} in the copy: {e}"))?;
        if (m.uid(), m.gid()) != (0, 0) {
            bail!(
                "debugfs wrote {dep} owned by {}:{}, not root",
                m.uid(),
                m.gid()
            );
        }
    }
    for e in edits {
        if root_read(&view, e.path)?.as_deref() != Some(&e.bytes[..]) {
            bail!("debugfs did not write {} as asked", e.path);
        }
    }
    Ok(())
}

/// Libraries in `/etc/ld.so.preload` that only make sense on Pi hardware.
pub fn is_pi_only_library(line: &str) -> bool {
    ["libarmmem", "libcofi_rpi", "raspi", "rpi"]
        .iter()
        .any(|k| line.contains(k))
}

/// `ssh` and `userconf.txt` on the copy's boot partition.
fn fix_boot_files(disk: &Path, r: &Report, o: &ConvertOptions, rec: &mut Conversion) -> Result<()> {
    if !o.ssh && o.user.is_none() {
        return Ok(());
    }
    let boot = r
        .partitions
        .iter()
        .find(|p| p.number == r.boot_partition)
        .ok_or_else(|| anyhow!("no boot partition"))?;
    let mut f = OpenOptions::new().read(true).write(true).open(disk)?;
    let slice = Slice::new(&mut f, boot.start, boot.size);
    let fs = fatfs::FileSystem::new(slice, fatfs::FsOptions::new())?;
    {
        let root = fs.root_dir();
        if o.ssh {
            root.create_file("ssh")?.truncate()?;
            rec.fixups
                .push("boot partition: created 'ssh' (SSH server enabled on first boot)".into());
        }
        if let Some((name, pass)) = &o.user {
            let params =
                sha_crypt::Sha512Params::new(5000).map_err(|e| anyhow!("sha512crypt: {e:?}"))?;
            let hash = sha_crypt::sha512_simple(pass, &params)
                .map_err(|e| anyhow!("sha512crypt: {e:?}"))?;
            let mut file = root.create_file("userconf.txt")?;
            file.truncate()?;
            file.write_all(format!("{name}:{hash}\n").as_bytes())?;
            rec.fixups.push(format!(
                "boot partition: userconf.txt creates user '{name}' on first boot"
            ));
        }
    }
    fs.unmount()?;
    Ok(())
}

/// Parse `NAME:PASSWORD`.
pub fn parse_user(s: &str) -> Result<(String, String)> {
    let (n, p) = s
        .split_once(':')
        .ok_or_else(|| anyhow!("--user {s}: expected NAME:PASSWORD"))?;
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("--user: '{n}' is not a valid user name");
    }
    if p.is_empty() {
        bail!("--user {n}: empty password");
    }
    Ok((n.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_notes() {
        let n = kernel_series_note(&["6.1.21-v8+".into()], "6.1.0-50-arm64").unwrap();
        assert!(n.contains("both 6.1.x"), "{n}");
        let n = kernel_series_note(&["6.12.25+rpt-rpi-v8".into()], "6.1.0-50-arm64").unwrap();
        assert!(n.contains("series 6.1.x"), "{n}");
        assert!(kernel_series_note(&[], "6.1.0-50-arm64").is_none());
    }

    #[test]
    fn arm64_kernel_images() {
        use std::io::Write as _;
        let mut image = vec![0u8; 4096];
        image[56..60].copy_from_slice(b"ARM\x64");
        check_arm64_kernel(&image).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&image).unwrap();
        check_arm64_kernel(&gz.finish().unwrap()).unwrap();
        let e = check_arm64_kernel(&[0u8; 4096]).unwrap_err().to_string();
        assert!(e.contains("not an arm64"), "{e}");
        assert!(check_arm64_kernel(b"short").is_err());
        assert!(check_arm64_kernel(&[0x1f, 0x8b, 0, 0]).is_err());
    }

    #[test]
    fn users_and_libraries() {
        assert_eq!(
            parse_user("pi:raspberry").unwrap(),
            ("pi".into(), "raspberry".into())
        );
        assert!(parse_user("pi").is_err());
        assert!(parse_user("p i:x").is_err());
        assert!(is_pi_only_library(
            "/usr/lib/arm-linux-gnueabihf/libarmmem-${PLATFORM}.so"
        ));
        assert!(!is_pi_only_library("/usr/lib/libfoo.so"));
    }
}
