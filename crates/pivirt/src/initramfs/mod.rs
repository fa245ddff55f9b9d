//! Building the initramfs on the host: a `newc` cpio archive, gzip-compressed, holding Debian's
//! static busybox for the guest architecture, the kernel modules the virtual machine needs
//! (dependencies first, decompressed), the list to load them in order, and the `/init` script.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::kernel::KernelTree;
use crate::kernel::modules::{ModInfo, read_module};

/// The `/init` shell script.
pub const INIT: &str = include_str!("init.sh");

/// A `newc` (SVR4, no CRC) cpio archive writer.
pub struct Cpio<W: Write> {
    out: W,
    ino: u32,
    written: u64,
}

/// Mode bits for cpio entries.
pub mod mode {
    /// Directory.
    pub const DIR: u32 = 0o040000;
    /// Regular file.
    pub const FILE: u32 = 0o100000;
    /// Symbolic link.
    pub const LINK: u32 = 0o120000;
    /// Character device.
    pub const CHR: u32 = 0o020000;
}

impl<W: Write> Cpio<W> {
    /// Start an archive.
    pub fn new(out: W) -> Self {
        Cpio {
            out,
            ino: 1,
            written: 0,
        }
    }

    fn header(
        &mut self,
        name: &str,
        mode: u32,
        size: usize,
        rdev: (u32, u32),
    ) -> std::io::Result<()> {
        let namesize = name.len() + 1;
        let h = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            if mode & 0o170000 == mode::DIR { 2 } else { 1 },
            0,
            size,
            0,
            0,
            rdev.0,
            rdev.1,
            namesize,
            0
        );
        self.ino += 1;
        self.put(h.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()
    }

    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..n])
    }

    /// A directory.
    pub fn dir(&mut self, name: &str) -> std::io::Result<()> {
        self.header(name, mode::DIR | 0o755, 0, (0, 0))
    }

    /// A regular file with permission bits `perm`.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> std::io::Result<()> {
        self.header(name, mode::FILE | perm, data.len(), (0, 0))?;
        self.put(data)?;
        self.pad()
    }

    /// A symbolic link.
    pub fn symlink(&mut self, name: &str, target: &str) -> std::io::Result<()> {
        self.header(name, mode::LINK | 0o777, target.len(), (0, 0))?;
        self.put(target.as_bytes())?;
        self.pad()
    }

    /// A character device node (no root needed: it is only bytes in the archive).
    pub fn chardev(&mut self, name: &str, major: u32, minor: u32) -> std::io::Result<()> {
        self.header(name, mode::CHR | 0o600, 0, (major, minor))
    }

    /// Write the trailer and return the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.header("TRAILER!!!", 0, 0, (0, 0))?;
        let n = (512 - (self.written % 512) as usize) % 512;
        self.put(&vec![0u8; n])?;
        Ok(self.out)
    }
}

/// What went into an initramfs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InitramfsInfo {
    /// Modules, in load order.
    pub modules: Vec<String>,
    /// Wanted drivers that are neither modules nor built in.
    pub missing: Vec<String>,
    /// Compressed size in bytes.
    pub size: u64,
}

/// Build a gzip-compressed initramfs at `out` for `kernel`, with `busybox` (a static binary
/// of the guest architecture) and the closure of the `wanted` drivers.
pub fn build(
    kernel: &KernelTree,
    busybox: &[u8],
    wanted: &[&str],
    out: &Path,
) -> Result<InitramfsInfo> {
    let (mods, missing) = kernel.index.closure(wanted);
    let tmp = out.with_extension("partial");
    let f = std::fs::File::create(&tmp)?;
    let gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::default());
    let mut c = Cpio::new(gz);
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "newroot",
        "etc",
        "etc/pivirt",
        "lib",
        "lib/modules",
    ] {
        c.dir(d)?;
    }
    c.chardev("dev/console", 5, 1)?;
    c.chardev("dev/null", 1, 3)?;
    c.file("bin/busybox", 0o755, busybox)?;
    c.symlink("bin/sh", "busybox")?;
    c.file("init", 0o755, INIT.as_bytes())?;
    let mut list = String::new();
    let mut names = Vec::new();
    for m in &mods {
        let rel = plain_name(m);
        let dest = format!("lib/modules/{rel}");
        let bytes = read_module(&kernel.modules_dir().join(&m.rel_path))?;
        c.file(&dest, 0o644, &bytes)?;
        list.push_str(&rel);
        list.push('\n');
        names.push(m.name.clone());
    }
    c.file("etc/pivirt/modules", 0o644, list.as_bytes())?;
    let gz = c.finish()?;
    let mut w = gz.finish()?;
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, out)?;
    Ok(InitramfsInfo {
        modules: names,
        missing,
        size: std::fs::metadata(out)?.len(),
    })
}

/// `kernel/fs/ext4/ext4.ko.xz` → `ext4.ko` (modules go in flat and decompressed, since busybox
/// `insmod` reads plain ELF).
fn plain_name(m: &ModInfo) -> String {
    format!(
        "{}.ko",
        m.rel_path
            .rsplit('/')
            .next()
            .unwrap_or(&m.rel_path)
            .split(".ko")
            .next()
            .unwrap_or(&m.name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_layout() {
        let mut c = Cpio::new(Vec::new());
        c.file("init", 0o755, b"abc").unwrap();
        let v = c.finish().unwrap();
        assert_eq!(&v[..6], b"070701");
        // header 110 + "init\0" 5 = 115 → pad to 116, then 3 data bytes + 1 pad.
        assert_eq!(&v[110..115], b"init\0");
        assert_eq!(&v[116..119], b"abc");
        assert_eq!(&v[120..126], b"070701");
        assert_eq!(v.len() % 512, 0);
        let size = u32::from_str_radix(std::str::from_utf8(&v[54..62]).unwrap(), 16).unwrap();
        assert_eq!(size, 3);
    }
}
