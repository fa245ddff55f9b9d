//! The `pivirt` command line.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Move a Raspberry Pi SD-card image into a QEMU virtual machine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Read an image without mounting it: partitions, boot files, root filesystem, machines.
    Inspect {
        /// The SD-card image (omit with --demo).
        image: Option<PathBuf>,
        /// Inspect the small demo image bundled with pivirt.
        #[arg(long)]
        demo: bool,
        /// Print JSON instead of the report.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("pivirt: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Inspect { image, demo, json } => {
            let mut img = match (image, demo) {
                (Some(p), false) => {
                    pivirt::image::PiImage::open(&pivirt::image::check_image_path(&p)?)?
                }
                (None, true) => pivirt::image::demo_image()?,
                _ => anyhow::bail!("give an IMAGE or --demo (not both)"),
            };
            let report = pivirt::image::inspect(&mut img)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
        }
    }
    Ok(())
}
