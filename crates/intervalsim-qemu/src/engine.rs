//! The live multi-core path: guest threads only *produce* records into per-thread queues;
//! intervalsim's multi-core engine (`intervalsim::multicore::run`, the same code that replays
//! `--thread-trace` files) consumes them on its own host thread, core *k* running guest thread
//! *k*. Live and replay are then the same computation on the same streams.
//!
//! **Queues and deadlock freedom.** Each core has a queue of record batches in one [`Hub`]. The
//! engine blocks only when it needs the next record of a core that is runnable in simulation
//! and that core's queue is empty. A producer blocks only while its queue holds more than
//! [`QUEUE_RECORDS`] records *and* the engine is not waiting for anyone: the moment the engine
//! starves, every producer is let through (the queues may then grow past the bound until the
//! engine is fed again). So a guest thread never waits inside a plugin callback for an engine
//! that is itself waiting for another guest thread — which QEMU could be holding in an exclusive
//! section until this one leaves its callback. A producer that does wait resumes only once
//! its queue has drained to half the bound, so a fast producer and a slower engine do not
//! hand the lock back and forth batch by batch.
//!
//! Cores beyond the first begin with a `ThreadStart` record naming themselves (the engine
//! blocks them until another core's stream creates them); a core no guest thread reached keeps
//! only that record, exactly as `intervalsim run --cores N --thread-trace …` treats cores
//! without a trace.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, Once};
use std::thread::JoinHandle;

use intervalsim::config::Config;
use intervalsim::frontend::threads::start_record;
use intervalsim::frontend::{Instr, InstrStream, TraceError};
use intervalsim::multicore::{self, report::MultiStats};

/// Records a producer may have queued before it waits for the engine (while the engine is not
/// starving): 64 Ki records, 6 MiB per thread.
pub const QUEUE_RECORDS: usize = 1 << 16;
/// Records a producer collects before handing them to its queue.
const CHUNK: usize = 1024;
/// Spare batch buffers kept for reuse.
const POOL: usize = 64;

/// Set in a process forked from the emulated one (a `fork` without `exec`): the engine thread
/// did not survive the fork, so the child's threads must not queue records for it.
static FORKED: AtomicBool = AtomicBool::new(false);

extern "C" fn forked_child() {
    FORKED.store(true, Ordering::Relaxed);
}

#[derive(Default)]
struct Queue {
    batches: VecDeque<Vec<Instr>>,
    records: usize,
    closed: bool,
}

struct HubState {
    queues: Vec<Queue>,
    free: Vec<Vec<Instr>>,
    /// The engine waits for records of this core.
    waiting_for: Option<usize>,
    /// The engine has stopped (finished or failed): producers never wait again.
    finished: bool,
}

/// The per-core record queues between the guest threads and the engine.
pub struct Hub {
    state: Mutex<HubState>,
    engine_cv: Condvar,
    producer_cv: Condvar,
}

impl Hub {
    /// Queues for `cores` cores.
    pub fn new(cores: usize) -> Hub {
        Hub {
            state: Mutex::new(HubState {
                queues: (0..cores).map(|_| Queue::default()).collect(),
                free: Vec::new(),
                waiting_for: None,
                finished: false,
            }),
            engine_cv: Condvar::new(),
            producer_cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append a batch to core `core`'s queue (waiting first if the queue is full and the engine
    /// is busy elsewhere); returns an empty buffer to fill next.
    fn push(&self, core: usize, batch: Vec<Instr>) -> Vec<Instr> {
        let mut st = self.lock();
        if st.queues[core].records >= QUEUE_RECORDS {
            while st.queues[core].records > QUEUE_RECORDS / 2
                && st.waiting_for.is_none()
                && !st.finished
            {
                st = self.producer_cv.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
        let next = st.free.pop().unwrap_or_default();
        if !st.finished && !st.queues[core].closed {
            let q = &mut st.queues[core];
            q.records += batch.len();
            q.batches.push_back(batch);
            if st.waiting_for == Some(core) {
                self.engine_cv.notify_one();
            }
        }
        next
    }

    /// Core `core` gets no more records.
    pub fn close(&self, core: usize) {
        let mut st = self.lock();
        if let Some(q) = st.queues.get_mut(core) {
            q.closed = true;
        }
        if st.waiting_for == Some(core) {
            self.engine_cv.notify_one();
        }
    }

    /// Every core gets no more records (the program ends).
    pub fn close_all(&self) {
        let mut st = self.lock();
        for q in &mut st.queues {
            q.closed = true;
        }
        self.engine_cv.notify_all();
    }

    /// The engine has stopped; release every producer for good.
    fn finish(&self) {
        let mut st = self.lock();
        st.finished = true;
        for q in &mut st.queues {
            q.batches.clear();
            q.records = 0;
        }
        self.producer_cv.notify_all();
    }

    /// The next batch of core `core` (returning the spent one for reuse), waiting for it while
    /// the core's producer is open; `None` at its end.
    fn pop(&self, core: usize, spent: Vec<Instr>) -> Option<Vec<Instr>> {
        let mut st = self.lock();
        if spent.capacity() > 0 && st.free.len() < POOL {
            let mut spent = spent;
            spent.clear();
            st.free.push(spent);
        }
        loop {
            let q = &mut st.queues[core];
            if let Some(b) = q.batches.pop_front() {
                let was = q.records;
                q.records -= b.len();
                if was > QUEUE_RECORDS / 2 && q.records <= QUEUE_RECORDS / 2 {
                    self.producer_cv.notify_all();
                }
                return Some(b);
            }
            if q.closed {
                return None;
            }
            // Starving: let every producer through while we wait for this one.
            st.waiting_for = Some(core);
            self.producer_cv.notify_all();
            st = self.engine_cv.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiting_for = None;
        }
    }
}

/// One guest thread's end of its core's queue.
pub struct Sink {
    hub: &'static Hub,
    core: usize,
    buf: Vec<Instr>,
}

impl Sink {
    /// The producer end of core `core`.
    pub fn new(hub: &'static Hub, core: usize) -> Sink {
        Sink {
            hub,
            core,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    /// Queue records (handed over in chunks).
    #[inline]
    pub fn push(&mut self, records: &[Instr]) {
        self.buf.extend_from_slice(records);
        if self.buf.len() >= CHUNK {
            self.flush();
        }
    }

    /// Hand everything collected to the engine (before the thread may block in the host).
    pub fn flush(&mut self) {
        if FORKED.load(Ordering::Relaxed) {
            self.buf.clear();
            return;
        }
        if !self.buf.is_empty() {
            let batch = std::mem::take(&mut self.buf);
            self.buf = self.hub.push(self.core, batch);
            if self.buf.capacity() < CHUNK {
                self.buf.reserve(CHUNK);
            }
        }
    }

    /// Flush and end this core's stream.
    pub fn close(mut self) {
        self.flush();
        if !FORKED.load(Ordering::Relaxed) {
            self.hub.close(self.core);
        }
    }
}

/// The engine's view of one core's queue.
struct LiveStream {
    hub: &'static Hub,
    core: usize,
    prefix: Option<Instr>,
    cur: Vec<Instr>,
    pos: usize,
}

impl InstrStream for LiveStream {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(p) = self.prefix.take() {
            buf[0] = p;
            return Ok(1);
        }
        while self.pos == self.cur.len() {
            match self.hub.pop(self.core, std::mem::take(&mut self.cur)) {
                Some(b) => {
                    self.cur = b;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    fn describe(&self) -> String {
        format!("live guest thread {}", self.core)
    }
}

/// The multi-core engine running on its own host thread.
pub struct Engine {
    /// The queues it reads.
    pub hub: &'static Hub,
    /// Cores of the simulated machine.
    pub cores: u32,
    handle: Mutex<Option<JoinHandle<Result<MultiStats, String>>>>,
}

impl Engine {
    /// Start the engine on the machine `base` (whose `system.cores` is the core count), every
    /// core configured as `base`.
    pub fn start(base: Config) -> Result<Engine, String> {
        static AT_FORK: Once = Once::new();
        // SAFETY: registers a handler that only stores to an atomic.
        AT_FORK.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(forked_child));
        });
        let n = base.system.cores;
        let hub: &'static Hub = Box::leak(Box::new(Hub::new(n as usize)));
        let streams: Vec<Box<dyn InstrStream + Send>> = (0..n)
            .map(|k| {
                Box::new(LiveStream {
                    hub,
                    core: k as usize,
                    prefix: (k > 0).then(|| start_record(k)),
                    cur: Vec::new(),
                    pos: 0,
                }) as Box<dyn InstrStream + Send>
            })
            .collect();
        let handle = std::thread::Builder::new()
            .name("intervalsim-engine".into())
            .spawn(move || {
                let cores = vec![base.clone(); n as usize];
                let r = multicore::run(
                    &base,
                    &cores,
                    streams,
                    "live QEMU threads",
                    multicore::Options { host_threads: 1 },
                    |_| {},
                )
                .map_err(|e| format!("multi-core engine: {e:#}"));
                hub.finish();
                r
            })
            .map_err(|e| format!("cannot start the simulation thread: {e}"))?;
        Ok(Engine {
            hub,
            cores: n,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// End every stream and wait for the engine's results.
    pub fn finish(&self) -> Result<MultiStats, String> {
        if FORKED.load(Ordering::Relaxed) {
            return Err("a forked process has no simulation".into());
        }
        self.hub.close_all();
        let handle = self
            .handle
            .lock()
            .ok()
            .and_then(|mut h| h.take())
            .ok_or("the multi-core engine was already finished")?;
        handle
            .join()
            .map_err(|_| "the multi-core engine panicked".to_string())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use intervalsim::frontend::{Kind, SyncOp};

    fn instr(pc: u64) -> Instr {
        let mut i = Instr::new(pc, Kind::Int);
        i.len = 4;
        i
    }

    #[test]
    fn queues_deliver_in_order_and_end_when_closed() {
        let hub: &'static Hub = Box::leak(Box::new(Hub::new(2)));
        let mut s = LiveStream {
            hub,
            core: 1,
            prefix: Some(start_record(1)),
            cur: Vec::new(),
            pos: 0,
        };
        let producer = std::thread::spawn(move || {
            let mut sink = Sink::new(hub, 1);
            for k in 0..5000u64 {
                sink.push(&[instr(k * 4)]);
            }
            sink.close();
        });
        let mut buf = vec![Instr::default(); 333];
        let mut got = Vec::new();
        loop {
            let n = s.fill(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        producer.join().unwrap();
        assert_eq!(got.len(), 5001);
        assert_eq!(
            (got[0].kind, got[0].sync),
            (Kind::Sync, SyncOp::ThreadStart)
        );
        assert!(
            got[1..]
                .iter()
                .enumerate()
                .all(|(k, i)| i.pc == k as u64 * 4)
        );
    }

    #[test]
    fn a_full_queue_lets_its_producer_through_while_the_engine_starves() {
        let hub: &'static Hub = Box::leak(Box::new(Hub::new(2)));
        // Core 0's producer fills its queue past the bound, then needs core 1's producer
        // (which the engine waits for) to finish first: it must not block forever.
        let p0 = std::thread::spawn(move || {
            let mut sink = Sink::new(hub, 0);
            for k in 0..(3 * QUEUE_RECORDS as u64) {
                sink.push(&[instr(k)]);
            }
            sink.close();
        });
        let mut s1 = LiveStream {
            hub,
            core: 1,
            prefix: None,
            cur: Vec::new(),
            pos: 0,
        };
        let p1 = std::thread::spawn(move || {
            p0.join().unwrap();
            let mut sink = Sink::new(hub, 1);
            sink.push(&[instr(7)]);
            sink.close();
        });
        let mut buf = vec![Instr::default(); 16];
        assert_eq!(s1.fill(&mut buf).unwrap(), 1);
        assert_eq!(s1.fill(&mut buf).unwrap(), 0);
        p1.join().unwrap();
    }
}
