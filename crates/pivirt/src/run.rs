//! Starting a converted machine: in the foreground with the serial console on the terminal
//! (`pivirt run`), or captured line by line for tests and benchmarks.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::machine::{Net, VmConfig};
use crate::tools;

/// Changes to the stored machine for one run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Use this tap device instead of user-mode networking.
    pub tap: Option<String>,
    /// The bridge the tap should be on (checked, not changed).
    pub bridge: Option<String>,
    /// Words appended to the kernel command line.
    pub append: Option<String>,
    /// Replace the user-mode forwards with these (host, guest) TCP pairs.
    pub forwards: Option<Vec<(u16, u16)>>,
    /// Extra QEMU arguments, appended.
    pub qemu_extra: Vec<String>,
}

/// The QEMU command for `dir` with `opts` applied.
pub fn command(dir: &Path, opts: &RunOptions) -> Result<Command> {
    let mut vm = VmConfig::load(dir)?;
    apply(&mut vm, opts)?;
    let mut c = tools::command(vm.qemu_program(), "qemu-system-arm")?;
    c.args(vm.qemu_args(dir));
    c.args(&opts.qemu_extra);
    Ok(c)
}

fn apply(vm: &mut VmConfig, opts: &RunOptions) -> Result<()> {
    if let Some(tap) = &opts.tap {
        if let Some(br) = &opts.bridge {
            let master = std::fs::read_link(format!("/sys/class/net/{tap}/master")).ok();
            let on = master
                .as_ref()
                .and_then(|m| m.file_name())
                .is_some_and(|n| n.to_string_lossy() == *br);
            if !on {
                bail!(
                    "tap {tap} is not on bridge {br}: run `sudo pivirt net setup --bridge {br} --tap {tap}` first"
                );
            }
        }
        vm.net = Net::Tap { tap: tap.clone() };
    } else if let Some(f) = &opts.forwards {
        vm.net = Net::User {
            forwards: f.clone(),
        };
    }
    if let Some(a) = &opts.append {
        vm.cmdline.push(' ');
        vm.cmdline.push_str(a);
    }
    Ok(())
}

/// Run in the foreground (console on this terminal) until QEMU exits.
pub fn run(dir: &Path, opts: &RunOptions) -> Result<ExitStatus> {
    let mut c = command(dir, opts)?;
    Ok(c.status()?)
}

/// A machine whose serial console is read line by line.
pub struct Console {
    child: Child,
    lines: Receiver<String>,
    /// Every line seen so far.
    pub log: Vec<String>,
}

impl Console {
    /// Start the machine in `dir` with its console captured.
    pub fn start(dir: &Path, opts: &RunOptions) -> Result<Self> {
        let mut c = command(dir, opts)?;
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().context("cannot start QEMU")?;
        let (tx, rx) = channel();
        let out = child.stdout.take().context("no stdout")?;
        let err = child.stderr.take().context("no stderr")?;
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).split(b'\n').map_while(Result::ok) {
                if tx
                    .send(String::from_utf8_lossy(&l).trim_end().to_string())
                    .is_err()
                {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            for l in BufReader::new(err).split(b'\n').map_while(Result::ok) {
                let _ = tx2.send(format!("qemu: {}", String::from_utf8_lossy(&l).trim_end()));
            }
        });
        Ok(Console {
            child,
            lines: rx,
            log: Vec::new(),
        })
    }

    /// Wait for a console line containing `needle`; returns that line.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.log.push(l.clone());
                    if l.contains(needle) {
                        return Ok(l);
                    }
                }
                Err(RecvTimeoutError::Timeout) => bail!(
                    "no console line containing {needle:?} within {timeout:?}; last lines:\n{}",
                    self.tail(30)
                ),
                Err(RecvTimeoutError::Disconnected) => bail!(
                    "QEMU exited before printing {needle:?}; last lines:\n{}",
                    self.tail(30)
                ),
            }
        }
    }

    /// Whether QEMU is still running (console lines seen so far are kept).
    pub fn running(&mut self) -> Result<bool> {
        while let Ok(l) = self.lines.try_recv() {
            self.log.push(l);
        }
        Ok(self.child.try_wait()?.is_none())
    }

    /// The last `n` console lines.
    pub fn tail(&self, n: usize) -> String {
        self.log[self.log.len().saturating_sub(n)..].join("\n")
    }

    /// Wait up to `timeout` for QEMU to exit by itself, then kill it.
    pub fn finish(mut self, timeout: Duration) -> Result<Vec<String>> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            while let Ok(l) = self.lines.try_recv() {
                self.log.push(l);
            }
            if self.child.try_wait()?.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(l) = self.lines.try_recv() {
            self.log.push(l);
        }
        Ok(std::mem::take(&mut self.log))
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
