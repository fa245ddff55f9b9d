//! Shared helpers for the tests that need Debian packages and QEMU.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pivirt::convert::ConvertOptions;
use pivirt::elf::Arch;
use pivirt::kernel::apt::Cache;
use pivirt::machine::Machine;
use pivirt::mkimage::{RootNaming, busybox_image};

/// The package cache `scripts/setup-pivirt` fills (or `$PIVIRT_CACHE`).
pub fn cache() -> Cache {
    let dir = std::env::var_os("PIVIRT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/pivirt-test"));
    let c = Cache { dir };
    for (prefix, arch) in [
        ("busybox-static_", "armhf"),
        ("busybox-static_", "arm64"),
        ("linux-image-", "armhf"),
        ("linux-image-", "arm64"),
    ] {
        assert!(
            c.find(prefix, arch).is_some(),
            "no {prefix}*_{arch}.deb in {}: run scripts/setup-pivirt as root (it downloads the Debian packages the tests boot)",
            c.debs().display()
        );
    }
    c
}

/// Fail with the package to install when a program is missing.
pub fn need(program: &str, package: &str) {
    assert!(
        pivirt::tools::have(program),
        "{program} not found: install {package} (scripts/setup-pivirt installs it)"
    );
}

/// SHA-256 of a file (coreutils `sha256sum`).
pub fn sha256(p: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum (coreutils)");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A busybox test image in its own temporary directory, with the checksum it had when built.
pub struct PiImage {
    /// Holds the image and the machine directory `vm/`.
    pub dir: tempfile::TempDir,
    /// The image.
    pub img: PathBuf,
    /// Its SHA-256 right after it was built.
    pub sha256: String,
    /// The package cache it was built from.
    pub cache: Cache,
}

impl PiImage {
    /// The machine directory conversions write to.
    pub fn vm(&self) -> PathBuf {
        self.dir.path().join("vm")
    }

    /// Convert options for `machine` into [`Self::vm`], with the test cache and no progress bars.
    pub fn options(&self, machine: Machine) -> ConvertOptions {
        let mut o = ConvertOptions::new(self.img.clone(), self.vm(), machine);
        o.cache = self.cache.clone();
        o.quiet = true;
        o
    }

    /// Fail if the source image changed since it was built.
    pub fn assert_unchanged(&self) {
        assert_eq!(sha256(&self.img), self.sha256, "the source image changed");
    }
}

/// Build a busybox Pi image for `arch` with MBR disk id `disk_id`, root named as `naming` says.
pub fn pi_image(arch: Arch, disk_id: u32, naming: RootNaming) -> PiImage {
    pi_image_with(arch, disk_id, naming, Vec::new())
}

/// [`pi_image`] with extra boot-partition files.
pub fn pi_image_with(
    arch: Arch,
    disk_id: u32,
    naming: RootNaming,
    boot_extra: Vec<(String, Vec<u8>)>,
) -> PiImage {
    let cache = cache();
    let dir = tempfile::tempdir().expect("temporary directory");
    let img = dir.path().join("pi.img");
    busybox_image(&cache, arch, &img, disk_id, naming, boot_extra)
        .expect("building the test image");
    let sha256 = sha256(&img);
    PiImage {
        dir,
        img,
        sha256,
        cache,
    }
}

/// The Debian arm64 kernel package from the test cache, unpacked (once) into the cache.
pub fn debian_arm64_kernel(cache: &Cache) -> pivirt::kernel::KernelTree {
    let deb = cache
        .find("linux-image-", "arm64")
        .expect("an arm64 kernel package in the test cache");
    pivirt::kernel::unpack(&cache.dir, &deb).expect("unpacking the arm64 kernel package")
}

/// Boot-partition files that make a test image carry its own Pi kernel, as a Raspberry Pi OS
/// card does: Debian's arm64 kernel gzip-compressed as `kernel8.img` (the Pi firmware and QEMU
/// both load that), its Pi 3 B device tree under the Pi firmware's name
/// `bcm2710-rpi-3-b.dtb`, an `initramfs8` with the SD-card and USB-network drivers (Debian
/// builds them as modules where the Pi's kernel has them built in), and a `config.txt` with
/// `arm_64bit=1` and `auto_initramfs=1`. Returns the files and the kernel's release.
pub fn own_kernel_boot_files(cache: &Cache) -> (Vec<(String, Vec<u8>)>, String) {
    use std::io::Write;
    let tree = debian_arm64_kernel(cache);
    let image = std::fs::read(&tree.vmlinuz).expect("reading the kernel image");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&image).unwrap();
    let kernel8 = gz.finish().unwrap();
    let dtb = std::fs::read(
        tree.dtb("broadcom/bcm2837-rpi-3-b.dtb")
            .expect("the kernel package ships broadcom/bcm2837-rpi-3-b.dtb"),
    )
    .unwrap();
    let busybox =
        pivirt::kernel::deb::read_file(&cache.busybox_deb(Arch::Arm64).unwrap(), "bin/busybox")
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let initrd = dir.path().join("initramfs8");
    let mut wanted = pivirt::machine::RASPI3B_DRIVERS.to_vec();
    wanted.push("ext4");
    pivirt::initramfs::build(&tree, &busybox, &wanted, &initrd).expect("building initramfs8");
    let files = vec![
        ("kernel8.img".to_string(), kernel8),
        ("bcm2710-rpi-3-b.dtb".to_string(), dtb),
        ("initramfs8".to_string(), std::fs::read(&initrd).unwrap()),
        (
            "config.txt".to_string(),
            b"[all]\narm_64bit=1\nauto_initramfs=1\nenable_uart=1\n".to_vec(),
        ),
    ];
    (files, tree.version.clone())
}

/// 64 bytes that pass for an arm64 Linux `Image` header (magic `ARM\x64` at byte 56).
pub fn fake_arm64_kernel() -> Vec<u8> {
    let mut k = vec![0u8; 64];
    k[56..60].copy_from_slice(b"ARM\x64");
    k
}
