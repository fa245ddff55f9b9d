//! `nixie`: the Nixie clock daemon and its simulator (thin CLI over the library).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use jiff::Timestamp;

use nixie::backend::gpio::GpioBackend;
use nixie::backend::sim::SimBackend;
use nixie::clock::{OffsetClock, SystemClock, TimeSource};
use nixie::config::{Config, DEFAULT_TOML};
use nixie::daemon::{Daemon, SignalFlags};
use nixie::mux::Frame;
use nixie::scope;

/// Where the daemon looks for its configuration when `--config` is not given.
const SYSTEM_CONFIG: &str = "/etc/nixie/nixie.toml";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendKind {
    /// Real tubes through /dev/gpiochip* (Raspberry Pi).
    Gpio,
    /// Simulated board, no output (for testing the daemon headless).
    Sim,
    /// Simulated board drawn in the terminal.
    Term,
}

#[derive(Debug, Parser)]
#[command(
    name = "nixie",
    version,
    about = "Nixie clock daemon: multiplexed tubes, NTP time, automatic DST"
)]
struct Cli {
    /// Configuration file [default: /etc/nixie/nixie.toml if it exists, else built-in].
    #[arg(short, long, global = true)]
    config: Option<PathBuf>,
    /// Output backend.
    #[arg(short, long, value_enum, default_value = "gpio")]
    backend: BackendKind,
    /// Validate the configuration and exit.
    #[arg(long)]
    check_config: bool,
    /// Print the built-in configuration (every key, documented) and exit.
    #[arg(long)]
    print_config: bool,
    /// Start the clock at this instant instead of now (demo), e.g. 2026-03-29T00:59:50Z.
    #[arg(long, value_name = "RFC3339")]
    time: Option<Timestamp>,
    /// Stop the daemon after this long, e.g. 20s (gpio and sim backends).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    run_for: Option<Duration>,
    /// With --for: print the multiplexer's edge jitter, wake-up lateness,
    /// spin and the daemon's CPU use when it stops.
    #[arg(long, requires = "run_for")]
    report: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record the simulated board and draw or measure the waveform.
    Sim(SimArgs),
}

#[derive(Debug, clap::Args)]
struct SimArgs {
    /// How long to record, e.g. 50ms, 3s.
    #[arg(long = "for", value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    duration: Duration,
    /// Write a timing diagram (the oscilloscope view) of the first 50 ms to this SVG file.
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
    /// Print frame rate, duty per tube, blank widths and edge jitter.
    #[arg(long)]
    report: bool,
    /// Digits to show, e.g. 1234 [default: the current time].
    #[arg(long, value_name = "DIGITS")]
    show: Option<String>,
    /// Run in virtual time (instant, exact) instead of real time.
    #[arg(long = "virtual")]
    virtual_time: bool,
}

/// Parses `50ms`, `3s`, `1.5s`, `250us`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{s:?}: missing unit (ns, us, ms, s)"))?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: {num:?} is not a number"))?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "min" => 60.0,
        u => return Err(format!("{s:?}: unknown unit {u:?} (ns, us, ms, s, min)")),
    };
    let secs = v * scale;
    if !(secs > 0.0 && secs <= 3600.0) {
        return Err(format!("{s:?}: must be between 0 and 1 hour"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_digits(s: &str) -> Result<[Option<u8>; 4]> {
    let chars: Vec<char> = s.chars().filter(|&c| c != ':').collect();
    if chars.len() != 4 {
        bail!("--show {s:?}: give four digits (a space for a dark tube), e.g. 1234 or 12:34");
    }
    let mut out = [None; 4];
    for (o, c) in out.iter_mut().zip(chars) {
        *o = match c {
            ' ' | '-' => None,
            c => Some(
                c.to_digit(10)
                    .with_context(|| format!("--show {s:?}: {c:?} is not a digit"))?
                    as u8,
            ),
        };
    }
    Ok(out)
}

fn load_config(path: Option<&Path>) -> Result<(Config, Option<PathBuf>)> {
    match path {
        Some(p) => Ok((Config::load(p)?, Some(p.to_path_buf()))),
        None if Path::new(SYSTEM_CONFIG).exists() => {
            let p = PathBuf::from(SYSTEM_CONFIG);
            Ok((Config::load(&p)?, Some(p)))
        }
        None => Ok((Config::parse(DEFAULT_TOML, "built-in configuration")?, None)),
    }
}

fn init_logging(quiet: bool) {
    let default = if quiet { "error" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn sim(cfg: &Config, args: &SimArgs, clock: &dyn TimeSource) -> Result<()> {
    let frame = match &args.show {
        Some(s) => Frame {
            digits: parse_digits(s)?,
            colon: true,
            brightness: cfg.mux.brightness,
            hv: true,
        },
        None => {
            let (tz, _) = nixie::clock::load_zone(cfg.zone_name()).map_err(anyhow::Error::msg)?;
            let display = nixie::display::Display::new(cfg, tz);
            let mut f = display
                .render(clock.now(), clock.sync(), Duration::from_secs(3600))
                .frame;
            // The colon blinks at 1 Hz; show it lit so it appears on the diagram.
            f.colon = true;
            f
        }
    };
    let frames = (args.duration.as_secs_f64() * f64::from(cfg.mux.frame_hz))
        .ceil()
        .max(1.0) as u64;
    let run = scope::record(cfg, frame, frames, args.virtual_time)?;
    if let Some(path) = &args.svg {
        let window = args.duration.min(Duration::from_millis(50)).as_nanos() as u64;
        scope::write_atomically(path, &scope::svg(&run, window))?;
        eprintln!("wrote {}", path.display());
    }
    let analysis = run.analyse();
    if args.report || args.svg.is_none() {
        print!("{}", scope::report(&run, &analysis));
    }
    if !analysis.violations.is_empty() {
        bail!(
            "{} invariant violations in the recorded waveform",
            analysis.violations.len()
        );
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.backend == BackendKind::Term && cli.command.is_none());
    if let Err(e) = run(cli) {
        eprintln!("nixie: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    if cli.print_config {
        print!("{DEFAULT_TOML}");
        return Ok(());
    }
    let (cfg, path) = load_config(cli.config.as_deref())?;
    if cli.check_config {
        println!(
            "{}: ok",
            path.as_ref()
                .map_or("built-in configuration".into(), |p| p.display().to_string())
        );
        return Ok(());
    }
    let clock: Arc<dyn TimeSource> = match cli.time {
        Some(t) => Arc::new(OffsetClock::starting_at(t)),
        None => Arc::new(SystemClock),
    };
    if let Some(Command::Sim(args)) = &cli.command {
        return sim(&cfg, args, clock.as_ref());
    }
    let started = Instant::now();
    let host0 = scope::host_cpu_ticks();
    let flags = SignalFlags::install()?;
    let chip = cfg.pins.chip.clone();
    let pins = cfg.pin_map();
    let timing = cfg.timing();
    let mut daemon = Daemon::new(cfg, path, clock)?;
    let (report, name) = match cli.backend {
        BackendKind::Gpio => {
            let backend = GpioBackend::open(&chip, &pins)
                .context("no GPIO chip here? try `--backend term` for the simulated board")?;
            (daemon.run_for(backend, &flags, cli.run_for)?, "gpio")
        }
        BackendKind::Sim => (
            daemon.run_for(SimBackend::new(0).0, &flags, cli.run_for)?,
            "sim",
        ),
        BackendKind::Term => {
            if cli.run_for.is_some() {
                bail!("--for works with --backend gpio or sim, not term");
            }
            return nixie::term::run(&mut daemon, &flags);
        }
    };
    if let (true, Some(r)) = (cli.report, report) {
        let wall = started.elapsed().as_nanos() as u64;
        let host = host0.zip(scope::host_cpu_ticks());
        print!(
            "{}",
            scope::daemon_report(&r, &timing, name, process_cpu_ns(), wall, host)
        );
    }
    Ok(())
}

/// CPU time (user + system) this process has used so far (ns).
fn process_cpu_ns() -> u64 {
    // SAFETY: an all-zero rusage is valid; getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("50ms").unwrap(), Duration::from_millis(50));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert!(parse_duration("50").unwrap_err().contains("missing unit"));
        assert!(parse_duration("5h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn digits() {
        assert_eq!(
            parse_digits("12:34").unwrap(),
            [Some(1), Some(2), Some(3), Some(4)]
        );
        assert_eq!(
            parse_digits(" 905").unwrap(),
            [None, Some(9), Some(0), Some(5)]
        );
        assert!(parse_digits("12a4").is_err());
        assert!(parse_digits("123").is_err());
    }
}
