//! Turning the bytes of a text export into UTF-8.
//!
//! The CSV exports are UTF-8 (2017 on, with a byte-order mark), Windows-1252 (most of 2008–2011) or Mac
//! Roman (2011-11, written by a Macintosh with bare CR line ends). Nothing in the file says which, so:
//! a BOM or valid UTF-8 decides for UTF-8; otherwise both single-byte decodings are scored and the better
//! one wins (ties go to Windows-1252). The score counts decoded non-ASCII characters that are lower-case
//! letters (the accents of site names: "Universität", "Québec") as +1 and every other non-ASCII character
//! ("‰", "Ž", "È" inside a word) as −1.

use std::borrow::Cow;

use encoding_rs::{MACINTOSH, UTF_8, WINDOWS_1252};

/// Decode `bytes` to text by the rule in the module documentation. Never fails: undecodable bytes become
/// U+FFFD.
pub(crate) fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return UTF_8.decode_without_bom_handling(rest).0;
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(s);
    }
    let (windows, _) = WINDOWS_1252.decode_without_bom_handling(bytes);
    let (mac, _) = MACINTOSH.decode_without_bom_handling(bytes);
    if score(&mac) > score(&windows) {
        mac
    } else {
        windows
    }
}

fn score(text: &str) -> i64 {
    text.chars()
        .filter(|c| !c.is_ascii())
        .map(|c| {
            if c.is_alphabetic() && c.is_lowercase() {
                1
            } else {
                -1
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_with_and_without_bom() {
        assert_eq!(decode("\u{feff}Rank,Site".as_bytes()), "Rank,Site");
        assert_eq!(decode("Universität".as_bytes()), "Universität");
    }

    #[test]
    fn windows_1252() {
        assert_eq!(
            decode(b"Universit\xe4t Ulm, Sup\xe9rieur"),
            "Universität Ulm, Supérieur"
        );
    }

    #[test]
    fn mac_roman() {
        assert_eq!(
            decode(b"Calcul Qu\x8ebec, Universit\x8e de Sherbrooke"),
            "Calcul Québec, Université de Sherbrooke"
        );
    }
}
