//! The `nixie` binary: configuration checks, signals, the simulator outputs.

use crate::common;

use std::time::{Duration, Instant};

use common::{
    assert_has_all, config_file, nixie, run, run_ok, signal, spawn_daemon, stop_daemon, write,
};

const STOPPED: &str = "stopped: anodes, colon and high voltage off";

#[test]
fn check_config_accepts_the_shipped_file_and_names_bad_keys() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/dist/nixie.toml");
    let out = run_ok(nixie().args(["--config", shipped, "--check-config"]));
    assert!(out.contains(": ok"), "{out}");

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
        ("[mux]\ncpu = 9999\n", "mux.cpu: CPU 9999 does not exist"),
    ] {
        let p = write(&dir, "bad.toml", text);
        let (code, _, err) = run(nixie().arg("--config").arg(&p).arg("--check-config"));
        assert_eq!(code, Some(1), "{text}");
        assert_has_all(&err, &[want, "bad.toml"]);
    }
    let (_, _, err) = run(nixie().args(["--config", "/nonexistent/nixie.toml", "--check-config"]));
    assert!(err.contains("/nonexistent/nixie.toml"), "{err}");
}

#[test]
fn print_config_is_the_builtin_file() {
    assert_eq!(
        run_ok(nixie().arg("--print-config")),
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/nixie.toml")).unwrap()
    );
}

#[test]
fn sighup_reloads_and_sigterm_turns_everything_off() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "n.toml", "timezone = \"UTC\"\n");
    let path = p.to_str().unwrap();
    let mut child = spawn_daemon(&["--backend", "sim", "--config", path]);
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
    let (status, log) = stop_daemon(child, libc::SIGTERM);
    assert!(status.success(), "{log}");
    assert_has_all(
        &log,
        &[
            "reload failed, keeping the running configuration",
            "mux.blank_us",
            "multiplexer restarted with the new timing",
            STOPPED,
        ],
    );
}

#[test]
fn sigint_also_stops() {
    let child = spawn_daemon(&["--backend", "sim"]);
    std::thread::sleep(Duration::from_millis(400));
    let (status, log) = stop_daemon(child, libc::SIGINT);
    assert!(status.success(), "{log}");
    assert_has_all(&log, &[STOPPED]);
}

#[test]
fn gpio_backend_without_a_chip_says_what_to_do() {
    let (_dir, p) = config_file("[pins]\nchip = \"/dev/gpiochip-nixie-test\"\n");
    let (code, _, err) = run(nixie().arg("--config").arg(&p));
    assert_eq!(code, Some(1));
    assert_has_all(&err, &["/dev/gpiochip-nixie-test", "--backend term"]);
}

#[test]
fn sim_writes_the_timing_diagram_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("wave.svg");
    // Virtual time: the diagram's content is under test here, not the host's scheduling (a
    // wall-clock run on a loaded machine may rightly report a short blank).
    run_ok(
        nixie()
            .args([
                "sim",
                "--virtual",
                "--for",
                "50ms",
                "--show",
                "12:34",
                "--svg",
            ])
            .arg(&svg),
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert_has_all(&text, &["<svg", "anode 4", "50 ms"]);

    let report = run_ok(nixie().args(["sim", "--report", "--for", "1s", "--virtual"]));
    assert_has_all(
        &report,
        &[
            "frame rate     100.00 Hz",
            "duty per tube  19.00 %",
            "blank width    min 600.0 µs",
            "edge jitter    p50 0.0 µs  p99 0.0 µs  max 0.0 µs  (800 anode edges, 0 missed slots",
            "invariants     ok",
        ],
    );
    let (_, _, err) = run(nixie().args(["sim", "--for", "5"]));
    assert!(err.contains("missing unit"), "{err}");
}

#[test]
fn daemon_reports_its_jitter_and_cpu_after_a_timed_run() {
    let (_dir, p) = config_file("timezone = \"UTC\"\n[display]\nself_test = false\n");
    let t = Instant::now();
    let report = run_ok(
        nixie()
            .args(["--backend", "sim", "--for", "500ms", "--report", "--config"])
            .arg(&p),
    );
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_has_all(
        &report,
        &[
            "daemon run     0.5",
            "on the sim backend, 100 Hz; ",
            "timer slack 1 ns",
            "edge jitter    p50 ",
            "anode edges",
            "pin writes     p50 ",
            "wake-ups       p50 ",
            "spin           adaptive, margin ",
            "cpu            daemon ",
        ],
    );
    // About 400 anode edges in 0.5 s at 100 Hz (4 tubes, on and off).
    let edges: usize = report
        .split(" anode edges")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!((200..=420).contains(&edges), "{edges} edges in\n{report}");
    let (code, _, err) = run(nixie().arg("--report"));
    assert_eq!(code, Some(2));
    assert!(err.contains("--for"), "{err}");
}
