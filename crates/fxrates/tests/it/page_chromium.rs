//! The converter page in a real browser: Debian's headless Chromium loads the page with a
//! conversion in its query (what submitting the form does), the page's script converts through
//! `/v1/convert` and draws the chart from the JSON range API, and we read the resulting DOM.

use crate::common;
use common::TestServer;
use std::process::Command;

fn chromium() -> &'static str {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(candidate).exists() {
            return candidate;
        }
    }
    panic!(
        "headless Chromium is missing: install the Debian package `chromium` (listed in scripts/apt-packages)"
    );
}

fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-proxy-server",
            "--virtual-time-budget=10000",
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
            url,
        ])
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn chromium_submits_a_conversion_and_shows_result_and_chart() {
    let s = TestServer::embedded();
    let dom = dump_dom(&format!(
        "{}/?amount=100&from=usd&to=EUR&date=2001-02-03&span=30",
        s.base
    ));
    // The script replaced the server-rendered result with its own conversion.
    assert!(
        dom.contains("data-source=\"script\""),
        "the page script did not run:\n{dom}"
    );
    assert!(dom.contains("100 USD = 106.3038163 EUR"), "{dom}");
    assert!(dom.contains("rate 1.063038163 of 2001-02-02"), "{dom}");
    // The chart: one polyline over the publication days of the month before.
    let points: usize = dom
        .split("data-points=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no chart in:\n{dom}"));
    assert_eq!(points, 22, "publication days 2001-01-04 … 2001-02-02");
    assert!(dom.contains("<polyline"));
    // A bad conversion shows the service's message.
    let dom = dump_dom(&format!(
        "{}/?amount=1&from=RUB&to=EUR&date=2023-01-02",
        s.base
    ));
    assert!(
        dom.contains("RUB was discontinued: its last rate is of 2022-03-01"),
        "{dom}"
    );
}
