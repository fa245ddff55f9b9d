//! Shared helpers of the integration tests: building test programs with gcc, finding the plugin
//! and QEMU, running programs natively, under QEMU with the plugin, and under callgrind.
#![allow(dead_code)]

use intervalsim::frontend::qemu::{self, Report};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The plugin shared object, built with `cargo build -p intervalsim-qemu` into this test run's
/// target directory and profile (Cargo builds a `cdylib` only on request, not for tests).
pub fn plugin() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> → target/<profile>/
        let dir = exe.parent().and_then(Path::parent).expect("target dir");
        let target = dir.parent().expect("target root");
        let release = dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "intervalsim-qemu"])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            cmd.arg("--release");
        }
        let o = cmd.output().expect("run cargo build");
        assert!(
            o.status.success(),
            "cargo build -p intervalsim-qemu: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let p = dir.join(qemu::PLUGIN_FILE);
        assert!(p.is_file(), "{} missing after cargo build", p.display());
        p
    })
    .clone()
}

/// A qemu-x86_64 that loads plugins; fails with the launcher's install advice otherwise.
pub fn qemu() -> PathBuf {
    static Q: OnceLock<PathBuf> = OnceLock::new();
    Q.get_or_init(|| match qemu::find_qemu() {
        Ok(q) => q.path,
        Err(e) => panic!(
            "{e} (scripts/test installs it: apt package qemu-user + scripts/setup-intervalsim-qemu)"
        ),
    })
    .clone()
}

fn tool(name: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| panic!("`{name}` not found: install the Debian package `{package}`"))
}

/// Scratch directory shared by the tests of one binary.
pub fn scratch() -> &'static Path {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

/// Compile `tests/programs/<name>.c` with gcc (-O2 -pthread, static when asked); cached.
pub fn compile(name: &str, static_link: bool) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(format!("{name}.c"));
    let out = scratch().join(format!(
        "{name}{}",
        if static_link { "-static" } else { "" }
    ));
    if out.is_file() {
        return out;
    }
    let mut cmd = Command::new(tool("gcc", "gcc"));
    cmd.args(["-O2", "-pthread", "-o"]).arg(&out).arg(&src);
    if static_link {
        cmd.arg("-static");
    }
    let o = cmd.output().expect("run gcc");
    assert!(
        o.status.success(),
        "gcc {}: {}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Run natively.
pub fn native(prog: &Path, args: &[&str]) -> Output {
    Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run program")
}

/// Run under QEMU with the plugin and `plugin_args`; returns the program's output and the report.
pub fn with_plugin(plugin_args: &[&str], prog: &Path, args: &[&str]) -> (Output, Report) {
    let out = scratch().join(format!(
        "report-{}-{}.json",
        prog.file_name().unwrap().to_string_lossy(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut arg = qemu::escape_plugin_value(&plugin().to_string_lossy());
    for a in plugin_args {
        arg.push(',');
        arg.push_str(a);
    }
    arg.push_str(",out=");
    arg.push_str(&qemu::escape_plugin_value(&out.to_string_lossy()));
    let o = Command::new(qemu())
        .arg("-plugin")
        .arg(&arg)
        .arg(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run qemu");
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| {
        panic!(
            "no report from the plugin ({e}); qemu stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let report: Report = serde_json::from_str(&text).expect("report JSON");
    let _ = std::fs::remove_file(&out);
    (o, report)
}

/// callgrind's total instruction count (`Collected : N`).
pub fn callgrind(prog: &Path, args: &[&str]) -> u64 {
    let o = Command::new(tool("valgrind", "valgrind"))
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run valgrind");
    let err = String::from_utf8_lossy(&o.stderr);
    err.lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `Collected :` line from callgrind: {err}"))
}

/// Relative difference |a-b|/b.
pub fn rel(a: u64, b: u64) -> f64 {
    (a as f64 - b as f64).abs() / b as f64
}

/// The `intervalsim` simulator binary (for replaying traces), built on demand.
pub fn simulator() -> PathBuf {
    let dir = plugin().parent().unwrap().to_path_buf();
    let release = dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "intervalsim",
        "--bin",
        "intervalsim",
    ])
    .env("CARGO_TARGET_DIR", dir.parent().unwrap())
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    let o = cmd.output().expect("cargo build intervalsim");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.join("intervalsim")
}
