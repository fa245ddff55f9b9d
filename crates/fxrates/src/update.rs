//! Keeping the rates current: fetch an ECB feed, validate, merge, persist, swap.
//!
//! Feeds (all configurable, see [`Feeds`]): the daily XML (`eurofxref-daily.xml`), the 90-day
//! XML (`eurofxref-hist-90d.xml`) and the full history zip (`eurofxref-hist.zip`). Which one is
//! fetched depends on how stale the table is: up to 3 days behind the daily feed, up to 80 days
//! the 90-day feed, otherwise the whole history.
//!
//! An update is all-or-nothing: the download must parse completely (a truncated XML document or
//! zip is rejected), dates must be real and not in the future, every rate positive, every code
//! known (`data/currencies.csv`). The merged table is written to `<data dir>/rates.fxr` through
//! a temporary file in the same directory and a rename, then swapped into the service with one
//! atomic pointer store. A failure changes nothing and is logged with its reason.
//!
//! Schedule ([`next_poll`]): every 30 minutes from 15:00 to 18:00 Frankfurt time (CET/CEST) on
//! weekdays, the window in which the ECB publishes (around 16:00), skipping the rest of the
//! window once the day's rates are in.

use crate::api::Service;
use crate::calendar::Day;
use crate::currency::{self, Code};
use crate::rates::Table;
use crate::store::{History, StoreError, parse_rate};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Name of the persisted table inside the data directory.
pub const TABLE_FILE: &str = "rates.fxr";

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Network failure, timeout, or a non-2xx status.
    #[error("download of {url} failed: {reason}")]
    Download {
        /// What was fetched.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The content is not a valid feed.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// Which feed or file.
        what: String,
        /// The first problem found.
        reason: String,
    },
    /// Writing the data directory failed.
    #[error("cannot write {path}: {source}")]
    Persist {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn malformed(what: &str, reason: impl std::fmt::Display) -> UpdateError {
    UpdateError::Malformed {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// Where the feeds are fetched from.
#[derive(Clone, Debug)]
pub struct Feeds {
    /// The latest day (`eurofxref-daily.xml`).
    pub daily: String,
    /// The last 90 days (`eurofxref-hist-90d.xml`).
    pub ninety_days: String,
    /// The full history (`eurofxref-hist.zip`).
    pub history: String,
    /// Timeout for one whole download.
    pub timeout: Duration,
}

impl Default for Feeds {
    fn default() -> Self {
        let base = "https://www.ecb.europa.eu/stats/eurofxref";
        Feeds {
            daily: format!("{base}/eurofxref-daily.xml"),
            ninety_days: format!("{base}/eurofxref-hist-90d.xml"),
            history: format!("{base}/eurofxref-hist.zip"),
            timeout: Duration::from_secs(30),
        }
    }
}

impl Feeds {
    /// The feeds served from one base URL (`<base>/eurofxref-daily.xml`, …).
    pub fn at(base: &str) -> Feeds {
        let base = base.trim_end_matches('/');
        Feeds {
            daily: format!("{base}/eurofxref-daily.xml"),
            ninety_days: format!("{base}/eurofxref-hist-90d.xml"),
            history: format!("{base}/eurofxref-hist.zip"),
            ..Feeds::default()
        }
    }

    /// The feed that covers the gap between `last` (the table's last day) and `today`.
    pub fn pick(&self, last: Day, today: Day) -> &str {
        match today.0 - last.0 {
            ..=3 => &self.daily,
            4..=80 => &self.ninety_days,
            _ => &self.history,
        }
    }
}

/// Downloads `url` (blocking; run it off the async runtime), limited to 64 MiB.
pub fn download(url: &str, timeout: Duration) -> Result<Vec<u8>, UpdateError> {
    let fail = |reason: String| UpdateError::Download {
        url: url.to_string(),
        reason,
    };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(timeout)
        .timeout(timeout)
        .build();
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => fail(format!("HTTP status {code} {}", r.status_text())),
        ureq::Error::Transport(t) => fail(t.to_string()),
    })?;
    let mut body = Vec::new();
    resp.into_reader()
        .take(64 << 20)
        .read_to_end(&mut body)
        .map_err(|e| fail(e.to_string()))?;
    Ok(body)
}

/// Parses any ECB feed by its content: a zip holding the history CSV, the history CSV itself,
/// or the daily / 90-day XML. `what` names the source in errors.
pub fn parse_feed(bytes: &[u8], what: &str) -> Result<History, UpdateError> {
    let history = if bytes.starts_with(b"PK\x03\x04") {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| malformed(what, format!("bad zip archive: {e}")))?;
        let name = archive
            .file_names()
            .find(|n| n.ends_with(".csv"))
            .map(str::to_owned)
            .ok_or_else(|| malformed(what, "zip archive holds no .csv file"))?;
        let mut csv = String::new();
        archive
            .by_name(&name)
            .map_err(|e| malformed(what, format!("{name}: {e}")))?
            .read_to_string(&mut csv)
            .map_err(|e| malformed(what, format!("{name}: {e}")))?;
        History::from_ecb_csv(&csv).map_err(|e| malformed(&format!("{what} ({name})"), e))?
    } else {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| malformed(what, format!("not UTF-8 text: {e}")))?;
        let body = text.trim_start_matches('\u{feff}').trim_start();
        if body.starts_with('<') {
            parse_xml(body).map_err(|e| malformed(what, e))?
        } else if body.starts_with("Date") {
            History::from_ecb_csv(body).map_err(|e| malformed(what, e))?
        } else {
            return Err(malformed(
                what,
                "neither a zip archive, an ECB CSV nor an ECB XML feed",
            ));
        }
    };
    check_known(&history).map_err(|e| malformed(what, e))?;
    Ok(history)
}

fn check_known(h: &History) -> Result<(), StoreError> {
    let names = currency::names();
    for c in &h.codes {
        if !names.iter().any(|(k, _)| k.0 == *c) || c == b"EUR" {
            return Err(StoreError {
                place: format!("code {}", String::from_utf8_lossy(c)),
                reason: "unknown currency code (not in data/currencies.csv)".into(),
            });
        }
    }
    Ok(())
}

/// Parses the ECB's XML feeds (`<Cube time='…'><Cube currency='USD' rate='1.08'/>…`).
/// The document must be complete: a truncated feed is an error.
pub fn parse_xml(text: &str) -> Result<History, StoreError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut days: Vec<(Day, Vec<(Code, f64)>)> = Vec::new();
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    let mut saw_cube = false;
    loop {
        let at = reader.buffer_position();
        let place = || format!("byte {at}");
        let event = reader.read_event().map_err(|e| StoreError {
            place: place(),
            reason: format!("bad XML: {e}"),
        })?;
        let element = match &event {
            Event::Start(e) => {
                depth += 1;
                max_depth = max_depth.max(depth);
                Some(e.clone())
            }
            Event::Empty(e) => Some(e.clone()),
            Event::End(_) => {
                depth = depth.checked_sub(1).ok_or_else(|| StoreError {
                    place: place(),
                    reason: "unbalanced end tag".into(),
                })?;
                None
            }
            Event::Eof => break,
            _ => None,
        };
        let Some(e) = element else { continue };
        if e.local_name().as_ref() != b"Cube" {
            continue;
        }
        saw_cube = true;
        let mut time = None;
        let mut currency = None;
        let mut rate = None;
        for a in e.attributes() {
            let a = a.map_err(|err| StoreError {
                place: place(),
                reason: format!("bad attribute: {err}"),
            })?;
            let v = a
                .unescape_value()
                .map_err(|err| StoreError {
                    place: place(),
                    reason: format!("bad attribute value: {err}"),
                })?
                .into_owned();
            match a.key.as_ref() {
                b"time" => time = Some(v),
                b"currency" => currency = Some(v),
                b"rate" => rate = Some(v),
                _ => {}
            }
        }
        if let Some(t) = time {
            let day = Day::parse(&t).map_err(|err| StoreError {
                place: place(),
                reason: err.to_string(),
            })?;
            days.push((day, Vec::new()));
        } else if let (Some(c), Some(r)) = (currency, rate) {
            let code = Code::parse(&c)
                .filter(|k| k.as_str() == c)
                .ok_or_else(|| StoreError {
                    place: place(),
                    reason: format!("'{c}' is not a currency code"),
                })?;
            let value = parse_rate(&r).ok_or_else(|| StoreError {
                place: place(),
                reason: format!("{c}: '{r}' is not a positive rate"),
            })?;
            let (day, rates) = days.last_mut().ok_or_else(|| StoreError {
                place: place(),
                reason: "rate outside a dated Cube".into(),
            })?;
            if rates.iter().any(|(k, _)| *k == code) {
                return Err(StoreError {
                    place: format!("{day}"),
                    reason: format!("{c} appears twice"),
                });
            }
            rates.push((code, value));
        }
    }
    if depth != 0 {
        return Err(StoreError {
            place: format!("byte {}", text.len()),
            reason: "document ends early (truncated)".into(),
        });
    }
    if !saw_cube || days.is_empty() {
        return Err(StoreError {
            place: "document".into(),
            reason: "no dated rates found".into(),
        });
    }
    let mut codes: Vec<[u8; 3]> = Vec::new();
    for (_, rates) in &days {
        for (c, _) in rates {
            if !codes.contains(&c.0) {
                codes.push(c.0);
            }
        }
    }
    days.sort_by_key(|(d, _)| *d);
    if let Some(w) = days.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(StoreError {
            place: format!("day {}", w[0].0),
            reason: "date appears twice".into(),
        });
    }
    if let Some((d, _)) = days.iter().find(|(_, r)| r.is_empty()) {
        return Err(StoreError {
            place: format!("day {d}"),
            reason: "no rates for this day".into(),
        });
    }
    let columns = codes
        .iter()
        .map(|c| {
            days.iter()
                .map(|(_, r)| {
                    r.iter()
                        .find(|(k, _)| k.0 == *c)
                        .map_or(f64::NAN, |(_, v)| *v)
                })
                .collect()
        })
        .collect();
    let history = History {
        days: days.iter().map(|(d, _)| *d).collect(),
        codes,
        columns,
    };
    history.validate()?;
    Ok(history)
}

/// Merges `new` into `current`: the union of days and currencies; where both have a figure for
/// the same day and currency, the new one wins. Days after `today + 1` are rejected.
pub fn merge(current: &History, new: &History, today: Day) -> Result<History, UpdateError> {
    if let Some(d) = new.days.iter().find(|d| d.0 > today.0 + 1) {
        return Err(malformed("feed", format!("day {d} is in the future")));
    }
    let mut days: Vec<Day> = current.days.iter().chain(&new.days).copied().collect();
    days.sort();
    days.dedup();
    let mut codes = current.codes.clone();
    for c in &new.codes {
        if !codes.contains(c) {
            codes.push(*c);
        }
    }
    let pos = |list: &[Day], d: Day| list.binary_search(&d).ok();
    let columns = codes
        .iter()
        .map(|c| {
            let old = current
                .codes
                .iter()
                .position(|k| k == c)
                .map(|k| &current.columns[k]);
            let fresh = new
                .codes
                .iter()
                .position(|k| k == c)
                .map(|k| &new.columns[k]);
            days.iter()
                .map(|&d| {
                    let n = fresh
                        .zip(pos(&new.days, d))
                        .map(|(col, i)| col[i])
                        .filter(|v| !v.is_nan());
                    let o = old.zip(pos(&current.days, d)).map(|(col, i)| col[i]);
                    n.or(o).unwrap_or(f64::NAN)
                })
                .collect()
        })
        .collect();
    let merged = History {
        days,
        codes,
        columns,
    };
    merged
        .validate()
        .map_err(|e| malformed("merged table", e))?;
    Ok(merged)
}

/// Writes the table to `<dir>/rates.fxr` atomically (temp file in `dir`, fsync, rename).
pub fn persist(dir: &Path, history: &History) -> Result<PathBuf, UpdateError> {
    let path = dir.join(TABLE_FILE);
    let fail = |source| UpdateError::Persist {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.write_all(&history.encode()).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(&path).map_err(|e| fail(e.error))?;
    Ok(path)
}

/// The table to serve from `dir`: its `rates.fxr` if that is valid and not older than the
/// embedded history, otherwise the embedded one. A damaged file is reported, not used.
pub fn load(dir: Option<&Path>) -> (Table, Option<String>) {
    let embedded = Table::embedded();
    let Some(dir) = dir else {
        return (embedded, None);
    };
    let path = dir.join(TABLE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (embedded, None),
        Err(e) => {
            return (
                embedded,
                Some(format!(
                    "cannot read {}: {e}; using the embedded history",
                    path.display()
                )),
            );
        }
    };
    let modified = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    match Table::from_bytes(&bytes, modified) {
        Ok(t) if t.last_day() >= embedded.last_day() => (t, None),
        Ok(_) => (embedded, None),
        Err(e) => (
            embedded,
            Some(format!(
                "{}: {e}; using the embedded history",
                path.display()
            )),
        ),
    }
}

/// What an update did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// New data was persisted and swapped in; the new last day.
    Updated(Day),
    /// The feed held nothing new.
    Unchanged(Day),
}

/// Where an update reads from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A URL.
    Url(String),
    /// A local file (zip, CSV or XML).
    File(PathBuf),
}

/// Fetches and parses `source` (blocking).
pub fn fetch(source: &Source, timeout: Duration) -> Result<History, UpdateError> {
    match source {
        Source::Url(url) => parse_feed(&download(url, timeout)?, url),
        Source::File(path) => {
            let bytes = std::fs::read(path).map_err(|e| UpdateError::Read {
                path: path.clone(),
                source: e,
            })?;
            parse_feed(&bytes, &path.display().to_string())
        }
    }
}

/// Applies a fetched history to `current`: merge, persist into `dir` (if any), return the new
/// table. Nothing is written unless the merge changes something.
pub fn apply(
    current: &Table,
    fresh: &History,
    dir: Option<&Path>,
    today: Day,
) -> Result<(Option<Table>, Outcome), UpdateError> {
    let merged = merge(current.history(), fresh, today)?;
    // Compare the encoded forms: `NaN != NaN` makes `==` on the columns useless here.
    if merged.encode() == current.history().encode() {
        return Ok((None, Outcome::Unchanged(current.last_day())));
    }
    if let Some(dir) = dir {
        persist(dir, &merged)?;
    }
    let now = jiff::Timestamp::now().as_second();
    let table = Table::from_history(merged, Some(now)).map_err(|e| malformed("merged table", e))?;
    let last = table.last_day();
    Ok((Some(table), Outcome::Updated(last)))
}

/// Today in UTC.
pub fn today() -> Day {
    let now = jiff::Timestamp::now().as_second();
    Day(now.div_euclid(86_400) as i32)
}

/// One update of a running service: fetch (off the runtime), merge, persist, swap, record.
pub async fn run_once(
    service: Arc<Service>,
    source: Source,
    dir: Option<PathBuf>,
    timeout: Duration,
) -> Result<Outcome, UpdateError> {
    let now = jiff::Timestamp::now().as_second();
    let svc = service.clone();
    let result = tokio::task::spawn_blocking(move || {
        let fresh = fetch(&source, timeout)?;
        let current = svc.current();
        apply(&current.table, &fresh, dir.as_deref(), today())
    })
    .await
    .unwrap_or_else(|e| {
        Err(UpdateError::Malformed {
            what: "update task".into(),
            reason: e.to_string(),
        })
    });
    match result {
        Ok((table, outcome)) => {
            if let Some(t) = table {
                service.swap(t);
            }
            let label = if matches!(outcome, Outcome::Updated(_)) {
                "ok"
            } else {
                "unchanged"
            };
            service.metrics.set_update(|s| {
                s.last_attempt = now;
                s.last_success = now;
                s.result = label;
            });
            tracing::info!(?outcome, "rates update");
            Ok(outcome)
        }
        Err(e) => {
            service.metrics.set_update(|s| {
                s.last_attempt = now;
                s.result = "error";
                s.failures += 1;
                s.last_error = e.to_string();
            });
            tracing::warn!(error = %e, "rates update failed; keeping the current table");
            Err(e)
        }
    }
}

/// The next poll time after `now`: weekdays, 15:00–18:00 Frankfurt time, every 30 minutes. If
/// `have_today` (the rates of `now`'s day are in), the rest of that day's window is skipped.
pub fn next_poll(now: &jiff::ZonedDateTime, have_today: bool) -> jiff::ZonedDateTime {
    let tz = frankfurt();
    let local = now.with_time_zone(tz.clone());
    let date = local.date();
    for offset in 0..8i64 {
        let Ok(day) = date.checked_add(jiff::Span::new().days(offset)) else {
            break;
        };
        if day.weekday().to_monday_one_offset() > 5 || (offset == 0 && have_today) {
            continue;
        }
        for slot in 0..=6i8 {
            if let Ok(at) = day
                .at(15 + slot / 2, (slot % 2) * 30, 0, 0)
                .to_zoned_datetime(tz.clone())
                && at > local
            {
                return at;
            }
        }
    }
    // Unreachable in practice (a weekday is always within 8 days); poll again in a day.
    local
        .checked_add(jiff::Span::new().hours(24))
        .unwrap_or(local)
}

/// The ECB's time zone (bundled tz data, so this works on machines without tzdata).
pub fn frankfurt() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or(jiff::tz::TimeZone::UTC)
}

/// Runs the schedule forever: sleeps until the next poll, then updates from the feed that fits.
pub async fn schedule(service: Arc<Service>, feeds: Feeds, dir: Option<PathBuf>) {
    loop {
        let now = jiff::ZonedDateTime::now();
        let local_today = now.with_time_zone(frankfurt()).date();
        let last = service.current().table.last_day();
        let have_today = last.to_string() == local_today.to_string();
        let next = next_poll(&now, have_today);
        let wait = next.timestamp().duration_since(now.timestamp());
        let wait = Duration::try_from(wait).unwrap_or(Duration::from_secs(60));
        tracing::debug!(next = %next, "next rates poll");
        tokio::time::sleep(wait).await;
        let url = feeds.pick(last, today()).to_string();
        let _ = run_once(
            service.clone(),
            Source::Url(url),
            dir.clone(),
            feeds.timeout,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAILY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
<gesmes:subject>Reference rates</gesmes:subject>
<Cube><Cube time='2026-11-02'><Cube currency='USD' rate='1.1201'/><Cube currency='JPY' rate='176.1'/></Cube></Cube>
</gesmes:Envelope>"#;

    fn day(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    #[test]
    fn parses_the_daily_xml() {
        let h = parse_feed(DAILY.as_bytes(), "daily").unwrap();
        assert_eq!(h.days, vec![day("2026-11-02")]);
        assert_eq!(h.codes, vec![*b"USD", *b"JPY"]);
        assert_eq!(h.columns[1], vec![176.1]);
    }

    #[test]
    fn rejects_truncated_garbage_and_unknown_codes() {
        let cut = &DAILY[..DAILY.len() - 40];
        let e = parse_feed(cut.as_bytes(), "daily").unwrap_err().to_string();
        assert!(e.contains("truncated") || e.contains("bad XML"), "{e}");
        let e = parse_feed(b"<html>Service unavailable</html>", "daily")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no dated rates"), "{e}");
        let e = parse_feed(b"\x00\x01garbage", "daily")
            .unwrap_err()
            .to_string();
        assert!(e.contains("neither"), "{e}");
        let bad = DAILY.replace("JPY", "XQZ");
        let e = parse_feed(bad.as_bytes(), "daily").unwrap_err().to_string();
        assert!(e.contains("XQZ") && e.contains("unknown"), "{e}");
        let bad = DAILY.replace("176.1", "-1");
        assert!(
            parse_feed(bad.as_bytes(), "daily")
                .unwrap_err()
                .to_string()
                .contains("not a positive rate")
        );
        let e = parse_feed(b"PK\x03\x04truncated", "hist.zip")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad zip"), "{e}");
    }

    #[test]
    fn merges_new_days_and_refuses_the_future() {
        let t = Table::embedded();
        let fresh = parse_feed(DAILY.as_bytes(), "daily").unwrap();
        let merged = merge(t.history(), &fresh, day("2026-11-02")).unwrap();
        assert_eq!(merged.days.len(), t.history().days.len() + 1);
        let t2 = Table::from_history(merged, None).unwrap();
        assert_eq!(t2.last_day(), day("2026-11-02"));
        assert_eq!(t2.rate("EUR", "USD", None).unwrap().value, 1.1201);
        // GBP was not in the feed: no rate that day rather than a stale one.
        assert!(t2.rate("EUR", "GBP", None).is_err());
        assert_eq!(
            t2.rate("EUR", "USD", Some(day("2026-10-30")))
                .unwrap()
                .value,
            1.1172
        );
        let e = merge(t.history(), &fresh, day("2026-10-30")).unwrap_err();
        assert!(e.to_string().contains("in the future"));
    }

    #[test]
    fn unchanged_feeds_write_nothing() {
        let t = Table::embedded();
        let dir = tempfile::tempdir().unwrap();
        let same = History {
            days: t.history().days[t.history().days.len() - 2..].to_vec(),
            codes: t.history().codes.clone(),
            columns: t
                .history()
                .columns
                .iter()
                .map(|c| c[c.len() - 2..].to_vec())
                .collect(),
        };
        let (table, outcome) = apply(&t, &same, Some(dir.path()), day("2026-10-31")).unwrap();
        assert!(table.is_none());
        assert_eq!(outcome, Outcome::Unchanged(day("2026-10-30")));
        assert!(!dir.path().join(TABLE_FILE).exists());
    }

    #[test]
    fn persisted_tables_load_back_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let t = Table::embedded();
        let fresh = parse_feed(DAILY.as_bytes(), "daily").unwrap();
        let (table, _) = apply(&t, &fresh, Some(dir.path()), day("2026-11-02")).unwrap();
        assert_eq!(table.unwrap().last_day(), day("2026-11-02"));
        let (loaded, warning) = load(Some(dir.path()));
        assert_eq!((loaded.last_day(), warning), (day("2026-11-02"), None));
        std::fs::write(dir.path().join(TABLE_FILE), b"FXRT damaged").unwrap();
        let (loaded, warning) = load(Some(dir.path()));
        assert_eq!(loaded.last_day(), day("2026-10-30"));
        assert!(warning.unwrap().contains("using the embedded history"));
    }

    #[test]
    fn picks_the_feed_by_staleness() {
        let f = Feeds::at("http://x/");
        assert!(
            f.pick(day("2026-10-30"), day("2026-11-02"))
                .ends_with("daily.xml")
        );
        assert!(
            f.pick(day("2026-10-30"), day("2026-12-02"))
                .ends_with("90d.xml")
        );
        assert!(
            f.pick(day("2026-01-30"), day("2026-12-02"))
                .ends_with("hist.zip")
        );
    }

    #[test]
    fn polls_weekdays_every_half_hour_in_the_publication_window() {
        let at = |s: &str| -> jiff::ZonedDateTime { s.parse().unwrap() };
        let fmt = |z: jiff::ZonedDateTime| z.strftime("%Y-%m-%d %H:%M %Z").to_string();
        // Monday 2026-11-02, 10:00 Frankfurt → 15:00 the same day.
        assert_eq!(
            fmt(next_poll(
                &at("2026-11-02T10:00:00+01:00[Europe/Berlin]"),
                false
            )),
            "2026-11-02 15:00 CET"
        );
        assert_eq!(
            fmt(next_poll(
                &at("2026-11-02T15:00:00+01:00[Europe/Berlin]"),
                false
            )),
            "2026-11-02 15:30 CET"
        );
        assert_eq!(
            fmt(next_poll(
                &at("2026-11-02T17:45:00+01:00[Europe/Berlin]"),
                false
            )),
            "2026-11-02 18:00 CET"
        );
        // After 18:00, or once the day's rates are in: next weekday.
        assert_eq!(
            fmt(next_poll(
                &at("2026-11-02T18:00:00+01:00[Europe/Berlin]"),
                false
            )),
            "2026-11-03 15:00 CET"
        );
        assert_eq!(
            fmt(next_poll(
                &at("2026-11-02T16:10:00+01:00[Europe/Berlin]"),
                true
            )),
            "2026-11-03 15:00 CET"
        );
        // Friday evening → Monday; summer time is CEST.
        assert_eq!(
            fmt(next_poll(
                &at("2026-10-30T19:00:00+01:00[Europe/Berlin]"),
                false
            )),
            "2026-11-02 15:00 CET"
        );
        assert_eq!(
            fmt(next_poll(&at("2026-07-03T12:00:00Z[UTC]"), false)),
            "2026-07-03 15:00 CEST"
        );
    }
}
