//! Plugin arguments, as QEMU passes them: `-plugin libintervalsim_qemu.so,key=value,...`.

use std::path::PathBuf;

/// What the plugin does with the instructions it sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Count instructions per thread only (one callback per executed block, no memory callbacks).
    Count,
    /// Build full instruction records (memory addresses, branch outcomes) and feed the timing
    /// model, one simulated core per guest thread.
    Sim,
    /// Build full instruction records and write them to trace files, without timing.
    Trace,
}

/// Parsed plugin options.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// What to do.
    pub mode: Mode,
    /// Where to write the JSON results (`out=`); without it a summary goes to stderr.
    pub out: Option<PathBuf>,
    /// intervalsim configuration in TOML (`config=`); without it the default preset is used.
    pub config: Option<PathBuf>,
    /// Quantum of simulated time in nanoseconds (`quantum-ns=`; default: the configuration's
    /// `system.quantum_ns`).
    pub quantum_ns: Option<u64>,
    /// Cores of the simulated machine (`cores=`; default: the configuration's `system.cores`,
    /// at least 8). Guest thread *k* runs on core *k* of intervalsim's multi-core engine; 1 runs
    /// the inline single-core path instead (each thread simulated on its own guest thread).
    pub cores: Option<u32>,
    /// Only simulate between ROI markers (`roi=on`).
    pub roi: bool,
    /// Instructions (all threads) executed functionally before simulation starts (`fast-forward=`).
    pub fast_forward: u64,
    /// Stop simulating after this many simulated instructions, all threads (`max-instr=`, 0 = no
    /// limit); the program then runs on at plain emulation speed.
    pub max_instr: u64,
    /// Write intervalsim's trace format here (`trace=`), one stream per thread.
    pub trace: Option<PathBuf>,
    /// Write a ChampSim trace here (`champsim=`); single-threaded programs only.
    pub champsim: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Count,
            out: None,
            config: None,
            quantum_ns: None,
            cores: None,
            roi: false,
            fast_forward: 0,
            max_instr: 0,
            trace: None,
            champsim: None,
        }
    }
}

/// The keys the plugin accepts, for error messages.
pub const KEYS: &str =
    "mode, out, config, quantum-ns, cores, roi, fast-forward, max-instr, trace, champsim";

impl Options {
    /// Parse `key=value` arguments. Errors name the argument and the valid choices.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Options, String> {
        let mut o = Options::default();
        for arg in args {
            let Some((key, value)) = arg.split_once('=') else {
                return Err(format!(
                    "plugin argument `{arg}` is not key=value (keys: {KEYS})"
                ));
            };
            let number = |v: &str| {
                v.replace('_', "")
                    .parse::<u64>()
                    .map_err(|_| format!("plugin argument `{key}`: `{v}` is not a whole number"))
            };
            match key {
                "mode" => {
                    o.mode = match value {
                        "count" => Mode::Count,
                        "sim" => Mode::Sim,
                        "trace" => Mode::Trace,
                        _ => {
                            return Err(format!(
                                "plugin argument `mode`: `{value}` is not one of count, sim, trace"
                            ));
                        }
                    }
                }
                "out" => o.out = Some(PathBuf::from(value)),
                "config" => o.config = Some(PathBuf::from(value)),
                "quantum-ns" => {
                    let q = number(value)?;
                    if q == 0 {
                        return Err("plugin argument `quantum-ns` must be at least 1".into());
                    }
                    o.quantum_ns = Some(q);
                }
                "cores" => {
                    let c = number(value)?;
                    if !(1..=256).contains(&c) {
                        return Err(format!(
                            "plugin argument `cores`: {c} is not between 1 and 256"
                        ));
                    }
                    o.cores = Some(c as u32);
                }
                "roi" => {
                    o.roi = match value {
                        "on" | "yes" | "true" => true,
                        "off" | "no" | "false" => false,
                        _ => return Err(format!("plugin argument `roi`: `{value}` is not on/off")),
                    }
                }
                "fast-forward" => o.fast_forward = number(value)?,
                "max-instr" => o.max_instr = number(value)?,
                "trace" => o.trace = Some(PathBuf::from(value)),
                "champsim" => o.champsim = Some(PathBuf::from(value)),
                _ => {
                    return Err(format!("unknown plugin argument `{key}` (keys: {KEYS})"));
                }
            }
        }
        if o.mode == Mode::Trace && o.trace.is_none() && o.champsim.is_none() {
            return Err("mode=trace needs trace=PATH and/or champsim=PATH".into());
        }
        Ok(o)
    }

    /// Whether full instruction records (addresses, outcomes) are needed.
    pub fn needs_records(&self) -> bool {
        self.mode != Mode::Count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_values() {
        assert_eq!(Options::parse([]).unwrap(), Options::default());
        let o = Options::parse([
            "mode=sim",
            "out=/tmp/r.json",
            "quantum-ns=250",
            "roi=on",
            "fast-forward=1_000",
            "max-instr=5000",
        ])
        .unwrap();
        assert_eq!(o.mode, Mode::Sim);
        assert_eq!(o.out, Some(PathBuf::from("/tmp/r.json")));
        assert_eq!(
            (o.quantum_ns, o.roi, o.fast_forward, o.max_instr),
            (Some(250), true, 1000, 5000)
        );
        assert!(o.needs_records());
    }

    #[test]
    fn errors_name_the_argument() {
        let e = Options::parse(["colour=blue"]).unwrap_err();
        assert!(e.contains("colour") && e.contains("mode"), "{e}");
        let e = Options::parse(["max-instr=lots"]).unwrap_err();
        assert!(e.contains("max-instr") && e.contains("lots"), "{e}");
        let e = Options::parse(["mode=fast"]).unwrap_err();
        assert!(e.contains("count, sim, trace"), "{e}");
        assert!(Options::parse(["quantum-ns=0"]).is_err());
        assert!(Options::parse(["cores=0"]).unwrap_err().contains("cores"));
        assert_eq!(Options::parse(["cores=4"]).unwrap().cores, Some(4));
        assert!(Options::parse(["roi"]).is_err());
        assert!(
            Options::parse(["mode=trace"])
                .unwrap_err()
                .contains("trace=PATH")
        );
    }
}
