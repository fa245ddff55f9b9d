//! The multiplexing invariants, checked on recorded runs of several seconds.

use std::sync::Arc;

use nixie::backend::sim::SimBackend;
use nixie::board::{BLANK_CODE, CathodeMap, TUBES};
use nixie::config::Config;
use nixie::mux::{Frame, FrameCell, Multiplexer, Spin, Timing, VirtualTimer};
use nixie::scope;
use nixie::wave::{Analysis, analyse};

fn frame(brightness: f32) -> Frame {
    Frame {
        digits: [Some(2), Some(3), Some(5), Some(9)],
        colon: true,
        brightness,
        hv: true,
    }
}

fn assert_clean(a: &Analysis, what: &str) {
    assert!(
        a.violations.is_empty(),
        "{what}: {:?}",
        &a.violations[..a.violations.len().min(5)]
    );
    assert!(
        a.on_time_spread() <= 0.01,
        "{what}: spread {}",
        a.on_time_spread()
    );
}

/// Seconds of waveform with a jittery virtual clock: usual lateness up to
/// 40 µs, one wake in 300 late by up to 700 µs (more than the blank).
fn jittery_run(timing: Timing, f: Frame, seconds: u64) -> Analysis {
    let (sim, probe) = SimBackend::new(4_000_000);
    let cell = Arc::new(FrameCell::new(f));
    let timer = VirtualTimer::jittery(1_000_000, 40_000, 300, 700_000);
    let mut m = Multiplexer::new(timing, CathodeMap::default(), sim, timer, cell);
    let origin = m.next_slot_ns();
    let frames = seconds * u64::from(timing.frame_hz);
    m.run_frames(frames).unwrap();
    let end = origin + frames * TUBES as u64 * timing.slot_ns();
    let mut rec = probe.recording(end);
    rec.clip(end);
    analyse(&rec, &timing, origin)
}

#[test]
fn invariants_hold_under_jitter_at_every_rate_and_brightness() {
    for (hz, blank_us) in [(50, 600), (100, 600), (200, 600), (500, 300)] {
        for brightness in [1.0, 0.6, 0.15] {
            let t = Timing {
                frame_hz: hz,
                blank_ns: blank_us * 1000,
                spin: Spin::Off,
            };
            let a = jittery_run(t, frame(brightness), 5);
            let what = format!("{hz} Hz, brightness {brightness}");
            assert_clean(&a, &what);
            assert!(a.blank.min >= t.blank_ns, "{what}: blank {}", a.blank.min);
            // Duty follows brightness within a few percent despite the jitter.
            let want = t.on_ns(brightness) as f64 / (t.slot_ns() * TUBES as u64) as f64;
            // Allowance: 5 % plus the mean lateness (20 µs) per slot.
            let allowance = 0.05 * want + 20_000.0 / (t.slot_ns() * TUBES as u64) as f64;
            for d in a.duty() {
                assert!((d - want).abs() < allowance, "{what}: duty {d} vs {want}");
            }
        }
    }
}

#[test]
fn frames_changing_every_frame_never_change_bcd_under_a_lit_anode() {
    let timing = Timing::default();
    let (sim, probe) = SimBackend::new(2_000_000);
    let cell = Arc::new(FrameCell::new(frame(1.0)));
    let timer = VirtualTimer::jittery(0, 30_000, 200, 500_000);
    let mut m = Multiplexer::new(timing, CathodeMap::default(), sim, timer, cell.clone());
    let origin = m.next_slot_ns();
    let mut x: u32 = 12345;
    for _ in 0..400 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let d = |k: u32| Some(((x >> (k * 4)) % 10) as u8);
        cell.store(Frame {
            digits: [d(1), d(2), d(3), d(4)],
            colon: x & 1 == 0,
            brightness: 0.2 + (x % 80) as f32 / 100.0,
            hv: true,
        });
        m.run_frames(1).unwrap();
    }
    let a = analyse(&probe.recording(0), &timing, origin);
    let hard = a.ordering_violations();
    assert!(hard.is_empty(), "{hard:?}");
}

#[test]
fn cathode_map_decides_the_code_on_the_bus() {
    let mut maps = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]; TUBES];
    maps[3] = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
    let map = CathodeMap::new(maps).unwrap();
    let (sim, probe) = SimBackend::new(10_000);
    let cell = Arc::new(FrameCell::new(frame(1.0)));
    let mut m = Multiplexer::new(Timing::default(), map, sim, VirtualTimer::exact(0), cell);
    m.run_frames(3).unwrap();
    let rec = probe.recording(0);
    let mut codes = [None; TUBES];
    for s in &rec.samples {
        if let Some(t) = s.levels.lit_tube() {
            codes[t] = Some(s.levels.bcd());
        }
    }
    // Digit 9 on tube 4 is wired to decoder output 0.
    assert_eq!(codes, [Some(2), Some(3), Some(5), Some(0)]);
}

#[test]
fn dark_tubes_stay_dark_and_blank_coded() {
    let f = Frame {
        digits: [None, Some(7), Some(0), Some(1)],
        ..frame(1.0)
    };
    let a = jittery_run(Timing::default(), f, 2);
    assert_eq!(a.on_ns[0], 0);
    assert_clean(&a, "leading tube dark");
    let (sim, probe) = SimBackend::new(10_000);
    let mut m = Multiplexer::new(
        Timing::default(),
        CathodeMap::default(),
        sim,
        VirtualTimer::exact(0),
        Arc::new(FrameCell::new(Frame::DARK)),
    );
    m.run_frames(5).unwrap();
    let rec = probe.recording(0);
    assert!(
        rec.samples
            .iter()
            .all(|s| s.levels.anodes() == 0 && s.levels.bcd() == BLANK_CODE)
    );
}

/// Real time on this host: three seconds through the real timer, under
/// SCHED_FIFO when permitted (the log says when it is not).
///
/// The ordering invariants and the blank hold whatever the load. On-time
/// equality is restored by carrying each tube's surplus or deficit into its
/// next slots, which takes a few frames after a stall; a stall of the whole
/// thread near the end of the run can leave part of it unpaid, so the 1 %
/// bound is asserted when the thread was not stalled for more than 3 ms.
#[test]
fn real_time_run_of_three_seconds() {
    let cfg = Config::parse("[mux]\nrealtime_priority = 10\n", "test").unwrap();
    let run = scope::record(&cfg, frame(1.0), 300, false).unwrap();
    let a = run.analyse();
    let hard = a.ordering_violations();
    assert!(hard.is_empty(), "{hard:?}");
    assert!(a.blank.min >= 600_000);
    assert!(a.frame_hz > 50.0 && a.frame_hz <= 100.5, "{}", a.frame_hz);
    if run.lateness.max < 3_000_000 {
        assert!(
            a.on_time_spread() <= 0.01,
            "spread {} with max lateness {} ns",
            a.on_time_spread(),
            run.lateness.max
        );
    } else {
        eprintln!(
            "host stalled the thread for {} µs; spread {:.3} %",
            run.lateness.max / 1000,
            a.on_time_spread() * 100.0
        );
        assert!(a.on_time_spread() <= 0.05, "spread {}", a.on_time_spread());
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Any digits, brightness, rate and lateness profile: the ordering
    /// invariants and the blank hold, and exactly the tubes with a digit
    /// get light. (Equal on-time is asserted on the fixed-seed runs above:
    /// with random outliers a surplus can land in the last frames of a
    /// short run, before it is paid back.)
    #[test]
    fn invariants_for_any_frame_and_lateness(
        digits in proptest::array::uniform4(proptest::option::of(0u8..10)),
        brightness in 0.05f32..=1.0,
        hz in 50u32..=250,
        late_us in 0u64..80,
        outlier_every in 50u64..1000,
        outlier_us in 0u64..1500,
    ) {
        let t = Timing { frame_hz: hz, blank_ns: 600_000, spin: Spin::Off };
        let (sim, probe) = SimBackend::new(1_000_000);
        let cell = Arc::new(FrameCell::new(Frame { digits, colon: true, brightness, hv: true }));
        let timer = VirtualTimer::jittery(0, late_us * 1000, outlier_every, outlier_us * 1000);
        let mut m = Multiplexer::new(t, CathodeMap::default(), sim, timer, cell);
        let origin = m.next_slot_ns();
        let end = origin + 2_000_000_000;
        m.run_until(end).unwrap();
        let mut rec = probe.recording(end);
        rec.clip(end);
        let a = analyse(&rec, &t, origin);
        let hard = a.ordering_violations();
        proptest::prop_assert!(hard.is_empty(), "{:?}", hard);
        for (tube, d) in digits.iter().enumerate() {
            proptest::prop_assert_eq!(d.is_some(), a.on_ns[tube] > 0);
        }
    }
}
