//! The `gpio` backend against a real kernel GPIO character device: a Linux
//! kernel with the `gpio-sim` driver boots under QEMU (TCG, no KVM needed)
//! from an initramfs holding busybox, this test executable and the `nixie`
//! binary. Inside, [`inside_the_vm`] drives `/dev/gpiochip0` through the
//! library and reads every line back from gpio-sim's sysfs view, then the
//! daemon runs on the chip for a second.
//!
//! Needs `scripts/setup-nixie` (QEMU, busybox-static, and a gpio-sim module
//! built for a Debian 6.12 kernel, kept in `/var/cache/nixie-gpio-sim`).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use nixie::backend::Backend;
use nixie::backend::gpio::GpioBackend;
use nixie::board::{CathodeMap, Levels, PinMap, Signal};
use nixie::config::Config;
use nixie::mux::{Frame, FrameCell, MuxThread, Realtime, Timing};

const CACHE: &str = "/var/cache/nixie-gpio-sim";
const SETUP: &str = "run scripts/setup-nixie as root (QEMU, busybox-static and a gpio-sim \
                     kernel module; see the script)";
/// Printed by the guest's init when everything passed.
const PASSED: &str = "NIXIE-GPIO-SIM-PASSED";

/// The pin map used inside the VM: the shipped one, anodes active-low.
fn pins() -> PinMap {
    let mut map = Config::builtin().pin_map();
    map.active_low = map.anodes.to_vec();
    map
}

/// The electrical level of `line` as gpio-sim shows it.
fn sim_value(chip_dir: &Path, line: u32) -> bool {
    let p = chip_dir.join(format!("sim_gpio{line}/value"));
    match std::fs::read_to_string(&p) {
        Ok(v) => v.trim() == "1",
        Err(e) => panic!("{}: {e}", p.display()),
    }
}

/// Asserts that every wired line shows `levels` (inverted on active-low lines).
fn assert_lines(chip_dir: &Path, map: &PinMap, levels: Levels) {
    for (signal, line) in map.lines() {
        let want = levels.get(signal) != map.active_low.contains(&line);
        assert_eq!(
            sim_value(chip_dir, line),
            want,
            "line {line} ({signal:?}) after writing {levels:?}"
        );
    }
}

/// Runs inside the VM only (the host test below starts it there).
#[test]
#[ignore = "runs inside the QEMU guest started by gpio_backend_drives_a_kernel_gpio_chip"]
fn inside_the_vm() {
    let chip_dir = std::fs::read_dir("/sys/devices/platform")
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("gpio-sim."))
        .map(|e| e.path().join("gpiochip0"))
        .expect("no gpio-sim device in /sys/devices/platform");
    let map = pins();
    let mut gpio = GpioBackend::open("/dev/gpiochip0", &map).unwrap();
    // Requested as outputs, all inactive.
    assert_lines(&chip_dir, &map, Levels(0));
    // Every write is visible on the lines at once, only changed lines move.
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut seq = vec![
        Levels::all_off(),
        Levels::all_off().with_bcd(3).with(Signal::HvEnable, true),
        Levels::all_off()
            .with_bcd(3)
            .with(Signal::Anode(2), true)
            .with(Signal::Colon, true)
            .with(Signal::HvEnable, true),
    ];
    for _ in 0..200 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        seq.push(Levels((rng & 0x3ff) as u16));
    }
    for (i, &l) in seq.iter().enumerate() {
        gpio.write(i as u64, l).unwrap();
        assert_lines(&chip_dir, &map, l);
    }
    // The multiplexer thread on the chip; stopping it leaves everything off.
    let frame = Arc::new(FrameCell::new(Frame {
        digits: [Some(1), Some(2), Some(3), Some(4)],
        colon: true,
        brightness: 1.0,
        hv: true,
    }));
    let mux = MuxThread::spawn(
        Timing::default(),
        CathodeMap::default(),
        gpio,
        frame,
        Realtime::default(),
        0,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(mux.is_running());
    let gpio = mux.stop().unwrap();
    assert_lines(&chip_dir, &map, Levels::all_off());
    drop(gpio);
    println!("library checks passed");
}

/// Copies `file` and the shared libraries it loads (from `ldd`) into `root`
/// at the same paths.
fn install_with_libs(root: &Path, file: &Path, dest: &str) {
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    };
    copy(file, &root.join(dest));
    let out = Command::new("ldd")
        .arg(file)
        .output()
        .expect("ldd (libc-bin)");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(PathBuf::from);
        if let Some(p) = path {
            copy(&p, &root.join(p.strip_prefix("/").unwrap()));
        }
    }
}

fn need(what: &str) -> PathBuf {
    let p = Path::new(CACHE).join(what);
    assert!(p.exists(), "{} is missing: {SETUP}", p.display());
    p
}

#[test]
fn gpio_backend_drives_a_kernel_gpio_chip() {
    let vmlinuz = need("vmlinuz");
    let configfs = need("configfs.ko");
    let gpio_sim = need("gpio-sim.ko");
    for tool in ["qemu-system-x86_64", "busybox", "cpio", "gzip"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{tool} is missing: {SETUP}");
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for d in ["bin", "dev", "proc", "sys", "tmp", "mod"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let busybox = Command::new("sh")
        .args(["-c", "command -v busybox"])
        .output()
        .unwrap();
    let busybox = String::from_utf8_lossy(&busybox.stdout).trim().to_string();
    std::fs::copy(&busybox, root.join("bin/busybox")).unwrap();
    for applet in ["sh", "mount", "mkdir", "echo", "cat", "poweroff"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::copy(&configfs, root.join("mod/configfs.ko")).unwrap();
    std::fs::copy(&gpio_sim, root.join("mod/gpio-sim.ko")).unwrap();
    install_with_libs(&root, &std::env::current_exe().unwrap(), "gpio_sim_test");
    install_with_libs(&root, Path::new(env!("CARGO_BIN_EXE_nixie")), "nixie");
    std::fs::write(
        root.join("nixie.toml"),
        "timezone = \"UTC\"\n[pins]\nchip = \"/dev/gpiochip0\"\nactive_low = [5, 6, 13, 19]\n\
         [display]\nself_test = false\n",
    )
    .unwrap();
    let init = format!(
        r#"#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
/bin/busybox insmod /mod/configfs.ko
/bin/busybox insmod /mod/gpio-sim.ko
mount -t configfs none /sys/kernel/config
g=/sys/kernel/config/gpio-sim/nixie
mkdir $g $g/bank0
echo 32 > $g/bank0/num_lines
echo 1 > $g/live
/gpio_sim_test --ignored --exact gpio_sim::inside_the_vm --nocapture --test-threads=1
lib=$?
/nixie --config /nixie.toml --backend gpio --for 1s --report
cli=$?
echo "NIXIE-EXIT lib=$lib cli=$cli"
[ $lib = 0 ] && [ $cli = 0 ] && echo {PASSED}
poweroff -f
"#
    );
    std::fs::write(root.join("init"), init).unwrap();
    std::fs::set_permissions(
        root.join("init"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let initrd = dir.path().join("initrd.gz");
    let pack = Command::new("sh")
        .current_dir(&root)
        .arg("-c")
        .arg(format!(
            "find . | cpio -o -H newc 2>/dev/null | gzip -1 > {}",
            initrd.display()
        ))
        .status()
        .unwrap();
    assert!(pack.success(), "packing the initramfs failed");
    // TCG: the nested virtualisation of build hosts often cannot run KVM guests.
    let (code, console, err) = common::run(
        Command::new("timeout")
            .arg("150")
            .arg("qemu-system-x86_64")
            .args(["-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "384"])
            .args(["-nographic", "-no-reboot", "-kernel"])
            .arg(&vmlinuz)
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", "console=ttyS0 quiet panic=-1"]),
    );
    assert!(
        console.contains(PASSED),
        "guest did not pass (qemu exit {code:?}):\n{console}\n{err}"
    );
    common::assert_has_all(
        &console,
        &[
            "library checks passed",
            "test result: ok. 1 passed",
            "on the gpio backend, 100 Hz",
            "edge jitter    p50 ",
            "pin writes     p50 ",
        ],
    );
}
