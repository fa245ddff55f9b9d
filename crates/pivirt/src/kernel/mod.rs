//! Debian kernel packages: fetching them ([`apt`]), reading them ([`deb`]) and their modules
//! ([`modules`]).

pub mod deb;
pub mod modules;
