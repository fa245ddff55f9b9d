//! Running the external programs pivirt relies on (e2fsprogs, QEMU, apt), with errors that say
//! which Debian package to install when one is missing.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

use anyhow::{Result, bail};

/// Whether `program` is on `PATH`.
pub fn have(program: &str) -> bool {
    find(program).is_some()
}

/// Full path of `program` on `PATH`.
pub fn find(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A `Command` for `program`, or an error naming the Debian `package` that provides it.
pub fn command(program: &str, package: &str) -> Result<Command> {
    match find(program) {
        Some(p) => Ok(Command::new(p)),
        None => bail!(
            "{program} not found: install the Debian package '{package}' (apt-get install {package})"
        ),
    }
}

/// Run `program args…`, failing with its stderr when it exits non-zero; returns its output.
pub fn run_tool<S: AsRef<OsStr>>(program: &str, package: &str, args: &[S]) -> Result<Output> {
    let mut c = command(program, package)?;
    c.args(args).stdin(Stdio::null());
    let out = c.output()?;
    if !out.status.success() {
        bail!(
            "{program} {} failed ({}): {}",
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn missing_tool_names_package() {
        let e = super::command("pivirt-no-such-tool", "pivirt-pkg").unwrap_err();
        assert!(e.to_string().contains("apt-get install pivirt-pkg"));
    }
}
