//! Resident memory of many live sessions in the memory store, and operations per second at that
//! size.
//!
//! Usage: `memory-sessions [sessions] [seconds per operation]` (defaults: 1000000 and 3).
//!
//! Each session is small and typical: a user id, a 32-character CSRF token and a locale (about
//! 70 bytes of JSON). The ids are generated before the baseline reading so they are not counted;
//! everything the store allocates after it (map slots, encoded records, allocator overhead and
//! fragmentation) is. Resident memory is read from this process's `/proc/self/status`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use session_bench::fast_id;
use session_core::RawJson;
use session_core::{now_ms, Delta, Expiry, Record, SessionId, Store};
use session_stores::memory::{MemoryOptions, MemoryStore};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a field in kB")
}

fn rss_bytes() -> u64 {
    status_kib("VmRSS") * 1024
}

fn small_record(id: SessionId) -> Record {
    let mut record = Record::new(id, &Expiry::default(), now_ms());
    for (key, value) in [
        ("user_id", "48213"),
        ("csrf", "\"q9XvR2mB7kLw4TzYp1HcN8dJfE3sA6uG\""),
        ("locale", "\"en-GB\""),
    ] {
        let raw = RawJson::from_string(value.to_string()).expect("valid JSON");
        record.data.insert(key.into(), raw);
    }
    record
}

/// Runs `op` on ids taken in a scattered order for `seconds`; returns operations per second.
fn rate(ids: &[SessionId], seconds: f64, mut op: impl FnMut(&SessionId)) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut done = 0u64;
    // A stride coprime with any length that is not a multiple of it walks all the ids.
    let mut index = 0usize;
    while Instant::now() < deadline {
        for _ in 0..1_000 {
            op(&ids[index]);
            index = (index + 7_919) % ids.len();
            done += 1;
        }
    }
    done as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let sessions: usize = args
        .next()
        .map_or(1_000_000, |n| n.parse().expect("a session count"));
    let seconds: f64 = args.next().map_or(3.0, |s| s.parse().expect("seconds"));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ids: Vec<SessionId> = (0..sessions).map(|_| fast_id()).collect();
    let template = small_record(fast_id());
    let json_len = serde_json::to_string(&template.data).map_or(0, |text| text.len());
    let store: Arc<dyn Store> = rt.block_on(async {
        Arc::new(MemoryStore::new(MemoryOptions {
            max_sessions: sessions * 2,
            ..MemoryOptions::default()
        })) as Arc<dyn Store>
    });

    let before = rss_bytes();
    let started = Instant::now();
    for id in &ids {
        let mut record = template.clone();
        record.id = *id;
        rt.block_on(store.create(&record)).expect("create");
    }
    let fill_secs = started.elapsed().as_secs_f64();
    let after = rss_bytes();
    let per_session = after.saturating_sub(before) as f64 / sessions as f64;

    println!("sessions: {sessions}");
    println!("values_json_bytes: {json_len}");
    println!("rss_before_mib: {:.1}", before as f64 / (1024.0 * 1024.0));
    println!("rss_after_mib: {:.1}", after as f64 / (1024.0 * 1024.0));
    println!("bytes_per_session: {per_session:.0}");
    println!(
        "under_1_gib: {} (process RSS {:.3} GiB)",
        (after as f64) < GIB,
        after as f64 / GIB
    );
    println!("fill_creates_per_sec: {:.0}", sessions as f64 / fill_secs);

    let loads = rate(&ids, seconds, |id| {
        black_box(rt.block_on(store.load(id)).expect("load"));
    });
    println!("loads_per_sec_1_thread: {loads:.0}");

    let mut visits = 0u64;
    let updates = rate(&ids, seconds, |id| {
        visits += 1;
        let delta = Delta {
            changed: vec![(
                "visits".into(),
                session_core::RawJson::to_json(&visits).expect("raw"),
            )],
            expires_at: now_ms() + 86_400_000,
            absolute_deadline: template.absolute_deadline,
            ..Delta::default()
        };
        assert!(rt.block_on(store.update(id, &delta)).expect("update"));
    });
    println!("updates_per_sec_1_thread: {updates:.0}");

    // Both cores loading at once: how reads scale across threads (on a shared machine this is a
    // lower bound).
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ids = Arc::new(ids);
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let store = Arc::clone(&store);
            let ids = Arc::clone(&ids);
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("runtime");
                let offset = thread * ids.len() / threads;
                let mut shifted = ids[offset..].to_vec();
                shifted.truncate(ids.len() / threads);
                rate(&shifted, seconds, |id| {
                    black_box(rt.block_on(store.load(id)).expect("load"));
                })
            })
        })
        .collect();
    let total: f64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    println!("loads_per_sec_{threads}_threads: {total:.0}");
    println!("load_scaling_{threads}_threads: {:.2}", total / loads);
}
