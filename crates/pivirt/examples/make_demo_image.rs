//! Rebuilds `data/demo-pi.img.xz`, the small image `pivirt inspect --demo` reads.
//!
//! Run: `cargo run -p pivirt --example make_demo_image` (needs e2fsprogs' `mke2fs`).

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use pivirt::mkimage::{ImageSpec, build};

/// A complete 132-byte AArch64 Linux executable that calls exit(0): ELF header, one program
/// header, three instructions. It gives the demo's `/bin/sh` a real ELF header to be read.
fn tiny_arm64_exit0() -> Vec<u8> {
    let mut e = vec![0u8; 64 + 56];
    e[..4].copy_from_slice(b"\x7fELF");
    e[4] = 2; // 64-bit
    e[5] = 1; // little endian
    e[6] = 1; // version
    e[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    e[20..24].copy_from_slice(&1u32.to_le_bytes());
    let base = 0x400000u64;
    e[24..32].copy_from_slice(&(base + 120).to_le_bytes()); // entry
    e[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
    e[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    e[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
    e[56..58].copy_from_slice(&1u16.to_le_bytes()); // phnum
    let p = 64;
    e[p..p + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e[p + 4..p + 8].copy_from_slice(&5u32.to_le_bytes()); // R+X
    e[p + 16..p + 24].copy_from_slice(&base.to_le_bytes());
    e[p + 24..p + 32].copy_from_slice(&base.to_le_bytes());
    e[p + 32..p + 40].copy_from_slice(&132u64.to_le_bytes());
    e[p + 40..p + 48].copy_from_slice(&132u64.to_le_bytes());
    e[p + 48..p + 56].copy_from_slice(&0x1000u64.to_le_bytes());
    for insn in [0xd280_0000u32, 0xd280_0ba8, 0xd400_0001] {
        // mov x0,#0; mov x8,#93 (exit); svc #0
        e.extend_from_slice(&insn.to_le_bytes());
    }
    e
}

fn main() -> Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("root");
    for d in [
        "bin",
        "etc",
        "lib/modules/6.1.21-v8+",
        "boot/firmware",
        "home/pi",
    ] {
        std::fs::create_dir_all(root.join(d))?;
    }
    std::fs::write(root.join("bin/busybox"), tiny_arm64_exit0())?;
    std::os::unix::fs::symlink("busybox", root.join("bin/sh"))?;
    std::fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"pivirt demo image (Raspberry Pi OS layout)\"\nNAME=\"pivirt demo\"\nVERSION_CODENAME=bookworm\nID=debian\n",
    )?;
    std::fs::write(
        root.join("etc/fstab"),
        "proc            /proc           proc    defaults          0       0\nPARTUUID=5eed1e55-01  /boot/firmware  vfat    defaults          0       2\n/dev/mmcblk0p2  /               ext4    defaults,noatime  0       1\n",
    )?;
    std::fs::write(
        root.join("etc/ld.so.preload"),
        "/usr/lib/aarch64-linux-gnu/libarmmem-${PLATFORM}.so\n",
    )?;
    std::fs::write(root.join("etc/hostname"), "raspberrypi\n")?;
    let spec = ImageSpec {
        disk_id: 0x5eed1e55,
        boot_mib: 16,
        root_mib: 8,
        boot_files: vec![
            ("config.txt".into(), b"# demo\narm_64bit=1\n[pi4]\narm_boost=1\n[all]\nenable_uart=1\n".to_vec()),
            ("cmdline.txt".into(), b"console=serial0,115200 console=tty1 root=PARTUUID=5eed1e55-02 rootfstype=ext4 fsck.repair=yes rootwait\n".to_vec()),
            ("ssh".into(), Vec::new()),
        ],
        root_dir: root,
        root_label: "rootfs".into(),
        root_uuid: "0e2b4a1c-59a4-4b4c-9c6e-1f0d5d1a7c21".into(),
    };
    let img = tmp.path().join("demo-pi.img");
    build(&spec, &img)?;
    let raw = std::fs::read(&img)?;
    let mut enc = xz2::write::XzEncoder::new(Vec::new(), 9);
    enc.write_all(&raw)?;
    let xz = enc.finish()?;
    std::fs::write(dir.join("demo-pi.img.xz"), &xz)?;
    eprintln!(
        "wrote data/demo-pi.img.xz: {} bytes from {} MiB",
        xz.len(),
        raw.len() >> 20
    );
    Ok(())
}
