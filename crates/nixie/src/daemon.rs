//! The daemon's control loop: renders the display at a steady tick,
//! publishes frames to the multiplexer thread, reloads on SIGHUP and turns
//! everything off on SIGTERM/SIGINT.
//!
//! Signals only set flags (`signal-hook`); the loop looks at them every
//! tick, so no work happens in a signal handler and no async runtime is
//! needed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::backend::Backend;
use crate::clock::{TimeSource, ZoneSource, load_zone};
use crate::config::Config;
use crate::display::{Display, Shown};
use crate::mux::{Frame, FrameCell, MuxReport, MuxThread};

/// How often the display logic runs.
pub const TICK: Duration = Duration::from_millis(20);

/// Flags set by signal handlers.
#[derive(Clone, Debug, Default)]
pub struct SignalFlags {
    /// SIGTERM or SIGINT received: turn off and exit.
    pub stop: Arc<AtomicBool>,
    /// SIGHUP received: reload the configuration.
    pub reload: Arc<AtomicBool>,
}

impl SignalFlags {
    /// Installs the handlers. A second SIGINT/SIGTERM while the first is
    /// being handled ends the process at once.
    pub fn install() -> Result<SignalFlags> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let f = SignalFlags::default();
        for sig in [SIGTERM, SIGINT] {
            signal_hook::flag::register_conditional_shutdown(sig, 1, f.stop.clone())
                .context("installing signal handler")?;
            signal_hook::flag::register(sig, f.stop.clone())
                .context("installing signal handler")?;
        }
        signal_hook::flag::register(SIGHUP, f.reload.clone())
            .context("installing SIGHUP handler")?;
        Ok(f)
    }
}

/// What a reload changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reloaded {
    /// Multiplexer timing or cathode wiring changed: restart the thread.
    pub mux_changed: bool,
    /// The pin map changed: needs a restart of the daemon.
    pub pins_changed: bool,
}

/// The daemon state: configuration, display logic and the shared frame.
pub struct Daemon {
    config_path: Option<PathBuf>,
    cfg: Config,
    display: Display,
    clock: Arc<dyn TimeSource>,
    frame: Arc<FrameCell>,
    started: Instant,
    last: Option<Shown>,
    synced: Option<bool>,
}

fn make_display(cfg: &Config) -> Result<Display> {
    let (tz, src) = load_zone(cfg.zone_name()).map_err(anyhow::Error::msg)?;
    let zone = tz.iana_name().unwrap_or("local").to_string();
    match src {
        ZoneSource::System => tracing::info!("time zone {zone} (system tz database)"),
        ZoneSource::Bundled => tracing::info!("time zone {zone} (built-in tz database)"),
        ZoneSource::UtcFallback => {
            tracing::warn!("no local time zone configured or found; showing UTC")
        }
    }
    Ok(Display::new(cfg, tz))
}

impl Daemon {
    /// A daemon for `cfg` (read from `config_path`, if any) reading `clock`.
    pub fn new(
        cfg: Config,
        config_path: Option<PathBuf>,
        clock: Arc<dyn TimeSource>,
    ) -> Result<Daemon> {
        let display = make_display(&cfg)?;
        Ok(Daemon {
            config_path,
            cfg,
            display,
            clock,
            frame: Arc::new(FrameCell::new(Frame::DARK)),
            started: Instant::now(),
            last: None,
            synced: None,
        })
    }

    /// The running configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The display logic.
    pub fn display(&self) -> &Display {
        &self.display
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn TimeSource> {
        &self.clock
    }

    /// The frame shared with the multiplexer.
    pub fn frame_cell(&self) -> Arc<FrameCell> {
        self.frame.clone()
    }

    /// Renders and publishes the frame for now.
    pub fn tick(&mut self) -> Shown {
        self.tick_at(self.started.elapsed())
    }

    /// Renders and publishes the frame for the clock's now, `uptime` after
    /// start-up.
    pub fn tick_at(&mut self, uptime: Duration) -> Shown {
        let sync = self.clock.sync();
        if self.synced != Some(sync.synchronised) {
            if sync.synchronised {
                tracing::info!(
                    "clock synchronised by NTP (max error {:.1} ms)",
                    sync.max_error_us as f64 / 1000.0
                );
            } else {
                tracing::warn!("clock not synchronised by NTP; the colon shows it");
            }
            self.synced = Some(sync.synchronised);
        }
        let shown = self.display.render(self.clock.now(), sync, uptime);
        if self.last.map(|l| (l.mode, l.night)) != Some((shown.mode, shown.night)) {
            tracing::debug!(
                "display: {:?}{}",
                shown.mode,
                if shown.night { " (night)" } else { "" }
            );
        }
        self.frame.store(shown.frame);
        self.last = Some(shown);
        shown
    }

    /// Re-reads the configuration file. On error the running configuration
    /// stays in force.
    pub fn reload(&mut self) -> Result<Reloaded> {
        let cfg = match &self.config_path {
            Some(p) => Config::load(p)?,
            None => Config::builtin(),
        };
        let display = make_display(&cfg)?;
        let r = Reloaded {
            mux_changed: cfg.timing() != self.cfg.timing()
                || cfg.cathode_map() != self.cfg.cathode_map()
                || cfg.realtime() != self.cfg.realtime(),
            pins_changed: cfg.pin_map() != self.cfg.pin_map()
                || cfg.pins.chip != self.cfg.pins.chip,
        };
        self.cfg = cfg;
        self.display = display;
        Ok(r)
    }

    /// Starts the multiplexer thread on `backend` with the running
    /// configuration, reading this daemon's frames.
    pub fn spawn_mux<B: Backend + 'static>(&self, backend: B) -> Result<MuxThread<B>> {
        self.spawn_mux_measuring(backend, 0)
    }

    /// Like [`Daemon::spawn_mux`], logging the lateness of up to `edges`
    /// anode edges and wake-ups.
    fn spawn_mux_measuring<B: Backend + 'static>(
        &self,
        backend: B,
        edges: usize,
    ) -> Result<MuxThread<B>> {
        Ok(MuxThread::spawn(
            self.cfg.timing(),
            self.cfg.cathode_map(),
            backend,
            self.frame_cell(),
            self.cfg.realtime(),
            edges,
        )?)
    }

    /// Handles a pending SIGHUP; restarts the multiplexer if its parameters
    /// changed. Returns the (possibly new) multiplexer thread.
    pub fn handle_reload<B: Backend + 'static>(
        &mut self,
        flags: &SignalFlags,
        mux: MuxThread<B>,
    ) -> Result<MuxThread<B>> {
        if !flags.reload.swap(false, Ordering::Relaxed) {
            return Ok(mux);
        }
        match self.reload() {
            Err(e) => {
                tracing::error!("reload failed, keeping the running configuration: {e:#}");
                Ok(mux)
            }
            Ok(r) => {
                tracing::info!("configuration reloaded");
                if r.pins_changed {
                    tracing::warn!("pin changes take effect only after a restart of the daemon");
                }
                if !r.mux_changed {
                    return Ok(mux);
                }
                let backend = mux.stop().context("stopping the multiplexer")?;
                tracing::info!("multiplexer restarted with the new timing");
                self.spawn_mux(backend)
            }
        }
    }

    /// Runs headless (gpio or sim backend) until SIGTERM/SIGINT; then every
    /// anode, the colon and the high voltage are turned off before return.
    pub fn run<B: Backend + 'static>(&mut self, backend: B, flags: &SignalFlags) -> Result<()> {
        self.run_for(backend, flags, None).map(|_| ())
    }

    /// Like [`Daemon::run`], also stopping after `limit` (when given), in
    /// which case the multiplexer measures its edges for the whole run and
    /// its [`MuxReport`] is returned.
    pub fn run_for<B: Backend + 'static>(
        &mut self,
        backend: B,
        flags: &SignalFlags,
        limit: Option<Duration>,
    ) -> Result<Option<MuxReport>> {
        self.tick();
        // Room for every edge and wake-up of the run (3 timed waits per slot).
        let edges = limit.map_or(0, |d| {
            let slots = d.as_secs_f64() * f64::from(self.cfg.mux.frame_hz) * 4.0;
            (slots * 3.0) as usize + 4096
        });
        let mut mux = self.spawn_mux_measuring(backend, edges)?;
        tracing::info!(
            "running: {} Hz, blank {} µs, brightness {}",
            self.cfg.mux.frame_hz,
            self.cfg.mux.blank_us,
            self.cfg.mux.brightness
        );
        let end = limit.map(|d| Instant::now() + d);
        while !flags.stop.load(Ordering::Relaxed) {
            // A multiplexer restarted by a reload measures no more: the
            // report then covers the new one only.
            mux = self.handle_reload(flags, mux)?;
            self.tick();
            if !mux.is_running() {
                mux.stop().context("multiplexer stopped")?;
                anyhow::bail!("multiplexer stopped unexpectedly");
            }
            let pause = match end {
                Some(e) => {
                    let left = e.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    left.min(TICK)
                }
                None => TICK,
            };
            std::thread::sleep(pause);
        }
        let (_, report) = mux.stop_with_report().context("turning the tubes off")?;
        tracing::info!("stopped: anodes, colon and high voltage off");
        Ok(limit.map(|_| report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::SimBackend;
    use crate::board::Levels;
    use crate::clock::FakeClock;

    #[test]
    fn stop_flag_turns_everything_off() {
        let cfg = Config::parse("timezone = \"UTC\"\n[display]\nself_test = false\n", "t").unwrap();
        let clock = FakeClock::new("2026-06-01T12:34:56Z".parse().unwrap());
        let mut d = Daemon::new(cfg, None, Arc::new(clock)).unwrap();
        let (sim, probe) = SimBackend::new(1 << 16);
        let flags = SignalFlags::default();
        let f2 = flags.clone();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            f2.stop.store(true, Ordering::Relaxed);
        });
        d.run(sim, &flags).unwrap();
        stopper.join().unwrap();
        assert_eq!(probe.levels(), Levels::all_off());
        let r = probe.recording(0);
        assert!(r.samples.len() > 20, "the tubes were driven");
    }

    #[test]
    fn reload_reports_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("n.toml");
        std::fs::write(&p, "timezone = \"UTC\"\n").unwrap();
        let cfg = Config::load(&p).unwrap();
        let clock = FakeClock::new("2026-06-01T12:34:56Z".parse().unwrap());
        let mut d = Daemon::new(cfg, Some(p.clone()), Arc::new(clock)).unwrap();
        std::fs::write(
            &p,
            "timezone = \"UTC\"\n[mux]\nframe_hz = 200\nblank_us = 400\n",
        )
        .unwrap();
        let r = d.reload().unwrap();
        assert!(r.mux_changed && !r.pins_changed);
        assert_eq!(d.config().mux.frame_hz, 200);
        std::fs::write(&p, "[mux]\nframe_hz = 7\n").unwrap();
        let e = d.reload().unwrap_err().to_string();
        assert!(e.contains("mux.frame_hz"), "{e}");
        assert_eq!(d.config().mux.frame_hz, 200, "old configuration kept");
    }
}
