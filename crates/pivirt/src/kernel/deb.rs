//! Reading Debian packages (`.deb`): an `ar` archive whose `data.tar.{xz,zst,gz}` member holds
//! the files. Only the members asked for are written out.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

/// Stream the data tarball of `deb` and hand each regular file whose path `keep` accepts to
/// `sink(path, reader)`. Paths are relative, without the leading `./`.
pub fn for_each_file(
    deb: &Path,
    mut keep: impl FnMut(&str) -> bool,
    mut sink: impl FnMut(&str, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    let f = File::open(deb).with_context(|| format!("cannot open {}", deb.display()))?;
    let mut ar = ar::Archive::new(BufReader::new(f));
    while let Some(entry) = ar.next_entry() {
        let entry = entry.with_context(|| format!("{}: not a Debian package", deb.display()))?;
        let name = String::from_utf8_lossy(entry.header().identifier()).into_owned();
        let Some(kind) = name.strip_prefix("data.tar") else {
            continue;
        };
        let reader: Box<dyn Read> = match kind {
            ".xz" => Box::new(xz2::read::XzDecoder::new(entry)),
            ".zst" => Box::new(zstd::stream::read::Decoder::new(entry)?),
            ".gz" => Box::new(flate2::read::GzDecoder::new(entry)),
            "" => Box::new(entry),
            other => bail!(
                "{}: unsupported data member compression data.tar{other}",
                deb.display()
            ),
        };
        let mut tar = tar::Archive::new(reader);
        for item in tar
            .entries()
            .with_context(|| format!("{}: data.tar", deb.display()))?
        {
            let mut item = item.with_context(|| format!("{}: data.tar", deb.display()))?;
            if item.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let path = item.path()?.to_string_lossy().into_owned();
            let path = path.trim_start_matches("./").to_string();
            if keep(&path) {
                sink(&path, &mut item)?;
            }
        }
        return Ok(());
    }
    Err(anyhow!(
        "{}: no data.tar member; not a Debian package",
        deb.display()
    ))
}

/// Extract the files `keep` accepts from `deb` into `dest` (created), keeping their paths.
/// Returns the paths written.
pub fn extract(deb: &Path, dest: &Path, keep: impl FnMut(&str) -> bool) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for_each_file(deb, keep, |path, r| {
        let out = dest.join(path);
        if let Some(parent) = out.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut f =
            File::create(&out).with_context(|| format!("cannot write {}", out.display()))?;
        io::copy(r, &mut f)?;
        written.push(out);
        Ok(())
    })?;
    Ok(written)
}

/// Read one file (e.g. `bin/busybox`) out of `deb`.
pub fn read_file(deb: &Path, wanted: &str) -> Result<Vec<u8>> {
    let mut found = None;
    for_each_file(
        deb,
        |p| p == wanted,
        |_, r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v)?;
            found = Some(v);
            Ok(())
        },
    )?;
    found.ok_or_else(|| anyhow!("{}: has no {wanted}", deb.display()))
}
