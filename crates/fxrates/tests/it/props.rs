//! Property tests over request parsing and the handlers: no input yields a 5xx or a panic, and
//! valid questions obey the date rule and the printing rule.

use fxrates::api::{Incoming, Service};
use fxrates::{Config, Day, Table};
use proptest::prelude::*;
use std::sync::OnceLock;

fn service() -> &'static Service {
    static S: OnceLock<Service> = OnceLock::new();
    S.get_or_init(|| Service::new(Table::embedded(), Config::default()))
}

const CODES: &[&str] = &[
    "EUR", "USD", "JPY", "GBP", "CHF", "ISK", "RUB", "BRL", "TRL", "CYP", "HRK", "BGN", "DEM",
    "GRD", "ITL", "usd", "XXX", "U1D", "",
];

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(CODES).prop_map(str::to_string),
        (1995i32..2032, 0u32..14, 0u32..33).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        "[ -~]{0,12}",
        Just("..".to_string()),
        Just("getrate".to_string()),
        Just("getrange".to_string()),
        Just("latest".to_string()),
        Just("v1".to_string()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 0..6).prop_map(|s| format!("/{}", s.join("/")))
}

fn query() -> impl Strategy<Value = Option<String>> {
    let key = prop::sample::select(&["from", "to", "base", "symbols", "amount", "date", "x"][..]);
    let value = prop_oneof![
        segment(),
        "-?[0-9]{0,4}(\\.[0-9]{0,3})?(e[0-9]{1,3})?".prop_map(|s| s.to_string()),
        "[%+,a-z0-9]{0,10}"
    ];
    prop::option::of(prop::collection::vec((key, value), 0..5).prop_map(|kv| {
        kv.into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_request_gives_a_5xx_or_a_panic(
        p in prop_oneof![path(), "[ -~]{0,40}"],
        q in query(),
        method in prop::sample::select(&["GET", "HEAD", "POST", "get"][..]),
        inm in prop::option::of("[ -~]{0,20}"),
        ims in prop::option::of("[ -~]{0,30}"),
    ) {
        let reply = service().handle(&Incoming { method, path: &p, query: q.as_deref(), accept: None, if_none_match: inm.as_deref(), if_modified_since: ims.as_deref() });
        prop_assert!(matches!(reply.status, 200 | 304 | 400 | 404 | 405), "status {} for {p} ? {q:?}", reply.status);
        if reply.status >= 400 {
            let body = String::from_utf8(reply.body.clone()).unwrap();
            prop_assert!(method == "HEAD" || !body.trim().is_empty());
            prop_assert_eq!(body.trim_end().lines().count() <= 1, true);
        }
    }

    #[test]
    fn getrate_uses_the_last_publication_day_and_prints_by_the_rule(
        days in 0i32..10_600,
        from in prop::sample::select(&CODES[..15]),
        to in prop::sample::select(&CODES[..15]),
    ) {
        let table = &service().current().table;
        let asked = Day(Day::parse("1999-01-04").unwrap().0 + days);
        let reply = service().handle(&Incoming { method: "GET", path: &format!("/getrate/{asked}/{from}/{to}"), ..Default::default() });
        let body = String::from_utf8(reply.body.clone()).unwrap();
        match table.rate(from, to, Some(asked)) {
            Ok(q) => {
                prop_assert_eq!(reply.status, 200);
                // Never a later day; no publication day between the one used and the one asked.
                prop_assert!(q.day <= asked);
                let next = table.days_between(q.day.offset(1), asked);
                prop_assert!(next.is_empty(), "skipped a publication day before {}", asked);
                prop_assert_eq!(reply.header("X-Rate-Date").map(str::to_string), Some(q.day.to_string()));
                let printed: f64 = body.parse().unwrap();
                prop_assert!(((printed - q.value) / q.value).abs() <= 5e-10);
                let back = table.rate(to, from, Some(asked)).unwrap().value;
                prop_assert!((q.value * back - 1.0).abs() < 1e-12);
            }
            Err(e) => {
                prop_assert_eq!(reply.status, 404);
                prop_assert_eq!(body, format!("{e}\n"));
            }
        }
    }

    #[test]
    fn dates_round_trip_through_text(y in 1i32..=9999, m in 1u32..=12, d in 1u32..=31) {
        match Day::from_ymd(y, m, d) {
            Some(day) => prop_assert_eq!(Day::parse(&day.to_string()).unwrap(), day),
            None => {
                let text = format!("{y:04}-{m:02}-{d:02}");
                prop_assert!(Day::parse(&text).is_err());
            }
        }
    }
}
