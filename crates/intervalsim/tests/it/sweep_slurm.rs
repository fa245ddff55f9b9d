//! `intervalsim sweep --executor slurm` against a real single-node Slurm cluster that this test
//! starts itself (munged, slurmctld, slurmd; no systemd, all state in a temporary directory)
//! and stops by PID at the end. Needs the Debian packages slurmctld, slurmd, slurm-client and
//! munge (listed in scripts/apt-packages) and root, as in scripts/test.

use crate::common::sweep::{count_results, table_without_timings};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Cluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

fn need(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` not found: install the Debian package {package} (see scripts/apt-packages)"
    );
}

fn sh(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    fn start() -> Cluster {
        for (tool, pkg) in [
            ("munged", "munge"),
            ("slurmctld", "slurmctld"),
            ("slurmd", "slurmd"),
            ("sbatch", "slurm-client"),
        ] {
            need(tool, pkg);
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let host = String::from_utf8(Command::new("hostname").arg("-s").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        for sub in ["munge", "state", "spool", "log"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        // munged refuses a key others can read; clients need to reach the socket.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(d.join("munge"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let key: Vec<u8> = (0..1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ std::process::id() as u8)
            .collect();
        std::fs::write(d.join("munge/munge.key"), key).unwrap();
        std::fs::set_permissions(
            d.join("munge/munge.key"),
            std::fs::Permissions::from_mode(0o400),
        )
        .unwrap();
        let port = 20000 + (std::process::id() % 10000) * 2;
        let dd = d.display();
        let conf = format!(
            "ClusterName=sweeptest\nSlurmctldHost={host}\nSlurmUser=root\nSlurmdUser=root\n\
             AuthType=auth/munge\nAuthInfo=socket={dd}/munge/munge.socket.2\nCryptoType=crypto/munge\n\
             StateSaveLocation={dd}/state\nSlurmdSpoolDir={dd}/spool\n\
             SlurmctldPidFile={dd}/slurmctld.pid\nSlurmdPidFile={dd}/slurmd.pid\n\
             SlurmctldLogFile={dd}/log/slurmctld.log\nSlurmdLogFile={dd}/log/slurmd.log\n\
             SlurmctldPort={port}\nSlurmdPort={}\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
             SchedulerParameters=batch_sched_delay=0\nSlurmdParameters=config_overrides\n\
             ReturnToService=2\nMpiDefault=none\n\
             NodeName={host} CPUs=8 State=UNKNOWN\n\
             PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            port + 1
        );
        let conf_path = d.join("slurm.conf");
        std::fs::write(&conf_path, conf).unwrap();
        sh(
            Command::new("munged").args([
                "--force",
                &format!("--socket={dd}/munge/munge.socket.2"),
                &format!("--key-file={dd}/munge/munge.key"),
                &format!("--pid-file={dd}/munge/munged.pid"),
                &format!("--log-file={dd}/munge/munged.log"),
                &format!("--seed-file={dd}/munge/seed"),
            ]),
            "munged",
        );
        let c = Cluster {
            dir,
            conf: conf_path,
        };
        sh(
            Command::new("slurmctld")
                .arg("-f")
                .arg(&c.conf)
                .env("SLURM_CONF", &c.conf),
            "slurmctld",
        );
        sh(
            Command::new("slurmd")
                .arg("-f")
                .arg(&c.conf)
                .env("SLURM_CONF", &c.conf),
            "slurmd",
        );
        // Wait until the node is idle.
        let t0 = Instant::now();
        loop {
            let out = Command::new("sinfo")
                .args(["-h", "-o", "%t"])
                .env("SLURM_CONF", &c.conf)
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).trim() == "idle" {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the test cluster did not come up; logs in {}",
                c.dir.path().join("log").display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        c
    }

    fn sweep(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_intervalsim"));
        cmd.arg("sweep").args(args).env("SLURM_CONF", &self.conf);
        cmd
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let d = self.dir.path();
        for pid_file in ["slurmd.pid", "slurmctld.pid", "munge/munged.pid"] {
            if let Ok(pid) = std::fs::read_to_string(d.join(pid_file))
                && let Ok(pid) = pid.trim().parse::<i32>()
            {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("run intervalsim")
}

const SPEC: &str = r#"
name = "slurm-test"
[grid]
l2.size = ["128KiB", "256KiB", "512KiB", "1MiB"]
core.dispatch_width = [2, 4]
[[workloads]]
name = "pointer-chase"
footprint = "256KiB"
[[workloads]]
name = "alu"
[limits]
warmup = "5k"
instructions = "5k"
"#;

#[test]
fn slurm_sweeps_match_local_ones_resume_and_retry() {
    let cluster = Cluster::start();
    let t = tempfile::tempdir().unwrap();
    let spec = t.path().join("spec.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let spec = spec.to_str().unwrap();

    // --dry-run prints the script and submits nothing.
    let dry = t.path().join("dry");
    let o = output(&mut cluster.sweep(&[
        spec,
        "--out",
        dry.to_str().unwrap(),
        "--executor",
        "slurm",
        "--dry-run",
        "--partition",
        "debug",
        "--time",
        "00:05:00",
        "--mem",
        "500M",
        "--cpus-per-task",
        "1",
        "--sbatch=--comment=sweep",
        "--points-per-task",
        "4",
    ]));
    let script = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for want in [
        "#SBATCH --array=0-3",
        "#SBATCH --partition=debug",
        "#SBATCH --time=00:05:00",
        "#SBATCH --mem=500M",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --comment=sweep",
        "sweep worker",
    ] {
        assert!(script.contains(want), "{want} missing from\n{script}");
    }
    assert_eq!(count_results(&dry), 0);

    // Without --points-per-task, short points are batched so that each of the cluster's
    // 8 CPUs (4 slots of 2 CPUs) gets one task: 16 points make 8 (4) tasks.
    for (cpus, tasks, per_task) in [("1", "0-7", "2"), ("2", "0-3", "4")] {
        let o = output(&mut cluster.sweep(&[
            spec,
            "--out",
            dry.to_str().unwrap(),
            "--executor",
            "slurm",
            "--dry-run",
            "--cpus-per-task",
            cpus,
        ]));
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            script.contains(&format!("#SBATCH --array={tasks}\n"))
                && script.contains(&format!("--per-task {per_task} ")),
            "{cpus} CPUs per task: want {tasks} tasks of {per_task} points in\n{script}"
        );
    }

    // Local and Slurm give the same table.
    let local = t.path().join("local");
    let o = output(&mut cluster.sweep(&[spec, "--out", local.to_str().unwrap(), "-q"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let slurm = t.path().join("slurm");
    let o = output(&mut cluster.sweep(&[
        spec,
        "--out",
        slurm.to_str().unwrap(),
        "-q",
        "--executor",
        "slurm",
        "--poll",
        "0.2",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(table_without_timings(&local), table_without_timings(&slurm));
    assert_eq!(count_results(&slurm), 16);

    // Kill the sweep midway (and cancel its job), then rerun: only the missing points run.
    let killed = t.path().join("killed");
    let mut child = cluster
        .sweep(&[
            spec,
            "--out",
            killed.to_str().unwrap(),
            "-q",
            "--executor",
            "slurm",
            "--poll",
            "0.1",
            "--points-per-task",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while count_results(&killed) < 3 && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    let job = std::fs::read_to_string(killed.join("slurm/job")).unwrap();
    sh(
        Command::new("scancel")
            .arg(job.trim())
            .env("SLURM_CONF", &cluster.conf),
        "scancel",
    );
    // Let the cancelled tasks drain before counting.
    let t0 = Instant::now();
    loop {
        let q = Command::new("squeue")
            .args(["-h"])
            .env("SLURM_CONF", &cluster.conf)
            .output()
            .unwrap();
        if q.stdout.is_empty() || t0.elapsed() > Duration::from_secs(30) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let done = count_results(&killed);
    assert!(done >= 3, "{done}");
    let o = output(&mut cluster.sweep(&[
        spec,
        "--out",
        killed.to_str().unwrap(),
        "-q",
        "--executor",
        "slurm",
        "--poll",
        "0.2",
    ]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "16 points: {done} already finished, {} run now",
            16 - done
        )),
        "{err}"
    );
    assert_eq!(
        table_without_timings(&killed),
        table_without_timings(&local)
    );

    // A failing point is retried, then reported; the others are kept.
    let good = t.path().join("good.champsim");
    let st = Command::new(env!("CARGO_BIN_EXE_intervalsim"))
        .args([
            "trace",
            "convert",
            "--workload",
            "alu",
            "-n",
            "2000",
            good.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(t.path().join("cut.champsim"), &bytes[..64 * 1000 + 10]).unwrap();
    let fspec = t.path().join("fail.toml");
    std::fs::write(
        &fspec,
        "[grid]\ncore.dispatch_width = [2, 4]\n[[workloads]]\ntrace = \"good.champsim\"\n\
         [[workloads]]\ntrace = \"cut.champsim\"\n[limits]\nwarmup = 0\ninstructions = 0\n",
    )
    .unwrap();
    let fout = t.path().join("fail");
    let o = output(&mut cluster.sweep(&[
        fspec.to_str().unwrap(),
        "--out",
        fout.to_str().unwrap(),
        "-q",
        "--executor",
        "slurm",
        "--poll",
        "0.2",
        "--retries",
        "1",
    ]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("2 of 4 points failed") && err.contains("cut.champsim"),
        "{err}"
    );
    assert_eq!(count_results(&fout), 2);
    let submissions = std::fs::read_dir(fout.join("slurm"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".sbatch")
        })
        .count();
    assert_eq!(submissions, 2, "one submission and one retry");
}

#[test]
fn missing_or_unreachable_slurm_is_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let spec = t.path().join("spec.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let conf = t.path().join("slurm.conf");
    std::fs::write(
        &conf,
        "ClusterName=none\nSlurmctldHost=nonexistent-host\nSlurmctldPort=1\nNodeName=nonexistent-host\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_intervalsim"))
        .args(["sweep", spec.to_str().unwrap(), "--out"])
        .arg(t.path().join("out"))
        .args(["-q", "--executor", "slurm"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("slurm-client"), "{err}");
}
