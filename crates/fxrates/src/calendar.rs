//! Calendar days as plain integers.
//!
//! A [`Day`] is the number of days since 1970-01-01 (proleptic Gregorian). Rates are looked up
//! by day number millions of times per second, so parsing and arithmetic here are hand-written,
//! allocation-free and strict: only `YYYY-MM-DD` with a real month and day is accepted.
//!
//! This module uses only `std` because the build script shares it to precompile the embedded
//! history.

use std::fmt;

/// A calendar day: days since 1970-01-01 in the proleptic Gregorian calendar.
///
/// Every `Day` built through [`Day::parse`] or [`Day::from_ymd`] names a real date between the
/// years 1 and 9999, so formatting it always gives a valid ISO date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i32);

/// Why a text is not a calendar date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateError {
    /// The text that was rejected (cut to 40 characters).
    pub text: String,
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed date '{}' (expected YYYY-MM-DD)", self.text)
    }
}

impl std::error::Error for DateError {}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Number of days in month `m` (1-12) of year `y`.
pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Day {
    /// The day for a year, month (1-12) and day of month, or `None` if no such date exists.
    ///
    /// ```
    /// use fxrates::calendar::Day;
    /// assert_eq!(Day::from_ymd(1970, 1, 1), Some(Day(0)));
    /// assert_eq!(Day::from_ymd(2023, 2, 29), None);
    /// ```
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Day> {
        if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        // Days from civil (H. Hinnant's algorithm), era-based so it is exact for all years.
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy as i32;
        Some(Day(era * 146_097 + doe - 719_468))
    }

    /// Year, month (1-12) and day of month.
    pub fn ymd(self) -> (i32, u32, u32) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        (if m <= 2 { y + 1 } else { y }, m, d)
    }

    /// Parses a strict ISO date `YYYY-MM-DD`.
    ///
    /// ```
    /// use fxrates::calendar::Day;
    /// let d = Day::parse("2001-02-03").unwrap();
    /// assert_eq!(d.to_string(), "2001-02-03");
    /// assert!(Day::parse("2001-2-3").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Day, DateError> {
        Self::parse_bytes(text.as_bytes()).ok_or_else(|| DateError {
            text: text.chars().take(40).collect(),
        })
    }

    fn parse_bytes(b: &[u8]) -> Option<Day> {
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |s: &[u8]| -> Option<u32> {
            s.iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        let y = num(&b[0..4])?;
        let m = num(&b[5..7])?;
        let d = num(&b[8..10])?;
        Day::from_ymd(y as i32, m, d)
    }

    /// The day as ISO `YYYY-MM-DD` bytes, formatted without allocating.
    ///
    /// ```
    /// let day = fxrates::Day::parse("2001-02-03").unwrap();
    /// assert_eq!(&day.iso(), b"2001-02-03");
    /// ```
    pub fn iso(self) -> [u8; 10] {
        let (y, m, d) = self.ymd();
        // Years outside 0..=9999 cannot come from `parse`/`from_ymd`; clamp so the text is
        // always ten ASCII bytes.
        let y = y.clamp(0, 9999) as u32;
        let digit = |v: u32| b'0' + (v % 10) as u8;
        [
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ]
    }

    /// Day of the week, 0 = Monday … 6 = Sunday.
    pub fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday (3).
        (self.0 + 3).rem_euclid(7) as u32
    }

    /// The day `n` days later (or earlier for negative `n`).
    pub fn offset(self, n: i32) -> Day {
        Day(self.0 + n)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        if !(0..=9999).contains(&y) {
            return write!(f, "{y:04}-{m:02}-{d:02}");
        }
        let text = self.iso();
        // `iso` writes ASCII only.
        f.write_str(std::str::from_utf8(&text).unwrap_or("0000-00-00"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_day_of_four_centuries() {
        let start = Day::from_ymd(1900, 1, 1).unwrap();
        let end = Day::from_ymd(2300, 12, 31).unwrap();
        for n in start.0..=end.0 {
            let day = Day(n);
            let (y, m, d) = day.ymd();
            assert_eq!(Day::from_ymd(y, m, d), Some(day));
        }
    }

    #[test]
    fn parses_only_real_iso_dates() {
        assert_eq!(Day::parse("1999-01-04").unwrap().to_string(), "1999-01-04");
        assert!(Day::parse("2000-02-29").is_ok());
        for bad in [
            "1900-02-29",
            "1999-13-01",
            "1999-00-10",
            "1999-01-32",
            "1999-1-04",
            "19990104",
            "1999-01-04 ",
            "",
            "+999-01-01",
            "0000-01-01",
        ] {
            assert!(Day::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(
            Day::parse("1999/01/04").unwrap_err().to_string(),
            "malformed date '1999/01/04' (expected YYYY-MM-DD)"
        );
    }

    #[test]
    fn knows_weekdays() {
        // 1999-01-04 was a Monday; 2026-10-31 a Saturday.
        assert_eq!(Day::parse("1999-01-04").unwrap().weekday(), 0);
        assert_eq!(Day::parse("2026-10-31").unwrap().weekday(), 5);
    }
}
