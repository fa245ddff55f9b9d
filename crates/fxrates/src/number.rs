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
    let text = format!("{:.*e}", SIGNIFICANT - 1, x);
    text.parse().unwrap_or(x)
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
    format!("{}", round(x))
}

#[cfg(test)]
mod tests {
    use super::*;

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
