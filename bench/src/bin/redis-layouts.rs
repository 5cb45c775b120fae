//! What one session update costs Redis, layout by layout: `TASKS` concurrent tasks (8 by
//! default) each update one key of their own 10-key session `UPDATES` times (2000), and for each
//! layout the probe prints
//!
//! - Redis's own time per update: the `usec` of `INFO commandstats`, reset (`CONFIG RESETSTAT`)
//!   before each layout, summed over the commands the client sent and divided by the updates.
//!   Commands run inside a script or a `MULTI`/`EXEC` are counted by Redis both on their own and
//!   in the `evalsha`/`exec` around them, so only the outer ones are summed; the inner ones are
//!   listed beside;
//! - Redis's main-thread CPU time per update (`INFO cpu`), which also holds reading the requests
//!   and writing the replies;
//! - the client's CPU time per update (this process's, `CLOCK_PROCESS_CPUTIME_ID`; the tasks run
//!   on one thread), building the commands and parsing the replies included.
//!
//! Usage: `redis-layouts [tasks] [updates]`, with `REDIS_URL` set (`bench/run.sh redis` starts a
//! private server through `scripts/with-redis.sh`).
//!
//! The layouts, and what each gives up:
//!
//! - **set**: actix-session's layout, the reference: the whole record, serialized as one JSON
//!   map of key to value text, written by one `SET ... PXAT`. No delta: two requests changing
//!   different keys of one session lose one of the changes; and a `SET` brings back a session
//!   another request destroyed (actix-session's `XX` would stop that, at the same cost).
//! - **ours**: session-stores' Redis store, `Store::update` through the public API, on the hash
//!   layout (one field per key, `@`-fields for the metadata): one `MULTI`, `HINCRBY @v`, `HDEL`,
//!   `HSET`, `HMGET @c @o @t`, `PEXPIREAT`, `EXEC`, and, only when `@c` came back missing (the
//!   session was gone), a script that deletes what the transaction wrote. Delta saves, atomic,
//!   reports a gone session as gone and leaves nothing that reads as a session.
//! - **script-floor**: an `EVALSHA` of a script that only returns 1, with the same keys and
//!   arguments as ours: what any script costs before it does anything.
//! - **multi**: `MULTI`, `HINCRBY @v`, `HDEL`, `HSET`, `PEXPIREAT`, `EXEC` on the same hash: the
//!   same writes as ours, atomic, but with no existence check: an update racing a destroy brings
//!   back a hash without `@c` (a fragment, which reads as absent or corrupt and expires at its
//!   deadline), and the update reports success on a session that is gone.
//! - **write-check**: the same four writes and an `HGET @c`, pipelined without a transaction,
//!   then a `DEL` when `@c` was missing (the session was gone: the writes made a fragment, which
//!   is taken back). Keeps delta semantics and never leaves a fragment behind for longer than
//!   one round trip, but gives up the script's atomicity: between the writes and the `DEL`, a
//!   load sees the fragment (as absent, since it has no `@c`), and two updates racing a destroy
//!   may both report success. Each write is still atomic on its own, so concurrent deltas to
//!   different keys all persist.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use redis::aio::MultiplexedConnection;
use session_bench::stores::{one_key_delta, redis_store};
use session_bench::{record_with_fresh_id, values};
use session_core::{now_ms, Record, Store};

/// The hash layout of session-stores' Redis store (its default `key_prefix`), for the layouts
/// that write it natively.
const KEY_PREFIX: &str = "session:";
/// Connections the native layouts share, as many as the store's default pool.
const CONNECTIONS: usize = 4;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Set,
    Ours,
    ScriptFloor,
    Multi,
    WriteCheck,
}

impl Layout {
    const ALL: [Layout; 5] = [
        Layout::Set,
        Layout::Ours,
        Layout::ScriptFloor,
        Layout::Multi,
        Layout::WriteCheck,
    ];

    fn name(self) -> &'static str {
        match self {
            Layout::Set => "set (actix-session)",
            Layout::Ours => "ours (Store::update)",
            Layout::ScriptFloor => "script-floor",
            Layout::Multi => "multi",
            Layout::WriteCheck => "write-check",
        }
    }
}

/// Everything the tasks share.
struct Probe {
    store: Arc<dyn Store>,
    connections: Vec<MultiplexedConnection>,
    floor_sha: String,
    /// One session per task.
    sessions: Vec<Record>,
}

fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("redis-layouts: {what}: {error}");
    std::process::exit(1)
}

fn process_cpu_us() -> f64 {
    session_bench::cpu_time_ns(libc::CLOCK_PROCESS_CPUTIME_ID) as f64 / 1e3
}

/// The actix-session form of a record: a JSON map of key to the value's JSON text, with
/// `visits` replaced when given.
fn whole_record(record: &Record, visits: Option<&str>) -> String {
    let map: BTreeMap<&str, &str> = record
        .data
        .iter()
        .map(|(key, value)| match visits {
            Some(visits) if key == "visits" => (key.as_str(), visits),
            _ => (key.as_str(), value.get()),
        })
        .collect();
    serde_json::to_string(&map).expect("a map of strings is JSON")
}

fn session_key(record: &Record) -> String {
    format!("{KEY_PREFIX}{}", record.id.storage_key())
}

/// The fields a one-key delta removes on the hash layout: the absolute deadline when the record
/// has none, and the per-session expiry override (the delta sets none), as the store does.
fn removed_fields(record: &Record) -> Vec<&'static str> {
    let mut removed = vec!["@x"];
    if record.absolute_deadline.is_none() {
        removed.insert(0, "@a");
    }
    removed
}

/// The field, value pairs a one-key delta sets on the hash layout.
fn set_fields(record: &Record, visits: u64, expires_at: u64) -> Vec<(String, String)> {
    let mut fields = vec![
        ("d:visits".to_string(), visits.to_string()),
        ("@e".to_string(), expires_at.to_string()),
    ];
    if let Some(absolute) = record.absolute_deadline {
        fields.push(("@a".to_string(), absolute.to_string()));
    }
    fields
}

fn deadline(record: &Record, expires_at: u64) -> u64 {
    record
        .absolute_deadline
        .map_or(expires_at, |absolute| absolute.min(expires_at))
}

impl Probe {
    /// Stores each task's session in `layout`'s form on an empty database.
    async fn setup(&self, layout: Layout) {
        let mut conn = self.connections[0].clone();
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| fail("FLUSHALL", e));
        for record in &self.sessions {
            if layout == Layout::Set {
                let _: () = redis::cmd("SET")
                    .arg(session_key(record))
                    .arg(whole_record(record, None))
                    .arg("PXAT")
                    .arg(deadline(record, record.expires_at))
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_else(|e| fail("SET", e));
            } else {
                self.store
                    .create(record)
                    .await
                    .unwrap_or_else(|e| fail("create", e));
            }
        }
    }

    /// One update of task `task`'s session in `layout`.
    async fn update(&self, layout: Layout, task: usize, visits: u64) {
        let record = &self.sessions[task];
        let mut conn = self.connections[task % self.connections.len()].clone();
        let expires_at = now_ms() + 86_400_000;
        let key = session_key(record);
        match layout {
            Layout::Set => {
                // The request's change applied to the record it loaded, and the whole record
                // written back.
                let visits = visits.to_string();
                let _: () = redis::cmd("SET")
                    .arg(&key)
                    .arg(whole_record(record, Some(&visits)))
                    .arg("PXAT")
                    .arg(deadline(record, expires_at))
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_else(|e| fail("SET", e));
            }
            Layout::Ours => {
                let delta = one_key_delta(visits, record.absolute_deadline);
                let applied = self
                    .store
                    .update(&record.id, &delta)
                    .await
                    .unwrap_or_else(|e| fail("update", e));
                assert!(applied, "the session is live");
            }
            Layout::ScriptFloor => {
                // The update script's keys and arguments (see session-stores' scripts.rs).
                let deadline = deadline(record, expires_at);
                let removed = removed_fields(record);
                let mut command = redis::cmd("EVALSHA");
                command
                    .arg(&self.floor_sha)
                    .arg(1)
                    .arg(&key)
                    .arg(format!("{KEY_PREFIX}owner:"))
                    .arg(deadline)
                    .arg(record.id.storage_key())
                    .arg(deadline + 86_400_000)
                    .arg(deadline + 43_200_000)
                    .arg("")
                    .arg(removed.len())
                    .arg(&removed);
                for (field, value) in set_fields(record, visits, expires_at) {
                    command.arg(field).arg(value);
                }
                let one: i64 = command
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_else(|e| fail("EVALSHA", e));
                assert_eq!(one, 1);
            }
            Layout::Multi | Layout::WriteCheck => {
                let mut pipe = redis::pipe();
                if layout == Layout::Multi {
                    pipe.atomic();
                }
                pipe.cmd("HINCRBY").arg(&key).arg("@v").arg(1).ignore();
                pipe.cmd("HDEL")
                    .arg(&key)
                    .arg(removed_fields(record))
                    .ignore();
                pipe.cmd("HSET").arg(&key);
                for (field, value) in set_fields(record, visits, expires_at) {
                    pipe.arg(field).arg(value);
                }
                pipe.ignore();
                pipe.cmd("PEXPIREAT")
                    .arg(&key)
                    .arg(deadline(record, expires_at))
                    .ignore();
                if layout == Layout::Multi {
                    let _: () = pipe
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_else(|e| fail("MULTI/EXEC", e));
                } else {
                    pipe.cmd("HGET").arg(&key).arg("@c");
                    let (created,): (Option<u64>,) = pipe
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_else(|e| fail("pipeline", e));
                    if created.is_none() {
                        // The session was gone: take back the fragment the writes made.
                        let _: () = redis::cmd("DEL")
                            .arg(&key)
                            .query_async(&mut conn)
                            .await
                            .unwrap_or_else(|e| fail("DEL", e));
                        panic!("the session is live");
                    }
                }
            }
        }
    }

    async fn run(self: &Arc<Self>, layout: Layout, updates: usize, first_visit: u64) {
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..self.sessions.len() {
            let probe = Arc::clone(self);
            tasks.spawn(async move {
                for i in 0..updates {
                    probe.update(layout, task, first_visit + i as u64).await;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap_or_else(|e| fail("task", e));
        }
    }

    /// Checks the last write of `layout` is there, whole.
    async fn check(&self, layout: Layout, visits: u64) {
        let mut conn = self.connections[0].clone();
        for record in &self.sessions {
            if layout == Layout::Set {
                let text: String = redis::cmd("GET")
                    .arg(session_key(record))
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_else(|e| fail("GET", e));
                let map: BTreeMap<String, String> =
                    serde_json::from_str(&text).unwrap_or_else(|e| fail("stored record", e));
                assert_eq!(map.len(), values(10).len());
                assert_eq!(map["visits"], visits.to_string());
            } else {
                let loaded = self
                    .store
                    .load(&record.id)
                    .await
                    .unwrap_or_else(|e| fail("load", e))
                    .unwrap_or_else(|| fail("load", "the session is gone"));
                assert_eq!(loaded.data.len(), values(10).len());
                if layout != Layout::ScriptFloor {
                    assert_eq!(loaded.data["visits"].get(), visits.to_string());
                }
            }
        }
    }
}

/// `INFO <section>` as `name:value` lines.
async fn info(conn: &mut MultiplexedConnection, section: &str) -> Vec<(String, String)> {
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .unwrap_or_else(|e| fail("INFO", e));
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_string(), value.trim().to_string()))
        .collect()
}

/// A command's calls and microseconds in `INFO commandstats`.
type CommandStat = (String, u64, u64);

/// Per command: calls and microseconds, from `INFO commandstats`.
async fn commandstats(conn: &mut MultiplexedConnection) -> Vec<CommandStat> {
    info(conn, "commandstats")
        .await
        .into_iter()
        .filter_map(|(name, value)| {
            let command = name.strip_prefix("cmdstat_")?.to_string();
            let field = |wanted: &str| {
                value
                    .split(',')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(key, _)| *key == wanted)
                    .and_then(|(_, n)| n.parse::<f64>().ok())
            };
            Some((command, field("calls")? as u64, field("usec")? as u64))
        })
        .collect()
}

/// Redis's main-thread CPU time so far, in microseconds.
async fn redis_cpu_us(conn: &mut MultiplexedConnection) -> f64 {
    let cpu = info(conn, "cpu").await;
    let seconds = |name: &str| {
        cpu.iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.parse::<f64>().ok())
            .unwrap_or_else(|| fail("INFO cpu", format!("no {name}")))
    };
    (seconds("used_cpu_user_main_thread") + seconds("used_cpu_sys_main_thread")) * 1e6
}

/// Commands that run inside a script or a transaction are counted twice by `INFO commandstats`:
/// on their own and in these.
const OUTER: [&str; 5] = ["eval", "evalsha", "exec", "fcall", "multi"];

struct Row {
    layout: Layout,
    redis_us: f64,
    redis_cpu_us: f64,
    client_us: f64,
    outer: String,
    inner: String,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut number = |default: usize| {
        args.next()
            .map_or(Some(default), |arg| arg.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| fail("usage", "redis-layouts [tasks] [updates]"))
    };
    let (tasks, updates) = (number(8), number(2000));
    let url = std::env::var("REDIS_URL")
        .unwrap_or_else(|_| fail("REDIS_URL", "not set (bench/run.sh redis sets it)"));
    // One thread: the client's CPU time is this thread's, and the tasks interleave on it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e));
    let store = redis_store(&rt, &url)
        .unwrap_or_else(|| fail("store", "the Redis store could not be built"));
    rt.block_on(probe(store, &url, tasks, updates));
}

async fn probe(store: Arc<dyn Store>, url: &str, tasks: usize, updates: usize) {
    let client = redis::Client::open(url).unwrap_or_else(|e| fail("REDIS_URL", e));
    let mut connections = Vec::new();
    for _ in 0..CONNECTIONS {
        connections.push(
            client
                .get_multiplexed_async_connection()
                .await
                .unwrap_or_else(|e| fail("connect", e)),
        );
    }
    let mut admin = connections[0].clone();
    let floor_sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg("return 1")
        .query_async(&mut admin)
        .await
        .unwrap_or_else(|e| fail("SCRIPT LOAD", e));
    let sessions: Vec<Record> = (0..tasks).map(|_| record_with_fresh_id(10)).collect();
    let version: String = info(&mut admin, "server")
        .await
        .into_iter()
        .find(|(name, _)| name == "redis_version")
        .map_or_else(|| "?".to_string(), |(_, value)| value);
    println!(
        "Redis {version}; {tasks} tasks x {updates} updates of one key in a 10-key session \
         ({} bytes as one JSON record)",
        whole_record(&sessions[0], None).len()
    );
    let probe = Arc::new(Probe {
        store,
        connections,
        floor_sha,
        sessions,
    });

    let mut rows = Vec::new();
    for (n, layout) in Layout::ALL.into_iter().enumerate() {
        probe.setup(layout).await;
        let first_visit = 1_000_000 * (n as u64 + 1);
        // Warm-up: connections open, scripts loaded, allocations settled.
        probe.run(layout, updates.div_ceil(10), first_visit).await;
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async(&mut admin)
            .await
            .unwrap_or_else(|e| fail("CONFIG RESETSTAT", e));
        let cpu_before = redis_cpu_us(&mut admin).await;
        let client_before = process_cpu_us();
        let started = Instant::now();
        probe.run(layout, updates, first_visit).await;
        let elapsed = started.elapsed();
        let client_after = process_cpu_us();
        let stats = commandstats(&mut admin).await;
        let cpu_after = redis_cpu_us(&mut admin).await;
        probe.check(layout, first_visit + updates as u64 - 1).await;

        let total = (tasks * updates) as f64;
        let measured: Vec<&CommandStat> = stats
            .iter()
            .filter(|(command, _, _)| {
                !command.starts_with("config") && !command.starts_with("info")
            })
            .collect();
        let nested = measured
            .iter()
            .any(|(command, _, _)| OUTER.contains(&command.as_str()));
        let (outer, inner): (Vec<&CommandStat>, Vec<&CommandStat>) = measured
            .into_iter()
            .partition(|(command, _, _)| !nested || OUTER.contains(&command.as_str()));
        let describe = |list: &[&CommandStat]| {
            list.iter()
                .map(|(command, calls, usec)| {
                    format!(
                        "{command} {:.2}x{:.2}",
                        *calls as f64 / total,
                        *usec as f64 / (*calls).max(1) as f64
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        rows.push(Row {
            layout,
            redis_us: outer.iter().map(|(_, _, usec)| *usec as f64).sum::<f64>() / total,
            redis_cpu_us: (cpu_after - cpu_before) / total,
            client_us: (client_after - client_before) / total,
            outer: describe(&outer),
            inner: describe(&inner),
        });
        eprintln!(
            "  {}: {total} updates in {:.2} s",
            layout.name(),
            elapsed.as_secs_f64()
        );
    }

    let reference = rows
        .iter()
        .find(|row| row.layout == Layout::Set)
        .map(|row| (row.redis_us, row.redis_cpu_us));
    println!(
        "\n{:<21} {:>9} {:>6} {:>10} {:>6} {:>10}   commands per update: calls x µs per call",
        "layout", "Redis µs", "/set", "Redis CPU", "/set", "client µs"
    );
    for row in &rows {
        let ratio = |value: f64, base: f64| format!("{:.2}", value / base);
        let (to_set, cpu_to_set) = reference.map_or(("-".to_string(), "-".to_string()), |r| {
            (ratio(row.redis_us, r.0), ratio(row.redis_cpu_us, r.1))
        });
        println!(
            "{:<21} {:>9.2} {:>6} {:>10.2} {:>6} {:>10.2}   {}{}",
            row.layout.name(),
            row.redis_us,
            to_set,
            row.redis_cpu_us,
            cpu_to_set,
            row.client_us,
            row.outer,
            if row.inner.is_empty() {
                String::new()
            } else {
                format!(" (inside: {})", row.inner)
            }
        );
    }
    println!(
        "\nRedis µs: INFO commandstats usec of the commands the client sent, per update (inside\n\
         a script or MULTI/EXEC, only the outer command). Redis CPU: its main thread's CPU time\n\
         per update (INFO cpu), reading and replying included. client µs: this process's CPU\n\
         time per update. /set: ratio to the whole-record SET."
    );
}
