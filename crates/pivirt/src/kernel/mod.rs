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

impl KernelTree {
    /// The module tree pivirt installs into a guest's root filesystem: the package's own when
    /// its modules are compressed already, else an xz-compressed copy made once per package in
    /// the cache (`guest-modules/VERSION`, one `.ko.xz` per module with a CRC32 check and a
    /// 1 MiB dictionary, as the kernel's own build compresses modules, and a `modules.dep`
    /// naming them). kmod loads `.ko.xz` modules (Raspberry Pi OS ships its own that way);
    /// the copy is a quarter of the size, which is what `convert` then writes into every image.
    pub fn guest_modules_dir(&self) -> Result<PathBuf> {
        let compressed = self.index.modules.values().any(|m| {
            [".xz", ".zst", ".gz"]
                .iter()
                .any(|e| m.rel_path.ends_with(e))
        });
        if compressed {
            return Ok(self.modules_dir().to_path_buf());
        }
        let out = self.root.join("guest-modules").join(&self.version);
        let done = self.root.join(".pivirt-guest-modules-complete");
        if done.exists() {
            return Ok(out);
        }
        let kernels = self.root.parent().unwrap_or(&self.root);
        let lock = fs::File::create(kernels.join(".lock"))
            .with_context(|| format!("cannot write the cache {}", kernels.display()))?;
        let _guard = Flock::exclusive(&lock)?;
        if !done.exists() {
            let tmp = self.root.join(".guest-modules.partial");
            let _ = fs::remove_dir_all(&tmp);
            compress_tree(self.modules_dir(), &tmp.join(&self.version))?;
            let _ = fs::remove_dir_all(self.root.join("guest-modules"));
            fs::rename(&tmp, self.root.join("guest-modules"))?;
            fs::write(&done, "")?;
        }
        Ok(out)
    }
}

/// xz preset for guest modules: the fastest. Higher presets shrink 6.1 arm64's modules by a
/// few per cent more at several times the (one-off) compression time.
const MODULE_XZ_PRESET: u32 = 0;

/// Copy the module tree `src` to `dest` with every `.ko` xz-compressed and `modules.dep`
/// rewritten to name the `.ko.xz` files; other files are copied as they are.
fn compress_tree(src: &Path, dest: &Path) -> Result<()> {
    use rayon::prelude::*;
    let mut files = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))? {
            let e = e?;
            let t = e.file_type()?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                files.push(e.path());
            }
        }
    }
    files.par_iter().try_for_each(|f| -> Result<()> {
        let rel = f.strip_prefix(src).unwrap_or(f);
        let mut to = dest.join(rel);
        if let Some(p) = to.parent() {
            fs::create_dir_all(p)?;
        }
        let name = rel.to_string_lossy();
        if name.ends_with(".ko") {
            to.as_mut_os_string().push(".xz");
            let raw = fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
            fs::write(&to, xz_module(&raw)?)?;
        } else if name == "modules.dep" {
            fs::write(&to, dep_with_xz(&fs::read_to_string(f)?))?;
        } else {
            fs::copy(f, &to)?;
        }
        Ok(())
    })
}

/// xz-compress one module the way the kernel's build does (`--check=crc32`, 1 MiB dictionary:
/// what the kernel's own decompressor accepts when kmod hands it the compressed file).
fn xz_module(raw: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut opts = xz2::stream::LzmaOptions::new_preset(MODULE_XZ_PRESET)?;
    opts.dict_size(1 << 20);
    let mut filters = xz2::stream::Filters::new();
    filters.lzma2(&opts);
    let stream = xz2::stream::Stream::new_stream_encoder(&filters, xz2::stream::Check::Crc32)?;
    let mut w = xz2::write::XzEncoder::new_stream(Vec::with_capacity(raw.len() / 3), stream);
    w.write_all(raw)?;
    Ok(w.finish()?)
}

/// `a.ko: b.ko c.ko` → `a.ko.xz: b.ko.xz c.ko.xz`.
fn dep_with_xz(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.lines() {
        let mut first = true;
        for w in line.split_whitespace() {
            if !first {
                out.push(' ');
            }
            first = false;
            match w.strip_suffix(':') {
                Some(m) if m.ends_with(".ko") => {
                    out.push_str(m);
                    out.push_str(".xz:");
                }
                _ if w.ends_with(".ko") => {
                    out.push_str(w);
                    out.push_str(".xz");
                }
                _ => out.push_str(w),
            }
        }
        out.push('\n');
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_lines_name_compressed_modules() {
        assert_eq!(
            dep_with_xz("kernel/a.ko: kernel/b.ko kernel/c.ko\nkernel/d.ko:\n"),
            "kernel/a.ko.xz: kernel/b.ko.xz kernel/c.ko.xz\nkernel/d.ko.xz:\n"
        );
    }

    #[test]
    fn modules_compress_to_xz_with_crc32() {
        let raw: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let xz = xz_module(&raw).unwrap();
        assert!(xz.len() < raw.len() / 10);
        assert_eq!(&xz[..6], b"\xfd7zXZ\0");
        // Stream flags: check type 1 = CRC32.
        assert_eq!(xz[7], 1);
        let back = modules::read_module_bytes(&xz, "x.ko.xz").unwrap();
        assert_eq!(back, raw);
    }
}
