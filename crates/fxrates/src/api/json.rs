//! Frankfurter's v1 JSON API (`/latest`, `/<date>`, `/<start>..<end>`, `/currencies`), plus
//! `/v1/convert`. Field names and shapes follow Frankfurter so its clients can point here.
//! Every path is also served under `/v1/`.

use super::request::Style;
use super::{ApiError, JSON, Reply, cache_for};
use crate::calendar::Day;
use crate::currency::Code;
use crate::number::round;
use crate::rates::{CurrencyId, Table};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Rates on one day.
#[derive(Serialize, ToSchema)]
pub struct RatesResponse {
    /// The amount of `base` converted.
    pub amount: f64,
    /// Base currency.
    pub base: String,
    /// Publication day used.
    pub date: String,
    /// Currency → amount of it for `amount` of `base`.
    pub rates: BTreeMap<String, f64>,
}

/// Rates over a range of days.
#[derive(Serialize, ToSchema)]
pub struct RangeResponse {
    /// The amount of `base` converted.
    pub amount: f64,
    /// Base currency.
    pub base: String,
    /// First publication day listed.
    pub start_date: String,
    /// Last publication day listed.
    pub end_date: String,
    /// Day → currency → amount.
    pub rates: BTreeMap<String, BTreeMap<String, f64>>,
}

/// One conversion.
#[derive(Serialize, ToSchema)]
pub struct ConvertResponse {
    /// Amount of `from`.
    pub amount: f64,
    /// Source currency.
    pub from: String,
    /// Target currency.
    pub to: String,
    /// Publication day used.
    pub date: String,
    /// Units of `to` per unit of `from`.
    pub rate: f64,
    /// `amount` × `rate`.
    pub result: f64,
}

/// An error: one line naming the bad part.
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    /// What is wrong.
    pub message: String,
}

const STYLE: Style = Style::Json;

fn id(table: &Table, code: Code) -> Result<CurrencyId, ApiError> {
    STYLE.lookup(table, code)
}

fn rate_err(e: crate::rates::RateError) -> ApiError {
    STYLE.rate_error(e)
}

/// The requested targets, looked up (`None`: the default list, decided per day).
fn targets(table: &Table, symbols: Option<&[Code]>) -> Result<Option<Vec<CurrencyId>>, ApiError> {
    symbols
        .map(|s| s.iter().map(|c| id(table, *c)).collect())
        .transpose()
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|e| format!("{{\"message\":\"serialization failed: {e}\"}}"))
}

/// Rates of `base` on a day (or the latest).
#[utoipa::path(
    get,
    path = "/{date}",
    tag = "json",
    summary = "Rates on a day (Frankfurter v1)",
    description = "Rates on `date`, or the last publication day before it; `/latest` for the latest. Also under `/v1/`. Without `to`, every currency the ECB quoted that day.",
    params(
        ("date" = String, Path, description = "YYYY-MM-DD, or `latest`"),
        ("from" = Option<String>, Query, description = "Base currency (alias `base`), default EUR"),
        ("to" = Option<String>, Query, description = "Comma-separated targets (alias `symbols`)"),
        ("amount" = Option<f64>, Query, description = "Amount of the base, default 1"),
    ),
    responses(
        (status = 200, body = RatesResponse),
        (status = 400, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    )
)]
pub fn rates(
    table: &Table,
    date: Option<Day>,
    base: Code,
    symbols: Option<&[Code]>,
    amount: f64,
) -> Result<Reply, ApiError> {
    let b = id(table, base)?;
    let asked = date.unwrap_or_else(|| table.last_day());
    let i = table.publication(asked).map_err(rate_err)?;
    let list = match targets(table, symbols)? {
        Some(list) => list,
        None => table.quoted_on(i).into_iter().filter(|&c| c != b).collect(),
    };
    let mut out = BTreeMap::new();
    for c in list {
        let r = table.cross(b, c, i, asked).map_err(rate_err)?;
        out.insert(table.info(c).code.to_string(), round(amount * r));
    }
    let day = table.day(i);
    let body = RatesResponse {
        amount: round(amount),
        base: base.to_string(),
        date: day.to_string(),
        rates: out,
    };
    Ok(Reply::ok(
        JSON,
        to_json(&body),
        cache_for(table, date),
        Some(day),
    ))
}

/// Rates of `base` over a range.
#[utoipa::path(
    get,
    path = "/{start}..{end}",
    tag = "json",
    summary = "Rates over a range (Frankfurter v1)",
    description = "Every publication day from `start` to `end` inclusive; `/{start}..` runs to the latest day. Days on which the base or a requested currency has no rate are left out. Ranges longer than the server's cap are refused.",
    params(
        ("start" = String, Path, description = "YYYY-MM-DD"),
        ("end" = String, Path, description = "YYYY-MM-DD (optional)"),
        ("from" = Option<String>, Query, description = "Base currency (alias `base`), default EUR"),
        ("to" = Option<String>, Query, description = "Comma-separated targets (alias `symbols`)"),
        ("amount" = Option<f64>, Query, description = "Amount of the base, default 1"),
    ),
    responses((status = 200, body = RangeResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse))
)]
pub fn range(
    table: &Table,
    start: Day,
    end: Option<Day>,
    base: Code,
    symbols: Option<&[Code]>,
    amount: f64,
    max_days: u32,
) -> Result<Reply, ApiError> {
    let b = id(table, base)?;
    let end_day = end.unwrap_or_else(|| table.last_day().max(start));
    Table::check_range(start, end_day, max_days).map_err(rate_err)?;
    let explicit = targets(table, symbols)?;
    let mut out = BTreeMap::new();
    for i in table.days_between(start, end_day) {
        let day = table.day(i);
        let list = match &explicit {
            Some(l) => l.clone(),
            None => table.quoted_on(i).into_iter().filter(|&c| c != b).collect(),
        };
        let row: Option<BTreeMap<String, f64>> = list
            .iter()
            .map(|&c| {
                table
                    .cross(b, c, i, day)
                    .ok()
                    .map(|r| (table.info(c).code.to_string(), round(amount * r)))
            })
            .collect();
        if let Some(row) = row.filter(|r| !r.is_empty()) {
            out.insert(day.to_string(), row);
        }
    }
    let (Some(first), Some(last)) = (out.keys().next().cloned(), out.keys().next_back().cloned())
    else {
        // Explain why nothing is there: the first failing lookup, or the empty range.
        let probe = explicit
            .as_ref()
            .and_then(|l| l.first().copied())
            .unwrap_or(b);
        return Err(rate_err(
            table
                .range(b, probe, start, end_day, max_days)
                .err()
                .unwrap_or(crate::rates::RateError::EmptyRange {
                    from: base,
                    to: table.info(probe).code,
                    start,
                    end: end_day,
                }),
        ));
    };
    let body = RangeResponse {
        amount: round(amount),
        base: base.to_string(),
        start_date: first,
        end_date: last,
        rates: out,
    };
    Ok(Reply::ok(JSON, to_json(&body), cache_for(table, end), None))
}

/// Every currency code with its name.
#[utoipa::path(
    get,
    path = "/v1/currencies",
    tag = "json",
    summary = "Currency names (JSON)",
    description = "Code → English name for every currency. Also `/currencies` with `Accept: application/json`.",
    responses((status = 200, description = "`{\"AUD\": \"Australian Dollar\", …}`", body = BTreeMap<String, String>))
)]
pub fn currencies(table: &Table) -> Reply {
    let map: BTreeMap<&str, &str> = table
        .currencies()
        .iter()
        .map(|c| (c.code.as_str(), c.name))
        .collect();
    let mut r = Reply::ok(JSON, to_json(&map), super::Cache::Latest, None);
    r.extra.push(("Vary", "Accept".into()));
    r
}

/// Converts an amount.
#[utoipa::path(
    get,
    path = "/v1/convert",
    tag = "json",
    summary = "Convert an amount (JSON)",
    description = "Converts `amount` of `from` into `to` on `date` (default: latest), giving the rate and the publication day used.",
    params(
        ("from" = String, Query, description = "Source currency"),
        ("to" = String, Query, description = "Target currency"),
        ("amount" = Option<f64>, Query, description = "Positive amount, default 1"),
        ("date" = Option<String>, Query, description = "YYYY-MM-DD, default latest"),
    ),
    responses((status = 200, body = ConvertResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse))
)]
pub fn convert(
    table: &Table,
    from: Code,
    to: Code,
    amount: f64,
    date: Option<Day>,
) -> Result<Reply, ApiError> {
    let q = STYLE.quote(table, from, to, date)?;
    let body = ConvertResponse {
        amount: round(amount),
        from: from.to_string(),
        to: to.to_string(),
        date: q.day.to_string(),
        rate: round(q.value),
        result: round(amount * q.value),
    };
    Ok(Reply::ok(
        JSON,
        to_json(&body),
        cache_for(table, date),
        Some(q.day),
    ))
}
