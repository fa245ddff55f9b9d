//! `pivirt bench DIR`: boot the machine and measure guest network (and, over SSH, disk)
//! throughput, so the `virt` / `raspi3b` speed-up is a number on the user's own host.
//!
//! Two ways in: the pivirt test image's TCP sink (`pivirt.sink=1`, guest port 5001), or SSH
//! to a real image (`--ssh-user`), pushing data into `cat > /dev/null` and timing `dd`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::run::{Console, RunOptions, free_port};

/// How data reaches the guest.
#[derive(Debug, Clone)]
pub enum Transport {
    /// The test image's sink on guest port 5001.
    Sink,
    /// SSH as this user (keys or agent must already work).
    Ssh {
        /// Guest user.
        user: String,
    },
}

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// MiB to send (and write to disk over SSH).
    pub mib: u64,
    /// Transfers to time; the median is reported.
    pub repeat: u32,
    /// Transport.
    pub transport: Transport,
    /// How long the guest may take to boot.
    pub boot_timeout: Duration,
}

/// Measured figures.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// Seconds from QEMU start until the guest accepted data.
    pub boot_seconds: f64,
    /// Bytes sent.
    pub bytes: u64,
    /// Network throughput into the guest, Mbit/s (median of the transfers).
    pub net_mbit_s: f64,
    /// Every transfer's throughput, Mbit/s.
    pub samples_mbit_s: Vec<f64>,
    /// Guest disk write throughput (MiB/s), SSH transport only.
    pub disk_mib_s: Option<f64>,
}

/// Run the benchmark on the machine in `dir`.
pub fn bench(dir: &Path, o: &BenchOptions) -> Result<BenchResult> {
    let port = free_port()?;
    let bytes = o.mib << 20;
    let started = Instant::now();
    match &o.transport {
        Transport::Sink => {
            let n = o.repeat.max(1);
            let mut con = Console::start(
                dir,
                &RunOptions {
                    append: Some(format!("pivirt.sink={n}")),
                    forwards: Some(vec![(port, 5001)]),
                    ..Default::default()
                },
            )?;
            let mut boot = 0.0;
            let mut samples = Vec::new();
            for i in 0..n {
                con.wait_for(
                    "PIVIRT-LISTENING",
                    if i == 0 {
                        o.boot_timeout
                    } else {
                        Duration::from_secs(60)
                    },
                )?;
                if i == 0 {
                    boot = started.elapsed().as_secs_f64();
                }
                std::thread::sleep(Duration::from_millis(500));
                let t = Instant::now();
                send(port, bytes)?;
                let secs = t.elapsed().as_secs_f64();
                let line = con.wait_for("PIVIRT-RECEIVED", Duration::from_secs(600))?;
                let got: u64 = line
                    .split_whitespace()
                    .last()
                    .and_then(|n| n.parse().ok())
                    .context("bad PIVIRT-RECEIVED line")?;
                if got != bytes {
                    bail!("guest received {got} of {bytes} bytes");
                }
                samples.push(bytes as f64 * 8.0 / secs / 1e6);
            }
            let _ = con.finish(Duration::from_secs(5));
            Ok(BenchResult {
                boot_seconds: boot,
                bytes,
                net_mbit_s: median(&samples),
                samples_mbit_s: samples,
                disk_mib_s: None,
            })
        }
        Transport::Ssh { user } => {
            let con = Console::start(
                dir,
                &RunOptions {
                    forwards: Some(vec![(port, 22)]),
                    ..Default::default()
                },
            )?;
            let ssh = |remote: &str| {
                let mut c = Command::new("ssh");
                c.args([
                    "-o",
                    "StrictHostKeyChecking=no",
                    "-o",
                    "UserKnownHostsFile=/dev/null",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "ConnectTimeout=5",
                    "-p",
                    &port.to_string(),
                    &format!("{user}@127.0.0.1"),
                    remote,
                ]);
                c
            };
            loop {
                if ssh("true")
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
                {
                    break;
                }
                if started.elapsed() > o.boot_timeout {
                    bail!(
                        "no SSH login as {user} on port {port} within {:?}",
                        o.boot_timeout
                    );
                }
                std::thread::sleep(Duration::from_secs(2));
            }
            let boot = started.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut child = ssh("cat > /dev/null").stdin(Stdio::piped()).spawn()?;
            {
                let mut stdin = child.stdin.take().context("ssh stdin")?;
                let buf = vec![0x5au8; 1 << 20];
                for _ in 0..o.mib {
                    stdin.write_all(&buf)?;
                }
            }
            if !child.wait()?.success() {
                bail!("ssh transfer failed");
            }
            let secs = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let dd = format!(
                "dd if=/dev/zero of=pivirt-bench.tmp bs=1M count={} conv=fsync 2>/dev/null && rm -f pivirt-bench.tmp",
                o.mib
            );
            let disk = ssh(&dd)
                .status()?
                .success()
                .then(|| o.mib as f64 / t.elapsed().as_secs_f64());
            let _ = con.finish(Duration::from_secs(1));
            let mbit = bytes as f64 * 8.0 / secs / 1e6;
            Ok(BenchResult {
                boot_seconds: boot,
                bytes,
                net_mbit_s: mbit,
                samples_mbit_s: vec![mbit],
                disk_mib_s: disk,
            })
        }
    }
}

/// Send `bytes` to 127.0.0.1:`port`, close the write side and wait for the peer to close.
fn send(port: u16, bytes: u64) -> Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    let buf = vec![0xa5u8; 256 << 10];
    let mut left = bytes;
    while left > 0 {
        let n = (left as usize).min(buf.len());
        s.write_all(&buf[..n])?;
        left -= n as u64;
    }
    s.shutdown(Shutdown::Write)?;
    let mut sink = [0u8; 64];
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    while s.read(&mut sink)? > 0 {}
    Ok(())
}

/// Median of a non-empty sample (0 for an empty one).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn medians() {
        assert_eq!(super::median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&[4.0, 1.0]), 2.5);
        assert_eq!(super::median(&[]), 0.0);
    }
}
