//! Redis's own time for listing (`Store::owner_sessions`) and revoking (`Store::delete_owner`)
//! one owner's sessions, at 10, 1,000 and 100,000 sessions of that owner.
//!
//! Per operation, from the server's `SLOWLOG` (every command logged while it runs:
//! `slowlog-log-slower-than 0`), the entries that name the owner:
//!
//! - the commands the client sent (`SSCAN` batches of the owner's set, one script per batch),
//!   their Redis time summed, the longest one (the most a listing or revocation holds Redis up
//!   for other clients, whose commands run between these) and the median batch script (the slow
//!   log times wall clock: on a busy machine a descheduled server stretches single commands);
//! - the commands the scripts ran inside them, counted apart (their time is already within the
//!   script's).
//!
//! Each size runs twice, the sessions written with their device record and without it (as before
//! the device layer), so the listing's share of reading and returning the records shows apart.
//!
//! Also Redis's main-thread CPU time over the operation (`INFO cpu`, network and parsing
//! included), the client's wall time, and, from a second client loading another session in a
//! loop meanwhile, the slowest of its loads: what another user saw.
//!
//! Usage: `owner-redis-time [sizes...]` (default 10 1000 100000), with `REDIS_URL` set (a private
//! server: the probe resets its slow log and changes its configuration).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use session_bench::stores::redis_store;
use session_core::{now_ms, ClientInfo, Device, Expiry, Record, SessionId, Store, DEVICE_KEY};

/// Commands a client sends for a listing or a revocation; any other entry naming the owner ran
/// inside one of their scripts.
const SENT: [&str; 6] = ["SSCAN", "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL"];

fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("owner-redis-time: {what}: {error}");
    std::process::exit(1)
}

async fn run(conn: &mut MultiplexedConnection, args: &[&str]) {
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    let _: redis::Value = command
        .query_async(conn)
        .await
        .unwrap_or_else(|e| fail(args[0], e));
}

/// Redis's main-thread CPU time so far, in microseconds.
async fn redis_cpu_us(conn: &mut MultiplexedConnection) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(conn)
        .await
        .unwrap_or_else(|e| fail("INFO cpu", e));
    info.lines()
        .filter_map(|line| line.trim().split_once(':'))
        .filter(|(name, _)| {
            *name == "used_cpu_user_main_thread" || *name == "used_cpu_sys_main_thread"
        })
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum::<f64>()
        * 1e6
}

/// How many tasks create an owner's sessions at once.
const WRITERS: usize = 16;

/// Creates `sessions` records of `owner` (with device records when `device`) from [`WRITERS`]
/// concurrent tasks.
async fn create_sessions(store: &Arc<dyn Store>, owner: &str, sessions: usize, device: bool) {
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let (store, owner) = (Arc::clone(store), owner.to_string());
        writers.spawn(async move {
            for _ in (writer..sessions).step_by(WRITERS) {
                let record = owned_record(&owner, device);
                store
                    .create(&record)
                    .await
                    .unwrap_or_else(|e| fail("create", e));
            }
        });
    }
    while let Some(finished) = writers.join_next().await {
        finished.unwrap_or_else(|e| fail("writer", e));
    }
}

/// A session of `owner` as a login leaves it: one value and, with `device`, a device record.
fn owned_record(owner: &str, device: bool) -> Record {
    let now = now_ms();
    let mut record = Record::new(SessionId::generate(), &Expiry::default(), now);
    record.owner = Some(owner.to_string());
    let client = ClientInfo {
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
                .to_string(),
        ),
        ip: None,
    };
    if device {
        record.data.insert(
            DEVICE_KEY.into(),
            Device::at_login(now, &client, false).to_value(),
        );
    }
    record.data.insert(
        "user_id".into(),
        session_core::RawJson::to_json(&48213).unwrap_or_else(|e| fail("JSON", e)),
    );
    record
}

/// What the slow log says of one operation.
#[derive(Default)]
struct Logged {
    sent: u64,
    sent_us: i64,
    longest_us: i64,
    longest: String,
    /// The median batch script's µs (the `SSCAN`s left out).
    median_us: i64,
    inner: u64,
}

async fn slowlog(conn: &mut MultiplexedConnection, owner: &str) -> Logged {
    let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(-1)
        .query_async(conn)
        .await
        .unwrap_or_else(|e| fail("SLOWLOG GET", e));
    let mut logged = Logged::default();
    let mut times = Vec::new();
    for entry in entries {
        let redis::Value::Array(fields) = entry else {
            continue;
        };
        let Some(redis::Value::Int(micros)) = fields.get(2) else {
            continue;
        };
        let args = fields
            .get(3)
            .cloned()
            .and_then(|args| redis::from_redis_value::<Vec<Vec<u8>>>(args).ok())
            .unwrap_or_default();
        let names_owner = args.iter().any(|arg| {
            arg.windows(owner.len())
                .any(|window| window == owner.as_bytes())
        });
        if !names_owner {
            continue;
        }
        let name = args
            .first()
            .map(|name| String::from_utf8_lossy(name).to_uppercase())
            .unwrap_or_default();
        if SENT.contains(&name.as_str()) {
            logged.sent += 1;
            logged.sent_us += micros;
            if name != "SSCAN" {
                times.push(*micros);
            }
            if *micros > logged.longest_us {
                logged.longest_us = *micros;
                logged.longest = name;
            }
        } else {
            logged.inner += 1;
        }
    }
    times.sort_unstable();
    logged.median_us = times.get(times.len() / 2).copied().unwrap_or(0);
    logged
}

/// Another user's loads of their own session, in a loop until `stop`: the slowest one, in µs.
async fn other_user(store: Arc<dyn Store>, id: SessionId, stop: Arc<AtomicBool>) -> (u64, u128) {
    let (mut loads, mut slowest) = (0u64, 0u128);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let loaded = store.load(&id).await;
        slowest = slowest.max(started.elapsed().as_micros());
        loads += 1;
        if !matches!(loaded, Ok(Some(_))) {
            fail("other user's load", "their session did not load");
        }
    }
    (loads, slowest)
}

async fn probe(store: Arc<dyn Store>, url: &str, sizes: &[usize]) {
    let client = redis::Client::open(url).unwrap_or_else(|e| fail("REDIS_URL", e));
    // The slow log of 100,000 sessions' batches takes a while to read back.
    let mut redis = client
        .get_multiplexed_async_connection_with_config(
            &redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(Duration::from_secs(120))),
        )
        .await
        .unwrap_or_else(|e| fail("connect", e));
    let bystander = owned_record("bystander@example.com", true);
    store
        .create(&bystander)
        .await
        .unwrap_or_else(|e| fail("create", e));
    // One listing and revocation first, so the server holds the scripts before any is measured
    // (a measured first call would pay `NOSCRIPT` and the script's load).
    let warm_up = "warm-up@example.com";
    store
        .create(&owned_record(warm_up, true))
        .await
        .unwrap_or_else(|e| fail("create", e));
    store
        .owner_sessions(warm_up)
        .await
        .unwrap_or_else(|e| fail("owner_sessions", e));
    store
        .delete_owner(warm_up, None)
        .await
        .unwrap_or_else(|e| fail("delete_owner", e));
    run(&mut redis, &["CONFIG", "SET", "slowlog-max-len", "1000000"]).await;
    println!("# sessions\tdevice records\toperation\tresult\tcommands sent\tRedis ms in all\tlongest command ms\tlongest\tmedian script ms\tcommands inside scripts\tRedis main-thread CPU ms\tclient wall ms\tother user's loads\tslowest other load ms");
    for (sessions, device) in sizes
        .iter()
        .flat_map(|&sessions| [(sessions, true), (sessions, false)])
    {
        let owner = format!(
            "owner-{sessions}-{device}-{}@example.com",
            &SessionId::generate().storage_key()[..8]
        );
        create_sessions(&store, &owner, sessions, device).await;
        for what in ["list", "revoke"] {
            run(&mut redis, &["SLOWLOG", "RESET"]).await;
            run(
                &mut redis,
                &["CONFIG", "SET", "slowlog-log-slower-than", "0"],
            )
            .await;
            let stop = Arc::new(AtomicBool::new(false));
            let other = tokio::spawn(other_user(store.clone(), bystander.id, stop.clone()));
            let cpu_before = redis_cpu_us(&mut redis).await;
            let started = Instant::now();
            let result = if what == "list" {
                let listed = store
                    .owner_sessions(&owner)
                    .await
                    .unwrap_or_else(|e| fail("owner_sessions", e));
                if listed.len() != sessions || listed.iter().any(|s| s.device.is_some() != device) {
                    fail("owner_sessions", "not every session listed as written");
                }
                listed.len() as u64
            } else {
                store
                    .delete_owner(&owner, None)
                    .await
                    .unwrap_or_else(|e| fail("delete_owner", e))
            };
            let wall = started.elapsed();
            let cpu_after = redis_cpu_us(&mut redis).await;
            stop.store(true, Ordering::Relaxed);
            let (loads, slowest) = other.await.unwrap_or_else(|e| fail("other user", e));
            run(
                &mut redis,
                &["CONFIG", "SET", "slowlog-log-slower-than", "10000"],
            )
            .await;
            if result != sessions as u64 {
                fail(what, format!("{result} of {sessions} sessions"));
            }
            let logged = slowlog(&mut redis, &owner).await;
            println!(
                "{sessions}\t{}\t{what}\t{result}\t{}\t{:.2}\t{:.2}\t{}\t{:.2}\t{}\t{:.1}\t{:.1}\t{loads}\t{:.2}",
                if device { "yes" } else { "no" },
                logged.sent,
                logged.sent_us as f64 / 1000.0,
                logged.longest_us as f64 / 1000.0,
                logged.longest,
                logged.median_us as f64 / 1000.0,
                logged.inner,
                (cpu_after - cpu_before) / 1000.0,
                wall.as_secs_f64() * 1000.0,
                slowest as f64 / 1000.0,
            );
        }
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|arg| {
            arg.parse()
                .unwrap_or_else(|_| fail("usage", "owner-redis-time [sizes...]"))
        })
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10, 1_000, 100_000]
    } else {
        sizes
    };
    let url = std::env::var("REDIS_URL")
        .unwrap_or_else(|_| fail("REDIS_URL", "not set (bench/run.sh owners sets it)"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e));
    let store = redis_store(&rt, &url)
        .unwrap_or_else(|| fail("store", "the Redis store could not be built"));
    rt.block_on(probe(store, &url, &sizes));
}
