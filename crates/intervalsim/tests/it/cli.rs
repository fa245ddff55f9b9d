//! The command line end to end: run, trace convert/info, cpistack, configs.

use std::process::Command;

fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_intervalsim"))
        .args(args)
        .output()
        .expect("run the intervalsim binary");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn run_prints_statistics_and_cpi_stack() {
    let out = cli(&[
        "run",
        "-q",
        "--workload",
        "pointer-chase",
        "--footprint",
        "64MiB",
        "--warmup",
        "0",
        "-n",
        "5k",
    ]);
    assert!(
        out.contains("IPC") && out.contains("CPI stack") && out.contains("dcache-dram"),
        "{out}"
    );
}

#[test]
fn traces_replay_like_the_workload_they_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).display().to_string();
    // compact format keeps everything: identical statistics
    cli(&[
        "trace",
        "convert",
        "-w",
        "mixed",
        "--footprint",
        "1MiB",
        "-n",
        "30k",
        &d("m.ist"),
    ]);
    let direct = cli(&[
        "run",
        "-q",
        "-w",
        "mixed",
        "--footprint",
        "1MiB",
        "--warmup",
        "0",
        "-n",
        "30k",
        "--print-json",
    ]);
    let replay = cli(&[
        "run",
        "-q",
        "-t",
        &d("m.ist"),
        "--warmup",
        "0",
        "--print-json",
    ]);
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
        v["wall_seconds"] = 0.into();
        v["label"] = "".into();
        v
    };
    assert_eq!(strip(&direct), strip(&replay));
    // ChampSim in all three encodings reads back the same
    for name in [
        "m.champsimtrace",
        "m.champsimtrace.gz",
        "m.champsimtrace.xz",
    ] {
        cli(&["trace", "convert", "-t", &d("m.ist"), &d(name)]);
        let info = cli(&["trace", "info", &d(name)]);
        assert!(info.contains("instructions        30000"), "{name}: {info}");
    }
    let a = cli(&[
        "run",
        "-q",
        "-t",
        &d("m.champsimtrace"),
        "--warmup",
        "0",
        "--print-json",
    ]);
    let b = cli(&[
        "run",
        "-q",
        "-t",
        &d("m.champsimtrace.xz"),
        "--warmup",
        "0",
        "--print-json",
    ]);
    assert_eq!(strip(&a), strip(&b));
}

#[test]
fn cpistack_draws_saved_runs_and_configs_lists_presets() {
    let dir = tempfile::tempdir().unwrap();
    let j1 = dir.path().join("a.json").display().to_string();
    let j2 = dir.path().join("b.json").display().to_string();
    let svg = dir.path().join("s.svg").display().to_string();
    cli(&[
        "run", "-q", "-w", "branches", "-n", "20k", "--warmup", "0", "--json", &j1,
    ]);
    cli(&[
        "run", "-q", "-w", "stream", "-n", "20k", "--warmup", "0", "--core", "rob", "--json", &j2,
    ]);
    cli(&["cpistack", &j1, &j2, "-o", &svg]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("dcache-dram"));
    let list = cli(&["configs"]);
    assert!(list.contains("gainestown") && list.contains("bigcore") && list.contains("smallcore"));
    assert!(cli(&["configs", "gainestown"]).contains("rob_size = 128"));
}

#[test]
fn multi_core_run_prints_per_core_stats_and_draws_all_stacks() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("cpi.svg");
    let json = dir.path().join("run.json");
    let out = cli(&[
        "run",
        "-q",
        "--cores",
        "4",
        "--workload",
        "stencil",
        "--footprint",
        "4KiB",
        "-n",
        "40k",
        "--host-threads",
        "2",
        "--svg",
        svg.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    for want in [
        "4 cores",
        "Per core",
        "CPI stacks",
        "sync",
        "true sharing",
        "DRAM",
    ] {
        assert!(out.contains(want), "missing {want}:\n{out}");
    }
    let pic = std::fs::read_to_string(&svg).unwrap();
    assert!(pic.contains("<svg") && pic.contains("avg"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r["cores"].as_array().unwrap().len(), 4);
    // an unknown multi-threaded workload lists the valid ones
    let err = Command::new(env!("CARGO_BIN_EXE_intervalsim"))
        .args(["run", "-q", "--cores", "3", "--workload", "nonsense"])
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("stencil"));
}

#[test]
fn per_thread_traces_replay_a_multi_threaded_workload() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("pc.ist");
    cli(&[
        "trace",
        "convert",
        "--threads",
        "4",
        "-w",
        "prodcons",
        "--footprint",
        "1KiB",
        "-n",
        "20k",
        base.to_str().unwrap(),
    ]);
    let files: Vec<String> = (0..4)
        .map(|i| dir.path().join(format!("pc.{i}.ist")).display().to_string())
        .collect();
    let mut args = vec!["run", "-q", "--print-json", "--host-threads", "1"];
    for f in &files {
        args.push("--thread-trace");
        args.push(f);
    }
    let replay: serde_json::Value = serde_json::from_str(&cli(&args)).unwrap();
    let live: serde_json::Value = serde_json::from_str(&cli(&[
        "run",
        "-q",
        "--print-json",
        "--host-threads",
        "1",
        "--cores",
        "4",
        "-w",
        "prodcons",
        "--footprint",
        "1KiB",
        "-n",
        "20k",
    ]))
    .unwrap();
    assert_eq!(replay["cores"], live["cores"]);
    assert_eq!(replay["cycles"], live["cycles"]);
    assert!(
        replay["cores"][1]["stats"]["cpi"]["slots"][13]
            .as_u64()
            .unwrap()
            > 0,
        "sync time"
    );
}
