//! Shared helpers for the tests that need Debian packages and QEMU.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pivirt::kernel::apt::Cache;

/// The package cache `scripts/setup-pivirt` fills (or `$PIVIRT_CACHE`).
pub fn cache() -> Cache {
    let dir = std::env::var_os("PIVIRT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/pivirt-test"));
    let c = Cache { dir };
    for (prefix, arch) in [
        ("busybox-static_", "armhf"),
        ("busybox-static_", "arm64"),
        ("linux-image-", "armhf"),
        ("linux-image-", "arm64"),
    ] {
        assert!(
            c.find(prefix, arch).is_some(),
            "no {prefix}*_{arch}.deb in {}: run scripts/setup-pivirt as root (it downloads the Debian packages the tests boot)",
            c.debs().display()
        );
    }
    c
}

/// Fail with the package to install when a program is missing.
pub fn need(program: &str, package: &str) {
    assert!(
        pivirt::tools::have(program),
        "{program} not found: install {package} (scripts/setup-pivirt installs it)"
    );
}

/// SHA-256 of a file (coreutils `sha256sum`).
pub fn sha256(p: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum (coreutils)");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
