//! The stored form of a rate history: the ECB's CSV and the compact binary table.
//!
//! [`History`] is the plain data: publication days ascending, and one dense `f64` column per
//! currency quoted by the ECB (units per 1 EUR; `NaN` where the ECB printed `N/A`).
//!
//! The binary form (file extension `.fxr`) is what the build script embeds and what the updater
//! persists in the data directory. Decoding it is a copy plus a checksum, which is why loading the
//! full history needs no text parsing at all.
//! Layout, all little-endian:
//!
//! ```text
//! "FXRT"  u32 version (=1)  u32 n_days  u32 n_codes
//! n_codes × 3 bytes ASCII code
//! n_days  × i32 day number (days since 1970-01-01), strictly ascending
//! n_codes × n_days × f64 rate (column after column; NaN = no rate)
//! u64 FNV-1a checksum of everything before it
//! ```
//!
//! This module uses only `std` (it is shared with the build script).

use crate::calendar::Day;
use std::fmt;

/// A rate history as published: days ascending, one column of EUR rates per currency.
///
/// Invariants (checked by every constructor in this module): `days` strictly ascending;
/// `columns.len() == codes.len()`; every column has `days.len()` values, each either `NaN` or
/// finite and positive; codes are three ASCII capital letters and distinct.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// Publication days, strictly ascending.
    pub days: Vec<Day>,
    /// Currency codes, one per column.
    pub codes: Vec<[u8; 3]>,
    /// `columns[c][i]`: units of `codes[c]` per 1 EUR on `days[i]`, `NaN` if not published.
    pub columns: Vec<Vec<f64>>,
}

/// A history file that could not be read, with the place and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    /// Where: `line N`, `byte N`, or a field name.
    pub place: String,
    /// What is wrong there.
    pub reason: String,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.reason)
    }
}

impl std::error::Error for StoreError {}

fn err(place: impl Into<String>, reason: impl Into<String>) -> StoreError {
    StoreError {
        place: place.into(),
        reason: reason.into(),
    }
}

const MAGIC: &[u8; 4] = b"FXRT";
const VERSION: u32 = 1;

/// FNV-1a over a byte slice: cheap, dependency-free, good enough to catch truncation and damage.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for chunk in bytes.chunks(8) {
        // Fold eight bytes at a time: same error-detection purpose, eight times fewer rounds.
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h ^= u64::from_le_bytes(word);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ bytes.len() as u64
}

/// Checks a currency code: three ASCII capital letters.
pub fn check_code(text: &str) -> Option<[u8; 3]> {
    let b = text.as_bytes();
    (b.len() == 3 && b.iter().all(u8::is_ascii_uppercase)).then(|| [b[0], b[1], b[2]])
}

/// Parses a published rate: a plain positive decimal number.
pub fn parse_rate(text: &str) -> Option<f64> {
    let ok = !text.is_empty()
        && text.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && text.bytes().filter(|&c| c == b'.').count() <= 1;
    let v: f64 = if ok { text.parse().ok()? } else { return None };
    (v.is_finite() && v > 0.0).then_some(v)
}

impl History {
    /// A history from its parts, if they meet the invariants listed on the type.
    pub fn validated(
        days: Vec<Day>,
        codes: Vec<[u8; 3]>,
        columns: Vec<Vec<f64>>,
    ) -> Result<History, StoreError> {
        let history = History {
            days,
            codes,
            columns,
        };
        history.validate()?;
        Ok(history)
    }

    /// Checks the invariants listed on the type.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.days.is_empty() {
            return Err(err("days", "the history has no publication day"));
        }
        for w in self.days.windows(2) {
            if w[0] >= w[1] {
                return Err(err(
                    format!("day {}", w[1]),
                    format!("dates must be strictly ascending (follows {})", w[0]),
                ));
            }
        }
        if self.columns.len() != self.codes.len() {
            return Err(err("columns", "one column per currency code expected"));
        }
        for (i, code) in self.codes.iter().enumerate() {
            if !code.iter().all(u8::is_ascii_uppercase) || self.codes[..i].contains(code) {
                return Err(err(
                    format!("code {}", String::from_utf8_lossy(code)),
                    "codes must be three capital letters, each once",
                ));
            }
        }
        for (code, col) in self.codes.iter().zip(&self.columns) {
            let name = String::from_utf8_lossy(code);
            if col.len() != self.days.len() {
                return Err(err(format!("column {name}"), "wrong number of values"));
            }
            if let Some((i, v)) = col
                .iter()
                .enumerate()
                .find(|(_, v)| !(v.is_nan() || (v.is_finite() && **v > 0.0)))
            {
                return Err(err(
                    format!("{name} on {}", self.days[i]),
                    format!("rate {v} is not a positive number"),
                ));
            }
        }
        Ok(())
    }

    /// Parses the ECB history CSV (`Date,USD,JPY,…` header, one row per day, any row order,
    /// `N/A` or an empty field for no rate, an optional trailing comma).
    pub fn from_ecb_csv(text: &str) -> Result<History, StoreError> {
        let mut lines = text.lines().enumerate();
        let (_, header) = lines.next().ok_or_else(|| err("line 1", "empty file"))?;
        let mut fields: Vec<&str> = header.trim_end_matches('\r').split(',').collect();
        if fields.last() == Some(&"") {
            fields.pop();
        }
        if fields.first().map(|f| f.trim_start_matches('\u{feff}')) != Some("Date") {
            return Err(err("line 1", "header must start with 'Date'"));
        }
        let mut codes = Vec::new();
        for f in &fields[1..] {
            let code = check_code(f.trim())
                .ok_or_else(|| err("line 1", format!("'{f}' is not a currency code")))?;
            if codes.contains(&code) {
                return Err(err("line 1", format!("currency {f} appears twice")));
            }
            codes.push(code);
        }
        let mut rows: Vec<(Day, Vec<f64>)> = Vec::new();
        for (n, line) in lines {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let place = format!("line {}", n + 1);
            let mut parts = line.split(',');
            let date = parts.next().unwrap_or("");
            let day = Day::parse(date).map_err(|e| err(&place, e.to_string()))?;
            let mut values = Vec::with_capacity(codes.len());
            for (k, field) in parts.enumerate() {
                if k >= codes.len() {
                    if field.is_empty() {
                        continue;
                    }
                    return Err(err(&place, "more fields than the header has"));
                }
                let field = field.trim();
                values.push(if field.is_empty() || field == "N/A" {
                    f64::NAN
                } else {
                    parse_rate(field).ok_or_else(|| {
                        err(
                            &place,
                            format!(
                                "{}: '{field}' is not a positive rate",
                                String::from_utf8_lossy(&codes[k])
                            ),
                        )
                    })?
                });
            }
            if values.len() != codes.len() {
                return Err(err(&place, "fewer fields than the header has"));
            }
            rows.push((day, values));
        }
        rows.sort_by_key(|(d, _)| *d);
        if let Some(w) = rows.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(err(format!("day {}", w[0].0), "date appears twice"));
        }
        let mut columns = vec![Vec::with_capacity(rows.len()); codes.len()];
        let days = rows
            .into_iter()
            .map(|(d, values)| {
                for (col, v) in columns.iter_mut().zip(values) {
                    col.push(v);
                }
                d
            })
            .collect();
        History::validated(days, codes, columns)
    }

    /// Writes the history as the ECB CSV (newest day first, `N/A` for no rate).
    pub fn to_ecb_csv(&self) -> String {
        let mut out = String::from("Date");
        for c in &self.codes {
            out.push(',');
            out.push_str(&String::from_utf8_lossy(c));
        }
        out.push_str(",\n");
        for i in (0..self.days.len()).rev() {
            out.push_str(&self.days[i].to_string());
            for col in &self.columns {
                out.push(',');
                if col[i].is_nan() {
                    out.push_str("N/A");
                } else {
                    out.push_str(&col[i].to_string());
                }
            }
            out.push_str(",\n");
        }
        out
    }

    /// Encodes the binary form described in the module documentation.
    pub fn encode(&self) -> Vec<u8> {
        let n_days = self.days.len();
        let mut out =
            Vec::with_capacity(16 + 3 * self.codes.len() + n_days * (4 + 8 * self.codes.len()) + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(n_days as u32).to_le_bytes());
        out.extend_from_slice(&(self.codes.len() as u32).to_le_bytes());
        for c in &self.codes {
            out.extend_from_slice(c);
        }
        for d in &self.days {
            out.extend_from_slice(&d.0.to_le_bytes());
        }
        for col in &self.columns {
            for v in col {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let sum = fnv1a(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Decodes and validates the binary form; any damage is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<History, StoreError> {
        Self::decode_checked(bytes, true)
    }

    /// [`History::decode`] without recomputing the checksum, for bytes whose checksum was
    /// verified when they were made (the table the build script embeds). The layout is still
    /// checked and the history validated, so damage is an error, never a panic.
    pub fn decode_trusted(bytes: &[u8]) -> Result<History, StoreError> {
        Self::decode_checked(bytes, false)
    }

    /// The checksum stored at the end of an encoded history (the FNV-1a hash of everything
    /// before it), if there is room for one.
    pub fn stored_checksum(bytes: &[u8]) -> Option<u64> {
        let tail: [u8; 8] = bytes.get(bytes.len().checked_sub(8)?..)?.try_into().ok()?;
        Some(u64::from_le_bytes(tail))
    }

    fn decode_checked(bytes: &[u8], verify: bool) -> Result<History, StoreError> {
        let too_short = || err(format!("byte {}", bytes.len()), "file is truncated");
        if bytes.len() < 24 || &bytes[..4] != MAGIC {
            return Err(err("byte 0", "not an fxrates table (bad magic)"));
        }
        let u32_at = |at: usize| -> u32 {
            let mut w = [0u8; 4];
            w.copy_from_slice(&bytes[at..at + 4]);
            u32::from_le_bytes(w)
        };
        if u32_at(4) != VERSION {
            return Err(err("byte 4", format!("unsupported version {}", u32_at(4))));
        }
        let n_days = u32_at(8) as usize;
        let n_codes = u32_at(12) as usize;
        let body = n_codes
            .checked_mul(3)
            .and_then(|c| n_days.checked_mul(4)?.checked_add(c))
            .and_then(|x| x.checked_add(n_days.checked_mul(n_codes)?.checked_mul(8)?))
            .and_then(|x| x.checked_add(16))
            .ok_or_else(too_short)?;
        if bytes.len().checked_sub(8) != Some(body) {
            return Err(too_short());
        }
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&bytes[body..]);
        if verify && fnv1a(&bytes[..body]) != u64::from_le_bytes(sum) {
            return Err(err(
                format!("byte {body}"),
                "checksum mismatch (damaged file)",
            ));
        }
        let mut at = 16;
        let codes: Vec<[u8; 3]> = (0..n_codes)
            .map(|k| {
                [
                    bytes[at + 3 * k],
                    bytes[at + 3 * k + 1],
                    bytes[at + 3 * k + 2],
                ]
            })
            .collect();
        at += 3 * n_codes;
        let days: Vec<Day> = bytes[at..at + 4 * n_days]
            .chunks_exact(4)
            .map(|w| Day(i32::from_le_bytes([w[0], w[1], w[2], w[3]])))
            .collect();
        at += 4 * n_days;
        let columns: Vec<Vec<f64>> = (0..n_codes)
            .map(|k| {
                let start = at + k * n_days * 8;
                bytes[start..start + n_days * 8]
                    .chunks_exact(8)
                    .map(|w| f64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
                    .collect()
            })
            .collect();
        History::validated(days, codes, columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Date,USD,JPY,CYP,\n\
        1999-01-05,1.179,130.96,0.5823,\n\
        1999-01-04,1.1789,133.73,N/A,\n";

    #[test]
    fn parses_csv_in_any_row_order() {
        let h = History::from_ecb_csv(SAMPLE).unwrap();
        assert_eq!(
            h.days,
            vec![
                Day::parse("1999-01-04").unwrap(),
                Day::parse("1999-01-05").unwrap()
            ]
        );
        assert_eq!(h.codes, vec![*b"USD", *b"JPY", *b"CYP"]);
        assert_eq!(h.columns[0], vec![1.1789, 1.179]);
        assert!(h.columns[2][0].is_nan());
    }

    #[test]
    fn binary_round_trips_and_rejects_damage() {
        let h = History::from_ecb_csv(SAMPLE).unwrap();
        let bytes = h.encode();
        let back = History::decode(&bytes).unwrap();
        assert_eq!(back.days, h.days);
        assert_eq!(back.to_ecb_csv(), h.to_ecb_csv());
        for cut in [0, 3, 20, bytes.len() - 1] {
            assert!(History::decode(&bytes[..cut]).is_err());
        }
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert!(
            History::decode(&flipped)
                .unwrap_err()
                .reason
                .contains("checksum")
        );
    }

    #[test]
    fn csv_errors_name_the_line_and_field() {
        let e = History::from_ecb_csv("Date,USD\n1999-01-04,-1\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: USD: '-1' is not a positive rate");
        let e = History::from_ecb_csv("Date,USD\n1999-01-4,1\n").unwrap_err();
        assert!(e.to_string().starts_with("line 2: malformed date"));
        let e = History::from_ecb_csv("Date,USD\n1999-01-04,1\n1999-01-04,2\n").unwrap_err();
        assert_eq!(e.to_string(), "day 1999-01-04: date appears twice");
        let e = History::from_ecb_csv("Date,usd\n").unwrap_err();
        assert!(e.to_string().contains("'usd' is not a currency code"));
        let e = History::from_ecb_csv("Date,USD,JPY\n1999-01-04,1\n").unwrap_err();
        assert!(e.to_string().contains("fewer fields"));
        assert!(History::from_ecb_csv("").is_err());
        assert!(History::from_ecb_csv("Date,USD\n").is_err());
    }

    #[test]
    fn rates_are_plain_positive_decimals() {
        assert_eq!(parse_rate("1.1789"), Some(1.1789));
        assert_eq!(parse_rate("136"), Some(136.0));
        for bad in ["", "0", "-1", "1e5", "inf", "NaN", "1.2.3", " 1"] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
    }
}
