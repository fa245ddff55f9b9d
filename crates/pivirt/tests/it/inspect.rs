//! `pivirt inspect` on images built by the tests (MBR written here, FAT through fatfs, ext4 by
//! `mke2fs -d`), and on the bundled demo image through the binary.

use std::path::Path;
use std::process::Command;

use pivirt::image::{PiImage, inspect};
use pivirt::mkimage::{ImageSpec, build};

fn elf_header(machine: u16, flags: u32) -> Vec<u8> {
    let mut h = vec![0u8; 128];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = if machine == 183 { 2 } else { 1 };
    h[5] = 1;
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h[36..40].copy_from_slice(&flags.to_le_bytes());
    h
}

fn make(dir: &Path, machine: u16, flags: u32) -> std::path::PathBuf {
    let root = dir.join("root");
    for d in ["usr/bin", "etc", "lib/modules/6.1.0-rpi7-rpi-v7"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("usr/bin/dash"), elf_header(machine, flags)).unwrap();
    std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
    std::os::unix::fs::symlink("dash", root.join("usr/bin/sh")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"Raspbian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/fstab"),
        "PARTUUID=c0ffee00-01 /boot vfat defaults 0 2\n/dev/mmcblk0p2 / ext4 defaults,noatime 0 1\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/ld.so.preload"),
        "# comment\n/usr/lib/arm-linux-gnueabihf/libarmmem-${PLATFORM}.so\n",
    )
    .unwrap();
    let out = dir.join("pi.img");
    build(
        &ImageSpec {
            disk_id: 0xc0ffee00,
            boot_mib: 16,
            root_mib: 16,
            boot_files: vec![
                ("config.txt".into(), b"arm_64bit=0\n".to_vec()),
                (
                    "cmdline.txt".into(),
                    b"console=serial0,115200 root=/dev/mmcblk0p2 rootwait\n".to_vec(),
                ),
                ("kernel7.img".into(), vec![0u8; 100]),
                ("bcm2710-rpi-3-b.dtb".into(), vec![0u8; 10]),
                ("overlays/README".into(), b"x".to_vec()),
            ],
            root_dir: root,
            root_label: "rootfs".into(),
            root_uuid: "11111111-2222-3333-4444-555555555555".into(),
        },
        &out,
    )
    .expect("building a test image needs e2fsprogs (apt-get install e2fsprogs)");
    out
}

#[test]
fn inspects_a_32_bit_image_built_without_root() {
    let t = tempfile::tempdir().unwrap();
    let img = make(t.path(), 40, 0x0500_0400);
    let mut pi = PiImage::open(&img).unwrap();
    let r = inspect(&mut pi).unwrap();
    assert_eq!(r.partitions[1].partuuid, "c0ffee00-02");
    assert_eq!((r.boot_partition, r.root_partition), (1, 2));
    assert_eq!(r.arch, Some(pivirt::elf::Arch::Armhf));
    assert_eq!(r.arch_from.as_deref(), Some("/bin/sh"));
    assert_eq!(r.kernel_versions, ["6.1.0-rpi7-rpi-v7"]);
    assert_eq!(r.kernels, ["kernel7.img"]);
    assert_eq!(r.dtbs, ["bcm2710-rpi-3-b.dtb"]);
    assert_eq!(r.config.arm_64bit, Some(false));
    assert_eq!(r.fstab[1].spec, "/dev/mmcblk0p2");
    assert_eq!(
        r.ld_so_preload,
        ["/usr/lib/arm-linux-gnueabihf/libarmmem-${PLATFORM}.so"]
    );
    assert_eq!(r.root_uuid, "11111111-2222-3333-4444-555555555555");
    assert!(r.machines[0].ok && r.machines[0].note.contains("armmp-lpae"));
    // No kernel8.img: raspi3b cannot run it with the image's own kernel.
    assert!(!r.machines[1].ok);
}

#[test]
fn cli_inspect_json_and_errors() {
    let bin = env!("CARGO_BIN_EXE_pivirt");
    let out = Command::new(bin)
        .args(["inspect", "--demo", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["arch"], "arm64");
    assert_eq!(v["table"]["disk_id"], "5eed1e55");

    let t = tempfile::tempdir().unwrap();
    let junk = t.path().join("junk.img");
    std::fs::write(&junk, vec![1u8; 4096]).unwrap();
    let out = Command::new(bin)
        .args(["inspect", junk.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a disk image"), "{err}");
}

#[test]
fn missing_root_partition_and_unknown_architecture_are_named() {
    // A disk with only a FAT partition.
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("fat-only.img");
    {
        let mut f = std::fs::File::create(&p).unwrap();
        f.set_len(40 << 20).unwrap();
        pivirt::partition::write_mbr(
            &mut f,
            0xabcdef01,
            &[pivirt::partition::MbrSpec {
                kind: 0x0c,
                start_lba: 8192,
                sectors: 32 << 11,
            }],
        )
        .unwrap();
        let part = pivirt::partition::Slice::new(&mut f, 8192 * 512, 32 << 20);
        fatfs::format_volume(part, fatfs::FormatVolumeOptions::new()).unwrap();
    }
    let e = PiImage::open(&p).err().unwrap().to_string();
    assert!(e.contains("no ext2/3/4 root partition"), "{e}");

    // A root whose /bin/sh is a script: no ELF header to read the architecture from.
    let root = t.path().join("root");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(root.join("bin/sh"), "#!/bin/true\n").unwrap();
    let img = t.path().join("noarch.img");
    build(
        &ImageSpec {
            disk_id: 1,
            boot_mib: 16,
            root_mib: 8,
            boot_files: vec![],
            root_dir: root,
            root_label: "r".into(),
            root_uuid: "11111111-2222-3333-4444-555555555556".into(),
        },
        &img,
    )
    .unwrap();
    let r = inspect(&mut PiImage::open(&img).unwrap()).unwrap();
    assert_eq!(r.arch, None);
    assert!(!r.machines[0].ok);
    let o = pivirt::convert::ConvertOptions::new(
        img,
        t.path().join("out"),
        pivirt::machine::Machine::Virt,
    );
    let e = pivirt::convert::convert(&o).unwrap_err().to_string();
    assert!(e.contains("unknown architecture"), "{e}");
}
