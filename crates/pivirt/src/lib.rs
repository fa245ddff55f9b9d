//! pivirt moves a Raspberry Pi SD-card image into a QEMU virtual machine, from the host, without
//! root, never writing to the source image.
//!
//! Two targets:
//! * `virt` — fast: a Debian kernel (`armmp-lpae` for 32-bit images, `arm64` for 64-bit ones)
//!   with virtio disk and network. The initramfs is **built on the host**: a `newc` cpio with
//!   Debian's static busybox for the guest architecture, the module closure for virtio and the
//!   root filesystem (computed from each module's `.modinfo` ELF section, since the kernel
//!   package ships no `modules.dep`), and an `/init` that finds the root by PARTUUID (matching
//!   the MBR disk identifier and partition number under `/sys/block`), UUID, label or device.
//!   Every module of the kernel also goes into the copy's root filesystem, xz-compressed once
//!   per kernel package (a quarter of the bytes to write into each copy), so the running
//!   system can load any driver.
//! * `raspi3b` — faithful: the Pi's own kernel, device tree and initramfs from the boot
//!   partition, chosen from `config.txt` as the Pi firmware chooses them, the SD image grown
//!   to the power of two QEMU wants, USB networking.
//!
//! Key decisions:
//! * **Read without mounting.** Partition tables are parsed here ([`partition`]); the FAT boot
//!   partition is read with `fatfs` and the ext4 root with `ext4-view` over a partition window.
//! * **Write only to the copy**, and only with user-space tools: e2fsprogs' `debugfs -w` and
//!   `resize2fs` on `image?offset=N`, `fatfs` for the boot partition. No loop devices, no root.
//! * **Kernel packages from a private apt state** ([`kernel::apt`]): foreign-architecture indexes
//!   are fetched into pivirt's cache with its own sources list, so the host's apt configuration
//!   and dpkg architectures are never touched and no root is needed.
//!
//! Non-goals: emulating the Pi's GPU or GPIO, converting Pi 4/5-only images to `raspi4b`, and
//! running the guest's package manager to build anything.
#![deny(missing_docs)]

pub mod bench;
pub mod convert;
pub mod disk;
pub mod elf;
pub mod image;
pub mod initramfs;
pub mod kernel;
pub mod machine;
pub mod mkimage;
pub mod net;
pub mod partition;
pub mod run;
pub mod tools;
