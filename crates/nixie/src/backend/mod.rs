//! Output backends: where the multiplexer's [`Levels`] words go.
//!
//! A backend receives complete board states and applies them; it never
//! decides *what* to show or *when*. That keeps the timing-critical logic in
//! one place ([`crate::mux`]) and lets the simulated board be exercised by
//! exactly the same code as the real one.

pub mod gpio;
pub mod sim;

use crate::board::Levels;

/// Errors a backend can report.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The GPIO character device could not be opened or configured.
    #[error("cannot open GPIO chip {chip}: {source}")]
    Open {
        /// Path of the chip, e.g. `/dev/gpiochip0`.
        chip: String,
        /// What the kernel said.
        source: gpiocdev::Error,
    },
    /// Setting line values failed.
    #[error("cannot set GPIO lines: {0}")]
    Write(gpiocdev::Error),
    /// The multiplexer thread ended abnormally.
    #[error("{0}")]
    Thread(String),
}

/// A sink for board states.
pub trait Backend: Send {
    /// Drives the board to `levels`. `t_ns` is the CLOCK_MONOTONIC time (or
    /// the virtual time in tests) at which the multiplexer issues the write;
    /// hardware backends ignore it, the simulator records it.
    ///
    /// Lines whose level does not change must not be touched, so the caller
    /// may write the same state twice at no cost.
    fn write(&mut self, t_ns: u64, levels: Levels) -> Result<(), BackendError>;
}

impl<B: Backend + ?Sized> Backend for Box<B> {
    fn write(&mut self, t_ns: u64, levels: Levels) -> Result<(), BackendError> {
        (**self).write(t_ns, levels)
    }
}
