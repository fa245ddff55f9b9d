//! Getting Debian packages for a foreign architecture without root and without touching the
//! host's apt configuration: pivirt keeps a private apt state (sources list, indexes, empty
//! dpkg status) in its cache and runs `apt-get download` against it.
//!
//! Only the suites whose armhf/arm64 indexes download cleanly are listed (`bookworm`,
//! `bookworm-updates`), so `apt-get update` exits 0. Downloaded `.deb`s stay in `CACHE/debs`
//! and are reused; `scripts/setup-pivirt` fills the same layout for the test suite.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};

use crate::elf::Arch;
use crate::tools;

/// The package cache.
#[derive(Debug, Clone)]
pub struct Cache {
    /// Root of the cache (`$PIVIRT_CACHE`, else `$XDG_CACHE_HOME/pivirt`, else `~/.cache/pivirt`).
    pub dir: PathBuf,
}

/// The Debian kernel flavour and package architecture for a guest userland.
pub fn flavour_for(arch: Arch) -> Result<(&'static str, &'static str)> {
    match arch {
        Arch::Arm64 => Ok(("arm64", "arm64")),
        Arch::Armhf => Ok(("armmp-lpae", "armhf")),
        Arch::Armel => bail!(
            "armel (soft-float) images need an armel kernel; Debian's armmp-lpae kernel is armhf: give --kernel-deb"
        ),
        a => bail!("unknown architecture for a Pi guest: {a}"),
    }
}

const SOURCES: &str = "\
deb [arch=armhf,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [arch=armhf,arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
";

impl Cache {
    /// The default cache location.
    pub fn default_location() -> Self {
        let dir = std::env::var_os("PIVIRT_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("pivirt")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pivirt")))
            .unwrap_or_else(|| PathBuf::from("/tmp/pivirt-cache"));
        Cache { dir }
    }

    /// Where downloaded packages are kept.
    pub fn debs(&self) -> PathBuf {
        self.dir.join("debs")
    }

    /// The newest cached `.deb` whose file name starts with `prefix` and ends in `_ARCH.deb`.
    pub fn find(&self, prefix: &str, arch: &str) -> Option<PathBuf> {
        let mut hits: Vec<PathBuf> = fs::read_dir(self.debs())
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().map(|n| n.to_string_lossy().into_owned());
                n.is_some_and(|n| n.starts_with(prefix) && n.ends_with(&format!("_{arch}.deb")))
            })
            .collect();
        hits.sort_by_key(|a| version_key(a));
        hits.pop()
    }

    fn apt_args(&self) -> Vec<String> {
        let a = self.dir.join("apt");
        let o = |k: &str, v: &Path| vec!["-o".to_string(), format!("{k}={}", v.display())];
        let mut v = Vec::new();
        v.extend(o("Dir::State", &a));
        v.extend(o("Dir::State::Lists", &a.join("lists")));
        v.extend(o("Dir::State::status", &a.join("status")));
        v.extend(o("Dir::Cache", &a.join("cache")));
        v.extend(o("Dir::Etc::SourceList", &a.join("sources.list")));
        v.extend(o("Dir::Etc::SourceParts", Path::new("/nonexistent")));
        for kv in [
            "APT::Architecture=arm64",
            "APT::Architectures::=arm64",
            "APT::Architectures::=armhf",
            "Debug::NoLocking=1",
        ] {
            v.push("-o".into());
            v.push(kv.into());
        }
        if unsafe { libc::geteuid() } == 0 {
            v.push("-o".into());
            v.push("APT::Sandbox::User=root".into());
        }
        v
    }

    /// Refresh the private indexes when missing or older than a day.
    pub fn update(&self) -> Result<()> {
        let a = self.dir.join("apt");
        fs::create_dir_all(a.join("lists/partial"))?;
        fs::create_dir_all(a.join("cache/archives/partial"))?;
        if !a.join("status").exists() {
            fs::write(a.join("status"), "")?;
        }
        fs::write(a.join("sources.list"), SOURCES)?;
        let stamp = a.join("lists/.pivirt-updated");
        let fresh = fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .is_ok_and(|t| {
                SystemTime::now().duration_since(t).unwrap_or_default() < Duration::from_secs(86400)
            });
        if fresh {
            return Ok(());
        }
        let mut c = tools::command("apt-get", "apt")?;
        let out = c.args(self.apt_args()).arg("update").output()?;
        if !out.status.success() {
            bail!(
                "apt-get update (private pivirt indexes in {}) failed: {}",
                a.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        fs::write(stamp, "")?;
        Ok(())
    }

    /// The package a metapackage (`linux-image-arm64:arm64`) currently depends on.
    pub fn resolve_meta(&self, meta: &str) -> Result<String> {
        self.update()?;
        let mut c = tools::command("apt-cache", "apt")?;
        let out = c.args(self.apt_args()).args(["depends", meta]).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.trim().strip_prefix("Depends: linux-image-"))
            .map(|s| format!("linux-image-{}", s.split(':').next().unwrap_or(s)))
            .with_context(|| {
                format!("kernel package not found: {meta} names no linux-image dependency")
            })
    }

    /// Download `pkg:arch` into the cache (no-op when a matching file is already there).
    pub fn download(&self, pkg: &str, arch: &str) -> Result<PathBuf> {
        if let Some(p) = self.find(&format!("{pkg}_"), arch) {
            return Ok(p);
        }
        self.update()?;
        fs::create_dir_all(self.debs())?;
        let mut c = tools::command("apt-get", "apt")?;
        let out = c
            .current_dir(self.debs())
            .args(self.apt_args())
            .args(["download", &format!("{pkg}:{arch}")])
            .output()?;
        if !out.status.success() {
            bail!(
                "kernel package not found: apt-get download {pkg}:{arch}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        self.find(&format!("{pkg}_"), arch).with_context(|| {
            format!(
                "apt-get download {pkg}:{arch} left no .deb in {}",
                self.debs().display()
            )
        })
    }

    /// The kernel package for a guest: a cached one, or a download (`version` like `6.1.0-50`).
    pub fn kernel_deb(&self, arch: Arch, version: Option<&str>) -> Result<PathBuf> {
        let (flavour, darch) = flavour_for(arch)?;
        match version {
            Some(v) => self.download(&format!("linux-image-{v}-{flavour}"), darch),
            None => {
                if let Some(p) = self.find("linux-image-", darch).filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().contains(&format!("-{flavour}_")))
                }) {
                    return Ok(p);
                }
                let pkg = self.resolve_meta(&format!("linux-image-{flavour}:{darch}"))?;
                self.download(&pkg, darch)
            }
        }
    }

    /// Debian's `busybox-static` for the guest architecture.
    pub fn busybox_deb(&self, arch: Arch) -> Result<PathBuf> {
        let darch = match arch {
            Arch::Arm64 => "arm64",
            Arch::Armhf | Arch::Armel => "armhf",
            a => bail!("no busybox for architecture {a}"),
        };
        self.download("busybox-static", darch)
    }
}

/// Sort key: numeric runs compared as numbers, so `6.1.0-50` > `6.1.0-9`.
fn version_key(p: &Path) -> Vec<(u64, String)> {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut num = String::new();
    let mut txt = String::new();
    for ch in n.chars() {
        if ch.is_ascii_digit() {
            if !txt.is_empty() {
                out.push((0, std::mem::take(&mut txt)));
            }
            num.push(ch);
        } else {
            if !num.is_empty() {
                out.push((num.parse().unwrap_or(0), String::new()));
                num.clear();
            }
            txt.push(ch);
        }
    }
    if !num.is_empty() {
        out.push((num.parse().unwrap_or(0), String::new()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_newest_cached_kernel() {
        let t = tempfile::tempdir().unwrap();
        let c = Cache {
            dir: t.path().into(),
        };
        fs::create_dir_all(c.debs()).unwrap();
        for n in [
            "linux-image-6.1.0-9-arm64_6.1.27-1_arm64.deb",
            "linux-image-6.1.0-50-arm64_6.1.176-1_arm64.deb",
            "linux-image-6.1.0-50-armmp-lpae_6.1.176-1_armhf.deb",
        ] {
            fs::write(c.debs().join(n), "").unwrap();
        }
        let p = c.kernel_deb(Arch::Arm64, None).unwrap();
        assert!(p.ends_with("linux-image-6.1.0-50-arm64_6.1.176-1_arm64.deb"));
        let p = c.kernel_deb(Arch::Armhf, Some("6.1.0-50")).unwrap();
        assert!(p.to_string_lossy().contains("armmp-lpae"));
        assert!(flavour_for(Arch::Amd64).is_err());
    }
}
