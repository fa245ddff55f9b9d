//! Integration tests of top500 in one test binary (one link instead of one per file).

mod bad_input;
mod cli;
mod common;
mod golden;
mod round_trip;
mod shared_data;
mod svg_structure;
mod trend_dir;
