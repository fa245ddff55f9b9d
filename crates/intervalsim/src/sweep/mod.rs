//! Design-space sweeps: many points (machine configuration × workload) from one TOML spec,
//! run locally or on a Slurm cluster, gathered into one table and a few pictures.
//!
//! Flow: a [`spec`] file is expanded into a [`spec::Plan`] — every configuration resolved and
//! validated up front, every point given a stable [`id`] (a hash of its resolved
//! configuration, workload and limits). An executor ([`local`] or [`slurm`]) runs the points whose result
//! file is missing; each point's result is written atomically by the [`store`], so a rerun
//! after a crash, a cancelled job or a changed grid runs only what is missing. [`table`]
//! gathers the finished points into CSV and JSON, [`report`] draws them.
//!
//! Decisions, and why:
//! * **The result directory is the only state.** No database or lock: a point is finished
//!   exactly when `points/<id>.json` exists, which works the same on a laptop and on a
//!   cluster's shared file system, and survives any interruption.
//! * **Ids from content, not position.** Reordering a grid, adding a value or a workload keeps
//!   the ids (and so the results) of every point that did not change.
//! * **Points run in-process** on worker threads: the simulator is deterministic and has no
//!   global state, so threads give the same numbers as separate processes, minus the start-up.
//!   A panic in one point is caught and reported as that point's failure.
//!
//! Non-goals: scheduling across several machines without a batch system, and statistics
//! across repeated runs (the simulator is deterministic; repeat with different seeds instead).

pub mod cli;
pub mod id;
pub mod local;
pub mod report;
pub mod run;
pub mod slurm;
pub mod spec;
pub mod store;
pub mod table;
