//! The web service, as one pure function from request to reply.
//!
//! [`Service::handle`] takes a method, path, query and the few request headers that matter and
//! returns a complete [`Reply`]. The HTTP server ([`crate::server`]) only adapts types; tests,
//! property tests and the fuzzer call `handle` directly.
//!
//! - [`request`]: path and query → [`request::Endpoint`] (or an error naming the bad part);
//! - [`plain`]: the original plain-text API; [`json`]: Frankfurter's JSON API;
//! - [`page`]: the converter page; [`docs`]: `/openapi.json` and `/docs`;
//! - [`metrics`]: counters and the Prometheus text.
//!
//! Caching: every data answer carries `ETag` (the data version) and `Last-Modified` (when the
//! data last changed); a matching `If-None-Match` or a not-older `If-Modified-Since` gives `304`.
//! Answers about days up to the last publication day cannot change and are
//! `public, max-age=86400, immutable`; answers about the latest rates are `max-age=300`.

pub mod docs;
pub mod json;
pub mod metrics;
pub mod page;
pub mod plain;
pub mod request;

use crate::calendar::Day;
use crate::currency::Code;
use crate::number::StackText;
use crate::rates::{CurrencyId, Quote, RateError, Table};
use arc_swap::ArcSwap;
use request::{Endpoint, Style};
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

/// Service settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Longest range (days between start and end) that range endpoints accept.
    pub max_range_days: u32,
    /// `max-age` in seconds for answers about the latest rates.
    pub latest_max_age: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_range_days: 3660,
            latest_max_age: 300,
        }
    }
}

/// A request the client got wrong (always 4xx), formatted for the API it addressed.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// HTTP status (400 or 404).
    pub status: u16,
    /// Plain text, JSON or HTML.
    pub style: Style,
    /// One line naming the bad part.
    pub message: String,
}

impl ApiError {
    /// A 400.
    pub fn bad_request(style: Style, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            style,
            message: message.into(),
        }
    }

    /// A 404.
    pub fn not_found(style: Style, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 404,
            style,
            message: message.into(),
        }
    }

    /// Maps a lookup error: ranges the client got wrong are 400, missing data 404.
    pub fn from_rate(style: Style, e: RateError) -> ApiError {
        let status = match e {
            RateError::RangeReversed { .. } | RateError::RangeTooLong { .. } => 400,
            _ => 404,
        };
        ApiError {
            status,
            style,
            message: e.to_string(),
        }
    }

    fn into_reply(self) -> Reply {
        let (content_type, body) = match self.style {
            Style::Plain => (TEXT, format!("{}\n", self.message)),
            Style::Json => (
                JSON,
                serde_json::json!({ "message": self.message }).to_string(),
            ),
            Style::Html => (HTML, page::error_page(&self.message)),
        };
        Reply {
            status: self.status,
            content_type,
            body: body.into_bytes(),
            cache: Cache::NoStore,
            rate_date: None,
            extra: Vec::new(),
        }
    }
}

impl Style {
    /// Looks up a parsed code in `table`; an unknown one is a 404 naming it, in this style.
    pub fn lookup(self, table: &Table, code: Code) -> Result<CurrencyId, ApiError> {
        table
            .currency_of(code)
            .ok_or_else(|| ApiError::not_found(self, format!("unknown currency '{code}'")))
    }

    /// A lookup error in this style (see [`ApiError::from_rate`]).
    pub fn rate_error(self, e: RateError) -> ApiError {
        ApiError::from_rate(self, e)
    }

    /// Units of `to` per one `from` on `date` (default: the latest publication day), with the
    /// day used: what `/getrate`, `/getlatest` and `/v1/convert` share.
    pub fn quote(
        self,
        table: &Table,
        from: Code,
        to: Code,
        date: Option<Day>,
    ) -> Result<Quote, ApiError> {
        let (from, to) = (self.lookup(table, from)?, self.lookup(table, to)?);
        table
            .convert_ids(1.0, from, to, date)
            .map_err(|e| self.rate_error(e))
    }
}

/// `text/plain; charset=utf-8`.
pub const TEXT: &str = "text/plain; charset=utf-8";
/// `Cache-Control` of answers about past publication days.
pub const IMMUTABLE_CACHE: &str = "public, max-age=86400, immutable";
/// `Cache-Control` of answers that must not be cached.
pub const NO_STORE: &str = "no-store";
/// `application/json`.
pub const JSON: &str = "application/json";
/// `text/html; charset=utf-8`.
pub const HTML: &str = "text/html; charset=utf-8";

/// How long a reply may be cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    /// About past publication days: never changes.
    Immutable,
    /// About the latest rates: changes when the ECB publishes.
    Latest,
    /// Errors, health, metrics: not cached.
    NoStore,
}

/// A complete HTTP answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body (empty for 304 and HEAD).
    pub body: Vec<u8>,
    /// Caching class (`Cache-Control`, and whether `ETag`/`Last-Modified` apply).
    pub cache: Cache,
    /// The publication day used (`X-Rate-Date`).
    pub rate_date: Option<Day>,
    /// Further headers (`X-Rate-Date`, `ETag`, `Cache-Control`, …), names as sent.
    pub extra: Vec<(&'static str, HeaderText)>,
}

/// Longest header value kept inline ([`HeaderText::Inline`]): an HTTP date is 29 bytes.
pub const INLINE_HEADER: usize = 40;

/// A header value. The values of a data answer (`X-Rate-Date`, `ETag`, `Last-Modified`,
/// `Cache-Control`) are static or copied inline from text precomputed per table, so building a
/// reply allocates nothing for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderText {
    /// Fixed text.
    Static(&'static str),
    /// Short text held in place.
    Inline(StackText<INLINE_HEADER>),
    /// Any other text.
    Owned(String),
}

impl HeaderText {
    /// The value as text.
    pub fn as_str(&self) -> &str {
        match self {
            HeaderText::Static(s) => s,
            HeaderText::Inline(s) => s.as_str(),
            HeaderText::Owned(s) => s,
        }
    }

    /// Text held inline when it fits, otherwise owned.
    pub fn inline(text: &str) -> HeaderText {
        let mut s = StackText::new();
        match s.write_str(text) {
            Ok(()) => HeaderText::Inline(s),
            Err(_) => HeaderText::Owned(text.to_string()),
        }
    }

    /// A day as `YYYY-MM-DD`.
    pub fn day(day: Day) -> HeaderText {
        match std::str::from_utf8(&day.iso()) {
            Ok(text) => HeaderText::inline(text),
            Err(_) => HeaderText::Owned(day.to_string()),
        }
    }
}

impl From<&'static str> for HeaderText {
    fn from(s: &'static str) -> Self {
        HeaderText::Static(s)
    }
}

impl From<String> for HeaderText {
    fn from(s: String) -> Self {
        HeaderText::Owned(s)
    }
}

impl Reply {
    /// A 200 reply.
    pub fn ok(
        content_type: &'static str,
        body: String,
        cache: Cache,
        rate_date: Option<Day>,
    ) -> Reply {
        Reply {
            status: 200,
            content_type,
            body: body.into_bytes(),
            cache,
            rate_date,
            extra: Vec::new(),
        }
    }

    /// The value of a header this reply sets (as it will be sent).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The request parts the service looks at.
#[derive(Clone, Copy, Debug, Default)]
pub struct Incoming<'a> {
    /// `GET`, `HEAD`, …
    pub method: &'a str,
    /// Path, percent-encoded as received.
    pub path: &'a str,
    /// Raw query string.
    pub query: Option<&'a str>,
    /// `Accept`.
    pub accept: Option<&'a str>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a str>,
}

/// A loaded table with its precomputed validators.
pub struct Loaded {
    /// The rates.
    pub table: Table,
    etag: HeaderText,
    last_modified: HeaderText,
}

impl Loaded {
    /// Wraps a table.
    pub fn new(table: Table) -> Loaded {
        Loaded {
            etag: HeaderText::inline(&format!("\"{:016x}\"", table.version())),
            last_modified: HeaderText::inline(&http_date(table.modified())),
            table,
        }
    }
}

/// The service: current table, settings, metrics.
pub struct Service {
    loaded: ArcSwap<Loaded>,
    /// Settings.
    pub config: Config,
    /// Counters.
    pub metrics: metrics::Metrics,
    /// `Cache-Control` of answers about the latest rates (from `config`).
    latest_cache: HeaderText,
}

impl Service {
    /// A service over `table`.
    pub fn new(table: Table, config: Config) -> Service {
        let metrics = metrics::Metrics::default();
        metrics.set_data(&table);
        Service {
            loaded: ArcSwap::from_pointee(Loaded::new(table)),
            latest_cache: HeaderText::inline(&format!("public, max-age={}", config.latest_max_age)),
            config,
            metrics,
        }
    }

    /// The current table (lock-free; keep the guard only briefly).
    pub fn current(&self) -> Arc<Loaded> {
        self.loaded.load_full()
    }

    /// Replaces the table atomically: requests already running finish on the old one.
    pub fn swap(&self, table: Table) {
        self.metrics.set_data(&table);
        self.loaded.store(Arc::new(Loaded::new(table)));
    }

    /// Answers one request. Never panics on any input; every answer is 2xx, 304 or 4xx.
    pub fn handle(&self, req: &Incoming<'_>) -> Reply {
        let started = Instant::now();
        let parsed = request::parse(req.path, req.query, req.accept);
        let route = request::route_name(&parsed);
        let reply = self.answer(req, parsed);
        self.metrics.observe(route, reply.status, started.elapsed());
        reply
    }

    fn answer(&self, req: &Incoming<'_>, parsed: Result<Endpoint, ApiError>) -> Reply {
        if req.method != "GET" && req.method != "HEAD" {
            let mut r = ApiError {
                status: 405,
                style: Style::Plain,
                message: format!(
                    "method {} not allowed (use GET)",
                    req.method.chars().take(16).collect::<String>()
                ),
            }
            .into_reply();
            r.extra.push(("Allow", HeaderText::Static("GET, HEAD")));
            return r;
        }
        let loaded = self.loaded.load();
        let table = &loaded.table;
        let mut reply = match parsed {
            Err(e) => e.into_reply(),
            Ok(endpoint) => match self.dispatch(table, &endpoint) {
                Ok(r) => r,
                Err(e) => e.into_reply(),
            },
        };
        if reply.status == 200 && reply.cache != Cache::NoStore {
            reply.extra.reserve(4);
            if let Some(d) = reply.rate_date {
                reply.extra.push(("X-Rate-Date", HeaderText::day(d)));
            }
            reply.extra.push(("ETag", loaded.etag.clone()));
            reply
                .extra
                .push(("Last-Modified", loaded.last_modified.clone()));
            let max_age = match reply.cache {
                Cache::Immutable => HeaderText::Static(IMMUTABLE_CACHE),
                _ => self.latest_cache.clone(),
            };
            reply.extra.push(("Cache-Control", max_age));
            if not_modified(req, loaded.etag.as_str(), table.modified()) {
                reply.status = 304;
                reply.body.clear();
            }
        } else {
            if let Some(d) = reply.rate_date {
                reply.extra.push(("X-Rate-Date", HeaderText::day(d)));
            }
            reply
                .extra
                .push(("Cache-Control", HeaderText::Static(NO_STORE)));
        }
        if req.method == "HEAD" {
            reply.body.clear();
        }
        reply
    }

    fn dispatch(&self, table: &Table, e: &Endpoint) -> Result<Reply, ApiError> {
        let max = self.config.max_range_days;
        match e {
            Endpoint::GetRate { date, from, to } => plain::getrate(table, *date, *from, *to),
            Endpoint::GetRange {
                start,
                end,
                from,
                to,
            } => plain::getrange(table, *start, *end, *from, *to, max),
            Endpoint::Currencies { date } => plain::currencies(table, *date),
            Endpoint::JsonRates {
                date,
                base,
                symbols,
                amount,
            } => json::rates(table, *date, *base, symbols.as_deref(), *amount),
            Endpoint::JsonRange {
                start,
                end,
                base,
                symbols,
                amount,
            } => json::range(table, *start, *end, *base, symbols.as_deref(), *amount, max),
            Endpoint::JsonCurrencies => Ok(json::currencies(table)),
            Endpoint::Convert {
                from,
                to,
                amount,
                date,
            } => json::convert(table, *from, *to, *amount, *date),
            Endpoint::Page(q) => Ok(page::render(table, q)),
            Endpoint::Docs => Ok(docs::page()),
            Endpoint::OpenApi => Ok(docs::openapi_json()),
            Endpoint::Health => Ok(self.health(table)),
            Endpoint::Metrics => Ok(Reply::ok(
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics.render(),
                Cache::NoStore,
                None,
            )),
        }
    }

    fn health(&self, table: &Table) -> Reply {
        let body = serde_json::json!({
            "status": "ok",
            "first_date": table.first_day().to_string(),
            "last_date": table.last_day().to_string(),
            "currencies": table.currencies().len(),
            "version": format!("{:016x}", table.version()),
            "last_update": {
                "result": match self.metrics.update_status().result { "" => "never", r => r },
                "last_success": self.metrics.update_status().last_success,
            },
        });
        Reply::ok(
            JSON,
            body.to_string(),
            Cache::NoStore,
            Some(table.last_day()),
        )
    }
}

/// Cache class for an answer about `date` (`None`: the latest).
pub fn cache_for(table: &Table, date: Option<Day>) -> Cache {
    match date {
        Some(d) if d <= table.last_day() => Cache::Immutable,
        _ => Cache::Latest,
    }
}

fn not_modified(req: &Incoming<'_>, etag: &str, modified: i64) -> bool {
    if let Some(inm) = req.if_none_match {
        let want = etag.trim_matches('"');
        return inm
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
            .any(|t| t == "*" || t == want);
    }
    match req.if_modified_since.and_then(parse_http_date) {
        Some(since) => since >= modified,
        None => false,
    }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats Unix seconds as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(secs: i64) -> String {
    let day = Day(secs.div_euclid(86_400) as i32);
    let s = secs.rem_euclid(86_400);
    let (y, m, d) = day.ymd();
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[day.weekday() as usize],
        MONTHS[(m - 1) as usize],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses an IMF-fixdate HTTP date to Unix seconds.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, d, mon, y, hms, "GMT"] = parts.as_slice() else {
        return None;
    };
    let m = MONTHS.iter().position(|x| x == mon)? as u32 + 1;
    let day = Day::from_ymd(y.parse().ok()?, m, d.parse().ok()?)?;
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, s] = t.as_slice() else {
        return None;
    };
    if !(0..24).contains(h) || !(0..60).contains(mi) || !(0..61).contains(s) {
        return None;
    }
    Some(i64::from(day.0) * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_round_trip() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
