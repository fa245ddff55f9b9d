//! Bad input gives clear errors naming file, line and column; files that are no TOP500 list are refused.

use crate::common;

use std::path::Path;
use std::process::Command;

use top500::Error;
use top500::read::{read_bytes, read_path};

const SEED_CSV: &[u8] = include_bytes!("../../data/TOP500_201006.csv");

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The seed CSV (CRLF line ends, no field spanning lines) with field `field` of line `line` replaced.
fn corrupt(line: usize, field: usize, value: &str) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = SEED_CSV
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect();
    // Split on commas outside quotes.
    let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
    let mut quoted = false;
    for &b in &lines[line - 1] {
        match b {
            b'"' => {
                quoted = !quoted;
                parts.last_mut().unwrap().push(b);
            }
            b',' if !quoted => parts.push(Vec::new()),
            _ => parts.last_mut().unwrap().push(b),
        }
    }
    parts[field - 1] = value.as_bytes().to_vec();
    lines[line - 1] = parts.join(&b","[..]);
    lines.join(&b"\r\n"[..])
}

#[test]
fn broken_value_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    // Line 12 is rank 11; column 8 is `RMax`.
    let p = write(dir.path(), "TOP500_201006.csv", &corrupt(12, 8, "12x4"));
    let e = read_path(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:12: column `RMax` (8): `12x4` is not a number",
            p.display()
        )
    );
    assert!(matches!(e, Error::Field { line: 12, .. }));

    let p = write(dir.path(), "rank.csv", &corrupt(40, 1, "-3"));
    let e = read_path(&p).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}:40: column `Rank` (1):", p.display())),
        "{e}"
    );

    let p = write(dir.path(), "cores.csv", &corrupt(100, 7, "many"));
    let e = read_path(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:100: column `Cores` (7): `many` is not a number",
            p.display()
        )
    );

    let p = write(dir.path(), "missing.csv", &corrupt(300, 9, ""));
    let e = read_path(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:300: column `RPeak` (9): missing Rpeak", p.display())
    );
}

#[test]
fn broken_structure_is_located() {
    let mut bytes = SEED_CSV.to_vec();
    bytes.extend_from_slice(b"501,\"unterminated,1,2\r\n");
    // The csv crate reads an unterminated quote to the end of the file: that record has too few fields.
    let e = read_bytes(&bytes, "q.csv", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "q.csv:503: row has 2 fields, the header has 27"
    );

    let xml = std::fs::read(common::top500_data("xml").join("TOP500_200911_all.xml")).unwrap();
    let cut = &xml[..xml.len() / 2];
    let e = read_bytes(cut, "half.xml", None).unwrap_err();
    assert!(matches!(e, Error::Syntax { .. }), "{e}");
    let bad = String::from_utf8_lossy(&xml).replacen(
        "<top500:r-max>1.759e+06</top500:r-max>",
        "<top500:r-max>fast</top500:r-max>",
        1,
    );
    let e = read_bytes(bad.as_bytes(), "n.xml", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "n.xml:9: column <r-max>: `fast` is not a number"
    );
}

#[test]
fn files_that_are_no_top500_list_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ecb = common::shared().join("data/ecb/eurofxref-hist.zip");
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (ecb, "not a readable workbook"),
        (
            write(
                dir.path(),
                "rates.csv",
                b"Date,USD,JPY\n2024-01-02,1.1,155.2\n",
            ),
            "no Rank, Rmax, Rpeak",
        ),
        (
            write(
                dir.path(),
                "page.html",
                b"<!DOCTYPE html><html><body>hi</body></html>",
            ),
            "root element",
        ),
        (
            write(
                dir.path(),
                "feed.xml",
                b"<?xml version=\"1.0\"?><rss><channel/></rss>",
            ),
            "root element is <rss>",
        ),
        (write(dir.path(), "empty.csv", b""), "empty"),
        (write(dir.path(), "blank.csv", b"\n\n,,,\n"), "empty"),
        (
            write(
                dir.path(),
                "pic.png",
                b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            ),
            "binary",
        ),
        (
            write(
                dir.path(),
                "fake.xls",
                b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1garbage",
            ),
            "not a readable workbook",
        ),
        (
            write(dir.path(), "header.csv", b"Rank,Computer,Rmax,Rpeak\r\n"),
            "no systems",
        ),
    ];
    for (path, reason) in cases {
        match read_path(&path) {
            Err(e @ Error::NotTop500 { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.starts_with(&format!("{}: not a TOP500 list: ", path.display())),
                    "{msg}"
                );
                assert!(msg.contains(reason), "{msg} should say {reason}");
            }
            other => panic!("{}: expected a refusal, got {other:?}", path.display()),
        }
    }
}

#[test]
fn cli_reports_errors_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "TOP500_201006.csv", &corrupt(12, 8, "12x4"));
    let out = Command::new(env!("CARGO_BIN_EXE_top500"))
        .current_dir(dir.path())
        .args(["plot"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":12: column `RMax` (8): `12x4` is not a number"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("efficiency.svg").exists(),
        "no output on failure"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_top500"))
        .current_dir(dir.path())
        .args(["plot", "--out", "x.pdf"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must end in .svg or .png"));
}
