//! The `nixie` binary: configuration checks, signals, the simulator outputs.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn nixie() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nixie"));
    c.env_remove("RUST_LOG");
    c
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_config_accepts_the_shipped_file_and_names_bad_keys() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/dist/nixie.toml");
    let out = nixie()
        .args(["--config", shipped, "--check-config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));

    let dir = tempfile::tempdir().unwrap();
    for (text, want) in [
        (
            "[mux]\nblank_us = 2500\n",
            "mux.blank_us: 2500 µs is not shorter than the slot",
        ),
        (
            "[pins]\ncolon = 17\n",
            "pins.colon: line 17 is already used by pins.bcd[0]",
        ),
        (
            "[pins]\nhv_enable = 64\n",
            "pins.hv_enable: line 64 is out of range",
        ),
        ("[display]\nblink = true\n", "unknown field `blink`"),
        ("[mux]\nframe_hz = \"fast\"\n", "frame_hz"),
    ] {
        let p = write(&dir, "bad.toml", text);
        let out = nixie()
            .arg("--config")
            .arg(&p)
            .arg("--check-config")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{text}: {err}");
        assert!(err.contains("bad.toml"), "names the file: {err}");
    }
    let out = nixie()
        .args(["--config", "/nonexistent/nixie.toml", "--check-config"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/nixie.toml"));
}

#[test]
fn print_config_is_the_builtin_file() {
    let out = nixie().arg("--print-config").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/nixie.toml")).unwrap()
    );
}

fn wait_for(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(t.elapsed() < limit, "daemon did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

#[test]
fn sighup_reloads_and_sigterm_turns_everything_off() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "n.toml", "timezone = \"UTC\"\n");
    let mut child = nixie()
        .args(["--backend", "sim", "--config"])
        .arg(&p)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    // A broken file is refused, the daemon keeps running.
    std::fs::write(&p, "[mux]\nblank_us = 9000\n").unwrap();
    signal(&child, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(
        &p,
        "timezone = \"UTC\"\n[mux]\nframe_hz = 200\nblank_us = 400\n",
    )
    .unwrap();
    signal(&child, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "still running");
    signal(&child, libc::SIGTERM);
    let status = wait_for(&mut child, Duration::from_secs(5));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("reload failed, keeping the running configuration"),
        "{err}"
    );
    assert!(err.contains("mux.blank_us"), "{err}");
    assert!(
        err.contains("multiplexer restarted with the new timing"),
        "{err}"
    );
    assert!(
        err.contains("stopped: anodes, colon and high voltage off"),
        "{err}"
    );
}

#[test]
fn sigint_also_stops() {
    let mut child = nixie()
        .args(["--backend", "sim"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    signal(&child, libc::SIGINT);
    let status = wait_for(&mut child, Duration::from_secs(5));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("stopped: anodes, colon and high voltage off"),
        "{err}"
    );
}

#[test]
fn gpio_backend_without_a_chip_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "n.toml",
        "[pins]\nchip = \"/dev/gpiochip-nixie-test\"\n",
    );
    let out = nixie().arg("--config").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/dev/gpiochip-nixie-test") && err.contains("--backend term"),
        "{err}"
    );
}

#[test]
fn sim_writes_the_timing_diagram_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("wave.svg");
    let out = nixie()
        .args(["sim", "--for", "50ms", "--show", "12:34", "--svg"])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("anode 4") && text.contains("50 ms"));

    let out = nixie()
        .args(["sim", "--report", "--for", "1s", "--virtual"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    for want in [
        "frame rate     100.00 Hz",
        "duty per tube  19.00 %",
        "blank width    min 600.0 µs",
        "edge jitter",
        "invariants     ok",
    ] {
        assert!(report.contains(want), "missing {want:?} in\n{report}");
    }
    let out = nixie().args(["sim", "--for", "5"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing unit"));
}
