//! The virtual machines pivirt targets, and the QEMU command line for each.
//!
//! The whole description of a converted machine lives in [`VmConfig`], written to
//! `DIR/pivirt.toml`; `run.sh`, the systemd unit and `pivirt run` all derive from it.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::elf::Arch;

/// QEMU machine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Machine {
    /// `-M virt`: Debian kernel, virtio disk and network (fast).
    Virt,
    /// `-M raspi3b`: the Pi's own kernel and device tree, SD card, USB network (faithful, slow).
    Raspi3b,
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Machine::Virt => "virt",
            Machine::Raspi3b => "raspi3b",
        })
    }
}

/// Modules the `virt` initramfs needs (module names or aliases; built-ins are skipped).
pub const VIRT_DRIVERS: &[&str] = &[
    "virtio_mmio",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "virtio_net",
    "virtio_rng",
    "virtio_console",
];

/// Modules a Debian arm64 kernel needs on `raspi3b`: the SD host, MMC block layer, DMA, and USB
/// networking through the DWC2 controller.
pub const RASPI3B_DRIVERS: &[&str] = &[
    "bcm2835_dma",
    "sdhci_iproc",
    "bcm2835",
    "mmc_block",
    "dwc2",
    "phy_generic",
    "usbnet",
    "cdc_ether",
    "rndis_host",
    "cdc_subset",
];

/// How the guest is networked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Net {
    /// QEMU user-mode networking with host port forwards (`host:guest`, TCP, on 127.0.0.1).
    User {
        /// `(host_port, guest_port)` pairs.
        forwards: Vec<(u16, u16)>,
    },
    /// A tap device, optionally attached to a bridge by `pivirt net setup`.
    Tap {
        /// Tap interface name.
        tap: String,
    },
}

/// A converted machine: everything needed to start it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VmConfig {
    /// Machine type.
    pub machine: Machine,
    /// Guest userland architecture.
    pub arch: Arch,
    /// Disk image file (relative to the directory).
    pub disk: String,
    /// `raw` or `qcow2`.
    pub disk_format: String,
    /// Kernel file (relative).
    pub kernel: String,
    /// Initramfs file (relative), if any.
    pub initrd: Option<String>,
    /// Device tree (relative), for `raspi3b`.
    pub dtb: Option<String>,
    /// Kernel command line.
    pub cmdline: String,
    /// Memory in MiB.
    pub memory_mib: u32,
    /// CPUs.
    pub cpus: u32,
    /// Network.
    pub net: Net,
}

impl VmConfig {
    /// The QEMU program for this machine.
    pub fn qemu_program(&self) -> &'static str {
        match (self.machine, self.arch) {
            (Machine::Virt, Arch::Armhf | Arch::Armel) => "qemu-system-arm",
            _ => "qemu-system-aarch64",
        }
    }

    /// QEMU arguments with paths resolved against `dir`; the console is on stdio.
    pub fn qemu_args(&self, dir: &Path) -> Vec<String> {
        let p = |f: &str| dir.join(f).display().to_string();
        let mut a: Vec<String> = Vec::new();
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
        match self.machine {
            Machine::Virt => {
                let cpu = match self.arch {
                    Arch::Arm64 => "cortex-a72",
                    _ => "cortex-a15",
                };
                let m = match self.arch {
                    Arch::Arm64 => "virt",
                    _ => "virt,highmem=off",
                };
                push(&["-M", m, "-cpu", cpu]);
                push(&[
                    "-smp",
                    &self.cpus.to_string(),
                    "-m",
                    &self.memory_mib.to_string(),
                ]);
                push(&[
                    "-drive",
                    &format!(
                        "file={},if=none,format={},id=hd0,cache=writeback",
                        p(&self.disk),
                        self.disk_format
                    ),
                    "-device",
                    "virtio-blk-device,drive=hd0",
                    "-device",
                    "virtio-rng-device",
                ]);
            }
            Machine::Raspi3b => {
                push(&["-M", "raspi3b", "-m", "1024"]);
                push(&[
                    "-drive",
                    &format!("file={},if=sd,format={}", p(&self.disk), self.disk_format),
                ]);
            }
        }
        push(&["-kernel", &p(&self.kernel)]);
        if let Some(i) = &self.initrd {
            push(&["-initrd", &p(i)]);
        }
        if let Some(d) = &self.dtb {
            push(&["-dtb", &p(d)]);
        }
        push(&["-append", &self.cmdline]);
        let netdev = match &self.net {
            Net::User { forwards } => {
                let mut s = "user,id=net0".to_string();
                for (h, g) in forwards {
                    s.push_str(&format!(",hostfwd=tcp:127.0.0.1:{h}-:{g}"));
                }
                s
            }
            Net::Tap { tap } => format!("tap,id=net0,ifname={tap},script=no,downscript=no"),
        };
        push(&["-netdev", &netdev]);
        match self.machine {
            Machine::Virt => push(&["-device", "virtio-net-device,netdev=net0"]),
            Machine::Raspi3b => push(&["-device", "usb-net,netdev=net0"]),
        }
        push(&["-nographic", "-no-reboot"]);
        a
    }

    /// Load `DIR/pivirt.toml`.
    pub fn load(dir: &Path) -> Result<Self> {
        let p = dir.join("pivirt.toml");
        let text = std::fs::read_to_string(&p).with_context(|| {
            format!(
                "{}: not a pivirt machine directory (no pivirt.toml)",
                dir.display()
            )
        })?;
        let doc: ConfigFile = toml::from_str(&text).with_context(|| format!("{}", p.display()))?;
        Ok(doc.vm)
    }
}

/// `pivirt.toml`: the machine plus the record of the conversion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigFile {
    /// How to run it.
    pub vm: VmConfig,
    /// What was done.
    pub conversion: Conversion,
}

/// The record of a conversion.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Conversion {
    /// Source image path.
    pub source: String,
    /// Source size in bytes.
    pub source_size: u64,
    /// How the disk was made (`reflink`, `sparse copy`, `qcow2 overlay`).
    pub disk_method: String,
    /// Kernel package used, if any.
    pub kernel_package: Option<String>,
    /// Kernel release.
    pub kernel_release: Option<String>,
    /// Modules in the initramfs.
    pub initramfs_modules: Vec<String>,
    /// Fix-ups applied to the copy, one line each.
    pub fixups: Vec<String>,
    /// Things worth knowing (kernel series differences, missing drivers).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Shell-quote one word.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `run.sh` script: the full QEMU command line, paths relative to the script.
pub fn run_script(vm: &VmConfig) -> String {
    let args = vm.qemu_args(Path::new("$DIR"));
    let mut s = String::from(
        "#!/bin/sh\n# Start the converted Raspberry Pi as a QEMU virtual machine (written by pivirt).\n# Serial console on this terminal; Ctrl-a x quits QEMU.\nDIR=$(cd \"$(dirname \"$0\")\" && pwd)\nexec ",
    );
    s.push_str(vm.qemu_program());
    for a in args {
        if a.starts_with('-') {
            s.push_str(" \\\n    ");
        } else {
            s.push(' ');
        }
        if a.contains("$DIR") {
            s.push('"');
            s.push_str(&a.replace('"', "\\\""));
            s.push('"');
        } else {
            s.push_str(&sh_quote(&a));
        }
    }
    s.push_str(" \"$@\"\n");
    s
}

/// A systemd unit that runs the machine in the background (serial console to the journal).
pub fn systemd_unit(dir: &Path, name: &str) -> String {
    format!(
        "[Unit]\nDescription=Raspberry Pi {name} under QEMU (pivirt)\nAfter=network-online.target\nWants=network-online.target\n\n[Service]\nType=simple\nExecStart={}/run.sh\nRestart=on-failure\nRestartSec=5\n\n[Install]\nWantedBy=multi-user.target\n",
        dir.display()
    )
}

/// Parse `--size` values like `16G`, `512M`, `4096` (bytes).
pub fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => bail!("--size {s}: unknown unit '{c}' (use K, M, G or T)"),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("--size {s}: not a number"))?;
    n.checked_mul(mul)
        .with_context(|| format!("--size {s}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(machine: Machine, arch: Arch) -> VmConfig {
        VmConfig {
            machine,
            arch,
            disk: "disk.img".into(),
            disk_format: "raw".into(),
            kernel: "vmlinuz".into(),
            initrd: Some("initrd.img".into()),
            dtb: None,
            cmdline: "console=ttyAMA0 root=PARTUUID=abcd-02 rootwait".into(),
            memory_mib: 1024,
            cpus: 2,
            net: Net::User {
                forwards: vec![(2222, 22)],
            },
        }
    }

    #[test]
    fn virt_command_lines() {
        let v = vm(Machine::Virt, Arch::Armhf);
        assert_eq!(v.qemu_program(), "qemu-system-arm");
        let a = v.qemu_args(Path::new("/m")).join(" ");
        assert!(a.contains("-cpu cortex-a15"), "{a}");
        assert!(a.contains("file=/m/disk.img,if=none,format=raw"));
        assert!(a.contains("hostfwd=tcp:127.0.0.1:2222-:22"));
        assert!(a.contains("virtio-net-device"));
        let r = vm(Machine::Raspi3b, Arch::Arm64);
        let a = r.qemu_args(Path::new("/m")).join(" ");
        assert!(a.contains("-M raspi3b") && a.contains("usb-net") && a.contains("if=sd"));
        let s = run_script(&v);
        assert!(s.contains("exec qemu-system-arm") && s.contains("\"$DIR/vmlinuz\""));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16G").unwrap(), 16 << 30);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("G").is_err());
    }

    #[test]
    fn config_round_trip() {
        let f = ConfigFile {
            vm: vm(Machine::Virt, Arch::Arm64),
            conversion: Conversion::default(),
        };
        let text = toml::to_string(&f).unwrap();
        let back: ConfigFile = toml::from_str(&text).unwrap();
        assert_eq!(back.vm, f.vm);
    }
}
