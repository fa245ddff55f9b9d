//! Integration tests of intervalsim in one test binary (one link instead of one per file).

mod cli;
mod coherence;
mod common;
mod errors;
mod microbench;
mod multicore;
mod spawn;
mod sweep;
mod sweep_slurm;
mod validation;
