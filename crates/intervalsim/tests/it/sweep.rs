//! `intervalsim sweep` end to end with the local executor: results, resume, failures,
//! validation, status and report.

use crate::common::sweep::{count_results, table_without_timings};
use std::path::Path;
use std::process::{Command, Output};

fn sweep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_intervalsim"))
        .arg("sweep")
        .args(args)
        .output()
        .expect("run the intervalsim binary")
}

fn ok(args: &[&str]) -> String {
    let out = sweep(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const SPEC: &str = r#"
name = "l2"
metrics = ["ipc", "l2_mpki"]
[grid]
l2.size = ["128KiB", "256KiB", "1MiB"]
core.model = ["interval", "rob"]
[[workloads]]
name = "pointer-chase"
footprint = "256KiB"
[[workloads]]
name = "alu"
[limits]
warmup = "20k"
instructions = "5k"
"#;

fn write_spec(dir: &Path, text: &str) -> String {
    let p = dir.join("spec.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn result_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("points"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    v.sort();
    v
}

#[test]
fn sweep_runs_every_point_and_gathers_one_table() {
    let t = tempfile::tempdir().unwrap();
    let spec = write_spec(t.path(), SPEC);
    let out = t.path().join("out");
    ok(&[&spec, "--out", out.to_str().unwrap(), "-q"]);
    assert_eq!(result_files(&out).len(), 12);
    let table = table_without_timings(&out);
    assert_eq!(table.len(), 13, "{table:?}");
    assert!(table[0].starts_with("id,workload,core.model,l2.size,model,instructions,cycles,ipc"));
    assert!(table[0].contains("cpi.dcache-dram") && table[0].contains("l2_mpki"));
    // The pointer chase misses L2 at 128KiB and fits at 1MiB.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let rows = json.as_array().unwrap();
    let mpki = |size: &str| {
        rows.iter()
            .find(|r| {
                r["workload"].as_str().unwrap().starts_with("pointer-chase")
                    && r["params"]["l2.size"] == size
                    && r["model"] == "interval"
            })
            .unwrap()["l2_mpki"]
            .as_f64()
            .unwrap()
    };
    assert!(
        mpki("128KiB") > 10.0 * mpki("1MiB").max(0.1),
        "{} {}",
        mpki("128KiB"),
        mpki("1MiB")
    );
    for name in [
        "ipc-vs-l2_size.svg",
        "l2_mpki-vs-core_model.svg",
        "cpi-stacks.svg",
    ] {
        let svg = std::fs::read_to_string(out.join(name)).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("pointer-chase"),
            "{name}"
        );
    }
    let s = ok(&["status", out.to_str().unwrap()]);
    assert!(
        s.contains("12 points, 12 finished, 0 failed, 0 pending"),
        "{s}"
    );
}

#[test]
fn rerun_after_a_partial_run_runs_only_the_missing_points() {
    let t = tempfile::tempdir().unwrap();
    let spec = write_spec(t.path(), SPEC);
    let out = t.path().join("out");
    ok(&[&spec, "--out", out.to_str().unwrap(), "-q", "-j", "2"]);
    let before = table_without_timings(&out);
    // Lose four results, as if the run had been killed; stamp the others.
    let files = result_files(&out);
    for f in &files[..4] {
        std::fs::remove_file(out.join("points").join(f)).unwrap();
    }
    let stamp = |f: &str| {
        std::fs::metadata(out.join("points").join(f))
            .unwrap()
            .modified()
            .unwrap()
    };
    let kept: Vec<_> = files[4..].iter().map(|f| (f.clone(), stamp(f))).collect();
    let s = ok(&["status", out.to_str().unwrap()]);
    assert!(s.contains("8 finished, 0 failed, 4 pending"), "{s}");
    let o = sweep(&[&spec, "--out", out.to_str().unwrap(), "-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.contains("8 already finished, 4 run now"),
        "{err}"
    );
    for (f, t0) in kept {
        assert_eq!(stamp(&f), t0, "{f} was rewritten");
    }
    assert_eq!(table_without_timings(&out), before);
    // A grown grid keeps the earlier points and runs only the new ones.
    let grown = SPEC.replace(r#""1MiB"]"#, r#""1MiB", "2MiB"]"#);
    let spec = write_spec(t.path(), &grown);
    let o = sweep(&[&spec, "--out", out.to_str().unwrap(), "-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.contains("16 points: 12 already finished, 4 run now"),
        "{err}"
    );
}

#[test]
fn a_run_killed_midway_loses_nothing_and_resumes_where_it_stopped() {
    let t = tempfile::tempdir().unwrap();
    let spec = write_spec(
        t.path(),
        r#"
        [grid]
        l2.size = ["128KiB", "256KiB", "512KiB", "1MiB"]
        core.dispatch_width = [2, 4]
        [[workloads]]
        name = "mixed"
        footprint = "512KiB"
        [[workloads]]
        name = "branches"
        [limits]
        warmup = "10k"
        instructions = "150k"
        "#,
    );
    let out = t.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_intervalsim"))
        .args([
            "sweep",
            &spec,
            "--out",
            out.to_str().unwrap(),
            "-q",
            "-j",
            "1",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill the run (SIGKILL: no chance to clean up) once the first points are saved.
    let t0 = std::time::Instant::now();
    while count_results(&out) < 2 {
        assert!(t0.elapsed().as_secs() < 120, "no point finished in 120 s");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the sweep ended before it could be killed: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let saved = result_files(&out);
    assert!(
        (2..16).contains(&saved.len()),
        "{} results saved",
        saved.len()
    );
    // Every saved result is whole (results are renamed into place, never written in place).
    for f in &saved {
        let text = std::fs::read_to_string(out.join("points").join(f)).unwrap();
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{f} is not whole after the kill: {e}"));
    }
    let s = ok(&["status", out.to_str().unwrap()]);
    let pending = 16 - saved.len();
    assert!(
        s.contains(&format!(
            "{} finished, 0 failed, {pending} pending",
            saved.len()
        )),
        "{s}"
    );
    let o = sweep(&[&spec, "--out", out.to_str().unwrap(), "-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success()
            && err.contains(&format!(
                "16 points: {} already finished, {pending} run now",
                saved.len()
            )),
        "{err}"
    );
    // The resumed sweep's table equals an uninterrupted one's.
    let whole = t.path().join("whole");
    ok(&[&spec, "--out", whole.to_str().unwrap(), "-q"]);
    assert_eq!(table_without_timings(&out), table_without_timings(&whole));
}

#[test]
fn a_failing_point_is_reported_without_losing_the_others() {
    let t = tempfile::tempdir().unwrap();
    // A ChampSim trace cut in the middle of its second record.
    let good = t.path().join("good.champsim");
    ok_run(&[
        "trace",
        "convert",
        "--workload",
        "alu",
        "-n",
        "2000",
        good.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(t.path().join("cut.champsim"), &bytes[..64 * 1000 + 10]).unwrap();
    let spec = write_spec(
        t.path(),
        r#"
        [grid]
        core.dispatch_width = [2, 4]
        [[workloads]]
        trace = "good.champsim"
        [[workloads]]
        trace = "cut.champsim"
        [limits]
        warmup = 0
        instructions = 0
        "#,
    );
    let out = t.path().join("out");
    let o = sweep(&[&spec, "--out", out.to_str().unwrap(), "-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a failed point must fail the command");
    assert!(
        err.contains("2 of 4 points failed") && err.contains("cut.champsim"),
        "{err}"
    );
    assert_eq!(result_files(&out).len(), 2);
    assert_eq!(table_without_timings(&out).len(), 3);
    let s = ok(&["status", out.to_str().unwrap()]);
    assert!(
        s.contains("2 finished, 2 failed, 0 pending") && s.contains("cut.champsim"),
        "{s}"
    );
    // Still failing on a rerun, and the finished points are not run again.
    let o = sweep(&[&spec, "--out", out.to_str().unwrap(), "-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("2 already finished, 0 run now, 2 failed"),
        "{err}"
    );
}

fn ok_run(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_intervalsim"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn invalid_specs_name_the_key_or_value() {
    let t = tempfile::tempdir().unwrap();
    for (text, want) in [
        (
            "[grid]\nl2.sise = [\"1MiB\"]\n[[workloads]]\nname = \"alu\"\n",
            "l2.sise",
        ),
        (
            "[grid]\nl2.size = [\"1MiB\", \"3MiB\"]\n[[workloads]]\nname = \"alu\"\n",
            "l2.size = \"3MiB\"",
        ),
        ("[grid]\nl2.size = [\"1MiB\"]\n", "[[workloads]]"),
        (
            "[[workloads]]\nname = \"alu\"\nfootprint = \"lots\"\n",
            "footprint",
        ),
        ("[grid\n", "spec.toml"),
    ] {
        let spec = write_spec(t.path(), text);
        let o = sweep(&[&spec, "--out", t.path().join("o").to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{text}: {err}");
    }
    let o = sweep(&["status", t.path().join("nothing").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a sweep directory"));
}
