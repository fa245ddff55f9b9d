//! Built-in synthetic workloads: parameterised instruction generators that need no file.
//!
//! Each generator emits a loop: a body of instructions closed by a taken conditional branch
//! back to its start, at 4-byte instruction spacing in its own code region. All randomness
//! comes from a seeded SplitMix64, so a workload and seed always give the same stream.

use super::{BranchKind, Instr, InstrStream, Kind, TraceError};

/// Loop body length (instructions between loop-closing branches).
const BODY: u64 = 64;
/// First register the generators use (registers 6, 25 and 26 have fixed meanings).
const R0: u8 = 32;
/// The flags register (ChampSim numbering).
const FLAGS: u8 = super::REG_FLAGS;

/// Which memory operation a streaming workload performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamOp {
    /// Loads only.
    Read,
    /// Stores only.
    Write,
    /// A load from one array and a store to another per element.
    Copy,
}

/// A synthetic workload and its parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "workload", rename_all = "kebab-case")]
pub enum Workload {
    /// Independent single-cycle integer operations: IPC reaches the dispatch width.
    Alu,
    /// `ilp` interleaved dependency chains of instructions of `kind` (Int, Mul, Div or Fp).
    DepChain {
        /// Instruction class, which sets the latency of each link.
        kind: Kind,
        /// Number of independent chains (1 = a single serial chain), at most 24.
        ilp: u32,
    },
    /// Dependent loads visiting every cache line of `footprint` bytes once per sweep in a
    /// pseudo-random order.
    PointerChase {
        /// Bytes covered by the chase.
        footprint: u64,
    },
    /// Sequential 8-byte accesses over `footprint` bytes.
    Stream {
        /// Bytes covered (split between the two arrays for `Copy`).
        footprint: u64,
        /// Loads, stores, or both.
        op: StreamOp,
    },
    /// Compare + conditional branch pairs; outcomes are random with `taken_percent` or follow a
    /// repeating pattern of length `period` (taken except the last), when `period > 0`.
    Branches {
        /// Probability of taken in percent (random mode).
        taken_percent: u32,
        /// Pattern period; 0 selects random outcomes.
        period: u32,
    },
    /// A blocked `n`×`n` double-precision matrix multiply, `block`×`block` tiles.
    Matmul {
        /// Matrix dimension.
        n: u32,
        /// Tile dimension.
        block: u32,
    },
    /// All of the above in rotation, 4096 instructions at a time.
    Mixed {
        /// Footprint of the memory-bound phases.
        footprint: u64,
    },
}

/// Names of the built-in workloads, as accepted by [`Workload::from_name`].
pub const NAMES: &[&str] = &[
    "alu",
    "dep-chain",
    "pointer-chase",
    "stream",
    "branches",
    "matmul",
    "mixed",
];

/// Optional parameters for [`Workload::from_name`]; `None` takes the workload's default.
#[derive(Clone, Debug, Default)]
pub struct Params {
    /// Memory footprint in bytes.
    pub footprint: Option<u64>,
    /// Independent chains.
    pub ilp: Option<u32>,
    /// Instruction class of a dependency chain.
    pub kind: Option<Kind>,
    /// Stream operation.
    pub op: Option<StreamOp>,
    /// Taken probability in percent.
    pub taken_percent: Option<u32>,
    /// Branch pattern period.
    pub period: Option<u32>,
    /// Matrix size.
    pub n: Option<u32>,
    /// Tile size.
    pub block: Option<u32>,
}

impl Workload {
    /// Build a workload from its name and parameters; errors name the bad parameter.
    pub fn from_name(name: &str, p: &Params) -> Result<Workload, String> {
        let fp = p.footprint.unwrap_or(64 << 20);
        if fp < 128 {
            return Err(format!("footprint {fp} bytes: must be at least 128 bytes"));
        }
        let w = match name {
            "alu" => Workload::Alu,
            "dep-chain" => {
                let ilp = p.ilp.unwrap_or(1);
                if !(1..=24).contains(&ilp) {
                    return Err(format!("ilp {ilp}: must be 1..=24"));
                }
                let kind = p.kind.unwrap_or(Kind::Mul);
                if !matches!(kind, Kind::Int | Kind::Mul | Kind::Div | Kind::Fp) {
                    return Err(format!("kind {kind}: dep-chain takes int, mul, div or fp"));
                }
                Workload::DepChain { kind, ilp }
            }
            "pointer-chase" => Workload::PointerChase { footprint: fp },
            "stream" => Workload::Stream {
                footprint: fp,
                op: p.op.unwrap_or(StreamOp::Read),
            },
            "branches" => {
                let taken_percent = p.taken_percent.unwrap_or(50);
                if taken_percent > 100 {
                    return Err(format!("taken-percent {taken_percent}: must be 0..=100"));
                }
                Workload::Branches {
                    taken_percent,
                    period: p.period.unwrap_or(0),
                }
            }
            "matmul" => {
                let n = p.n.unwrap_or(256);
                let block = p.block.unwrap_or(32);
                if n == 0 || block == 0 || block > n {
                    return Err(format!("matmul n {n}, block {block}: need 0 < block <= n"));
                }
                Workload::Matmul { n, block }
            }
            "mixed" => Workload::Mixed { footprint: fp },
            other => {
                return Err(format!(
                    "unknown workload '{other}'; built-in workloads: {}",
                    NAMES.join(", ")
                ));
            }
        };
        Ok(w)
    }

    /// A stream of this workload's instructions (endless; bound it with an instruction limit).
    pub fn stream(&self, seed: u64) -> Synthetic {
        Synthetic::new(self.clone(), seed)
    }

    /// Short name plus parameters.
    pub fn describe(&self) -> String {
        match self {
            Workload::Alu => "alu".into(),
            Workload::DepChain { kind, ilp } => format!("dep-chain kind={kind} ilp={ilp}"),
            Workload::PointerChase { footprint } => {
                format!(
                    "pointer-chase footprint={}",
                    crate::config::format_size(*footprint)
                )
            }
            Workload::Stream { footprint, op } => format!(
                "stream op={op:?} footprint={}",
                crate::config::format_size(*footprint)
            ),
            Workload::Branches {
                taken_percent,
                period,
            } => {
                if *period > 0 {
                    format!("branches period={period}")
                } else {
                    format!("branches random taken={taken_percent}%")
                }
            }
            Workload::Matmul { n, block } => format!("matmul n={n} block={block}"),
            Workload::Mixed { footprint } => {
                format!("mixed footprint={}", crate::config::format_size(*footprint))
            }
        }
    }

    /// The built-in validation suite: a spread of behaviours, each with a short label.
    pub fn suite() -> Vec<(&'static str, Workload)> {
        vec![
            ("alu", Workload::Alu),
            (
                "chain-mul",
                Workload::DepChain {
                    kind: Kind::Mul,
                    ilp: 1,
                },
            ),
            (
                "chain-int-ilp2",
                Workload::DepChain {
                    kind: Kind::Int,
                    ilp: 2,
                },
            ),
            (
                "chase-l2",
                Workload::PointerChase {
                    footprint: 128 << 10,
                },
            ),
            (
                "chase-dram",
                Workload::PointerChase {
                    footprint: 64 << 20,
                },
            ),
            (
                "stream-read",
                Workload::Stream {
                    footprint: 64 << 20,
                    op: StreamOp::Read,
                },
            ),
            (
                "stream-copy",
                Workload::Stream {
                    footprint: 64 << 20,
                    op: StreamOp::Copy,
                },
            ),
            (
                "branches",
                Workload::Branches {
                    taken_percent: 50,
                    period: 0,
                },
            ),
            ("matmul", Workload::Matmul { n: 128, block: 16 }),
            (
                "mixed",
                Workload::Mixed {
                    footprint: 16 << 20,
                },
            ),
        ]
    }
}

/// Deterministic 64-bit generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeded generator.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }
    /// Next value.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A bijection on `[0, n)` built from an invertible mixer on the enclosing power of two,
/// walked until it lands inside the range.
#[derive(Clone, Debug)]
struct Permutation {
    n: u64,
    bits: u32,
    mask: u64,
    key: u64,
}

impl Permutation {
    fn new(n: u64, key: u64) -> Permutation {
        let bits = (64 - (n.max(2) - 1).leading_zeros()).max(1);
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1 << bits) - 1
        };
        Permutation { n, bits, mask, key }
    }
    #[inline]
    fn mix(&self, mut x: u64) -> u64 {
        let s = self.bits / 2 + 1;
        for r in 0..3u64 {
            x = (x ^ (self.key.rotate_left(r as u32 * 21) & self.mask)) & self.mask;
            x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15 | 1) & self.mask;
            x ^= x >> s;
        }
        x
    }
    #[inline]
    fn get(&self, i: u64) -> u64 {
        let mut x = self.mix(i);
        while x >= self.n {
            x = self.mix(x);
        }
        x
    }
}

enum State {
    Simple,
    Chase {
        perm: Permutation,
        base: u64,
        k: u64,
    },
    Stream {
        elems: u64,
        base_a: u64,
        base_b: u64,
        i: u64,
        half: bool,
    },
    Branch {
        rng: SplitMix64,
        step: u64,
    },
    Matmul {
        n: u64,
        b: u64,
        // loop indices: ii, jj, kk, i, j, k and phase inside the k body
        idx: [u64; 6],
        phase: u32,
    },
    Mixed {
        parts: Vec<Synthetic>,
        current: usize,
        left: u64,
    },
}

/// The stream of a [`Workload`]; endless.
pub struct Synthetic {
    workload: Workload,
    state: State,
    pc_base: u64,
    slot: u64,
    emitted: u64,
}

impl Synthetic {
    fn new(workload: Workload, seed: u64) -> Synthetic {
        let code = |i: u64| 0x40_0000 + i * 0x1_0000;
        let (state, pc_base) = match &workload {
            Workload::Alu => (State::Simple, code(0)),
            Workload::DepChain { .. } => (State::Simple, code(1)),
            Workload::PointerChase { footprint } => (
                State::Chase {
                    perm: Permutation::new((footprint / 64).max(2), seed ^ 0x5eed),
                    base: 0x1000_0000_0000,
                    k: 0,
                },
                code(2),
            ),
            Workload::Stream { footprint, op } => {
                let elems = if *op == StreamOp::Copy {
                    footprint / 16
                } else {
                    footprint / 8
                };
                (
                    State::Stream {
                        elems: elems.max(1),
                        base_a: 0x2000_0000_0000,
                        base_b: 0x2000_0000_0000 + (footprint / 2 + 4096).next_multiple_of(4096),
                        i: 0,
                        half: false,
                    },
                    code(3),
                )
            }
            Workload::Branches { .. } => (
                State::Branch {
                    rng: SplitMix64::new(seed ^ 0xb7a4c4),
                    step: 0,
                },
                code(4),
            ),
            Workload::Matmul { n, block } => (
                State::Matmul {
                    n: *n as u64,
                    b: *block as u64,
                    idx: [0; 6],
                    phase: 0,
                },
                code(5),
            ),
            Workload::Mixed { footprint } => {
                let parts = vec![
                    Workload::Alu,
                    Workload::DepChain {
                        kind: Kind::Int,
                        ilp: 2,
                    },
                    Workload::PointerChase {
                        footprint: *footprint,
                    },
                    Workload::Stream {
                        footprint: *footprint,
                        op: StreamOp::Copy,
                    },
                    Workload::Branches {
                        taken_percent: 50,
                        period: 0,
                    },
                    Workload::Matmul { n: 64, block: 16 },
                ]
                .into_iter()
                .enumerate()
                .map(|(i, w)| Synthetic::new(w, seed.wrapping_add(i as u64)))
                .collect();
                (
                    State::Mixed {
                        parts,
                        current: 0,
                        left: 4096,
                    },
                    code(6),
                )
            }
        };
        Synthetic {
            workload,
            state,
            pc_base,
            slot: 0,
            emitted: 0,
        }
    }

    /// Instructions generated so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    #[inline]
    fn next_instr(&mut self) -> Instr {
        // Loop-closing branch at the end of every body.
        if self.slot == BODY {
            self.slot = 0;
            let mut b = Instr::new(self.pc_base + 4 * BODY, Kind::Branch);
            b.len = 4;
            b.branch = BranchKind::Conditional;
            b.taken = true;
            b.target = self.pc_base;
            return b;
        }
        let pc = self.pc_base + 4 * self.slot;
        self.slot += 1;
        let mut ins = Instr::new(pc, Kind::Int);
        ins.len = 4;
        let j = self.slot;
        match (&self.workload, &mut self.state) {
            (Workload::Alu, _) => {
                ins.dst[0] = R0 + (j % 16) as u8;
            }
            (Workload::DepChain { kind, ilp }, _) => {
                let r = R0 + (j % *ilp as u64) as u8;
                ins.kind = *kind;
                ins.src[0] = r;
                ins.dst[0] = r;
            }
            (_, State::Chase { perm, base, k }) => {
                let line = perm.get(*k % perm.n);
                *k += 1;
                ins.kind = Kind::Load;
                ins.src[0] = R0;
                ins.dst[0] = R0;
                ins.push_mem(*base + line * 64, 8, false);
            }
            (
                Workload::Stream { op, .. },
                State::Stream {
                    elems,
                    base_a,
                    base_b,
                    i,
                    half,
                },
            ) => {
                let r = R0 + (*i % 8) as u8;
                match op {
                    StreamOp::Read => {
                        ins.kind = Kind::Load;
                        ins.src[0] = R0 + 20;
                        ins.dst[0] = r;
                        ins.push_mem(*base_a + 8 * *i, 8, false);
                        *i = (*i + 1) % *elems;
                    }
                    StreamOp::Write => {
                        ins.kind = Kind::Store;
                        ins.src = [R0 + 20, R0 + 21, 0, 0];
                        ins.push_mem(*base_a + 8 * *i, 8, true);
                        *i = (*i + 1) % *elems;
                    }
                    StreamOp::Copy => {
                        if !*half {
                            ins.kind = Kind::Load;
                            ins.src[0] = R0 + 20;
                            ins.dst[0] = r;
                            ins.push_mem(*base_a + 8 * *i, 8, false);
                        } else {
                            ins.kind = Kind::Store;
                            ins.src = [R0 + 21, r, 0, 0];
                            ins.push_mem(*base_b + 8 * *i, 8, true);
                            *i = (*i + 1) % *elems;
                        }
                        *half = !*half;
                    }
                }
            }
            (
                Workload::Branches {
                    taken_percent,
                    period,
                },
                State::Branch { rng, step },
            ) => {
                // Pairs: compare (writes flags), conditional branch (reads flags).
                if j % 2 == 1 {
                    ins.src[0] = R0 + (j % 8) as u8;
                    ins.dst[0] = FLAGS;
                } else {
                    ins.kind = Kind::Branch;
                    ins.branch = BranchKind::Conditional;
                    ins.src[0] = FLAGS;
                    ins.taken = if *period > 0 {
                        let site_iter = *step / (BODY / 2);
                        site_iter % *period as u64 != *period as u64 - 1
                    } else {
                        rng.next_u64() % 100 < *taken_percent as u64
                    };
                    ins.target = pc + 4;
                    *step += 1;
                }
            }
            (_, State::Matmul { n, b, idx, phase }) => {
                // C[i][j] += A[i][k] * B[k][j]; per k: load A, load B, fmul, fadd (chain on acc).
                let (n, b) = (*n, *b);
                let i = idx[0] + idx[3];
                let jj = idx[1] + idx[4];
                let k = idx[2] + idx[5];
                let a_base = 0x3000_0000_0000u64;
                let b_base = a_base + n * n * 8 + 4096;
                let c_base = b_base + n * n * 8 + 4096;
                match *phase {
                    0 => {
                        ins.kind = Kind::Load;
                        ins.src[0] = R0 + 10;
                        ins.dst[0] = R0 + 1;
                        ins.push_mem(a_base + 8 * (i * n + k), 8, false);
                    }
                    1 => {
                        ins.kind = Kind::Load;
                        ins.src[0] = R0 + 11;
                        ins.dst[0] = R0 + 2;
                        ins.push_mem(b_base + 8 * (k * n + jj), 8, false);
                    }
                    2 => {
                        ins.kind = Kind::Fp;
                        ins.src = [R0 + 1, R0 + 2, 0, 0];
                        ins.dst[0] = R0 + 3;
                    }
                    3 => {
                        ins.kind = Kind::Fp;
                        ins.src = [R0 + 3, R0 + 4, 0, 0];
                        ins.dst[0] = R0 + 4;
                    }
                    _ => {
                        ins.kind = Kind::Store;
                        ins.src = [R0 + 4, R0 + 12, 0, 0];
                        ins.push_mem(c_base + 8 * (i * n + jj), 8, true);
                    }
                }
                // advance
                if *phase < 3 {
                    *phase += 1;
                } else if *phase == 3 {
                    idx[5] += 1;
                    if idx[5] == b || idx[2] + idx[5] >= n {
                        idx[5] = 0;
                        *phase = 4;
                    } else {
                        *phase = 0;
                    }
                } else {
                    *phase = 0;
                    // next (j, i) within the tile, then tiles kk, jj, ii
                    let lim = [n, n, n, b, b, b];
                    let mut level = 4;
                    loop {
                        idx[level] += if level < 3 { b } else { 1 };
                        let base_done = level >= 3 && idx[level - 3] + idx[level] >= n;
                        if idx[level] < lim[level] && !base_done {
                            break;
                        }
                        idx[level] = 0;
                        level = match level {
                            4 => 3,
                            3 => 2,
                            2 => 1,
                            1 => 0,
                            _ => {
                                *idx = [0; 6];
                                break;
                            }
                        };
                    }
                }
            }
            _ => {}
        }
        ins
    }
}

impl InstrStream for Synthetic {
    fn fill(&mut self, buf: &mut [Instr]) -> Result<usize, TraceError> {
        if let State::Mixed {
            parts,
            current,
            left,
        } = &mut self.state
        {
            let mut out = 0;
            while out < buf.len() {
                if *left == 0 {
                    *current = (*current + 1) % parts.len();
                    *left = 4096;
                }
                let want = (buf.len() - out).min(*left as usize);
                let n = parts[*current].fill(&mut buf[out..out + want])?;
                out += n;
                *left -= n as u64;
            }
            self.emitted += out as u64;
            return Ok(out);
        }
        for slot in buf.iter_mut() {
            *slot = self.next_instr();
        }
        self.emitted += buf.len() as u64;
        Ok(buf.len())
    }

    fn describe(&self) -> String {
        self.workload.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::collect;
    use std::collections::HashSet;

    #[test]
    fn permutation_is_a_bijection() {
        for n in [2u64, 3, 17, 64, 1000, 4096] {
            let p = Permutation::new(n, 12345);
            let s: HashSet<u64> = (0..n).map(|i| p.get(i)).collect();
            assert_eq!(s.len() as u64, n);
            assert!(s.iter().all(|&x| x < n));
        }
    }

    #[test]
    fn pointer_chase_touches_every_line_once_per_sweep() {
        let w = Workload::PointerChase {
            footprint: 64 * 512,
        };
        let v = collect(&mut w.stream(1), 520).unwrap();
        let lines: Vec<u64> = v
            .iter()
            .filter(|i| i.kind == Kind::Load)
            .map(|i| i.mem[0].addr / 64)
            .take(512)
            .collect();
        let s: HashSet<_> = lines.iter().collect();
        assert_eq!(s.len(), 512);
        assert!(
            v.iter()
                .filter(|i| i.kind == Kind::Load)
                .all(|i| i.src[0] == i.dst[0])
        );
    }

    #[test]
    fn same_seed_same_stream() {
        for (_, w) in Workload::suite() {
            let a = collect(&mut w.stream(7), 3000).unwrap();
            let b = collect(&mut w.stream(7), 3000).unwrap();
            assert_eq!(a, b, "{}", w.describe());
        }
    }

    #[test]
    fn matmul_covers_every_product_once() {
        let (n, b) = (8u64, 4u64);
        let w = Workload::Matmul {
            n: n as u32,
            block: b as u32,
        };
        // n^3 products of 4 instructions each, plus one store per (i, j, k-tile)
        let per_pass = (n * n * n * 4 + n * n * (n / b)) as usize;
        let v: Vec<Instr> = collect(&mut w.stream(0), 2 * per_pass)
            .unwrap()
            .into_iter()
            .filter(|i| i.kind != Kind::Branch)
            .collect();
        let pass = &v[..per_pass];
        let fmuls = pass.iter().filter(|i| i.kind == Kind::Fp).count() as u64;
        let stores = pass.iter().filter(|i| i.kind == Kind::Store).count() as u64;
        assert_eq!(stores, n * n * (n / b));
        // the next pass starts over at the first address
        assert_eq!(v[per_pass].mem[0].addr, v[0].mem[0].addr);
        assert_eq!(fmuls, 2 * n * n * n);
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let e = Workload::from_name("nope", &Params::default()).unwrap_err();
        assert!(e.contains("pointer-chase"));
    }
}
