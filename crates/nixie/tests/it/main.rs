//! Integration tests of nixie in one test binary (one link instead of one per file).

mod cli;
mod common;
mod gpio_sim;
mod term_tmux;
mod time;
mod waveform;
