//! The original plain-text API: one number, or one `YYYY-MM-DD rate` line per day.
//!
//! Existing clients parse these bodies directly, so the shapes are fixed: `/getrate` and
//! `/getlatest` answer a bare decimal number (no newline), `/getrange` and `/currencies` answer
//! `\n`-terminated lines. The publication day used travels in the `X-Rate-Date` header.

use super::request::Style;
use super::{ApiError, Reply, TEXT, cache_for};
use crate::calendar::Day;
use crate::currency::Code;
use crate::number::print;
use crate::rates::Table;

const STYLE: Style = Style::Plain;

/// The rate of `from` in `to` on `date` (or the latest), as one number.
#[utoipa::path(
    get,
    path = "/getrate/{date}/{from}/{to}",
    tag = "plain",
    summary = "Rate on a day (plain text)",
    description = "Units of `to` for one `from`, on `date` or the last publication day before it. `to` is optional (default USD): `/getrate/{date}/{from}`. The day used is in `X-Rate-Date`.",
    params(
        ("date" = String, Path, description = "YYYY-MM-DD"),
        ("from" = String, Path, description = "Currency code, case-insensitive"),
        ("to" = String, Path, description = "Currency code (optional, default USD)"),
    ),
    responses(
        (status = 200, description = "The rate, e.g. `0.9291`", body = String, content_type = "text/plain"),
        (status = 400, description = "Malformed date or code", body = String, content_type = "text/plain"),
        (status = 404, description = "Unknown currency, or no rate that day", body = String, content_type = "text/plain"),
    )
)]
pub fn getrate(table: &Table, date: Option<Day>, from: Code, to: Code) -> Result<Reply, ApiError> {
    let q = STYLE.quote(table, from, to, date)?;
    Ok(Reply::ok(
        TEXT,
        print(q.value),
        cache_for(table, date),
        Some(q.day),
    ))
}

/// Documents `/getlatest`, which shares [`getrate`]'s code.
#[utoipa::path(
    get,
    path = "/getlatest/{from}/{to}",
    tag = "plain",
    summary = "Latest rate (plain text)",
    description = "Like `/getrate` on the last publication day. `to` is optional (default USD).",
    params(
        ("from" = String, Path, description = "Currency code"),
        ("to" = String, Path, description = "Currency code (optional, default USD)"),
    ),
    responses((status = 200, description = "The rate", body = String, content_type = "text/plain"))
)]
pub fn getlatest(table: &Table, from: Code, to: Code) -> Result<Reply, ApiError> {
    getrate(table, None, from, to)
}

/// One `YYYY-MM-DD rate` line per publication day in the range.
#[utoipa::path(
    get,
    path = "/getrange/{fromdate}/{todate}/{from}/{to}",
    tag = "plain",
    summary = "Rates over a range (plain text)",
    description = "One `YYYY-MM-DD rate` line per publication day from `fromdate` to `todate` (inclusive) on which both currencies have a rate. `to` is optional (default USD). Ranges longer than the server's cap (default 3660 days) are refused.",
    params(
        ("fromdate" = String, Path, description = "YYYY-MM-DD"),
        ("todate" = String, Path, description = "YYYY-MM-DD"),
        ("from" = String, Path, description = "Currency code"),
        ("to" = String, Path, description = "Currency code (optional, default USD)"),
    ),
    responses(
        (status = 200, description = "Lines `2001-02-02 1.07631659`", body = String, content_type = "text/plain"),
        (status = 400, description = "Malformed, reversed or too long range", body = String, content_type = "text/plain"),
    )
)]
pub fn getrange(
    table: &Table,
    start: Day,
    end: Day,
    from: Code,
    to: Code,
    max_days: u32,
) -> Result<Reply, ApiError> {
    let quotes = table
        .range(
            STYLE.lookup(table, from)?,
            STYLE.lookup(table, to)?,
            start,
            end,
            max_days,
        )
        .map_err(|e| STYLE.rate_error(e))?;
    let mut body = String::with_capacity(quotes.len() * 24);
    for q in &quotes {
        body.push_str(&q.day.to_string());
        body.push(' ');
        body.push_str(&print(q.value));
        body.push('\n');
    }
    let last = quotes.last().map(|q| q.day);
    Ok(Reply::ok(TEXT, body, cache_for(table, Some(end)), last))
}

/// Currency codes, one per line: all, or those that convert on a day.
#[utoipa::path(
    get,
    path = "/currencies/{date}",
    tag = "plain",
    summary = "Currency codes (plain text)",
    description = "Codes one per line. Without a date (`/currencies`): every code. With a date: those with a rate that day (including currencies converted through their fixed euro rate). Send `Accept: application/json` to `/currencies` for the JSON code → name map.",
    params(("date" = String, Path, description = "YYYY-MM-DD (optional)")),
    responses((status = 200, description = "`AUD\\nBGN\\n…`", body = String, content_type = "text/plain"))
)]
pub fn currencies(table: &Table, date: Option<Day>) -> Result<Reply, ApiError> {
    let (used, ids) = table.currencies_on(date).map_err(|e| STYLE.rate_error(e))?;
    let mut body = String::with_capacity(ids.len() * 4);
    for id in ids {
        body.push_str(table.info(id).code.as_str());
        body.push('\n');
    }
    let cache = if date.is_some() {
        cache_for(table, date)
    } else {
        super::Cache::Latest
    };
    let mut reply = Reply::ok(TEXT, body, cache, used);
    if date.is_none() {
        // `/currencies` answers JSON to clients that ask for it.
        reply.extra.push(("Vary", "Accept".into()));
    }
    Ok(reply)
}
