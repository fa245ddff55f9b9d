//! Currency codes, their names, and the euro conversion table.
//!
//! Both tables live in `data/` as small CSV files compiled into the binary: `currencies.csv`
//! (every code fxrates accepts) and `euro-joins.csv` (the irrevocable rate and join day of each
//! currency replaced by the euro).

use crate::calendar::Day;
use std::fmt;

/// A currency code: three ASCII capital letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(pub [u8; 3]);

impl Code {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Invariant: always three ASCII capitals, hence valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Parses a code case-insensitively (`usd` and `USD` are the same); `None` unless it is
    /// exactly three ASCII letters.
    pub fn parse(text: &str) -> Option<Code> {
        let b = text.as_bytes();
        (b.len() == 3 && b.iter().all(u8::is_ascii_alphabetic)).then(|| {
            Code([
                b[0].to_ascii_uppercase(),
                b[1].to_ascii_uppercase(),
                b[2].to_ascii_uppercase(),
            ])
        })
    }

    /// Dense index 0..17576 of the code (base 26), for O(1) table lookups.
    pub fn slot(&self) -> usize {
        let [a, b, c] = self.0;
        (a - b'A') as usize * 676 + (b - b'A') as usize * 26 + (c - b'A') as usize
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A currency replaced by the euro: from `joined` on it converts at `rate` units per euro.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EuroJoin {
    /// The currency.
    pub code: Code,
    /// Irrevocable conversion rate, units per 1 EUR.
    pub rate: f64,
    /// First day the euro was legal tender in its country.
    pub joined: Day,
}

const NAMES_CSV: &str = include_str!("../data/currencies.csv");
const JOINS_CSV: &str = include_str!("../data/euro-joins.csv");

fn data_rows(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1)
        .map(|l| l.split(',').map(str::trim).collect())
}

/// Every known currency code with its English name, in file order.
pub fn names() -> Vec<(Code, &'static str)> {
    data_rows(NAMES_CSV)
        .filter_map(|f| Some((Code::parse(f.first()?)?, *f.get(1)?)))
        .collect()
}

/// The euro conversion table, in file order.
pub fn euro_joins() -> Vec<EuroJoin> {
    data_rows(JOINS_CSV)
        .filter_map(|f| {
            Some(EuroJoin {
                code: Code::parse(f.first()?)?,
                rate: f.get(1)?.parse().ok()?,
                joined: Day::parse(f.get(2)?).ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_parse_completely() {
        let names = names();
        let joins = euro_joins();
        let name_rows = data_rows(NAMES_CSV).count();
        let join_rows = data_rows(JOINS_CSV).count();
        assert_eq!(
            names.len(),
            name_rows,
            "a line of currencies.csv does not parse"
        );
        assert_eq!(
            joins.len(),
            join_rows,
            "a line of euro-joins.csv does not parse"
        );
        assert_eq!(joins.len(), 21);
        for j in &joins {
            assert!(
                names.iter().any(|(c, _)| *c == j.code),
                "{} has no name",
                j.code
            );
            assert!(j.rate > 0.0);
        }
        let dem = joins.iter().find(|j| j.code.as_str() == "DEM").unwrap();
        assert_eq!(
            (dem.rate, dem.joined.to_string().as_str()),
            (1.95583, "1999-01-01")
        );
    }

    #[test]
    fn codes_are_case_insensitive_letters() {
        assert_eq!(Code::parse("usd"), Code::parse("USD"));
        assert_eq!(Code::parse("uSd").unwrap().as_str(), "USD");
        for bad in ["US", "USDX", "U1D", "", "ÜSD", "US "] {
            assert_eq!(Code::parse(bad), None, "{bad}");
        }
        assert_eq!(Code::parse("AAA").unwrap().slot(), 0);
        assert_eq!(Code::parse("ZZZ").unwrap().slot(), 17575);
    }
}
