//! The CSV reader must never panic: any bytes give a list or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(systems) = top500::read::csv::parse(data, "fuzz.csv") {
        for s in &systems {
            // The record invariant holds for whatever was accepted.
            assert!(s.rank() >= 1);
            assert!(s.rmax().tflops() > 0.0 && s.rmax().tflops().is_finite());
            assert!(s.rpeak().tflops() > 0.0 && s.rpeak().tflops().is_finite());
            let _ = s.label();
        }
    }
});
