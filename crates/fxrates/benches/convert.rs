//! In-process speed: loading the embedded history, and conversions per second over a query
//! file shared with the Python CurrencyConverter measurement in `scripts/bench-fxrates`.
//!
//! `cargo bench -p fxrates --bench convert -- <queries.tsv>` (lines `YYYY-MM-DD\tFROM\tTO`).
//! Prints `load_ms <median>` and `conversions_per_s <median>` (five runs each).

use std::hint::black_box;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let path = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| {
            eprintln!("usage: convert <queries.tsv>");
            std::process::exit(2)
        });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e}");
        std::process::exit(2)
    });
    let queries: Vec<(fxrates::Day, String, String)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((
                fxrates::Day::parse(f.next()?).ok()?,
                f.next()?.to_string(),
                f.next()?.to_string(),
            ))
        })
        .collect();
    let loads: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            black_box(fxrates::Table::embedded());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    println!("load_ms\t{:.3}", median(loads));
    let table = fxrates::Table::embedded();
    let mut rates = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut sum = 0.0;
        for _ in 0..10 {
            for (day, from, to) in &queries {
                if let Ok(q) = table.convert(100.0, black_box(from), black_box(to), Some(*day)) {
                    sum += q.value;
                }
            }
        }
        black_box(sum);
        rates.push((10 * queries.len()) as f64 / t.elapsed().as_secs_f64());
    }
    println!("conversions_per_s\t{:.0}", median(rates));
}
