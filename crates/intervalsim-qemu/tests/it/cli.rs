//! The command line front end: `intervalsim-qemu run -- ./prog` and
//! `intervalsim-qemu record -- ./prog` (the same code as `intervalsim run/record -- ./prog`),
//! with QEMU and the plugin found automatically; replay with `intervalsim run --trace`.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `intervalsim-qemu` launcher, built with the plugin into the same directory.
fn intervalsim() -> PathBuf {
    plugin().with_file_name("intervalsim-qemu")
}

/// `<launcher> record --max-instr N -o ist -- prog`; the test program exits with 3.
fn record(launcher: &Path, prog: &Path, max_instr: u64, ist: &Path) {
    let o = Command::new(launcher)
        .args(["record", "--max-instr", &max_instr.to_string(), "-o"])
        .arg(ist)
        .arg("--")
        .arg(prog)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn run_a_program_and_keep_its_output_and_exit_code() {
    let prog = compile("kernels", true);
    let native = native(&prog, &[]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let svg = dir.path().join("cpi.svg");
    let o = Command::new(intervalsim())
        .args(["run", "-c", "gainestown", "--max-instr", "300000", "--json"])
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .arg("--")
        .arg(&prog)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.stdout, native.stdout, "stdout is the program's: {err}");
    assert_eq!(o.status.code(), Some(3), "the program's exit code: {err}");
    assert!(
        err.contains("== thread 0") && err.contains("CPI stack"),
        "{err}"
    );
    let r: intervalsim::frontend::qemu::Report =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(r.simulated_instructions(), 300_000);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
}

#[test]
fn record_then_replay() {
    let prog = compile("kernels", true);
    let dir = tempfile::tempdir().unwrap();
    let ist = dir.path().join("k.ist");
    record(&intervalsim(), &prog, 200_000, &ist);
    let o = Command::new(simulator())
        .args(["run", "-q", "--warmup", "0", "--trace"])
        .arg(&ist)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("200000"), "{out}");
}

#[test]
fn missing_program_is_a_clear_error() {
    let o = Command::new(intervalsim())
        .args(["run", "--", "/nonexistent/prog"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/nonexistent/prog") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn intervalsim_run_and_record_reach_the_same_front_end() {
    let prog = compile("kernels", true);
    let native = native(&prog, &[]);
    let o = Command::new(simulator())
        .args(["run", "--max-instr", "100000", "--"])
        .arg(&prog)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.stdout, native.stdout, "{err}");
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("== thread 0") && err.contains("Simulated instructions"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let ist = dir.path().join("k.ist");
    record(&simulator(), &prog, 50_000, &ist);
    let s = intervalsim::frontend::compact::open(&ist).unwrap();
    assert_eq!(s.count(), 50_000);
}
