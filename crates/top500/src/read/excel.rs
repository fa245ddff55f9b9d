//! The Excel exports (`.xls`, and `.xlsx`/`.ods` through the same reader), read with calamine.
//!
//! The first worksheet holds the list; its header row is the first of the top ten rows that reads as a
//! TOP500 header (the official files have it in row 1). Cells keep their spreadsheet types: numbers stay
//! numbers, so no text parsing is involved for Rmax/Rpeak.

use std::io::Cursor;

use calamine::{Data, Reader, Sheets, Xls, open_workbook_auto_from_rs, open_workbook_from_rs};

use super::columns::{Cell, Columns};
use crate::error::Error;
use crate::record::System;

/// Parse a workbook into systems.
pub fn parse(bytes: &[u8], origin: &str) -> Result<Vec<System>, Error> {
    let cursor = Cursor::new(bytes);
    let not_workbook = |e: calamine::Error| Error::NotTop500 {
        origin: origin.into(),
        reason: format!("not a readable workbook ({e})"),
    };
    let mut book: Sheets<Cursor<&[u8]>> = if bytes.starts_with(&super::OLE_MAGIC) {
        Sheets::Xls(open_workbook_from_rs::<Xls<_>, _>(cursor).map_err(|e| not_workbook(e.into()))?)
    } else {
        open_workbook_auto_from_rs(cursor).map_err(not_workbook)?
    };
    let range = match book.worksheet_range_at(0) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            return Err(Error::Syntax {
                origin: origin.into(),
                line: 0,
                message: format!("first worksheet: {e}"),
            });
        }
        None => {
            return Err(Error::NotTop500 {
                origin: origin.into(),
                reason: "the workbook has no worksheet".into(),
            });
        }
    };
    let first_row = range.start().map(|(r, _)| r as u64).unwrap_or(0);
    let first_col = range.start().map(|(_, c)| c as usize).unwrap_or(0);
    let rows: Vec<&[Data]> = range.rows().collect();

    let to_text = |d: &Data| -> String {
        match d {
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
            Data::Float(f) => crate::record::trim_float(*f),
            Data::Int(i) => i.to_string(),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(d) => d.as_f64().to_string(),
            Data::Error(e) => format!("#{e:?}"),
            Data::Empty => String::new(),
        }
    };
    // Header: first of the top ten rows that reads as a TOP500 header.
    let mut header: Option<(usize, Columns)> = None;
    let mut first_refusal = None;
    for (i, row) in rows.iter().enumerate().take(10) {
        let mut headers: Vec<String> = vec![String::new(); first_col];
        headers.extend(row.iter().map(to_text));
        match Columns::from_headers(&headers, origin) {
            Ok(c) => {
                header = Some((i, c));
                break;
            }
            Err(e) => {
                if first_refusal.is_none() && row.iter().any(|d| !matches!(d, Data::Empty)) {
                    first_refusal = Some(e);
                }
            }
        }
    }
    let Some((header_at, cols)) = header else {
        return Err(first_refusal.unwrap_or_else(|| Error::NotTop500 {
            origin: origin.into(),
            reason: "the first worksheet is empty".into(),
        }));
    };
    let mut systems = Vec::with_capacity(500);
    for (i, row) in rows.iter().enumerate().skip(header_at + 1) {
        let cell = |c: usize| -> Cell<'_> {
            match c.checked_sub(first_col).and_then(|c| row.get(c)) {
                Some(Data::String(s)) => Cell::Text(s),
                Some(Data::Float(f)) => Cell::Number(*f),
                Some(Data::Int(n)) => Cell::Number(*n as f64),
                Some(Data::Empty) | None => Cell::Empty,
                Some(Data::Bool(_)) => Cell::Text("boolean"),
                Some(Data::Error(_)) => Cell::Text("#error"),
                Some(Data::DateTime(_))
                | Some(Data::DateTimeIso(_))
                | Some(Data::DurationIso(_)) => Cell::Text("date"),
            }
        };
        if (0..cols.width()).all(|c| cell(c).is_blank()) {
            continue;
        }
        let line = first_row + i as u64 + 1;
        systems.push(cols.build(cell, origin, line)?);
    }
    if systems.is_empty() {
        return Err(Error::NotTop500 {
            origin: origin.into(),
            reason: "a header but no systems".into(),
        });
    }
    Ok(systems)
}
