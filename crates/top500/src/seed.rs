//! The embedded seed lists: November 2009 and June 2010, the two lists of the seed analysis.
//!
//! The CSV exports are compiled into the binary together with the XML exports of the same lists, whose
//! only job is to lend the system names (see [`crate::join`]). So `top500 plot` with no arguments needs no
//! file at all. Provenance is in `data/README.md`.

use crate::error::Error;
use crate::join;
use crate::read::read_bytes;
use crate::record::{ListId, TopList};

/// One embedded file: its name and bytes.
pub struct SeedFile {
    /// File name, as vendored in `data/`.
    pub name: &'static str,
    /// Which list it is.
    pub id: ListId,
    /// The file's bytes.
    pub bytes: &'static [u8],
}

/// The embedded files: the two CSV lists, then the two XML exports that give their names.
pub const FILES: [SeedFile; 4] = [
    SeedFile {
        name: "TOP500_200911.csv",
        id: ListId {
            year: 2009,
            month: 11,
        },
        bytes: include_bytes!("../data/TOP500_200911.csv"),
    },
    SeedFile {
        name: "TOP500_201006.csv",
        id: ListId {
            year: 2010,
            month: 6,
        },
        bytes: include_bytes!("../data/TOP500_201006.csv"),
    },
    SeedFile {
        name: "TOP500_200911_all.xml",
        id: ListId {
            year: 2009,
            month: 11,
        },
        bytes: include_bytes!("../data/TOP500_200911_all.xml"),
    },
    SeedFile {
        name: "TOP500_201006_all.xml",
        id: ListId {
            year: 2010,
            month: 6,
        },
        bytes: include_bytes!("../data/TOP500_201006_all.xml"),
    },
];

/// The two seed lists, read from the embedded CSV and named from the embedded XML, oldest first.
///
/// ```
/// let lists = top500::seed::lists().unwrap();
/// assert_eq!(lists.len(), 2);
/// assert_eq!(lists[1].by_rank(2).unwrap().name.as_deref(), Some("Nebulae"));
/// ```
pub fn lists() -> Result<Vec<TopList>, Error> {
    let lists = FILES
        .iter()
        .map(|f| read_bytes(f.bytes, &format!("embedded:{}", f.name), Some(f.id)))
        .collect::<Result<Vec<_>, _>>()?;
    join::merge(lists)
}
