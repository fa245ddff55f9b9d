//! `pivirt net setup|teardown`: a host bridge and tap device for guests that should sit on the
//! LAN like the Pi did. Needs root; `--dry-run` prints the commands instead.
//!
//! `net.bridge.bridge-nf-call-iptables` is set to 0: with Docker installed the FORWARD policy
//! is DROP and bridged guest traffic would otherwise be filtered by iptables.

use anyhow::{Result, bail};

use crate::tools;

/// Bridge, tap and optional uplink names.
#[derive(Debug, Clone)]
pub struct NetSpec {
    /// Bridge name (`br0`).
    pub bridge: String,
    /// Tap name (`tap0`).
    pub tap: String,
    /// Physical interface to enslave to the bridge (its addresses move to the bridge by DHCP).
    pub uplink: Option<String>,
    /// Owner of the tap (so QEMU can open it without root).
    pub user: Option<String>,
}

fn check_name(kind: &str, n: &str) -> Result<()> {
    if n.is_empty()
        || n.len() > 15
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("--{kind} {n:?}: not a valid interface name (1–15 of A-Z a-z 0-9 - _ .)");
    }
    Ok(())
}

/// The commands `setup` runs, in order.
pub fn setup_commands(s: &NetSpec) -> Result<Vec<Vec<String>>> {
    check_name("bridge", &s.bridge)?;
    check_name("tap", &s.tap)?;
    if let Some(u) = &s.uplink {
        check_name("uplink", u)?;
    }
    let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut c = vec![
        v(&["ip", "link", "add", "name", &s.bridge, "type", "bridge"]),
        v(&["ip", "link", "set", &s.bridge, "up"]),
    ];
    let mut tap = v(&["ip", "tuntap", "add", "dev", &s.tap, "mode", "tap"]);
    if let Some(u) = &s.user {
        tap.extend(v(&["user", u]));
    }
    c.push(tap);
    c.push(v(&["ip", "link", "set", &s.tap, "master", &s.bridge]));
    c.push(v(&["ip", "link", "set", &s.tap, "up"]));
    if let Some(u) = &s.uplink {
        c.push(v(&["ip", "link", "set", u, "master", &s.bridge]));
    }
    c.push(v(&["sysctl", "-w", "net.bridge.bridge-nf-call-iptables=0"]));
    Ok(c)
}

/// The commands `teardown` runs.
pub fn teardown_commands(s: &NetSpec) -> Result<Vec<Vec<String>>> {
    check_name("bridge", &s.bridge)?;
    check_name("tap", &s.tap)?;
    let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut c = vec![v(&["ip", "link", "del", &s.tap])];
    if let Some(u) = &s.uplink {
        check_name("uplink", u)?;
        c.push(v(&["ip", "link", "set", u, "nomaster"]));
    }
    c.push(v(&["ip", "link", "del", &s.bridge]));
    Ok(c)
}

/// Run (or with `dry_run`, return as text) the commands.
pub fn execute(cmds: &[Vec<String>], dry_run: bool) -> Result<String> {
    let text: String = cmds.iter().map(|c| c.join(" ") + "\n").collect();
    if dry_run {
        return Ok(text);
    }
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "creating bridges and taps needs root: run with sudo, or add --dry-run to see the commands"
        );
    }
    for c in cmds {
        let pkg = if c[0] == "sysctl" {
            "procps"
        } else {
            "iproute2"
        };
        if c[0] == "sysctl" && !std::path::Path::new("/proc/sys/net/bridge").exists() {
            // br_netfilter not loaded: bridged traffic is not filtered, nothing to set.
            continue;
        }
        tools::run_tool(&c[0], pkg, &c[1..])?;
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_names() {
        let s = NetSpec {
            bridge: "br0".into(),
            tap: "tap0".into(),
            uplink: Some("eth0".into()),
            user: Some("pi".into()),
        };
        let c = setup_commands(&s).unwrap();
        let text = execute(&c, true).unwrap();
        assert!(text.contains("ip tuntap add dev tap0 mode tap user pi\n"));
        assert!(text.contains("ip link set eth0 master br0\n"));
        assert!(text.ends_with("sysctl -w net.bridge.bridge-nf-call-iptables=0\n"));
        let bad = NetSpec {
            bridge: "br0; rm -rf /".into(),
            ..s
        };
        assert!(setup_commands(&bad).is_err());
    }
}
