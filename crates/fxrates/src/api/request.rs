//! Request parsing: a path and query string to an [`Endpoint`], or an error naming the bad part.
//!
//! This is the whole input surface of the service (the fuzz target drives it). It never
//! allocates more than the input's size and never panics.

use super::ApiError;
use crate::calendar::Day;
use crate::currency::Code;

/// A parsed request.
#[derive(Clone, Debug, PartialEq)]
pub enum Endpoint {
    /// Plain `/getrate/<date>/<from>[/<to>]`, and `/getlatest/<from>[/<to>]` (date `None`).
    GetRate {
        /// Date asked for (`None`: latest).
        date: Option<Day>,
        /// Base currency.
        from: Code,
        /// Quote currency (default USD).
        to: Code,
    },
    /// Plain `/getrange/<fromdate>/<todate>/<from>[/<to>]`.
    GetRange {
        /// First day.
        start: Day,
        /// Last day.
        end: Day,
        /// Base currency.
        from: Code,
        /// Quote currency (default USD).
        to: Code,
    },
    /// Plain `/currencies[/<date>]`.
    Currencies {
        /// Only those with a rate on this day.
        date: Option<Day>,
    },
    /// JSON `/latest` and `/<date>`.
    JsonRates {
        /// Date asked for (`None`: latest).
        date: Option<Day>,
        /// `from`/`base` (default EUR).
        base: Code,
        /// `to`/`symbols` (default: every currency quoted that day).
        symbols: Option<Vec<Code>>,
        /// `amount` (default 1).
        amount: f64,
    },
    /// JSON `/<start>..<end>` and `/<start>..`.
    JsonRange {
        /// First day.
        start: Day,
        /// Last day (`None`: up to the latest).
        end: Option<Day>,
        /// `from`/`base` (default EUR).
        base: Code,
        /// `to`/`symbols`.
        symbols: Option<Vec<Code>>,
        /// `amount` (default 1).
        amount: f64,
    },
    /// JSON `/currencies` (code → name).
    JsonCurrencies,
    /// JSON `/v1/convert?from=&to=&amount=&date=`.
    Convert {
        /// Base currency.
        from: Code,
        /// Quote currency.
        to: Code,
        /// Amount of `from`.
        amount: f64,
        /// Date (`None`: latest).
        date: Option<Day>,
    },
    /// `GET /`: the converter page, with an optional conversion to show.
    Page(PageQuery),
    /// `/docs`.
    Docs,
    /// `/openapi.json`.
    OpenApi,
    /// `/healthz`.
    Health,
    /// `/metrics`.
    Metrics,
}

/// The form fields of the page (kept as typed text; the page shows errors beside the form).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageQuery {
    /// `amount`.
    pub amount: Option<String>,
    /// `from`.
    pub from: Option<String>,
    /// `to`.
    pub to: Option<String>,
    /// `date`.
    pub date: Option<String>,
}

/// Which API a path belongs to: decides the error format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Plain text.
    Plain,
    /// `{"message": …}`.
    Json,
    /// HTML page.
    Html,
}

/// Name of the endpoint for metrics labels.
pub fn route_name(e: &Result<Endpoint, ApiError>) -> &'static str {
    match e {
        Ok(Endpoint::GetRate { date: Some(_), .. }) => "getrate",
        Ok(Endpoint::GetRate { date: None, .. }) => "getlatest",
        Ok(Endpoint::GetRange { .. }) => "getrange",
        Ok(Endpoint::Currencies { .. }) => "currencies",
        Ok(Endpoint::JsonRates { .. }) => "json_rates",
        Ok(Endpoint::JsonRange { .. }) => "json_range",
        Ok(Endpoint::JsonCurrencies) => "json_currencies",
        Ok(Endpoint::Convert { .. }) => "convert",
        Ok(Endpoint::Page(_)) => "page",
        Ok(Endpoint::Docs) => "docs",
        Ok(Endpoint::OpenApi) => "openapi",
        Ok(Endpoint::Health) => "healthz",
        Ok(Endpoint::Metrics) => "metrics",
        Err(_) => "invalid",
    }
}

/// Percent-decodes a query component (`+` is a space). Invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters, decoded; later duplicates win.
#[derive(Default, Debug)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Splits and decodes a raw query string.
    pub fn parse(query: Option<&str>) -> Params {
        let mut v = Vec::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
            v.push((percent_decode(k), percent_decode(val)));
        }
        Params(v)
    }

    /// The value of the first present key among `keys` (its last occurrence).
    pub fn get(&self, keys: &[&str]) -> Option<&str> {
        keys.iter()
            .find_map(|k| self.0.iter().rev().find(|(name, _)| name == k))
            .map(|(_, v)| v.as_str())
    }
}

fn show(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        s.push('…');
    }
    s
}

/// Parses a date path segment or parameter named `what`.
pub fn date(text: &str, what: &str, style: Style) -> Result<Day, ApiError> {
    Day::parse(text).map_err(|_| {
        ApiError::bad_request(
            style,
            format!("malformed {what} '{}' (expected YYYY-MM-DD)", show(text)),
        )
    })
}

/// Parses a currency code named `what`.
pub fn code(text: &str, what: &str, style: Style) -> Result<Code, ApiError> {
    Code::parse(text).ok_or_else(|| {
        ApiError::bad_request(
            style,
            format!(
                "malformed {what} currency '{}' (expected a three-letter code)",
                show(text)
            ),
        )
    })
}

/// Parses an amount: a finite positive number.
pub fn amount(text: Option<&str>, style: Style) -> Result<f64, ApiError> {
    let Some(text) = text else { return Ok(1.0) };
    let bad = || {
        ApiError::bad_request(
            style,
            format!("amount '{}' is not a positive number", show(text)),
        )
    };
    let ok_chars = !text.is_empty()
        && text
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'));
    let v: f64 = if ok_chars {
        text.parse().map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(bad())
    }
}

fn symbols(text: Option<&str>, style: Style) -> Result<Option<Vec<Code>>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let c = code(part, "target", style)?;
        if !out.contains(&c) {
            out.push(c);
        }
        if out.len() > 64 {
            return Err(ApiError::bad_request(
                style,
                "too many target currencies (at most 64)",
            ));
        }
    }
    Ok(Some(out))
}

const USD: Code = Code(*b"USD");
const EUR: Code = Code(*b"EUR");

/// Does the `Accept` header prefer JSON over plain text?
pub fn wants_json(accept: Option<&str>) -> bool {
    let accept = accept.unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/plain")
}

/// Parses a request path (without query) and its raw query string.
pub fn parse(path: &str, query: Option<&str>, accept: Option<&str>) -> Result<Endpoint, ApiError> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let mut parts = [""; MAX_SEGMENTS];
    let segs = split_path(trimmed, &mut parts);
    let plain = Style::Plain;
    let json = Style::Json;
    let arity = |what: &str| {
        ApiError::not_found(
            plain,
            format!("{what}: wrong number of path parts in '{}'", show(path)),
        )
    };
    match segs {
        [] => {
            let p = Params::parse(query);
            let field = |k: &str| p.get(&[k]).map(|s| s.chars().take(64).collect());
            Ok(Endpoint::Page(PageQuery {
                amount: field("amount"),
                from: field("from"),
                to: field("to"),
                date: field("date"),
            }))
        }
        ["getrate", rest @ ..] => match rest {
            [d, f] | [d, f, _] => Ok(Endpoint::GetRate {
                date: Some(date(d, "date", plain)?),
                from: code(f, "source", plain)?,
                to: match rest.get(2) {
                    Some(t) => code(t, "target", plain)?,
                    None => USD,
                },
            }),
            _ => Err(arity("usage /getrate/<date>/<from>[/<to>]")),
        },
        ["getlatest", rest @ ..] => match rest {
            [f] | [f, _] => Ok(Endpoint::GetRate {
                date: None,
                from: code(f, "source", plain)?,
                to: match rest.get(1) {
                    Some(t) => code(t, "target", plain)?,
                    None => USD,
                },
            }),
            _ => Err(arity("usage /getlatest/<from>[/<to>]")),
        },
        ["getrange", rest @ ..] => match rest {
            [s, e, f] | [s, e, f, _] => Ok(Endpoint::GetRange {
                start: date(s, "start date", plain)?,
                end: date(e, "end date", plain)?,
                from: code(f, "source", plain)?,
                to: match rest.get(3) {
                    Some(t) => code(t, "target", plain)?,
                    None => USD,
                },
            }),
            _ => Err(arity("usage /getrange/<fromdate>/<todate>/<from>[/<to>]")),
        },
        ["currencies"] if wants_json(accept) => Ok(Endpoint::JsonCurrencies),
        ["currencies"] => Ok(Endpoint::Currencies { date: None }),
        ["currencies", d] => Ok(Endpoint::Currencies {
            date: Some(date(d, "date", plain)?),
        }),
        ["v1", "currencies"] => Ok(Endpoint::JsonCurrencies),
        ["v1", "convert"] => {
            let p = Params::parse(query);
            let need = |k: &str| {
                p.get(&[k])
                    .ok_or_else(|| ApiError::bad_request(json, format!("missing parameter '{k}'")))
            };
            Ok(Endpoint::Convert {
                from: code(need("from")?, "source", json)?,
                to: code(need("to")?, "target", json)?,
                amount: amount(p.get(&["amount"]), json)?,
                date: p
                    .get(&["date"])
                    .filter(|d| !d.is_empty())
                    .map(|d| date(d, "date", json))
                    .transpose()?,
            })
        }
        ["healthz"] => Ok(Endpoint::Health),
        ["metrics"] => Ok(Endpoint::Metrics),
        ["openapi.json"] => Ok(Endpoint::OpenApi),
        ["docs"] => Ok(Endpoint::Docs),
        ["v1", spec] | [spec] => json_rates(spec, query),
        _ => Err(ApiError::not_found(
            plain,
            format!("no such endpoint '{}' (see /docs)", show(path)),
        )),
    }
}

/// Most path segments told apart; the last one keeps any further `/`s (no route has that many).
const MAX_SEGMENTS: usize = 8;

/// Splits a trimmed path at `/` into `parts` without allocating; an empty path has no segments.
fn split_path<'a, 'p>(path: &'p str, parts: &'a mut [&'p str; MAX_SEGMENTS]) -> &'a [&'p str] {
    if path.is_empty() {
        return &[];
    }
    let mut n = 0;
    for seg in path.splitn(MAX_SEGMENTS, '/') {
        parts[n] = seg;
        n += 1;
    }
    &parts[..n]
}

fn json_rates(spec: &str, query: Option<&str>) -> Result<Endpoint, ApiError> {
    let json = Style::Json;
    let looks_like_date = spec.bytes().next().is_some_and(|c| c.is_ascii_digit());
    if spec != "latest" && !looks_like_date {
        return Err(ApiError::not_found(
            Style::Plain,
            format!("no such endpoint '/{}' (see /docs)", show(spec)),
        ));
    }
    let p = Params::parse(query);
    let base = match p.get(&["from", "base"]) {
        Some(b) => code(b, "base", json)?,
        None => EUR,
    };
    let symbols = symbols(p.get(&["to", "symbols"]), json)?;
    let amount = amount(p.get(&["amount"]), json)?;
    if spec == "latest" {
        return Ok(Endpoint::JsonRates {
            date: None,
            base,
            symbols,
            amount,
        });
    }
    match spec.split_once("..") {
        Some((s, e)) => Ok(Endpoint::JsonRange {
            start: date(s, "start date", json)?,
            end: if e.is_empty() {
                None
            } else {
                Some(date(e, "end date", json)?)
            },
            base,
            symbols,
            amount,
        }),
        None => Ok(Endpoint::JsonRates {
            date: Some(date(spec, "date", json)?),
            base,
            symbols,
            amount,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str, q: Option<&str>) -> Endpoint {
        parse(path, q, None).unwrap()
    }
    fn err(path: &str, q: Option<&str>) -> String {
        parse(path, q, None).unwrap_err().message
    }

    #[test]
    fn parses_the_plain_api() {
        let d = Day::parse("2001-02-03").unwrap();
        assert_eq!(
            ok("/getrate/2001-02-03/usd/eur", None),
            Endpoint::GetRate {
                date: Some(d),
                from: USD,
                to: EUR
            }
        );
        assert_eq!(
            ok("/getrate/2001-02-03/EUR", None),
            Endpoint::GetRate {
                date: Some(d),
                from: EUR,
                to: USD
            }
        );
        assert_eq!(
            ok("/getlatest/eur/", None),
            Endpoint::GetRate {
                date: None,
                from: EUR,
                to: USD
            }
        );
        assert!(matches!(
            ok("/getrange/2001-01-01/2001-02-01/GBP", None),
            Endpoint::GetRange { to: USD, .. }
        ));
        assert_eq!(ok("/currencies", None), Endpoint::Currencies { date: None });
        assert_eq!(
            parse("/currencies", None, Some("application/json")).unwrap(),
            Endpoint::JsonCurrencies
        );
        assert_eq!(
            ok("/currencies/2001-02-03", None),
            Endpoint::Currencies { date: Some(d) }
        );
    }

    #[test]
    fn parses_the_json_api() {
        let d = Day::parse("2001-02-03").unwrap();
        assert_eq!(
            ok("/latest", Some("from=usd&to=EUR,gbp&amount=10")),
            Endpoint::JsonRates {
                date: None,
                base: USD,
                symbols: Some(vec![EUR, Code(*b"GBP")]),
                amount: 10.0
            }
        );
        assert_eq!(
            ok("/v1/2001-02-03", Some("base=USD&symbols=EUR%2CGBP")),
            Endpoint::JsonRates {
                date: Some(d),
                base: USD,
                symbols: Some(vec![EUR, Code(*b"GBP")]),
                amount: 1.0
            }
        );
        assert!(matches!(
            ok("/2001-02-03..", None),
            Endpoint::JsonRange { end: None, .. }
        ));
        assert!(matches!(
            ok("/2001-02-03..2001-03-01", None),
            Endpoint::JsonRange { end: Some(_), .. }
        ));
        assert_eq!(
            ok(
                "/v1/convert",
                Some("from=USD&to=EUR&amount=100&date=2001-02-03")
            ),
            Endpoint::Convert {
                from: USD,
                to: EUR,
                amount: 100.0,
                date: Some(d)
            }
        );
    }

    #[test]
    fn errors_name_the_bad_part() {
        assert_eq!(
            err("/getrate/2001-02-30/USD", None),
            "malformed date '2001-02-30' (expected YYYY-MM-DD)"
        );
        assert_eq!(
            err("/getrate/2001-02-03/U5D", None),
            "malformed source currency 'U5D' (expected a three-letter code)"
        );
        assert_eq!(
            err("/getrange/2001-02-03/x/USD", None),
            "malformed end date 'x' (expected YYYY-MM-DD)"
        );
        assert_eq!(
            err("/latest", Some("amount=-3")),
            "amount '-3' is not a positive number"
        );
        assert_eq!(
            err("/latest", Some("amount=inf")),
            "amount 'inf' is not a positive number"
        );
        assert_eq!(
            err("/latest", Some("amount=abc")),
            "amount 'abc' is not a positive number"
        );
        assert_eq!(
            err("/v1/convert", Some("from=USD")),
            "missing parameter 'to'"
        );
        assert_eq!(err("/nope", None), "no such endpoint '/nope' (see /docs)");
        assert!(err("/getrate/2001-02-03", None).contains("wrong number of path parts"));
        assert_eq!(
            parse("/2001-13-01", None, None).unwrap_err().style,
            Style::Json
        );
    }

    #[test]
    fn query_decoding_is_total() {
        assert_eq!(percent_decode("a%2Cb+c%zz%"), "a,b c%zz%");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%41"), "A");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
