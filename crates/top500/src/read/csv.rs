//! The CSV exports.
//!
//! Handles what the real files do: a UTF-8 BOM (2017 on), Windows-1252 and Mac Roman text (see
//! [`super::text`]), CRLF, LF and bare-CR line ends, quoted fields with commas and thousands separators,
//! and trailing rows of empty fields. Blank rows are skipped; a row with more or fewer fields than the
//! header, or a bad value, is an error naming the line and column.

use super::columns::{Cell, Columns};
use super::text;
use crate::error::Error;
use crate::record::System;

/// Parse a CSV export into systems (unsorted, as they appear).
///
/// ```
/// let csv = "Rank,Computer,Site,RMax,RPeak\n1,Cray XT5-HE,ORNL,1759000,2331000\n,,,,\n";
/// let systems = top500::read::csv::parse(csv.as_bytes(), "mini.csv").unwrap();
/// assert_eq!(systems.len(), 1);
/// assert_eq!(systems[0].rmax().tflops(), 1759.0);
/// ```
pub fn parse(bytes: &[u8], origin: &str) -> Result<Vec<System>, Error> {
    if bytes.iter().take(4096).any(|&b| b == 0) {
        return Err(Error::NotTop500 {
            origin: origin.into(),
            reason: "binary data, not text".into(),
        });
    }
    let text = text::decode(bytes);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let syntax = |line: u64, e: ::csv::Error| Error::Syntax {
        origin: origin.into(),
        line,
        message: e.to_string(),
    };
    let mut columns: Option<Columns> = None;
    let mut systems = Vec::with_capacity(500);
    let mut record = ::csv::StringRecord::new();
    let mut lines = LineCounter::default();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let at = e.position().map(|p| p.byte()).unwrap_or(0);
                return Err(syntax(
                    LineCounter::default().line_at(text.as_bytes(), at),
                    e,
                ));
            }
        }
        let line = lines.line_at(
            text.as_bytes(),
            record.position().map(|p| p.byte()).unwrap_or(0),
        );
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let Some(cols) = columns.as_ref() else {
            let headers: Vec<String> = record.iter().map(str::to_string).collect();
            columns = Some(Columns::from_headers(&headers, origin)?);
            continue;
        };
        if record.len() != cols.width() {
            let extra_blank = record.len() > cols.width()
                && record
                    .iter()
                    .skip(cols.width())
                    .all(|f| f.trim().is_empty());
            if !extra_blank {
                return Err(Error::Syntax {
                    origin: origin.into(),
                    line,
                    message: format!(
                        "row has {} fields, the header has {}",
                        record.len(),
                        cols.width()
                    ),
                });
            }
        }
        let row = &record;
        let system = cols.build(
            |i| row.get(i).map(Cell::Text).unwrap_or(Cell::Empty),
            origin,
            line,
        )?;
        systems.push(system);
    }
    if columns.is_none() {
        return Err(Error::NotTop500 {
            origin: origin.into(),
            reason: "the file is empty".into(),
        });
    }
    if systems.is_empty() {
        return Err(Error::NotTop500 {
            origin: origin.into(),
            reason: "a header but no systems".into(),
        });
    }
    Ok(systems)
}

/// Line numbers from byte offsets. The csv crate's own line count is off for CRLF and bare-CR files
/// (it counts `\n` only, and a record starts on the `\n` of the previous CRLF), so lines are counted
/// here: `\r\n`, `\r` and `\n` each end one line. Offsets must be asked for in increasing order.
#[derive(Debug, Default)]
struct LineCounter {
    pos: usize,
    line: u64,
}

impl LineCounter {
    fn line_at(&mut self, text: &[u8], offset: u64) -> u64 {
        let end = (offset as usize).min(text.len());
        for i in self.pos..end {
            match text[i] {
                b'\r' => self.line += 1,
                b'\n' if i == 0 || text[i - 1] != b'\r' => self.line += 1,
                _ => {}
            }
        }
        self.pos = self.pos.max(end);
        self.line + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_cr_units_and_trailing_rows() {
        let csv = "\u{feff}Rank,Name,Computer,Rmax [TFlop/s],Rpeak [TFlop/s],Interconnect Family,Interconnect\r1,Summit,\"IBM AC922, POWER9\",\"148,600\",\"200,794.9\",Infiniband,Dual-rail Mellanox EDR Infiniband\r,,,,,,\r";
        let s = parse(csv.as_bytes(), "t.csv").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].rmax().tflops(), 148_600.0);
        assert_eq!(s[0].name.as_deref(), Some("Summit"));
        assert_eq!(s[0].computer, "IBM AC922, POWER9");
        assert_eq!(s[0].family, crate::Family::Infiniband);
    }

    #[test]
    fn broken_rows_are_located() {
        let csv = "Rank,Computer,RMax,RPeak\n1,A,10,20\n2,B,ten,20\n";
        let e = parse(csv.as_bytes(), "b.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "b.csv:3: column `RMax` (3): `ten` is not a number"
        );
        let csv = "Rank,Computer,RMax,RPeak\n1,A,10,20\n2,B,10\n";
        let e = parse(csv.as_bytes(), "b.csv").unwrap_err();
        assert_eq!(e.to_string(), "b.csv:3: row has 3 fields, the header has 4");
    }

    #[test]
    fn lines_are_counted_for_every_line_end() {
        for sep in ["\n", "\r\n", "\r"] {
            let csv = [
                "Rank,Computer,RMax,RPeak",
                "1,\"A,\r\nB\",10,20",
                "2,C,10,20",
                "3,D,x,20",
                "",
            ]
            .join(sep);
            let e = parse(csv.as_bytes(), "l.csv").unwrap_err();
            let quoted_break = 1; // the quoted field of rank 1 spans two lines
            assert_eq!(
                e.to_string(),
                format!(
                    "l.csv:{}: column `RMax` (3): `x` is not a number",
                    4 + quoted_break
                ),
                "{sep:?}"
            );
        }
    }

    #[test]
    fn refusals() {
        assert!(matches!(parse(b"", "e.csv"), Err(Error::NotTop500 { .. })));
        assert!(matches!(
            parse(b"Rank,Computer,RMax,RPeak\n", "h.csv"),
            Err(Error::NotTop500 { .. })
        ));
        assert!(matches!(
            parse(b"Date,USD\n2024-01-02,1.1\n", "r.csv"),
            Err(Error::NotTop500 { .. })
        ));
        assert!(matches!(
            parse(b"\x00\x01\x02", "b.bin"),
            Err(Error::NotTop500 { .. })
        ));
    }
}
