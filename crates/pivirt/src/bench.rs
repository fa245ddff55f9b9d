//! `pivirt bench DIR`: boot the machine and measure guest network (and, over SSH, disk)
//! throughput, so the `virt` / `raspi3b` speed-up is a number on the user's own host.
//!
//! Three ways: the pivirt test image streams to a byte-counting listener on the host
//! (`pivirt.send=PORT:N`, guest → host; the guest side is a single busybox `nc` reading
//! `/dev/zero`, the host side a Rust socket read in 1 MiB buffers, so neither end's tooling is
//! what is measured), the test image's TCP sink (`pivirt.sink=N`, host → guest, guest port
//! 5001, `nc | wc -c` in the guest), or SSH to a real image (`--ssh-user`), pushing data into
//! `cat > /dev/null` and timing `dd`.

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
    /// The test image sends to a listener on the host (guest → host).
    Source,
    /// The test image's sink on guest port 5001 (host → guest).
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
    /// Use this tap device instead of user-mode networking (test image, guest → host only).
    /// The test image's init gives itself 10.0.2.15/24 and sends to 10.0.2.2, so the host end
    /// (the bridge the tap is on) needs the address 10.0.2.2/24.
    pub tap: Option<String>,
    /// The bridge the tap must be on (checked, not changed).
    pub bridge: Option<String>,
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

impl BenchResult {
    /// Network-only figures: the median of `samples` (Mbit/s).
    fn network(boot_seconds: f64, bytes: u64, samples: Vec<f64>) -> Self {
        BenchResult {
            boot_seconds,
            bytes,
            net_mbit_s: median(&samples),
            samples_mbit_s: samples,
            disk_mib_s: None,
        }
    }
}

/// Run the benchmark on the machine in `dir`.
pub fn bench(dir: &Path, o: &BenchOptions) -> Result<BenchResult> {
    let port = free_port()?;
    let bytes = o.mib << 20;
    let started = Instant::now();
    match &o.transport {
        Transport::Source => {
            let n = o.repeat.max(1);
            // Over a tap the guest reaches the host at the bridge's address, not loopback.
            let listen = if o.tap.is_some() {
                "10.0.2.2:0"
            } else {
                "127.0.0.1:0"
            };
            let listener = std::net::TcpListener::bind(listen).with_context(|| {
                format!("cannot listen on {listen} (with --tap, give the bridge 10.0.2.2/24)")
            })?;
            let host_port = listener.local_addr()?.port();
            listener.set_nonblocking(true)?;
            let mut con = Console::start(
                dir,
                &RunOptions {
                    append: Some(format!("pivirt.send={host_port}:{n}")),
                    forwards: Some(Vec::new()),
                    tap: o.tap.clone(),
                    bridge: o.bridge.clone(),
                    ..Default::default()
                },
            )?;
            let mut boot = 0.0;
            let mut samples = Vec::new();
            for i in 0..n {
                let wait = if i == 0 {
                    o.boot_timeout
                } else {
                    Duration::from_secs(60)
                };
                let stream = accept_within(&listener, wait, &mut con)?;
                if i == 0 {
                    boot = started.elapsed().as_secs_f64();
                }
                let (got, secs) = count(stream, bytes)?;
                samples.push(got as f64 * 8.0 / secs / 1e6);
            }
            con.wait_for("PIVIRT-DONE", Duration::from_secs(60))?;
            let _ = con.finish(Duration::from_secs(5));
            Ok(BenchResult::network(boot, bytes, samples))
        }
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
            Ok(BenchResult::network(boot, bytes, samples))
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

/// Accept one connection on the non-blocking `listener` within `wait`, failing early when the
/// machine stops.
fn accept_within(
    listener: &std::net::TcpListener,
    wait: Duration,
    con: &mut Console,
) -> Result<TcpStream> {
    let deadline = Instant::now() + wait;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("accepting the guest's connection"),
        }
        if Instant::now() > deadline {
            bail!(
                "the guest did not connect within {wait:?}; last console lines:\n{}",
                con.tail(30)
            );
        }
        if !con.running()? {
            bail!(
                "QEMU exited before the guest connected; last console lines:\n{}",
                con.tail(30)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Read from `s` until `bytes` arrived (then close it); returns the bytes timed and the seconds
/// they took (from the end of the first read to the end of the last).
fn count(mut s: TcpStream, bytes: u64) -> Result<(u64, f64)> {
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    // The clock starts when the first read returns; the bytes of that read are not counted.
    let mut first: Option<(Instant, u64)> = None;
    while got < bytes {
        let n = s.read(&mut buf).context("reading the guest's stream")?;
        if n == 0 {
            bail!("the guest closed the connection after {got} of {bytes} bytes");
        }
        got += n as u64;
        first.get_or_insert((Instant::now(), got));
    }
    let (t0, head) = first.unwrap_or((Instant::now(), 0));
    Ok((got - head, t0.elapsed().as_secs_f64().max(1e-9)))
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
