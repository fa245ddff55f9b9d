//! The `term` backend: the simulated board plus a terminal view of the
//! tubes (ratatui).
//!
//! The view is drawn from the simulated *pins*, not from the frame the
//! display logic asked for: every 50 ms it takes the light integrated by
//! [`SimProbe::take_glow`] and draws each tube's brightest cathode, with a
//! brightness that follows the measured duty. What you see is what the
//! multiplexer actually produced, blanking and all.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ratatui::Frame as TermFrame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Alignment, Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph};

use crate::backend::sim::{Glow, SimBackend, SimProbe};
use crate::board::TUBES;
use crate::daemon::{Daemon, SignalFlags, TICK};
use crate::display::{Mode, Shown};
use crate::mux::{MuxThread, monotonic_ns};

/// 5 × 7 glyphs of the digits, one string per row.
const GLYPHS: [[&str; 7]; 10] = [
    [
        " ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### ",
    ],
    [
        "  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### ",
    ],
    [
        " ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####",
    ],
    [
        "#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### ",
    ],
    [
        "   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # ",
    ],
    [
        "#####", "#    ", "#### ", "    #", "    #", "#   #", " ### ",
    ],
    [
        "  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### ",
    ],
    [
        "#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   ",
    ],
    [
        " ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### ",
    ],
    [
        " ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  ",
    ],
];

/// What one tube looks like over the last window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TubeLook {
    /// The digit that glowed most, if any.
    pub digit: Option<u8>,
    /// Its duty relative to a tube lit for a whole slot-minus-blank.
    pub level: f64,
}

/// Turns integrated light into what each tube and the colon look like
/// (colon level 0.0–1.0).
/// `max_duty` is the duty of a tube at full brightness (¼ × (slot − blank)/slot).
pub fn look(glow: &Glow, daemon: &Daemon, max_duty: f64) -> ([TubeLook; TUBES], f64) {
    let map = daemon.config().cathode_map();
    let mut tubes = [TubeLook {
        digit: None,
        level: 0.0,
    }; TUBES];
    for (t, look) in tubes.iter_mut().enumerate() {
        if let Some((cathode, duty)) = glow.brightest(t) {
            look.digit = map.digit_of(t, cathode);
            look.level = (duty / max_duty).clamp(0.0, 1.0);
        }
    }
    // The colon is lit together with the anodes: its full duty is four tubes'.
    let colon = (glow.colon_duty() / (max_duty * TUBES as f64)).clamp(0.0, 1.0);
    (tubes, colon)
}

fn glow_color(level: f64) -> Color {
    // Neon orange, scaled; never fully black so a dim tube stays visible.
    let k = 0.25 + 0.75 * level;
    Color::Rgb((255.0 * k) as u8, (120.0 * k) as u8, (30.0 * k) as u8)
}

fn draw(f: &mut TermFrame, tubes: &[TubeLook; TUBES], colon: f64, status: &[String]) {
    let area = f.area();
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(11), Constraint::Min(3)])
        .split(area);
    let mut cols = vec![
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Length(5),
    ];
    cols.extend([
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Min(0),
    ]);
    let cells = Layout::default()
        .direction(Direction::Horizontal)
        .constraints(cols)
        .split(rows[0]);
    let tube_areas: [Rect; TUBES] = [cells[0], cells[1], cells[3], cells[4]];
    for (t, a) in tube_areas.iter().enumerate() {
        let look = tubes[t];
        let color = glow_color(look.level);
        let mut lines = vec![Line::raw("")];
        let glyph = look.digit.map(|d| GLYPHS[usize::from(d)]);
        for row in 0..7 {
            let text = glyph.map_or_else(|| "     ".to_string(), |g| g[row].replace('#', "█"));
            lines.push(Line::from(Span::styled(text, Style::default().fg(color))));
        }
        let block = Block::bordered()
            .border_type(BorderType::Rounded)
            .title(format!(" {} ", t + 1))
            .border_style(Style::default().fg(Color::DarkGray));
        f.render_widget(
            Paragraph::new(lines)
                .alignment(Alignment::Center)
                .block(block),
            *a,
        );
    }
    let dot = if colon > 0.02 { "●" } else { " " };
    let colon_style = Style::default().fg(glow_color(colon));
    let colon_lines = vec![
        Line::raw(""),
        Line::raw(""),
        Line::raw(""),
        Line::from(Span::styled(dot, colon_style)),
        Line::raw(""),
        Line::raw(""),
        Line::from(Span::styled(dot, colon_style)),
    ];
    f.render_widget(
        Paragraph::new(colon_lines).alignment(Alignment::Center),
        cells[2],
    );
    let text: Vec<Line> = status.iter().map(|s| Line::raw(s.clone())).collect();
    f.render_widget(Paragraph::new(text), rows[1]);
}

fn status_lines(
    daemon: &Daemon,
    shown: &Shown,
    tubes: &[TubeLook; TUBES],
    colon: f64,
) -> Vec<String> {
    let pins: String = tubes
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let d = t.digit.map_or(' ', |d| char::from(b'0' + d));
            if i == 1 {
                format!("{d}{}", if colon > 0.02 { ':' } else { ' ' })
            } else {
                d.to_string()
            }
        })
        .collect();
    let now = daemon
        .clock()
        .now()
        .to_zoned_datetime(daemon.display().time_zone().clone());
    let sync = daemon.clock().sync();
    let ntp = if sync.synchronised {
        format!(
            "NTP synchronised (max error {:.1} ms)",
            sync.max_error_us as f64 / 1000.0
        )
    } else {
        "NTP not synchronised (colon steady)".to_string()
    };
    let mode = match shown.mode {
        Mode::SelfTest => "self-test",
        Mode::NightOff => "night (off)",
        Mode::Roll => "anti-poisoning roll",
        Mode::Date => "date",
        Mode::Time if shown.night => "time (night, dimmed)",
        Mode::Time => "time",
    };
    let c = daemon.config();
    vec![
        format!("tubes [{pins}]   mode: {mode}"),
        format!("{}   {}", now.strftime("%Y-%m-%d %H:%M:%S %Z"), ntp),
        format!(
            "simulated board: {} Hz, blank {} µs, brightness {:.2}    q: quit",
            c.mux.frame_hz, c.mux.blank_us, shown.frame.brightness
        ),
    ]
}

/// Runs the daemon on the simulated board with the terminal view until
/// `q`, Esc, Ctrl-C, SIGTERM or SIGINT.
pub fn run(daemon: &mut Daemon, flags: &SignalFlags) -> Result<()> {
    let (sim, probe): (SimBackend, SimProbe) = SimBackend::new(0);
    daemon.tick();
    let mux = daemon.spawn_mux(sim)?;
    let mut terminal = ratatui::try_init().context("cannot open the terminal")?;
    // On error the multiplexer is dropped, which also turns everything off.
    let result = ui_loop(daemon, flags, &probe, &mut terminal, mux);
    ratatui::try_restore().context("cannot restore the terminal")?;
    result?.stop().context("turning the tubes off")?;
    Ok(())
}

fn ui_loop(
    daemon: &mut Daemon,
    flags: &SignalFlags,
    probe: &SimProbe,
    terminal: &mut ratatui::DefaultTerminal,
    mut mux: MuxThread<SimBackend>,
) -> Result<MuxThread<SimBackend>> {
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let _ = probe.take_glow(monotonic_ns());
    while !flags.stop.load(Ordering::Relaxed) {
        mux = daemon.handle_reload(flags, mux)?;
        let shown = daemon.tick();
        if event::poll(TICK)?
            && let Event::Key(k) = event::read()?
            && k.kind == KeyEventKind::Press
        {
            let ctrl_c =
                k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
            if matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c {
                break;
            }
        }
        if last_draw.elapsed() >= Duration::from_millis(50) {
            last_draw = Instant::now();
            let glow = probe.take_glow(monotonic_ns());
            let t = daemon.config().timing();
            let max_duty = t.max_on_ns() as f64 / (t.slot_ns() as f64 * TUBES as f64);
            let (tubes, colon) = look(&glow, daemon, max_duty);
            let status = status_lines(daemon, &shown, &tubes, colon);
            terminal.draw(|f| draw(f, &tubes, colon, &status))?;
        }
    }
    Ok(mux)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::backend::sim::Glow;
    use crate::clock::FakeClock;
    use crate::config::Config;

    #[test]
    fn look_reads_digits_through_the_cathode_map() {
        let cfg = Config::parse(
            "timezone = \"UTC\"\n[tubes]\ncathodes = [[0,1,2,3,4,5,6,7,8,9],[9,8,7,6,5,4,3,2,1,0],\
             [0,1,2,3,4,5,6,7,8,9],[0,1,2,3,4,5,6,7,8,9]]\n",
            "t",
        )
        .unwrap();
        let clock = FakeClock::new("2026-06-01T12:00:00Z".parse().unwrap());
        let daemon = Daemon::new(cfg, None, Arc::new(clock)).unwrap();
        let mut g = Glow {
            window_ns: 1_000_000,
            ..Glow::default()
        };
        g.cathode_ns[0][1] = 190_000;
        g.cathode_ns[0][7] = 5_000; // a ghost, dimmer than the digit
        g.cathode_ns[1][7] = 95_000; // decoder output 7 is digit 2 on tube 2
        g.colon_ns = 380_000;
        let (tubes, colon) = look(&g, &daemon, 0.19);
        assert_eq!(tubes[0].digit, Some(1));
        assert!((tubes[0].level - 1.0).abs() < 1e-9);
        assert_eq!(tubes[1].digit, Some(2));
        assert!((tubes[1].level - 0.5).abs() < 1e-9);
        assert_eq!(tubes[2].digit, None);
        assert!((colon - 0.5).abs() < 1e-9);
    }
}
