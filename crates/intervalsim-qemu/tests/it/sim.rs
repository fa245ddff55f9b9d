//! Slice 2: live simulation, one core per guest thread, lax barrier, `sync` time; real programs
//! nobody here wrote run unchanged.

use crate::common::*;
use intervalsim::frontend::qemu::Report;

fn assert_stack_sums(report: &Report) {
    for t in &report.threads {
        let s = t.stats.as_ref().expect("simulation stats per thread");
        assert_eq!(
            s.core.cpi.total_slots(),
            s.core.cycles * u64::from(s.core.cpi.width),
            "thread {}: CPI stack must sum to cycles × width",
            t.thread
        );
        // The multi-core engine charges blocked time inside the core's stack; the inline
        // path adds it on top.
        let extra = if report.multicore.is_some() {
            0
        } else {
            t.sync_cycles
        };
        assert_eq!(
            t.end_cycle,
            t.start_cycle + s.core.cycles + extra,
            "thread {}",
            t.thread
        );
    }
}

#[test]
fn single_thread_simulation_with_instruction_limit() {
    let prog = compile("kernels", true);
    let native = native(&prog, &[]);
    let (out, report) = with_plugin(&["mode=sim", "max-instr=1500000"], &prog, &[]);
    assert_eq!(out.stdout, native.stdout, "output unchanged");
    assert_eq!(out.status.code(), Some(3), "exit code kept");
    assert_eq!(report.threads.len(), 1);
    assert!(report.truncated);
    assert_eq!(report.simulated_instructions(), 1_500_000);
    let s = report.threads[0].stats.as_ref().unwrap();
    assert!(
        s.core.cycles > 0 && s.core.ipc() > 0.05 && s.core.ipc() < 4.01,
        "IPC {}",
        s.core.ipc()
    );
    assert!(
        s.core.l1d.accesses() > 100_000,
        "memory accesses reached the caches"
    );
    assert!(s.core.branch.branches > 50_000);
    assert_eq!(
        report.threads[0].sync_cycles, 0,
        "a lone thread never waits"
    );
    // Everything executed is accounted for: simulated + not simulated.
    assert_eq!(
        report.total_instructions(),
        report.simulated_instructions() + report.skipped_instructions
    );
    assert_stack_sums(&report);
    assert!(report.to_text().contains("CPI stack"));
}

#[test]
fn threads_are_cores_and_blocked_time_is_sync() {
    let prog = compile("psum", false);
    let native = native(&prog, &["65536"]);
    let (out, report) = with_plugin(&["mode=sim"], &prog, &["65536"]);
    assert_eq!(out.stdout, native.stdout);
    assert_eq!(report.threads.len(), 5, "one core per thread");
    assert_stack_sums(&report);
    for t in &report.threads {
        let s = t.stats.as_ref().unwrap();
        assert_eq!(
            s.core.instructions,
            t.counts.instructions + t.counts.sync_events,
            "thread {} fully simulated (its synchronisation records on top)",
            t.thread
        );
    }
    assert_eq!(report.simulated_instructions(), report.total_instructions());
    // The main thread waits in pthread_join while the workers sum: that is sync time.
    let main = &report.threads[0];
    assert!(
        main.sync_cycles > 0,
        "main thread sync {}",
        main.sync_cycles
    );
    // Workers start when main creates them, not at time 0.
    assert!(report.threads[1..].iter().all(|t| t.start_cycle > 0));
    // Main ends after every worker it joined.
    let last_worker = report.threads[1..]
        .iter()
        .map(|t| t.end_cycle)
        .max()
        .unwrap();
    assert!(main.end_cycle >= last_worker);
    let m = report
        .multicore
        .as_ref()
        .expect("multi-core engine results");
    assert!(m.quanta > 0);
    assert_eq!(m.cores.len(), 8, "the default machine");
    // Cores no thread reached stay unused.
    assert!(m.cores[5..].iter().all(|c| c.finish_cycle == 0));
}

#[test]
fn the_inline_path_still_simulates_every_thread() {
    let prog = compile("psum", false);
    let (out, report) = with_plugin(&["mode=sim", "cores=1"], &prog, &["16384"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(report.multicore.is_none());
    assert_eq!(report.threads.len(), 5);
    assert_stack_sums(&report);
    assert!(report.threads[0].sync_cycles > 0);
    assert!(report.barrier.crossings > 0);
}

#[test]
fn contended_programs_finish_without_deadlock() {
    for (name, arg) in [("prodcons", "3000"), ("mutex", "3000")] {
        let prog = compile(name, false);
        let native = native(&prog, &[arg]);
        let (out, report) = with_plugin(&["mode=sim", "quantum-ns=50"], &prog, &[arg]);
        assert_eq!(out.stdout, native.stdout, "{name}");
        assert_eq!(out.status.code(), Some(0), "{name}");
        assert_stack_sums(&report);
        let futex: u64 = report.threads.iter().map(|t| t.counts.futex_calls).sum();
        let sync: u64 = report.threads.iter().map(|t| t.sync_cycles).sum();
        eprintln!(
            "{name}: futex {futex} sync {sync} barrier {:?}",
            report.barrier
        );
        if futex > 0 {
            assert!(sync > 0, "{name}: threads blocked in futex show sync time");
        }
    }
}

fn input_file() -> std::path::PathBuf {
    let p = scratch().join("input.txt");
    if !p.is_file() {
        let mut text = String::new();
        for i in 0..6000 {
            text.push_str(&format!(
                "line {i}: the quick brown fox {} jumps over {}\n",
                i * 7919 % 1000,
                i % 13
            ));
        }
        std::fs::write(&p, text).unwrap();
    }
    p
}

fn real_program(path: &str, package: &str) -> std::path::PathBuf {
    let p = std::path::PathBuf::from(path);
    assert!(
        p.is_file(),
        "{path} missing: install the Debian package `{package}`"
    );
    p
}

#[test]
fn real_programs_run_unchanged() {
    let input = input_file();
    let input = input.to_str().unwrap();
    let cases: Vec<(std::path::PathBuf, Vec<&str>)> = vec![
        (
            real_program("/usr/bin/gzip", "gzip"),
            vec!["-c", "-6", input],
        ),
        (
            real_program("/usr/bin/xz", "xz-utils"),
            vec!["-c", "-1", "-T1", input],
        ),
        (
            real_program("/usr/bin/python3", "python3"),
            vec!["-S", "-c", "s=0\nfor i in range(20000): s += i*i\nprint(s)"],
        ),
        (
            real_program("/usr/bin/sqlite3", "sqlite3"),
            vec![
                ":memory:",
                "create table t(x integer); with recursive c(i) as (select 1 union all select i+1 from c where i<2000) insert into t select i*37%1000 from c; select count(*), sum(x), max(x) from t where x % 3 = 0;",
            ],
        ),
    ];
    for (prog, args) in &cases {
        let native = native(prog, args);
        assert!(native.status.success(), "{} natively", prog.display());
        let (out, report) = with_plugin(&["mode=count"], prog, args);
        assert_eq!(
            out.stdout,
            native.stdout,
            "{} output changed",
            prog.display()
        );
        assert_eq!(out.status.code(), native.status.code());
        assert!(
            report.total_instructions() > 1_000_000,
            "{}",
            prog.display()
        );
        eprintln!(
            "{}: {} instructions",
            prog.display(),
            report.total_instructions()
        );
    }
    // And the timing model on a real program: gzip, first 2M instructions simulated.
    let (prog, args) = &cases[0];
    let native = native(prog, args);
    let (out, report) = with_plugin(&["mode=sim", "max-instr=2000000"], prog, args);
    assert_eq!(out.stdout, native.stdout);
    assert_eq!(report.simulated_instructions(), 2_000_000);
    assert_stack_sums(&report);
}

#[test]
fn a_forked_child_does_not_wait_for_the_parents_simulation() {
    // The child runs ~400 K instructions without exec: more than a queue holds. The engine
    // thread lives only in the parent; the child must neither queue for it nor hang.
    let prog = compile("forks", false);
    let (out, report) = with_plugin(&["mode=sim"], &prog, &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "parent done, child exit 0\n"
    );
    assert_eq!(report.threads.len(), 1);
    assert!(report.multicore.is_some());
}
