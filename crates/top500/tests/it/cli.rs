//! The `top500` binary end to end, in a scratch directory.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_top500"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "top500 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn plot_without_arguments_draws_the_seed_lists() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["plot"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2009-11: 500 systems"), "{stdout}");
    assert!(stdout.contains("#2 Nebulae 42.6 %"), "{stdout}");
    let svg = std::fs::read_to_string(dir.path().join("efficiency.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("TOP500 2010-06"));
    run(dir.path(), &["plot", "--out", "eff.png", "--labels", "3"]);
    let png = std::fs::read(dir.path().join("eff.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // Only the outputs: no temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn plot_joins_csv_with_xml_names() {
    let dir = tempfile::tempdir().unwrap();
    let csv = common::top500_data("csv").join("TOP500_201011.csv");
    let xml = common::top500_data("xml").join("TOP500_201011_all.xml");
    let out = run(
        dir.path(),
        &[
            "plot",
            csv.to_str().unwrap(),
            xml.to_str().unwrap(),
            "--out",
            "n.svg",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("2010-11:")).count(),
        1,
        "{stdout}"
    );
    assert!(stdout.contains("Mole-8.5"), "{stdout}");
}

#[test]
fn compare_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["compare"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("TOP500 2009-11 → 2010-06"), "{text}");
    assert!(text.contains("10G Ethernet"), "{text}");
    let out = run(dir.path(), &["compare", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entered = v["entered"].as_array().unwrap();
    assert!(
        entered
            .iter()
            .any(|e| e["label"] == "Nebulae" && e["gpgpu"] == true)
    );
    assert_eq!(v["old"]["systems"], 500);
    let families = v["families"].as_array().unwrap();
    let ten_g = families
        .iter()
        .find(|f| f["family"] == "TenGigabitEthernet")
        .unwrap();
    assert_eq!(ten_g["systems_change"], 1);
}

#[test]
fn trend_over_every_csv_list() {
    let dir = tempfile::tempdir().unwrap();
    let csv_dir = common::top500_data("csv");
    run(dir.path(), &["trend", csv_dir.to_str().unwrap()]);
    let table = std::fs::read_to_string(dir.path().join("trend.csv")).unwrap();
    let all_rows: Vec<&str> = table.lines().filter(|l| l.contains(",All,")).collect();
    assert_eq!(all_rows.len(), 24);
    assert!(all_rows[0].starts_with("2007-11,All,500,"));
    assert!(all_rows[23].starts_with("2019-06,All,500,"));
    let svg = std::fs::read_to_string(dir.path().join("trend.svg")).unwrap();
    assert!(svg.contains("Share of systems") && svg.contains("Median efficiency"));
}

#[test]
fn report_is_one_page() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["report", "--html", "r.html"]);
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(html.contains("From 2009-11 to 2010-06"));
    assert_eq!(html.matches("<svg").count(), 1);
}

#[test]
fn show_prints_the_classification() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["show"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 501);
    let nebulae = text.lines().find(|l| l.contains("Nebulae")).unwrap();
    assert!(
        nebulae.contains("Infiniband") && nebulae.contains("GPGPU"),
        "{nebulae}"
    );
}
