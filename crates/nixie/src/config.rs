//! The configuration file (TOML): one file describes the whole clock, with
//! every default visible in [`DEFAULT_TOML`].
//!
//! Parsing rejects unknown keys and wrong types (the message names the key
//! and its line); [`Config::validate`] then checks ranges and cross-field
//! rules (duplicate pins, blank not shorter than the slot, …) and names the
//! offending key too.

use std::path::Path;

use serde::Deserialize;

use crate::board::{CathodeMap, PinMap, TUBES};
use crate::mux::{Realtime, Spin, Timing};

/// `Err("<v> is out of range (<shown>)")` unless `range` holds `v`.
fn in_range<T: PartialOrd + std::fmt::Display>(
    v: T,
    range: std::ops::RangeInclusive<T>,
    shown: &str,
) -> Result<(), String> {
    if range.contains(&v) {
        Ok(())
    } else {
        Err(format!("{v} is out of range ({shown})"))
    }
}

/// The built-in configuration, also the documentation of every key.
pub const DEFAULT_TOML: &str = include_str!("../dist/nixie.toml");

/// A configuration problem, naming the key (and file) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// File name.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// TOML syntax, unknown key or wrong type.
    #[error("{origin}: {message}")]
    Parse {
        /// File name or "built-in configuration".
        origin: String,
        /// The parser's message (names the key, line and column).
        message: String,
    },
    /// A value out of range or inconsistent with another.
    #[error("{origin}: {key}: {message}")]
    Invalid {
        /// File name or "built-in configuration".
        origin: String,
        /// Dotted key path, e.g. `mux.blank_us`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// How the multiplexer waits for an anode edge (`mux.spin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpinMode {
    /// Wake a margin before each edge that follows the host's recent
    /// wake-up lateness, at most `spin_us`, and busy-wait the rest.
    Adaptive,
    /// Wake exactly `spin_us` before each edge and busy-wait the rest.
    Fixed,
    /// Sleep right up to each edge.
    Off,
}

/// How the colon behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColonMode {
    /// On for the first half of every second.
    Blink,
    /// Always on.
    Steady,
    /// Always off.
    Off,
}

/// What night mode does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NightMode {
    /// Lower the brightness to `night.brightness`.
    Dim,
    /// Tubes dark and high voltage off.
    Off,
}

/// Date order when the date is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum DateFormat {
    /// Day then month.
    #[serde(rename = "dd.mm")]
    DayMonth,
    /// Month then day.
    #[serde(rename = "mm.dd")]
    MonthDay,
}

/// `[pins]`: GPIO line offsets on the chip.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pins {
    /// GPIO character device.
    pub chip: String,
    /// BCD lines A, B, C, D.
    pub bcd: [u32; 4],
    /// Anode lines, leftmost tube first.
    pub anodes: [u32; TUBES],
    /// Colon line.
    pub colon: u32,
    /// High-voltage enable line (optional).
    pub hv_enable: Option<u32>,
    /// Lines wired active-low (driven low to switch on).
    pub active_low: Vec<u32>,
}

impl Default for Pins {
    fn default() -> Self {
        Pins {
            chip: "/dev/gpiochip0".into(),
            bcd: [17, 27, 22, 23],
            anodes: [5, 6, 13, 19],
            colon: 26,
            hv_enable: Some(21),
            active_low: Vec::new(),
        }
    }
}

/// `[tubes]`: wiring of digits to cathodes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tubes {
    /// Per tube, the decoder code that lights digit 0, 1, … 9.
    pub cathodes: Option<[[u8; 10]; TUBES]>,
}

/// `[mux]`: multiplexer timing.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mux {
    /// Frames per second, 50–500.
    pub frame_hz: u32,
    /// Dark time between tubes (µs).
    pub blank_us: u32,
    /// How to wait for an anode edge.
    pub spin: SpinMode,
    /// Busy-wait before each edge (µs), 0–200: the margin (`fixed`) or its
    /// upper bound (`adaptive`).
    pub spin_us: u32,
    /// Day brightness 0.0–1.0 (duty within slot − blank).
    pub brightness: f32,
    /// SCHED_FIFO priority for the multiplexer thread when permitted (the log
    /// says when not), 0 = normal scheduling.
    pub realtime_priority: u8,
    /// Lock memory with `mlockall`.
    pub lock_memory: bool,
    /// Pin the multiplexer thread to this CPU (none: any CPU).
    pub cpu: Option<u32>,
}

impl Default for Mux {
    fn default() -> Self {
        Mux {
            frame_hz: 100,
            blank_us: 600,
            spin: SpinMode::Adaptive,
            spin_us: 100,
            brightness: 1.0,
            realtime_priority: 10,
            lock_memory: true,
            cpu: None,
        }
    }
}

/// `[display]`: what is shown.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisplayCfg {
    /// 12 or 24.
    pub hours: u8,
    /// Show the leading zero of the hour (`07:05` instead of ` 7:05`).
    pub leading_zero: bool,
    /// Colon behaviour while the clock is synchronised.
    pub colon: ColonMode,
    /// Colon behaviour while NTP reports the clock unsynchronised.
    pub unsynced_colon: ColonMode,
    /// Show the date every this many minutes (0 = never).
    pub date_every_minutes: u32,
    /// For how many seconds, starting at second 30 of the minute.
    pub date_seconds: u32,
    /// Day/month order.
    pub date_format: DateFormat,
    /// Cycle every digit on every tube at start-up.
    pub self_test: bool,
}

impl Default for DisplayCfg {
    fn default() -> Self {
        DisplayCfg {
            hours: 24,
            leading_zero: true,
            colon: ColonMode::Blink,
            unsynced_colon: ColonMode::Steady,
            date_every_minutes: 0,
            date_seconds: 5,
            date_format: DateFormat::DayMonth,
            self_test: true,
        }
    }
}

/// `[night]`: quiet hours.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Night {
    /// Night mode on.
    pub enabled: bool,
    /// Start, local "HH:MM".
    pub from: String,
    /// End, local "HH:MM" (may be earlier than `from`: the night spans midnight).
    pub to: String,
    /// Dim or off.
    pub mode: NightMode,
    /// Brightness when dimmed, 0.0–1.0.
    pub brightness: f32,
}

impl Default for Night {
    fn default() -> Self {
        Night {
            enabled: false,
            from: "23:00".into(),
            to: "07:00".into(),
            mode: NightMode::Dim,
            brightness: 0.2,
        }
    }
}

/// `[anti_poisoning]`: the cathode-exercising roll.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AntiPoisoning {
    /// Roll on schedule.
    pub enabled: bool,
    /// Roll at every minute of the day divisible by this (1–1440).
    pub every_minutes: u32,
    /// Each cathode of each tube is lit at least this long per day by rolls (s).
    pub seconds_per_cathode: u32,
    /// How long each digit stays during a roll (ms), 20–1000.
    pub step_ms: u32,
}

impl Default for AntiPoisoning {
    fn default() -> Self {
        AntiPoisoning {
            enabled: true,
            every_minutes: 15,
            seconds_per_cathode: 30,
            step_ms: 60,
        }
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// IANA time zone; empty = the system's local zone.
    pub timezone: String,
    /// Pin map.
    pub pins: Pins,
    /// Cathode wiring.
    pub tubes: Tubes,
    /// Multiplexer.
    pub mux: Mux,
    /// Display features.
    pub display: DisplayCfg,
    /// Night mode.
    pub night: Night,
    /// Anti-cathode-poisoning.
    pub anti_poisoning: AntiPoisoning,
}

/// Parses `"HH:MM"` into minutes after midnight.
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl Config {
    /// Parses and validates `text`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.validate(origin)?;
        Ok(cfg)
    }

    /// Reads, parses and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// The built-in configuration.
    pub fn builtin() -> Config {
        // The built-in file is tested to parse; fall back to code defaults regardless.
        Config::parse(DEFAULT_TOML, "built-in configuration").unwrap_or_default()
    }

    /// Checks ranges and cross-field rules.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            message,
        };
        // Pins: range and uniqueness.
        let mut used: Vec<(String, u32)> = Vec::new();
        let p = &self.pins;
        let mut named: Vec<(String, u32)> = Vec::new();
        for (i, &l) in p.bcd.iter().enumerate() {
            named.push((format!("pins.bcd[{i}]"), l));
        }
        for (i, &l) in p.anodes.iter().enumerate() {
            named.push((format!("pins.anodes[{i}]"), l));
        }
        named.push(("pins.colon".into(), p.colon));
        if let Some(hv) = p.hv_enable {
            named.push(("pins.hv_enable".into(), hv));
        }
        for (key, line) in named {
            if line > 63 {
                return Err(bad(&key, format!("line {line} is out of range (0-63)")));
            }
            if let Some((other, _)) = used.iter().find(|(_, l)| *l == line) {
                return Err(bad(&key, format!("line {line} is already used by {other}")));
            }
            used.push((key, line));
        }
        for (i, line) in p.active_low.iter().enumerate() {
            if !used.iter().any(|(_, l)| l == line) {
                return Err(bad(
                    &format!("pins.active_low[{i}]"),
                    format!("line {line} is not one of the pins above"),
                ));
            }
        }
        if p.chip.is_empty() {
            return Err(bad(
                "pins.chip",
                "must name a GPIO chip, e.g. /dev/gpiochip0".into(),
            ));
        }
        if let Some(maps) = self.tubes.cathodes {
            CathodeMap::new(maps).map_err(|e| bad("tubes.cathodes", e))?;
        }
        // Multiplexer.
        let m = &self.mux;
        in_range(m.frame_hz, 50..=500, "50-500").map_err(|e| bad("mux.frame_hz", e))?;
        let timing = self.timing();
        let slot_us = timing.slot_ns() / 1000;
        if u64::from(m.blank_us) >= timing.slot_ns() / 1000 {
            return Err(bad(
                "mux.blank_us",
                format!(
                    "{} µs is not shorter than the slot ({slot_us} µs = 1/(4 × {} Hz))",
                    m.blank_us, m.frame_hz
                ),
            ));
        }
        in_range(m.spin_us, 0..=200, "0-200").map_err(|e| bad("mux.spin_us", e))?;
        in_range(m.brightness, 0.0..=1.0, "0.0-1.0").map_err(|e| bad("mux.brightness", e))?;
        in_range(m.realtime_priority, 0..=99, "0 = off, 1-99")
            .map_err(|e| bad("mux.realtime_priority", e))?;
        if let Some(cpu) = m.cpu {
            // SAFETY: sysconf takes a plain constant.
            let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) }.max(1);
            if i64::from(cpu) >= cpus as i64 {
                return Err(bad(
                    "mux.cpu",
                    format!(
                        "CPU {cpu} does not exist (this machine has CPUs 0-{})",
                        cpus - 1
                    ),
                ));
            }
        }
        // Display.
        let d = &self.display;
        if d.hours != 12 && d.hours != 24 {
            return Err(bad(
                "display.hours",
                format!("{} must be 12 or 24", d.hours),
            ));
        }
        in_range(d.date_every_minutes, 0..=1440, "0 = never, 1-1440")
            .map_err(|e| bad("display.date_every_minutes", e))?;
        if d.date_every_minutes > 0 && !(1..=29).contains(&d.date_seconds) {
            return Err(bad(
                "display.date_seconds",
                format!("{} is out of range (1-29)", d.date_seconds),
            ));
        }
        // Night.
        let n = &self.night;
        let from = parse_hhmm(&n.from);
        let to = parse_hhmm(&n.to);
        if from.is_none() {
            return Err(bad(
                "night.from",
                format!("{:?} is not a time HH:MM", n.from),
            ));
        }
        if to.is_none() {
            return Err(bad("night.to", format!("{:?} is not a time HH:MM", n.to)));
        }
        if n.enabled && from == to {
            return Err(bad(
                "night.to",
                "equals night.from: the night would be empty".into(),
            ));
        }
        in_range(n.brightness, 0.0..=1.0, "0.0-1.0").map_err(|e| bad("night.brightness", e))?;
        // Anti-poisoning.
        let a = &self.anti_poisoning;
        if a.enabled {
            in_range(a.every_minutes, 1..=1440, "1-1440")
                .map_err(|e| bad("anti_poisoning.every_minutes", e))?;
            in_range(a.step_ms, 20..=1000, "20-1000")
                .map_err(|e| bad("anti_poisoning.step_ms", e))?;
            let rolls = crate::display::rolls_per_day(self);
            if rolls == 0 {
                return Err(bad(
                    "anti_poisoning.every_minutes",
                    "no roll falls outside the night-off hours".into(),
                ));
            }
            let len_ms = crate::display::roll_length_ms(self);
            if len_ms > 30_000 {
                return Err(bad(
                    "anti_poisoning.seconds_per_cathode",
                    format!(
                        "{} s per cathode needs {:.1} s rolls with {rolls} rolls a day (max 30 s); \
                         roll more often (lower every_minutes) or ask for less",
                        a.seconds_per_cathode,
                        len_ms as f64 / 1000.0
                    ),
                ));
            }
        }
        if let Some(name) = self.zone_name() {
            crate::clock::load_zone(Some(name)).map_err(|e| bad("timezone", e))?;
        }
        Ok(())
    }

    /// The configured IANA zone name, `None` for the system's local zone.
    pub fn zone_name(&self) -> Option<&str> {
        (!self.timezone.is_empty()).then_some(self.timezone.as_str())
    }

    /// The pin map.
    pub fn pin_map(&self) -> PinMap {
        PinMap {
            bcd: self.pins.bcd,
            anodes: self.pins.anodes,
            colon: self.pins.colon,
            hv_enable: self.pins.hv_enable,
            active_low: self.pins.active_low.clone(),
        }
    }

    /// The cathode map (identity unless `[tubes] cathodes` is set).
    pub fn cathode_map(&self) -> CathodeMap {
        self.tubes
            .cathodes
            .and_then(|m| CathodeMap::new(m).ok())
            .unwrap_or_default()
    }

    /// Multiplexer timing.
    pub fn timing(&self) -> Timing {
        Timing {
            frame_hz: self.mux.frame_hz,
            blank_ns: u64::from(self.mux.blank_us) * 1000,
            spin: match self.mux.spin {
                SpinMode::Off => Spin::Off,
                SpinMode::Fixed => Spin::Fixed(u64::from(self.mux.spin_us) * 1000),
                SpinMode::Adaptive => Spin::Adaptive {
                    max_ns: u64::from(self.mux.spin_us) * 1000,
                },
            },
        }
    }

    /// Real-time thread options.
    pub fn realtime(&self) -> Realtime {
        Realtime {
            fifo_priority: (self.mux.realtime_priority > 0).then_some(self.mux.realtime_priority),
            lock_memory: self.mux.lock_memory,
            cpu: self.mux.cpu.map(|c| c as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn builtin_parses() {
        Config::parse(DEFAULT_TOML, "built-in").unwrap();
        assert_eq!(Config::builtin().mux.frame_hz, 100);
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = Config::parse("", "t.toml").unwrap();
        assert_eq!(c.pins.bcd, [17, 27, 22, 23]);
        assert_eq!(c.mux.blank_us, 600);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("[mux]\nblank_us = 2500\n", "mux.blank_us"),
            ("[mux]\nframe_hz = 1000\n", "mux.frame_hz"),
            ("[mux]\nbrightness = 1.5\n", "mux.brightness"),
            (
                "[pins]\nanodes = [5, 6, 17, 19]\n",
                "pins.anodes[2]: line 17 is already used by pins.bcd[0]",
            ),
            (
                "[pins]\ncolon = 99\n",
                "pins.colon: line 99 is out of range",
            ),
            ("[mux]\nframerate = 100\n", "unknown field `framerate`"),
            ("[display]\nhours = 13\n", "display.hours"),
            ("[display]\ncolon = \"flash\"\n", "unknown variant `flash`"),
            ("[night]\nfrom = \"25:00\"\n", "night.from"),
            (
                "[anti_poisoning]\nseconds_per_cathode = 100000\n",
                "anti_poisoning.seconds_per_cathode",
            ),
            ("timezone = \"Nowhere/Special\"\n", "timezone"),
            (
                "[pins]\nactive_low = [5, 40]\n",
                "pins.active_low[1]: line 40 is not one of the pins",
            ),
            (
                "[tubes]\ncathodes = [[0,1,2,3,4,5,6,7,8,8],[0,1,2,3,4,5,6,7,8,9],[0,1,2,3,4,5,6,7,8,9],[0,1,2,3,4,5,6,7,8,9]]\n",
                "tubes.cathodes: tube 1",
            ),
            ("colour = 1\n", "unknown field `colour`"),
            ("[mux]\ncpu = 4096\n", "mux.cpu: CPU 4096 does not exist"),
            ("[mux]\nspin = \"always\"\n", "unknown variant `always`"),
            ("[mux]\nspin_us = 500\n", "mux.spin_us"),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.starts_with("t.toml"), "{e}");
        }
    }

    #[test]
    fn spin_modes_and_real_time_options() {
        let c = Config::parse("", "t").unwrap();
        assert_eq!(c.timing().spin, Spin::Adaptive { max_ns: 100_000 });
        assert_eq!(
            c.realtime(),
            Realtime {
                fifo_priority: Some(10),
                lock_memory: true,
                cpu: None
            }
        );
        let c = Config::parse("[mux]\nspin = \"fixed\"\nspin_us = 20\ncpu = 0\n", "t").unwrap();
        assert_eq!(c.timing().spin, Spin::Fixed(20_000));
        assert_eq!(c.realtime().cpu, Some(0));
        let c = Config::parse("[mux]\nspin = \"off\"\n", "t").unwrap();
        assert_eq!(c.timing().spin, Spin::Off);
    }

    #[test]
    fn blank_at_higher_rates() {
        // 500 Hz: slot 500 µs, so the default 600 µs blank is too long.
        let e = err("[mux]\nframe_hz = 500\n");
        assert!(e.contains("mux.blank_us") && e.contains("500 µs"), "{e}");
        Config::parse("[mux]\nframe_hz = 500\nblank_us = 300\n", "t").unwrap();
    }

    #[test]
    fn hhmm() {
        assert_eq!(parse_hhmm("07:30"), Some(450));
        assert_eq!(parse_hhmm("7:30"), Some(450));
        assert_eq!(parse_hhmm("24:00"), None);
        assert_eq!(parse_hhmm("0730"), None);
        assert_eq!(parse_hhmm("07:3"), None);
    }
}
