//! `trend::load_dir`: which files it reads, which it passes over, and how exports of one list merge.

use top500::trend::{load_dir, to_csv, trend};

const CSV: &[u8] = include_bytes!("../../data/TOP500_201006.csv");
const XML: &[u8] = include_bytes!("../../data/TOP500_201006_all.xml");
const OLD: &[u8] = include_bytes!("../../data/TOP500_200911.csv");

#[test]
fn reads_lists_skips_the_rest_and_joins_names() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("xml");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(dir.path().join("TOP500_201006.csv"), CSV).unwrap();
    std::fs::write(sub.join("TOP500_201006_all.xml"), XML).unwrap();
    std::fs::write(dir.path().join("TOP500_200911.csv"), OLD).unwrap();
    std::fs::write(dir.path().join("README.md"), b"# lists\n\nSome notes.\n").unwrap();
    std::fs::write(dir.path().join("copy.csv"), OLD).unwrap();

    let seen = std::sync::atomic::AtomicUsize::new(0);
    let loaded = load_dir(dir.path(), &|_| {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(seen.into_inner(), 5);
    let labels: Vec<String> = loaded.lists.iter().map(|l| l.label()).collect();
    assert_eq!(labels, ["2009-11", "2010-06"]);
    assert_eq!(
        loaded.lists[1].sources.len(),
        2,
        "CSV joined with the XML in the subdirectory"
    );
    assert_eq!(
        loaded.lists[1].by_rank(2).unwrap().name.as_deref(),
        Some("Nebulae")
    );
    let mut skipped: Vec<String> = loaded
        .skipped
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    skipped.sort();
    assert_eq!(skipped, ["README.md", "copy.csv"]);

    let points = trend(&loaded.lists).unwrap();
    let csv = to_csv(&points);
    assert!(csv.contains("\n2010-06,10G Ethernet,2,0.004000,"), "{csv}");
}

#[test]
fn a_broken_list_stops_the_trend() {
    let dir = tempfile::tempdir().unwrap();
    let broken = String::from_utf8_lossy(CSV).replacen("1759000", "17x9000", 1);
    std::fs::write(dir.path().join("TOP500_201006.csv"), broken.as_bytes()).unwrap();
    let e = load_dir(dir.path(), &|_| {}).unwrap_err();
    assert!(
        e.to_string()
            .contains(":2: column `RMax` (8): `17x9000` is not a number"),
        "{e}"
    );
}
