//! How numbers are printed.
//!
//! **The rule:** every rate and amount is rounded to [`SIGNIFICANT`] (10) significant digits and
//! then printed in the shortest plain decimal form that reads back as that rounded value (no
//! exponent, no trailing zeros).
//!
//! Why 10: the ECB publishes at most 7 significant digits (SIT and RUB at 7, most at 5), so
//! - a published rate prints exactly as the ECB printed it (`1.1789`, `136`, `20275.17`);
//! - a cross rate or converted amount reads back within a relative 5·10⁻¹⁰ of the computed
//!   value, a thousand times finer than the precision of the source figures, so nothing that the
//!   source determines is lost, and no float noise (`1.7894656952034055`) is shown as if it
//!   were information.

use std::fmt::{self, Write};

/// Significant digits kept when printing.
pub const SIGNIFICANT: usize = 10;

/// Rounds to [`SIGNIFICANT`] significant digits (the nearest `f64` to the rounded decimal).
///
/// ```
/// assert_eq!(fxrates::number::round(1.1789 / 0.6588), 1.789465695);
/// ```
pub fn round(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    fast_round(x).unwrap_or_else(|| exact_round(x))
}

/// Powers of ten that are exact in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// [`round`] by scaling: the same result as [`exact_round`], or `None` where it cannot be sure.
///
/// `|x|` is scaled by an exact power of ten so that its ten significant digits are the integer
/// part (one rounding, an error below 2·10⁻⁶ at that size), rounded to an integer `r`, and
/// scaled back with one correctly rounded operation on exact operands — which is the nearest
/// `f64` to the decimal `r·10ᵏ`, exactly what parsing the decimal gives. The integer chosen is
/// the one the exact decimal expansion rounds to unless the scaled value lies within 10⁻⁵ of a
/// half; those cases, and magnitudes without an exact power of ten, go the exact way.
fn fast_round(x: f64) -> Option<f64> {
    let a = x.abs();
    let k = SIGNIFICANT as i32 - 1 - a.log10().floor() as i32;
    let scaled = match k {
        0..=22 => a * POW10[k as usize],
        -22..=-1 => a / POW10[(-k) as usize],
        _ => return None,
    };
    // log10 may be one off right at a power of ten: then the digits are not where we want them.
    if !(1e9..1e10).contains(&scaled) || (scaled - scaled.floor() - 0.5).abs() < 1e-5 {
        return None;
    }
    let r = scaled.round();
    let back = if k >= 0 {
        r / POW10[k as usize]
    } else {
        r * POW10[(-k) as usize]
    };
    Some(back.copysign(x))
}

/// [`round`] through decimal text: format with ten significant digits and parse it back.
fn exact_round(x: f64) -> f64 {
    // `-1.234567890e-308` is at most 17 bytes; the buffer leaves ample room.
    let mut buf = StackText::<40>::new();
    if write!(buf, "{:.*e}", SIGNIFICANT - 1, x).is_err() {
        return x;
    }
    buf.as_str().parse().unwrap_or(x)
}

/// A fixed-capacity text buffer on the stack: formatting into it never allocates. A write that
/// does not fit fails (and leaves what fitted).
#[derive(Clone, Copy, Debug)]
pub struct StackText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    /// An empty buffer.
    pub fn new() -> Self {
        StackText {
            bytes: [0; N],
            len: 0,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever appended, so the bytes are valid UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> PartialEq for StackText<N> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes[..self.len] == other.bytes[..other.len]
    }
}

impl<const N: usize> Eq for StackText<N> {}

impl<const N: usize> Default for StackText<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > N {
            return Err(fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Prints `x` by the rule above.
///
/// ```
/// use fxrates::number::print;
/// assert_eq!(print(1.1789), "1.1789");
/// assert_eq!(print(1.0 / 1.1789), "0.8482483671");
/// assert_eq!(print(100.0), "100");
/// ```
pub fn print(x: f64) -> String {
    let mut s = String::with_capacity(24);
    let _ = write!(s, "{}", round(x));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_rounding_agrees_with_the_decimal_text() {
        // A deterministic spread over magnitudes 1e-30 … 1e30, plus values near ties and powers
        // of ten, where the scaling shortcut must defer to the exact path.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let mantissa = (next() >> 11) as f64 / (1u64 << 53) as f64 + 1.0;
            let exp = (next() % 200) as i32 - 100;
            let x = mantissa * 2f64.powi(exp) * if next() % 2 == 0 { 1.0 } else { -1.0 };
            assert_eq!(round(x).to_bits(), exact_round(x).to_bits(), "{x:e}");
        }
        for base in [
            1.0,
            1.5,
            2.25,
            9.999_999_999_5,
            1.000_000_000_5,
            1.234_567_890_5,
        ] {
            for e in -25..25 {
                for nudge in [-2i64, -1, 0, 1, 2] {
                    let x =
                        f64::from_bits((base * 10f64.powi(e)).to_bits().wrapping_add_signed(nudge));
                    assert_eq!(round(x).to_bits(), exact_round(x).to_bits(), "{x:e}");
                }
            }
        }
    }

    #[test]
    fn published_figures_print_unchanged() {
        for s in [
            "1.1789", "136", "20275.17", "0.58231", "239.64", "372274", "0.0001", "1936.27",
        ] {
            let v: f64 = s.parse().unwrap();
            assert_eq!(print(v), s);
        }
    }

    #[test]
    fn printed_values_read_back_within_half_a_unit_in_the_tenth_digit() {
        let mut x = 0.000_123_456_789_123_f64;
        while x < 1e12 {
            let back: f64 = print(x).parse().unwrap();
            assert!(
                ((back - x) / x).abs() <= 5e-10,
                "{x} printed as {}",
                print(x)
            );
            assert!(!print(x).contains('e'));
            x *= 1.37;
        }
    }
}
