//! Execution-driven front end: real x86-64 Linux programs run under QEMU's user-mode emulator
//! with the `intervalsim-qemu` TCG plugin, which feeds this crate's timing model live, one
//! simulated core per guest thread.
//!
//! This module is the launcher and the results schema. It finds a `qemu-x86_64` that can load
//! TCG plugins, finds the plugin shared object, builds the command line, runs the program with
//! its stdin, stdout and stderr passed through (the program's exit code is kept), and reads back
//! the [`Report`] the plugin writes at exit. The plugin itself lives in its own crate
//! (GPL-2.0-or-later, as QEMU plugins must be) and links this library for the core models.
//!
//! Where things are looked for:
//! * QEMU: `$INTERVALSIM_QEMU`, then `qemu-x86_64` on `PATH`, then
//!   `/opt/intervalsim-qemu/bin/qemu-x86_64` (where `scripts/setup-intervalsim-qemu` unpacks
//!   Debian 12's qemu-user 7.2); the first one that accepts `-plugin` wins. Debian 12's
//!   `qemu-user` 7.2 (plugin API v1) works; the static `qemu-user` 10.0 of bookworm-backports
//!   was built without plugin support and is rejected with a message saying what to install.
//! * The plugin: `$INTERVALSIM_QEMU_PLUGIN`, then `libintervalsim_qemu.so` next to the running
//!   executable or one directory up (Cargo puts both in `target/<profile>/`).
//!
//! ```
//! use intervalsim::frontend::qemu::{plugin_argument, escape_plugin_value};
//! assert_eq!(escape_plugin_value("/tmp/a,b"), "/tmp/a,,b");
//! let arg = plugin_argument("/p/libintervalsim_qemu.so".as_ref(), &[("mode", "sim".into())]);
//! assert_eq!(arg, "/p/libintervalsim_qemu.so,mode=sim");
//! ```

use crate::config::Config;
use crate::stats::RunStats;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Environment variable naming the `qemu-x86_64` to use.
pub const QEMU_ENV: &str = "INTERVALSIM_QEMU";
/// Environment variable naming the plugin shared object.
pub const PLUGIN_ENV: &str = "INTERVALSIM_QEMU_PLUGIN";
/// File name of the plugin as Cargo builds it.
pub const PLUGIN_FILE: &str = "libintervalsim_qemu.so";
/// Where `scripts/setup-intervalsim-qemu` puts a plugin-capable QEMU when the system's is not.
pub const FALLBACK_QEMU: &str = "/opt/intervalsim-qemu/bin/qemu-x86_64";
/// Version of the [`Report`] layout; the plugin and the launcher must agree.
pub const REPORT_VERSION: u32 = 2;

/// What went wrong while launching or reading back a run.
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    /// No usable QEMU.
    #[error("{0}")]
    NoQemu(String),
    /// The plugin shared object was not found.
    #[error("{0}")]
    NoPlugin(String),
    /// The program to run is missing.
    #[error("program `{0}` not found (give a path or a name on PATH)")]
    NoProgram(String),
    /// QEMU could not be started.
    #[error("could not start {path}: {source}")]
    Spawn {
        /// QEMU binary.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The plugin wrote no report or an unreadable one.
    #[error("{0}")]
    Report(String),
}

/// A QEMU binary that can load plugins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qemu {
    /// Path of `qemu-x86_64`.
    pub path: PathBuf,
    /// First line of `--version`.
    pub version: String,
}

/// Per-thread counters the plugin keeps whatever the mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadCounts {
    /// Instructions executed (all of them, simulated or not).
    pub instructions: u64,
    /// Translation blocks executed.
    pub blocks: u64,
    /// Memory accesses seen (record modes only).
    pub memory_accesses: u64,
    /// Memory accesses that did not fit an instruction record (more than `MAX_MEM`).
    pub memory_accesses_dropped: u64,
    /// System calls made.
    pub syscalls: u64,
    /// `futex` system calls made.
    pub futex_calls: u64,
    /// Synchronisation records in the thread's stream (thread creation and exit, futex waits
    /// that sleep, wakes that wake a sleeper): the multi-core engine executes them as
    /// instructions, so its core counts them on top of the program's instructions.
    #[serde(default)]
    pub sync_events: u64,
}

/// One guest thread's results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadReport {
    /// Guest thread number, in creation order from 0 (the main thread); also the core number.
    pub thread: u32,
    /// Linux thread id (as the guest saw it).
    pub tid: i64,
    /// Counters.
    pub counts: ThreadCounts,
    /// Timing results of this thread's core (simulation mode only).
    pub stats: Option<RunStats>,
    /// Cycles the thread spent blocked (futex waits, joins) while other threads advanced. With
    /// the multi-core engine ([`Report::multicore`]) this is the `sync` component already in
    /// the core's CPI stack and cycles; with the inline single-core path it comes on top.
    pub sync_cycles: u64,
    /// Simulated cycle at which the thread started (its creator's time at `clone`).
    pub start_cycle: u64,
    /// Simulated cycle at which it ended.
    pub end_cycle: u64,
}

/// Lax-barrier statistics of a simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BarrierStats {
    /// Quantum in simulated nanoseconds.
    pub quantum_ns: u64,
    /// Quanta crossed (summed over threads).
    pub crossings: u64,
    /// Crossings that had to wait for another thread.
    pub waits: u64,
    /// Waits abandoned because no other thread made progress for a long time (QEMU can stop a
    /// thread inside its own exclusive sections; the barrier gives way rather than deadlock).
    pub timeouts: u64,
}

/// Everything the plugin reports at program exit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Layout version, [`REPORT_VERSION`].
    pub version: u32,
    /// Plugin mode: `count`, `sim` or `trace`.
    pub mode: String,
    /// Threads in creation order.
    pub threads: Vec<ThreadReport>,
    /// Instructions executed before simulation started (fast-forward, outside the ROI).
    pub skipped_instructions: u64,
    /// Whether `--max-instr` ended the simulation early.
    pub truncated: bool,
    /// Lax-barrier statistics (simulation mode).
    pub barrier: BarrierStats,
    /// Host seconds from plugin load to program exit.
    pub wall_seconds: f64,
    /// The multi-core engine's results (core *k* ran guest thread *k*), when the run used it:
    /// the same statistics `intervalsim run --cores N --thread-trace …` gives for the
    /// recorded per-thread traces.
    #[serde(default)]
    pub multicore: Option<crate::multicore::report::MultiStats>,
}

impl Report {
    /// Instructions executed by all threads.
    pub fn total_instructions(&self) -> u64 {
        self.threads.iter().map(|t| t.counts.instructions).sum()
    }

    /// The program's instructions simulated by all cores (without the synchronisation records
    /// the multi-core engine also executes).
    pub fn simulated_instructions(&self) -> u64 {
        self.threads
            .iter()
            .filter_map(|t| t.stats.as_ref().map(|s| (s, t.counts.sync_events)))
            .map(|(s, sync)| s.core.instructions.saturating_sub(sync))
            .sum()
    }

    /// Instructions written to traces (trace mode): all executed minus those not recorded.
    pub fn simulated_instructions_recorded(&self) -> u64 {
        self.total_instructions()
            .saturating_sub(self.skipped_instructions)
    }

    /// Simulated instructions per host second, in millions.
    pub fn mips(&self) -> f64 {
        let n = if self.mode == "sim" {
            self.simulated_instructions()
        } else {
            self.total_instructions()
        };
        if self.wall_seconds > 0.0 {
            n as f64 / self.wall_seconds / 1e6
        } else {
            0.0
        }
    }

    /// A text report: one Sniper-like block per thread/core (with the `sync` component), then a
    /// summary.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for t in &self.threads {
            let _ = writeln!(
                s,
                "== thread {} (tid {}): {} instructions, {} syscalls ({} futex)",
                t.thread, t.tid, t.counts.instructions, t.counts.syscalls, t.counts.futex_calls
            );
            if let Some(stats) = &t.stats
                && self.multicore.is_some()
            {
                let c = &stats.core;
                let _ = writeln!(
                    s,
                    "  core {}: {} instructions ({} sync records), {} cycles from {} to {}, IPC \
                     {:.3}, sync {:.1}%",
                    t.thread,
                    c.instructions,
                    t.counts.sync_events,
                    c.cycles,
                    t.start_cycle,
                    t.end_cycle,
                    c.ipc(),
                    100.0 * t.sync_cycles as f64 / c.cycles.max(1) as f64
                );
            } else if let Some(stats) = &t.stats {
                s.push_str(&stats.to_text());
                let cycles = stats.core.cycles + t.sync_cycles;
                let per = |c: u64| c as f64 / stats.core.instructions.max(1) as f64;
                let _ = writeln!(
                    s,
                    "  {:<28}| {:>14}",
                    "  sync (blocked)",
                    format!(
                        "{:.4} {:>5.1}%",
                        per(t.sync_cycles),
                        100.0 * t.sync_cycles as f64 / cycles.max(1) as f64
                    )
                );
                let _ = writeln!(
                    s,
                    "  {:<28}| {:>14}",
                    "  total with sync",
                    format!("{:.4}", per(cycles))
                );
                let _ = writeln!(
                    s,
                    "  {:<28}| {:>14}",
                    "Active cycles",
                    format!("{}..{}", t.start_cycle, t.end_cycle)
                );
            }
        }
        if let Some(m) = &self.multicore {
            let _ = writeln!(s, "== multi-core engine (core k = thread k)");
            s.push_str(&m.to_text());
        }
        let _ = writeln!(s, "== total");
        let _ = writeln!(s, "  {:<28}| {:>14}", "Threads", self.threads.len());
        let _ = writeln!(
            s,
            "  {:<28}| {:>14}",
            "Instructions",
            self.total_instructions()
        );
        if self.mode == "sim" {
            let _ = writeln!(
                s,
                "  {:<28}| {:>14}",
                "Simulated instructions",
                self.simulated_instructions()
            );
            if let Some(end) = self.threads.iter().map(|t| t.end_cycle).max() {
                let _ = writeln!(s, "  {:<28}| {:>14}", "Simulated cycles", end);
            }
            let b = &self.barrier;
            let _ = writeln!(s, "  {:<28}| {:>14}", "Barrier quantum (ns)", b.quantum_ns);
            if self.multicore.is_none() {
                let _ = writeln!(
                    s,
                    "  {:<28}| {:>14}",
                    "Barrier waits / timeouts",
                    format!("{} / {}", b.waits, b.timeouts)
                );
            }
        }
        if self.skipped_instructions > 0 {
            let _ = writeln!(
                s,
                "  {:<28}| {:>14}",
                "Not simulated (ff/ROI)", self.skipped_instructions
            );
        }
        let _ = writeln!(s, "  {:<28}| {:>14.3}", "Host seconds", self.wall_seconds);
        let _ = writeln!(s, "  {:<28}| {:>14.2}", "MIPS", self.mips());
        s
    }
}

/// What the plugin should do, as the launcher passes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Count instructions per thread.
    Count,
    /// Simulate with the timing model.
    #[default]
    Sim,
    /// Record traces only.
    Trace,
}

impl Mode {
    /// The plugin's name for the mode.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Count => "count",
            Mode::Sim => "sim",
            Mode::Trace => "trace",
        }
    }
}

/// Options of one execution-driven run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// What the plugin does.
    pub mode: Mode,
    /// Machine configuration (simulation mode); `None` = the plugin's default preset.
    pub config: Option<Config>,
    /// Quantum in simulated nanoseconds; `None` = the configuration's `system.quantum_ns`.
    pub quantum_ns: Option<u64>,
    /// Cores of the simulated machine; guest thread *k* runs on core *k*. `None` = the
    /// plugin's default (the configuration's `system.cores`, at least 8); 1 = the inline
    /// single-core path (each thread simulated on its own guest thread).
    pub cores: Option<u32>,
    /// Simulate only between ROI markers.
    pub roi: bool,
    /// Instructions to run functionally before simulating.
    pub fast_forward: u64,
    /// Stop simulating after this many instructions (0 = no limit).
    pub max_instr: u64,
    /// Write our trace format here (one stream per thread).
    pub trace: Option<PathBuf>,
    /// Write a ChampSim trace here (single-threaded programs).
    pub champsim: Option<PathBuf>,
    /// Use this QEMU instead of searching.
    pub qemu: Option<PathBuf>,
    /// Use this plugin instead of searching.
    pub plugin: Option<PathBuf>,
}

/// Whether `qemu` accepts `-plugin`, and its version line. `Err` explains what is wrong.
pub fn probe_qemu(qemu: &Path) -> Result<Qemu, String> {
    let out = Command::new(qemu)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", qemu.display()))?;
    let version = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let help = Command::new(qemu)
        .arg("-h")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", qemu.display()))?;
    let help = String::from_utf8_lossy(&help.stdout);
    if help.lines().any(|l| l.starts_with("-plugin")) {
        Ok(Qemu {
            path: qemu.to_path_buf(),
            version,
        })
    } else {
        Err(format!(
            "{} ({}) cannot load TCG plugins (it was built without them: `unknown option 'plugin'`)",
            qemu.display(),
            if version.is_empty() {
                "unknown version"
            } else {
                &version
            }
        ))
    }
}

fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Find a `qemu-x86_64` that loads plugins (see the module documentation for the order).
pub fn find_qemu() -> Result<Qemu, QemuError> {
    if let Some(p) = std::env::var_os(QEMU_ENV) {
        return probe_qemu(Path::new(&p))
            .map_err(|e| QemuError::NoQemu(format!("${QEMU_ENV}: {e}")));
    }
    let mut rejected = Vec::new();
    let candidates = search_path("qemu-x86_64")
        .into_iter()
        .chain(std::iter::once(PathBuf::from(FALLBACK_QEMU)));
    for c in candidates {
        if !c.is_file() {
            continue;
        }
        match probe_qemu(&c) {
            Ok(q) => return Ok(q),
            Err(e) => rejected.push(e),
        }
    }
    let found = if rejected.is_empty() {
        "no qemu-x86_64 found on PATH".to_string()
    } else {
        rejected.join("; ")
    };
    Err(QemuError::NoQemu(format!(
        "{found}. Install Debian 12's qemu-user 7.2, which can (`apt-get install qemu-user=1:7.2*`; \
         the static qemu-user 10.0 of bookworm-backports cannot), or run \
         scripts/setup-intervalsim-qemu, which unpacks it to {FALLBACK_QEMU}, or point \
         ${QEMU_ENV} at a qemu-x86_64 built with --enable-plugins"
    )))
}

/// Find the plugin shared object (see the module documentation for the order).
pub fn find_plugin() -> Result<PathBuf, QemuError> {
    if let Some(p) = std::env::var_os(PLUGIN_ENV) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(QemuError::NoPlugin(format!(
                "${PLUGIN_ENV} names {}, which does not exist",
                p.display()
            )))
        };
    }
    let exe = std::env::current_exe().ok();
    let dirs: Vec<PathBuf> = exe
        .iter()
        .filter_map(|e| e.parent())
        .flat_map(|d| [Some(d.to_path_buf()), d.parent().map(Path::to_path_buf)])
        .flatten()
        .collect();
    for d in &dirs {
        let p = d.join(PLUGIN_FILE);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(QemuError::NoPlugin(format!(
        "the QEMU plugin {PLUGIN_FILE} was not found next to {} ; build it with \
         `cargo build --release -p intervalsim-qemu` (same profile as this binary) or set ${PLUGIN_ENV}",
        exe.map(|e| e.display().to_string())
            .unwrap_or_else(|| "this executable".into())
    )))
}

/// QEMU's option parser splits on commas; a literal comma is written twice.
pub fn escape_plugin_value(v: &str) -> String {
    v.replace(',', ",,")
}

/// The `-plugin` argument: the shared object followed by `key=value` pairs.
pub fn plugin_argument(plugin: &Path, args: &[(&str, String)]) -> String {
    let mut s = escape_plugin_value(&plugin.to_string_lossy());
    for (k, v) in args {
        let _ = write!(s, ",{k}={}", escape_plugin_value(v));
    }
    s
}

/// The plugin's `key=value` arguments for `opts`, with the report written to `out` and the
/// configuration (if any) read from `config_file`.
pub fn plugin_args(
    opts: &RunOptions,
    out: &Path,
    config_file: Option<&Path>,
) -> Vec<(&'static str, String)> {
    let mut a = vec![
        ("mode", opts.mode.name().to_string()),
        ("out", out.to_string_lossy().into_owned()),
    ];
    if let Some(c) = config_file {
        a.push(("config", c.to_string_lossy().into_owned()));
    }
    if let Some(q) = opts.quantum_ns {
        a.push(("quantum-ns", q.to_string()));
    }
    if let Some(c) = opts.cores {
        a.push(("cores", c.to_string()));
    }
    if opts.roi {
        a.push(("roi", "on".into()));
    }
    if opts.fast_forward > 0 {
        a.push(("fast-forward", opts.fast_forward.to_string()));
    }
    if opts.max_instr > 0 {
        a.push(("max-instr", opts.max_instr.to_string()));
    }
    if let Some(t) = &opts.trace {
        a.push(("trace", t.to_string_lossy().into_owned()));
    }
    if let Some(t) = &opts.champsim {
        a.push(("champsim", t.to_string_lossy().into_owned()));
    }
    a
}

/// The outcome of a run: the program's exit code and the plugin's report.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The program's exit status code (128 + signal number when it was killed by a signal).
    pub exit_code: i32,
    /// What the plugin measured.
    pub report: Report,
    /// The QEMU that ran it.
    pub qemu: Qemu,
}

/// Run `program args…` under QEMU with the plugin, stdin/stdout/stderr passed through, and read
/// back the report.
pub fn run(opts: &RunOptions, program: &str, args: &[OsString]) -> Result<Outcome, QemuError> {
    let qemu = match &opts.qemu {
        Some(p) => probe_qemu(p).map_err(QemuError::NoQemu)?,
        None => find_qemu()?,
    };
    let plugin = match &opts.plugin {
        Some(p) => p.clone(),
        None => find_plugin()?,
    };
    let program_path = if program.contains('/') {
        PathBuf::from(program)
    } else {
        search_path(program).ok_or_else(|| QemuError::NoProgram(program.to_string()))?
    };
    if !program_path.is_file() {
        return Err(QemuError::NoProgram(program.to_string()));
    }
    let dir = tempfile_dir()?;
    let out = dir.join("report.json");
    let config_file = match &opts.config {
        Some(c) => {
            let p = dir.join("config.toml");
            std::fs::write(&p, c.to_toml())
                .map_err(|e| QemuError::Report(format!("{}: {e}", p.display())))?;
            Some(p)
        }
        None => None,
    };
    let arg = plugin_argument(&plugin, &plugin_args(opts, &out, config_file.as_deref()));
    let status = Command::new(&qemu.path)
        .arg("-plugin")
        .arg(&arg)
        .arg(&program_path)
        .args(args)
        .status()
        .map_err(|source| QemuError::Spawn {
            path: qemu.path.clone(),
            source,
        });
    let result = status.and_then(|status| {
        let exit_code = exit_code(status);
        let text = std::fs::read_to_string(&out).map_err(|e| {
            QemuError::Report(format!(
                "the plugin wrote no report ({}: {e}); QEMU exited with code {exit_code}",
                out.display()
            ))
        })?;
        let report: Report = serde_json::from_str(&text)
            .map_err(|e| QemuError::Report(format!("{}: {e}", out.display())))?;
        if report.version != REPORT_VERSION {
            return Err(QemuError::Report(format!(
                "plugin report version {} but this intervalsim reads version {REPORT_VERSION}; \
                 rebuild both from the same checkout",
                report.version
            )));
        }
        Ok(Outcome {
            exit_code,
            report,
            qemu: qemu.clone(),
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Command-line options of execution-driven runs (`intervalsim run … -- ./prog args`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct QemuArgs {
    /// Simulate only between ROI markers (`xchg %bx,%bx` … `xchg %cx,%cx`).
    #[arg(long)]
    pub roi: bool,
    /// Instructions (all threads) run without timing before simulation starts.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fast_forward: u64,
    /// Stop simulating after N simulated instructions; the program runs on, counted only.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_instr: u64,
    /// Quantum of simulated time between threads, nanoseconds (default: the configuration's
    /// `system.quantum_ns`, 100).
    #[arg(long, value_name = "NS")]
    pub quantum_ns: Option<u64>,
    /// Count instructions per thread only, no timing model.
    #[arg(long)]
    pub count_only: bool,
}

/// Options of `intervalsim record -- ./prog args`.
#[derive(Clone, Debug, clap::Args)]
pub struct RecordArgs {
    /// intervalsim compact trace (.ist) to write; thread k > 0 goes to NAME.tk.ist.
    #[arg(short, long, default_value = "trace.ist")]
    pub output: PathBuf,
    /// Also write a ChampSim trace (single-threaded programs; .gz/.xz compress).
    #[arg(long)]
    pub champsim: Option<PathBuf>,
    /// Record only between ROI markers.
    #[arg(long)]
    pub roi: bool,
    /// Instructions run before recording starts.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fast_forward: u64,
    /// Stop recording after N instructions.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_instr: u64,
    /// Simulate while recording, on a machine of N cores (the traces then replay with
    /// `intervalsim run --cores N --thread-trace …` to the statistics of this run).
    #[arg(long, value_name = "N")]
    pub cores: Option<u32>,
    /// The program and its arguments.
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    pub program: Vec<OsString>,
}

fn split_program(program: &[OsString]) -> Result<(String, &[OsString]), QemuError> {
    let (first, rest) = program
        .split_first()
        .ok_or_else(|| QemuError::NoProgram(String::new()))?;
    Ok((first.to_string_lossy().into_owned(), rest))
}

/// `intervalsim run [--cores N] -- ./prog args`: simulate on a machine of `cores` cores (guest
/// thread k on core k; `None`: the configuration's `system.cores`, at least 8; 1: the inline
/// single-core path), print the per-thread report to stderr (stdout belongs to the program),
/// optionally save it as JSON, and return the program's exit code.
pub fn cli_run(
    config: Config,
    args: &QemuArgs,
    cores: Option<u32>,
    program: &[OsString],
    json: Option<&Path>,
    svg: Option<&Path>,
) -> anyhow::Result<i32> {
    let opts = RunOptions {
        mode: if args.count_only {
            Mode::Count
        } else {
            Mode::Sim
        },
        config: Some(config),
        quantum_ns: args.quantum_ns,
        cores,
        roi: args.roi,
        fast_forward: args.fast_forward,
        max_instr: args.max_instr,
        ..RunOptions::default()
    };
    let (prog, rest) = split_program(program)?;
    let outcome = run(&opts, &prog, rest)?;
    eprint!("{}", outcome.report.to_text());
    if let Some(p) = json {
        crate::stats::write_atomic(p, serde_json::to_string_pretty(&outcome.report)?.as_bytes())?;
    }
    if let (Some(p), Some(m)) = (svg, &outcome.report.multicore) {
        m.write_svg(p)?;
    } else if let Some(p) = svg {
        let runs: Vec<RunStats> = outcome
            .report
            .threads
            .iter()
            .filter_map(|t| t.stats.clone())
            .collect();
        crate::stats::write_cpi_svg(p, &runs, &format!("CPI stacks per thread — {prog}"))?;
    }
    Ok(outcome.exit_code)
}

/// `intervalsim record -- ./prog args`: write traces of the program; returns its exit code.
pub fn cli_record(args: &RecordArgs) -> anyhow::Result<i32> {
    let opts = RunOptions {
        mode: if args.cores.is_some() {
            Mode::Sim
        } else {
            Mode::Trace
        },
        cores: args.cores,
        roi: args.roi,
        fast_forward: args.fast_forward,
        max_instr: args.max_instr,
        trace: Some(absolute(&args.output)),
        champsim: args.champsim.as_deref().map(absolute),
        ..RunOptions::default()
    };
    let (prog, rest) = split_program(&args.program)?;
    let outcome = run(&opts, &prog, rest)?;
    let r = &outcome.report;
    if r.mode == "sim" {
        eprint!("{}", r.to_text());
    }
    eprintln!(
        "recorded {} instructions of {} thread(s) to {}",
        r.simulated_instructions_recorded(),
        r.threads.len(),
        args.output.display()
    );
    Ok(outcome.exit_code)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn tempfile_dir() -> Result<PathBuf, QemuError> {
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let d = base.join(format!("intervalsim-qemu-{}-{attempt}", std::process::id()));
        match std::fs::create_dir(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(QemuError::Report(format!("{}: {e}", d.display()))),
        }
    }
    Err(QemuError::Report(format!(
        "could not create a scratch directory in {}",
        base.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_arguments_escape_commas() {
        let opts = RunOptions {
            mode: Mode::Sim,
            roi: true,
            max_instr: 1000,
            quantum_ns: Some(50),
            ..RunOptions::default()
        };
        let args = plugin_args(&opts, Path::new("/tmp/x,y/report.json"), None);
        let s = plugin_argument(Path::new("/p/lib.so"), &args);
        assert_eq!(
            s,
            "/p/lib.so,mode=sim,out=/tmp/x,,y/report.json,quantum-ns=50,roi=on,max-instr=1000"
        );
    }

    #[test]
    fn a_qemu_without_plugins_is_rejected_with_advice() {
        // `true` prints nothing for -h, like a QEMU that lacks -plugin would not list it.
        let e = probe_qemu(Path::new("/bin/true")).unwrap_err();
        assert!(e.contains("cannot load TCG plugins"), "{e}");
        let e = probe_qemu(Path::new("/nonexistent/qemu")).unwrap_err();
        assert!(e.contains("/nonexistent/qemu"), "{e}");
    }

    #[test]
    fn report_round_trips_and_sums() {
        let r = Report {
            version: REPORT_VERSION,
            mode: "count".into(),
            threads: vec![
                ThreadReport {
                    thread: 0,
                    counts: ThreadCounts {
                        instructions: 10,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                ThreadReport {
                    thread: 1,
                    counts: ThreadCounts {
                        instructions: 5,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            ],
            wall_seconds: 1.0,
            ..Default::default()
        };
        let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.total_instructions(), 15);
        assert!(back.to_text().contains("thread 1"));
    }
}
