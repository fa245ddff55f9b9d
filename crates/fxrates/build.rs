//! Precompiles the embedded ECB history: unzips `data/eurofxref-hist.zip`, parses the CSV with
//! the library's own parser and writes the compact binary table that `src/rates.rs` embeds.

use std::io::Read;
use std::path::PathBuf;

#[allow(dead_code)]
#[path = "src/calendar.rs"]
mod calendar;
#[allow(dead_code)]
#[path = "src/store.rs"]
mod store;

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let zip_path = manifest.join("data/eurofxref-hist.zip");
    println!("cargo::rerun-if-changed={}", zip_path.display());
    println!("cargo::rerun-if-changed=src/store.rs");
    println!("cargo::rerun-if-changed=src/calendar.rs");
    let file = std::fs::File::open(&zip_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", zip_path.display()));
    let mut archive = zip::ZipArchive::new(file)
        .unwrap_or_else(|e| panic!("{} is not a zip archive: {e}", zip_path.display()));
    let mut csv = String::new();
    archive
        .by_name("eurofxref-hist.csv")
        .unwrap_or_else(|e| panic!("{} has no eurofxref-hist.csv: {e}", zip_path.display()))
        .read_to_string(&mut csv)
        .unwrap_or_else(|e| panic!("cannot read eurofxref-hist.csv: {e}"));
    let history =
        store::History::from_ecb_csv(&csv).unwrap_or_else(|e| panic!("eurofxref-hist.csv: {e}"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("ecb-hist.fxr");
    std::fs::write(&out, history.encode())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
