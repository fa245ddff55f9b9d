//! Golden facts of the seed analysis, checked on the embedded lists and on the shared exports.

use top500::accelerator::{self, Kind};
use top500::{Family, seed};

fn tf(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[test]
fn june_2010_golden_facts() {
    let lists = seed::lists().unwrap();
    let june = &lists[1];
    assert_eq!(june.label(), "2010-06");
    assert_eq!(june.systems.len(), 500);

    let jaguar = june.by_rank(1).unwrap();
    assert_eq!(jaguar.name.as_deref(), Some("Jaguar"));
    assert_eq!(tf(jaguar.rmax().tflops()), 1759.0);
    assert_eq!(tf(jaguar.rpeak().tflops()), 2331.0);
    assert_eq!(jaguar.family, Family::Proprietary);

    let nebulae = june.by_rank(2).unwrap();
    assert_eq!(nebulae.name.as_deref(), Some("Nebulae"));
    assert_eq!(tf(nebulae.rmax().tflops()), 1271.0);
    assert_eq!(tf(nebulae.rpeak().tflops()), 2984.3);
    assert_eq!((nebulae.efficiency() * 1000.0).round() / 10.0, 42.6);
    assert!(nebulae.is_gpgpu());
    assert_eq!(nebulae.family, Family::Infiniband);

    let tianhe = june.by_rank(7).unwrap();
    assert_eq!(tianhe.name.as_deref(), Some("Tianhe-1"));
    assert!(tianhe.is_gpgpu());
    // Published as "Infinband DDR 4x": the typo is normalised.
    assert_eq!(
        tianhe.interconnect_published.as_deref(),
        Some("Infinband DDR 4x")
    );
    assert_eq!(tianhe.family, Family::Infiniband);

    let mole = june.by_rank(19).unwrap();
    assert!(mole.label().starts_with("Mole-8.5"), "{}", mole.label());
    assert!(mole.is_gpgpu());
}

#[test]
fn accelerated_systems_per_seed_list() {
    let lists = seed::lists().unwrap();
    let by_kind = |i: usize, k: Kind| -> Vec<u32> {
        accelerator::accelerated(&lists[i])
            .into_iter()
            .filter(|(_, kk)| *kk == k)
            .map(|(r, _)| r)
            .collect()
    };
    // November 2009: Tianhe-1 (#5) and TSUBAME (#56) carry GPUs.
    assert_eq!(by_kind(0, Kind::Gpu), vec![5, 56]);
    // June 2010: Nebulae, Tianhe-1, Mole-8.5, TSUBAME.
    assert_eq!(by_kind(1, Kind::Gpu), vec![2, 7, 19, 64]);
    // Roadrunner and its siblings, and the three QPACE racks, are Cell systems.
    assert_eq!(by_kind(1, Kind::Cell), vec![3, 35, 88, 131, 132, 133]);
    assert_eq!(by_kind(0, Kind::Other), vec![445]); // GRAPE-DR
}

#[test]
fn gpgpu_clusters_sit_far_below_their_neighbours() {
    let lists = seed::lists().unwrap();
    let june = &lists[1];
    for rank in [2, 7, 19] {
        let s = june.by_rank(rank).unwrap();
        let mut neighbours: Vec<f64> = june
            .systems
            .iter()
            .filter(|n| n.rank().abs_diff(rank) <= 10 && n.rank() != rank && !n.is_gpgpu())
            .map(|n| n.efficiency())
            .collect();
        let median = top500::stats::median(&mut neighbours).unwrap();
        assert!(
            s.efficiency() < median - 0.25,
            "#{rank}: {} vs neighbours {median}",
            s.efficiency()
        );
    }
}

#[test]
fn ten_gbe_has_not_taken_off() {
    let lists = seed::lists().unwrap();
    let count = |i: usize, f: Family| lists[i].systems.iter().filter(|s| s.family == f).count();
    assert_eq!(count(0, Family::TenGigabitEthernet), 1);
    assert_eq!(count(1, Family::TenGigabitEthernet), 2);
    assert_eq!(count(0, Family::GigabitEthernet), 258);
    assert_eq!(count(1, Family::GigabitEthernet), 240);
    assert!(count(1, Family::Infiniband) > count(0, Family::Infiniband));
}
