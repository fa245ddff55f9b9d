//! The `term` backend in a real terminal: tmux runs it, `capture-pane`
//! reads the screen, `send-keys` quits it.

use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> std::process::Output {
    Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux is needed for this test: install the Debian package `tmux` (listed in scripts/apt-packages)")
}

fn screen(session: &str) -> String {
    String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", session]).stdout).into_owned()
}

fn wait_screen(session: &str, want: &str, limit: Duration) -> String {
    let t = Instant::now();
    loop {
        let s = screen(session);
        if s.contains(want) || t.elapsed() > limit {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn term_backend_shows_the_time_and_the_dst_jump() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("n.toml");
    std::fs::write(
        &cfg,
        "timezone = \"Europe/Brussels\"\n[display]\nself_test = false\ncolon = \"steady\"\n[anti_poisoning]\nenabled = false\n",
    )
    .unwrap();
    let done = dir.path().join("exit-code");
    let session = format!("nixie-test-{}", std::process::id());
    let cmd = format!(
        "{} --backend term --config {} --time 2026-03-29T00:59:56Z; echo $? > {}",
        env!("CARGO_BIN_EXE_nixie"),
        cfg.display(),
        done.display()
    );
    let out = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "100",
        "-y",
        "30",
        &cmd,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 01:59 CET, drawn from the simulated pins ...
    let s = wait_screen(&session, "tubes [01:59]", Duration::from_secs(10));
    let ok1 = s.contains("tubes [01:59]") && s.contains("CET") && s.contains("███");
    // ... then, a few seconds later, 03:00 CEST.
    let s2 = wait_screen(&session, "tubes [03:00]", Duration::from_secs(15));
    let ok2 = s2.contains("tubes [03:00]") && s2.contains("CEST");
    tmux(&["send-keys", "-t", &session, "q"]);
    let t = Instant::now();
    while !done.exists() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let code = std::fs::read_to_string(&done).unwrap_or_default();
    let _ = tmux(&["kill-session", "-t", &session]);
    assert!(ok1, "screen before the change:\n{s}");
    assert!(ok2, "screen after the change:\n{s2}");
    assert_eq!(code.trim(), "0", "q quits cleanly");
}
