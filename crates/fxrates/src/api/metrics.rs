//! Service counters in the Prometheus text format, kept in atomics (no locks on the request
//! path; the update status is behind a mutex that only the updater and `/metrics` touch).

use crate::rates::Table;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

const ROUTES: [&str; 14] = [
    "getrate",
    "getlatest",
    "getrange",
    "currencies",
    "json_rates",
    "json_range",
    "json_currencies",
    "convert",
    "page",
    "docs",
    "openapi",
    "healthz",
    "metrics",
    "invalid",
];
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];
/// Latency bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25, 1.0,
];

/// The outcome of the last update attempt.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UpdateStatus {
    /// Unix seconds of the last attempt (0: never).
    pub last_attempt: i64,
    /// Unix seconds of the last success.
    pub last_success: i64,
    /// `ok`, `unchanged` or `error`.
    pub result: &'static str,
    /// Failed attempts since start.
    pub failures: u64,
    /// The reason of the last failure.
    pub last_error: String,
}

/// All counters.
pub struct Metrics {
    requests: [[AtomicU64; 4]; ROUTES.len()],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
    first_day: AtomicI64,
    last_day: AtomicI64,
    modified: AtomicI64,
    update: Mutex<UpdateStatus>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
            first_day: AtomicI64::new(0),
            last_day: AtomicI64::new(0),
            modified: AtomicI64::new(0),
            update: Mutex::new(UpdateStatus::default()),
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn observe(&self, route: &str, status: u16, took: Duration) {
        let r = ROUTES
            .iter()
            .position(|x| *x == route)
            .unwrap_or(ROUTES.len() - 1);
        let c = usize::from((status / 100).clamp(2, 5) - 2);
        self.requests[r][c].fetch_add(1, Relaxed);
        let secs = took.as_secs_f64();
        if let Some(b) = BUCKETS.iter().position(|&ub| secs <= ub) {
            self.buckets[b].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos
            .fetch_add(took.as_nanos().min(u128::from(u64::MAX)) as u64, Relaxed);
    }

    /// Records the data now served.
    pub fn set_data(&self, table: &Table) {
        self.first_day
            .store(i64::from(table.first_day().0) * 86_400, Relaxed);
        self.last_day
            .store(i64::from(table.last_day().0) * 86_400, Relaxed);
        self.modified.store(table.modified(), Relaxed);
    }

    /// Records an update attempt.
    pub fn set_update(&self, f: impl FnOnce(&mut UpdateStatus)) {
        let mut s = self.update.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
    }

    /// The last update status.
    pub fn update_status(&self) -> UpdateStatus {
        self.update
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Requests counted so far for a route and status class (`"2xx"` …).
    pub fn requests(&self, route: &str, class: &str) -> u64 {
        match (
            ROUTES.iter().position(|x| *x == route),
            CLASSES.iter().position(|x| *x == class),
        ) {
            (Some(r), Some(c)) => self.requests[r][c].load(Relaxed),
            _ => 0,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(4096);
        o.push_str("# HELP fxrates_http_requests_total HTTP requests answered, by endpoint and status class.\n");
        o.push_str("# TYPE fxrates_http_requests_total counter\n");
        for (r, route) in ROUTES.iter().enumerate() {
            for (c, class) in CLASSES.iter().enumerate() {
                let n = self.requests[r][c].load(Relaxed);
                let _ = writeln!(
                    o,
                    "fxrates_http_requests_total{{route=\"{route}\",status=\"{class}\"}} {n}"
                );
            }
        }
        o.push_str("# HELP fxrates_http_request_duration_seconds Time to compute an answer.\n");
        o.push_str("# TYPE fxrates_http_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (b, ub) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[b].load(Relaxed);
            let _ = writeln!(
                o,
                "fxrates_http_request_duration_seconds_bucket{{le=\"{ub}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(
            o,
            "fxrates_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            o,
            "fxrates_http_request_duration_seconds_sum {}",
            self.sum_nanos.load(Relaxed) as f64 / 1e9
        );
        let _ = writeln!(o, "fxrates_http_request_duration_seconds_count {count}");
        let gauges = [
            (
                "fxrates_data_first_date_seconds",
                "First publication day served (Unix time, midnight UTC).",
                self.first_day.load(Relaxed),
            ),
            (
                "fxrates_data_last_date_seconds",
                "Last publication day served (Unix time, midnight UTC).",
                self.last_day.load(Relaxed),
            ),
            (
                "fxrates_data_modified_seconds",
                "When the served data last changed (Unix time).",
                self.modified.load(Relaxed),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let u = self.update_status();
        let _ = writeln!(
            o,
            "# HELP fxrates_update_last_attempt_seconds Last update attempt (Unix time, 0 = never).\n# TYPE fxrates_update_last_attempt_seconds gauge\nfxrates_update_last_attempt_seconds {}",
            u.last_attempt
        );
        let _ = writeln!(
            o,
            "# HELP fxrates_update_last_success_seconds Last successful update (Unix time, 0 = never).\n# TYPE fxrates_update_last_success_seconds gauge\nfxrates_update_last_success_seconds {}",
            u.last_success
        );
        let _ = writeln!(
            o,
            "# HELP fxrates_update_failures_total Failed update attempts.\n# TYPE fxrates_update_failures_total counter\nfxrates_update_failures_total {}",
            u.failures
        );
        o.push_str("# HELP fxrates_update_last_result Outcome of the last update attempt (1 for the current one).\n# TYPE fxrates_update_last_result gauge\n");
        for r in ["ok", "unchanged", "error", "never"] {
            let current = if u.result.is_empty() {
                "never"
            } else {
                u.result
            };
            let _ = writeln!(
                o,
                "fxrates_update_last_result{{result=\"{r}\"}} {}",
                u8::from(current == r)
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders() {
        let m = Metrics::default();
        m.observe("getrate", 200, Duration::from_micros(30));
        m.observe("getrate", 404, Duration::from_micros(30));
        m.observe("nonsense", 304, Duration::from_secs(3));
        assert_eq!(m.requests("getrate", "2xx"), 1);
        assert_eq!(m.requests("invalid", "3xx"), 1);
        let text = m.render();
        assert!(text.contains("fxrates_http_requests_total{route=\"getrate\",status=\"4xx\"} 1\n"));
        assert!(text.contains("fxrates_http_request_duration_seconds_bucket{le=\"0.00005\"} 2\n"));
        assert!(text.contains("fxrates_http_request_duration_seconds_count 3\n"));
        assert!(text.contains("fxrates_update_last_result{result=\"never\"} 1\n"));
    }
}
