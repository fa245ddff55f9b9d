//! The on-chip network of a multi-core system: where cores, LLC slices and DRAM controllers
//! sit ([`Topology`]), and what a message between two of them costs ([`Noc`]): a shared bus
//! with contention, a 2-D mesh with dimension-order (XY) routing, hop latency and per-link
//! contention, or a magic zero-latency network for comparison.
//!
//! **Contention, deterministically.** During a quantum the cores run in parallel and only
//! *read* the network: a message's latency is its zero-load latency plus, on every link it
//! crosses, a queueing delay estimated from that link's utilisation in earlier quanta (an
//! M/D/1 queue: `W = ρ·S / (2(1−ρ))` for mean service time `S`, smoothed over quanta). At the
//! quantum barrier the messages of the quantum are [`Noc::record`]ed in a fixed order and the
//! estimates updated ([`Noc::end_quantum`]). So latencies never depend on host thread timing,
//! and a hot spot shows up as growing delay on the links around it.

use crate::config::{NetworkKind, SystemConfig};

/// Bytes of a control message (request, invalidation, acknowledgement).
pub const CTRL_BYTES: u32 = 8;
/// Bytes of a data message (a 64-byte line plus header).
pub const DATA_BYTES: u32 = 72;

/// Placement of cores, LLC slices and DRAM controllers on network nodes (tiles).
///
/// Core *i* sits on tile *i*; LLC slice *s* on the tile of the first core of its group
/// (`s × llc_shared_by`); controller *k* on tile `k × cores / controllers`. Lines are spread
/// over slices and controllers by a hash of the line address.
#[derive(Clone, Debug)]
pub struct Topology {
    /// Number of cores.
    pub cores: u32,
    /// Number of LLC slices.
    pub slices: u32,
    /// Number of DRAM controllers.
    pub controllers: u32,
    /// Mesh columns.
    pub width: u32,
    /// Mesh rows.
    pub height: u32,
}

#[inline]
fn mix(line: u64) -> u64 {
    let mut x = line.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    x.wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 32
}

impl Topology {
    /// From the system configuration.
    pub fn new(s: &SystemConfig) -> Topology {
        let cores = s.cores.max(1);
        let slices = cores.div_ceil(s.llc_shared_by.max(1));
        let controllers = cores.div_ceil(s.cores_per_controller.max(1));
        let width = if s.mesh_width > 0 {
            s.mesh_width.min(cores)
        } else {
            (cores as f64).sqrt().ceil() as u32
        }
        .max(1);
        let height = cores.div_ceil(width);
        Topology {
            cores,
            slices,
            controllers,
            width,
            height,
        }
    }

    /// The LLC slice holding `line`.
    #[inline]
    pub fn slice_of(&self, line: u64) -> u32 {
        (mix(line) % self.slices as u64) as u32
    }

    /// The DRAM controller serving `line`.
    #[inline]
    pub fn controller_of(&self, line: u64) -> u32 {
        (mix(line ^ 0x5555_5555) % self.controllers as u64) as u32
    }

    /// Tile of core `c`.
    #[inline]
    pub fn core_node(&self, c: u32) -> u32 {
        c
    }

    /// Tile of LLC slice `s`.
    #[inline]
    pub fn slice_node(&self, s: u32) -> u32 {
        (s * self.cores / self.slices).min(self.cores - 1)
    }

    /// Tile of controller `k`.
    #[inline]
    pub fn controller_node(&self, k: u32) -> u32 {
        (k * self.cores / self.controllers).min(self.cores - 1)
    }

    /// (column, row) of a tile.
    #[inline]
    pub fn xy(&self, node: u32) -> (u32, u32) {
        (node % self.width, node / self.width)
    }

    /// Mesh hops between two tiles (Manhattan distance).
    #[inline]
    pub fn hops(&self, a: u32, b: u32) -> u32 {
        let (ax, ay) = self.xy(a);
        let (bx, by) = self.xy(b);
        ax.abs_diff(bx) + ay.abs_diff(by)
    }
}

/// Network counters.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NocStats {
    /// Messages sent.
    pub messages: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Sum of hops over all messages (mesh).
    pub hops: u64,
    /// Sum of the latencies messages were given (cycles), including queueing estimates.
    pub latency_cycles: u64,
    /// Busy cycles per link over the run (bus: one link; mesh: 4 per tile, E/W/N/S).
    pub link_busy: Vec<u64>,
}

impl NocStats {
    /// Mean utilisation of the links that carried traffic, over `cycles`.
    pub fn mean_utilisation(&self, cycles: u64) -> f64 {
        let used: Vec<_> = self.link_busy.iter().filter(|&&b| b > 0).collect();
        if used.is_empty() || cycles == 0 {
            return 0.0;
        }
        used.iter().map(|&&b| b as f64).sum::<f64>() / used.len() as f64 / cycles as f64
    }
    /// Utilisation of the busiest link over `cycles`.
    pub fn max_utilisation(&self, cycles: u64) -> f64 {
        if cycles == 0 {
            return 0.0;
        }
        self.link_busy.iter().copied().max().unwrap_or(0) as f64 / cycles as f64
    }
    /// Mean message latency in cycles.
    pub fn mean_latency(&self) -> f64 {
        self.latency_cycles as f64 / self.messages.max(1) as f64
    }
}

/// The network model.
#[derive(Clone, Debug)]
pub struct Noc {
    kind: NetworkKind,
    topo: Topology,
    hop: u64,
    width_bytes: u64,
    bus_latency: u64,
    /// Estimated queueing delay per link (cycles), from earlier quanta.
    delay: Vec<u32>,
    /// Smoothed utilisation per link.
    util: Vec<f64>,
    /// Busy cycles and messages per link in the current quantum.
    busy: Vec<u64>,
    msgs: Vec<u32>,
    /// Counters.
    pub stats: NocStats,
}

/// Messages recorded apart from the network ([`Noc::record_into`]), to be added to it
/// ([`Noc::add`]).
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    busy: Vec<u64>,
    msgs: Vec<u32>,
    /// Links with traffic, each once.
    touched: Vec<u32>,
    messages: u64,
    bytes: u64,
    hops: u64,
    latency_cycles: u64,
}

impl Traffic {
    #[inline]
    fn link(&mut self, links: usize, l: usize, ser: u64) {
        if self.busy.len() < links {
            self.busy.resize(links, 0);
            self.msgs.resize(links, 0);
        }
        if self.msgs[l] == 0 {
            self.touched.push(l as u32);
        }
        self.busy[l] += ser;
        self.msgs[l] += 1;
    }
}

/// Direction of a mesh link leaving a tile.
#[derive(Clone, Copy)]
enum Dir {
    East = 0,
    West = 1,
    North = 2,
    South = 3,
}

impl Noc {
    /// Build from the system configuration.
    pub fn new(s: &SystemConfig) -> Noc {
        let topo = Topology::new(s);
        let links = match s.network {
            NetworkKind::Bus => 1,
            NetworkKind::Mesh => 4 * (topo.width * topo.height) as usize,
            NetworkKind::Magic => 0,
        };
        Noc {
            kind: s.network,
            topo,
            hop: s.hop_latency as u64,
            width_bytes: s.link_bytes_per_cycle.max(1) as u64,
            bus_latency: s.bus_latency as u64,
            delay: vec![0; links],
            util: vec![0.0; links],
            busy: vec![0; links],
            msgs: vec![0; links],
            stats: NocStats {
                link_busy: vec![0; links],
                ..NocStats::default()
            },
        }
    }

    /// The placement.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// The network kind.
    pub fn kind(&self) -> NetworkKind {
        self.kind
    }

    #[inline]
    fn serialisation(&self, bytes: u32) -> u64 {
        (bytes as u64).div_ceil(self.width_bytes)
    }

    /// Visit the links of the XY route from `a` to `b`.
    #[inline]
    fn route(&self, a: u32, b: u32, mut f: impl FnMut(usize)) {
        let (mut x, mut y) = self.topo.xy(a);
        let (bx, by) = self.topo.xy(b);
        let w = self.topo.width;
        while x != bx {
            let d = if bx > x { Dir::East } else { Dir::West };
            f(((y * w + x) * 4) as usize + d as usize);
            if bx > x { x += 1 } else { x -= 1 }
        }
        while y != by {
            let d = if by > y { Dir::South } else { Dir::North };
            f(((y * w + x) * 4) as usize + d as usize);
            if by > y { y += 1 } else { y -= 1 }
        }
    }

    /// Latency of a `bytes` message from node `a` to node `b` given the current contention
    /// estimates (read-only: safe to call from many cores at once).
    #[inline]
    pub fn latency(&self, a: u32, b: u32, bytes: u32) -> u64 {
        match self.kind {
            NetworkKind::Magic => 0,
            NetworkKind::Bus => self.bus_latency + self.serialisation(bytes) + self.delay[0] as u64,
            NetworkKind::Mesh => {
                if a == b {
                    return 0;
                }
                let mut q = 0u64;
                self.route(a, b, |l| q += self.delay[l] as u64);
                self.topo.hops(a, b) as u64 * self.hop + self.serialisation(bytes) - 1 + q
            }
        }
    }

    /// Account a message at the barrier (in the deterministic order the quantum's requests are
    /// applied in): it occupies every link it crosses for its serialisation time.
    pub fn record(&mut self, a: u32, b: u32, bytes: u32) {
        let lat = self.latency(a, b, bytes);
        self.stats.messages += 1;
        self.stats.bytes += bytes as u64;
        self.stats.latency_cycles += lat;
        let ser = self.serialisation(bytes);
        match self.kind {
            NetworkKind::Magic => {}
            NetworkKind::Bus => {
                self.busy[0] += ser;
                self.msgs[0] += 1;
            }
            NetworkKind::Mesh => {
                if a == b {
                    return;
                }
                self.stats.hops += self.topo.hops(a, b) as u64;
                let mut links = [0usize; 1024];
                let mut n = 0;
                self.route(a, b, |l| {
                    if n < links.len() {
                        links[n] = l;
                        n += 1;
                    }
                });
                for &l in &links[..n] {
                    self.busy[l] += ser;
                    self.msgs[l] += 1;
                }
            }
        }
    }

    /// Account a message into `t` instead of the network itself (read-only here, so several
    /// parts of a barrier can record at once); [`Noc::add`] then adds `t`. The sums are the
    /// same in whatever order the parts are added, and the same as [`Noc::record`]ing every
    /// message.
    pub fn record_into(&self, t: &mut Traffic, a: u32, b: u32, bytes: u32) {
        let lat = self.latency(a, b, bytes);
        t.messages += 1;
        t.bytes += bytes as u64;
        t.latency_cycles += lat;
        let ser = self.serialisation(bytes);
        let links = self.busy.len();
        match self.kind {
            NetworkKind::Magic => {}
            NetworkKind::Bus => t.link(links, 0, ser),
            NetworkKind::Mesh => {
                if a == b {
                    return;
                }
                t.hops += self.topo.hops(a, b) as u64;
                self.route(a, b, |l| t.link(links, l, ser));
            }
        }
    }

    /// Add the messages recorded in `t` (and empty it).
    pub fn add(&mut self, t: &mut Traffic) {
        self.stats.messages += t.messages;
        self.stats.bytes += t.bytes;
        self.stats.hops += t.hops;
        self.stats.latency_cycles += t.latency_cycles;
        for &l in &t.touched {
            let l = l as usize;
            self.busy[l] += t.busy[l];
            self.msgs[l] += t.msgs[l];
            t.busy[l] = 0;
            t.msgs[l] = 0;
        }
        t.touched.clear();
        (t.messages, t.bytes, t.hops, t.latency_cycles) = (0, 0, 0, 0);
    }

    /// Close a quantum of `cycles`: fold its link utilisation into the estimates (M/D/1 delay
    /// from the smoothed utilisation) and the run counters.
    pub fn end_quantum(&mut self, cycles: u64) {
        let cycles = cycles.max(1) as f64;
        for l in 0..self.busy.len() {
            let b = self.busy[l];
            self.stats.link_busy[l] += b;
            let rho_now = b as f64 / cycles;
            self.util[l] = 0.5 * self.util[l] + 0.5 * rho_now;
            let rho = self.util[l].min(0.98);
            let service = if self.msgs[l] > 0 {
                b as f64 / self.msgs[l] as f64
            } else {
                1.0
            };
            self.delay[l] = if rho < 1e-3 {
                0
            } else {
                (rho * service / (2.0 * (1.0 - rho))).round() as u32
            };
            self.busy[l] = 0;
            self.msgs[l] = 0;
        }
    }

    /// Current queueing-delay estimate of the busiest link (cycles).
    pub fn max_link_delay(&self) -> u32 {
        self.delay.iter().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn sys(net: &str, cores: u32) -> SystemConfig {
        let c = Config::build(
            "gainestown",
            None,
            &[
                format!("system.network={net}"),
                format!("system.cores={cores}"),
                "system.hop_latency=3".into(),
            ],
        )
        .unwrap();
        c.system
    }

    #[test]
    fn mesh_latency_grows_with_hops_as_configured() {
        let n = Noc::new(&sys("mesh", 64));
        assert_eq!((n.topo.width, n.topo.height), (8, 8));
        let ser = (DATA_BYTES as u64).div_ceil(32) - 1;
        for b in [1u32, 2, 7, 9, 63] {
            let hops = n.topo.hops(0, b) as u64;
            assert_eq!(n.latency(0, b, DATA_BYTES), 3 * hops + ser, "to {b}");
        }
        assert_eq!(n.latency(5, 5, DATA_BYTES), 0);
        assert!(n.latency(0, 63, CTRL_BYTES) > n.latency(0, 9, CTRL_BYTES));
    }

    #[test]
    fn magic_is_free_and_bus_is_flat() {
        let m = Noc::new(&sys("magic", 16));
        assert_eq!(m.latency(0, 15, DATA_BYTES), 0);
        let b = Noc::new(&sys("bus", 16));
        assert_eq!(b.latency(0, 15, DATA_BYTES), b.latency(3, 4, DATA_BYTES));
    }

    #[test]
    fn a_hot_spot_queues_and_idle_links_do_not() {
        let mut n = Noc::new(&sys("mesh", 64));
        let idle = n.latency(0, 27, DATA_BYTES);
        for _ in 0..10 {
            // every tile sends 3 lines per 100 cycles to tile 27
            for src in 0..64 {
                for _ in 0..3 {
                    n.record(src, 27, DATA_BYTES);
                }
            }
            n.end_quantum(100);
        }
        let hot = n.latency(0, 27, DATA_BYTES);
        assert!(hot > idle + 10, "hot spot {hot} vs idle {idle}");
        // a route that avoids the hot spot's links is not slowed
        assert_eq!(n.latency(7, 63, DATA_BYTES), 7 * 3 + 2);
        assert!(n.stats.max_utilisation(1000) > 0.5);
    }

    #[test]
    fn traffic_recorded_apart_adds_up_to_the_same_network() {
        for net in ["mesh", "bus"] {
            let mut a = Noc::new(&sys(net, 16));
            let mut b = a.clone();
            let (mut t1, mut t2) = (Traffic::default(), Traffic::default());
            for i in 0..40u32 {
                let (src, dst) = (i % 16, (i * 7) % 16);
                a.record(src, dst, if i % 3 == 0 { DATA_BYTES } else { CTRL_BYTES });
                let t = if i % 2 == 0 { &mut t1 } else { &mut t2 };
                b.record_into(
                    t,
                    src,
                    dst,
                    if i % 3 == 0 { DATA_BYTES } else { CTRL_BYTES },
                );
            }
            b.add(&mut t2);
            b.add(&mut t1);
            a.end_quantum(100);
            b.end_quantum(100);
            assert_eq!(a.stats, b.stats, "{net}");
            assert_eq!(a.delay, b.delay, "{net}");
        }
    }

    #[test]
    fn bus_contention_grows_with_load() {
        let mut b = Noc::new(&sys("bus", 16));
        let idle = b.latency(0, 1, DATA_BYTES);
        for _ in 0..10 {
            for _ in 0..20 {
                b.record(0, 1, DATA_BYTES);
            }
            b.end_quantum(100);
        }
        let busy = b.latency(0, 1, DATA_BYTES);
        assert!(busy > idle, "{busy} vs {idle}");
    }
}
