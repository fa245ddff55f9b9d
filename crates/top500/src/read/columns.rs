//! Column headers of the tabular exports (CSV and spreadsheets) and turning one row into a [`System`].
//!
//! Headers are matched by name, never by position, because the column set changes from list to list:
//! "Processors" became "Cores" then "Total Cores", "RMax" became "Rmax" then "Rmax [TFlop/s]", columns such
//! as "Measured Size", "Processor Cores" and "HPCG [TFlop/s]" come and go. A header is trimmed,
//! lower-cased and split into a name and an optional unit in brackets. Rmax/Rpeak without a unit are
//! GFlop/s — the convention of every export up to 2016-11; a bracketed unit (GFlop/s, TFlop/s, PFlop/s) is
//! honoured. A list needs Rank, Rmax and Rpeak columns, else it is refused as not a TOP500 list.

use crate::error::Error;
use crate::record::{Kilowatts, System, TFlops};

/// One cell of a row, as the format gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    /// Nothing there.
    Empty,
    /// Text (CSV fields are always text).
    Text(&'a str),
    /// A number (spreadsheet cells).
    Number(f64),
}

impl Cell<'_> {
    pub(crate) fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(t) => t.trim().is_empty(),
            Cell::Number(_) => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Rank,
    Name,
    Computer,
    Site,
    Manufacturer,
    Country,
    Year,
    Cores,
    Rmax,
    Rpeak,
    Power,
    Processor,
    Segment,
    SystemFamily,
    SystemModel,
    Accelerator,
    InterconnectFamily,
    Interconnect,
    SystemId,
}

const FIELDS: usize = 19;

impl Field {
    fn from_header(name: &str) -> Option<Field> {
        Some(match name {
            "rank" => Field::Rank,
            "name" | "system name" => Field::Name,
            "computer" | "system" => Field::Computer,
            "site" | "installation site" => Field::Site,
            "manufacturer" | "vendor" => Field::Manufacturer,
            "country" => Field::Country,
            "year" => Field::Year,
            "cores" | "total cores" | "processors" | "number of processors" => Field::Cores,
            "rmax" => Field::Rmax,
            "rpeak" => Field::Rpeak,
            "power" => Field::Power,
            "processor" => Field::Processor,
            "segment" => Field::Segment,
            "system family" => Field::SystemFamily,
            "system model" => Field::SystemModel,
            "accelerator" | "accelerator/co-processor" => Field::Accelerator,
            "interconnect family" => Field::InterconnectFamily,
            "interconnect" => Field::Interconnect,
            "system id" => Field::SystemId,
            _ => return None,
        })
    }
}

/// Factor from the published unit to TFlop/s.
#[derive(Debug, Clone, Copy, PartialEq)]
struct FlopsUnit(f64);

impl FlopsUnit {
    fn parse(unit: Option<&str>) -> Option<FlopsUnit> {
        let Some(u) = unit else {
            return Some(FlopsUnit(1e-3));
        };
        let u: String = u.chars().filter(|c| !c.is_whitespace()).collect();
        match u.as_str() {
            "gflop/s" | "gflops" => Some(FlopsUnit(1e-3)),
            "tflop/s" | "tflops" => Some(FlopsUnit(1.0)),
            "pflop/s" | "pflops" => Some(FlopsUnit(1e3)),
            _ => None,
        }
    }
}

/// Split a header into (name, unit): `"Rmax [TFlop/s]"` → `("rmax", Some("tflop/s"))`.
fn split_header(raw: &str) -> (String, Option<String>) {
    let h = raw.trim_start_matches('\u{feff}').trim().to_lowercase();
    let (name, unit) = match h.find(['[', '(']) {
        Some(at) => {
            let unit = h[at + 1..].trim_end_matches([']', ')']).trim().to_string();
            (h[..at].to_string(), Some(unit))
        }
        None => (h, None),
    };
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    (name, unit)
}

/// The columns of one table, found from its header row.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    index: [Option<usize>; FIELDS],
    headers: Vec<String>,
    rmax_unit: FlopsUnit,
    rpeak_unit: FlopsUnit,
}

impl Columns {
    /// Find the columns; refuse a header that is no TOP500 header.
    pub(crate) fn from_headers(headers: &[String], origin: &str) -> Result<Columns, Error> {
        let mut index = [None; FIELDS];
        let mut rmax_unit = FlopsUnit(1e-3);
        let mut rpeak_unit = FlopsUnit(1e-3);
        for (i, raw) in headers.iter().enumerate() {
            let (name, unit) = split_header(raw);
            let Some(field) = Field::from_header(&name) else {
                continue;
            };
            if index[field as usize].is_some() {
                continue;
            }
            match field {
                Field::Rmax | Field::Rpeak => {
                    let u = FlopsUnit::parse(unit.as_deref()).ok_or_else(|| Error::NotTop500 {
                        origin: origin.to_string(),
                        reason: format!("column `{}` has an unknown unit", raw.trim()),
                    })?;
                    if field == Field::Rmax {
                        rmax_unit = u
                    } else {
                        rpeak_unit = u
                    }
                }
                Field::Power => {
                    if let Some(u) = unit.as_deref().filter(|u| *u != "kw") {
                        return Err(Error::NotTop500 {
                            origin: origin.to_string(),
                            reason: format!("column `{}`: power unit `{u}` is not kW", raw.trim()),
                        });
                    }
                }
                _ => {}
            }
            index[field as usize] = Some(i);
        }
        let missing: Vec<&str> = [
            (Field::Rank, "Rank"),
            (Field::Rmax, "Rmax"),
            (Field::Rpeak, "Rpeak"),
        ]
        .iter()
        .filter(|(f, _)| index[*f as usize].is_none())
        .map(|(_, n)| *n)
        .collect();
        if !missing.is_empty()
            || (index[Field::Computer as usize].is_none() && index[Field::Site as usize].is_none())
        {
            let mut what = missing.join(", ");
            if index[Field::Computer as usize].is_none() && index[Field::Site as usize].is_none() {
                if !what.is_empty() {
                    what.push_str(", ");
                }
                what.push_str("Computer or Site");
            }
            return Err(Error::NotTop500 {
                origin: origin.to_string(),
                reason: format!("the header row has no {what} column"),
            });
        }
        Ok(Columns {
            index,
            headers: headers.to_vec(),
            rmax_unit,
            rpeak_unit,
        })
    }

    /// Number of header columns.
    pub(crate) fn width(&self) -> usize {
        self.headers.len()
    }

    fn describe(&self, i: usize) -> String {
        format!(
            "`{}` ({})",
            self.headers
                .get(i)
                .map(|h| h.trim().trim_start_matches('\u{feff}'))
                .unwrap_or(""),
            i + 1
        )
    }

    /// Build one system from a row; `cell(i)` gives column `i`, `line` names the row in errors.
    pub(crate) fn build<'a>(
        &self,
        cell: impl Fn(usize) -> Cell<'a>,
        origin: &str,
        line: u64,
    ) -> Result<System, Error> {
        let err = |i: usize, problem: String| Error::Field {
            origin: origin.to_string(),
            line,
            column: self.describe(i),
            problem,
        };
        let get = |f: Field| self.index[f as usize].map(|i| (i, cell(i)));
        let text = |f: Field| -> String {
            match get(f) {
                Some((_, Cell::Text(t))) => t.trim().to_string(),
                Some((_, Cell::Number(n))) => crate::record::trim_float(n),
                _ => String::new(),
            }
        };
        let opt_text = |f: Field| -> Option<String> { self.index[f as usize].map(|_| text(f)) };
        let number = |f: Field| -> Result<Option<(usize, f64)>, Error> {
            match get(f) {
                None => Ok(None),
                Some((i, c)) => parse_number(c)
                    .map(|v| v.map(|v| (i, v)))
                    .map_err(|p| err(i, p)),
            }
        };
        let integer = |f: Field, max: f64| -> Result<Option<u64>, Error> {
            match number(f)? {
                None => Ok(None),
                Some((_, v)) if v.fract() == 0.0 && (0.0..=max).contains(&v) => Ok(Some(v as u64)),
                Some((i, v)) => Err(err(
                    i,
                    format!(
                        "`{}` is not a whole number in 0..={max}",
                        crate::record::trim_float(v)
                    ),
                )),
            }
        };
        let required = |f: Field, what: &str| -> Result<(usize, f64), Error> {
            number(f)?.ok_or_else(|| {
                let i = self.index[f as usize].unwrap_or(0);
                err(i, format!("missing {what}"))
            })
        };

        let rank_col = self.index[Field::Rank as usize].unwrap_or(0);
        let rank = match integer(Field::Rank, u32::MAX as f64)? {
            Some(r) if r >= 1 => r as u32,
            Some(_) => return Err(err(rank_col, "rank must be 1 or more".into())),
            None => return Err(err(rank_col, "missing rank".into())),
        };
        let (rmax_col, rmax) = required(Field::Rmax, "Rmax")?;
        let (_, rpeak) = required(Field::Rpeak, "Rpeak")?;
        let rmax = TFlops::from_tflops(rmax * self.rmax_unit.0);
        let rpeak = TFlops::from_tflops(rpeak * self.rpeak_unit.0);
        let mut s = System::new(rank, rmax, rpeak).map_err(|e| err(rmax_col, e.to_string()))?;
        s.name = opt_text(Field::Name).filter(|n| !n.is_empty());
        s.computer = text(Field::Computer);
        s.site = text(Field::Site);
        s.manufacturer = text(Field::Manufacturer);
        s.country = text(Field::Country);
        s.year = integer(Field::Year, 9999.0)?
            .map(|y| y as u16)
            .filter(|y| *y > 0);
        s.cores = integer(Field::Cores, 1e15)?.filter(|c| *c > 0);
        s.power = match number(Field::Power)? {
            Some((i, p)) if p < 0.0 => return Err(err(i, format!("power {p} kW is negative"))),
            Some((_, p)) if p > 0.0 => Some(Kilowatts(p)),
            _ => None,
        };
        s.processor = text(Field::Processor);
        s.segment = text(Field::Segment);
        s.system_family = text(Field::SystemFamily);
        s.system_model = text(Field::SystemModel);
        s.accelerator_published = opt_text(Field::Accelerator);
        s.interconnect_family_published = opt_text(Field::InterconnectFamily);
        s.interconnect_published = opt_text(Field::Interconnect);
        s.system_id = integer(Field::SystemId, 1e15)?;
        if s.rmax_exceeds_rpeak() {
            tracing::warn!(
                "{origin}:{line}: Rmax {} above Rpeak {}, kept as published",
                s.rmax(),
                s.rpeak()
            );
        }
        s.classify();
        Ok(s)
    }
}

/// Parse a number cell: plain (`1759000`, `55705.6`, `1.759e+06`) or with thousands separators
/// (`165,138.6`, as in the 2014-11 CSV). Empty → `Ok(None)`.
pub(crate) fn parse_number(cell: Cell<'_>) -> Result<Option<f64>, String> {
    let t = match cell {
        Cell::Empty => return Ok(None),
        Cell::Number(n) if n.is_finite() => return Ok(Some(n)),
        Cell::Number(n) => return Err(format!("`{n}` is not a finite number")),
        Cell::Text(t) => t.trim(),
    };
    if t.is_empty() {
        return Ok(None);
    }
    let plain: std::borrow::Cow<'_, str> = if t.contains(',') && has_thousands_separators(t) {
        t.replace(',', "").into()
    } else {
        t.into()
    };
    let ok_chars = plain
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    match plain.parse::<f64>() {
        Ok(v) if ok_chars && v.is_finite() => Ok(Some(v)),
        _ => Err(format!("`{t}` is not a number")),
    }
}

fn has_thousands_separators(t: &str) -> bool {
    let int_part = t.split('.').next().unwrap_or("");
    let mut groups = int_part.split(',');
    let first = groups.next().unwrap_or("");
    !first.is_empty()
        && first.len() <= 3
        && first.chars().all(|c| c.is_ascii_digit())
        && groups.all(|g| g.len() == 3 && g.chars().all(|c| c.is_ascii_digit()))
        && t.split('.')
            .nth(1)
            .is_none_or(|f| f.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn header_names_and_units() {
        assert_eq!(split_header("\u{feff}Rank"), ("rank".into(), None));
        assert_eq!(
            split_header("Rmax [TFlop/s]"),
            ("rmax".into(), Some("tflop/s".into()))
        );
        assert_eq!(
            split_header(" Power (kW) "),
            ("power".into(), Some("kw".into()))
        );
        let c = Columns::from_headers(
            &headers(&["Rank", "Computer", "Rmax [TFlop/s]", "RPeak"]),
            "t",
        )
        .unwrap();
        assert_eq!(c.rmax_unit, FlopsUnit(1.0));
        assert_eq!(c.rpeak_unit, FlopsUnit(1e-3));
    }

    #[test]
    fn refuses_foreign_headers() {
        let e = Columns::from_headers(&headers(&["Date", "USD", "JPY"]), "rates.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "rates.csv: not a TOP500 list: the header row has no Rank, Rmax, Rpeak, Computer or Site column"
        );
        let e = Columns::from_headers(&headers(&["Rank", "Site", "Rmax [bogo/s]", "Rpeak"]), "x")
            .unwrap_err();
        assert!(e.to_string().contains("unknown unit"), "{e}");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number(Cell::Text("1759000")), Ok(Some(1759000.0)));
        assert_eq!(parse_number(Cell::Text("1.759e+06")), Ok(Some(1759000.0)));
        assert_eq!(parse_number(Cell::Text("165,138.6")), Ok(Some(165138.6)));
        assert_eq!(parse_number(Cell::Text("1,283,311.9")), Ok(Some(1283311.9)));
        assert_eq!(parse_number(Cell::Text(" ")), Ok(None));
        assert!(parse_number(Cell::Text("12,34")).is_err());
        assert!(parse_number(Cell::Text("inf")).is_err());
        assert!(parse_number(Cell::Text("NaN")).is_err());
        assert!(parse_number(Cell::Text("0x10")).is_err());
        assert_eq!(parse_number(Cell::Number(2.5)), Ok(Some(2.5)));
    }

    #[test]
    fn row_errors_name_line_and_column() {
        let c = Columns::from_headers(&headers(&["Rank", "Computer", "RMax", "RPeak"]), "l.csv")
            .unwrap();
        let row = ["3", "X", "12a", "20"];
        let e = c.build(|i| Cell::Text(row[i]), "l.csv", 4).unwrap_err();
        assert_eq!(
            e.to_string(),
            "l.csv:4: column `RMax` (3): `12a` is not a number"
        );
        let row = ["3", "X", "30000", "20000"];
        let odd = c.build(|i| Cell::Text(row[i]), "l.csv", 5).unwrap();
        assert!(odd.rmax_exceeds_rpeak());
        let row = ["3", "X", "-5", "20000"];
        let e = c.build(|i| Cell::Text(row[i]), "l.csv", 5).unwrap_err();
        assert_eq!(
            e.to_string(),
            "l.csv:5: column `RMax` (3): Rmax must be a positive number, got -0.005"
        );
        let row = ["0", "X", "1", "2"];
        assert!(c.build(|i| Cell::Text(row[i]), "l.csv", 6).is_err());
        let row = ["2.5", "X", "1", "2"];
        assert!(c.build(|i| Cell::Text(row[i]), "l.csv", 7).is_err());
    }
}
