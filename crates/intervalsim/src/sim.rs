//! Running one core over one stream: warm-up, instruction limits, progress, statistics.

use crate::config::Config;
use crate::core::{Core, Stop};
use crate::frontend::{InstrStream, TraceError};
use crate::memory::SharedLlc;
use crate::stats::RunStats;
use std::time::Instant;

/// How much of the stream to simulate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Instructions simulated before statistics start (caches and predictors warm up).
    pub warmup: u64,
    /// Instructions measured after warm-up; 0 = until the stream ends.
    pub instructions: u64,
}

/// Instructions between progress callbacks.
const CHUNK: u64 = 1 << 20;

/// Simulate `stream` on a single core of `config`. `progress` is called now and then with the
/// number of measured instructions so far.
pub fn run(
    config: &Config,
    stream: &mut dyn InstrStream,
    label: &str,
    limits: Limits,
    mut progress: impl FnMut(u64),
) -> Result<RunStats, TraceError> {
    let mut core = Core::new(0, config);
    let mut uncore = SharedLlc::new(config);
    let mut ended = false;
    if limits.warmup > 0 {
        let mut left = limits.warmup;
        while left > 0 {
            let n = left.min(CHUNK);
            let before = core.stats().instructions;
            let stop = core.step(stream, &mut uncore, n, u64::MAX)?;
            left -= core.stats().instructions - before;
            if stop == Stop::EndOfStream {
                ended = true;
                break;
            }
        }
        core.reset_stats();
        uncore.reset_stats();
    }
    let start = Instant::now();
    let target = if limits.instructions == 0 {
        u64::MAX
    } else {
        limits.instructions
    };
    while !ended {
        let done = core.stats().instructions;
        if done >= target {
            break;
        }
        let stop = core.step(stream, &mut uncore, (target - done).min(CHUNK), u64::MAX)?;
        progress(core.stats().instructions);
        if stop == Stop::EndOfStream {
            ended = true;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    Ok(RunStats {
        label: label.to_string(),
        config: config.name.clone(),
        model: core.model_name().to_string(),
        frequency_ghz: config.core.frequency_ghz,
        core: core.stats(),
        uncore: uncore.stats(),
        wall_seconds: wall,
    })
}
