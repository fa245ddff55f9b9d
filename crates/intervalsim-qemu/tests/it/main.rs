//! Integration tests of intervalsim-qemu in one test binary (one link instead of one per file).

mod cli;
mod common;
mod count;
mod regions;
mod replay;
mod sim;
