//! Hardware prefetchers: next-line and per-instruction stride (IP-stride).

use crate::config::PrefetcherKind;

const IP_TABLE: usize = 256;

/// Table entry of the IP-stride prefetcher.
#[derive(Clone, Copy, Debug, Default)]
pub struct IpEntry {
    pc: u64,
    last: u64,
    stride: i64,
    confidence: u8,
}

/// A prefetcher attached to one cache; it sees that cache's demand accesses.
#[derive(Clone, Debug)]
pub enum Prefetcher {
    /// Does nothing.
    None,
    /// On a miss, fetch the next `degree` lines.
    NextLine {
        /// Lines ahead.
        degree: u32,
    },
    /// Learns a stride per load pc; after two confirmations fetches `degree` strides ahead.
    IpStride {
        /// Strides ahead.
        degree: u32,
        /// Direct-mapped table indexed by pc.
        table: Box<[IpEntry]>,
    },
}

impl Prefetcher {
    /// Build from a configuration.
    pub fn new(kind: PrefetcherKind, degree: u32) -> Prefetcher {
        match (kind, degree) {
            (PrefetcherKind::None, _) | (_, 0) => Prefetcher::None,
            (PrefetcherKind::NextLine, d) => Prefetcher::NextLine { degree: d },
            (PrefetcherKind::IpStride, d) => Prefetcher::IpStride {
                degree: d,
                table: vec![IpEntry::default(); IP_TABLE].into_boxed_slice(),
            },
        }
    }

    /// Whether the prefetcher ever issues anything.
    #[inline]
    pub fn is_active(&self) -> bool {
        !matches!(self, Prefetcher::None)
    }

    /// Whether [`Prefetcher::train`] can do anything on a demand access that hit (`hit`) or
    /// missed: the next-line prefetcher ignores hits, so callers skip the call.
    #[inline]
    pub fn trains_on(&self, hit: bool) -> bool {
        match self {
            Prefetcher::None => false,
            Prefetcher::NextLine { .. } => !hit,
            Prefetcher::IpStride { .. } => true,
        }
    }

    /// Observe a demand access to `line` by `pc` (hit or miss); write candidate lines into
    /// `out` and return how many.
    #[inline]
    pub fn train(&mut self, pc: u64, line: u64, hit: bool, out: &mut [u64; 16]) -> usize {
        match self {
            Prefetcher::None => 0,
            Prefetcher::NextLine { degree } => {
                if hit {
                    return 0;
                }
                let d = (*degree as usize).min(16);
                for (k, o) in out.iter_mut().take(d).enumerate() {
                    *o = line + 1 + k as u64;
                }
                d
            }
            Prefetcher::IpStride { degree, table } => {
                let idx = ((pc >> 2) ^ (pc >> 10)) as usize % IP_TABLE;
                let e = &mut table[idx];
                if e.pc != pc {
                    *e = IpEntry {
                        pc,
                        last: line,
                        stride: 0,
                        confidence: 0,
                    };
                    return 0;
                }
                let stride = line.wrapping_sub(e.last) as i64;
                e.last = line;
                if stride == 0 {
                    return 0;
                }
                if stride == e.stride {
                    e.confidence = (e.confidence + 1).min(3);
                } else {
                    e.stride = stride;
                    e.confidence = 0;
                }
                if e.confidence < 2 {
                    return 0;
                }
                let d = (*degree as usize).min(16);
                for (k, o) in out.iter_mut().take(d).enumerate() {
                    *o = line.wrapping_add((stride * (k as i64 + 1)) as u64);
                }
                d
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_stride_learns_a_stride() {
        let mut p = Prefetcher::new(PrefetcherKind::IpStride, 2);
        let mut out = [0; 16];
        let mut issued = Vec::new();
        for k in 0..6u64 {
            let n = p.train(0x400, 100 + 3 * k, false, &mut out);
            issued.push(out[..n].to_vec());
        }
        assert!(issued[0].is_empty() && issued[1].is_empty() && issued[2].is_empty());
        assert_eq!(issued[3], vec![112, 115]);
    }

    #[test]
    fn next_line_only_on_misses() {
        let mut p = Prefetcher::new(PrefetcherKind::NextLine, 1);
        let mut out = [0; 16];
        assert_eq!(p.train(0, 10, true, &mut out), 0);
        assert_eq!(p.train(0, 10, false, &mut out), 1);
        assert_eq!(out[0], 11);
    }
}
