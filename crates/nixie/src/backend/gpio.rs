//! The real board: Linux GPIO character device (`/dev/gpiochip*`) through
//! `gpiocdev`.
//!
//! All lines are requested once, as outputs starting inactive, in a single
//! request owned by this process (lines listed as active-low are inverted
//! by the kernel, so the daemon only ever speaks of logical levels); the kernel releases them (and the lines
//! float back to their pull state) if the process dies. No sysfs, no
//! `/dev/mem`, so the daemon runs as an ordinary user in the `gpio` group.
//! Each [`Backend::write`] becomes one `GPIO_V2_LINE_SET_VALUES` ioctl
//! carrying only the lines that change.

use gpiocdev::line::{Value, Values};

use super::{Backend, BackendError};
use crate::board::{Levels, PinMap, Signal};

/// The lines to change to go from `old` to `new`: `(offset, active)` pairs in
/// [`Signal::ALL`] order. Signals without a pin (no HV enable wired) are
/// skipped.
pub fn changes(pins: &[(Signal, u32)], old: Levels, new: Levels) -> Vec<(u32, bool)> {
    pins.iter()
        .filter(|(s, _)| old.get(*s) != new.get(*s))
        .map(|&(s, p)| (p, new.get(s)))
        .collect()
}

/// The GPIO backend.
pub struct GpioBackend {
    request: gpiocdev::Request,
    pins: Vec<(Signal, u32)>,
    current: Levels,
}

impl std::fmt::Debug for GpioBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpioBackend")
            .field("pins", &self.pins)
            .field("current", &self.current)
            .finish()
    }
}

impl GpioBackend {
    /// Requests every pin of `map` on `chip` as an output, all inactive
    /// (anodes off, colon off, HV off, BCD 0000 until the first write).
    pub fn open(chip: &str, map: &PinMap) -> Result<GpioBackend, BackendError> {
        let pins = map.lines();
        let (low, high): (Vec<u32>, Vec<u32>) = pins
            .iter()
            .map(|&(_, p)| p)
            .partition(|p| map.active_low.contains(p));
        let mut builder = gpiocdev::Request::builder();
        builder.on_chip(chip).with_consumer("nixie");
        if !high.is_empty() {
            builder.with_lines(&high).as_output(Value::Inactive);
        }
        if !low.is_empty() {
            // Inactive = electrically high on an active-low line: off.
            builder
                .with_lines(&low)
                .as_active_low()
                .as_output(Value::Inactive);
        }
        let request = builder.request().map_err(|source| BackendError::Open {
            chip: chip.to_string(),
            source,
        })?;
        Ok(GpioBackend {
            request,
            pins,
            current: Levels(0),
        })
    }
}

impl Backend for GpioBackend {
    fn write(&mut self, _t_ns: u64, levels: Levels) -> Result<(), BackendError> {
        let ch = changes(&self.pins, self.current, levels);
        if ch.is_empty() {
            return Ok(());
        }
        let mut values = Values::default();
        for (offset, active) in ch {
            values.set(
                offset,
                if active {
                    Value::Active
                } else {
                    Value::Inactive
                },
            );
        }
        self.request
            .set_values(&values)
            .map_err(BackendError::Write)?;
        self.current = levels;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> PinMap {
        PinMap {
            bcd: [17, 27, 22, 23],
            anodes: [5, 6, 13, 19],
            colon: 26,
            hv_enable: Some(21),
            active_low: vec![5, 6, 13, 19],
        }
    }

    #[test]
    fn only_changed_lines_are_written() {
        let pins = map().lines();
        let old = Levels::all_off();
        let new = old.with_bcd(0b0110).with(Signal::Anode(2), true);
        // 15 = 1111 -> 0110: A and D go low; B and C stay high.
        assert_eq!(
            changes(&pins, old, new),
            vec![(17, false), (23, false), (13, true)]
        );
        assert!(changes(&pins, new, new).is_empty());
    }

    #[test]
    fn unwired_hv_enable_is_skipped() {
        let mut m = map();
        m.hv_enable = None;
        let pins = m.lines();
        let old = Levels(0);
        assert!(changes(&pins, old, old.with(Signal::HvEnable, true)).is_empty());
    }

    #[test]
    fn missing_chip_is_a_clear_error() {
        let e = GpioBackend::open("/dev/gpiochip-does-not-exist", &map()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/dev/gpiochip-does-not-exist"), "{msg}");
    }
}
