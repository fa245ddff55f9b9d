//! Integration tests of pivirt in one test binary (one link instead of one per file).

mod boot;
mod common;
mod convert;
mod inspect;
