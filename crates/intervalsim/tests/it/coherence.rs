//! Protocol checker for the MESI directory: random multi-core access streams drive the
//! directory, private caches follow its instructions (grant, invalidate, downgrade, forward),
//! and an oracle checks after every step that each line has a single writer or several
//! readers, and that every read returns the last written version.

use intervalsim::memory::coherence::{Directory, Mesi, Op};
use proptest::prelude::*;
use std::collections::HashMap;

const CORES: u32 = 6;
const LINES: u64 = 4;

/// A private cache: line → (state, version of the data it holds).
type Private = HashMap<u64, (Mesi, u64)>;

struct System {
    dir: Directory,
    caches: Vec<Private>,
    /// Data held by the LLC/memory per line.
    memory: HashMap<u64, u64>,
    /// The oracle: last version written per line.
    last: HashMap<u64, u64>,
    next_version: u64,
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Read(u32, u64),
    Write(u32, u64),
    Evict(u32, u64),
    LlcEvict(u64),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..CORES, 0..LINES).prop_map(|(c, l)| Action::Read(c, l)),
        4 => (0..CORES, 0..LINES).prop_map(|(c, l)| Action::Write(c, l)),
        2 => (0..CORES, 0..LINES).prop_map(|(c, l)| Action::Evict(c, l)),
        1 => (0..LINES).prop_map(Action::LlcEvict),
    ]
}

impl System {
    fn new() -> System {
        System {
            dir: Directory::new(),
            caches: vec![Private::new(); CORES as usize],
            memory: HashMap::new(),
            last: HashMap::new(),
            next_version: 1,
        }
    }

    fn mem(&self, line: u64) -> u64 {
        self.memory.get(&line).copied().unwrap_or(0)
    }

    /// Carry out the directory's outcome for a miss by `c`; returns the data `c` receives.
    fn miss(&mut self, c: u32, line: u64, op: Op) -> Result<(Mesi, u64), String> {
        let out = self.dir.access(c, line, op);
        let mut data = None;
        if let Some(o) = out.forward_from {
            let (st, v) = self.caches[o as usize].get(&line).copied().ok_or(format!(
                "forward from core {o}, which has no copy of {line}"
            ))?;
            if !matches!(st, Mesi::Exclusive | Mesi::Modified) {
                return Err(format!("forward from core {o} in state {st:?}"));
            }
            data = Some(v);
            if out.downgrade {
                if st == Mesi::Modified {
                    self.memory.insert(line, v);
                }
                self.caches[o as usize].insert(line, (Mesi::Shared, v));
            }
        }
        for v in out.invalidate.iter() {
            if v == c {
                return Err(format!("core {c} asked to invalidate itself"));
            }
            if let Some((st, ver)) = self.caches[v as usize].remove(&line)
                && st == Mesi::Modified
                && out.forward_from != Some(v)
            {
                // modified data without a forward would be lost
                return Err(format!(
                    "core {v}'s modified copy of {line} (v{ver}) dropped"
                ));
            }
        }
        if out.upgrade {
            let (st, v) = self.caches[c as usize]
                .get(&line)
                .copied()
                .ok_or(format!("upgrade by core {c} without a copy"))?;
            if st != Mesi::Shared {
                return Err(format!("upgrade from state {st:?}"));
            }
            data = Some(v);
        }
        if out.from_llc {
            data = Some(self.mem(line));
        }
        let grant = out.grant.ok_or("no grant for a miss")?;
        let v = data.ok_or(format!("core {c}: no data source for {line} ({out:?})"))?;
        Ok((grant, v))
    }

    fn step(&mut self, a: Action) -> Result<(), String> {
        match a {
            Action::Read(c, line) => {
                let v = match self.caches[c as usize].get(&line).copied() {
                    Some((_, v)) => v,
                    None => {
                        let (g, v) = self.miss(c, line, Op::Read)?;
                        self.caches[c as usize].insert(line, (g, v));
                        v
                    }
                };
                let want = self.last.get(&line).copied().unwrap_or(0);
                if v != want {
                    return Err(format!(
                        "core {c} read v{v} of line {line}, last written v{want}"
                    ));
                }
            }
            Action::Write(c, line) => {
                let st = self.caches[c as usize].get(&line).map(|x| x.0);
                if !matches!(st, Some(Mesi::Modified | Mesi::Exclusive)) {
                    let (g, _) = self.miss(c, line, Op::Write)?;
                    if g != Mesi::Modified {
                        return Err(format!("write granted {g:?}"));
                    }
                }
                let v = self.next_version;
                self.next_version += 1;
                self.caches[c as usize].insert(line, (Mesi::Modified, v));
                self.last.insert(line, v);
            }
            Action::Evict(c, line) => {
                if let Some((st, v)) = self.caches[c as usize].remove(&line) {
                    let dirty = st == Mesi::Modified;
                    let out = self.dir.access(c, line, Op::Evict { dirty });
                    if dirty {
                        if !out.writeback {
                            return Err("dirty eviction without writeback".into());
                        }
                        self.memory.insert(line, v);
                    }
                }
            }
            Action::LlcEvict(line) => {
                for h in self.dir.drop_line(line).iter() {
                    if let Some((st, v)) = self.caches[h as usize].remove(&line)
                        && st == Mesi::Modified
                    {
                        self.memory.insert(line, v);
                    }
                }
            }
        }
        self.check()
    }

    /// Single writer or multiple readers, and the directory agrees with the caches.
    fn check(&self) -> Result<(), String> {
        for line in 0..LINES {
            let holders: Vec<(u32, Mesi)> = (0..CORES)
                .filter_map(|c| self.caches[c as usize].get(&line).map(|x| (c, x.0)))
                .collect();
            let writers = holders
                .iter()
                .filter(|h| matches!(h.1, Mesi::Modified | Mesi::Exclusive))
                .count();
            if writers > 1 || (writers == 1 && holders.len() > 1) {
                return Err(format!("line {line}: SWMR violated: {holders:?}"));
            }
            for &(c, _) in &holders {
                let known = self.dir.get(line).is_some_and(|e| e.holders().contains(c));
                if !known {
                    return Err(format!(
                        "line {line}: core {c} holds it unknown to the directory"
                    ));
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn mesi_keeps_swmr_and_reads_see_the_last_write(actions in prop::collection::vec(action(), 1..200)) {
        let mut s = System::new();
        for (i, a) in actions.iter().enumerate() {
            if let Err(e) = s.step(*a) {
                prop_assert!(false, "step {i} {a:?}: {e}");
            }
        }
    }
}

#[test]
fn the_checker_catches_a_broken_protocol() {
    // A directory that forgets to invalidate: drive two writers by hand and show the oracle
    // would see a violation if the second writer's grant left the first copy in place.
    let mut s = System::new();
    s.step(Action::Write(0, 1)).unwrap();
    s.caches[1].insert(1, (Mesi::Modified, 99));
    assert!(s.check().is_err());
}
