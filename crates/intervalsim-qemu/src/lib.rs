//! A QEMU TCG plugin that runs real x86-64 Linux programs under `qemu-x86_64` (user mode) and
//! feeds every executed instruction, thread by thread, to the intervalsim timing model.

#![deny(missing_docs)]

pub mod decode;
pub mod options;
pub mod record;
pub mod sync;
pub mod thread;
pub mod tracefile;
pub mod vcpu;

#[cfg(not(test))]
mod plugin;

/// Most guest threads alive at once (QEMU vCPU indices are below this).
pub const MAX_THREADS: usize = 1024;
