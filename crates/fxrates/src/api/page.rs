//! `GET /`: the converter page. One self-contained HTML file (`page.html`: inline CSS, script
//! and SVG chart; no CDN). The server fills in the form and the result, so a plain form
//! submission works without script; the script then converts in place through `/v1/convert`
//! and draws the pair over the chosen span from the JSON range API.

use super::docs::esc;
use super::request::PageQuery;
use super::{Cache, HTML, Reply};
use crate::calendar::Day;
use crate::number::print;
use crate::rates::Table;

const TEMPLATE: &str = include_str!("page.html");

fn result(table: &Table, q: &PageQuery) -> Option<Result<(String, String), String>> {
    let (amount, from, to) = (q.amount.as_deref()?, q.from.as_deref()?, q.to.as_deref()?);
    let go = || -> Result<(String, String), String> {
        let amount = super::request::amount(Some(amount), super::request::Style::Html)
            .map_err(|e| e.message)?;
        let date = match q.date.as_deref().filter(|d| !d.is_empty()) {
            Some(d) => Some(Day::parse(d).map_err(|e| e.to_string())?),
            None => None,
        };
        let quote = table
            .convert(amount, from, to, date)
            .map_err(|e| e.to_string())?;
        let from = from.to_ascii_uppercase();
        let to = to.to_ascii_uppercase();
        Ok((
            format!("{} {from} = {} {to}", print(amount), print(quote.value)),
            format!("rate {} of {}", print(quote.value / amount), quote.day),
        ))
    };
    Some(go())
}

/// Renders the page, with the conversion the query asks for.
pub fn render(table: &Table, q: &PageQuery) -> Reply {
    let (text, class, used) = match result(table, q) {
        None => (String::new(), "", String::new()),
        Some(Ok((text, used))) => (text, "", used),
        Some(Err(message)) => (message, "error", String::new()),
    };
    let fields = [
        ("amount", esc(q.amount.as_deref().unwrap_or("100"))),
        ("from", esc(q.from.as_deref().unwrap_or("USD"))),
        ("to", esc(q.to.as_deref().unwrap_or("EUR"))),
        ("date", esc(q.date.as_deref().unwrap_or(""))),
        ("result_class", class.to_string()),
        ("result", esc(&text)),
        ("used", esc(&used)),
    ];
    // One pass over the template, so text from the query is never itself expanded.
    let mut html = String::with_capacity(TEMPLATE.len() + 256);
    let mut rest = TEMPLATE;
    while let Some(at) = rest.find("{{") {
        html.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let field = after.find("}}").and_then(|end| {
            fields
                .iter()
                .find(|(k, _)| *k == &after[..end])
                .map(|(_, v)| (end, v))
        });
        match field {
            Some((end, value)) => {
                html.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                html.push_str("{{");
                rest = after;
            }
        }
    }
    html.push_str(rest);
    Reply::ok(HTML, html, Cache::NoStore, None)
}

/// A minimal HTML error page.
pub fn error_page(message: &str) -> String {
    format!(
        "<!doctype html><meta charset=utf-8><title>fxrates: error</title><p>{}</p><p><a href=\"/\">converter</a></p>",
        esc(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_conversion_server_side_and_escapes_input() {
        let t = Table::embedded();
        let q = PageQuery {
            amount: Some("100".into()),
            from: Some("usd".into()),
            to: Some("EUR".into()),
            date: Some("2001-02-03".into()),
        };
        let html = String::from_utf8(render(&t, &q).body).unwrap();
        assert!(html.contains("100 USD = 106.3038163 EUR"), "{html}");
        assert!(html.contains("rate 1.063038163 of 2001-02-02"));
        let q = PageQuery {
            amount: Some("1".into()),
            from: Some("<b>".into()),
            to: Some("EUR".into()),
            date: None,
        };
        let html = String::from_utf8(render(&t, &q).body).unwrap();
        assert!(html.contains("unknown currency '&lt;b&gt;'"));
        assert!(!html.contains("<b>"));
        let q = PageQuery {
            amount: Some("{{result}}".into()),
            ..PageQuery::default()
        };
        let html = String::from_utf8(render(&t, &q).body).unwrap();
        assert!(html.contains("value=\"{{result}}\""));
    }
}
