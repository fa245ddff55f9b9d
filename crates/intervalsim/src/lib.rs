//! `intervalsim`: a fast microarchitecture simulator for x86-64 built on the interval core
//! model (Eyerman et al., TOCS 2009; Genbrugge et al., HPCA 2010).
//!
//! Dynamic instructions come from an [`frontend::InstrStream`] (a ChampSim trace, our compact
//! trace format, or a built-in synthetic workload), flow through a core timing model
//! ([`core::interval`] or the detailed [`core::rob`] reference), which consults branch
//! prediction ([`bpred`]) and a memory hierarchy ([`memory`], [`dram`]), and leave statistics
//! and a CPI stack ([`stats`]).
//!
//! Key decisions, and why:
//! * **Speed first.** The interval model computes four timestamps per instruction in O(1)
//!   instead of simulating cycles; cache sets are flat `Vec<u64>` tag arrays indexed with
//!   power-of-two masks; predictor tables are flat arrays; the stream is read in batches into a
//!   reused buffer; the core is generic over the uncore and streams are called once per batch,
//!   so the per-instruction path has no allocation and no dynamic dispatch.
//! * **Boundaries for multi-core and live front ends.** Streams are a trait a trace, a generator
//!   or an emulator can implement; a core owns only its private levels and is stepped by
//!   instruction or cycle limits ([`core::Core::step`]); everything shared sits behind the
//!   [`memory::Uncore`] trait.
//! * **Determinism.** No global state, no wall-clock or thread dependence: the same
//!   configuration and input always give the same statistics.
//! * **Exact CPI stacks.** Components are counted in dispatch slots and always sum to
//!   `cycles × width`.
//!
//! * **Multi-core in quanta, deterministically.** [`multicore`] runs N cores with private
//!   caches, a coherent banked LLC ([`memory::coherence`]), DRAM controllers and a network
//!   ([`noc`]) in quanta of simulated time: cores run in parallel against their own state and
//!   a read-only snapshot of the shared state, logging shared-level requests, which are applied
//!   at each barrier in (time, core) order — so the results do not depend on host threads.
//!
//! Non-goals: functional execution (instructions are never executed; traces carry addresses
//! and outcomes), wrong-path simulation, and cycle-exact interleaving of cores within a quantum
//! (lax synchronisation, as Sniper does).
//!
//! ```
//! use intervalsim::{config::Config, frontend::synthetic::Workload, sim};
//! let cfg = Config::preset("gainestown").unwrap();
//! let mut stream = Workload::Alu.stream(1);
//! let limits = sim::Limits { warmup: 1000, instructions: 20_000 };
//! let stats = sim::run(&cfg, &mut stream, "alu", limits, |_| {}).unwrap();
//! // 4-wide, but gainestown has 3 ALUs: independent integer ops retire 3 per cycle
//! assert!((stats.core.ipc() - 3.0).abs() < 0.05);
//! assert_eq!(stats.core.cpi.total_slots(), stats.core.cycles * 4);
//! ```

#![deny(missing_docs)]

pub mod bpred;
pub mod config;
pub mod core;
pub mod dram;
pub mod frontend;
pub mod memory;
pub mod multicore;
pub mod noc;
pub mod sim;
pub mod stats;
pub mod sweep;
