//! # fxrates — historical currency conversion on the ECB reference rates
//!
//! The job: answer "how much was 100 USD in EUR on 2001-02-03?" from the European Central
//! Bank's published reference rates, as a library, a CLI (`fxrates`) and a web service that
//! speaks both the original plain-text API (`/getrate/2001-02-03/USD/EUR`) and Frankfurter's
//! JSON API (`/2001-02-03?from=USD&to=EUR`). It works offline: the full history is embedded.
//!
//! ## Key decisions
//! - **Precompiled, dense table.** The build script turns `data/eurofxref-hist.zip` into a
//!   compact binary table ([`store`]) embedded in the binary; loading it is a copy and a validation
//!   pass (no CSV parse at start-up; the build verified its checksum). [`rates::Table`] keeps one `f64` column per currency indexed by
//!   publication day, plus a calendar-day → publication-day index, so a conversion is two array
//!   reads and a division — no hashing, no search, no allocation.
//! - **The original's date rule, never looking ahead.** A date uses its own publication day or
//!   the last one before it; every answer says which day it used.
//! - **The euro's irrevocable rates.** Currencies replaced by the euro (including the 1999 legacy
//!   codes the ECB never quoted) convert through their fixed rate from their join day
//!   (`data/euro-joins.csv`); other discontinued currencies stop at their last day, with an error
//!   naming it.
//! - **One pure request handler.** [`api::Service::handle`] maps a method, path, query and
//!   headers to a complete reply (status, headers, body). The HTTP server is a thin adapter over
//!   it, and the property tests and the fuzzer drive the very same function.
//! - **Atomic updates.** The updater builds a complete new table, persists it (temp file +
//!   rename), then swaps it in with one pointer store ([`arc_swap`]); readers never block and
//!   never see half an update.
//! - **Printing rule.** Numbers are rounded to 10 significant digits, see [`number`].
//!
//! ## Non-goals
//! Rates from sources other than the ECB; intraday or bid/ask rates; interpolation between
//! publication days; arbitrary-precision decimal arithmetic (the sources carry at most seven
//! significant digits, far inside an `f64`).
//!
//! ```
//! let table = fxrates::Table::embedded();
//! let q = table.convert(100.0, "USD", "EUR", Some(fxrates::Day::parse("2001-02-03")?))?;
//! assert_eq!(q.day.to_string(), "2001-02-02"); // 2001-02-03 was a Saturday
//! assert_eq!(fxrates::number::print(q.value), "106.3038163");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod api;
pub mod calendar;
pub mod currency;
pub mod number;
pub mod rates;
pub mod server;
pub mod store;
pub mod update;

pub use api::{Config, Service};
pub use calendar::Day;
pub use rates::{Quote, RateError, Table};
