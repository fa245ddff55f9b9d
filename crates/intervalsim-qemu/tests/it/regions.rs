//! Slice 3: regions of interest, fast-forward, instruction limits, and trace recording whose
//! replay gives the same statistics as the live run.

use crate::common::*;
use intervalsim::config::Config;
use intervalsim::frontend::{Instr, Kind, SyncOp, champsim, collect, compact};
use intervalsim::sim::{self, Limits};

#[test]
fn roi_markers_limit_simulation_to_the_region() {
    let prog = compile("roi", false);
    let native = native(&prog, &[]);
    let (out, roi) = with_plugin(&["mode=sim", "roi=on"], &prog, &[]);
    assert_eq!(out.stdout, native.stdout);
    let (_, all) = with_plugin(&["mode=count"], &prog, &[]);
    let simulated = roi.simulated_instructions();
    // The region is the summing loop: 10 passes over 40 000 elements.
    assert!(simulated >= 10 * 40_000, "ROI simulated {simulated}");
    assert!(simulated < 10 * 40_000 * 6, "ROI simulated {simulated}");
    assert!(
        roi.skipped_instructions > 100_000,
        "setup, teardown and the loader are skipped"
    );
    // Counting is unaffected by the ROI; the two markers are counted but not simulated.
    let total = roi.total_instructions();
    assert!(rel(total, all.total_instructions()) < 0.001);
    assert_eq!(total, simulated + roi.skipped_instructions);
}

#[test]
fn fast_forward_skips_the_first_instructions() {
    let prog = compile("kernels", true);
    let (_, r) = with_plugin(
        &["mode=sim", "fast-forward=3000000", "max-instr=500000"],
        &prog,
        &[],
    );
    assert_eq!(r.simulated_instructions(), 500_000);
    // Records reach the model in batches; the switch happens within one batch of the target.
    let t = &r.threads[0];
    assert!(t.counts.instructions > 3_500_000);
    assert!(r.skipped_instructions >= 3_000_000 + (t.counts.instructions - 3_500_000) - 2048);
}

#[test]
fn recorded_trace_replays_to_the_same_statistics() {
    let prog = compile("kernels", true);
    let dir = tempfile::tempdir().unwrap();
    let ist = dir.path().join("kernels.ist");
    let cs = dir.path().join("kernels.champsim.gz");
    // One core, simulated inline: the single-core replay (`intervalsim run --trace`) is the
    // same computation.
    let (out, live) = with_plugin(
        &[
            "mode=sim",
            "cores=1",
            "max-instr=300000",
            &format!("trace={}", ist.display()),
            &format!("champsim={}", cs.display()),
        ],
        &prog,
        &[],
    );
    assert_eq!(out.status.code(), Some(3));
    let live_stats = live.threads[0].stats.clone().unwrap();

    let cfg = Config::preset("gainestown").unwrap();
    let mut stream = compact::open(&ist).unwrap();
    assert_eq!(stream.count(), 300_000);
    let replay = sim::run(&cfg, &mut stream, "replay", Limits::default(), |_| {}).unwrap();
    assert_eq!(
        replay.core, live_stats.core,
        "core statistics of replay and live run"
    );
    assert_eq!(
        replay.uncore, live_stats.uncore,
        "LLC/DRAM statistics of replay and live run"
    );

    // The ChampSim trace holds the same instructions (with less detail per record).
    let mut c = champsim::open(&cs).unwrap();
    let recs = collect(&mut c, usize::MAX).unwrap();
    assert_eq!(recs.len(), 300_000);
    let mut s2 = compact::open(&ist).unwrap();
    let ours = collect(&mut s2, 1000).unwrap();
    for (a, b) in ours.iter().zip(&recs) {
        assert_eq!((a.pc, a.taken, a.n_mem), (b.pc, b.taken, b.n_mem));
    }
}

#[test]
fn trace_mode_writes_one_stream_per_thread() {
    let prog = compile("psum", false);
    let dir = tempfile::tempdir().unwrap();
    let ist = dir.path().join("psum.ist");
    let (out, r) = with_plugin(
        &["mode=trace", &format!("trace={}", ist.display())],
        &prog,
        &["16384"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(r.threads.len(), 5);
    let mut total = 0;
    let (mut waits, mut wakes) = (0, 0);
    for t in 0..5u32 {
        let p = if t == 0 {
            ist.clone()
        } else {
            dir.path().join(format!("psum.t{t}.ist"))
        };
        let mut s = compact::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(s.thread(), t);
        let recs = collect(&mut s, usize::MAX).unwrap();
        let (sync, instrs): (Vec<&Instr>, Vec<&Instr>) =
            recs.iter().partition(|i| i.kind == Kind::Sync);
        assert_eq!(
            instrs.len() as u64,
            r.threads[t as usize].counts.instructions,
            "thread {t}"
        );
        total += instrs.len() as u64;
        waits += sync.iter().filter(|i| i.sync == SyncOp::Wait).count();
        wakes += sync.iter().filter(|i| i.sync == SyncOp::Wake).count();
        // Workers start and end with thread events; the main thread creates them.
        if t > 0 {
            assert_eq!(
                sync.first().map(|i| i.sync),
                Some(SyncOp::ThreadStart),
                "thread {t}"
            );
            assert_eq!(recs.first().map(|i| i.kind), Some(Kind::Sync));
            assert_eq!(recs.last().map(|i| i.sync), Some(SyncOp::ThreadExit));
        } else {
            let created: Vec<u64> = sync
                .iter()
                .filter(|i| i.sync == SyncOp::ThreadStart)
                .map(|i| i.target)
                .collect();
            assert_eq!(created, vec![1, 2, 3, 4], "main creates the workers");
        }
    }
    assert_eq!(total, r.total_instructions());
    // A wake names only recorded waits, and the workers met at the barrier or in join. Not
    // every wait need have its wake: a wait predicted to sleep whose futex word changed just
    // before the kernel's test returns at once and stays unmatched unless its address is woken
    // again (see `futex.rs`); how many do depends on the host's scheduling.
    assert!(wakes <= waits, "{waits} waits, {wakes} wakes");
    assert!(waits > 0, "threads slept at the barrier or in join");
}
