//! The `pivirt` command line: a thin layer over the library.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

use pivirt::convert::{ConvertOptions, GuestModules, convert, parse_user};
use pivirt::elf::Arch;
use pivirt::image::{PiImage, check_image_path, demo_image, inspect};
use pivirt::kernel::apt::Cache;
use pivirt::machine::{Machine, parse_size};

#[derive(Parser)]
#[command(
    version,
    about = "Move a Raspberry Pi SD-card image into a QEMU virtual machine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Which way the benchmark's data flows.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Direction {
    /// The guest sends, a listener on the host counts.
    FromGuest,
    /// The host sends into the guest.
    ToGuest,
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
    /// Make a machine directory from an image; the image itself is never written.
    Convert {
        /// The SD-card image.
        image: PathBuf,
        /// Output directory (new or empty).
        #[arg(long)]
        to: PathBuf,
        /// Target machine.
        #[arg(long, value_enum, default_value_t = Machine::Virt)]
        machine: Machine,
        /// Grow the disk, root partition and filesystem to this size (e.g. 16G).
        #[arg(long)]
        size: Option<String>,
        /// Use this Debian kernel package instead of downloading one.
        #[arg(long, conflicts_with = "kernel_version")]
        kernel_deb: Option<PathBuf>,
        /// Debian kernel ABI to download, e.g. 6.1.0-50.
        #[arg(long)]
        kernel_version: Option<String>,
        /// A qcow2 overlay backed read-only by the image instead of a copy (no fix-ups).
        #[arg(long)]
        overlay: bool,
        /// Enable the SSH server on first boot.
        #[arg(long)]
        ssh: bool,
        /// Create NAME with PASSWORD on first boot (images without a default user).
        #[arg(long, value_name = "NAME:PASSWORD")]
        user: Option<String>,
        /// Kernel modules to install into the copy's root filesystem.
        #[arg(long, value_enum, default_value_t = GuestModules::All)]
        guest_modules: GuestModules,
        /// Host port forwarded to the guest's SSH port.
        #[arg(long, default_value_t = 2222)]
        ssh_port: u16,
        /// Guest memory in MiB (virt).
        #[arg(long, default_value_t = 1024)]
        memory: u32,
        /// Guest CPUs (virt).
        #[arg(long, default_value_t = 2)]
        cpus: u32,
        /// Package cache directory (default ~/.cache/pivirt or $PIVIRT_CACHE).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Start a converted machine with its serial console on this terminal.
    Run {
        /// Machine directory.
        dir: PathBuf,
        /// Use this tap device (see `pivirt net setup`) instead of user-mode networking.
        #[arg(long)]
        tap: Option<String>,
        /// The bridge the tap must be on.
        #[arg(long, requires = "tap")]
        bridge: Option<String>,
        /// Extra kernel command-line words.
        #[arg(long)]
        append: Option<String>,
    },
    /// Create or remove the host bridge and tap device (needs root).
    Net {
        /// setup or teardown.
        #[arg(value_parser = ["setup", "teardown"])]
        action: String,
        /// Bridge name.
        #[arg(long, default_value = "br0")]
        bridge: String,
        /// Tap name.
        #[arg(long, default_value = "tap0")]
        tap: String,
        /// Physical interface to put on the bridge.
        #[arg(long)]
        uplink: Option<String>,
        /// Owner of the tap device (so QEMU runs without root).
        #[arg(long)]
        user: Option<String>,
        /// Print the commands instead of running them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Boot a machine and measure guest network (and disk, over SSH) throughput.
    Bench {
        /// Machine directory.
        dir: PathBuf,
        /// MiB to transfer.
        #[arg(long, default_value_t = 16)]
        mib: u64,
        /// Transfers to time (median reported; test-image sink only).
        #[arg(long, default_value_t = 3)]
        repeat: u32,
        /// Log in over SSH as this user (keys must work); default: the pivirt test image.
        #[arg(long)]
        ssh_user: Option<String>,
        /// With the test image: from-guest (the guest streams to a host listener) or to-guest
        /// (the host sends into the guest's `nc | wc -c`).
        #[arg(long, value_enum, default_value_t = Direction::FromGuest)]
        direction: Direction,
        /// Seconds the guest may take to boot.
        #[arg(long, default_value_t = 300)]
        boot_timeout: u64,
        /// Network the test image through this tap device (guest → host only; the bridge
        /// needs the address 10.0.2.2/24, which the test image sends to).
        #[arg(long)]
        tap: Option<String>,
        /// The bridge the tap must be on.
        #[arg(long, requires = "tap")]
        bridge: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build a small bootable Pi-like test image (Debian busybox-static userland).
    TestImage {
        /// Output image file.
        out: PathBuf,
        /// Userland architecture.
        #[arg(long, default_value = "arm64", value_parser = ["arm64", "armhf"])]
        arch: String,
        /// How fstab and cmdline.txt name the root.
        #[arg(long, value_enum, default_value_t = pivirt::mkimage::RootNaming::Partuuid)]
        root: pivirt::mkimage::RootNaming,
        /// Package cache directory.
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "pivirt=info".into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    if let Err(e) = real_main() {
        eprintln!("pivirt: {e:#}");
        std::process::exit(1);
    }
}

fn cache_of(p: Option<PathBuf>) -> Cache {
    p.map(|dir| Cache { dir })
        .unwrap_or_else(Cache::default_location)
}

fn real_main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Inspect { image, demo, json } => {
            let mut img = match (image, demo) {
                (Some(p), false) => PiImage::open(&check_image_path(&p)?)?,
                (None, true) => demo_image()?,
                _ => bail!("give an IMAGE or --demo (not both)"),
            };
            let report = inspect(&mut img)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
        }
        Cmd::Convert {
            image,
            to,
            machine,
            size,
            kernel_deb,
            kernel_version,
            overlay,
            ssh,
            user,
            guest_modules,
            ssh_port,
            memory,
            cpus,
            cache,
        } => {
            let mut o = ConvertOptions::new(image, to.clone(), machine);
            o.size = size.as_deref().map(parse_size).transpose()?;
            o.kernel_deb = kernel_deb;
            o.kernel_version = kernel_version;
            o.overlay = overlay;
            o.ssh = ssh;
            o.user = user.as_deref().map(parse_user).transpose()?;
            o.guest_modules = guest_modules;
            o.ssh_port = ssh_port;
            o.memory_mib = memory;
            o.cpus = cpus;
            o.cache = cache_of(cache);
            let f = convert(&o)?;
            println!(
                "converted {} → {} ({})",
                f.conversion.source,
                to.display(),
                f.vm.machine
            );
            println!("  disk: {}", f.conversion.disk_method);
            if let Some(k) = &f.conversion.kernel_release {
                println!(
                    "  kernel: {k}, initramfs with {} modules",
                    f.conversion.initramfs_modules.len()
                );
            }
            for x in &f.conversion.fixups {
                println!("  fix-up: {x}");
            }
            for x in &f.conversion.notes {
                println!("  note: {x}");
            }
            println!(
                "start it with: pivirt run {}   (or {}/run.sh)",
                to.display(),
                to.display()
            );
        }
        Cmd::Run {
            dir,
            tap,
            bridge,
            append,
        } => {
            let st = pivirt::run::run(
                &dir,
                &pivirt::run::RunOptions {
                    tap,
                    bridge,
                    append,
                    forwards: None,
                    qemu_extra: Vec::new(),
                },
            )?;
            if !st.success() {
                bail!("QEMU exited with {st}");
            }
        }
        Cmd::Net {
            action,
            bridge,
            tap,
            uplink,
            user,
            dry_run,
        } => {
            let spec = pivirt::net::NetSpec {
                bridge,
                tap,
                uplink,
                user,
            };
            let cmds = if action == "setup" {
                pivirt::net::setup_commands(&spec)?
            } else {
                pivirt::net::teardown_commands(&spec)?
            };
            let text = pivirt::net::execute(&cmds, dry_run)?;
            print!("{text}");
        }
        Cmd::Bench {
            dir,
            mib,
            repeat,
            ssh_user,
            direction,
            boot_timeout,
            tap,
            bridge,
            json,
        } => {
            if tap.is_some() && (ssh_user.is_some() || direction == Direction::ToGuest) {
                bail!("--tap measures the test image's guest → host stream only");
            }
            let r = pivirt::bench::bench(
                &dir,
                &pivirt::bench::BenchOptions {
                    mib,
                    repeat,
                    transport: match ssh_user {
                        Some(user) => pivirt::bench::Transport::Ssh { user },
                        None if direction == Direction::ToGuest => pivirt::bench::Transport::Sink,
                        None => pivirt::bench::Transport::Source,
                    },
                    boot_timeout: Duration::from_secs(boot_timeout),
                    tap,
                    bridge,
                },
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("boot      {:.1} s", r.boot_seconds);
                println!(
                    "network   {:.1} Mbit/s (median of {}, {} MiB each)",
                    r.net_mbit_s,
                    r.samples_mbit_s.len(),
                    mib
                );
                if let Some(d) = r.disk_mib_s {
                    println!("disk      {d:.1} MiB/s (guest dd, fsync)");
                }
            }
        }
        Cmd::TestImage {
            out,
            arch,
            root,
            cache,
        } => {
            let a = if arch == "arm64" {
                Arch::Arm64
            } else {
                Arch::Armhf
            };
            pivirt::mkimage::busybox_image(
                &cache_of(cache),
                a,
                &out,
                0x7e570001,
                root,
                Vec::new(),
            )?;
            println!("wrote {}", out.display());
        }
    }
    Ok(())
}
