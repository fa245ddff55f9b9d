//! The rate table: lookups by currency and day.
//!
//! [`Table`] wraps a [`History`] with two dense indexes built once at load time:
//! - `day_index[d - first_day]` is the index of the last publication day on or before `d`
//!   (the original service's date rule: weekends and TARGET holidays take the previous
//!   publication day; nothing ever looks ahead);
//! - `slots[code.slot()]` maps a code (base 26) to its currency entry.
//!
//! A cross rate is `to_per_eur / from_per_eur` on the publication day used; EUR is 1 on every
//! day. A currency replaced by the euro converts at its irrevocable rate from its join day on.

use crate::calendar::Day;
use crate::currency::{self, Code, EuroJoin};
use crate::store::{History, StoreError};
use std::fmt;

/// What a currency is in the table.
#[derive(Clone, Debug)]
pub struct Currency {
    /// Its code.
    pub code: Code,
    /// English name.
    pub name: &'static str,
    /// Column in the history, if the ECB quoted it.
    column: Option<usize>,
    /// First and last publication-day index with a rate in the column.
    quoted: Option<(usize, usize)>,
    /// Euro conversion, if the euro replaced it.
    pub join: Option<EuroJoin>,
}

impl Currency {
    fn is_euro(&self) -> bool {
        &self.code.0 == b"EUR"
    }
}

/// A rate lookup that has no answer, with the reason a person can act on.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RateError {
    /// The code is not a currency this table knows.
    #[error("unknown currency '{0}'")]
    UnknownCurrency(String),
    /// The date is before the first publication day of the whole history.
    #[error("no rates before {first} (asked for {date})")]
    BeforeHistory {
        /// Asked-for date.
        date: Day,
        /// First publication day.
        first: Day,
    },
    /// The currency's first rate is later than the date.
    #[error("{code} has no rate before {first} (asked for {date})")]
    NotYetQuoted {
        /// The currency.
        code: Code,
        /// Asked-for date.
        date: Day,
        /// Its first rate.
        first: Day,
    },
    /// The currency was discontinued before the date.
    #[error("{code} was discontinued: its last rate is of {last} (asked for {date})")]
    Discontinued {
        /// The currency.
        code: Code,
        /// Asked-for date.
        date: Day,
        /// Its last published day.
        last: Day,
    },
    /// The ECB suspended the currency around the date.
    #[error("{code} has no rate on {date}: the ECB published none from {from} to {to}")]
    Suspended {
        /// The currency.
        code: Code,
        /// Asked-for date.
        date: Day,
        /// First day without a rate.
        from: Day,
        /// Last day without a rate.
        to: Day,
    },
    /// A range whose end is before its start.
    #[error("range reversed: {end} is before {start}")]
    RangeReversed {
        /// Start of the range.
        start: Day,
        /// End of the range.
        end: Day,
    },
    /// A range longer than the configured cap.
    #[error("range too long: {days} days from {start} to {end} (at most {max})")]
    RangeTooLong {
        /// Start of the range.
        start: Day,
        /// End of the range.
        end: Day,
        /// Its length in days.
        days: i64,
        /// The cap.
        max: u32,
    },
    /// No publication day with rates for both currencies lies in the range.
    #[error("no rate for {from}/{to} between {start} and {end}")]
    EmptyRange {
        /// Base currency.
        from: Code,
        /// Quote currency.
        to: Code,
        /// Start of the range.
        start: Day,
        /// End of the range.
        end: Day,
    },
}

/// A rate or converted amount and the publication day it comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quote {
    /// The publication day whose rates were used.
    pub day: Day,
    /// The value: units of the target currency (per unit, or for the amount asked).
    pub value: f64,
}

/// Index of a currency in a [`Table`] (valid only for the table that returned it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CurrencyId(u16);

const NO_SLOT: u16 = u16::MAX;

/// The loaded rate history with its lookup indexes. Immutable once built; updates build a new
/// table and swap it in whole.
pub struct Table {
    history: History,
    day_index: Vec<u32>,
    currencies: Vec<Currency>,
    slots: Box<[u16]>,
    version: u64,
    modified: i64,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("first", &self.first_day())
            .field("last", &self.last_day())
            .field("currencies", &self.currencies.len())
            .field("version", &format_args!("{:016x}", self.version))
            .finish()
    }
}

static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ecb-hist.fxr"));

/// 16:00 in Frankfurt (15:00 UTC in winter), the hour the ECB publishes, as seconds in the day.
const PUBLICATION_SECONDS: i64 = 15 * 3600;

impl Table {
    /// The ECB history embedded at build time (1999-01-04 … 2026-10-30).
    ///
    /// ```
    /// let table = fxrates::Table::embedded();
    /// let q = table.rate("USD", "EUR", Some(fxrates::Day::parse("2001-02-03").unwrap())).unwrap();
    /// assert_eq!(q.day.to_string(), "2001-02-02");
    /// assert_eq!(fxrates::number::print(q.value), "1.063038163");
    /// ```
    pub fn embedded() -> Table {
        // The build script wrote this exact file with its checksum, so it is not hashed again
        // here (that pass was most of the load time); its layout and rates are still checked.
        // The test `embedded_table_checksum_holds` verifies the checksum. Failing here means a
        // broken build.
        let history = History::decode_trusted(EMBEDDED).expect("embedded table is valid");
        Table::build(history, Self::version_of(EMBEDDED), None).expect("embedded table is valid")
    }

    /// Content version of an encoded table: its stored checksum (a hash of every day, code and
    /// rate), mixed with the program version.
    fn version_of(bytes: &[u8]) -> u64 {
        crate::store::History::stored_checksum(bytes).unwrap_or(0)
            ^ crate::store::fnv1a(env!("CARGO_PKG_VERSION").as_bytes())
    }

    /// The embedded table's encoded bytes.
    pub fn embedded_bytes() -> &'static [u8] {
        EMBEDDED
    }

    /// Decodes a stored table (`.fxr`). `modified` (Unix seconds) defaults to the last
    /// publication day at the ECB's publication hour.
    pub fn from_bytes(bytes: &[u8], modified: Option<i64>) -> Result<Table, StoreError> {
        let history = History::decode(bytes)?;
        Table::build(history, Self::version_of(bytes), modified)
    }

    /// Builds a table from a history (validated here), computing its version from its contents.
    pub fn from_history(history: History, modified: Option<i64>) -> Result<Table, StoreError> {
        history.validate()?;
        let version = Self::version_of(&history.encode());
        Table::build(history, version, modified)
    }

    fn build(history: History, version: u64, modified: Option<i64>) -> Result<Table, StoreError> {
        let names = currency::names();
        let joins = currency::euro_joins();
        let mut currencies = Vec::new();
        for (k, raw) in history.codes.iter().enumerate() {
            let code = Code(*raw);
            let name = names
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, n)| *n)
                .ok_or_else(|| StoreError {
                    place: format!("code {code}"),
                    reason: "unknown currency code (not in data/currencies.csv)".into(),
                })?;
            if &code.0 == b"EUR" {
                return Err(StoreError {
                    place: "code EUR".into(),
                    reason: "EUR is the base and cannot be a column".into(),
                });
            }
            let col = &history.columns[k];
            let first = col.iter().position(|v| !v.is_nan());
            let last = col.iter().rposition(|v| !v.is_nan());
            currencies.push(Currency {
                code,
                name,
                column: Some(k),
                quoted: first.zip(last),
                join: joins.iter().find(|j| j.code == code).copied(),
            });
        }
        for (code, name) in &names {
            let join = joins.iter().find(|j| j.code == *code).copied();
            let is_euro = &code.0 == b"EUR";
            if (join.is_some() || is_euro) && !currencies.iter().any(|c| c.code == *code) {
                currencies.push(Currency {
                    code: *code,
                    name,
                    column: None,
                    quoted: None,
                    join,
                });
            }
        }
        currencies.sort_by_key(|c| c.code);
        let mut slots = vec![NO_SLOT; 26 * 26 * 26].into_boxed_slice();
        for (i, c) in currencies.iter().enumerate() {
            slots[c.code.slot()] = i as u16;
        }
        let first = history.days[0];
        let last = history.days[history.days.len() - 1];
        let mut day_index = Vec::with_capacity((last.0 - first.0 + 1) as usize);
        let mut i = 0usize;
        for d in first.0..=last.0 {
            while i + 1 < history.days.len() && history.days[i + 1].0 <= d {
                i += 1;
            }
            day_index.push(i as u32);
        }
        let modified = modified.unwrap_or(i64::from(last.0) * 86_400 + PUBLICATION_SECONDS);
        Ok(Table {
            history,
            day_index,
            currencies,
            slots,
            version,
            modified,
        })
    }

    /// The underlying history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// First publication day.
    pub fn first_day(&self) -> Day {
        self.history.days[0]
    }

    /// Last publication day (the "latest" rates).
    pub fn last_day(&self) -> Day {
        self.history.days[self.history.days.len() - 1]
    }

    /// Content version: changes whenever any rate (or the program version) changes.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When this data last changed, Unix seconds.
    pub fn modified(&self) -> i64 {
        self.modified
    }

    /// Every currency, sorted by code.
    pub fn currencies(&self) -> &[Currency] {
        &self.currencies
    }

    /// Looks up a code (case-insensitive).
    #[inline]
    pub fn currency(&self, text: &str) -> Result<CurrencyId, RateError> {
        let unknown = || RateError::UnknownCurrency(text.chars().take(16).collect());
        let code = Code::parse(text).ok_or_else(unknown)?;
        self.currency_of(code).ok_or_else(unknown)
    }

    /// Looks up a parsed code.
    #[inline]
    pub fn currency_of(&self, code: Code) -> Option<CurrencyId> {
        let s = self.slots[code.slot()];
        (s != NO_SLOT).then_some(CurrencyId(s))
    }

    /// The entry for an id.
    pub fn info(&self, id: CurrencyId) -> &Currency {
        &self.currencies[id.0 as usize]
    }

    /// Index of the publication day used for `date`: that day, or the last one before it.
    #[inline]
    pub fn publication(&self, date: Day) -> Result<usize, RateError> {
        let first = self.first_day();
        if date < first {
            return Err(RateError::BeforeHistory { date, first });
        }
        Ok(match self.day_index.get((date.0 - first.0) as usize) {
            Some(&i) => i as usize,
            None => self.history.days.len() - 1,
        })
    }

    /// Units of `id` per 1 EUR on publication day `i`; `date` is only for the error message.
    #[inline]
    pub fn eur_rate(&self, id: CurrencyId, i: usize, date: Day) -> Result<f64, RateError> {
        let c = &self.currencies[id.0 as usize];
        let day = self.history.days[i];
        if let Some(j) = c.join
            && day >= j.joined
        {
            return Ok(j.rate);
        }
        if let Some(col) = c.column {
            let v = self.history.columns[col][i];
            if !v.is_nan() {
                return Ok(v);
            }
        }
        if c.is_euro() {
            return Ok(1.0);
        }
        Err(self.missing(c, i, date))
    }

    #[cold]
    fn missing(&self, c: &Currency, i: usize, date: Day) -> RateError {
        let days = &self.history.days;
        let code = c.code;
        match (c.column, c.quoted) {
            (Some(col), Some((first, last))) => {
                if i < first {
                    RateError::NotYetQuoted {
                        code,
                        date,
                        first: days[first],
                    }
                } else if i > last {
                    RateError::Discontinued {
                        code,
                        date,
                        last: days[last],
                    }
                } else {
                    let column = &self.history.columns[col];
                    let from = (0..i)
                        .rev()
                        .find(|&k| !column[k].is_nan())
                        .map_or(first, |k| k + 1);
                    let to = (i..days.len())
                        .find(|&k| !column[k].is_nan())
                        .map_or(last, |k| k - 1);
                    RateError::Suspended {
                        code,
                        date,
                        from: days[from],
                        to: days[to],
                    }
                }
            }
            _ => match c.join {
                Some(j) => RateError::NotYetQuoted {
                    code,
                    date,
                    first: j.joined,
                },
                None => RateError::UnknownCurrency(code.to_string()),
            },
        }
    }

    /// Units of `to` per 1 unit of `from` on publication day `i`.
    #[inline]
    pub fn cross(
        &self,
        from: CurrencyId,
        to: CurrencyId,
        i: usize,
        date: Day,
    ) -> Result<f64, RateError> {
        let f = self.eur_rate(from, i, date)?;
        let t = self.eur_rate(to, i, date)?;
        Ok(t / f)
    }

    /// The rate `from`→`to` on `date` (default: the latest publication day).
    pub fn rate(&self, from: &str, to: &str, date: Option<Day>) -> Result<Quote, RateError> {
        self.convert(1.0, from, to, date)
    }

    /// Converts `amount` of `from` into `to` on `date` (default: latest).
    pub fn convert(
        &self,
        amount: f64,
        from: &str,
        to: &str,
        date: Option<Day>,
    ) -> Result<Quote, RateError> {
        let from = self.currency(from)?;
        let to = self.currency(to)?;
        self.convert_ids(amount, from, to, date)
    }

    /// [`Table::convert`] on looked-up currencies: the hot path.
    #[inline]
    pub fn convert_ids(
        &self,
        amount: f64,
        from: CurrencyId,
        to: CurrencyId,
        date: Option<Day>,
    ) -> Result<Quote, RateError> {
        let date = date.unwrap_or_else(|| self.last_day());
        let i = self.publication(date)?;
        let rate = self.cross(from, to, i, date)?;
        Ok(Quote {
            day: self.history.days[i],
            value: amount * rate,
        })
    }

    /// Checks a range against the order rule and the cap (`max_days` between start and end).
    pub fn check_range(start: Day, end: Day, max_days: u32) -> Result<(), RateError> {
        if end < start {
            return Err(RateError::RangeReversed { start, end });
        }
        let days = i64::from(end.0) - i64::from(start.0);
        if days > i64::from(max_days) {
            return Err(RateError::RangeTooLong {
                start,
                end,
                days,
                max: max_days,
            });
        }
        Ok(())
    }

    /// Publication-day indexes within `[start, end]`.
    pub fn days_between(&self, start: Day, end: Day) -> std::ops::Range<usize> {
        let days = &self.history.days;
        let lo = days.partition_point(|d| *d < start);
        let hi = days.partition_point(|d| *d <= end);
        lo..hi.max(lo)
    }

    /// The publication day at an index.
    pub fn day(&self, i: usize) -> Day {
        self.history.days[i]
    }

    /// The `from`→`to` rate on every publication day in `[start, end]` on which both have a
    /// rate. Errors if the range is reversed, longer than `max_days`, or holds no such day (then
    /// the error explains why the start, or else the end, has no rate).
    pub fn range(
        &self,
        from: CurrencyId,
        to: CurrencyId,
        start: Day,
        end: Day,
        max_days: u32,
    ) -> Result<Vec<Quote>, RateError> {
        Table::check_range(start, end, max_days)?;
        let out: Vec<Quote> = self
            .days_between(start, end)
            .filter_map(|i| {
                let day = self.history.days[i];
                self.cross(from, to, i, day)
                    .ok()
                    .map(|value| Quote { day, value })
            })
            .collect();
        if out.is_empty() {
            for probe in [start, end] {
                self.publication(probe)
                    .and_then(|i| self.cross(from, to, i, probe))?;
            }
            return Err(RateError::EmptyRange {
                from: self.info(from).code,
                to: self.info(to).code,
                start,
                end,
            });
        }
        Ok(out)
    }

    /// Currencies that convert on `date` (all currencies when `None`), with the day used.
    pub fn currencies_on(
        &self,
        date: Option<Day>,
    ) -> Result<(Option<Day>, Vec<CurrencyId>), RateError> {
        let ids = (0..self.currencies.len() as u16).map(CurrencyId);
        match date {
            None => Ok((None, ids.collect())),
            Some(date) => {
                let i = self.publication(date)?;
                let ids = ids
                    .filter(|&id| self.eur_rate(id, i, date).is_ok())
                    .collect();
                Ok((Some(self.history.days[i]), ids))
            }
        }
    }

    /// Currencies with a market quote (an ECB figure, or EUR) on publication day `i`: the default
    /// set of the JSON API, like Frankfurter's.
    pub fn quoted_on(&self, i: usize) -> Vec<CurrencyId> {
        (0..self.currencies.len() as u16)
            .map(CurrencyId)
            .filter(|&id| {
                let c = &self.currencies[id.0 as usize];
                c.is_euro()
                    || c.column
                        .is_some_and(|col| !self.history.columns[col][i].is_nan())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::print;

    fn day(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    #[test]
    fn embedded_table_checksum_holds() {
        // `embedded()` skips the checksum pass; this is where it is checked.
        let verified = Table::from_bytes(EMBEDDED, None).unwrap();
        let embedded = Table::embedded();
        assert_eq!(embedded.version(), verified.version());
        // (Histories hold NaN for "no rate", so compare their encodings.)
        assert!(embedded.history().encode() == verified.history().encode());
        assert!(embedded.history().encode() == EMBEDDED);
        // The same rates give the same version however the table was made.
        let rebuilt = Table::from_history(embedded.history().clone(), None).unwrap();
        assert_eq!(rebuilt.version(), embedded.version());
    }

    fn rate(t: &Table, from: &str, to: &str, date: &str) -> (String, String) {
        let q = t.rate(from, to, Some(day(date))).unwrap();
        (q.day.to_string(), print(q.value))
    }

    // Hand-checked against eurofxref-hist.csv: 1999-01-04 USD 1.1789 JPY 133.73 CYP 0.58231;
    // 2026-10-30 USD 1.1172 GBP 0.8338 ISK 136; 2026-10-29 USD 1.113.
    #[test]
    fn published_rates_come_back_exactly() {
        let t = Table::embedded();
        assert_eq!(t.first_day(), day("1999-01-04"));
        assert_eq!(t.last_day(), day("2026-10-30"));
        assert_eq!(
            rate(&t, "EUR", "USD", "1999-01-04"),
            ("1999-01-04".into(), "1.1789".into())
        );
        assert_eq!(
            rate(&t, "eur", "jpy", "1999-01-04"),
            ("1999-01-04".into(), "133.73".into())
        );
        assert_eq!(
            rate(&t, "EUR", "CYP", "1999-01-04"),
            ("1999-01-04".into(), "0.58231".into())
        );
        assert_eq!(
            rate(&t, "EUR", "USD", "2026-10-29"),
            ("2026-10-29".into(), "1.113".into())
        );
        assert_eq!(
            rate(&t, "EUR", "ISK", "2026-10-30"),
            ("2026-10-30".into(), "136".into())
        );
    }

    #[test]
    fn cross_rates_divide_the_euro_rates() {
        let t = Table::embedded();
        let q = t.rate("USD", "GBP", Some(day("2026-10-30"))).unwrap();
        assert_eq!(q.value, 0.8338 / 1.1172);
        assert_eq!(print(q.value), "0.746330111");
        let q = t
            .convert(100.0, "USD", "JPY", Some(day("1999-01-04")))
            .unwrap();
        assert_eq!(print(q.value), "11343.62541");
        assert_eq!(t.rate("USD", "USD", None).unwrap().value, 1.0);
    }

    #[test]
    fn weekends_and_holidays_take_the_previous_publication_day() {
        let t = Table::embedded();
        // 2026-10-31 is a Saturday, 2026-11-01 a Sunday: Friday's rates, never a later day.
        assert_eq!(rate(&t, "EUR", "USD", "2026-10-31").0, "2026-10-30");
        assert_eq!(rate(&t, "EUR", "USD", "2026-11-01").0, "2026-10-30");
        // Beyond the last publication day: still the last one.
        assert_eq!(rate(&t, "EUR", "USD", "2030-01-01").0, "2026-10-30");
        // 1999-01-09 Saturday → Friday 1999-01-08.
        assert_eq!(rate(&t, "EUR", "USD", "1999-01-09").0, "1999-01-08");
        // 2001-12-25 TARGET holiday (Tuesday) → 2001-12-24.
        assert_eq!(rate(&t, "EUR", "USD", "2001-12-25").0, "2001-12-24");
        assert_eq!(
            t.rate("EUR", "USD", Some(day("1999-01-03")))
                .unwrap_err()
                .to_string(),
            "no rates before 1999-01-04 (asked for 1999-01-03)"
        );
    }

    #[test]
    fn discontinued_currencies_stop_at_their_last_day() {
        let t = Table::embedded();
        assert_eq!(rate(&t, "EUR", "RUB", "2022-03-01").0, "2022-03-01");
        assert_eq!(
            t.rate("EUR", "RUB", Some(day("2022-03-02")))
                .unwrap_err()
                .to_string(),
            "RUB was discontinued: its last rate is of 2022-03-01 (asked for 2022-03-02)"
        );
        assert_eq!(
            t.rate("TRL", "USD", Some(day("2005-06-01"))).unwrap_err(),
            RateError::Discontinued {
                code: Code(*b"TRL"),
                date: day("2005-06-01"),
                last: day("2004-12-31")
            }
        );
        assert_eq!(
            t.rate("EUR", "BRL", Some(day("2007-12-31")))
                .unwrap_err()
                .to_string(),
            "BRL has no rate before 2008-01-02 (asked for 2007-12-31)"
        );
        let e = t.rate("EUR", "ISK", Some(day("2010-05-05"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ISK has no rate on 2010-05-05: the ECB published none from 2008-12-10 to 2018-01-31"
        );
    }

    #[test]
    fn euro_replaced_currencies_use_the_irrevocable_rate_from_their_join_day() {
        let t = Table::embedded();
        // Legacy codes that never had an ECB column.
        assert_eq!(
            rate(&t, "DEM", "EUR", "2001-02-03"),
            ("2001-02-02".into(), print(1.0 / 1.95583))
        );
        assert_eq!(
            rate(&t, "DEM", "FRF", "2020-06-01").1,
            print(6.55957 / 1.95583)
        );
        assert_eq!(rate(&t, "EUR", "ITL", "1999-01-04").1, "1936.27");
        // Greece joined 2001-01-01; before that there is no drachma rate in the ECB file.
        assert_eq!(rate(&t, "EUR", "GRD", "2001-01-02").1, "340.75");
        assert_eq!(
            t.rate("EUR", "GRD", Some(day("2000-06-01")))
                .unwrap_err()
                .to_string(),
            "GRD has no rate before 2001-01-01 (asked for 2000-06-01)"
        );
        // Market rate up to the last ECB day, fixed rate after the join.
        assert_eq!(rate(&t, "EUR", "HRK", "2022-12-30").1, "7.5365");
        assert_eq!(rate(&t, "EUR", "HRK", "2023-01-02").1, "7.5345");
        assert_eq!(rate(&t, "EUR", "CYP", "2020-01-02").1, "0.585274");
        assert_eq!(rate(&t, "EUR", "BGN", "2026-10-30").1, "1.95583");
        assert_eq!(rate(&t, "EUR", "BGN", "2025-12-31").1, "1.9558");
        assert_eq!(
            rate(&t, "USD", "SIT", "2007-01-02").1,
            print(239.64 / 1.3270)
        );
    }

    #[test]
    fn unknown_codes_and_ranges_fail_with_the_bad_part_named() {
        let t = Table::embedded();
        assert_eq!(
            t.rate("XXX", "USD", None).unwrap_err().to_string(),
            "unknown currency 'XXX'"
        );
        assert_eq!(
            t.rate("USD", "U$D", None).unwrap_err().to_string(),
            "unknown currency 'U$D'"
        );
        let (usd, eur) = (t.currency("USD").unwrap(), t.currency("EUR").unwrap());
        assert!(matches!(
            t.range(usd, eur, day("2020-02-01"), day("2020-01-01"), 400),
            Err(RateError::RangeReversed { .. })
        ));
        assert!(matches!(
            t.range(usd, eur, day("2000-01-01"), day("2020-01-01"), 400),
            Err(RateError::RangeTooLong { .. })
        ));
        let r = t
            .range(usd, eur, day("2026-10-24"), day("2026-10-31"), 400)
            .unwrap();
        let days: Vec<String> = r.iter().map(|q| q.day.to_string()).collect();
        assert_eq!(
            days,
            [
                "2026-10-26",
                "2026-10-27",
                "2026-10-28",
                "2026-10-29",
                "2026-10-30"
            ]
        );
        let rub = t.currency("RUB").unwrap();
        assert_eq!(
            t.range(rub, eur, day("2022-02-25"), day("2022-03-10"), 400)
                .unwrap()
                .len(),
            3
        );
        assert!(matches!(
            t.range(rub, eur, day("2023-01-01"), day("2023-02-01"), 400),
            Err(RateError::Discontinued { .. })
        ));
    }

    #[test]
    fn currency_lists_follow_the_date() {
        let t = Table::embedded();
        let (_, all) = t.currencies_on(None).unwrap();
        assert_eq!(all.len(), 41 + 1 + 12);
        let (used, on) = t.currencies_on(Some(day("2026-10-31"))).unwrap();
        assert_eq!(used, Some(day("2026-10-30")));
        let codes: Vec<&str> = on.iter().map(|&id| t.info(id).code.as_str()).collect();
        assert!(codes.contains(&"USD") && codes.contains(&"DEM") && codes.contains(&"EUR"));
        assert!(!codes.contains(&"RUB") && !codes.contains(&"TRL"));
        let quoted = t.quoted_on(t.publication(day("2026-10-30")).unwrap());
        assert_eq!(quoted.len(), 29 + 1);
    }
}
