//! Helpers shared by the integration tests that run the `nixie` binary.
// Each integration test crate includes this module and uses a part of it.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `nixie` binary, with no `RUST_LOG` from the environment.
pub fn nixie() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nixie"));
    c.env_remove("RUST_LOG");
    c
}

/// Writes `text` to `name` in `dir`; returns the path.
pub fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A configuration file holding `text` in a fresh temporary directory
/// (kept as long as the returned guard lives).
pub fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "n.toml", text);
    (dir, p)
}

/// Runs `cmd` to the end; returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `cmd`, which must succeed; returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let (code, out, err) = run(cmd);
    assert_eq!(code, Some(0), "{cmd:?} failed:\n{out}{err}");
    out
}

/// Asserts that `text` contains every one of `wants`.
pub fn assert_has_all(text: &str, wants: &[&str]) {
    for want in wants {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

/// Starts the daemon with `args`, its log (stderr) captured.
pub fn spawn_daemon(args: &[&str]) -> Child {
    nixie().args(args).stderr(Stdio::piped()).spawn().unwrap()
}

/// Sends `sig` to `child`.
pub fn signal(child: &Child, sig: i32) {
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Sends `sig` to the daemon, waits (at most 5 s) for it to exit; returns
/// its exit status and its log.
pub fn stop_daemon(mut child: Child, sig: i32) -> (ExitStatus, String) {
    signal(&child, sig);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "daemon did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut log).unwrap();
    }
    (status, log)
}
