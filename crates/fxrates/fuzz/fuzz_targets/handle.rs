//! Fuzzes the whole request surface: arbitrary method, path, query and headers through
//! `Service::handle`. Every answer must be 2xx, 304, 400, 404 or 405, and never a panic.

#![no_main]

use fxrates::api::{Incoming, Service};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn service() -> &'static Service {
    static S: OnceLock<Service> = OnceLock::new();
    S.get_or_init(|| Service::new(fxrates::Table::embedded(), fxrates::Config { max_range_days: 400, ..Default::default() }))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Fields separated by '\n': path, query, accept, if-none-match, if-modified-since, method.
    let mut parts = text.split('\n');
    let path = parts.next().unwrap_or("");
    let query = parts.next();
    let accept = parts.next();
    let if_none_match = parts.next();
    let if_modified_since = parts.next();
    let method = parts.next().unwrap_or("GET");
    let reply = service().handle(&Incoming { method, path, query, accept, if_none_match, if_modified_since });
    assert!(matches!(reply.status, 200 | 304 | 400 | 404 | 405), "status {} for {text:?}", reply.status);
    assert!(reply.status != 200 || !reply.body.is_empty() || method == "HEAD");
});
