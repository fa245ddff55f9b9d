//! Threads created by other threads (`ThreadStart` records, as the QEMU front end writes
//! them): a created thread's core starts at its creator's time, cores no thread reaches stay
//! unused, and a wait that no wake matches does not hang the run.

use intervalsim::frontend::threads::{start_record, unstarted};
use intervalsim::frontend::{Instr, InstrStream, Kind, SyncOp, TraceError};
use intervalsim::multicore::{self, Options, report::MultiStats};
use intervalsim::stats::Component;

struct Records {
    v: Vec<Instr>,
    pos: usize,
}

impl InstrStream for Records {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        let n = buf.len().min(self.v.len() - self.pos);
        buf[..n].copy_from_slice(&self.v[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
    fn describe(&self) -> String {
        "records".into()
    }
}

fn stream(v: Vec<Instr>) -> Box<dyn InstrStream + Send> {
    Box::new(Records { v, pos: 0 })
}

fn work(n: u64, base: u64) -> Vec<Instr> {
    (0..n)
        .map(|k| {
            let mut i = Instr::new(base + 4 * (k % 64), Kind::Int);
            i.len = 4;
            i.dst[0] = 1 + (k % 8) as u8;
            i
        })
        .collect()
}

fn sync(op: SyncOp, object: u64) -> Instr {
    let mut i = Instr::new(0x9000, Kind::Sync);
    i.len = 4;
    i.sync = op;
    i.target = object;
    i
}

fn run(streams: Vec<Box<dyn InstrStream + Send>>, host_threads: usize) -> MultiStats {
    let over = [format!("system.cores={}", streams.len())];
    let (base, cores) = multicore::per_core_configs("gainestown", None, &over, &[]).unwrap();
    multicore::run(
        &base,
        &cores,
        streams,
        "spawn",
        Options { host_threads },
        |_| {},
    )
    .unwrap()
}

fn program() -> Vec<Box<dyn InstrStream + Send>> {
    // Thread 0 works, creates thread 1, works a little, then waits on 0x100 (like a join).
    let mut t0 = work(20_000, 0x1000);
    t0.push(sync(SyncOp::ThreadStart, 1));
    t0.extend(work(100, 0x2000));
    t0.push(sync(SyncOp::Wait, 0x100));
    t0.extend(work(100, 0x3000));
    t0.push(sync(SyncOp::ThreadExit, 0));
    // Thread 1 begins with its own start record, works long, wakes thread 0, exits.
    let mut t1 = vec![start_record(1)];
    t1.extend(work(50_000, 0x4000));
    t1.push(sync(SyncOp::Wake, 0x100));
    t1.push(sync(SyncOp::ThreadExit, 1));
    vec![stream(t0), stream(t1), unstarted(2)]
}

#[test]
fn created_threads_start_at_their_creation_and_unreached_cores_stay_unused() {
    let s = run(program(), 1);
    let (c0, c1, c2) = (&s.cores[0], &s.cores[1], &s.cores[2]);
    // Thread 1 starts when thread 0 created it, not at 0, and its statistics begin there.
    let start1 = c1.finish_cycle - c1.stats.cycles;
    assert!(start1 > 1000, "thread 1 started at {start1}");
    assert_eq!(c1.stats.instructions, 50_000 + 2);
    assert_eq!(c1.stats.cpi.slots[Component::Sync as usize], 0);
    // Thread 0 waited for thread 1's wake: sync time, and it ends after thread 1 woke it.
    assert!(c0.stats.cpi.slots[Component::Sync as usize] > 0);
    assert!(c0.finish_cycle > start1 + c1.stats.cycles / 2);
    // Core 2 ran no thread.
    assert_eq!((c2.finish_cycle, c2.stats.instructions), (0, 1));
    // The CPI stacks still sum to cycles × width.
    for c in &s.cores {
        assert_eq!(
            c.stats.cpi.total_slots(),
            c.stats.cycles * u64::from(c.stats.cpi.width)
        );
    }
    // Deterministic across host thread counts.
    let s2 = run(program(), 2);
    assert_eq!(s.cores, s2.cores);
}

#[test]
fn a_wait_no_wake_matches_resumes_when_nothing_else_can_run() {
    let mut t0 = work(1000, 0x1000);
    t0.push(sync(SyncOp::Wait, 0x55));
    t0.extend(work(1000, 0x2000));
    let mut t1 = vec![];
    t1.extend(work(30_000, 0x3000));
    let s = run(vec![stream(t0), stream(t1)], 1);
    // Thread 0 resumed at the latest clock once thread 1 had finished.
    assert_eq!(s.cores[0].stats.instructions, 2001);
    assert!(s.cores[0].finish_cycle > s.cores[1].finish_cycle);
}
