//! The updater against a local HTTP server on 127.0.0.1 serving fixture files: a good feed is
//! merged, persisted and swapped in; truncated, garbage, 500 and slow downloads change nothing.

use fxrates::update::{self, Outcome, Source, TABLE_FILE};
use fxrates::{Config, Day, Service, Table};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

const DAILY: &str = include_str!("../fixtures/eurofxref-daily.xml");
const NINETY: &str = include_str!("../fixtures/eurofxref-hist-90d.xml");

/// Serves fixed responses by path until dropped (bounded: at most 64 connections).
struct FixtureServer {
    base: String,
}

fn respond(mut stream: std::net::TcpStream) {
    let mut buf = [0u8; 2048];
    let n = stream.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let ok = |body: &[u8]| {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    let reply: Vec<u8> = match path.as_str() {
        "/good/eurofxref-daily.xml" => ok(DAILY.as_bytes()),
        "/good/eurofxref-hist-90d.xml" => ok(NINETY.as_bytes()),
        "/good/eurofxref-hist.zip" => ok(&std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/eurofxref-hist.zip")).unwrap()),
        "/truncated.xml" => ok(&DAILY.as_bytes()[..DAILY.len() / 2]),
        "/truncated.zip" => {
            let zip = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/eurofxref-hist.zip")).unwrap();
            ok(&zip[..zip.len() / 2])
        }
        "/garbage" => ok(b"\x89PNG\r\n\x1a\n not a feed at all"),
        "/html" => ok(b"<html><body>Maintenance</body></html>"),
        "/error" => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops".to_vec(),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(3));
            ok(DAILY.as_bytes())
        }
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    let _ = stream.write_all(&reply);
}

impl FixtureServer {
    fn start() -> FixtureServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(64).flatten() {
                std::thread::spawn(move || respond(stream));
            }
        });
        FixtureServer { base }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn day(s: &str) -> Day {
    Day::parse(s).unwrap()
}

#[test]
fn good_feeds_merge_persist_and_swap() {
    let fixtures = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let service = Arc::new(Service::new(Table::embedded(), Config::default()));
    let before = service.current();
    let url = format!("{}/good/eurofxref-daily.xml", fixtures.base);
    let out = rt().block_on(update::run_once(
        service.clone(),
        Source::Url(url.clone()),
        Some(dir.path().into()),
        Duration::from_secs(5),
    ));
    assert_eq!(out.unwrap(), Outcome::Updated(day("2026-11-02")));
    // Readers that held the old table keep it intact; new readers see the new one.
    assert_eq!(before.table.last_day(), day("2026-10-30"));
    let now = service.current();
    assert_eq!(now.table.last_day(), day("2026-11-02"));
    assert_eq!(now.table.rate("EUR", "USD", None).unwrap().value, 1.1201);
    let reply = service.handle(&fxrates::api::Incoming {
        method: "GET",
        path: "/getlatest/EUR/JPY",
        ..Default::default()
    });
    assert_eq!(String::from_utf8(reply.body).unwrap(), "176.1");
    // Persisted: a fresh load from the data dir sees it.
    let (loaded, warning) = update::load(Some(dir.path()));
    assert_eq!((loaded.last_day(), warning), (day("2026-11-02"), None));
    // The same feed again changes nothing.
    let again = rt().block_on(update::run_once(
        service.clone(),
        Source::Url(url),
        Some(dir.path().into()),
        Duration::from_secs(5),
    ));
    assert_eq!(again.unwrap(), Outcome::Unchanged(day("2026-11-02")));
    // The 90-day feed adds the next day; the full history zip adds nothing new.
    let ninety = format!("{}/good/eurofxref-hist-90d.xml", fixtures.base);
    let out = rt().block_on(update::run_once(
        service.clone(),
        Source::Url(ninety),
        Some(dir.path().into()),
        Duration::from_secs(5),
    ));
    assert_eq!(out.unwrap(), Outcome::Updated(day("2026-11-03")));
    let zip = format!("{}/good/eurofxref-hist.zip", fixtures.base);
    let out = rt().block_on(update::run_once(
        service.clone(),
        Source::Url(zip),
        Some(dir.path().into()),
        Duration::from_secs(10),
    ));
    assert_eq!(out.unwrap(), Outcome::Unchanged(day("2026-11-03")));
    let status = service.metrics.update_status();
    assert_eq!((status.result, status.failures), ("unchanged", 0));
}

#[test]
fn bad_downloads_change_nothing_and_say_why() {
    let fixtures = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let service = Arc::new(Service::new(Table::embedded(), Config::default()));
    let version = service.current().table.version();
    let cases = [
        ("/truncated.xml", "truncated"),
        ("/truncated.zip", "zip"),
        ("/garbage", "is malformed: not UTF-8"),
        ("/html", "no dated rates"),
        ("/error", "HTTP status 500"),
        ("/slow", "timed out"),
        ("/missing", "HTTP status 404"),
    ];
    for (i, (path, reason)) in cases.iter().enumerate() {
        let url = format!("{}{path}", fixtures.base);
        let err = rt()
            .block_on(update::run_once(
                service.clone(),
                Source::Url(url),
                Some(dir.path().into()),
                Duration::from_secs(1),
            ))
            .unwrap_err()
            .to_string();
        assert!(
            err.to_lowercase().contains(&reason.to_lowercase()),
            "{path}: {err}"
        );
        assert_eq!(
            service.current().table.version(),
            version,
            "{path} changed the table"
        );
        assert!(
            !dir.path().join(TABLE_FILE).exists(),
            "{path} wrote the data dir"
        );
        let status = service.metrics.update_status();
        assert_eq!((status.result, status.failures), ("error", i as u64 + 1));
        assert_eq!(status.last_error, err);
    }
    assert!(
        service
            .metrics
            .render()
            .contains("fxrates_update_failures_total 7\n")
    );
}
