//! Boot tests under QEMU software emulation: images built here (Debian busybox-static
//! userland), converted by pivirt, booted; the guest's init prints `PIVIRT-*` facts on the
//! serial console and the test reads them. The four machines boot in parallel.
use crate::common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use pivirt::convert::{GuestModules, convert};
use pivirt::elf::Arch;
use pivirt::machine::Machine;
use pivirt::mkimage::RootNaming;
use pivirt::run::{Console, RunOptions, free_port};

const BOOT: Duration = Duration::from_secs(420);

/// No host port forwards: the guests boot in parallel and would all claim the SSH port.
fn no_forwards() -> RunOptions {
    RunOptions {
        forwards: Some(Vec::new()),
        ..Default::default()
    }
}

fn fact<'a>(log: &'a [String], key: &str) -> &'a str {
    log.iter()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} line in console log:\n{}", log.join("\n")))
}

#[test]
fn virt_arm64_boots_and_receives_data_over_the_network() {
    common::need("qemu-system-aarch64", "qemu-system-arm");
    let pi = common::pi_image(Arch::Arm64, 0x64646401, RootNaming::Device);
    let mut o = pi.options(Machine::Virt);
    // The default: every module of the kernel goes into the root filesystem (xz-compressed),
    // which needs more room than the test image's root has.
    assert_eq!(o.guest_modules, GuestModules::All);
    o.size = Some(256 << 20);
    // One vCPU per virt guest: three guests share two host cores during the suite.
    o.cpus = 1;
    let f = convert(&o).unwrap();
    pi.assert_unchanged();
    assert!(
        f.vm.cmdline.contains("root=PARTUUID=64646401-02"),
        "{}",
        f.vm.cmdline
    );

    let port = free_port().unwrap();
    let mut con = Console::start(
        &pi.vm(),
        &RunOptions {
            append: Some("pivirt.modprobe=bridge pivirt.sink=1 virtio_net.napi_tx=0".into()),
            forwards: Some(vec![(port, 5001)]),
            ..Default::default()
        },
    )
    .unwrap();
    con.wait_for("PIVIRT-LISTENING", BOOT).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let payload = 4u64 << 20;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(&vec![0x42u8; payload as usize]).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let _ = s.read_to_end(&mut rest);
    let got = con
        .wait_for("PIVIRT-RECEIVED", Duration::from_secs(120))
        .unwrap();
    assert_eq!(got.trim(), format!("PIVIRT-RECEIVED {payload}"));
    con.wait_for("PIVIRT-DONE", Duration::from_secs(60))
        .unwrap();
    let log = con.finish(Duration::from_secs(20)).unwrap();

    let release = f.conversion.kernel_release.as_deref().unwrap();
    assert_eq!(fact(&log, "PIVIRT-KERNEL"), format!("{release} aarch64"));
    assert!(fact(&log, "PIVIRT-ROOT").starts_with("/dev/vda2 / ext4"));
    let mods = fact(&log, "PIVIRT-MODULES");
    for m in [
        "virtio_blk",
        "virtio_mmio",
        "virtio_net",
        "ext4",
        "crc32c_generic",
    ] {
        assert!(
            mods.split_whitespace().any(|x| x == m),
            "{m} not loaded: {mods}"
        );
    }
    // The Pi device name in fstab was rewritten to the PARTUUID on the copy only.
    let fstab = fact(&log, "PIVIRT-FSTAB");
    assert!(fstab.contains("PARTUUID=64646401-02  /  ext4"), "{fstab}");
    assert!(!fstab.contains("mmcblk0p2"));
    assert!(fact(&log, "PIVIRT-PRELOAD").starts_with("#/usr/lib/aarch64-linux-gnu/libarmmem"));
    assert!(fact(&log, "PIVIRT-MODDIR").contains(f.conversion.kernel_release.as_deref().unwrap()));
    assert!(fact(&log, "PIVIRT-NET-UP").len() >= 17);
    // The running system loads a driver that is not in the initramfs from the root
    // filesystem: bridge.ko.xz after its dependencies stp and llc.
    let mp = fact(&log, "PIVIRT-MODPROBE");
    let words: Vec<&str> = mp.split_whitespace().collect();
    assert_eq!(&words[..2], ["bridge", "0"], "{mp}");
    for m in ["bridge", "stp", "llc"] {
        assert!(words[2..].contains(&m), "{m} not loaded: {mp}");
    }
    assert!(
        f.conversion
            .fixups
            .iter()
            .any(|x| x.contains("installed") && x.contains(release)),
        "{:?}",
        f.conversion.fixups
    );
    // The initramfs hands MODULE.PARAM= words of the command line to insmod.
    assert_eq!(fact(&log, "PIVIRT-NAPI-TX"), "N");
}

#[test]
fn virt_armhf_boots_with_armmp_lpae_after_growing_the_disk() {
    common::need("qemu-system-arm", "qemu-system-arm");
    let pi = common::pi_image(Arch::Armhf, 0x32323201, RootNaming::Partuuid);
    let mut o = pi.options(Machine::Virt);
    o.guest_modules = GuestModules::Boot;
    o.size = Some(256 << 20);
    o.cpus = 1;
    let f = convert(&o).unwrap();
    pi.assert_unchanged();
    assert_eq!(
        std::fs::metadata(pi.vm().join("disk.img")).unwrap().len(),
        256 << 20
    );
    assert!(f.vm.qemu_program() == "qemu-system-arm");

    let mut con = Console::start(&pi.vm(), &no_forwards()).unwrap();
    con.wait_for("PIVIRT-DONE", BOOT).unwrap();
    let log = con.finish(Duration::from_secs(20)).unwrap();
    let k = fact(&log, "PIVIRT-KERNEL");
    assert!(k.contains("armmp-lpae") && k.ends_with("armv7l"), "{k}");
    assert!(fact(&log, "PIVIRT-ROOT").starts_with("/dev/vda2 / ext4"));
    assert!(
        log.iter()
            .any(|l| l.contains("pivirt-initramfs: root PARTUUID=32323201-02 is /dev/vda2"))
    );
    // The grown filesystem: df sees about 160 MiB (root partition 256 - 36 MiB).
    let df = fact(&log, "PIVIRT-DF");
    let kib: u64 = df
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    assert!(kib > 180 * 1024, "root filesystem not grown: {df}");
}

/// raspi3b with no kernel from outside: the image's boot partition carries the kernel
/// (`kernel8.img`, Debian's arm64 kernel gzip-compressed), `bcm2710-rpi-3-b.dtb` and, through
/// `auto_initramfs=1`, `initramfs8`, as a Raspberry Pi OS card does.
#[test]
fn raspi3b_boots_the_images_own_kernel8_with_its_dtb_and_initramfs() {
    common::need("qemu-system-aarch64", "qemu-system-arm");
    let cache = common::cache();
    let (files, release) = common::own_kernel_boot_files(&cache);
    let pi = common::pi_image_with(Arch::Arm64, 0x33333301, RootNaming::Device, files);
    let mut o = pi.options(Machine::Raspi3b);
    o.guest_modules = GuestModules::Boot;
    let f = convert(&o).unwrap();
    pi.assert_unchanged();
    assert_eq!(f.vm.kernel, "kernel8.img");
    assert_eq!(f.vm.dtb.as_deref(), Some("bcm2710-rpi-3-b.dtb"));
    assert_eq!(f.vm.initrd.as_deref(), Some("initramfs8"));
    assert_eq!(
        f.conversion.kernel_package, None,
        "no Debian package was used"
    );
    let len = std::fs::metadata(pi.vm().join("disk.img")).unwrap().len();
    assert!(len.is_power_of_two(), "{len}");

    // The Pi 3 model has four cores; one host thread for all of them keeps the parallel
    // suite from oversubscribing two host cores.
    let mut con = Console::start(
        &pi.vm(),
        &RunOptions {
            qemu_extra: vec!["-accel".into(), "tcg,thread=single".into()],
            ..no_forwards()
        },
    )
    .unwrap();
    con.wait_for("PIVIRT-DONE", BOOT).unwrap();
    let log = con.finish(Duration::from_secs(1)).unwrap();
    // The kernel that ran is the one on the image's boot partition.
    assert_eq!(fact(&log, "PIVIRT-KERNEL"), format!("{release} aarch64"));
    assert!(fact(&log, "PIVIRT-ROOT").starts_with("/dev/mmcblk0p2 / ext4"));
    assert!(
        log.iter()
            .any(|l| l.contains("pivirt-initramfs: root /dev/mmcblk0p2")),
        "{}",
        log.join("\n")
    );
    let mods = fact(&log, "PIVIRT-MODULES");
    for m in ["sdhci_iproc", "dwc2", "cdc_ether"] {
        assert!(
            mods.split_whitespace().any(|x| x == m),
            "{m} not loaded: {mods}"
        );
    }
    // The USB network adapter came up as eth0.
    assert!(
        log.iter().any(|l| l.contains("eth0: register 'cdc_ether'")),
        "no usb-net eth0"
    );
}

#[test]
fn virt_finds_a_gpt_root_by_its_partuuid() {
    common::need("qemu-system-aarch64", "qemu-system-arm");
    let pi = common::pi_image(Arch::Arm64, 0x67707401, RootNaming::Device);
    // The same image with a GUID partition table instead of the MBR: kept as the source.
    pivirt::mkimage::mbr_to_gpt(&pi.img, 0x67707401).unwrap();
    let pi = common::PiImage {
        sha256: common::sha256(&pi.img),
        ..pi
    };
    let mut o = pi.options(Machine::Virt);
    o.guest_modules = GuestModules::Boot;
    o.cpus = 1;
    let f = convert(&o).unwrap();
    pi.assert_unchanged();
    let uuid = "67707401-0000-4000-8000-000000000002";
    assert!(
        f.vm.cmdline.contains(&format!("root=PARTUUID={uuid}")),
        "{}",
        f.vm.cmdline
    );
    let mut con = Console::start(&pi.vm(), &no_forwards()).unwrap();
    con.wait_for("PIVIRT-DONE", BOOT).unwrap();
    let log = con.finish(Duration::from_secs(20)).unwrap();
    assert!(
        log.iter().any(|l| l.contains(&format!(
            "pivirt-initramfs: root PARTUUID={uuid} is /dev/vda2"
        ))),
        "{}",
        log.join("\n")
    );
    assert!(fact(&log, "PIVIRT-ROOT").starts_with("/dev/vda2 / ext4"));
    assert!(fact(&log, "PIVIRT-FSTAB").contains(&format!("PARTUUID={uuid}  /  ext4")));
}
