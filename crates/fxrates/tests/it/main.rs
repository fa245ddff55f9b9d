//! Integration tests of fxrates in one test binary (one link instead of one per file).

mod cli;
mod common;
mod http;
mod page_chromium;
mod props;
mod update;
