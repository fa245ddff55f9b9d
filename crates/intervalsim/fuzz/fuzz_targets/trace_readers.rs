//! Feed arbitrary bytes to both trace readers: they may return errors, never panic.
//! Run with `cargo +nightly fuzz run trace_readers` from `crates/intervalsim`.
#![no_main]

use intervalsim::frontend::{Instr, InstrStream, champsim, compact};
use libfuzzer_sys::fuzz_target;

fn drain(s: &mut dyn InstrStream) {
    let mut buf = vec![Instr::default(); 64];
    while let Ok(n) = s.fill(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    drain(&mut champsim::ChampSimReader::new(data, "fuzz"));
    // As a compact trace: the raw bytes, and the bytes as a zstd-compressed record stream
    if let Ok(mut r) = compact::CompactReader::new(std::io::Cursor::new(data.to_vec()), "fuzz") {
        drain(&mut r);
    }
    // behind a valid header, once per format version read.
    if let Ok(body) = zstd_frame(data) {
        for version in compact::VERSIONS {
            let mut file = Vec::new();
            file.extend_from_slice(compact::MAGIC);
            file.extend_from_slice(&version.to_le_bytes());
            file.extend_from_slice(&[0; 6]);
            file.extend_from_slice(&(data.len() as u64 / 4).to_le_bytes());
            file.extend_from_slice(&[0; 8]);
            file.extend_from_slice(&body);
            if let Ok(mut r) = compact::CompactReader::new(std::io::Cursor::new(file), "fuzz") {
                drain(&mut r);
            }
        }
    }
});

fn zstd_frame(data: &[u8]) -> std::io::Result<Vec<u8>> {
    zstd::stream::encode_all(data, 1)
}
