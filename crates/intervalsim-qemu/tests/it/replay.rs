//! Multi-threaded programs through intervalsim's multi-core engine: the live run records one
//! trace per thread, and replaying them with `intervalsim run --cores N --thread-trace …`
//! gives the live run's statistics exactly — every core's counters and CPI stack (with
//! `sync`), coherence, LLC, DRAM and network.

use crate::common::*;
use intervalsim::multicore::report::MultiStats;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The trace file of thread `k` for the base path `base` (`x.ist`, `x.t1.ist`, …).
fn thread_trace(base: &Path, k: usize) -> PathBuf {
    if k == 0 {
        return base.to_path_buf();
    }
    let stem = base.file_stem().unwrap().to_string_lossy();
    base.with_file_name(format!("{stem}.t{k}.ist"))
}

/// Replay `threads` per-thread traces on an 8-core gainestown and read its JSON results.
fn replay(base: &Path, threads: usize, json: &Path) -> MultiStats {
    let mut cmd = Command::new(simulator());
    cmd.args([
        "run",
        "-q",
        "-c",
        "gainestown",
        "--cores",
        "8",
        "--host-threads",
        "2",
        "--json",
    ])
    .arg(json);
    for k in 0..threads {
        cmd.arg("--thread-trace").arg(thread_trace(base, k));
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "replay: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap()
}

#[test]
fn multithreaded_live_runs_equal_their_replays() {
    let dir = tempfile::tempdir().unwrap();
    for (name, arg) in [("psum", "32768"), ("mutex", "2000"), ("prodcons", "2000")] {
        let prog = compile(name, false);
        let native = native(&prog, &[arg]);
        let ist = dir.path().join(format!("{name}.ist"));
        let (out, live) = with_plugin(
            &["mode=sim", "cores=8", &format!("trace={}", ist.display())],
            &prog,
            &[arg],
        );
        assert_eq!(out.stdout, native.stdout, "{name}: output unchanged");
        assert_eq!(out.status.code(), Some(0), "{name}");
        let m = live.multicore.clone().expect("multi-core engine results");
        let threads = live.threads.len();
        assert!(threads >= 3, "{name}: {threads} threads");
        // One core per thread, in creation order; the instructions add up.
        for t in &live.threads {
            let c = &m.cores[t.thread as usize];
            assert_eq!(
                c.stats.instructions,
                t.counts.instructions + t.counts.sync_events,
                "{name} thread {}",
                t.thread
            );
        }
        assert_eq!(live.simulated_instructions(), live.total_instructions());

        let r = replay(&ist, threads, &dir.path().join(format!("{name}.json")));
        assert_eq!(r.cores.len(), m.cores.len());
        for (k, (a, b)) in m.cores.iter().zip(&r.cores).enumerate() {
            assert_eq!(a, b, "{name}: core {k} live vs replay");
        }
        assert_eq!(
            (r.cycles, r.quanta, r.llc, &r.dram, r.protocol, &r.noc),
            (m.cycles, m.quanta, m.llc, &m.dram, m.protocol, &m.noc),
            "{name}: shared levels live vs replay"
        );
        // Somebody blocked: the main thread in join (psum) or threads on the lock / ring.
        let sync: u64 = live.threads.iter().map(|t| t.sync_cycles).sum();
        assert!(sync > 0, "{name}: no sync time");
        eprintln!(
            "{name}: {threads} threads, {} cycles, sync per thread {:?}",
            m.cycles,
            live.threads
                .iter()
                .map(|t| t.sync_cycles)
                .collect::<Vec<_>>()
        );
    }
}
