//! The `fxrates` binary: answers, exit codes, and `update` from files.

use std::process::Command;

fn fxrates(args: &[&str], data_dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fxrates"))
        .args(args)
        .env("FXRATES_DATA_DIR", data_dir)
        .output()
        .expect("run fxrates");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn converts_and_reports_the_day_used() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = fxrates(
        &["convert", "100", "usd", "EUR", "--date", "2001-02-03"],
        dir.path(),
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "106.3038163 EUR (1.063038163 on 2001-02-02)\n")
    );
    let (code, out, _) = fxrates(&["convert", "1", "DEM", "FRF", "--quiet"], dir.path());
    assert_eq!((code, out.as_str()), (0, "3.353854885\n"));
    let (code, out, _) = fxrates(&["rate", "EUR", "--date", "1999-01-04"], dir.path());
    assert_eq!((code, out.as_str()), (0, "1999-01-04\t1.1789\n"));
    let (code, out, _) = fxrates(
        &["range", "EUR", "USD", "--start", "2026-10-29"],
        dir.path(),
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "2026-10-29 1.113\n2026-10-30 1.1172\n")
    );
    let (code, out, _) = fxrates(&["currencies"], dir.path());
    assert_eq!((code, out.lines().count()), (0, 54));
}

#[test]
fn exit_codes_follow_the_help() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = fxrates(&["convert", "1", "USD", "XXX"], dir.path());
    assert_eq!((code, err.trim()), (1, "fxrates: unknown currency 'XXX'"));
    let (code, _, err) = fxrates(&["rate", "RUB", "EUR", "--date", "2023-01-02"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("2022-03-01"), "{err}");
    let (code, _, err) = fxrates(
        &["convert", "1", "USD", "EUR", "--date", "2001-02-30"],
        dir.path(),
    );
    assert_eq!(code, 2);
    assert!(err.contains("malformed date"), "{err}");
    let (code, out, _) = fxrates(&["--help"], dir.path());
    assert_eq!(code, 0);
    assert!(
        out.contains("Exit codes:")
            && out.contains("fxrates convert 100 USD EUR --date 2001-02-03")
    );
}

#[test]
fn update_from_files_persists_or_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/eurofxref-daily.xml"
    );
    let garbage = dir.path().join("garbage.xml");
    std::fs::write(
        &garbage,
        "<Cube><Cube time='2026-11-02'><Cube currency='USD' rate='abc'/></Cube></Cube>",
    )
    .unwrap();
    let (code, _, err) = fxrates(
        &["update", "--from-file", garbage.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("'abc' is not a positive rate"), "{err}");
    assert!(!dir.path().join("rates.fxr").exists());
    let (code, out, err) = fxrates(&["update", "--from-file", fixture], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("updated: rates up to 2026-11-02"), "{out}");
    let (_, out, _) = fxrates(&["rate", "EUR", "USD"], dir.path());
    assert_eq!(out, "2026-11-02\t1.1201\n");
    let (code, out, _) = fxrates(&["update", "--from-file", fixture], dir.path());
    assert_eq!((code, out.starts_with("unchanged")), (0, true));
}
