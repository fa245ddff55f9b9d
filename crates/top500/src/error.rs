//! Errors: every one names where the problem is (file, line, column) and what it is.

use std::path::PathBuf;

/// Everything that can go wrong reading, joining, drawing or writing lists.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The input is readable but is no TOP500 list.
    #[error("{origin}: not a TOP500 list: {reason}")]
    NotTop500 {
        /// File or origin.
        origin: String,
        /// What was missing or wrong.
        reason: String,
    },
    /// A value in a row is wrong.
    #[error("{origin}:{line}: column {column}: {problem}")]
    Field {
        /// File or origin.
        origin: String,
        /// 1-based line (CSV), row (spreadsheet) or line of the element (XML).
        line: u64,
        /// The column: its header name and 1-based position, or the XML element.
        column: String,
        /// What is wrong with the value.
        problem: String,
    },
    /// The file's structure is broken (unterminated quote, malformed XML, unreadable workbook).
    #[error("{origin}:{line}: {message}")]
    Syntax {
        /// File or origin.
        origin: String,
        /// 1-based line or row, 0 if unknown.
        line: u64,
        /// What the parser said.
        message: String,
    },
    /// Two exports of the same list disagree where they must agree.
    #[error("cannot join {left} with {right}: {problem}")]
    Join {
        /// The list the rows came from.
        left: String,
        /// The list whose names were to be joined.
        right: String,
        /// What disagrees.
        problem: String,
    },
    /// A picture could not be drawn or encoded.
    #[error("drawing {what}: {message}")]
    Render {
        /// Which picture.
        what: String,
        /// The cause.
        message: String,
    },
    /// A command-line argument or option is wrong.
    #[error("{0}")]
    Usage(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
