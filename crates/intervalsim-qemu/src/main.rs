//! `intervalsim-qemu`: run a real x86-64 Linux program under QEMU with the intervalsim plugin.
//!
//! A thin command line over `intervalsim::frontend::qemu` (the same code behind
//! `intervalsim run -- ./prog`); it contains no plugin code. Building it with Cargo also builds the
//! plugin shared object into the same directory, where the launcher finds it.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use intervalsim::config::{Config, PRESETS};
use intervalsim::frontend::qemu::{self, QemuArgs, RecordArgs};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "intervalsim-qemu",
    version,
    about = "Simulate real x86-64 Linux programs (threads included) with intervalsim under QEMU"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a program and simulate it, one core per thread; the report goes to stderr.
    Run {
        /// Preset name or TOML file.
        #[arg(short = 'c', long = "config", default_value = "gainestown")]
        config: String,
        /// Override a key: section.key=value (repeatable).
        #[arg(short = 'o', long = "set")]
        overrides: Vec<String>,
        #[command(flatten)]
        qemu: QemuArgs,
        /// Cores of the simulated machine: guest thread k runs on core k of the multi-core
        /// engine (default: the configuration's `system.cores`, at least 8); 1 simulates each
        /// thread inline on its guest thread (fastest for single-threaded programs).
        #[arg(long, value_name = "N")]
        cores: Option<u32>,
        /// Also write the report as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also draw the per-thread CPI stacks as SVG.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// The program and its arguments (after `--`).
        #[arg(last = true, required = true, value_name = "PROGRAM")]
        program: Vec<OsString>,
    },
    /// Record the program's instructions as traces (intervalsim compact, optionally ChampSim).
    Record(RecordArgs),
    /// Show which QEMU and plugin would be used.
    Doctor,
}

fn load_config(name: &str, overrides: &[String]) -> Result<Config> {
    if PRESETS.iter().any(|(n, _)| *n == name) {
        return Ok(Config::build(name, None, overrides)?);
    }
    if Path::new(name).is_file() {
        let text = std::fs::read_to_string(name).with_context(|| format!("reading {name}"))?;
        return Ok(Config::build("", Some((name, &text)), overrides)?);
    }
    bail!(
        "configuration '{name}' is neither a preset ({}) nor a file",
        PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
    )
}

fn main() -> Result<()> {
    let code = match Cli::parse().cmd {
        Cmd::Run {
            config,
            overrides,
            qemu: q,
            cores,
            json,
            svg,
            program,
        } => {
            let cfg = load_config(&config, &overrides)?;
            qemu::cli_run(cfg, &q, cores, &program, json.as_deref(), svg.as_deref())?
        }
        Cmd::Record(r) => qemu::cli_record(&r)?,
        Cmd::Doctor => {
            let q = qemu::find_qemu()?;
            println!("qemu:   {} ({})", q.path.display(), q.version);
            println!("plugin: {}", qemu::find_plugin()?.display());
            0
        }
    };
    std::process::exit(code)
}
