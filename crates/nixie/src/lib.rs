//! The daemon of a Raspberry-Pi Nixie clock: four IN-12B tubes sharing one
//! K155ID1 BCD decoder, anodes multiplexed through TLP627 optocouplers, a
//! neon colon, time kept by the OS's NTP client, daylight saving automatic.
//!
//! # Design
//!
//! - **One timing-critical thread.** [`mux`] owns the output pins and does
//!   nothing but light one tube at a time on an absolute-time schedule
//!   (`clock_nanosleep(TIMER_ABSTIME)`, 1 ns timer slack, SCHED_FIFO and
//!   `mlockall` when permitted, optional CPU pinning). It wakes a margin
//!   before each anode edge and spins to it; the margin follows the host's
//!   recent wake-up lateness within a 2.5 % CPU budget. Its buffers are
//!   allocated and touched before it starts, so it never allocates or
//!   page-faults while running. The display logic publishes whole frames to
//!   it through one atomic word, so it never blocks on a lock.
//! - **Invariants by construction, checked on waveforms.** The slot sequence
//!   (anodes off → blank code → blank time → digit → anode on → off) makes
//!   "never two anodes on" and "BCD stable while lit" true by ordering; the
//!   blank is timed from the *actual* previous anode-off, and per-tube
//!   on-time debt keeps brightness equal. [`wave`] re-checks all of it on
//!   recorded runs.
//! - **Stateless display.** [`display`] maps (instant, NTP status, uptime)
//!   to digits with no memory between ticks, so NTP steps forward or back
//!   and DST changes cannot leave it stuck or skipping.
//! - **The simulated board is first-class.** Backends take complete
//!   [`board::Levels`] words; the [`backend::sim`] board records every edge
//!   and integrates light like an eye, the [`term`] view draws from that, and
//!   [`scope`] draws the waveform as an oscilloscope would.
//!
//! # Non-goals
//!
//! Keeping time (the OS's NTP client does), talking NTP, driving the
//! high-voltage supply beyond its enable pin, or supporting sysfs GPIO or
//! `/dev/mem` (the character device is the supported, unprivileged path).
//!
//! # Example
//!
//! Run two frames of the multiplexer on the simulated board, in virtual
//! time, and check the recorded waveform:
//!
//! ```
//! use std::sync::Arc;
//! use nixie::backend::sim::SimBackend;
//! use nixie::board::CathodeMap;
//! use nixie::mux::{Frame, FrameCell, Multiplexer, Timing, VirtualTimer};
//!
//! let (sim, probe) = SimBackend::new(1000);
//! let frame = Arc::new(FrameCell::new(Frame {
//!     digits: [Some(1), Some(2), Some(3), Some(4)],
//!     colon: true,
//!     brightness: 0.8,
//!     hv: true,
//! }));
//! let timing = Timing::default();
//! let mut mux = Multiplexer::new(timing, CathodeMap::default(), sim, VirtualTimer::exact(0), frame);
//! let origin = mux.next_slot_ns();
//! mux.run_frames(2)?;
//! let analysis = nixie::wave::analyse(&probe.recording(20_000_000), &timing, origin);
//! assert!(analysis.violations.is_empty());
//! assert!(analysis.blank.min >= 600_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod backend;
pub mod board;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod display;
pub mod mux;
pub mod scope;
pub mod term;
pub mod wave;
