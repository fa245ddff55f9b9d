//! TOP500 supercomputer lists by interconnect: read any export, classify every system, draw and compare.
//!
//! The job: take a TOP500 list in whatever form the TOP500 project exported it over the years — CSV,
//! Excel or XML — and answer the questions of the seed analysis: how efficient (Rmax / Rpeak) is each
//! system against its rank, which interconnect family does it use, does it carry an accelerator; then
//! compare two lists and follow the families over many.
//!
//! # Design
//!
//! * **One record type, units in the types.** Every format is normalised into [`System`]: Rmax and Rpeak
//!   are [`TFlops`] whatever the export used (GFlop/s until 2016, TFlop/s after), power is [`Kilowatts`].
//!   The conversion happens once, in the readers, so nothing downstream can mix units. A [`System`]
//!   always has a rank ≥ 1 and positive, finite Rmax and Rpeak — checked when it is built. Rmax above
//!   Rpeak is kept as published but flagged ([`System::rmax_exceeds_rpeak`]): the official 1996-06
//!   list has 27 NEC SX-4 systems so, and a reader must not reject the real data.
//! * **Formats by content, columns by name.** [`read::sniff`] decides CSV / Excel / XML from the bytes,
//!   never from the file name, and each reader refuses a file that is not a TOP500 list. Tabular readers
//!   find columns by header name because the column set changes from year to year.
//! * **Published and normalised side by side.** The interconnect and accelerator columns are kept as
//!   published; [`interconnect::normalise`] and [`accelerator::detect`] derive a normalised
//!   [`Family`] and an [`accelerator::Accelerator`] by documented rules that can be tested list by list.
//! * **Draw once.** Pictures are drawn with plotters as SVG; PNG is that SVG rasterised with the
//!   embedded DejaVu Sans ([`png`]), so both formats show the same thing on every machine.
//! * **Works with no files.** The two seed lists (2009-11 and 2010-06) are compiled in ([`seed`]).
//!
//! # Modules
//!
//! [`record`] (the types) · [`read`] (CSV, Excel, XML) · [`join`] (XML names onto CSV rows, one list per
//! date) · [`interconnect`] and [`accelerator`] (classification) · [`stats`] (per-family figures) ·
//! [`plot`] and [`png`] (the efficiency picture) · [`compare`] · [`trend`] · [`report`] (HTML) · [`seed`].
//!
//! # Non-goals
//!
//! No downloading of lists (give it files); no editing or writing of list files — sources are only
//! read; no guessing of interconnects for lists that do not publish them (the XML exports): those are
//! "Not published".
//!
//! # Example
//!
//! ```
//! let lists = top500::seed::lists()?;
//! let june_2010 = &lists[1];
//! let nebulae = june_2010.by_rank(2).unwrap();
//! assert_eq!(nebulae.name.as_deref(), Some("Nebulae"));
//! assert_eq!(nebulae.rmax().tflops(), 1271.0);
//! assert!(nebulae.is_gpgpu());
//! let svg = top500::plot::efficiency_svg(&lists, &top500::plot::PlotOptions::default())?;
//! assert!(svg.starts_with("<svg"));
//! # Ok::<(), top500::Error>(())
//! ```

#![deny(missing_docs)]

pub mod accelerator;
pub mod compare;
pub mod error;
pub mod interconnect;
pub mod join;
pub mod output;
pub mod plot;
pub mod png;
pub mod read;
pub mod record;
pub mod report;
pub mod seed;
pub mod stats;
pub mod trend;

pub use error::{Error, Result};
pub use interconnect::Family;
pub use record::{Format, Kilowatts, ListId, Source, System, TFlops, TopList};
