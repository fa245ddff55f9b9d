//! Bad input: truncated or corrupt traces and nonsense configurations give errors that name
//! the record, byte offset or key — never a panic.

use intervalsim::frontend::synthetic::Workload;
use intervalsim::frontend::{self, Instr, InstrStream, champsim, collect, compact};
use proptest::prelude::*;
use std::io::Write;
use std::process::Command;

fn drain(s: &mut dyn InstrStream) -> Result<usize, frontend::TraceError> {
    let mut buf = vec![Instr::default(); 256];
    let mut total = 0;
    loop {
        let n = s.fill(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}

#[test]
fn truncated_gzip_champsim_trace_names_record_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.champsimtrace.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let v = collect(&mut Workload::Alu.stream(1), 10).unwrap();
    for i in &v {
        enc.write_all(&champsim::encode(i)).unwrap();
    }
    enc.write_all(&[1, 2, 3]).unwrap();
    std::fs::write(&path, enc.finish().unwrap()).unwrap();
    let mut r = frontend::open_trace(&path).unwrap();
    let e = drain(&mut *r).unwrap_err().to_string();
    assert!(
        e.contains("record 10") && e.contains("byte offset 640"),
        "{e}"
    );
}

#[test]
fn corrupt_compact_trace_names_record_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.ist");
    let n = frontend::write_trace(
        &good,
        &mut Workload::Matmul { n: 16, block: 4 }.stream(1),
        5_000,
    )
    .unwrap();
    assert_eq!(n, 5_000);
    // Cut the compressed stream short.
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.ist");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = drain(&mut *frontend::open_trace(&cut).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cut.ist"), "{e}");
    // A version from the future.
    let mut future = bytes.clone();
    future[8] = 9;
    let fut = dir.path().join("future.ist");
    std::fs::write(&fut, &future).unwrap();
    let e = frontend::open_trace(&fut).err().unwrap().to_string();
    assert!(e.contains("version 9") && e.contains("offset 8"), "{e}");
    // An undefined instruction class inside version 1 records: encode a record stream by hand.
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    enc.write_all(&[0x10, 4, 0, 0x1f, 4, 0]).unwrap();
    let mut file = bytes[..32].to_vec();
    file[8..10].copy_from_slice(&1u16.to_le_bytes());
    file[16..24].copy_from_slice(&2u64.to_le_bytes());
    file.extend(enc.finish().unwrap());
    let bad = dir.path().join("bad.ist");
    std::fs::write(&bad, &file).unwrap();
    let e = drain(&mut *frontend::open_trace(&bad).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("record 1") && e.contains("byte offset 35") && e.contains("class 15"),
        "{e}"
    );
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let e = frontend::open_trace(std::path::Path::new("/nonexistent/x.trace"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("/nonexistent/x.trace"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn champsim_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let mut r = champsim::ChampSimReader::new(&bytes[..], "fuzz");
        let _ = drain(&mut r);
    }

    #[test]
    fn compact_reader_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400), count in 0u64..50) {
        let mut file = Vec::new();
        file.extend_from_slice(compact::MAGIC);
        file.extend_from_slice(&compact::VERSION.to_le_bytes());
        file.extend_from_slice(&[0; 6]);
        file.extend_from_slice(&count.to_le_bytes());
        file.extend_from_slice(&[0; 8]);
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.write_all(&body).unwrap();
        file.extend(enc.finish().unwrap());
        if let Ok(mut r) = compact::CompactReader::new(std::io::Cursor::new(file), "fuzz") {
            let _ = drain(&mut r);
        }
    }
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_intervalsim"))
        .args(args)
        .output()
        .expect("run the intervalsim binary")
}

#[test]
fn nonsense_configuration_is_rejected_naming_the_key() {
    for (o, key) in [
        ("l1d.ways=0", "l1d.ways"),
        ("l2.size=100KiB", "l2.size"),
        ("l3.latency=-5", "l3.latency"),
        ("l1d.colour=blue", "valid keys"),
    ] {
        let out = cli(&["run", "-q", "-w", "alu", "-n", "1000", "-o", o]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{o}: {err}");
    }
}
