//! The HTTP API end to end: a real server on 127.0.0.1 (port 0), real requests.
//! Expected figures are hand-checked against eurofxref-hist.csv.

use crate::common;
use common::{TestServer, get, request};

#[test]
fn plain_api_answers_numbers_and_names_the_day_used() {
    let s = TestServer::embedded();
    // 2001-02-03 is a Saturday: Friday 2001-02-02, USD 0.9407 per EUR.
    let r = get(&format!("{}/getrate/2001-02-03/EUR/USD", s.base));
    assert_eq!((r.status, r.body.as_str()), (200, "0.9407"));
    assert_eq!(r.header("x-rate-date"), Some("2001-02-02"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    // Default target USD, lower-case codes.
    assert_eq!(
        get(&format!("{}/getrate/1999-01-04/eur", s.base)).body,
        "1.1789"
    );
    let r = get(&format!("{}/getlatest/gbp/jpy", s.base));
    assert_eq!(r.body, fxrates::number::print(175.68 / 0.8338));
    assert_eq!(r.header("x-rate-date"), Some("2026-10-30"));
    let r = get(&format!(
        "{}/getrange/2026-10-24/2026-10-31/EUR/USD",
        s.base
    ));
    assert_eq!(
        r.body,
        "2026-10-26 1.1188\n2026-10-27 1.115\n2026-10-28 1.1133\n2026-10-29 1.113\n2026-10-30 1.1172\n"
    );
    let r = get(&format!("{}/currencies", s.base));
    assert_eq!(r.body.lines().count(), 54);
    assert!(r.body.starts_with("ATS\nAUD\n"));
    let r = get(&format!("{}/currencies/2026-10-30", s.base));
    assert!(r.body.contains("USD\n") && !r.body.contains("RUB\n"));
}

#[test]
fn json_api_has_frankfurters_shape() {
    let s = TestServer::embedded();
    let j: serde_json::Value =
        serde_json::from_str(&get(&format!("{}/2001-02-03?from=EUR&to=USD,JPY", s.base)).body)
            .unwrap();
    assert_eq!(
        j,
        serde_json::json!({"amount": 1.0, "base": "EUR", "date": "2001-02-02", "rates": {"JPY": 108.43, "USD": 0.9407}})
    );
    let r = get(&format!(
        "{}/v1/latest?base=USD&symbols=EUR&amount=100",
        s.base
    ));
    let j: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(j["date"], "2026-10-30");
    assert_eq!(j["rates"]["EUR"], fxrates::number::round(100.0 / 1.1172));
    let j: serde_json::Value =
        serde_json::from_str(&get(&format!("{}/latest", s.base)).body).unwrap();
    assert_eq!(j["rates"].as_object().unwrap().len(), 29);
    let j: serde_json::Value =
        serde_json::from_str(&get(&format!("{}/2026-10-24..2026-10-31?to=USD", s.base)).body)
            .unwrap();
    assert_eq!(
        (j["start_date"].as_str(), j["end_date"].as_str()),
        (Some("2026-10-26"), Some("2026-10-30"))
    );
    assert_eq!(j["rates"]["2026-10-30"]["USD"], 1.1172);
    let j: serde_json::Value =
        serde_json::from_str(&get(&format!("{}/2026-10-29..?to=GBP", s.base)).body).unwrap();
    assert_eq!(j["rates"].as_object().unwrap().len(), 2);
    let j: serde_json::Value = serde_json::from_str(
        &get(&format!(
            "{}/v1/convert?from=USD&to=EUR&amount=100&date=2001-02-03",
            s.base
        ))
        .body,
    )
    .unwrap();
    assert_eq!(
        j,
        serde_json::json!({"amount": 100.0, "from": "USD", "to": "EUR", "date": "2001-02-02", "rate": 1.063038163, "result": 106.3038163})
    );
    let j: serde_json::Value =
        serde_json::from_str(&get(&format!("{}/v1/currencies", s.base)).body).unwrap();
    assert_eq!(j["DEM"], "German Mark");
    let r = request(
        "GET",
        &format!("{}/currencies", s.base),
        &[("Accept", "application/json")],
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn every_error_class_is_a_4xx_naming_the_bad_part() {
    let s = TestServer::embedded();
    let cases: &[(&str, u16, &str)] = &[
        (
            "/getrate/2001-02-30/EUR/USD",
            400,
            "malformed date '2001-02-30' (expected YYYY-MM-DD)\n",
        ),
        (
            "/getrate/2001-02-03/EUR/XXX",
            404,
            "unknown currency 'XXX'\n",
        ),
        (
            "/getrate/2001-02-03/EU/USD",
            400,
            "malformed source currency 'EU' (expected a three-letter code)\n",
        ),
        (
            "/getrate/1998-12-31/EUR/USD",
            404,
            "no rates before 1999-01-04 (asked for 1998-12-31)\n",
        ),
        (
            "/getrate/2005-01-03/EUR/BRL",
            404,
            "BRL has no rate before 2008-01-02 (asked for 2005-01-03)\n",
        ),
        (
            "/getrate/2023-01-02/RUB/EUR",
            404,
            "RUB was discontinued: its last rate is of 2022-03-01 (asked for 2023-01-02)\n",
        ),
        (
            "/getrange/2020-02-01/2020-01-01/EUR/USD",
            400,
            "range reversed: 2020-01-01 is before 2020-02-01\n",
        ),
        (
            "/getrange/1999-01-04/2026-01-01/EUR/USD",
            400,
            "range too long: 9859 days from 1999-01-04 to 2026-01-01 (at most 3660)\n",
        ),
        ("/nowhere", 404, "no such endpoint '/nowhere' (see /docs)\n"),
    ];
    for (path, status, body) in cases {
        let r = get(&format!("{}{path}", s.base));
        assert_eq!((r.status, r.body.as_str()), (*status, *body), "{path}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    let json: &[(&str, u16, &str)] = &[
        (
            "/latest?amount=-5",
            400,
            "amount '-5' is not a positive number",
        ),
        (
            "/latest?amount=0",
            400,
            "amount '0' is not a positive number",
        ),
        ("/latest?from=QQQ", 404, "unknown currency 'QQQ'"),
        (
            "/2001-02-31",
            400,
            "malformed date '2001-02-31' (expected YYYY-MM-DD)",
        ),
        (
            "/2020-01-01..2019-01-01",
            400,
            "range reversed: 2019-01-01 is before 2020-01-01",
        ),
        (
            "/v1/convert?from=USD&amount=1",
            400,
            "missing parameter 'to'",
        ),
    ];
    for (path, status, message) in json {
        let r = get(&format!("{}{path}", s.base));
        assert_eq!(r.status, *status, "{path}");
        let j: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(j, serde_json::json!({ "message": message }), "{path}");
    }
    let r = request("POST", &format!("{}/getlatest/EUR", s.base), &[]);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
}

#[test]
fn caching_headers_and_revalidation() {
    let s = TestServer::embedded();
    let url = format!("{}/getrate/2001-02-03/EUR/USD", s.base);
    let r = get(&url);
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=86400, immutable")
    );
    assert_eq!(
        r.header("last-modified"),
        Some("Fri, 30 Oct 2026 15:00:00 GMT")
    );
    let etag = r.header("etag").unwrap().to_string();
    let again = request("GET", &url, &[("If-None-Match", &etag)]);
    assert_eq!((again.status, again.body.as_str()), (304, ""));
    let since = request(
        "GET",
        &url,
        &[("If-Modified-Since", "Sat, 31 Oct 2026 00:00:00 GMT")],
    );
    assert_eq!(since.status, 304);
    let older = request(
        "GET",
        &url,
        &[("If-Modified-Since", "Thu, 29 Oct 2026 00:00:00 GMT")],
    );
    assert_eq!(older.status, 200);
    let other = request("GET", &url, &[("If-None-Match", "\"0000\"")]);
    assert_eq!(other.status, 200);
    let latest = get(&format!("{}/getlatest/EUR", s.base));
    assert_eq!(latest.header("cache-control"), Some("public, max-age=300"));
    let head = request("HEAD", &url, &[]);
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[test]
fn health_metrics_openapi_and_docs() {
    let s = TestServer::embedded();
    let h: serde_json::Value =
        serde_json::from_str(&get(&format!("{}/healthz", s.base)).body).unwrap();
    assert_eq!(
        (h["status"].as_str(), h["last_date"].as_str()),
        (Some("ok"), Some("2026-10-30"))
    );
    get(&format!("{}/getrate/2001-02-03/EUR/USD", s.base));
    get(&format!("{}/getrate/2001-02-03/EUR/XXX", s.base));
    let m = get(&format!("{}/metrics", s.base));
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(
        m.body
            .contains("fxrates_http_requests_total{route=\"getrate\",status=\"2xx\"} 1\n"),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("fxrates_http_requests_total{route=\"getrate\",status=\"4xx\"} 1\n")
    );
    assert!(
        m.body
            .contains("fxrates_data_last_date_seconds 1793318400\n")
    );
    let spec: serde_json::Value =
        serde_json::from_str(&get(&format!("{}/openapi.json", s.base)).body).unwrap();
    assert_eq!(spec["info"]["title"], "fxrates");
    assert!(spec["paths"]["/getrate/{date}/{from}/{to}"]["get"].is_object());
    let docs = get(&format!("{}/docs", s.base));
    assert!(
        docs.body
            .contains("GET /getrange/{fromdate}/{todate}/{from}/{to}")
    );
}

#[test]
fn the_page_converts_without_script() {
    let s = TestServer::embedded();
    let r = get(&format!(
        "{}/?amount=100&from=USD&to=EUR&date=2001-02-03",
        s.base
    ));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.body.contains("100 USD = 106.3038163 EUR"));
    assert!(!r.body.contains("://cdn") && !r.body.contains("<script src"));
}
