//! Kernel module metadata without `depmod`: Debian's kernel packages ship no `modules.dep`
//! (depmod runs at install time), so each module's `.modinfo` ELF section is read instead
//! (`name=`, `depends=`, `softdep=`, `alias=`). From it come the closure the initramfs needs and
//! depmod-format text files for the guest.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::elf;

/// One module's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModInfo {
    /// Module name, underscores (`virtio_blk`).
    pub name: String,
    /// Path relative to `/lib/modules/VERSION` (`kernel/drivers/block/virtio_blk.ko.xz`).
    pub rel_path: String,
    /// Hard dependencies (module names).
    pub depends: Vec<String>,
    /// Soft dependencies loaded before (`softdep=pre: …`).
    pub softdep_pre: Vec<String>,
    /// Soft dependencies loaded after.
    pub softdep_post: Vec<String>,
    /// Aliases (`crc32c`, `virtio:d00000002v*`, …).
    pub aliases: Vec<String>,
}

/// Parse a `.modinfo` section: NUL-separated `key=value` strings.
pub fn parse_modinfo(section: &[u8], rel_path: &str) -> ModInfo {
    let mut m = ModInfo {
        rel_path: rel_path.to_string(),
        ..Default::default()
    };
    for raw in section.split(|&b| b == 0) {
        let s = String::from_utf8_lossy(raw);
        let Some((k, v)) = s.split_once('=') else {
            continue;
        };
        match k {
            "name" => m.name = v.to_string(),
            "depends" => m.depends = split_list(v, ','),
            "alias" => m.aliases.push(v.to_string()),
            "softdep" => {
                let mut side = None;
                for w in v.split_whitespace() {
                    match w {
                        "pre:" => side = Some(true),
                        "post:" => side = Some(false),
                        n => match side {
                            Some(true) => m.softdep_pre.push(norm(n)),
                            Some(false) => m.softdep_post.push(norm(n)),
                            None => {}
                        },
                    }
                }
            }
            _ => {}
        }
    }
    if m.name.is_empty() {
        m.name = module_name_of(rel_path);
    }
    m
}

fn split_list(v: &str, sep: char) -> Vec<String> {
    v.split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(norm)
        .collect()
}

/// Module names treat `-` and `_` alike; the canonical form uses `_`.
pub fn norm(name: &str) -> String {
    name.replace('-', "_")
}

/// `kernel/fs/ext4/ext4.ko.xz` → `ext4`.
pub fn module_name_of(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    norm(stem)
}

/// Read a module file, decompressing `.ko.xz` / `.ko.zst` / `.ko.gz`.
pub fn read_module(path: &Path) -> Result<Vec<u8>> {
    let raw = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.to_string_lossy();
    if ![".xz", ".zst", ".gz"].iter().any(|e| name.ends_with(e)) {
        return Ok(raw);
    }
    read_module_bytes(&raw, &name).with_context(|| format!("cannot decompress {}", path.display()))
}

/// [`read_module`] on bytes already read from a file called `name`.
pub fn read_module_bytes(raw: &[u8], name: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if name.ends_with(".xz") {
        xz2::read::XzDecoder::new(raw).read_to_end(&mut out)?;
    } else if name.ends_with(".zst") {
        zstd::stream::read::Decoder::new(raw)?.read_to_end(&mut out)?;
    } else if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(raw).read_to_end(&mut out)?;
    } else {
        return Ok(raw.to_vec());
    }
    Ok(out)
}

/// All modules of one kernel version, plus its built-in list.
#[derive(Debug, Clone, Default)]
pub struct ModuleIndex {
    /// `/lib/modules/VERSION` on the host (extracted package).
    pub dir: PathBuf,
    /// Module name → metadata.
    pub modules: BTreeMap<String, ModInfo>,
    /// Names built into the kernel (`modules.builtin`).
    pub builtin: BTreeSet<String>,
}

impl ModuleIndex {
    /// Scan `dir` (a `lib/modules/VERSION` tree), reading every module's `.modinfo`.
    pub fn scan(dir: &Path) -> Result<Self> {
        let mut idx = ModuleIndex {
            dir: dir.to_path_buf(),
            ..Default::default()
        };
        if let Ok(text) = fs::read_to_string(dir.join("modules.builtin")) {
            idx.builtin = text
                .lines()
                .filter(|l| !l.is_empty())
                .map(module_name_of)
                .collect();
        }
        let mut stack = vec![dir.join("kernel")];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd {
                let e = e?;
                let p = e.path();
                if e.file_type()?.is_dir() {
                    stack.push(p);
                } else if p.to_string_lossy().contains(".ko") {
                    files.push(p);
                }
            }
        }
        use rayon::prelude::*;
        let infos: Vec<Result<ModInfo>> = files
            .par_iter()
            .map(|p| {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned();
                let bytes = read_module(p)?;
                let sec = elf::section(&bytes, ".modinfo")
                    .with_context(|| format!("{}", p.display()))?
                    .unwrap_or_default();
                Ok(parse_modinfo(&sec, &rel))
            })
            .collect();
        for i in infos {
            let i = i?;
            idx.modules.insert(i.name.clone(), i);
        }
        Ok(idx)
    }

    /// Load an index from the depmod-format text files [`ModuleIndex::write_text`] wrote
    /// (`modules.dep`, `modules.alias`, `modules.softdep`, `modules.builtin`).
    pub fn load_text(dir: &Path) -> Result<Self> {
        let read = |n: &str| {
            fs::read_to_string(dir.join(n)).with_context(|| format!("{}/{n}", dir.display()))
        };
        let mut idx = ModuleIndex {
            dir: dir.to_path_buf(),
            ..Default::default()
        };
        for line in read("modules.dep")?.lines() {
            let Some((m, deps)) = line.split_once(':') else {
                continue;
            };
            let info = ModInfo {
                name: module_name_of(m),
                rel_path: m.to_string(),
                depends: deps.split_whitespace().map(module_name_of).collect(),
                ..Default::default()
            };
            idx.modules.insert(info.name.clone(), info);
        }
        for line in read("modules.alias")?.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            if let ["alias", a, m] = w[..]
                && let Some(info) = idx.modules.get_mut(m)
            {
                info.aliases.push(a.to_string());
            }
        }
        for line in read("modules.softdep")?.lines() {
            let mut w = line.split_whitespace();
            if w.next() != Some("softdep") {
                continue;
            }
            let Some(m) = w.next() else { continue };
            let mut pre = Vec::new();
            let mut post = Vec::new();
            let mut side = None;
            for x in w {
                match x {
                    "pre:" => side = Some(true),
                    "post:" => side = Some(false),
                    n if side == Some(true) => pre.push(norm(n)),
                    n if side == Some(false) => post.push(norm(n)),
                    _ => {}
                }
            }
            if let Some(info) = idx.modules.get_mut(&norm(m)) {
                info.softdep_pre = pre;
                info.softdep_post = post;
            }
        }
        if let Ok(text) = fs::read_to_string(dir.join("modules.builtin")) {
            idx.builtin = text
                .lines()
                .filter(|l| !l.is_empty())
                .map(module_name_of)
                .collect();
        }
        Ok(idx)
    }

    /// Write `modules.dep`, `modules.alias` and `modules.softdep` into the module directory.
    pub fn write_text(&self) -> Result<()> {
        for (n, text) in [
            ("modules.dep", self.modules_dep()),
            ("modules.alias", self.modules_alias()),
            ("modules.softdep", self.modules_softdep()),
        ] {
            let tmp = self.dir.join(format!(".{n}.tmp"));
            fs::write(&tmp, text)?;
            fs::rename(&tmp, self.dir.join(n))?;
        }
        Ok(())
    }

    /// Resolve a name used in a `softdep` or by a caller: a module name, else an alias
    /// (preferring `*_generic` implementations over CPU-specific ones, which may not load on
    /// the emulated CPU).
    pub fn resolve(&self, name: &str) -> Option<&ModInfo> {
        let n = norm(name);
        if let Some(m) = self.modules.get(&n) {
            return Some(m);
        }
        let mut hits: Vec<&ModInfo> = self
            .modules
            .values()
            .filter(|m| m.aliases.iter().any(|a| a == name || norm(a) == n))
            .collect();
        hits.sort_by_key(|m| (!m.name.ends_with("_generic"), m.name.clone()));
        hits.first().copied()
    }

    /// Whether `name` is built into the kernel.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&norm(name))
    }

    /// The modules to load, dependencies first, for the wanted names (module names or aliases).
    /// Names that are built in are dropped; names that are neither modules nor built in are
    /// returned in the second list.
    pub fn closure(&self, wanted: &[&str]) -> (Vec<&ModInfo>, Vec<String>) {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        let mut missing = Vec::new();
        for w in wanted {
            match self.resolve(w) {
                Some(m) => self.visit(m, &mut seen, &mut order),
                None if self.is_builtin(w) => {}
                None => missing.push(w.to_string()),
            }
        }
        (order, missing)
    }

    fn visit<'a>(
        &'a self,
        m: &'a ModInfo,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<&'a ModInfo>,
    ) {
        if !seen.insert(m.name.clone()) {
            return;
        }
        for d in m.softdep_pre.iter().chain(&m.depends) {
            if let Some(dm) = self.resolve(d) {
                self.visit(dm, seen, order);
            }
        }
        order.push(m);
        for d in &m.softdep_post {
            if let Some(dm) = self.resolve(d) {
                self.visit(dm, seen, order);
            }
        }
    }

    /// depmod-format `modules.dep`: each module with its transitive hard dependencies, listed
    /// so that loading from the end of the list backwards satisfies them.
    pub fn modules_dep(&self) -> String {
        let mut s = String::new();
        for m in self.modules.values() {
            let mut order = Vec::new();
            let mut seen = BTreeSet::new();
            self.visit_hard(m, &mut seen, &mut order);
            order.pop(); // the module itself
            order.reverse();
            let deps: Vec<&str> = order.iter().map(|d| d.rel_path.as_str()).collect();
            let _ = writeln!(s, "{}: {}", m.rel_path, deps.join(" "));
        }
        s
    }

    fn visit_hard<'a>(
        &'a self,
        m: &'a ModInfo,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<&'a ModInfo>,
    ) {
        if !seen.insert(m.name.clone()) {
            return;
        }
        for d in &m.depends {
            if let Some(dm) = self.modules.get(d) {
                self.visit_hard(dm, seen, order);
            }
        }
        order.push(m);
    }

    /// depmod-format `modules.alias`.
    pub fn modules_alias(&self) -> String {
        let mut s = String::new();
        for m in self.modules.values() {
            for a in &m.aliases {
                let _ = writeln!(s, "alias {a} {}", m.name);
            }
        }
        s
    }

    /// depmod-format `modules.softdep`.
    pub fn modules_softdep(&self) -> String {
        let mut s = String::new();
        for m in self.modules.values() {
            if m.softdep_pre.is_empty() && m.softdep_post.is_empty() {
                continue;
            }
            let _ = write!(s, "softdep {}", m.name);
            if !m.softdep_pre.is_empty() {
                let _ = write!(s, " pre: {}", m.softdep_pre.join(" "));
            }
            if !m.softdep_post.is_empty() {
                let _ = write!(s, " post: {}", m.softdep_post.join(" "));
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx() -> ModuleIndex {
        let mk = |sec: &str, path: &str| parse_modinfo(sec.replace('|', "\0").as_bytes(), path);
        let mods = [
            mk(
                "name=ext4|depends=jbd2,mbcache|softdep=pre: crc32c|alias=fs-ext4",
                "kernel/fs/ext4/ext4.ko.xz",
            ),
            mk(
                "name=jbd2|depends=|softdep=pre: crc32c",
                "kernel/fs/jbd2/jbd2.ko.xz",
            ),
            mk("name=mbcache|depends=", "kernel/fs/mbcache.ko.xz"),
            mk(
                "alias=crypto-crc32c|alias=crc32c|depends=",
                "kernel/crypto/crc32c_generic.ko.xz",
            ),
            mk(
                "name=crc32c_arm_ce|alias=crc32c|depends=",
                "kernel/arch/arm/crc32c-arm-ce.ko.xz",
            ),
            mk(
                "name=virtio_blk|depends=|alias=virtio:d00000002v*",
                "kernel/drivers/block/virtio_blk.ko.xz",
            ),
        ];
        ModuleIndex {
            modules: mods.into_iter().map(|m| (m.name.clone(), m)).collect(),
            builtin: ["virtio".to_string()].into(),
            ..Default::default()
        }
    }

    #[test]
    fn closure_orders_dependencies_and_prefers_generic() {
        let i = idx();
        let (mods, missing) = i.closure(&["virtio", "ext4", "virtio-blk", "nosuch"]);
        let names: Vec<&str> = mods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["crc32c_generic", "jbd2", "mbcache", "ext4", "virtio_blk"]
        );
        assert_eq!(missing, ["nosuch"]);
    }

    #[test]
    fn depmod_text() {
        let i = idx();
        let dep = i.modules_dep();
        assert!(
            dep.contains(
                "kernel/fs/ext4/ext4.ko.xz: kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz\n"
            ),
            "{dep}"
        );
        assert!(i.modules_alias().contains("alias crc32c crc32c_generic\n"));
        assert!(i.modules_softdep().contains("softdep ext4 pre: crc32c\n"));
        assert_eq!(module_name_of("a/b/crc32c-arm-ce.ko.zst"), "crc32c_arm_ce");
    }
}
