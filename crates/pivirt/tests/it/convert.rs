//! `convert` without booting: qcow2 overlays, first-boot files on the boot partition, the
//! initramfs contents, and the errors a user meets.
use crate::common;

use std::process::Command;

use pivirt::convert::{GuestModules, convert};
use pivirt::elf::Arch;
use pivirt::image::PiImage;
use pivirt::machine::Machine;
use pivirt::mkimage::RootNaming;

#[test]
fn overlay_keeps_the_source_untouched_and_points_at_it() {
    common::need("qemu-img", "qemu-utils");
    let pi = common::pi_image(Arch::Arm64, 0x0f0f0f01, RootNaming::Partuuid);
    let mut o = pi.options(Machine::Virt);
    o.overlay = true;
    let f = convert(&o).unwrap();
    pi.assert_unchanged();
    assert_eq!(f.vm.disk_format, "qcow2");
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(pi.vm().join("disk.qcow2"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(
        v["backing-filename"].as_str().unwrap(),
        std::fs::canonicalize(&pi.img).unwrap().to_str().unwrap()
    );
    // run.sh and the unit were written and name the overlay.
    let run = std::fs::read_to_string(pi.vm().join("run.sh")).unwrap();
    assert!(run.contains("disk.qcow2,if=none,format=qcow2"));
    assert!(pi.vm().join("pivirt.service").exists());
}

#[test]
fn ssh_and_user_land_on_the_copy_boot_partition_and_initramfs_is_a_newc_cpio() {
    common::need("cpio", "cpio");
    let pi = common::pi_image(Arch::Armhf, 0x0f0f0f02, RootNaming::Partuuid);
    let mut o = pi.options(Machine::Virt);
    o.ssh = true;
    o.user = Some(("alice".into(), "s3cret".into()));
    o.guest_modules = GuestModules::Boot;
    let f = convert(&o).unwrap();
    pi.assert_unchanged();
    assert!(f.conversion.fixups.iter().any(|x| x.contains("'ssh'")));

    let mut copy = PiImage::open(&pi.vm().join("disk.img")).unwrap();
    assert!(copy.boot_file("ssh").unwrap().is_some());
    let uc = String::from_utf8(copy.boot_file("userconf.txt").unwrap().unwrap()).unwrap();
    assert!(uc.starts_with("alice:$6$"), "{uc}");
    let mut src = PiImage::open(&pi.img).unwrap();
    assert!(src.boot_file("ssh").unwrap().is_none());

    // The initramfs lists with GNU cpio and holds busybox, /init and the virtio modules.
    let sh = format!(
        "gzip -dc < '{}' | cpio -t --quiet",
        pi.vm().join("initrd.img").display()
    );
    let out = Command::new("sh").args(["-c", &sh]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    for want in [
        "init",
        "bin/busybox",
        "dev/console",
        "lib/modules/virtio_blk.ko",
        "lib/modules/ext4.ko",
        "etc/pivirt/modules",
    ] {
        assert!(
            list.lines().any(|l| l == want),
            "{want} missing from initramfs:\n{list}"
        );
    }
}

#[test]
fn clear_errors() {
    let bin = env!("CARGO_BIN_EXE_pivirt");
    let t = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(bin).args(args).output().unwrap();
        assert!(!o.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let junk = t.path().join("junk.img");
    std::fs::write(&junk, vec![0u8; 8192]).unwrap();
    let to = t.path().join("out");
    assert!(
        run(&[
            "convert",
            junk.to_str().unwrap(),
            "--to",
            to.to_str().unwrap()
        ])
        .contains("not a disk image")
    );
    assert!(
        run(&["convert", "/nonexistent.img", "--to", to.to_str().unwrap()])
            .contains("no such image file")
    );
    assert!(run(&["run", t.path().to_str().unwrap()]).contains("no pivirt.toml"));
    assert!(
        run(&[
            "convert",
            junk.to_str().unwrap(),
            "--to",
            "x",
            "--size",
            "3Q"
        ])
        .contains("unknown unit")
    );
    let e = run(&["net", "setup", "--bridge", "br0", "--tap", "bad name"]);
    assert!(e.contains("not a valid interface name"), "{e}");
    if unsafe { libc::geteuid() } != 0 {
        assert!(run(&["net", "setup"]).contains("needs root"));
    }
    let o = Command::new(bin)
        .args(["net", "setup", "--dry-run", "--uplink", "eth0"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("net.bridge.bridge-nf-call-iptables=0"));
}

#[test]
fn raspi3b_takes_kernel_dtb_and_initramfs_from_the_boot_partition() {
    let extra = vec![
        ("kernel8.img".to_string(), common::fake_arm64_kernel()),
        ("bcm2710-rpi-3-b.dtb".to_string(), b"pi dtb bytes".to_vec()),
        ("initramfs8".to_string(), b"pi initramfs bytes".to_vec()),
        (
            "config.txt".to_string(),
            b"arm_64bit=1\ninitramfs initramfs8 followkernel\n".to_vec(),
        ),
    ];
    let pi = common::pi_image_with(Arch::Arm64, 0x0f0f0f03, RootNaming::Device, extra);
    let f = convert(&pi.options(Machine::Raspi3b)).unwrap();
    pi.assert_unchanged();
    assert_eq!(f.vm.kernel, "kernel8.img");
    assert_eq!(f.vm.dtb.as_deref(), Some("bcm2710-rpi-3-b.dtb"));
    assert_eq!(f.vm.initrd.as_deref(), Some("initramfs8"));
    assert_eq!(
        std::fs::read(pi.vm().join("kernel8.img")).unwrap(),
        common::fake_arm64_kernel()
    );
    // The Pi's own device names stay: the SD card is mmcblk0 on this machine too.
    assert!(
        f.vm.cmdline.contains("root=/dev/mmcblk0p2"),
        "{}",
        f.vm.cmdline
    );
    assert!(f.vm.cmdline.starts_with("console=ttyAMA0,115200 "));
    let len = std::fs::metadata(pi.vm().join("disk.img")).unwrap().len();
    assert_eq!(len, 256 << 20);
    let run = std::fs::read_to_string(pi.vm().join("run.sh")).unwrap();
    assert!(run.contains("-M raspi3b") && run.contains("usb-net,netdev=net0"));
}

/// The upstream device tree name (as Debian ships it) is taken when the Pi firmware's is absent;
/// `auto_initramfs=1` names the initramfs after the kernel; a 32-bit kernel is refused by name.
#[test]
fn raspi3b_takes_the_upstream_dtb_name_and_refuses_a_32_bit_kernel() {
    let extra = vec![
        ("kernel8.img".to_string(), common::fake_arm64_kernel()),
        ("bcm2837-rpi-3-b.dtb".to_string(), b"upstream dtb".to_vec()),
        ("initramfs8".to_string(), b"pi initramfs bytes".to_vec()),
        (
            "config.txt".to_string(),
            b"arm_64bit=1\nauto_initramfs=1\n".to_vec(),
        ),
    ];
    let pi = common::pi_image_with(Arch::Arm64, 0x0f0f0f04, RootNaming::Device, extra);
    let f = convert(&pi.options(Machine::Raspi3b)).unwrap();
    pi.assert_unchanged();
    assert_eq!(f.vm.dtb.as_deref(), Some("bcm2837-rpi-3-b.dtb"));
    assert_eq!(f.vm.initrd.as_deref(), Some("initramfs8"));
    assert_eq!(
        std::fs::read(pi.vm().join("bcm2837-rpi-3-b.dtb")).unwrap(),
        b"upstream dtb"
    );

    let mut zimage = vec![0u8; 64];
    zimage[36..40].copy_from_slice(&0x016f2818u32.to_le_bytes());
    let extra = vec![
        ("kernel7.img".to_string(), zimage),
        ("bcm2710-rpi-3-b.dtb".to_string(), b"dtb".to_vec()),
        ("config.txt".to_string(), b"arm_64bit=0\n".to_vec()),
    ];
    let pi = common::pi_image_with(Arch::Armhf, 0x0f0f0f05, RootNaming::Device, extra);
    let e = format!("{:#}", convert(&pi.options(Machine::Raspi3b)).unwrap_err());
    assert!(e.contains("kernel7.img") && e.contains("32-bit"), "{e}");
    pi.assert_unchanged();
}

/// The default installs every module; a root filesystem without room for them is named with
/// what to do, before anything is written into it.
#[test]
fn default_modules_need_room_and_say_so() {
    let pi = common::pi_image(Arch::Arm64, 0x0f0f0f06, RootNaming::Partuuid);
    let mut o = pi.options(Machine::Virt);
    o.cpus = 1;
    let e = format!("{:#}", convert(&o).unwrap_err());
    assert!(
        e.contains("no room") && e.contains("--size") && e.contains("MiB free"),
        "{e}"
    );
    pi.assert_unchanged();
}
