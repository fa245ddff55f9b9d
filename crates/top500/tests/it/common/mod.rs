//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::path::PathBuf;

/// The project's shared data folder: `<manifest>/../../../shared`.
pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// `shared/data/top500/<sub>`, checked to exist with a clear message.
pub fn top500_data(sub: &str) -> PathBuf {
    let dir = shared().join("data/top500").join(sub);
    assert!(
        dir.is_dir(),
        "{} is missing: the tests read the shared TOP500 exports",
        dir.display()
    );
    dir
}

/// Files of `shared/data/top500/<sub>`, sorted.
pub fn files(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(top500_data(sub))
        .expect("read shared dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    v.sort();
    v
}
