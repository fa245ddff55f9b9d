//! Slice 1: the plugin counts every instruction of every thread, matching callgrind, and leaves
//! the program's behaviour untouched.

use crate::common::*;

fn check_against_callgrind(name: &str, static_link: bool, tolerance: f64) {
    let prog = compile(name, static_link);
    let native = native(&prog, &[]);
    let (out, report) = with_plugin(&["mode=count"], &prog, &[]);
    assert_eq!(
        out.stdout, native.stdout,
        "{name}: output changed under the plugin"
    );
    assert_eq!(
        out.status.code(),
        native.status.code(),
        "{name}: exit code changed"
    );
    let ours = report.total_instructions();
    let theirs = callgrind(&prog, &[]);
    let r = rel(ours, theirs);
    eprintln!(
        "{name} static={static_link}: plugin {ours}, callgrind {theirs}, diff {:.4}%",
        100.0 * r
    );
    assert!(
        r < tolerance,
        "{name}: plugin {ours} vs callgrind {theirs} ({:.3}%)",
        100.0 * r
    );
}

#[test]
fn static_single_threaded_program_matches_callgrind() {
    check_against_callgrind("kernels", true, 0.01);
}

#[test]
fn dynamic_single_threaded_program_matches_callgrind() {
    // Both tools count from the dynamic loader's first instruction; see README (loader).
    check_against_callgrind("kernels", false, 0.01);
}

#[test]
fn pthread_program_has_one_stream_per_thread_and_matches_callgrind() {
    check_against_callgrind("psum", false, 0.01);
    let prog = compile("psum", false);
    let (_, report) = with_plugin(&["mode=count"], &prog, &[]);
    assert_eq!(report.threads.len(), 5, "main + 4 workers");
    let numbers: Vec<u32> = report.threads.iter().map(|t| t.thread).collect();
    assert_eq!(numbers, vec![0, 1, 2, 3, 4]);
    let mut tids: Vec<i64> = report.threads.iter().map(|t| t.tid).collect();
    tids.dedup();
    assert_eq!(tids.len(), 5, "distinct tids {tids:?}");
    // Each worker sums a quarter of the array four times: the same work.
    let w: Vec<u64> = report.threads[1..]
        .iter()
        .map(|t| t.counts.instructions)
        .collect();
    for x in &w {
        assert!(rel(*x, w[0]) < 0.01, "workers {w:?}");
    }
    let total: u64 = report.threads.iter().map(|t| t.counts.instructions).sum();
    assert_eq!(total, report.total_instructions());
}

#[test]
fn threads_are_numbered_again_after_vcpu_reuse() {
    // matmul joins its workers; prodcons blocks in futex waits all the time.
    for name in ["matmul", "prodcons"] {
        let prog = compile(name, false);
        let native = native(&prog, &[]);
        let (out, report) = with_plugin(&["mode=count"], &prog, &[]);
        assert_eq!(out.stdout, native.stdout);
        assert_eq!(out.status.code(), Some(0));
        let expected = if name == "matmul" { 5 } else { 3 };
        assert_eq!(report.threads.len(), expected, "{name}");
        if name == "prodcons" {
            assert!(
                report
                    .threads
                    .iter()
                    .map(|t| t.counts.futex_calls)
                    .sum::<u64>()
                    > 10
            );
        }
    }
}

#[test]
fn bad_plugin_arguments_are_reported() {
    let prog = compile("kernels", true);
    let o = std::process::Command::new(qemu())
        .arg("-plugin")
        .arg(format!("{},colour=blue", plugin().display()))
        .arg(&prog)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown plugin argument `colour`"), "{err}");
}

#[test]
fn reused_vcpu_indices_give_separate_threads() {
    let prog = compile("sequential", false);
    let (out, report) = with_plugin(&["mode=count"], &prog, &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done 6\n");
    assert_eq!(
        report.threads.len(),
        7,
        "main + 6 workers, one after another"
    );
    let workers: Vec<u64> = report.threads[1..]
        .iter()
        .map(|t| t.counts.instructions)
        .collect();
    for w in &workers {
        assert!(
            rel(*w, workers[0]) < 0.01,
            "every worker does the same work: {workers:?}"
        );
        assert!(*w > 300_000);
    }
    let theirs = callgrind(&prog, &[]);
    assert!(rel(report.total_instructions(), theirs) < 0.01);
}

#[test]
fn a_forked_child_does_not_overwrite_the_report() {
    let prog = compile("forks", false);
    let (out, report) = with_plugin(&["mode=count"], &prog, &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "parent done, child exit 0\n"
    );
    // The parent's loop (300 000 iterations) is in the report, whoever exited last.
    assert_eq!(report.threads.len(), 1);
    assert!(
        report.total_instructions() > 900_000,
        "{}",
        report.total_instructions()
    );
}
