//! Display logic: from an instant, the NTP status and the configuration to
//! the [`Frame`] the tubes show.
//!
//! [`Display::render`] is a pure function of wall-clock time (plus the time
//! since start-up for the self-test). Nothing is remembered from one tick
//! to the next, so a clock step back or forward, or a DST change, is simply
//! the next instant: the display can neither stick nor skip ahead.
//!
//! Priorities, highest first: start-up self-test, night "off", the
//! anti-poisoning roll, the date, the time.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::board::TUBES;
use crate::clock::SyncStatus;
use crate::config::{ColonMode, Config, DateFormat, NightMode, parse_hhmm};
use crate::mux::Frame;

/// How long each digit is shown by the start-up self-test.
pub const SELF_TEST_STEP: Duration = Duration::from_millis(300);

/// The second of the minute at which the date appears.
pub const DATE_AT_SECOND: u32 = 30;

/// What the display is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Start-up self-test: every digit on every tube.
    SelfTest,
    /// Night mode "off": dark, high voltage off.
    NightOff,
    /// Anti-cathode-poisoning roll.
    Roll,
    /// The date.
    Date,
    /// The time.
    Time,
}

/// The result of one render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shown {
    /// What to put on the tubes.
    pub frame: Frame,
    /// Why.
    pub mode: Mode,
    /// Night mode (dim or off) is in force.
    pub night: bool,
}

fn in_window(minute: u32, from: u32, to: u32) -> bool {
    if from <= to {
        (from..to).contains(&minute)
    } else {
        minute >= from || minute < to
    }
}

fn night_window(cfg: &Config) -> Option<(u32, u32)> {
    let n = &cfg.night;
    if !n.enabled {
        return None;
    }
    Some((parse_hhmm(&n.from)?, parse_hhmm(&n.to)?))
}

/// Number of scheduled rolls in a normal day (those during night "off" are
/// skipped).
pub fn rolls_per_day(cfg: &Config) -> u32 {
    let a = &cfg.anti_poisoning;
    if !a.enabled || a.every_minutes == 0 {
        return 0;
    }
    let off = match night_window(cfg) {
        Some(w) if cfg.night.mode == NightMode::Off => Some(w),
        _ => None,
    };
    (0..1440)
        .step_by(a.every_minutes as usize)
        .filter(|&m| off.is_none_or(|(f, t)| !in_window(m, f, t)))
        .count() as u32
}

/// Length of one roll (ms): enough for each cathode to get its daily share
/// even on a 23-hour DST day, a whole number of 10-digit cycles.
pub fn roll_length_ms(cfg: &Config) -> u64 {
    let a = &cfg.anti_poisoning;
    let rolls = u64::from(rolls_per_day(cfg));
    if rolls == 0 {
        return 0;
    }
    // A spring-forward day loses one local hour of scheduled rolls.
    let lost = u64::from(60u32.div_ceil(a.every_minutes.max(1))).min(rolls - 1);
    let effective = rolls - lost;
    let need_ms = u64::from(a.seconds_per_cathode) * 1000 * 10;
    let cycle = u64::from(a.step_ms) * 10;
    let len = need_ms.div_ceil(effective).max(cycle);
    len.div_ceil(cycle) * cycle
}

/// The display logic, configured once per (re)load.
#[derive(Clone, Debug)]
pub struct Display {
    cfg: Config,
    tz: TimeZone,
    roll_ms: u64,
    night: Option<(u32, u32)>,
}

impl Display {
    /// Display logic for `cfg`, showing local time in `tz`.
    pub fn new(cfg: &Config, tz: TimeZone) -> Display {
        Display {
            roll_ms: if cfg.anti_poisoning.enabled {
                roll_length_ms(cfg)
            } else {
                0
            },
            night: night_window(cfg),
            cfg: cfg.clone(),
            tz,
        }
    }

    /// The time zone in use.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Length of each anti-poisoning roll (ms), 0 when disabled.
    pub fn roll_ms(&self) -> u64 {
        self.roll_ms
    }

    /// What to show at `now`, `uptime` after start-up.
    pub fn render(&self, now: Timestamp, sync: SyncStatus, uptime: Duration) -> Shown {
        let c = &self.cfg;
        let day_brightness = c.mux.brightness;
        if c.display.self_test && uptime < SELF_TEST_STEP * 10 {
            let d = (uptime.as_millis() / SELF_TEST_STEP.as_millis()) as u8;
            return Shown {
                frame: Frame {
                    digits: [Some(d); TUBES],
                    colon: d.is_multiple_of(2),
                    brightness: day_brightness,
                    hv: true,
                },
                mode: Mode::SelfTest,
                night: false,
            };
        }
        let z = now.to_zoned_datetime(self.tz.clone());
        let (h, m, s) = (z.hour() as u32, z.minute() as u32, z.second() as u32);
        let ms = z.millisecond() as u64;
        let minute_of_day = h * 60 + m;
        let night = self
            .night
            .is_some_and(|(f, t)| in_window(minute_of_day, f, t));
        if night && c.night.mode == NightMode::Off {
            return Shown {
                frame: Frame::DARK,
                mode: Mode::NightOff,
                night,
            };
        }
        let brightness = if night {
            c.night.brightness
        } else {
            day_brightness
        };
        let frame = |digits, colon| Frame {
            digits,
            colon,
            brightness,
            hv: true,
        };
        let into_minute_ms = u64::from(s) * 1000 + ms;
        if self.roll_ms > 0
            && minute_of_day.is_multiple_of(c.anti_poisoning.every_minutes)
            && into_minute_ms < self.roll_ms
        {
            let step = into_minute_ms / u64::from(c.anti_poisoning.step_ms);
            let mut digits = [None; TUBES];
            for (i, d) in digits.iter_mut().enumerate() {
                *d = Some(((step + 3 * i as u64) % 10) as u8);
            }
            return Shown {
                frame: frame(digits, false),
                mode: Mode::Roll,
                night,
            };
        }
        let every = c.display.date_every_minutes;
        if every > 0
            && minute_of_day.is_multiple_of(every)
            && (DATE_AT_SECOND..DATE_AT_SECOND + c.display.date_seconds).contains(&s)
        {
            let (day, month) = (z.day() as u8, z.month() as u8);
            let (x, y) = match c.display.date_format {
                DateFormat::DayMonth => (day, month),
                DateFormat::MonthDay => (month, day),
            };
            return Shown {
                frame: frame(
                    [Some(x / 10), Some(x % 10), Some(y / 10), Some(y % 10)],
                    false,
                ),
                mode: Mode::Date,
                night,
            };
        }
        let hour = if c.display.hours == 12 {
            match h % 12 {
                0 => 12,
                x => x,
            }
        } else {
            h
        } as u8;
        let tens = (c.display.leading_zero || hour >= 10).then_some(hour / 10);
        let colon_mode = if sync.synchronised {
            c.display.colon
        } else {
            c.display.unsynced_colon
        };
        let colon = match colon_mode {
            ColonMode::Blink => ms < 500,
            ColonMode::Steady => true,
            ColonMode::Off => false,
        };
        Shown {
            frame: frame(
                [
                    tens,
                    Some(hour % 10),
                    Some(m as u8 / 10),
                    Some(m as u8 % 10),
                ],
                colon,
            ),
            mode: Mode::Time,
            night,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn display(toml: &str) -> Display {
        let cfg = Config::parse(toml, "t").unwrap();
        Display::new(&cfg, TimeZone::UTC)
    }

    const LATE: Duration = Duration::from_secs(3600);

    fn digits(f: &Frame) -> String {
        f.digits
            .iter()
            .map(|d| d.map_or(' ', |d| char::from(b'0' + d)))
            .collect()
    }

    #[test]
    fn twelve_and_twenty_four_hours() {
        let d24 = display("");
        let d12 = display("[display]\nhours = 12\nleading_zero = false\n");
        for (t, h24, h12) in [
            ("2026-05-01T00:07:00Z", "0007", "1207"),
            ("2026-05-01T09:41:00Z", "0941", " 941"),
            ("2026-05-01T12:30:00Z", "1230", "1230"),
            ("2026-05-01T13:05:00Z", "1305", " 105"),
            ("2026-05-01T23:59:00Z", "2359", "1159"),
        ] {
            let t = ts(t) + jiff::SignedDuration::from_secs(40);
            assert_eq!(
                digits(&d24.render(t, SyncStatus::SYNCED, LATE).frame),
                h24,
                "{t}"
            );
            assert_eq!(
                digits(&d12.render(t, SyncStatus::SYNCED, LATE).frame),
                h12,
                "{t}"
            );
        }
    }

    #[test]
    fn colon_modes_and_sync() {
        let d = display("");
        let t0 = ts("2026-05-01T10:01:20.100Z");
        let t1 = ts("2026-05-01T10:01:20.700Z");
        let on = |t, s| d.render(t, s, LATE).frame.colon;
        assert!(on(t0, SyncStatus::SYNCED));
        assert!(!on(t1, SyncStatus::SYNCED));
        // Unsynchronised: steady.
        assert!(on(t0, SyncStatus::UNSYNCED) && on(t1, SyncStatus::UNSYNCED));
        let off = display("[display]\ncolon = \"off\"\n");
        assert!(!off.render(t0, SyncStatus::SYNCED, LATE).frame.colon);
    }

    #[test]
    fn self_test_cycles_every_digit_on_every_tube() {
        let d = display("");
        let t = ts("2026-05-01T10:01:20Z");
        let mut seen = [[false; 10]; TUBES];
        for ms in (0..3000).step_by(50) {
            let s = d.render(t, SyncStatus::SYNCED, Duration::from_millis(ms));
            assert_eq!(s.mode, Mode::SelfTest);
            for (tube, dig) in s.frame.digits.iter().enumerate() {
                seen[tube][usize::from(dig.unwrap())] = true;
            }
        }
        assert!(seen.iter().all(|t| t.iter().all(|&x| x)));
        assert_eq!(
            d.render(t, SyncStatus::SYNCED, Duration::from_secs(3)).mode,
            Mode::Time
        );
    }

    #[test]
    fn date_every_n_minutes() {
        let d = display(
            "[display]\ndate_every_minutes = 10\ndate_seconds = 4\n[anti_poisoning]\nenabled = false\n",
        );
        let at = |s| d.render(ts(s), SyncStatus::SYNCED, LATE);
        let s = at("2026-10-25T14:20:31Z");
        assert_eq!((s.mode, digits(&s.frame).as_str()), (Mode::Date, "2510"));
        assert_eq!(at("2026-10-25T14:20:34Z").mode, Mode::Time);
        assert_eq!(at("2026-10-25T14:21:31Z").mode, Mode::Time);
        let md = display("[display]\ndate_every_minutes = 1\ndate_format = \"mm.dd\"\n");
        assert_eq!(
            digits(
                &md.render(ts("2026-03-09T01:02:30Z"), SyncStatus::SYNCED, LATE)
                    .frame
            ),
            "0309"
        );
    }

    #[test]
    fn night_mode_dims_or_turns_off() {
        let dim = display(
            "[night]\nenabled = true\nfrom = \"22:30\"\nto = \"06:15\"\nbrightness = 0.1\n",
        );
        let s = dim.render(ts("2026-05-01T23:00:40Z"), SyncStatus::SYNCED, LATE);
        assert!(s.night && (s.frame.brightness - 0.1).abs() < 1e-6 && s.mode == Mode::Time);
        let s = dim.render(ts("2026-05-01T06:15:40Z"), SyncStatus::SYNCED, LATE);
        assert!(!s.night && s.frame.brightness == 1.0);
        let s = dim.render(ts("2026-05-01T22:29:40Z"), SyncStatus::SYNCED, LATE);
        assert!(!s.night);
        let off = display("[night]\nenabled = true\nmode = \"off\"\n");
        let s = off.render(ts("2026-05-01T03:00:40Z"), SyncStatus::SYNCED, LATE);
        assert_eq!(s.mode, Mode::NightOff);
        assert!(!s.frame.hv && s.frame.digits == [None; 4]);
    }

    #[test]
    fn roll_length_meets_the_daily_share() {
        let cfg = Config::parse(
            "[anti_poisoning]\nevery_minutes = 15\nseconds_per_cathode = 30\nstep_ms = 60\n",
            "t",
        )
        .unwrap();
        assert_eq!(rolls_per_day(&cfg), 96);
        // 300 s of roll per day over 92 rolls (a 23-hour day), whole 600 ms cycles.
        let len = roll_length_ms(&cfg);
        assert_eq!(len % 600, 0);
        assert!(
            len * 92 >= 300_000 && len * 92 < 300_000 + 92 * 600,
            "{len}"
        );
        let off = Config::parse(
            "[night]\nenabled = true\nmode = \"off\"\nfrom = \"00:00\"\nto = \"06:00\"\n[anti_poisoning]\nevery_minutes = 60\n",
            "t",
        )
        .unwrap();
        assert_eq!(rolls_per_day(&off), 18);
    }
}
