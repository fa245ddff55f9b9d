//! `top500`: the command-line face of the `top500` library. Thin: parse arguments, call the library,
//! write files atomically, print.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use top500::plot::PlotOptions;
use top500::{Error, TopList, compare, join, output, plot, png, read, report, seed, trend};

/// TOP500 lists by interconnect: efficiency pictures, list comparisons, history.
///
/// Every command reads CSV, Excel (.xls/.xlsx) and XML exports, told apart by content. Without list
/// arguments, commands use the embedded seed lists (November 2009 and June 2010).
#[derive(Parser, Debug)]
#[command(name = "top500", version, about, long_about)]
struct Cli {
    /// Log more (repeat for debug output); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Draw efficiency (Rmax/Rpeak) against rank, one colour per interconnect family, one panel per list.
    Plot {
        /// List files; exports of the same list (e.g. CSV + XML) are joined. None: the seed lists.
        lists: Vec<PathBuf>,
        /// Output file, .svg or .png.
        #[arg(short, long, default_value = "efficiency.svg")]
        out: PathBuf,
        #[command(flatten)]
        picture: PictureArgs,
    },
    /// Compare two lists: entered, left, moved; per-family counts, Rmax share and median efficiency.
    Compare {
        /// The older list (default: the 2009-11 seed list).
        old: Option<PathBuf>,
        /// The newer list (default: the 2010-06 seed list).
        new: Option<PathBuf>,
        /// Print JSON instead of a text table.
        #[arg(long)]
        json: bool,
        /// Rows shown per system table in the text output.
        #[arg(long, default_value_t = 15)]
        limit: usize,
    },
    /// Family share (by count and Rmax) and median efficiency across every list in a directory.
    Trend {
        /// Directory of list files (and its direct subdirectories). None: the seed lists.
        dir: Option<PathBuf>,
        /// Output chart.
        #[arg(long, default_value = "trend.svg")]
        svg: PathBuf,
        /// Output table.
        #[arg(long, default_value = "trend.csv")]
        csv: PathBuf,
    },
    /// Write one self-contained HTML page with the pictures and tables.
    Report {
        /// List files. None: the seed lists.
        lists: Vec<PathBuf>,
        /// Output page.
        #[arg(long, default_value = "report.html")]
        html: PathBuf,
        #[command(flatten)]
        picture: PictureArgs,
    },
    /// Print one list as classified: rank, name, interconnect family, accelerator, efficiency.
    Show {
        /// A list file (or several exports of one list). None: the 2010-06 seed list.
        lists: Vec<PathBuf>,
        /// Print JSON records instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug, Clone)]
struct PictureArgs {
    /// Name this many lowest-efficiency systems of each list's top half.
    #[arg(long, default_value_t = 6)]
    labels: usize,
    /// Picture width in pixels.
    #[arg(long, default_value_t = 1100, value_parser = clap::value_parser!(u32).range(400..=8000))]
    width: u32,
    /// Height of one panel in pixels.
    #[arg(long, default_value_t = 560, value_parser = clap::value_parser!(u32).range(200..=8000))]
    panel_height: u32,
    /// PNG only: pixels per SVG unit.
    #[arg(long, default_value_t = 1.0)]
    scale: f32,
}

impl PictureArgs {
    fn options(&self) -> PlotOptions {
        PlotOptions {
            width: self.width,
            panel_height: self.panel_height,
            labels: self.labels,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("top500: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Read the given files (joined per list) or, with none, the seed lists.
fn load(paths: &[PathBuf]) -> Result<Vec<TopList>, Error> {
    if paths.is_empty() {
        return seed::lists();
    }
    let lists = paths
        .iter()
        .map(|p| read::read_path(p))
        .collect::<Result<Vec<_>, _>>()?;
    join::merge(lists)
}

fn one(path: &Path) -> Result<TopList, Error> {
    read::read_path(path)
}

fn write_picture(svg: &str, out: &Path, scale: f32) -> Result<(), Error> {
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => output::write_atomic(out, svg.as_bytes()),
        Some("png") => output::write_atomic(out, &png::svg_to_png(svg, scale)?),
        _ => Err(Error::Usage(format!(
            "{}: the output must end in .svg or .png",
            out.display()
        ))),
    }
}

fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Plot {
            lists,
            out,
            picture,
        } => {
            let lists = load(&lists)?;
            let opts = picture.options();
            let svg = plot::efficiency_svg(&lists, &opts)?;
            write_picture(&svg, &out, picture.scale)?;
            for list in &lists {
                let low: Vec<String> = plot::labelled(list, opts.labels)
                    .iter()
                    .map(|s| {
                        format!(
                            "#{} {} {:.1} %",
                            s.rank(),
                            s.label(),
                            s.efficiency() * 100.0
                        )
                    })
                    .collect();
                println!(
                    "{}: {} systems; labelled: {}",
                    list.label(),
                    list.systems.len(),
                    low.join("; ")
                );
            }
            println!("wrote {}", out.display());
        }
        Command::Compare {
            old,
            new,
            json,
            limit,
        } => {
            let (old, new) = match (old, new) {
                (Some(o), Some(n)) => (one(&o)?, one(&n)?),
                (None, None) => {
                    let mut s = seed::lists()?;
                    let new = s.pop().ok_or_else(|| Error::Usage("no seed list".into()))?;
                    let old = s.pop().ok_or_else(|| Error::Usage("no seed list".into()))?;
                    (old, new)
                }
                _ => {
                    return Err(Error::Usage(
                        "compare takes two lists, OLD and NEW, or none".into(),
                    ));
                }
            };
            let c = compare::compare(&old, &new);
            if json {
                let text = serde_json::to_string_pretty(&c).map_err(|e| Error::Render {
                    what: "JSON".into(),
                    message: e.to_string(),
                })?;
                println!("{text}");
            } else {
                print!("{}", c.to_text(limit));
            }
        }
        Command::Trend { dir, svg, csv } => {
            let lists = match dir {
                None => seed::lists()?,
                Some(dir) => {
                    let files = trend::list_files(&dir)?;
                    let bar = ProgressBar::new(files.len() as u64);
                    if let Ok(style) =
                        ProgressStyle::with_template("{bar:40} {pos}/{len} lists read {msg}")
                    {
                        bar.set_style(style);
                    }
                    let loaded = trend::load_dir(&dir, &|_| bar.inc(1))?;
                    bar.finish_and_clear();
                    for (path, why) in &loaded.skipped {
                        tracing::warn!("skipped {}: {why}", path.display());
                    }
                    loaded.lists
                }
            };
            let points = trend::trend(&lists)?;
            output::write_atomic(&csv, trend::to_csv(&points).as_bytes())?;
            write_picture(&trend::to_svg(&points)?, &svg, 1.0)?;
            println!(
                "{:<8} {:>7} {:>9} {:>9} {:>9} {:>9}",
                "list", "systems", "med eff%", "GbE %", "10GbE %", "IB %"
            );
            for p in &points {
                let share = |f| p.stats.family(f).map_or(0.0, |x| x.count_share * 100.0);
                println!(
                    "{:<8} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
                    p.id.to_string(),
                    p.stats.systems,
                    p.stats.median_efficiency * 100.0,
                    share(top500::Family::GigabitEthernet),
                    share(top500::Family::TenGigabitEthernet),
                    share(top500::Family::Infiniband),
                );
            }
            println!("wrote {} and {}", csv.display(), svg.display());
        }
        Command::Report {
            lists,
            html,
            picture,
        } => {
            let lists = load(&lists)?;
            let page = report::html(&lists, &picture.options())?;
            output::write_atomic(&html, page.as_bytes())?;
            println!("wrote {}", html.display());
        }
        Command::Show { lists, json } => {
            let list = if lists.is_empty() {
                seed::lists()?
                    .pop()
                    .ok_or_else(|| Error::Usage("no seed list".into()))?
            } else {
                let mut lists = load(&lists)?;
                if lists.len() != 1 {
                    return Err(Error::Usage(format!(
                        "show takes one list (or exports of one list), got {}",
                        lists.len()
                    )));
                }
                lists.remove(0)
            };
            if json {
                let text =
                    serde_json::to_string_pretty(&list.systems).map_err(|e| Error::Render {
                        what: "JSON".into(),
                        message: e.to_string(),
                    })?;
                println!("{text}");
            } else {
                println!(
                    "{:>4}  {:<36} {:<18} {:<24} {:>6}",
                    "rank", "system", "family", "accelerator", "eff %"
                );
                for s in &list.systems {
                    let acc = s
                        .accelerator
                        .as_ref()
                        .map_or(String::new(), |a| a.kind.name().to_string());
                    let label: String = s.label().chars().take(36).collect();
                    println!(
                        "{:>4}  {:<36} {:<18} {:<24} {:>6.1}",
                        s.rank(),
                        label,
                        s.family.name(),
                        acc,
                        s.efficiency() * 100.0
                    );
                }
            }
        }
    }
    Ok(())
}
