//! Analytic microbenchmarks, run on both core models: each compares a measured figure with
//! what the configuration says it must be.

use crate::common::{MODELS, config, run, run_stream, within};
use intervalsim::frontend::synthetic::{SplitMix64, Workload};
use intervalsim::frontend::{Instr, Kind, VecStream};
use intervalsim::stats::Component;

#[test]
fn independent_alu_ops_run_at_dispatch_width() {
    for model in MODELS {
        for (preset_width, extra) in [(4u32, "core.alu_units=4"), (2, "core.dispatch_width=2")] {
            // The detailed model also needs enough ALUs to sustain the width.
            let cfg = config(model, &[extra, "core.alu_units=4"]);
            let s = run(&cfg, &Workload::Alu, 2_000, 40_000);
            let ipc = s.core.ipc();
            assert!(
                within(ipc, preset_width as f64, 0.02),
                "{model}: IPC {ipc} vs width {preset_width}"
            );
        }
    }
}

#[test]
fn dependency_chain_cpi_equals_latency() {
    for model in MODELS {
        for (kind, key, lat) in [
            (Kind::Int, "core.int_latency", 1u32),
            (Kind::Mul, "core.mul_latency", 3),
            (Kind::Fp, "core.fp_latency", 5),
            (Kind::Div, "core.div_latency", 18),
        ] {
            let set = format!("{key}={lat}");
            let cfg = config(model, &[&set]);
            let w = Workload::DepChain { kind, ilp: 1 };
            let s = run(&cfg, &w, 1_000, 20_000);
            // One loop-closing branch per 64 chain links runs alongside the chain.
            let links = s.core.instructions - s.core.branch.branches;
            let cpi = s.core.cycles as f64 / links as f64;
            assert!(
                within(cpi, lat as f64, 0.02),
                "{model} {kind:?}: CPI {cpi} vs latency {lat}"
            );
            // With ILP chains, throughput rises by the number of chains (up to the width).
            let w2 = Workload::DepChain { kind, ilp: 2 };
            let s2 = run(&cfg, &w2, 1_000, 20_000);
            let cpi2 =
                s2.core.cycles as f64 / (s2.core.instructions - s2.core.branch.branches) as f64;
            let expect2 = (lat as f64 / 2.0).max(0.25);
            assert!(
                within(cpi2, expect2, 0.05),
                "{model} {kind:?} ilp2: CPI {cpi2} vs {expect2}"
            );
        }
    }
}

#[test]
fn pointer_chase_costs_the_latency_of_each_level() {
    // 2 MiB pages keep translation out of the picture; latencies add up along the path.
    for model in MODELS {
        let cfg = config(model, &["stlb.page_size=2MiB"]);
        let l1 = cfg.l1d.latency as f64;
        let l2 = l1 + cfg.l2.latency as f64;
        let l3 = l2 + cfg.l3.latency as f64;
        let dram = l3 + cfg.dram_latency_cycles() as f64;
        for (footprint, expected, level, warm) in [
            (16u64 << 10, l1, Component::DcacheL1, 2_000u64),
            (128 << 10, l2, Component::DcacheL2, 6_000),
            (2 << 20, l3, Component::DcacheL3, 40_000),
            (64 << 20, dram, Component::DcacheDram, 0),
        ] {
            let s = run(&cfg, &Workload::PointerChase { footprint }, warm, 12_000);
            let per_load = s.core.cycles as f64 / s.core.loads as f64;
            assert!(
                within(per_load, expected, 0.05),
                "{model} footprint {footprint}: {per_load} cycles per load vs {expected}"
            );
            let share = s.core.cpi.slots[level as usize] as f64 / s.core.cpi.total_slots() as f64;
            assert!(
                share > 0.6,
                "{model} footprint {footprint}: {level:?} share {share}"
            );
        }
    }
}

#[test]
fn footprint_sweep_steps_at_each_cache_size() {
    // A scaled-down hierarchy keeps the sweep short: 4 KiB L1, 32 KiB L2, 256 KiB L3.
    let cfg = config(
        "interval",
        &[
            "stlb.page_size=2MiB",
            "l1d.size=4KiB",
            "l1d.ways=4",
            "l2.size=32KiB",
            "l3.size=256KiB",
        ],
    );
    let mut points = Vec::new();
    let mut fp = 1u64 << 10;
    while fp <= 2 << 20 {
        let lines = fp / 64;
        let s = run(
            &cfg,
            &Workload::PointerChase { footprint: fp },
            2 * lines + 1_000,
            6_000,
        );
        points.push((fp, s.core.cycles as f64 / s.core.loads as f64));
        fp *= 2;
    }
    let at = |f: u64| points.iter().find(|p| p.0 == f).map(|p| p.1).unwrap();
    let l1 = cfg.l1d.latency as f64;
    let l2 = l1 + cfg.l2.latency as f64;
    let l3 = l2 + cfg.l3.latency as f64;
    let dram = l3 + cfg.dram_latency_cycles() as f64;
    assert!(within(at(2 << 10), l1, 0.05), "{points:?}");
    assert!(within(at(16 << 10), l2, 0.05), "{points:?}");
    assert!(within(at(128 << 10), l3, 0.05), "{points:?}");
    assert!(within(at(2 << 20), dram, 0.10), "{points:?}");
    // monotone non-decreasing, with a step at each capacity
    for w in points.windows(2) {
        assert!(w[1].1 >= w[0].1 * 0.98, "{points:?}");
    }
    draw_sweep(&points);
}

fn draw_sweep(points: &[(u64, f64)]) {
    use plotters::prelude::*;
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("intervalsim-footprint-sweep.svg");
    let root = SVGBackend::new(&path, (640, 400)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let xs: Vec<f64> = points.iter().map(|p| (p.0 as f64).log2()).collect();
    let ymax = points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Pointer chase: cycles per load vs footprint",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(xs[0]..xs[xs.len() - 1], 0.0..ymax)
        .unwrap();
    chart
        .configure_mesh()
        .x_desc("footprint")
        .y_desc("cycles per load")
        .x_label_formatter(&|x| intervalsim::config::format_size(2f64.powf(*x).round() as u64))
        .draw()
        .unwrap();
    chart
        .draw_series(LineSeries::new(
            xs.iter().zip(points).map(|(x, p)| (*x, p.1)),
            &BLUE,
        ))
        .unwrap();
    root.present().unwrap();
    eprintln!("footprint sweep drawn to {}", path.display());
}

#[test]
fn random_branches_mispredict_half_and_cost_the_penalty() {
    for model in MODELS {
        let cfg = config(model, &[]);
        let w = Workload::Branches {
            taken_percent: 50,
            period: 0,
        };
        let s = run(&cfg, &w, 5_000, 60_000);
        let b = &s.core.branch;
        // 32 random sites per loop body plus the loop-closing branch, which is always predicted.
        let loop_branches = s.core.instructions / 65;
        let random = b.branches - loop_branches;
        let rate = b.mispredicts as f64 / random as f64;
        assert!(
            within(rate, 0.5, 0.06),
            "{model}: misprediction rate {rate}"
        );
        let cost = s.core.cpi.cycles(Component::Branch);
        let expected = b.mispredicts as f64 * cfg.bpred.mispredict_penalty as f64;
        assert!(
            within(cost, expected, 0.10),
            "{model}: branch cycles {cost} vs {expected}"
        );
    }
}

#[test]
fn patterned_branches_are_learned() {
    for model in MODELS {
        let cfg = config(model, &[]);
        let w = Workload::Branches {
            taken_percent: 50,
            period: 4,
        };
        let s = run(&cfg, &w, 20_000, 40_000);
        let rate = s.core.branch.mispredicts as f64 / s.core.branch.branches as f64;
        assert!(rate < 0.02, "{model}: {rate}");
    }
}

fn loads(dependent: bool, n: usize) -> Vec<Instr> {
    let mut rng = SplitMix64::new(9);
    (0..n)
        .map(|k| {
            let mut i = Instr::new(0x1000 + 4 * (k as u64 % 16), Kind::Load);
            i.len = 4;
            i.dst[0] = 40;
            if dependent {
                i.src[0] = 40;
            }
            // random lines of one 1 GiB page (distinct with high probability)
            let line = rng.next_u64() % (1 << 24);
            i.push_mem(0x100_0000_0000 + line * 64, 8, false);
            i
        })
        .collect()
}

#[test]
fn independent_misses_overlap_and_dependent_ones_do_not() {
    for model in MODELS {
        let cfg = config(model, &["stlb.page_size=1GiB"]);
        let n = 2_000;
        let dep = run_stream(&cfg, &mut VecStream::new(loads(true, n)), 0, 0);
        let ind = run_stream(&cfg, &mut VecStream::new(loads(false, n)), 0, 0);
        let lat =
            (cfg.l1d.latency + cfg.l2.latency + cfg.l3.latency + cfg.dram_latency_cycles()) as f64;
        let dep_per = dep.core.cycles as f64 / n as f64;
        assert!(
            within(dep_per, lat, 0.05),
            "{model}: dependent {dep_per} vs {lat}"
        );
        let mlp = dep.core.cycles as f64 / ind.core.cycles as f64;
        // Overlap is bounded by the L1 MSHRs.
        assert!(
            mlp > 4.0 && mlp <= cfg.l1d.mshrs as f64 * 1.05,
            "{model}: MLP {mlp}"
        );
    }
}

#[test]
fn prefetchers_hide_streaming_latency() {
    use intervalsim::frontend::synthetic::StreamOp;
    let w = Workload::Stream {
        footprint: 64 << 20,
        op: StreamOp::Read,
    };
    for model in MODELS {
        // Ample bandwidth, so the stream is latency- and MSHR-bound and prefetching can help.
        let base = [
            "dram.bandwidth_gbps=100",
            "l2.prefetch_degree=4",
            "l1d.prefetch_degree=4",
        ];
        let plain = run(&config(model, &base), &w, 5_000, 40_000);
        for pf in ["l2.prefetcher=next-line", "l1d.prefetcher=ip-stride"] {
            let mut o = base.to_vec();
            o.push(pf);
            let s = run(&config(model, &o), &w, 5_000, 40_000);
            assert!(
                s.core.cpi() < 0.85 * plain.core.cpi(),
                "{model} {pf}: CPI {} vs {} without",
                s.core.cpi(),
                plain.core.cpi()
            );
            let c = if pf.starts_with("l2") {
                s.core.l2
            } else {
                s.core.l1d
            };
            assert!(
                c.prefetches > 0 && c.useful_prefetches as f64 >= 0.9 * c.prefetches as f64,
                "{model} {pf}: {c:?}"
            );
        }
    }
}
