//! Prints the criterion results under a directory as tables: per group and input, the median of
//! each function and, where the group has an `ours` function, each other function's median
//! divided by ours (`peer/ours` above 1.00: we are faster by that factor).
//!
//! Usage: `bench-report <criterion dir> [group prefix ...]`
//!
//! With `--http <tsv>` it summarizes the wrk runs `bench/run.sh http` recorded instead: per
//! framework and route, the median over rounds of each variant's requests/s, p50 and p99, and
//! ours as ratios to the no-session server and to the peer crate (with the same store where the
//! peer also runs with another: `ours-redis` against `actix-session-redis`). It also prints what
//! each session layer adds to the bare server's CPU time per request, paired by round (the
//! variants of one round run back to back, so drift between rounds cancels out), and the peer's
//! addition over ours.

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

/// A wrk latency such as `590.00us`, `1.23ms` or `2.00s`, in milliseconds.
fn latency_ms(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (text, 1.0)
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[derive(Default)]
struct Runs {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    bad: u64,
    load: Vec<f64>,
    cpu: Vec<f64>,
    /// CPU µs per request by round.
    cpu_by_round: BTreeMap<String, f64>,
}

impl Runs {
    /// The median over rounds of this variant's CPU per request minus `base`'s in the same round.
    fn added_cpu(&self, base: &Runs) -> f64 {
        median(
            self.cpu_by_round
                .iter()
                .filter_map(|(round, cpu)| Some(cpu - base.cpu_by_round.get(round)?))
                .collect(),
        )
    }
}

fn http(tsv: &str) {
    let text = std::fs::read_to_string(tsv).unwrap_or_else(|error| {
        eprintln!("cannot read {tsv}: {error}");
        std::process::exit(1);
    });
    // (framework, path) -> variant -> runs, in first-seen order of variants.
    let mut table: BTreeMap<(String, String), Vec<(String, Runs)>> = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [framework, variant, path, round, rps, p50, p99, bad, load, cpu] = fields[..] else {
            continue;
        };
        let variants = table
            .entry((framework.to_string(), path.to_string()))
            .or_default();
        let index = match variants.iter().position(|(name, _)| name == variant) {
            Some(index) => index,
            None => {
                variants.push((variant.to_string(), Runs::default()));
                variants.len() - 1
            }
        };
        let runs = &mut variants[index].1;
        runs.rps.extend(rps.parse::<f64>().ok());
        runs.p50.extend(latency_ms(p50));
        runs.p99.extend(latency_ms(p99));
        runs.bad += bad.parse::<u64>().unwrap_or(0);
        runs.load.extend(load.parse::<f64>().ok());
        if let Ok(cpu) = cpu.parse::<f64>() {
            runs.cpu.push(cpu);
            runs.cpu_by_round.insert(round.to_string(), cpu);
        }
    }
    for ((framework, path), variants) in &table {
        println!("\n{framework} {path} (medians over rounds)");
        println!(
            "  {:<19} {:>8} {:>7} {:>7} {:>7} | {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} | {:>6} {:>6} | {:>6} {:>6}",
            "variant",
            "req/s",
            "p50 ms",
            "p99 ms",
            "CPU µs",
            "rps/0",
            "rps/p",
            "p50/0",
            "p50/p",
            "p99/0",
            "p99/p",
            "cap/0",
            "cap/p",
            "+µs",
            "+p/+"
        );
        let stats: Vec<Stats> = variants
            .iter()
            .map(|(name, runs)| Stats {
                name: name.as_str(),
                runs,
                rps: median(runs.rps.clone()),
                p50: median(runs.p50.clone()),
                p99: median(runs.p99.clone()),
                cpu: median(runs.cpu.clone()),
            })
            .collect();
        let none = stats.iter().find(|s| s.name == "none");
        for s in &stats {
            // The peer crate with the same store where the run has one (`ours-redis` against
            // `actix-session-redis`), else the framework's peer with its default store.
            let peer = stats.iter().find(|p| {
                p.name != "none" && !p.name.starts_with("ours") && store(p.name) == store(s.name)
            });
            let ratio = |base: Option<&Stats>, value: f64, of: fn(&Stats) -> f64| match base {
                Some(base) if base.name != s.name => format!("{:.2}", value / of(base)),
                _ => "-".to_string(),
            };
            // Capacity: the requests one core serves per second, from CPU time per request; the
            // ratio is the base's CPU per request over this variant's.
            let capacity = |base: Option<&Stats>| match base {
                Some(base) if base.name != s.name => format!("{:.2}", base.cpu / s.cpu),
                _ => "-".to_string(),
            };
            // What the session layer adds to the bare server, and the peer's addition over
            // ours; not given when either is within 0.1 µs of nothing.
            let added = |of: &Stats| none.map(|none| of.runs.added_cpu(none.runs));
            let added_text = match added(s) {
                Some(added) if s.name != "none" => format!("{added:+.1}"),
                _ => "-".to_string(),
            };
            let added_ratio = match (added(s), peer.and_then(added)) {
                (Some(ours), Some(theirs))
                    if s.name.starts_with("ours") && ours > 0.1 && theirs > 0.1 =>
                {
                    format!("{:.2}", theirs / ours)
                }
                _ => "-".to_string(),
            };
            println!(
                "  {:<19} {:>8.0} {:>7.3} {:>7.3} {:>7.1} | {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} | {:>6} {:>6} | {:>6} {:>6}",
                s.name,
                s.rps,
                s.p50,
                s.p99,
                s.cpu,
                ratio(none, s.rps, |b| b.rps),
                ratio(peer, s.rps, |b| b.rps),
                ratio(none, s.p50, |b| b.p50),
                ratio(peer, s.p50, |b| b.p50),
                ratio(none, s.p99, |b| b.p99),
                ratio(peer, s.p99, |b| b.p99),
                capacity(none),
                capacity(peer),
                added_text,
                added_ratio,
            );
        }
        for (name, runs) in variants {
            if runs.bad > 0 {
                println!(
                    "  WARNING: {name} answered {} requests with a non-2xx status",
                    runs.bad
                );
            }
        }
        let loads: Vec<f64> = variants
            .iter()
            .flat_map(|(_, runs)| runs.load.iter().copied())
            .collect();
        println!(
            "  load average during these runs: {:.2} to {:.2}",
            loads.iter().copied().fold(f64::INFINITY, f64::min),
            loads.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        );
    }
    println!(
        "\n/0: ratio to the server without sessions; /p: ratio to the peer crate (a -redis row: to\n\
         the peer on Redis). rps: requests/s (above 1: more). p50, p99: latency (below 1: faster).\n\
         CPU µs: server CPU time per request.\n\
         cap: requests one core can serve, from CPU per request (above 1: more); it holds when\n\
         neighbours take CPU from the server, which requests/s and latency do not.\n\
         +µs: CPU per request the session layer adds to the server without sessions (median over\n\
         rounds of the difference within each round). +p/+: the peer's addition over ours (above\n\
         1: ours costs less), when both exceed 0.1 µs."
    );
}

/// The store suffix a variant's name carries where the peer crates are run with more than one
/// store (`-redis`); empty for the default store.
fn store(variant: &str) -> &str {
    ["-redis"]
        .into_iter()
        .find(|suffix| variant.ends_with(suffix))
        .unwrap_or("")
}

struct Stats<'a> {
    name: &'a str,
    runs: &'a Runs,
    rps: f64,
    p50: f64,
    p99: f64,
    cpu: f64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: bench-report <criterion dir> [group prefix ...] | --http <tsv>");
        std::process::exit(2);
    };
    if dir == "--http" {
        return http(&args.next().unwrap_or_default());
    }
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
