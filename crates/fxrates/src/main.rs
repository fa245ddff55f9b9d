//! `fxrates`: the command line over the library (see `fxrates --help`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use fxrates::api::{Config, Service};
use fxrates::number::print;
use fxrates::update::{self, Feeds, Source};
use fxrates::{Day, Table};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const EXIT_HELP: &str = "\
Dates are YYYY-MM-DD. A date without ECB publication (weekend, TARGET holiday) uses the last
publication day before it, and every answer names the day it used. Codes are case-insensitive.
Currencies replaced by the euro (DEM, FRF, ITL, …, HRK, BGN) convert through their irrevocable
euro rate from the day they joined.

Exit codes:
  0  success
  1  no answer for the question (unknown currency, no rate on that day, bad range)
  2  usage error (bad arguments)
  3  update failed (download, malformed feed); nothing was changed
  4  I/O error (data directory, address in use)

Examples:
  fxrates convert 100 USD EUR --date 2001-02-03
  fxrates rate chf jpy
  fxrates range USD EUR --start 2020-03-01 --end 2020-03-31
  fxrates serve --addr 127.0.0.1:8080
  fxrates update --from-file eurofxref-hist.zip";

/// Historical currency conversion on the ECB euro reference rates (1999 onwards), offline.
#[derive(Parser)]
#[command(name = "fxrates", version, after_help = EXIT_HELP)]
struct Cli {
    /// Data directory holding updated rates (`rates.fxr`); the embedded history is used when
    /// it holds nothing newer.
    #[arg(long, global = true, env = "FXRATES_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert an amount: `fxrates convert 100 USD EUR --date 2001-02-03`.
    ///
    /// Prints `<result> <TO> (<rate> on <day used>)`; with --quiet just the result.
    Convert {
        /// Amount of FROM (a positive number).
        amount: f64,
        /// Source currency code.
        from: String,
        /// Target currency code.
        to: String,
        /// Date (default: latest publication day).
        #[arg(long, value_parser = parse_day)]
        date: Option<Day>,
        /// Print only the number.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print the rate FROM → TO (units of TO per one FROM).
    Rate {
        /// Source currency code.
        from: String,
        /// Target currency code (default USD, like the plain API).
        #[arg(default_value = "USD")]
        to: String,
        /// Date (default: latest publication day).
        #[arg(long, value_parser = parse_day)]
        date: Option<Day>,
    },
    /// Print `YYYY-MM-DD rate` for every publication day in a range.
    Range {
        /// Source currency code.
        from: String,
        /// Target currency code.
        to: String,
        /// First day.
        #[arg(long, value_parser = parse_day)]
        start: Day,
        /// Last day (default: latest publication day).
        #[arg(long, value_parser = parse_day)]
        end: Option<Day>,
        /// Longest range accepted, in days.
        #[arg(long, default_value_t = 20_000)]
        max_days: u32,
    },
    /// List currency codes with names: all, or those with a rate on --date.
    Currencies {
        /// Only currencies that convert on this day.
        #[arg(long, value_parser = parse_day)]
        date: Option<Day>,
    },
    /// Run the web service (plain-text API, Frankfurter JSON API, converter page at /).
    ///
    /// With a data directory it also updates itself from the ECB every 30 minutes between
    /// 15:00 and 18:00 Frankfurt time on weekdays (disable with --no-update).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "FXRATES_ADDR")]
        addr: String,
        /// Longest range the range endpoints accept, in days.
        #[arg(long, default_value_t = 3660)]
        max_range_days: u32,
        /// Do not poll the ECB.
        #[arg(long)]
        no_update: bool,
        /// Base URL of the ECB feeds (eurofxref-daily.xml, eurofxref-hist-90d.xml, eurofxref-hist.zip).
        #[arg(long, value_name = "URL")]
        feeds: Option<String>,
    },
    /// Fetch new rates, merge, and store them in the data directory.
    ///
    /// Without a source, picks the ECB feed that covers the gap (daily, 90-day or full
    /// history). A failed or malformed download changes nothing.
    Update {
        /// Fetch this URL (a daily/90-day XML feed, or a history zip/CSV).
        #[arg(long, conflicts_with = "from_file", value_name = "URL")]
        from_url: Option<String>,
        /// Read this file (a daily/90-day XML feed, or a history zip/CSV).
        #[arg(long, value_name = "PATH")]
        from_file: Option<PathBuf>,
        /// Download timeout in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
}

fn parse_day(s: &str) -> Result<Day, String> {
    Day::parse(s).map_err(|e| e.to_string())
}

enum Failure {
    NoAnswer(String),
    Update(String),
    Io(anyhow::Error),
}

fn default_data_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        return Some(PathBuf::from(x).join("fxrates"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/fxrates"))
}

fn load(dir: Option<&std::path::Path>) -> Table {
    let (table, warning) = update::load(dir);
    if let Some(w) = warning {
        eprintln!("fxrates: warning: {w}");
    }
    table
}

fn run(cli: Cli) -> Result<(), Failure> {
    let dir = cli.data_dir.clone().or_else(default_data_dir);
    let no_answer = |e: fxrates::RateError| Failure::NoAnswer(e.to_string());
    match cli.command {
        Command::Convert {
            amount,
            from,
            to,
            date,
            quiet,
        } => {
            if !(amount.is_finite() && amount > 0.0) {
                return Err(Failure::NoAnswer(format!(
                    "amount '{amount}' is not a positive number"
                )));
            }
            let table = load(dir.as_deref());
            let q = table.convert(amount, &from, &to, date).map_err(no_answer)?;
            if quiet {
                println!("{}", print(q.value));
            } else {
                println!(
                    "{} {} ({} on {})",
                    print(q.value),
                    to.to_ascii_uppercase(),
                    print(q.value / amount),
                    q.day
                );
            }
        }
        Command::Rate { from, to, date } => {
            let table = load(dir.as_deref());
            let q = table.rate(&from, &to, date).map_err(no_answer)?;
            println!("{}\t{}", q.day, print(q.value));
        }
        Command::Range {
            from,
            to,
            start,
            end,
            max_days,
        } => {
            let table = load(dir.as_deref());
            let (f, t) = (
                table.currency(&from).map_err(no_answer)?,
                table.currency(&to).map_err(no_answer)?,
            );
            let end = end.unwrap_or_else(|| table.last_day().max(start));
            let quotes = table.range(f, t, start, end, max_days).map_err(no_answer)?;
            let mut out = String::with_capacity(quotes.len() * 24);
            for q in quotes {
                out.push_str(&format!("{} {}\n", q.day, print(q.value)));
            }
            print!("{out}");
        }
        Command::Currencies { date } => {
            let table = load(dir.as_deref());
            let (used, ids) = table.currencies_on(date).map_err(no_answer)?;
            if let Some(d) = used {
                eprintln!("currencies with a rate on {d}:");
            }
            for id in ids {
                let c = table.info(id);
                println!("{}\t{}", c.code, c.name);
            }
        }
        Command::Serve {
            addr,
            max_range_days,
            no_update,
            feeds,
        } => serve(dir, addr, max_range_days, no_update, feeds)?,
        Command::Update {
            from_url,
            from_file,
            timeout,
        } => {
            let dir = dir.ok_or_else(|| {
                Failure::Io(anyhow::anyhow!(
                    "no data directory: pass --data-dir or set HOME"
                ))
            })?;
            let current = load(Some(&dir));
            let timeout = Duration::from_secs(timeout);
            let source = match (from_url, from_file) {
                (Some(u), _) => Source::Url(u),
                (None, Some(f)) => Source::File(f),
                (None, None) => Source::Url(
                    Feeds::default()
                        .pick(current.last_day(), update::today())
                        .to_string(),
                ),
            };
            eprintln!("fxrates: updating from {source:?}");
            let fresh =
                update::fetch(&source, timeout).map_err(|e| Failure::Update(e.to_string()))?;
            match update::apply(&current, &fresh, Some(&dir), update::today()) {
                Ok((_, update::Outcome::Updated(d))) => {
                    println!("updated: rates up to {d} stored in {}", dir.display())
                }
                Ok((_, update::Outcome::Unchanged(d))) => {
                    println!("unchanged: already have rates up to {d}")
                }
                Err(e @ update::UpdateError::Persist { .. }) => return Err(Failure::Io(e.into())),
                Err(e) => return Err(Failure::Update(e.to_string())),
            }
        }
    }
    Ok(())
}

fn serve(
    dir: Option<PathBuf>,
    addr: String,
    max_range_days: u32,
    no_update: bool,
    feeds: Option<String>,
) -> Result<(), Failure> {
    let table = load(dir.as_deref());
    let config = Config {
        max_range_days,
        ..Config::default()
    };
    let service = Arc::new(Service::new(table, config));
    let listener = std::net::TcpListener::bind(&addr)
        .with_context(|| format!("cannot listen on {addr}"))
        .map_err(Failure::Io)?;
    let local = listener.local_addr().map_err(|e| Failure::Io(e.into()))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = service.current();
    tracing::info!(%local, threads, first = %t.table.first_day(), last = %t.table.last_day(), "serving");
    let updater = (!no_update).then(|| {
        let feeds = feeds.as_deref().map(Feeds::at).unwrap_or_default();
        update::schedule(service.clone(), feeds, dir.clone())
    });
    fxrates::server::serve_threads(listener, service, threads, updater, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .map_err(|e| Failure::Io(e.into()))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FXRATES_LOG")
                .unwrap_or_else(|_| "fxrates=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::NoAnswer(m)) => {
            eprintln!("fxrates: {m}");
            ExitCode::from(1)
        }
        Err(Failure::Update(m)) => {
            eprintln!("fxrates: update failed, nothing changed: {m}");
            ExitCode::from(3)
        }
        Err(Failure::Io(e)) => {
            eprintln!("fxrates: {e:#}");
            ExitCode::from(4)
        }
    }
}
