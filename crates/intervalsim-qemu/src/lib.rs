//! A QEMU TCG plugin that runs real x86-64 Linux programs under `qemu-x86_64` (user mode) and
//! feeds every executed instruction, thread by thread, to the intervalsim timing model.
//!
//! The shared object QEMU loads (`-plugin libintervalsim_qemu.so,mode=sim,...`) registers its
//! callbacks in [`plugin`](self) (private), decodes each translated block once ([`decode`]),
//! turns executed blocks and memory accesses into intervalsim instruction records per guest
//! thread ([`thread`]), adds synchronisation records for thread creation and exit and for futex
//! waits and wakes ([`futex`], [`vcpu`]), and queues them for intervalsim's multi-core engine,
//! which simulates guest thread *k* on core *k* on its own host thread ([`engine`]) — or, with
//! `cores=1`, steps one core per thread on the guest thread itself with a lax barrier
//! ([`sync`]). Trace files get the same streams ([`tracefile`]). At exit it writes the
//! `intervalsim::frontend::qemu::Report` the launcher reads back.
//!
//! Key decisions, and why:
//! * **Decode at translation, not at execution.** Every instruction is decoded once per distinct
//!   block (iced-x86) into a record template; executing a block costs one callback plus one per
//!   memory access, never one per instruction.
//! * **No closures, no locks on the hot path.** Callbacks get a pointer to shared immutable
//!   block info, or an instruction index, as user data; per-thread state sits in a table indexed
//!   by vCPU, touched only by its own thread. The shared LLC's mutex is taken only on L2 misses.
//! * **Branch outcomes from the next block.** QEMU reports a block before it runs, so a block's
//!   records are completed when the next one starts on the same thread.
//! * **Live = replay.** Guest threads only produce records; the multi-core engine is a pure
//!   function of the per-thread streams, so a live multi-threaded run and the replay of its
//!   recorded traces (`intervalsim run --cores N --thread-trace …`) give identical statistics,
//!   whatever the host did. Synchronisation records are written when a system call enters the
//!   kernel (a futex wait's sleep is predicted from the futex word), so the engine never waits
//!   for a thread asleep in the host, and a producer waits for the engine only while the engine
//!   is not itself waiting: no deadlock with QEMU's exclusive sections.
//!
//! Non-goals: full-system emulation, guests other than x86-64 Linux, QEMU plugin API versions
//! other than v1 (QEMU 6.0–8.x; Debian 12 ships 7.2), the detailed `rob` core model live (it
//! needs look-ahead; record and replay instead), reproducing the host's interleaving of threads
//! (a run is deterministic given its streams, not across runs).

#![deny(missing_docs)]

pub mod decode;
pub mod engine;
pub mod futex;
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
