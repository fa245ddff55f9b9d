//! DRAM: a fixed access latency plus a bandwidth queue.
//!
//! Time is cut into buckets of `bucket` cycles, each able to carry `bucket / cycles_per_line`
//! line transfers. A request takes the first bucket at or after its arrival with room left and
//! waits until that bucket starts. Unlike a FIFO server this tolerates requests arriving out of
//! time order (an out-of-order core issues loads at non-monotonic times), and it saturates at
//! the configured bandwidth. Buckets live in a ring, so memory is constant.

const RING: usize = 4096;

/// DRAM counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DramStats {
    /// Line reads.
    pub reads: u64,
    /// Line writes (writebacks).
    pub writes: u64,
    /// Total cycles reads waited for bandwidth.
    pub queue_cycles: u64,
}

/// A DRAM channel.
#[derive(Clone, Debug)]
pub struct Dram {
    latency: u64,
    bucket: u64,
    capacity: u32,
    ring: Vec<(u64, u32)>,
    /// Counters.
    pub stats: DramStats,
}

impl Dram {
    /// `latency` cycles per access, one line per `cycles_per_line` cycles of bandwidth.
    pub fn new(latency: u32, cycles_per_line: f64) -> Dram {
        let cpl = cycles_per_line.max(1e-3);
        let bucket = ((cpl * 8.0).ceil() as u64).max(32);
        let capacity = ((bucket as f64 / cpl).floor() as u32).max(1);
        Dram {
            latency: latency as u64,
            bucket,
            capacity,
            ring: vec![(u64::MAX, 0); RING],
            stats: DramStats::default(),
        }
    }

    /// Access latency without queueing.
    pub fn latency(&self) -> u64 {
        self.latency
    }

    fn reserve(&mut self, now: u64) -> u64 {
        let mut b = now / self.bucket;
        loop {
            let slot = &mut self.ring[(b as usize) % RING];
            if slot.0 != b {
                if slot.0 != u64::MAX && slot.0 > b {
                    // Too far in the past to be tracked: no queueing.
                    return now;
                }
                *slot = (b, 0);
            }
            if slot.1 < self.capacity {
                slot.1 += 1;
                return now.max(b * self.bucket);
            }
            b += 1;
        }
    }

    /// A line read arriving at `now`; returns when its data is back.
    #[inline]
    pub fn read(&mut self, now: u64) -> u64 {
        self.stats.reads += 1;
        let start = self.reserve(now);
        self.stats.queue_cycles += start - now;
        start + self.latency
    }

    /// A line write (writeback) at `now`; uses bandwidth, nobody waits for it.
    #[inline]
    pub fn write(&mut self, now: u64) {
        self.stats.writes += 1;
        self.reserve(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_dram_costs_its_latency() {
        let mut d = Dram::new(100, 10.0);
        assert_eq!(d.read(1000), 1100);
        assert_eq!(d.read(5000), 5100);
    }

    #[test]
    fn saturates_at_configured_bandwidth() {
        let mut d = Dram::new(100, 10.0);
        // 1000 simultaneous requests need ~10000 cycles of bandwidth.
        let last = (0..1000).map(|_| d.read(0)).max().unwrap();
        assert!((last as f64 - 10_100.0).abs() < 400.0, "{last}");
    }

    #[test]
    fn late_arrivals_in_the_past_do_not_queue_behind_the_future() {
        let mut d = Dram::new(100, 10.0);
        for _ in 0..50 {
            d.read(10_000);
        }
        assert_eq!(d.read(100), 200);
    }
}
