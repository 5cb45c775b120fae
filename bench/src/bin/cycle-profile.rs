//! One request's session work, repeated, for counting what it costs: instructions (run it under
//! `valgrind --tool=callgrind` at two iteration counts and take the difference, as
//! `bench/run.sh profile` does) and heap allocations (counted here by a wrapping allocator).
//!
//! Usage: `cycle-profile <cycle> <iterations>`, where the cycle is
//!
//! - `server`: the memory store's `/rw` of the full-request runs: open a 10-key session from its
//!   cookie, read one value, change one, save the delta and render the response headers;
//! - `client`: the same on a client-side (sealed cookie) session, which reseals;
//! - `read`: a server-side session opened and read, nothing written (no header rendered);
//! - `plain`: a request whose handler asks for no session, carrying the session cookie (the
//!   headers kept unparsed, as every adapter does, and the request finished).
//!
//! Every cycle goes through the public `SessionManager`, the code each adapter drives, without
//! HTTP or a runtime: the memory and cookie stores never wait, so each future is polled once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use session_bench::ready;
use session_core::{KeyRing, SessionManager, SessionsConfig};

/// The system allocator, counting the allocations made and the bytes they asked for.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn manager(store: &str) -> SessionManager {
    let config = SessionsConfig::from_toml(&format!(
        "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"id\" }}\nstore = {{ type = \"{store}\" }}\n"
    ))
    .expect("config");
    ready(SessionManager::from_config(
        &config,
        &session_stores::registry(),
        KeyRing::generate(),
    ))
    .expect("manager")
}

/// A 10-key session created through the manager, and the `Cookie` header that carries it.
fn session_cookie(manager: &SessionManager) -> String {
    ready(session_bench::first_cookie(manager, 10))
}

fn read_write(manager: &SessionManager, cookie: &str, visits: u64) -> usize {
    let request = manager.request([cookie], |_| None);
    let session = ready(request.default_session()).expect("session");
    let user: u64 = session.get("user_id").expect("reads").expect("present");
    session.insert("visits", visits).expect("insert");
    let headers = ready(manager.save_request(request)).expect("finish");
    user as usize + headers.len()
}

fn read_only(manager: &SessionManager, cookie: &str) -> usize {
    let request = manager.request([cookie], |_| None);
    let session = ready(request.default_session()).expect("session");
    let user: u64 = session.get("user_id").expect("reads").expect("present");
    let headers = ready(manager.save_request(request)).expect("finish");
    user as usize + headers.len()
}

/// What an adapter does for a route that extracts no session: keep the headers, unparsed, and
/// finish.
fn plain(manager: &SessionManager, cookie: &str) -> usize {
    let deferred = manager.defer([cookie], |_| None);
    ready(deferred.save_scanned()).expect("finish").len()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = || -> ! {
        eprintln!("usage: cycle-profile <server|client|read|plain> <iterations>");
        std::process::exit(2)
    };
    let cycle = args.next().unwrap_or_else(|| usage());
    let iterations: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| usage());
    let store = if cycle == "client" {
        "cookie"
    } else {
        "memory"
    };
    let manager = manager(store);
    let cookie = session_cookie(&manager);
    let run = |visits: u64| -> usize {
        match cycle.as_str() {
            "server" | "client" => read_write(&manager, black_box(&cookie), visits),
            "read" => read_only(&manager, black_box(&cookie)),
            "plain" => plain(&manager, black_box(&cookie)),
            _ => usage(),
        }
    };
    // Warm up: the first cycles grow buffers that later ones reuse.
    for visits in 0..10 {
        black_box(run(1_000 + visits));
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let bytes = BYTES.load(Ordering::Relaxed);
    let mut checksum = 0usize;
    for visits in 0..iterations {
        checksum = checksum.wrapping_add(run(2_000 + visits));
    }
    let per = |total: u64| total as f64 / iterations.max(1) as f64;
    println!(
        "{cycle}: {:.1} allocations, {:.0} bytes allocated per cycle (checksum {checksum})",
        per(ALLOCATIONS.load(Ordering::Relaxed) - allocations),
        per(BYTES.load(Ordering::Relaxed) - bytes),
    );
}
