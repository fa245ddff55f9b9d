//! Multi-core correctness: analytic expectations for bandwidth saturation, false and true
//! sharing, read-only sharing, producer/consumer transfers, barriers, determinism across host
//! thread counts, and a 256-core run.

use intervalsim::config::Config;
use intervalsim::frontend::threads::{ParallelParams, ParallelWorkload};
use intervalsim::multicore::{self, Options, report::MultiStats};
use intervalsim::stats::Component;

fn run(
    cores: u32,
    workload: &str,
    params: ParallelParams,
    per_thread: u64,
    extra: &[&str],
) -> MultiStats {
    run_threads(cores, workload, params, per_thread, extra, 1)
}

fn run_threads(
    cores: u32,
    workload: &str,
    params: ParallelParams,
    per_thread: u64,
    extra: &[&str],
    host_threads: usize,
) -> MultiStats {
    let mut o: Vec<String> = vec![format!("system.cores={cores}")];
    o.extend(extra.iter().map(|s| s.to_string()));
    let (base, per_core) = multicore::per_core_configs("gainestown", None, &o, &[]).unwrap();
    let w = ParallelWorkload::from_name(workload, &params).unwrap();
    let streams = w.streams(cores, per_thread, 1);
    let s = multicore::run(
        &base,
        &per_core,
        streams,
        workload,
        Options { host_threads },
        |_| {},
    )
    .unwrap();
    for (i, c) in s.cores.iter().enumerate() {
        assert_eq!(
            c.stats.cpi.total_slots(),
            c.stats.cycles * c.stats.cpi.width as u64,
            "core {i}: CPI stack must sum to cycles × width"
        );
    }
    s
}

fn gbps(s: &MultiStats) -> f64 {
    s.dram_gbps()
}

#[test]
fn parallel_stream_saturates_at_the_configured_bandwidth() {
    // one controller of 7.6 GB/s for up to 8 cores, no network in the way
    let o = ["system.network=magic", "system.cores_per_controller=8"];
    let one = gbps(&run(1, "stream", Default::default(), 60_000, &o));
    let two = gbps(&run(2, "stream", Default::default(), 60_000, &o));
    let eight = gbps(&run(8, "stream", Default::default(), 60_000, &o));
    assert!(one < 7.6 * 0.6, "a single core must not saturate: {one}");
    let want2 = (2.0 * one).min(7.6);
    assert!(
        (two - want2).abs() / want2 < 0.05,
        "2 cores: {two} GB/s, want {want2}"
    );
    assert!(
        (eight - 7.6).abs() / 7.6 < 0.05,
        "8 cores: {eight} GB/s, want 7.6"
    );
}

#[test]
fn false_sharing_costs_a_coherence_miss_per_write_and_padding_removes_it() {
    // a quantum shorter than one loop iteration's miss: sharing resolves write by write
    let o = ["system.quantum_ns=10"];
    let per = 8_000;
    let packed = run(4, "false-sharing", Default::default(), per, &o);
    let t = packed.coherence_total();
    let writes: u64 = packed.cores.iter().map(|c| c.stats.stores).sum();
    let per_write = (t.false_sharing + t.true_sharing + t.upgrades) as f64 / writes as f64;
    assert!(t.false_sharing > t.true_sharing * 5, "{t:?}");
    assert!(
        per_write > 0.5,
        "coherence misses per write {per_write:.3} ({t:?}, {writes} writes)"
    );
    let padded = run(
        4,
        "false-sharing",
        ParallelParams {
            padded: true,
            ..Default::default()
        },
        per,
        &o,
    );
    let p = padded.coherence_total();
    assert_eq!(p.false_sharing + p.true_sharing, 0, "{p:?}");
    assert_eq!(padded.protocol.invalidations, 0);
    // and it is much faster
    assert!(
        padded.cycles * 3 < packed.cycles,
        "{} vs {}",
        padded.cycles,
        packed.cycles
    );
    let remote: f64 = packed
        .cores
        .iter()
        .map(|c| c.stats.cpi.cycles(Component::MemRemote))
        .sum();
    assert!(remote > 0.0, "mem-remote must show in the CPI stack");
}

#[test]
fn a_shared_counter_is_true_sharing() {
    let s = run(
        4,
        "counter",
        Default::default(),
        10_000,
        &["system.quantum_ns=10"],
    );
    let t = s.coherence_total();
    assert!(t.true_sharing > 0 && t.false_sharing == 0, "{t:?}");
}

#[test]
fn read_only_sharing_never_invalidates() {
    let s = run(
        8,
        "readonly",
        ParallelParams {
            footprint: Some(256 << 10),
            ..Default::default()
        },
        20_000,
        &[],
    );
    assert_eq!(s.protocol.invalidations, 0);
    let t = s.coherence_total();
    assert_eq!(t.true_sharing + t.false_sharing + t.upgrades, 0, "{t:?}");
    assert!(t.cold > 1000, "{t:?}");
}

#[test]
fn producer_consumer_moves_each_line_once() {
    // 2 pairs; a ring of 16 lines, so slots are reused
    let s = run(
        4,
        "prodcons",
        ParallelParams {
            footprint: Some(16 * 64),
            ..Default::default()
        },
        18 * 200,
        &[],
    );
    // each consumer reads every produced line from its producer's cache (plus the few code
    // lines the first fetcher of which held them exclusive)
    for pair in 0..2 {
        let consumer = &s.cores[2 * pair + 1];
        let produced = 200u64;
        let got = consumer.coherence.remote;
        assert!(
            (produced..=produced + 8).contains(&got),
            "pair {pair}: {got} transfers for {produced} lines"
        );
    }
    // consumers wait for producers: sync time is charged
    let sync: f64 = s
        .cores
        .iter()
        .map(|c| c.stats.cpi.cycles(Component::Sync))
        .sum();
    assert!(sync > 0.0);
}

#[test]
fn barriers_hold_every_thread_to_the_slowest() {
    let s = run(
        4,
        "stencil",
        ParallelParams {
            footprint: Some(8 << 10),
            ..Default::default()
        },
        30_000,
        &[],
    );
    let finish: Vec<u64> = s.cores.iter().map(|c| c.finish_cycle).collect();
    let (lo, hi) = (finish.iter().min().unwrap(), finish.iter().max().unwrap());
    assert!((hi - lo) as f64 / (*hi as f64) < 0.05, "{finish:?}");
    let sync: f64 = s
        .cores
        .iter()
        .map(|c| c.stats.cpi.cycles(Component::Sync))
        .sum();
    assert!(sync > 0.0);
    // neighbours' boundary lines move between cores every sweep
    assert!(s.coherence_total().true_sharing > 0);
}

#[test]
fn results_do_not_depend_on_the_host_thread_count() {
    for w in ["stencil", "false-sharing", "prodcons"] {
        let a = run_threads(8, w, Default::default(), 8_000, &["system.network=mesh"], 1);
        let b = run_threads(8, w, Default::default(), 8_000, &["system.network=mesh"], 2);
        assert_eq!(a.simulated(), b.simulated(), "{w}");
        assert_eq!(b.host.threads, 2);
    }
}

#[test]
fn mesh64_preset_and_256_cores_run_to_completion() {
    let c = Config::preset("mesh64").unwrap();
    assert_eq!(c.system.cores, 64);
    let s = run(
        256,
        "stream",
        Default::default(),
        2_000,
        &["system.network=mesh"],
    );
    assert_eq!(s.cores.len(), 256);
    assert!(s.cores.iter().all(|c| c.stats.instructions >= 2_000));
    assert!(s.host.peak_rss_bytes == 0 || s.host.peak_rss_bytes / 256 < 4 << 20);
}

#[test]
fn per_core_overrides_make_heterogeneous_cores() {
    let (base, cores) = multicore::per_core_configs(
        "gainestown",
        None,
        &["system.cores=4".into()],
        &["0-1:l2.size=1MiB".into(), "3:core.dispatch_width=2".into()],
    )
    .unwrap();
    assert_eq!(base.l2.size.0, 256 << 10);
    assert_eq!(cores[0].l2.size.0, 1 << 20);
    assert_eq!(cores[2].l2.size.0, 256 << 10);
    assert_eq!(cores[3].core.dispatch_width, 2);
    for bad in [
        "0:l3.size=1MiB",
        "9:l2.size=1MiB",
        "0:core.frequency_ghz=3",
        "x:l2.size=1MiB",
    ] {
        let e = multicore::per_core_configs(
            "gainestown",
            None,
            &["system.cores=4".into()],
            &[bad.into()],
        );
        assert!(e.is_err(), "{bad}");
    }
}
