//! The QEMU side: callback registration, the global tables, and the C-ABI callbacks.
//!
//! Callbacks are registered with the raw plugin API rather than through closures: the block
//! callback's user data is a pointer to the block's [`TbInfo`] (kept for the life of the process
//! and shared by every retranslation of the same code), and a memory callback's user data is the
//! instruction's index within its block. Nothing is allocated per translation beyond a new
//! `TbInfo` for code never seen before, and no closure is leaked.
//!
//! Per-thread state lives in a fixed table indexed by QEMU's vCPU index; in user mode a vCPU is
//! a guest thread and all its callbacks run on that thread, so the hot path takes no lock.
//! Indices are reused after a thread exits, so a slot is emptied on exit and refilled on init.

use std::collections::HashMap;
use std::ffi::{c_uint, c_void};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use intervalsim::frontend::qemu::{REPORT_VERSION, Report, ThreadReport};
use qemu_plugin::sys::{
    qemu_plugin_cb_flags, qemu_plugin_id_t, qemu_plugin_insn_data, qemu_plugin_insn_haddr,
    qemu_plugin_insn_size, qemu_plugin_insn_vaddr, qemu_plugin_mem_is_store, qemu_plugin_mem_rw,
    qemu_plugin_mem_size_shift, qemu_plugin_meminfo_t, qemu_plugin_register_atexit_cb,
    qemu_plugin_register_vcpu_exit_cb, qemu_plugin_register_vcpu_init_cb,
    qemu_plugin_register_vcpu_mem_cb, qemu_plugin_register_vcpu_syscall_cb,
    qemu_plugin_register_vcpu_syscall_ret_cb, qemu_plugin_register_vcpu_tb_exec_cb,
    qemu_plugin_register_vcpu_tb_trans_cb, qemu_plugin_tb, qemu_plugin_tb_get_insn,
    qemu_plugin_tb_n_insns,
};
use qemu_plugin::{Args, HasCallbacks, Info, PluginId, Register, register};

use std::cell::Cell;

use crate::decode::{BlockDecoder, TbInfo};
use crate::options::{Mode, Options};
use crate::vcpu::{Shared, Vcpu};

use crate::MAX_THREADS as MAX_VCPUS;

/// Linux x86-64 system call numbers the plugin watches.
const SYS_FUTEX: i64 = 202;

struct Global {
    opts: Options,
    shared: Shared,
    translator: Mutex<Translator>,
    finished: Mutex<Vec<ThreadReport>>,
    next_thread: AtomicU32,
    skipped: AtomicU64,
    start: Instant,
    exiting: AtomicBool,
    /// The emulated process; a forked child (which carries a copy of this state) stays silent.
    pid: i32,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();

thread_local! {
    /// The vCPU this host thread runs and the clear-tid address of the child it creates, while
    /// it is inside a `clone`: QEMU 7.2 creates the child's vCPU (and calls `vcpu_init`) on the
    /// parent's thread during the call, so the parent's stream can name the child at that point.
    static CLONING: Cell<Option<(c_uint, u64)>> = const { Cell::new(None) };
}

const SYS_CLONE: i64 = 56;
const SYS_CLONE3: i64 = 435;
static VCPUS: [AtomicPtr<Vcpu>; MAX_VCPUS] = [const { AtomicPtr::new(null_mut()) }; MAX_VCPUS];

struct Translator {
    decoder: BlockDecoder,
    /// Blocks already decoded, keyed by start address followed by the code bytes.
    blocks: HashMap<Box<[u8]>, &'static TbInfo>,
    key: Vec<u8>,
    insns: Vec<(u64, usize, usize)>,
}

struct IntervalsimPlugin;

impl HasCallbacks for IntervalsimPlugin {}

impl Register for IntervalsimPlugin {
    fn register_default(
        &mut self,
        id: PluginId,
        args: &Args,
        info: &Info,
    ) -> qemu_plugin::Result<()> {
        let fail = |msg: String| -> ! {
            eprintln!("intervalsim-qemu: {msg}");
            std::process::exit(2)
        };
        if info.system.is_some() || !info.target_name.starts_with("x86_64") {
            fail(format!(
                "this plugin runs in qemu-x86_64 user mode only (loaded into {})",
                info.target_name
            ));
        }
        let opts = Options::parse(args.raw.iter().map(String::as_str)).unwrap_or_else(|e| fail(e));
        let shared = Shared::new(&opts).unwrap_or_else(|e| fail(e));
        let global = Global {
            opts,
            shared,
            translator: Mutex::new(Translator {
                decoder: BlockDecoder::new(),
                blocks: HashMap::new(),
                key: Vec::with_capacity(4096),
                insns: Vec::with_capacity(512),
            }),
            finished: Mutex::new(Vec::new()),
            next_thread: AtomicU32::new(0),
            skipped: AtomicU64::new(0),
            start: Instant::now(),
            exiting: AtomicBool::new(false),
            pid: unsafe { libc::getpid() },
        };
        if GLOBAL.set(global).is_err() {
            fail("loaded twice".into());
        }
        unsafe {
            qemu_plugin_register_vcpu_init_cb(id, Some(vcpu_init));
            qemu_plugin_register_vcpu_exit_cb(id, Some(vcpu_exit));
            qemu_plugin_register_vcpu_tb_trans_cb(id, Some(tb_trans));
            qemu_plugin_register_vcpu_syscall_cb(id, Some(syscall));
            qemu_plugin_register_vcpu_syscall_ret_cb(id, Some(syscall_ret));
            qemu_plugin_register_atexit_cb(id, Some(atexit), null_mut());
        }
        Ok(())
    }
}

register!(IntervalsimPlugin);

#[inline]
fn global() -> &'static Global {
    // Set in register_default before any callback is registered.
    GLOBAL.get().expect("plugin installed")
}

/// The state of vCPU `index`, created on first use.
#[inline]
fn vcpu(index: c_uint) -> Option<&'static mut Vcpu> {
    let slot = VCPUS.get(index as usize)?;
    let p = slot.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: only the guest thread running vCPU `index` uses this slot until it exits.
        return Some(unsafe { &mut *p });
    }
    create(index, 0).map(|(v, _)| v)
}

/// Create the state of vCPU `index` (clear-tid address `clear_tid`); returns it and its thread
/// number.
fn create(index: c_uint, clear_tid: u64) -> Option<(&'static mut Vcpu, u32)> {
    let slot = VCPUS.get(index as usize)?;
    let g = global();
    if g.exiting.load(Ordering::Relaxed) {
        return None;
    }
    let number = g.next_thread.fetch_add(1, Ordering::Relaxed);
    let v = Box::into_raw(Box::new(Vcpu::new(
        number, index, &g.opts, &g.shared, clear_tid,
    )));
    slot.store(v, Ordering::Release);
    // SAFETY: just created; only this vCPU's thread uses it from now on.
    Some((unsafe { &mut *v }, number))
}

/// Remove vCPU `index`'s state and report it.
fn retire(index: usize) {
    let Some(slot) = VCPUS.get(index) else {
        return;
    };
    let p = slot.swap(null_mut(), Ordering::AcqRel);
    if p.is_null() {
        return;
    }
    // SAFETY: the pointer came from Box::into_raw in `vcpu` and is no longer reachable.
    let v = unsafe { Box::from_raw(p) };
    let g = global();
    let (report, skipped) = v.finish();
    g.skipped.fetch_add(skipped, Ordering::Relaxed);
    if let Ok(mut f) = g.finished.lock() {
        f.push(report);
    }
}

unsafe extern "C" fn vcpu_init(_id: qemu_plugin_id_t, index: c_uint) {
    if index as usize >= MAX_VCPUS {
        eprintln!("intervalsim-qemu: more than {MAX_VCPUS} threads alive; thread ignored");
        return;
    }
    // A reused index whose previous thread never reported exit: report it now.
    retire(index as usize);
    match CLONING.with(Cell::get) {
        Some((parent, clear_tid)) if parent != index => {
            // Created by the thread running `parent`, inside its clone call, on its thread.
            if let Some((_, number)) = create(index, clear_tid)
                && let Some(p) = vcpu(parent)
            {
                p.created(number);
            }
        }
        _ => {
            let _ = vcpu(index);
        }
    }
}

unsafe extern "C" fn vcpu_exit(_id: qemu_plugin_id_t, index: c_uint) {
    retire(index as usize);
}

unsafe extern "C" fn tb_trans(_id: qemu_plugin_id_t, tb: *mut qemu_plugin_tb) {
    let g = global();
    let Ok(mut tr) = g.translator.lock() else {
        return;
    };
    let tr = &mut *tr;
    let n = unsafe { qemu_plugin_tb_n_insns(tb) };
    if n == 0 {
        return;
    }
    tr.key.clear();
    tr.insns.clear();
    for i in 0..n {
        let insn = unsafe { qemu_plugin_tb_get_insn(tb, i) };
        let pc = unsafe { qemu_plugin_insn_vaddr(insn) };
        let size = unsafe { qemu_plugin_insn_size(insn) };
        let data = unsafe { qemu_plugin_insn_data(insn) } as *const u8;
        if i == 0 {
            tr.key.extend_from_slice(&pc.to_le_bytes());
            if !data.is_null() && size > 0 {
                let haddr = unsafe { qemu_plugin_insn_haddr(insn) } as u64;
                // SAFETY: QEMU guarantees `size` bytes of instruction data at `data`.
                let bytes = unsafe { std::slice::from_raw_parts(data, size) };
                crate::futex::learn_guest_base(pc, haddr, bytes);
            }
        }
        let start = tr.key.len();
        if !data.is_null() && size > 0 {
            // SAFETY: QEMU guarantees `size` bytes of instruction data at `data`.
            tr.key
                .extend_from_slice(unsafe { std::slice::from_raw_parts(data, size) });
        }
        tr.insns.push((pc, start, tr.key.len()));
    }
    let info: &'static TbInfo = match tr.blocks.get(tr.key.as_slice()) {
        Some(info) => info,
        None => {
            let key = &tr.key;
            let info = tr
                .decoder
                .decode_block(tr.insns.iter().map(|&(pc, a, b)| (pc, &key[a..b])));
            let info: &'static TbInfo = Box::leak(Box::new(info));
            tr.blocks.insert(tr.key.clone().into_boxed_slice(), info);
            info
        }
    };
    let exec = if g.opts.needs_records() {
        tb_exec_records
    } else {
        tb_exec_count
    };
    unsafe {
        qemu_plugin_register_vcpu_tb_exec_cb(
            tb,
            Some(exec),
            qemu_plugin_cb_flags::QEMU_PLUGIN_CB_NO_REGS,
            info as *const TbInfo as *mut c_void,
        );
    }
    if g.opts.needs_records() {
        for i in 0..n {
            let insn = unsafe { qemu_plugin_tb_get_insn(tb, i) };
            unsafe {
                qemu_plugin_register_vcpu_mem_cb(
                    insn,
                    Some(mem_access),
                    qemu_plugin_cb_flags::QEMU_PLUGIN_CB_NO_REGS,
                    qemu_plugin_mem_rw::QEMU_PLUGIN_MEM_RW,
                    i as *mut c_void,
                );
            }
        }
    }
}

unsafe extern "C" fn tb_exec_count(index: c_uint, udata: *mut c_void) {
    // SAFETY: udata is a leaked &'static TbInfo registered in tb_trans.
    let tb = unsafe { &*(udata as *const TbInfo) };
    if let Some(v) = vcpu(index) {
        v.thread.count_block(tb);
    }
}

unsafe extern "C" fn tb_exec_records(index: c_uint, udata: *mut c_void) {
    // SAFETY: as above.
    let tb: &'static TbInfo = unsafe { &*(udata as *const TbInfo) };
    if let Some(v) = vcpu(index) {
        v.block(tb);
    }
}

unsafe extern "C" fn mem_access(
    index: c_uint,
    info: qemu_plugin_meminfo_t,
    vaddr: u64,
    udata: *mut c_void,
) {
    if let Some(v) = vcpu(index) {
        let shift = unsafe { qemu_plugin_mem_size_shift(info) };
        let write = unsafe { qemu_plugin_mem_is_store(info) };
        v.thread
            .memory(udata as usize as u16, vaddr, 1u8 << (shift & 7), write);
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn syscall(
    _id: qemu_plugin_id_t,
    index: c_uint,
    num: i64,
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
    a6: u64,
    _a7: u64,
    _a8: u64,
) {
    if let Some(v) = vcpu(index) {
        v.thread.counts.syscalls += 1;
        if num == SYS_FUTEX {
            v.thread.counts.futex_calls += 1;
        }
        let args = [a1, a2, a3, a4, a5, a6];
        if num == SYS_CLONE || num == SYS_CLONE3 {
            CLONING.with(|c| c.set(Some((index, Vcpu::child_clear_tid(num, &args)))));
        }
        v.syscall_enter(num, &args);
    }
}

unsafe extern "C" fn syscall_ret(_id: qemu_plugin_id_t, index: c_uint, num: i64, _ret: i64) {
    if num == SYS_CLONE || num == SYS_CLONE3 {
        CLONING.with(|c| c.set(None));
    }
    if let Some(v) = vcpu(index) {
        v.syscall_exit(num);
    }
}

unsafe extern "C" fn atexit(_id: qemu_plugin_id_t, _udata: *mut c_void) {
    let g = global();
    g.exiting.store(true, Ordering::SeqCst);
    if unsafe { libc::getpid() } != g.pid {
        // A forked child that never called exec: its copy of the plugin state describes the
        // parent's past, and the report file belongs to the parent.
        return;
    }
    for i in 0..MAX_VCPUS {
        retire(i);
    }
    let mut threads = g
        .finished
        .lock()
        .map(|mut f| std::mem::take(&mut *f))
        .unwrap_or_default();
    threads.sort_by_key(|t| t.thread);
    let multicore = match &g.shared.engine {
        Some(e) => match e.finish() {
            Ok(m) => {
                g.shared.attach(&mut threads, &m);
                Some(m)
            }
            Err(err) => {
                eprintln!("intervalsim-qemu: {err}");
                None
            }
        },
        None => None,
    };
    let report = Report {
        version: REPORT_VERSION,
        mode: match g.opts.mode {
            Mode::Count => "count",
            Mode::Sim => "sim",
            Mode::Trace => "trace",
        }
        .to_string(),
        threads,
        skipped_instructions: g.skipped.load(Ordering::Relaxed),
        wall_seconds: g.start.elapsed().as_secs_f64(),
        multicore,
        ..g.shared.summary()
    };
    if let Err(e) = g.shared.close() {
        eprintln!("intervalsim-qemu: {e}");
    }
    match &g.opts.out {
        Some(path) => {
            if let Err(e) = write_atomic(path, &report) {
                eprintln!("intervalsim-qemu: cannot write {}: {e}", path.display());
            }
        }
        None => eprint!("{}", report.to_text()),
    }
}

fn write_atomic(path: &std::path::Path, report: &Report) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}
