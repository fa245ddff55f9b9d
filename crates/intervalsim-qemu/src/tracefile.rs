//! Recording traces while the program runs: intervalsim's compact format (one file per guest
//! thread) and, for single-threaded programs, ChampSim's format.
//!
//! intervalsim's writers pull from an [`InstrStream`]; here each file gets a writer thread whose
//! stream receives batches of records over a bounded channel from the guest thread, and sends
//! the emptied buffers back for reuse, so recording allocates only while the pipeline fills.
//!
//! File names: thread 0 writes exactly the `trace=` path; thread *k* ≥ 1 writes the same path
//! with `.t<k>` inserted before the extension (`run.ist` → `run.t1.ist`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use intervalsim::frontend::{Instr, InstrStream, TraceError, champsim, compact};

use crate::options::Options;

/// Records per batch sent to a writer.
const BATCH: usize = 4096;
/// Batches in flight per writer.
const DEPTH: usize = 8;

type Writer = JoinHandle<Result<u64, TraceError>>;

/// All trace files of a run.
pub struct TraceSet {
    compact: Option<PathBuf>,
    champsim: Option<PathBuf>,
    writers: Mutex<Vec<(PathBuf, Writer)>>,
    extra_threads: Mutex<u32>,
}

/// The path thread `thread` writes for the base path `base`.
pub fn thread_path(base: &Path, thread: u32) -> PathBuf {
    if thread == 0 {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match base.extension() {
        Some(ext) => format!("{stem}.t{thread}.{}", ext.to_string_lossy()),
        None => format!("{stem}.t{thread}"),
    };
    base.with_file_name(name)
}

impl TraceSet {
    /// The trace files `opts` asks for, or `None`.
    pub fn new(opts: &Options) -> Result<Option<TraceSet>, String> {
        if opts.trace.is_none() && opts.champsim.is_none() {
            return Ok(None);
        }
        for p in [&opts.trace, &opts.champsim].into_iter().flatten() {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
            if let Some(d) = dir
                && !d.is_dir()
            {
                return Err(format!(
                    "trace output {}: directory {} does not exist",
                    p.display(),
                    d.display()
                ));
            }
        }
        Ok(Some(TraceSet {
            compact: opts.trace.clone(),
            champsim: opts.champsim.clone(),
            writers: Mutex::new(Vec::new()),
            extra_threads: Mutex::new(0),
        }))
    }

    /// The sink of guest thread `thread`.
    pub fn sink(&self, thread: u32) -> TraceSink {
        let mut outs = Vec::new();
        if let Some(base) = &self.compact {
            let path = thread_path(base, thread);
            outs.push(self.spawn(path, move |p, s| {
                compact::write_file(p, s, u64::MAX, thread)
            }));
        }
        if let Some(path) = &self.champsim {
            if thread == 0 {
                outs.push(self.spawn(path.clone(), |p, s| champsim::write_file(p, s, u64::MAX)));
            } else if let Ok(mut n) = self.extra_threads.lock() {
                *n += 1;
            }
        }
        TraceSink {
            outs,
            buf: Vec::with_capacity(BATCH),
        }
    }

    fn spawn(
        &self,
        path: PathBuf,
        write: impl FnOnce(&Path, &mut dyn InstrStream) -> Result<u64, TraceError> + Send + 'static,
    ) -> Out {
        let (tx, rx) = sync_channel::<Vec<Instr>>(DEPTH);
        let (back_tx, back_rx) = sync_channel::<Vec<Instr>>(DEPTH + 2);
        let p = path.clone();
        let handle = std::thread::spawn(move || {
            let mut stream = ChannelStream {
                rx,
                back: back_tx,
                cur: Vec::new(),
                pos: 0,
            };
            write(&p, &mut stream)
        });
        if let Ok(mut w) = self.writers.lock() {
            w.push((path, handle));
        }
        Out {
            tx: Some(tx),
            back: back_rx,
        }
    }

    /// Wait for every writer; errors name the file.
    pub fn close(&self) -> Result<(), String> {
        let writers = self
            .writers
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        let mut errors = Vec::new();
        for (path, h) in writers {
            match h.join() {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => errors.push(e.to_string()),
                Err(_) => errors.push(format!("{}: writer thread panicked", path.display())),
            }
        }
        let extra = self.extra_threads.lock().map(|n| *n).unwrap_or(0);
        if extra > 0
            && let Some(p) = &self.champsim
        {
            errors.push(format!(
                "{}: ChampSim traces hold one thread; only thread 0 was written and {extra} \
                 more thread(s) were left out (the compact format, trace=, keeps all)",
                p.display()
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

struct Out {
    tx: Option<SyncSender<Vec<Instr>>>,
    back: Receiver<Vec<Instr>>,
}

/// One guest thread's end of its trace files.
pub struct TraceSink {
    outs: Vec<Out>,
    buf: Vec<Instr>,
}

impl TraceSink {
    /// Append records.
    pub fn push(&mut self, records: &[Instr]) {
        let mut rest = records;
        while !rest.is_empty() {
            let take = (BATCH - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() == BATCH {
                self.send();
            }
        }
    }

    fn send(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let n = self.outs.len();
        for (i, out) in self.outs.iter_mut().enumerate() {
            let Some(tx) = &out.tx else { continue };
            let batch = if i + 1 == n {
                std::mem::take(&mut self.buf)
            } else {
                self.buf.clone()
            };
            if tx.send(batch).is_err() {
                // The writer failed; its error is reported at close.
                out.tx = None;
            }
        }
        // Reuse a returned buffer when one is back.
        self.buf = match self
            .outs
            .iter()
            .map(|o| o.back.try_recv())
            .find_map(Result::ok)
        {
            Some(mut b) => {
                b.clear();
                b
            }
            None => Vec::with_capacity(BATCH),
        };
        self.buf.clear();
    }

    /// Flush and close this thread's files.
    pub fn finish(mut self) {
        self.send();
        for out in &mut self.outs {
            out.tx = None;
        }
    }
}

struct ChannelStream {
    rx: Receiver<Vec<Instr>>,
    back: SyncSender<Vec<Instr>>,
    cur: Vec<Instr>,
    pos: usize,
}

impl InstrStream for ChannelStream {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        while self.pos == self.cur.len() {
            let done = std::mem::take(&mut self.cur);
            if done.capacity() > 0 {
                let _ = self.back.try_send(done);
            }
            match self.rx.recv() {
                Ok(next) => {
                    self.cur = next;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
    fn describe(&self) -> String {
        "live QEMU instructions".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use intervalsim::frontend::{Kind, collect};

    #[test]
    fn per_thread_names() {
        assert_eq!(
            thread_path(Path::new("/t/run.ist"), 0),
            PathBuf::from("/t/run.ist")
        );
        assert_eq!(
            thread_path(Path::new("/t/run.ist"), 3),
            PathBuf::from("/t/run.t3.ist")
        );
        assert_eq!(thread_path(Path::new("run"), 1), PathBuf::from("run.t1"));
    }

    #[test]
    fn records_round_trip_through_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            trace: Some(dir.path().join("x.ist")),
            champsim: Some(dir.path().join("x.champsim")),
            ..Options::default()
        };
        let set = TraceSet::new(&opts).unwrap().unwrap();
        let mut sink = set.sink(0);
        let recs: Vec<Instr> = (0..10_000u64)
            .map(|i| {
                let mut r = Instr::new(0x1000 + 4 * (i % 100), Kind::Load);
                r.len = 4;
                r.push_mem(0x8000 + 64 * i, 8, false);
                r
            })
            .collect();
        for chunk in recs.chunks(777) {
            sink.push(chunk);
        }
        sink.finish();
        set.close().unwrap();
        let mut back = compact::open(&dir.path().join("x.ist")).unwrap();
        let got = collect(&mut back, usize::MAX).unwrap();
        assert_eq!(got, recs);
        let mut cs = champsim::open(&dir.path().join("x.champsim")).unwrap();
        assert_eq!(collect(&mut cs, usize::MAX).unwrap().len(), recs.len());
    }

    #[test]
    fn missing_directory_is_an_error() {
        let opts = Options {
            trace: Some(PathBuf::from("/nonexistent-dir/x.ist")),
            ..Options::default()
        };
        let e = TraceSet::new(&opts).err().unwrap();
        assert!(e.contains("/nonexistent-dir"), "{e}");
    }
}
