//! `intervalsim` command line: a thin layer over the library.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use intervalsim::config::{Config, CoreModel, PRESETS, parse_size};
use intervalsim::frontend::synthetic::{NAMES, Params, StreamOp, Workload};
use intervalsim::frontend::threads::{ParallelParams, ParallelWorkload};
use intervalsim::frontend::{self, InstrStream, Kind};
use intervalsim::multicore;
use intervalsim::sim::{self, Limits};
use intervalsim::stats::{self, RunStats};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "intervalsim",
    version,
    about = "Fast interval-model microarchitecture simulator"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Cmd {
    /// Simulate a built-in workload or a trace and print statistics and the CPI stack.
    Run(RunArgs),
    /// Record traces of a real x86-64 Linux program run under QEMU with the intervalsim-qemu
    /// plugin (after `--`): `intervalsim record -o run.ist -- ./prog args`.
    Record(frontend::qemu::RecordArgs),
    /// Convert or inspect trace files.
    #[command(subcommand)]
    Trace(TraceCmd),
    /// Draw CPI stacks saved with `run --json` side by side as an SVG.
    Cpistack {
        /// JSON result files.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output SVG.
        #[arg(short, long, default_value = "cpistack.svg")]
        output: PathBuf,
    },
    /// List the presets, or print one as TOML.
    Configs {
        /// Preset to print.
        name: Option<String>,
    },
    /// Run a design-space sweep from a TOML spec; `sweep status|report DIR` inspect one.
    Sweep(intervalsim::sweep::cli::SweepArgs),
}

#[derive(Args, Clone)]
struct MachineArgs {
    /// Preset name or TOML file.
    #[arg(short = 'c', long = "config", default_value = "gainestown")]
    config: String,
    /// Override a key: section.key=value (repeatable).
    #[arg(short = 'o', long = "set")]
    overrides: Vec<String>,
    /// Core model (overrides core.model).
    #[arg(long = "core", value_parser = ["interval", "rob"])]
    core: Option<String>,
}

#[derive(Args, Clone)]
struct SourceArgs {
    /// Built-in workload: alu, dep-chain, pointer-chase, stream, branches, matmul, mixed.
    #[arg(short, long)]
    workload: Option<String>,
    /// Trace file (ChampSim raw/.gz/.xz, or intervalsim compact .ist).
    #[arg(short, long, conflicts_with = "workload")]
    trace: Option<PathBuf>,
    /// Workload footprint (e.g. 64MiB).
    #[arg(long)]
    footprint: Option<String>,
    /// Independent chains (dep-chain).
    #[arg(long)]
    ilp: Option<u32>,
    /// Instruction class of a dep-chain: int, mul, div, fp.
    #[arg(long)]
    kind: Option<String>,
    /// Stream operation: read, write, copy.
    #[arg(long)]
    op: Option<String>,
    /// Taken probability in percent (branches).
    #[arg(long)]
    taken_percent: Option<u32>,
    /// Branch pattern period (branches; 0 = random).
    #[arg(long)]
    period: Option<u32>,
    /// Matrix size (matmul).
    #[arg(long)]
    n: Option<u32>,
    /// Tile size (matmul).
    #[arg(long)]
    block: Option<u32>,
    /// Seed of the synthetic generators.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    machine: MachineArgs,
    #[command(flatten)]
    source: SourceArgs,
    /// Warm-up instructions (not measured), e.g. 1M.
    #[arg(long, default_value = "1M")]
    warmup: String,
    /// Measured instructions (e.g. 10M); default 10M for workloads, the whole trace otherwise.
    #[arg(short = 'n', long)]
    instructions: Option<String>,
    /// Also write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also draw the CPI stack as SVG.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Print the results as JSON instead of the text table.
    #[arg(long)]
    print_json: bool,
    /// Simulate a multi-core system of this many cores (1-256), one thread of a
    /// multi-threaded workload per core: stream, false-sharing, counter, prodcons, readonly,
    /// stencil. `-n` is then the total over all threads. With a program after `--`: the
    /// simulated machine's cores, guest thread k on core k (default: `system.cores`, at least
    /// 8; 1 simulates each thread inline on its guest thread).
    #[arg(long)]
    cores: Option<u32>,
    /// Host worker threads for a multi-core run (default: the host's cores).
    #[arg(long)]
    host_threads: Option<usize>,
    /// Per-core override for heterogeneous cores: RANGE:section.key=value, e.g.
    /// `0-3:l2.size=1MiB` (repeatable).
    #[arg(long = "per-core", value_name = "RANGE:KEY=VALUE")]
    per_core: Vec<String>,
    /// false-sharing workload: one counter per cache line.
    #[arg(long)]
    padded: bool,
    /// One trace per thread for a multi-core run (compact traces keep synchronisation
    /// events); repeat once per core. With `--cores N` and fewer traces, the other cores
    /// stay unused.
    #[arg(long = "thread-trace", value_name = "FILE")]
    thread_traces: Vec<PathBuf>,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    qemu: frontend::qemu::QemuArgs,
    /// A real x86-64 Linux program to simulate under QEMU with the intervalsim-qemu plugin, one
    /// core per thread (after `--`): `intervalsim run -- ./prog args`.
    #[arg(last = true, value_name = "PROGRAM")]
    program: Vec<std::ffi::OsString>,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)]
enum TraceCmd {
    /// Write a workload or re-encode a trace. Output format from the extension: `.ist` is the
    /// compact format, anything else ChampSim (`.gz`, `.xz` compressed).
    Convert {
        #[command(flatten)]
        source: SourceArgs,
        /// Output file.
        output: PathBuf,
        /// Instructions to write (required for workloads, e.g. 1M).
        #[arg(short = 'n', long)]
        instructions: Option<String>,
        /// Write a multi-threaded workload (stream, false-sharing, counter, prodcons,
        /// readonly, stencil) as one compact trace per thread, OUTPUT.0.ist … (with its
        /// synchronisation events); `-n` is the total over all threads.
        #[arg(long)]
        threads: Option<u32>,
        /// false-sharing workload: one counter per cache line.
        #[arg(long)]
        padded: bool,
    },
    /// Summarise a trace: instruction mix, branches, footprint.
    Info {
        /// Trace file.
        path: PathBuf,
    },
}

fn parse_count(s: &str) -> Result<u64> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1_000u64),
        Some('m' | 'M') => (&t[..t.len() - 1], 1_000_000),
        Some('g' | 'G' | 'b' | 'B') => (&t[..t.len() - 1], 1_000_000_000),
        _ => (t, 1),
    };
    let v: f64 = num
        .parse()
        .with_context(|| format!("'{s}' is not an instruction count (examples: 500k, 10M)"))?;
    if v < 0.0 {
        bail!("'{s}': instruction counts cannot be negative");
    }
    Ok((v * mult as f64) as u64)
}

fn load_config(m: &MachineArgs) -> Result<Config> {
    let mut overrides = m.overrides.clone();
    if let Some(core) = &m.core {
        overrides.push(format!("core.model={core}"));
    }
    let (base, text) = config_source(m)?;
    let file = text.as_deref().map(|t| (m.config.as_str(), t));
    Ok(Config::build(base, file, &overrides)?)
}

/// The preset name, or the text of the configuration file `-c` names.
fn config_source(m: &MachineArgs) -> Result<(&str, Option<String>)> {
    let is_preset = PRESETS.iter().any(|(n, _)| *n == m.config);
    let cfg = if is_preset {
        (m.config.as_str(), None)
    } else if Path::new(&m.config).exists() {
        let text =
            std::fs::read_to_string(&m.config).with_context(|| format!("reading {}", m.config))?;
        ("", Some(text))
    } else {
        bail!(
            "configuration '{}' is neither a preset ({}) nor a file",
            m.config,
            PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
        );
    };
    Ok(cfg)
}

fn open_source(s: &SourceArgs) -> Result<(Box<dyn InstrStream>, String, bool)> {
    if let Some(path) = &s.trace {
        let stream = frontend::open_trace(path)?;
        return Ok((stream, path.display().to_string(), true));
    }
    let name = s.workload.clone().unwrap_or_else(|| "mixed".into());
    let kind = match s.kind.as_deref() {
        None => None,
        Some("int") => Some(Kind::Int),
        Some("mul") => Some(Kind::Mul),
        Some("div") => Some(Kind::Div),
        Some("fp") => Some(Kind::Fp),
        Some(o) => bail!("--kind {o}: expected int, mul, div or fp"),
    };
    let op = match s.op.as_deref() {
        None => None,
        Some("read") => Some(StreamOp::Read),
        Some("write") => Some(StreamOp::Write),
        Some("copy") => Some(StreamOp::Copy),
        Some(o) => bail!("--op {o}: expected read, write or copy"),
    };
    let footprint = match &s.footprint {
        Some(f) => Some(parse_size(f).map_err(|e| anyhow::anyhow!("--footprint: {e}"))?),
        None => None,
    };
    let params = Params {
        footprint,
        ilp: s.ilp,
        kind,
        op,
        taken_percent: s.taken_percent,
        period: s.period,
        n: s.n,
        block: s.block,
    };
    let w = Workload::from_name(&name, &params).map_err(|e| anyhow::anyhow!("--workload: {e}"))?;
    let label = w.describe();
    Ok((Box::new(w.stream(s.seed)), label, false))
}

fn cmd_run_multi(a: RunArgs) -> Result<()> {
    let mut overrides = a.machine.overrides.clone();
    if let Some(core) = &a.machine.core {
        overrides.push(format!("core.model={core}"));
    }
    if let Some(n) = a.cores {
        overrides.push(format!("system.cores={n}"));
    } else if !a.thread_traces.is_empty() {
        overrides.push(format!("system.cores={}", a.thread_traces.len()));
    }
    let (base_name, text) = config_source(&a.machine)?;
    let file = text.as_deref().map(|t| (a.machine.config.as_str(), t));
    let (base, cores) = multicore::per_core_configs(base_name, file, &overrides, &a.per_core)?;
    let n = base.system.cores;
    let (streams, label): (Vec<Box<dyn InstrStream + Send>>, String) =
        if !a.thread_traces.is_empty() {
            if a.thread_traces.len() > n as usize {
                bail!(
                    "{} --thread-trace files for {n} cores: give at most one per core",
                    a.thread_traces.len()
                );
            }
            let mut v = Vec::new();
            for p in &a.thread_traces {
                v.push(frontend::open_trace_send(p)?);
            }
            // Cores beyond the traces run threads that are never created (as in the live
            // QEMU run that recorded them on a machine with more cores than threads).
            for k in a.thread_traces.len() as u32..n {
                v.push(frontend::threads::unstarted(k));
            }
            (v, format!("{} thread traces", a.thread_traces.len()))
        } else {
            let name = a.source.workload.clone().unwrap_or_else(|| "stream".into());
            let footprint = match &a.source.footprint {
                Some(f) => Some(parse_size(f).map_err(|e| anyhow::anyhow!("--footprint: {e}"))?),
                None => None,
            };
            let params = ParallelParams {
                op: a.source.op.clone(),
                padded: a.padded,
                footprint,
            };
            let w = ParallelWorkload::from_name(&name, &params)
                .map_err(|e| anyhow::anyhow!("--workload: {e}"))?;
            let total = match &a.instructions {
                Some(s) => parse_count(s)?,
                None => 500_000 * n as u64,
            };
            let per = (total / n as u64).max(1);
            (w.streams(n, per, a.source.seed), w.describe())
        };
    let host_threads = a.host_threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(1)
    });
    if host_threads == 0 {
        bail!("--host-threads must be at least 1");
    }
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {human_pos} instr  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let t0 = Instant::now();
    let stats = multicore::run(
        &base,
        &cores,
        streams,
        &label,
        multicore::Options { host_threads },
        mips_progress(&bar, t0),
    )?;
    bar.finish_and_clear();
    print_and_save(&stats, &stats.to_text(), a.print_json, a.json.as_deref())?;
    if let Some(p) = &a.svg {
        stats.write_svg(p)?;
    }
    Ok(())
}

fn cmd_run(a: RunArgs) -> Result<()> {
    let cfg = load_config(&a.machine)?;
    if a.program.is_empty()
        && (a.cores.is_some() || !a.thread_traces.is_empty() || cfg.system.cores > 1)
    {
        return cmd_run_multi(a);
    }
    if !a.program.is_empty() {
        let code = frontend::qemu::cli_run(
            cfg,
            &a.qemu,
            a.cores,
            &a.program,
            a.json.as_deref(),
            a.svg.as_deref(),
        )?;
        std::process::exit(code);
    }
    let (mut stream, label, is_trace) = open_source(&a.source)?;
    let warmup = parse_count(&a.warmup)?;
    let instructions = match &a.instructions {
        Some(n) => parse_count(n)?,
        None if is_trace => 0,
        None => 10_000_000,
    };
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else if instructions > 0 {
        ProgressBar::new(instructions)
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {human_pos}/{human_len} instr  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    let stats = sim::run(
        &cfg,
        &mut stream,
        &label,
        Limits {
            warmup,
            instructions,
        },
        mips_progress(&bar, t0),
    )?;
    bar.finish_and_clear();
    print_and_save(&stats, &stats.to_text(), a.print_json, a.json.as_deref())?;
    if let Some(p) = &a.svg {
        stats::write_cpi_svg(
            p,
            std::slice::from_ref(&stats),
            &format!("CPI stack — {}", cfg.name),
        )?;
    }
    Ok(())
}

/// Progress callback of a run: simulated instructions on the bar, live MIPS as its message.
fn mips_progress(bar: &ProgressBar, t0: Instant) -> impl FnMut(u64) + '_ {
    move |done| {
        bar.set_position(done);
        let secs = t0.elapsed().as_secs_f64();
        if secs > 0.0 {
            bar.set_message(format!("{:.1} MIPS", done as f64 / secs / 1e6));
        }
    }
}

/// Print a run's results (text, or JSON with `--print-json`) and save the JSON to `--json`.
fn print_and_save<T: serde::Serialize>(
    results: &T,
    text: &str,
    print_json: bool,
    json: Option<&std::path::Path>,
) -> Result<()> {
    if print_json {
        println!("{}", serde_json::to_string_pretty(results)?);
    } else {
        print!("{text}");
    }
    if let Some(p) = json {
        stats::write_atomic(p, serde_json::to_string_pretty(results)?.as_bytes())?;
    }
    Ok(())
}

fn cmd_trace(t: TraceCmd) -> Result<()> {
    match t {
        TraceCmd::Convert {
            source,
            output,
            instructions,
            threads: Some(n),
            padded,
        } => {
            if n == 0 || n > 256 {
                bail!("--threads {n}: expected 1-256");
            }
            let total = match instructions {
                Some(s) => parse_count(&s)?,
                None => bail!("trace convert of a workload needs -n/--instructions"),
            };
            let name = source.workload.clone().unwrap_or_else(|| "stream".into());
            let footprint = match &source.footprint {
                Some(f) => Some(parse_size(f).map_err(|e| anyhow::anyhow!("--footprint: {e}"))?),
                None => None,
            };
            let params = ParallelParams {
                op: source.op.clone(),
                padded,
                footprint,
            };
            let w = ParallelWorkload::from_name(&name, &params)
                .map_err(|e| anyhow::anyhow!("--workload: {e}"))?;
            let per = (total / n as u64).max(1);
            let stem = output.with_extension("");
            for (i, mut s) in w.streams(n, per, source.seed).into_iter().enumerate() {
                let path = PathBuf::from(format!("{}.{i}.ist", stem.display()));
                let k = frontend::compact::write_file(&path, &mut *s, u64::MAX, i as u32)?;
                eprintln!("wrote {k} instructions to {}", path.display());
            }
        }
        TraceCmd::Convert {
            source,
            output,
            instructions,
            threads: None,
            ..
        } => {
            let (mut stream, _, is_trace) = open_source(&source)?;
            let limit = match instructions {
                Some(n) => parse_count(&n)?,
                None if is_trace => u64::MAX,
                None => bail!("trace convert of a workload needs -n/--instructions"),
            };
            let n = frontend::write_trace(&output, &mut stream, limit)?;
            eprintln!("wrote {n} instructions to {}", output.display());
        }
        TraceCmd::Info { path } => {
            let mut stream = frontend::open_trace(&path)?;
            let info = frontend::TraceInfo::scan(&mut stream)?;
            print!("{}", info.to_text(&path.display().to_string()));
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run(a) => cmd_run(a),
        Cmd::Record(r) => std::process::exit(frontend::qemu::cli_record(&r)?),
        Cmd::Trace(t) => cmd_trace(t),
        Cmd::Sweep(a) => intervalsim::sweep::cli::main(a),
        Cmd::Cpistack { inputs, output } => {
            let mut runs = Vec::new();
            for p in &inputs {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                let r: RunStats = serde_json::from_str(&text).with_context(|| {
                    format!("{}: not a result file written by `run --json`", p.display())
                })?;
                runs.push(r);
            }
            stats::write_cpi_svg(&output, &runs, "CPI stacks")?;
            eprintln!("wrote {}", output.display());
            Ok(())
        }
        Cmd::Configs { name } => {
            match name {
                None => {
                    for (n, text) in PRESETS {
                        let first = text.lines().next().unwrap_or("").trim_start_matches("# ");
                        println!("{n:<12} {first}");
                    }
                }
                Some(n) => {
                    let (_, text) = PRESETS
                        .iter()
                        .find(|(p, _)| *p == n)
                        .with_context(|| format!("unknown preset '{n}'"))?;
                    print!("{text}");
                }
            }
            let _ = NAMES;
            let _ = CoreModel::Interval;
            Ok(())
        }
    }
}
