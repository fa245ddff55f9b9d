//! futex calls as synchronisation records, decided when the call *enters* the kernel.
//!
//! The simulation must never wait for a guest thread that sleeps in the host (its records would
//! not come until another thread, possibly held back by the simulation, woke it), so a wait's
//! record is written on entry, and whether it sleeps is predicted then: it sleeps when the futex
//! word still holds the expected value (the kernel's own test, done a moment earlier). A wait
//! predicted to return at once (`EAGAIN`) writes no record and costs no blocking.
//!
//! A wait predicted to sleep is registered as a *sleeper* of its address. A wake takes up to
//! its count of sleepers from the front of its address's list and writes one `Wake` record per
//! sleeper taken; a requeue moves sleepers to the other address's list (they keep the address
//! they waited on, which their later `Wake` names); a thread's exit wakes every sleeper on its
//! clear-tid address (what `pthread_join` waits on). So the streams hold exactly one `Wake` per
//! `Wait`, and the engine matches them per address, first come first served in simulated time:
//! a waiter resumes at the later of its own time and its wake's.
//!
//! Registration reads the word and a wake takes sleepers under one lock, after the waker changed
//! the word: a wake that comes after a wait read the old value always finds it. A prediction is
//! wrong only when the word changes between the read and the kernel's test (the wait then
//! returns at once but stays registered, and the next wake of its address takes it), or when a
//! timed wait times out; the engine resumes a wait nothing will ever wake when no core can run.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Linux futex operations (low 7 bits of the operation argument).
const WAIT: u64 = 0;
const WAKE: u64 = 1;
const REQUEUE: u64 = 3;
const CMP_REQUEUE: u64 = 4;
const WAKE_OP: u64 = 5;
const WAIT_BITSET: u64 = 9;
const WAKE_BITSET: u64 = 10;

/// What a futex call does to the simulated threads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing (a wait that returns at once, a wake that finds no sleeper, other operations).
    None,
    /// The caller sleeps on this address until a wake.
    Wait(u64),
    /// The caller wakes one sleeper per address listed (the addresses they waited on).
    Wake(Vec<u64>),
}

#[derive(Clone, Copy, Debug)]
struct Sleeper {
    /// The address it waited on (the object of its `Wait` record).
    origin: u64,
    /// Its `Wait` record was written (outside the simulated region it is not).
    recorded: bool,
}

/// Sleepers per futex address.
#[derive(Default)]
pub struct Futexes {
    sleepers: Mutex<HashMap<u64, VecDeque<Sleeper>>>,
}

impl Futexes {
    /// A futex call with the raw arguments `addr`, `op`, `val`, `val2` (the timeout argument),
    /// `addr2`, `val3`; `read` reads a 32-bit guest word (`None`: not readable). `recorded`
    /// says whether the caller's records are being written. Returns the records to write.
    pub fn call(
        &self,
        args: [u64; 6],
        recorded: bool,
        read: impl Fn(u64) -> Option<u32>,
    ) -> Effect {
        let [addr, op, val, val2, addr2, val3] = args;
        let Ok(mut s) = self.sleepers.lock() else {
            return Effect::None;
        };
        match op & 0x7f {
            WAIT | WAIT_BITSET => {
                if read(addr) != Some(val as u32) {
                    return Effect::None;
                }
                s.entry(addr).or_default().push_back(Sleeper {
                    origin: addr,
                    recorded,
                });
                if recorded {
                    Effect::Wait(addr)
                } else {
                    Effect::None
                }
            }
            WAKE | WAKE_BITSET | WAKE_OP => Effect::Wake(take(&mut s, addr, val, recorded)),
            REQUEUE | CMP_REQUEUE => {
                if op & 0x7f == CMP_REQUEUE && read(addr) != Some(val3 as u32) {
                    return Effect::None;
                }
                let woken = take(&mut s, addr, val, recorded);
                let moved: Vec<Sleeper> = match s.get_mut(&addr) {
                    Some(q) => {
                        let n = (val2 as u32 as usize).min(q.len());
                        q.drain(..n).collect()
                    }
                    None => Vec::new(),
                };
                if !moved.is_empty() {
                    s.entry(addr2).or_default().extend(moved);
                }
                Effect::Wake(woken)
            }
            _ => Effect::None,
        }
    }

    /// A thread exits and the kernel wakes every sleeper on its clear-tid address `addr`.
    pub fn exit(&self, addr: u64, recorded: bool) -> Vec<u64> {
        match self.sleepers.lock() {
            Ok(mut s) => take(&mut s, addr, i32::MAX as u64, recorded),
            Err(_) => Vec::new(),
        }
    }
}

/// Take up to `count` sleepers of `addr`; the origins of those whose wait was recorded (when
/// the waker records too).
fn take(
    s: &mut HashMap<u64, VecDeque<Sleeper>>,
    addr: u64,
    count: u64,
    recorded: bool,
) -> Vec<u64> {
    let Some(q) = s.get_mut(&addr) else {
        return Vec::new();
    };
    // The count is a C int: anything not positive wakes nobody.
    let n = (count as u32 as i32).max(0) as usize;
    let n = n.min(q.len());
    let out = q
        .drain(..n)
        .filter(|w| w.recorded && recorded)
        .map(|w| w.origin)
        .collect();
    if q.is_empty() {
        s.remove(&addr);
    }
    out
}

/// Offset from guest to host addresses (QEMU's `guest_base`), learnt from the first
/// instruction whose host address QEMU reports.
static GUEST_BASE: AtomicU64 = AtomicU64::new(0);
static GUEST_BASE_KNOWN: AtomicBool = AtomicBool::new(false);

/// Record the guest base from an instruction at guest `vaddr` found at host address `haddr`
/// whose first bytes are `bytes` (checked, so a wrong report is ignored).
pub fn learn_guest_base(vaddr: u64, haddr: u64, bytes: &[u8]) {
    if GUEST_BASE_KNOWN.load(Ordering::Relaxed) || haddr == 0 || bytes.is_empty() {
        return;
    }
    let base = haddr.wrapping_sub(vaddr);
    let mut got = vec![0u8; bytes.len().min(16)];
    if read_host(haddr, &mut got) && got == bytes[..got.len()] {
        GUEST_BASE.store(base, Ordering::Relaxed);
        GUEST_BASE_KNOWN.store(true, Ordering::Release);
    }
}

/// Read a 32-bit word of guest memory; `None` when it is not mapped.
pub fn read_guest_u32(addr: u64) -> Option<u32> {
    let base = if GUEST_BASE_KNOWN.load(Ordering::Acquire) {
        GUEST_BASE.load(Ordering::Relaxed)
    } else {
        0
    };
    let mut b = [0u8; 4];
    read_host(addr.wrapping_add(base), &mut b).then(|| u32::from_ne_bytes(b))
}

/// Read a 64-bit word of guest memory; `None` when it is not mapped.
pub fn read_guest_u64(addr: u64) -> Option<u64> {
    let base = if GUEST_BASE_KNOWN.load(Ordering::Acquire) {
        GUEST_BASE.load(Ordering::Relaxed)
    } else {
        0
    };
    let mut b = [0u8; 8];
    read_host(addr.wrapping_add(base), &mut b).then(|| u64::from_ne_bytes(b))
}

/// Copy host memory at `addr` without faulting (the kernel checks the address).
fn read_host(addr: u64, out: &mut [u8]) -> bool {
    let local = libc::iovec {
        iov_base: out.as_mut_ptr().cast(),
        iov_len: out.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: out.len(),
    };
    // SAFETY: both iovecs describe valid lengths; the kernel validates the remote range.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    n == out.len() as isize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_sleep_only_on_the_expected_value_and_wakes_take_sleepers_in_order() {
        let f = Futexes::default();
        let word = |v: u32| move |_: u64| Some(v);
        // value changed already: no sleep
        assert_eq!(
            f.call([0x10, WAIT, 2, 0, 0, 0], true, word(0)),
            Effect::None
        );
        // two sleepers
        assert_eq!(
            f.call([0x10, WAIT | 128, 2, 0, 0, 0], true, word(2)),
            Effect::Wait(0x10)
        );
        assert_eq!(
            f.call([0x10, WAIT_BITSET, 2, 0, 0, 0], true, word(2)),
            Effect::Wait(0x10)
        );
        // wake one, then a broadcast takes the other; a third wake finds nobody
        assert_eq!(
            f.call([0x10, WAKE, 1, 0, 0, 0], true, word(0)),
            Effect::Wake(vec![0x10])
        );
        assert_eq!(
            f.call([0x10, WAKE, i32::MAX as u64, 0, 0, 0], true, word(0)),
            Effect::Wake(vec![0x10])
        );
        assert_eq!(
            f.call([0x10, WAKE, 1, 0, 0, 0], true, word(0)),
            Effect::Wake(vec![])
        );
    }

    #[test]
    fn requeued_sleepers_keep_their_address_and_exits_wake_joiners() {
        let f = Futexes::default();
        for _ in 0..3 {
            f.call([0x20, WAIT, 0, 0, 0, 0], true, |_| Some(0));
        }
        // wake 1, move 1 to 0x30 (the third stays on 0x20)
        assert_eq!(
            f.call([0x20, CMP_REQUEUE, 1, 1, 0x30, 5], true, |_| Some(5)),
            Effect::Wake(vec![0x20])
        );
        assert_eq!(
            f.call([0x30, WAKE, 9, 0, 0, 0], true, |_| Some(0)),
            Effect::Wake(vec![0x20])
        );
        assert_eq!(f.exit(0x20, true), vec![0x20]);
        assert!(f.exit(0x20, true).is_empty());
        // an unreadable word never sleeps
        assert_eq!(
            f.call([0x40, WAIT, 0, 0, 0, 0], true, |_| None),
            Effect::None
        );
        // a sleeper whose wait was not recorded gets no wake record
        f.call([0x50, WAIT, 0, 0, 0, 0], false, |_| Some(0));
        assert_eq!(f.exit(0x50, true), Vec::<u64>::new());
    }

    #[test]
    fn guest_memory_reads_do_not_fault() {
        let x: u32 = 0xdead_beef;
        assert_eq!(read_guest_u32(&x as *const u32 as u64), Some(0xdead_beef));
        assert_eq!(read_guest_u32(8), None);
    }
}
