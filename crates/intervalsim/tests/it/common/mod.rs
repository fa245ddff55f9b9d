//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod irregular;
pub mod sweep;

use intervalsim::config::Config;
use intervalsim::frontend::InstrStream;
use intervalsim::frontend::synthetic::Workload;
use intervalsim::sim::{self, Limits};
use intervalsim::stats::RunStats;

pub const MODELS: [&str; 2] = ["interval", "rob"];

pub fn config(model: &str, overrides: &[&str]) -> Config {
    let mut o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    o.push(format!("core.model={model}"));
    Config::build("gainestown", None, &o).expect("valid test configuration")
}

pub fn run_stream(cfg: &Config, stream: &mut dyn InstrStream, warmup: u64, n: u64) -> RunStats {
    let s = sim::run(
        cfg,
        stream,
        "test",
        Limits {
            warmup,
            instructions: n,
        },
        |_| {},
    )
    .expect("simulation runs");
    assert_eq!(
        s.core.cpi.total_slots(),
        s.core.cycles * cfg.core.dispatch_width as u64,
        "CPI stack must sum to the cycle count"
    );
    s
}

pub fn run(cfg: &Config, w: &Workload, warmup: u64, n: u64) -> RunStats {
    run_stream(cfg, &mut w.stream(1), warmup, n)
}

pub fn within(actual: f64, expected: f64, tol: f64) -> bool {
    (actual - expected).abs() <= tol * expected.abs()
}
