//! Prints the criterion results under a directory as tables: per group and input, the median of
//! each function and, where the group has an `ours` function, each other function's median
//! divided by ours (`peer/ours` above 1.00: we are faster by that factor).
//!
//! Usage: `bench-report <criterion dir> [group prefix ...]`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Deserialize)]
struct Benchmark {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
}

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

fn find(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name == "new") {
                found.push(path);
            } else {
                find(&path, found);
            }
        }
    }
}

fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn format_ns(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: bench-report <criterion dir> [group prefix ...]");
        std::process::exit(2);
    };
    let prefixes: Vec<String> = args.collect();
    let mut runs = Vec::new();
    find(Path::new(&dir), &mut runs);
    // group -> input -> function -> median ns
    let mut table: BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>> = BTreeMap::new();
    for run in runs {
        let (Some(bench), Some(estimates)) = (
            read::<Benchmark>(&run.join("benchmark.json")),
            read::<Estimates>(&run.join("estimates.json")),
        ) else {
            continue;
        };
        if !prefixes.is_empty() && !prefixes.iter().any(|p| bench.group_id.starts_with(p)) {
            continue;
        }
        table
            .entry(bench.group_id)
            .or_default()
            .entry(bench.value_str.unwrap_or_default())
            .or_default()
            .insert(
                bench.function_id.unwrap_or_default(),
                estimates.median.point_estimate,
            );
    }
    for (group, inputs) in &table {
        println!("\n{group}");
        println!(
            "  {:<10} {:<34} {:>12} {:>14}",
            "input", "function", "median", "peer/ours"
        );
        let mut inputs: Vec<_> = inputs.iter().collect();
        inputs.sort_by_key(|(input, _)| {
            (input.parse::<u64>().unwrap_or(u64::MAX), input.to_string())
        });
        for (input, functions) in inputs {
            let ours = functions.get("ours").copied();
            let mut functions: Vec<_> = functions.iter().collect();
            functions.sort_by_key(|(name, _)| (name.as_str() != "ours", name.to_string()));
            for (function, median) in functions {
                let ratio = match ours {
                    Some(ours) if function != "ours" => format!("{:.2}", median / ours),
                    _ => String::new(),
                };
                println!(
                    "  {:<10} {:<34} {:>12} {:>14}",
                    input,
                    function,
                    format_ns(*median),
                    ratio
                );
            }
        }
    }
}
