//! Readers for the three export formats, chosen by content, never by file name.
//!
//! [`sniff`] looks at the first bytes: the OLE2 signature is an `.xls` workbook, a ZIP signature an
//! `.xlsx`/`.ods` workbook, text starting with `<` (after an optional BOM and white space) is XML, and
//! any other text is CSV. Binary data that is none of these is refused. Each reader then checks that
//! the content really is a TOP500 list (the CSV/Excel header must have Rank, Rmax and Rpeak columns;
//! the XML root must be `<list>` in the TOP500 namespace) and refuses it otherwise.

pub mod csv;
pub mod excel;
pub mod xml;

mod columns;
mod text;

use std::path::Path;

use crate::error::Error;
use crate::record::{Format, ListId, Source, TopList};

pub(crate) const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";

/// Tell the format from the content: `None` for binary data that is no workbook.
///
/// ```
/// use top500::{Format, read::sniff};
/// assert_eq!(sniff(b"Rank,Site,Computer"), Some(Format::Csv));
/// assert_eq!(sniff(b"\xEF\xBB\xBF  <?xml version=\"1.0\"?>"), Some(Format::Xml));
/// assert_eq!(sniff(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0]), Some(Format::Excel));
/// assert_eq!(sniff(b"\x7fELF\x02\x01\x01\x00"), None);
/// ```
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&OLE_MAGIC) || bytes.starts_with(&ZIP_MAGIC) {
        return Some(Format::Excel);
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'<') {
        return Some(Format::Xml);
    }
    let head = &body[..body.len().min(4096)];
    if head.contains(&0)
        || head
            .iter()
            .filter(|&&b| b < 0x20 && !b.is_ascii_whitespace())
            .count()
            > head.len() / 100
    {
        return None;
    }
    Some(Format::Csv)
}

/// Read a list from bytes; `origin` names it in errors, `id` says which list it is, if known.
pub fn read_bytes(bytes: &[u8], origin: &str, id: Option<ListId>) -> Result<TopList, Error> {
    let format = sniff(bytes).ok_or_else(|| Error::NotTop500 {
        origin: origin.into(),
        reason: "binary data that is neither a workbook nor text".into(),
    })?;
    let systems = match format {
        Format::Csv => csv::parse(bytes, origin)?,
        Format::Excel => excel::parse(bytes, origin)?,
        Format::Xml => xml::parse(bytes, origin)?,
    };
    Ok(TopList::new(
        id,
        Source {
            origin: origin.into(),
            format,
        },
        systems,
    ))
}

/// Read a list from a file; which list it is comes from the file name (`TOP500_201006.csv`), if it says.
pub fn read_path(path: &Path) -> Result<TopList, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let id = path
        .file_name()
        .and_then(|n| ListId::from_file_name(&n.to_string_lossy()));
    read_bytes(&bytes, &path.display().to_string(), id)
}
