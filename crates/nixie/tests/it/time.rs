//! Time on a fake clock: DST changes in Europe/Brussels and America/New_York
//! (2026), NTP steps mid-minute, the anti-poisoning share and night mode.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use nixie::board::TUBES;
use nixie::clock::{FakeClock, SyncStatus, TimeSource};
use nixie::config::Config;
use nixie::daemon::Daemon;
use nixie::display::{Display, Mode};
use nixie::mux::Frame;

const UP: Duration = Duration::from_secs(3600);

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn digits(f: &Frame) -> String {
    f.digits
        .iter()
        .map(|d| d.map_or(' ', |d| char::from(b'0' + d)))
        .collect()
}

/// Local HH:MM computed by hand from a UTC instant and a fixed offset in
/// hours, independently of the tz database.
fn by_hand(t: Timestamp, offset_h: i64) -> String {
    let secs = t.as_second() + offset_h * 3600;
    let m = secs.rem_euclid(86_400) / 60;
    format!("{:02}{:02}", m / 60, m % 60)
}

fn plain(zone: &str) -> Config {
    Config::parse(
        &format!("timezone = \"{zone}\"\n[display]\nself_test = false\n[anti_poisoning]\nenabled = false\n"),
        "test",
    )
    .unwrap()
}

/// Walks minute by minute (at second 17 of each minute) from `from` for
/// `minutes`, checking every displayed time against the offset rule.
fn walk(zone: &str, from: &str, minutes: i64, offset: impl Fn(Timestamp) -> i64) -> Vec<String> {
    let cfg = plain(zone);
    let clock = FakeClock::new(ts(from) + SignedDuration::from_secs(17));
    let mut d = Daemon::new(cfg, None, Arc::new(clock.clone())).unwrap();
    let mut shown = Vec::new();
    for _ in 0..minutes {
        let s = d.tick_at(UP);
        let t = clock.now();
        assert_eq!(digits(&s.frame), by_hand(t, offset(t)), "{zone} at {t}");
        shown.push(digits(&s.frame));
        clock.step(SignedDuration::from_mins(1));
    }
    shown
}

#[test]
fn brussels_spring_forward_2026_03_29() {
    let switch = ts("2026-03-29T01:00:00Z");
    let shown = walk("Europe/Brussels", "2026-03-28T22:00:00Z", 300, |t| {
        if t < switch { 1 } else { 2 }
    });
    // 01:59 is followed by 03:00; no 02:xx is ever shown.
    let i = shown.iter().position(|s| s == "0159").unwrap();
    assert_eq!(shown[i + 1], "0300");
    assert!(!shown.iter().any(|s| s.starts_with("02")));
}

#[test]
fn brussels_fall_back_2026_10_25() {
    let switch = ts("2026-10-25T01:00:00Z");
    let shown = walk("Europe/Brussels", "2026-10-24T22:00:00Z", 360, |t| {
        if t < switch { 2 } else { 1 }
    });
    // 02:59 CEST is followed by 02:00 CET: the hour from 02:00 is shown twice.
    assert_eq!(shown.iter().filter(|s| *s == "0230").count(), 2);
    let i = shown.iter().position(|s| s == "0259").unwrap();
    assert_eq!(shown[i + 1], "0200");
}

#[test]
fn new_york_both_changes_2026() {
    let spring = ts("2026-03-08T07:00:00Z");
    let shown = walk("America/New_York", "2026-03-08T04:00:00Z", 240, |t| {
        if t < spring { -5 } else { -4 }
    });
    let i = shown.iter().position(|s| s == "0159").unwrap();
    assert_eq!(shown[i + 1], "0300");
    let fall = ts("2026-11-01T06:00:00Z");
    let shown = walk("America/New_York", "2026-11-01T03:00:00Z", 300, |t| {
        if t < fall { -4 } else { -5 }
    });
    assert_eq!(shown.iter().filter(|s| *s == "0145").count(), 2);
}

/// NTP steps mid-minute: −30 s and +1 h. Every 20 ms tick must show the
/// clock's time; nothing sticks, nothing skips.
#[test]
fn steps_back_and_forward_mid_minute() {
    let cfg = plain("Europe/Brussels");
    let clock = FakeClock::new(ts("2026-03-29T00:58:40Z"));
    let mut d = Daemon::new(cfg, None, Arc::new(clock.clone())).unwrap();
    let tick = SignedDuration::from_millis(20);
    let check = |d: &mut Daemon| {
        let s = d.tick_at(UP);
        let t = clock.now();
        let off = if t < ts("2026-03-29T01:00:00Z") { 1 } else { 2 };
        assert_eq!(digits(&s.frame), by_hand(t, off), "at {t}");
        assert_eq!(
            d.frame_cell().load().digits,
            s.frame.digits,
            "published at once"
        );
        digits(&s.frame)
    };
    // 01:58:40 local; run to 01:59:05, step back 30 s (to 01:58:35).
    for _ in 0..(25 * 50) {
        check(&mut d);
        clock.step(tick);
    }
    assert_eq!(check(&mut d), "0159");
    clock.step(SignedDuration::from_secs(-30));
    assert_eq!(check(&mut d), "0158");
    // The minute comes again and passes normally.
    for _ in 0..(30 * 50) {
        check(&mut d);
        clock.step(tick);
    }
    assert_eq!(check(&mut d), "0159");
    // +1 h mid-minute, across the DST change: 00:59:0xZ -> 01:59:0xZ = 03:59 CEST.
    clock.step(SignedDuration::from_hours(1));
    assert_eq!(check(&mut d), "0359");
    for _ in 0..(60 * 50) {
        check(&mut d);
        clock.step(tick);
    }
    assert_eq!(check(&mut d), "0400");
}

#[test]
fn unsynchronised_clock_shows_a_steady_colon() {
    let cfg = plain("UTC");
    let clock = FakeClock::new(ts("2026-06-01T10:00:00Z"));
    let mut d = Daemon::new(cfg, None, Arc::new(clock.clone())).unwrap();
    let mut colon = Vec::new();
    for _ in 0..100 {
        colon.push(d.tick_at(UP).frame.colon);
        clock.step(SignedDuration::from_millis(20));
    }
    assert!(
        colon.contains(&true) && colon.contains(&false),
        "blinks while synchronised"
    );
    clock.set_sync(SyncStatus::UNSYNCED);
    for _ in 0..100 {
        assert!(d.tick_at(UP).frame.colon, "steady while unsynchronised");
        clock.step(SignedDuration::from_millis(20));
    }
}

/// Lit seconds per tube and cathode over one local day, sampled every
/// 100 ms (the roll step, so the count is exact).
fn lit_seconds(
    display: &Display,
    day_start: Timestamp,
    day_end: Timestamp,
) -> ([[f64; 10]; TUBES], usize) {
    let mut lit = [[0.0; 10]; TUBES];
    let mut t = day_start;
    let mut rolls = 0;
    let mut in_roll = false;
    while t < day_end {
        let s = display.render(t, SyncStatus::SYNCED, UP);
        if s.mode == Mode::Roll && !in_roll {
            rolls += 1;
        }
        in_roll = s.mode == Mode::Roll;
        if s.frame.hv {
            for (tube, d) in s.frame.digits.iter().enumerate() {
                if let Some(d) = d {
                    lit[tube][usize::from(*d)] += 0.1;
                }
            }
        }
        t += SignedDuration::from_millis(100);
    }
    (lit, rolls)
}

#[test]
fn anti_poisoning_gives_every_cathode_its_daily_share() {
    // A 23-hour day (spring forward) with night "off" from 00:00 to 06:00:
    // the roll length must still give every cathode 40 s.
    let cfg = Config::parse(
        "timezone = \"Europe/Brussels\"\n[display]\nself_test = false\n\
         [night]\nenabled = true\nmode = \"off\"\nfrom = \"00:00\"\nto = \"06:00\"\n\
         [anti_poisoning]\nevery_minutes = 30\nseconds_per_cathode = 40\nstep_ms = 100\n",
        "test",
    )
    .unwrap();
    let (tz, _) = nixie::clock::load_zone(Some("Europe/Brussels")).unwrap();
    let display = Display::new(&cfg, tz);
    // Local 2026-03-29 00:00 CET .. 2026-03-30 00:00 CEST.
    let (lit, rolls) = lit_seconds(
        &display,
        ts("2026-03-28T23:00:00Z"),
        ts("2026-03-29T22:00:00Z"),
    );
    assert_eq!(rolls, 36, "rolls from 06:00 to 23:30, every 30 minutes");
    for (tube, row) in lit.iter().enumerate() {
        for (cathode, &secs) in row.iter().enumerate() {
            assert!(
                secs >= 40.0,
                "tube {} cathode {cathode}: {secs} s",
                tube + 1
            );
        }
    }
    // The hours tens tube shows 0, 1 and 2 for hours; 3-9 only in rolls,
    // and no more than needed: rolls stay a small part of the day.
    let roll_total = rolls as f64 * display.roll_ms() as f64 / 1000.0;
    assert!(roll_total < 2.0 * 40.0 * 10.0, "{roll_total} s of rolls");
    // Night "off": dark and high voltage off at 03:30 local, rolls skipped.
    let s = display.render(ts("2026-03-29T01:30:05Z"), SyncStatus::SYNCED, UP);
    assert_eq!(s.mode, Mode::NightOff);
    assert!(!s.frame.hv);
    let s = display.render(ts("2026-03-29T04:00:01Z"), SyncStatus::SYNCED, UP);
    assert_eq!(s.mode, Mode::Roll, "06:00:01 local rolls");
}

#[test]
fn night_dim_on_the_fake_clock_spans_midnight() {
    let cfg = Config::parse(
        "timezone = \"UTC\"\n[display]\nself_test = false\n[anti_poisoning]\nenabled = false\n\
         [mux]\nbrightness = 0.9\n[night]\nenabled = true\nfrom = \"22:00\"\nto = \"06:30\"\nbrightness = 0.25\n",
        "test",
    )
    .unwrap();
    let clock = FakeClock::new(ts("2026-06-01T21:00:30Z"));
    let mut d = Daemon::new(cfg, None, Arc::new(clock.clone())).unwrap();
    for minute in 0..(12 * 60) {
        let s = d.tick_at(UP);
        let local = 21 * 60 + minute;
        let m = local % 1440;
        let night = !(390..1320).contains(&m);
        assert_eq!(s.night, night, "minute {m}");
        assert_eq!(
            s.frame.brightness,
            if night { 0.25 } else { 0.9 },
            "minute {m}"
        );
        assert_eq!(s.mode, Mode::Time);
        clock.step(SignedDuration::from_mins(1));
    }
}
