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
//! addition over ours. When `redis-commandstats.tsv` and `redis-cpu.tsv` lie beside the tsv, it
//! also prints Redis's cost per request for each `-redis` variant: the `INFO commandstats` time of
//! the commands the application sent, Redis's main-thread CPU time, and ours over theirs.
//!
//! With `<criterion dir> --sql <pg statements tsv>` it prints the SQL store comparison (groups
//! `sql_<engine>`): per engine and operation ours, tower-sessions-sqlx-store and ours/peer
//! (below 1.00: we are faster), then PostgreSQL's mean execution time per statement of either
//! side, from `pg_stat_statements`.

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
    if let Some(dir) = Path::new(tsv).parent() {
        redis_costs(dir);
    }
}

/// Commands that run others inside them (a script, a transaction): `INFO commandstats` counts the
/// commands they run both on their own and in their time.
const OUTER_COMMANDS: [&str; 7] = [
    "eval",
    "evalsha",
    "eval_ro",
    "evalsha_ro",
    "fcall",
    "fcall_ro",
    "exec",
];
/// In a run with scripts or transactions, the commands besides those that the application sends
/// itself: `MULTI` and the record reads (`GET`, and `HGETALL`, our store's load; our scripts read
/// with `HMGET`). Every other command of such a run is taken to run inside a script.
const SENT_BESIDE_SCRIPTS: [&str; 3] = ["multi", "get", "hgetall"];

#[derive(Default)]
struct RedisRun {
    requests: f64,
    /// command -> (calls, usec)
    commands: BTreeMap<String, (f64, f64)>,
    cpu_us: Option<f64>,
}

impl RedisRun {
    /// Whether `command` was sent by the application (see [`OUTER_COMMANDS`]).
    fn sent(&self, command: &str) -> bool {
        let nested = self
            .commands
            .keys()
            .any(|name| OUTER_COMMANDS.contains(&name.as_str()));
        !nested || OUTER_COMMANDS.contains(&command) || SENT_BESIDE_SCRIPTS.contains(&command)
    }

    /// Redis's command time per request, of the commands the application sent.
    fn command_us(&self) -> f64 {
        self.commands
            .iter()
            .filter(|(command, _)| self.sent(command))
            // A fold from +0.0: an empty f64 sum is -0.0, printed as "-0.00".
            .fold(0.0, |sum, (_, (_, usec))| sum + usec)
            / self.requests
    }
}

/// (framework, path) -> variant -> round -> run
type RedisRuns = BTreeMap<(String, String), BTreeMap<String, BTreeMap<String, RedisRun>>>;

/// The run of one line's first five fields (framework, variant, path, round, requests).
fn redis_run<'a>(table: &'a mut RedisRuns, fields: &[&str]) -> &'a mut RedisRun {
    let run = table
        .entry((fields[0].to_string(), fields[2].to_string()))
        .or_default()
        .entry(fields[1].to_string())
        .or_default()
        .entry(fields[3].to_string())
        .or_default();
    run.requests = fields[4].parse().unwrap_or(f64::NAN);
    run
}

/// Redis's cost per request of each `-redis` variant, from the files `bench/run.sh http` writes
/// beside `http.tsv`.
fn redis_costs(dir: &Path) {
    let Ok(stats) = std::fs::read_to_string(dir.join("redis-commandstats.tsv")) else {
        return;
    };
    let cpu = std::fs::read_to_string(dir.join("redis-cpu.tsv")).unwrap_or_default();
    let mut table = RedisRuns::new();
    for line in stats.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [.., command, calls, usec, _] = fields[..] else {
            continue;
        };
        if fields.len() != 9 || command.starts_with("config") || command.starts_with("info") {
            continue;
        }
        let (Ok(calls), Ok(usec)) = (calls.parse::<f64>(), usec.parse::<f64>()) else {
            continue;
        };
        redis_run(&mut table, &fields)
            .commands
            .insert(command.to_string(), (calls, usec));
    }
    for line in cpu.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if let [.., cpu_us] = fields[..] {
            if fields.len() == 6 {
                redis_run(&mut table, &fields).cpu_us = cpu_us.parse().ok();
            }
        }
    }
    for ((framework, path), variants) in &table {
        println!("\nRedis per request, {framework} {path} (medians over rounds)");
        println!(
            "  {:<19} {:>7} {:>7} {:>7} {:>7}   commands: calls per request x µs per call",
            "variant", "cmd µs", "CPU µs", "cmd/p", "CPU/p"
        );
        let medians: Vec<(&str, f64, f64)> = variants
            .iter()
            .map(|(name, rounds)| {
                let command = median(rounds.values().map(RedisRun::command_us).collect());
                let cpu = median(
                    rounds
                        .values()
                        .filter_map(|run| Some(run.cpu_us? / run.requests))
                        .collect(),
                );
                (name.as_str(), command, cpu)
            })
            .collect();
        for ((name, rounds), (_, command, cpu)) in variants.iter().zip(&medians) {
            let peer = medians
                .iter()
                .find(|(other, _, _)| !other.starts_with("ours") && store(other) == store(name));
            let ratio = |of: fn(&(&str, f64, f64)) -> f64, value: f64| match peer {
                Some(peer) if name.starts_with("ours") => format!("{:.2}", value / of(peer)),
                _ => "-".to_string(),
            };
            // Each command over all rounds: calls per request and µs per call.
            let requests: f64 = rounds.values().map(|run| run.requests).sum();
            let mut totals: BTreeMap<&str, (f64, f64, bool)> = BTreeMap::new();
            for run in rounds.values() {
                for (command, (calls, usec)) in &run.commands {
                    let total = totals.entry(command).or_insert((0.0, 0.0, true));
                    total.0 += calls;
                    total.1 += usec;
                    total.2 &= run.sent(command);
                }
            }
            let describe = |sent: bool| {
                totals
                    .iter()
                    .filter(|(_, (_, _, by_app))| *by_app == sent)
                    .map(|(command, (calls, usec, _))| {
                        format!(
                            "{command} {:.2}x{:.2}",
                            calls / requests,
                            usec / calls.max(1.0)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let sent = describe(true);
            let inside = describe(false);
            println!(
                "  {:<19} {:>7.2} {:>7.2} {:>7} {:>7}   {}{}",
                name,
                command,
                cpu,
                ratio(|p| p.1, *command),
                ratio(|p| p.2, *cpu),
                if sent.is_empty() { "none" } else { &sent },
                if inside.is_empty() {
                    String::new()
                } else {
                    format!(" (inside scripts: {inside})")
                }
            );
        }
    }
    println!(
        "\ncmd µs: Redis's INFO commandstats time per request of the commands the application sent\n\
         (a script's or a transaction's inner commands count once, in it). CPU µs: Redis's\n\
         main-thread CPU time per request, reading requests and writing replies included.\n\
         cmd/p, CPU/p: ours over the peer's on Redis (below 1: ours costs Redis less)."
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

/// group -> input -> function -> median ns, of the criterion runs under `dir` whose group starts
/// with one of `prefixes` (all when empty).
type Medians = BTreeMap<String, BTreeMap<String, BTreeMap<String, f64>>>;

fn criterion_medians(dir: &str, prefixes: &[String]) -> Medians {
    let mut runs = Vec::new();
    find(Path::new(dir), &mut runs);
    let mut table = Medians::new();
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
    table
}

/// The SQL store comparison: ours against tower-sessions-sqlx-store per engine and operation,
/// then PostgreSQL's time per statement.
fn sql(dir: &str, statements: Option<String>) {
    let table = criterion_medians(dir, &["sql_".to_string()]);
    println!("\nSQL stores against tower-sessions-sqlx-store (wall time, medians)");
    println!(
        "  {:<9} {:<15} {:>11} {:>11} {:>9}",
        "engine", "operation", "ours", "peer", "ours/peer"
    );
    for (group, operations) in &table {
        let engine = group.trim_start_matches("sql_");
        for operation in ["load", "create", "update_one_key"] {
            let Some(functions) = operations.get(operation) else {
                continue;
            };
            let ours = functions.get("ours").copied();
            let peer = functions.get("tower_sessions").copied();
            let text = |value: Option<f64>| value.map_or_else(|| "-".to_string(), format_ns);
            let ratio = match (ours, peer) {
                (Some(ours), Some(peer)) => format!("{:.2}", ours / peer),
                _ => "-".to_string(),
            };
            println!(
                "  {:<9} {:<15} {:>11} {:>11} {:>9}",
                engine,
                operation,
                text(ours),
                text(peer),
                ratio
            );
        }
    }
    println!(
        "\nours/peer below 1.00: ours takes less time. update_one_key: ours is a delta update (one\n\
         UPDATE of the changed key); the peer has none, its update is a whole-record save (an\n\
         upsert of the whole session, MessagePack-encoded). create: ours one INSERT, the peer a\n\
         transaction (existence check and upsert)."
    );
    let Some(path) = statements else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("\n(no PostgreSQL statement statistics at {path})");
        return;
    };
    println!(
        "\nPostgreSQL per statement (pg_stat_statements: mean execution time, planning excluded)"
    );
    println!("  {:<5} {:>8} {:>9}  statement", "side", "calls", "mean µs");
    for line in text.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(calls), Some(mean), Some(query)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // The peer's table is `"tower_sessions"."session"`, and only the peer runs transactions.
        let side = if query.contains("tower_sessions") || query == "BEGIN" || query == "COMMIT" {
            "peer"
        } else {
            "ours"
        };
        let shown: String = query.chars().take(110).collect();
        println!("  {side:<5} {calls:>8} {mean:>9}  {shown}");
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!(
            "usage: bench-report <criterion dir> [group prefix ... | --sql <tsv>] | --http <tsv>"
        );
        std::process::exit(2);
    };
    if dir == "--http" {
        return http(&args.next().unwrap_or_default());
    }
    let prefixes: Vec<String> = args.collect();
    if prefixes.first().is_some_and(|first| first == "--sql") {
        return sql(&dir, prefixes.get(1).cloned());
    }
    let table = criterion_medians(&dir, &prefixes);
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
