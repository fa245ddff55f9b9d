//! Sniffing plus every reader (CSV, Excel, XML) must never panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = top500::read::read_bytes(data, "fuzz", None);
});
