//! Reading a sweep's output directory.

use std::path::Path;

/// CSV rows without the host-timing columns (mips, wall_seconds), which differ run to run.
pub fn table_without_timings(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f[..f.len() - 2].join(",")
        })
        .collect()
}

/// Finished points (result files) in `dir`; 0 before the directory exists.
pub fn count_results(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("points"))
        .map(|rd| {
            rd.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
            })
            .count()
        })
        .unwrap_or(0)
}
