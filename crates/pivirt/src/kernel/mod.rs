//! Debian kernel packages: fetching them ([`apt`]), reading them ([`deb`]) and their modules
//! ([`modules`]).

pub mod apt;
pub mod deb;
pub mod modules;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

use modules::ModuleIndex;

/// A kernel package unpacked into the cache: the image, modules and device trees.
#[derive(Debug, Clone)]
pub struct KernelTree {
    /// Where it was unpacked.
    pub root: PathBuf,
    /// Kernel release (`6.1.0-50-arm64`), the `/lib/modules` directory name.
    pub version: String,
    /// The compressed kernel image (`boot/vmlinuz-VERSION`).
    pub vmlinuz: PathBuf,
    /// Module metadata.
    pub index: ModuleIndex,
}

impl KernelTree {
    /// `lib/modules/VERSION` inside the unpacked tree.
    pub fn modules_dir(&self) -> &Path {
        &self.index.dir
    }

    /// A device tree shipped with the kernel (`broadcom/bcm2837-rpi-3-b.dtb`).
    pub fn dtb(&self, rel: &str) -> Option<PathBuf> {
        let p = self
            .root
            .join(format!("usr/lib/linux-image-{}", self.version))
            .join(rel);
        p.is_file().then_some(p)
    }
}

/// Unpack `deb` (a `linux-image-*` package) under `cache_dir/kernels/`, once; later calls reuse
/// it. Module metadata is read from every module's `.modinfo` on the first unpack and kept as
/// depmod-format text files beside the modules.
pub fn unpack(cache_dir: &Path, deb: &Path) -> Result<KernelTree> {
    let stem = deb
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| anyhow!("{}: not a .deb file name", deb.display()))?;
    let root = cache_dir.join("kernels").join(&stem);
    let done = root.join(".pivirt-complete");
    if !done.exists() {
        fs::create_dir_all(cache_dir.join("kernels"))
            .with_context(|| format!("cannot write the cache {}", cache_dir.display()))?;
        // One unpacker at a time per cache (parallel conversions share it); a finished unpack
        // is only read, so a read-only cache works once filled.
        let lock = fs::File::create(cache_dir.join("kernels/.lock"))?;
        let _guard = Flock::exclusive(&lock)?;
        if !done.exists() {
            unpack_into(cache_dir, deb, &stem, &root, &done)?;
        }
    }
    let (version, mdir) = locate(&root, deb)?;
    let index = ModuleIndex::load_text(&mdir)?;
    Ok(KernelTree {
        vmlinuz: root.join(format!("boot/vmlinuz-{version}")),
        root,
        version,
        index,
    })
}

fn unpack_into(cache_dir: &Path, deb: &Path, stem: &str, root: &Path, done: &Path) -> Result<()> {
    {
        let tmp = cache_dir.join("kernels").join(format!(".{stem}.partial"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        deb::extract(deb, &tmp, |p| {
            p.starts_with("boot/vmlinuz-")
                || p.starts_with("lib/modules/")
                || p.starts_with("usr/lib/modules/")
                || (p.starts_with("usr/lib/linux-image-") && p.ends_with(".dtb"))
        })?;
        let _ = fs::remove_dir_all(root);
        fs::rename(&tmp, root)?;
        let (_, mdir) = locate(root, deb)?;
        let idx = ModuleIndex::scan(&mdir)?;
        if idx.modules.is_empty() {
            return Err(anyhow!("{}: no kernel modules in package", deb.display()));
        }
        idx.write_text()?;
        fs::write(done, "")?;
    }
    Ok(())
}

fn locate(root: &Path, deb: &Path) -> Result<(String, PathBuf)> {
    let version = fs::read_dir(root.join("boot"))
        .with_context(|| {
            format!(
                "{}: no /boot in package: not a kernel image package",
                deb.display()
            )
        })?
        .filter_map(|e| e.ok())
        .find_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("vmlinuz-")
                .map(str::to_string)
        })
        .ok_or_else(|| {
            anyhow!(
                "{}: no boot/vmlinuz-*: not a kernel image package",
                deb.display()
            )
        })?;
    let mdir = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|d| root.join(d).join(&version))
        .find(|p| p.is_dir())
        .ok_or_else(|| anyhow!("{}: no lib/modules/{version}", deb.display()))?;
    Ok((version, mdir))
}

/// An exclusive `flock` held until dropped.
struct Flock<'a>(&'a fs::File);

impl<'a> Flock<'a> {
    fn exclusive(f: &'a fs::File) -> Result<Self> {
        use std::os::fd::AsRawFd;
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error()).context("locking the kernel cache");
        }
        Ok(Flock(f))
    }
}

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
