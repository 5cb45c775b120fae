//! Floods of anonymous and logged-in clients through the manager against a small memory store
//! with the default options but its bounds: the store stays within both bounds (its own count
//! and bytes, and the process's resident memory as a sanity check), and live users' sessions are
//! evicted only as the memory store's documented policy says (anonymous sessions go first, the
//! soonest-expiring first, across all shards; never the one just written, and never a session
//! bound to an owner for an anonymous one, so no anonymous flood logs anybody out).

use std::sync::Arc;
use std::time::Duration;

use session_core::{
    Backend, CookieConfig, Expiry, KeyRing, ResponseHeader, SessionConfig, SessionManager,
    StoreConfig, Transport,
};
use session_stores::memory::{MemoryOptions, MemoryStore};

/// Past this a flood is stuck, not slow: every test enforces it on itself.
const TIME_LIMIT: Duration = Duration::from_secs(300);
/// Each anonymous session holds this much, so that an unbounded store would show in the
/// process's memory.
const ANONYMOUS_PAYLOAD: usize = 4 * 1024;
const MAX_SESSIONS: usize = 500;
/// Room for about 240 anonymous sessions: the byte bound binds before the count does.
const MAX_BYTES: usize = 1 << 20;

/// A store with the default options (64 shards) but small bounds.
fn small_store() -> MemoryStore {
    MemoryStore::new(MemoryOptions {
        max_sessions: MAX_SESSIONS,
        max_bytes: MAX_BYTES,
        ..MemoryOptions::default()
    })
}

#[track_caller]
fn assert_within_bounds(store: &MemoryStore) {
    assert!(store.len() <= MAX_SESSIONS, "{} sessions held", store.len());
    assert!(store.bytes() <= MAX_BYTES, "{} bytes held", store.bytes());
}

fn manager(store: &MemoryStore) -> SessionManager {
    SessionManager::builder(KeyRing::generate())
        .session(
            "app",
            SessionConfig::new(
                Transport::Cookie(CookieConfig::new("app")),
                StoreConfig::new("memory"),
            ),
            Backend::Server(Arc::new(store.clone())),
        )
        .build()
        .unwrap()
}

/// The `Cookie` header a browser sends back after `headers`.
fn cookie_of(headers: &[ResponseHeader]) -> Option<String> {
    headers
        .iter()
        .map(ResponseHeader::value)
        .find(|value| value.starts_with("app=") && !value.contains("Max-Age=0"))
        .map(|value| value.split(';').next().unwrap_or_default().to_string())
}

/// Resident memory of this process, from `/proc/self/status` (Linux), in KiB.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A visitor with no cookie who writes to the session: one new stored session each.
async fn anonymous_visit(manager: &SessionManager, index: usize) {
    let request = manager.request(None, |_| None);
    let session = request.default_session().await.unwrap();
    session.insert("visit", index).unwrap();
    session
        .insert("payload", "a".repeat(ANONYMOUS_PAYLOAD))
        .unwrap();
    assert!(cookie_of(&manager.save_request(request).await.unwrap()).is_some());
}

/// Logs `user` in with "remember me" (30 days instead of the default one-day idle timeout).
async fn log_in(manager: &SessionManager, user: &str, remember: bool) -> String {
    let request = manager.request(None, |_| None);
    let session = request.default_session().await.unwrap();
    session.insert("user", user).unwrap();
    session.set_owner(user).unwrap();
    if remember {
        session
            .set_expiry(Expiry::persistent(Duration::from_secs(30 * 86_400)))
            .unwrap();
    }
    cookie_of(&manager.save_request(request).await.unwrap())
        .expect("a login sets the session cookie")
}

/// Whether `cookie` is still `user`'s session; counts a visit when it is.
async fn is_logged_in(manager: &SessionManager, cookie: &str, user: &str) -> bool {
    let request = manager.request([cookie], |_| None);
    let session = request.default_session().await.unwrap();
    let logged_in = session.get::<String>("user").unwrap().as_deref() == Some(user);
    if logged_in {
        let visits = session.get::<u64>("visits").unwrap().unwrap_or(0);
        session.insert("visits", visits + 1).unwrap();
    }
    manager.save_request(request).await.unwrap();
    logged_in
}

async fn within_limit<F: std::future::Future>(flood: F) -> F::Output {
    tokio::time::timeout(TIME_LIMIT, flood)
        .await
        .unwrap_or_else(|_| panic!("the flood did not finish within {TIME_LIMIT:?}"))
}

#[tokio::test(flavor = "current_thread")]
async fn an_anonymous_flood_stays_bounded_and_logs_nobody_out() {
    within_limit(async {
        let store = small_store();
        let manager = manager(&store);
        // Users who chose "remember me" and users with the default one-day idle timeout, who
        // expire before any anonymous session written after them.
        let users: Vec<(String, String)> = {
            let mut users = Vec::new();
            for index in 0..100 {
                let user = format!("user{index}");
                users.push((log_in(&manager, &user, index % 2 == 0).await, user));
            }
            users
        };
        let resident_before = resident_kib();
        let floods = 40 * MAX_SESSIONS;
        for index in 0..floods {
            anonymous_visit(&manager, index).await;
            assert_within_bounds(&store);
            if index % 1_000 == 0 {
                for (cookie, user) in &users {
                    assert!(
                        is_logged_in(&manager, cookie, user).await,
                        "{user} was evicted by anonymous visit {index}, though anonymous sessions go first"
                    );
                }
            }
        }
        let one_session = ANONYMOUS_PAYLOAD + 1024;
        assert!(
            store.bytes() > MAX_BYTES - one_session,
            "the byte bound was not reached: {} bytes held",
            store.bytes()
        );
        for (cookie, user) in &users {
            assert!(is_logged_in(&manager, cookie, user).await, "{user} was evicted");
        }
        // 20,000 sessions of 4 KiB are 80 MiB if a bound leaked; the store holds 1 MiB.
        if let (Some(before), Some(after)) = (resident_before, resident_kib()) {
            let grown_mib = after.saturating_sub(before) / 1024;
            assert!(grown_mib < 40, "resident memory grew by {grown_mib} MiB during the flood");
        }
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_flood_of_logins_keeps_the_latest_and_evicts_the_soonest_expiring() {
    within_limit(async {
        // Small sessions: here the count binds, exactly.
        let store = small_store();
        let manager = manager(&store);
        let mut logins = Vec::new();
        for index in 0..4 * MAX_SESSIONS {
            let user = format!("user{index}");
            logins.push((log_in(&manager, &user, false).await, user));
            assert_within_bounds(&store);
        }
        assert_eq!(store.len(), MAX_SESSIONS);
        // Same lifetime for all: the soonest-expiring are the earliest logins. Deadlines are in
        // milliseconds, so logins of the same millisecond may go in either order; the first
        // quarter is certainly gone and the last one is certainly there.
        let (first, _) = logins.split_at(MAX_SESSIONS);
        for (cookie, user) in first {
            assert!(
                !is_logged_in(&manager, cookie, user).await,
                "{user} outlived {} later logins",
                3 * MAX_SESSIONS
            );
        }
        let (cookie, user) = logins.last().unwrap();
        assert!(
            is_logged_in(&manager, cookie, user).await,
            "the latest login was evicted"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_floods_over_many_shards_stay_within_the_bounds() {
    const WORKERS: usize = 4;
    within_limit(async {
        let store = small_store();
        let manager = manager(&store);
        let mut tasks = Vec::new();
        for worker in 0..WORKERS {
            let manager = manager.clone();
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for index in 0..2_500 {
                    if index % 2 == 0 {
                        anonymous_visit(&manager, index).await;
                    } else {
                        log_in(&manager, &format!("worker{worker}-{index}"), index % 4 == 1).await;
                    }
                    // A write evicts right after it lands (as documented), so while the others
                    // write, each may hold one session past the bounds for a moment.
                    assert!(
                        store.len() <= MAX_SESSIONS + WORKERS,
                        "{} sessions held",
                        store.len()
                    );
                    let largest = ANONYMOUS_PAYLOAD + 1024;
                    assert!(
                        store.bytes() <= MAX_BYTES + WORKERS * largest,
                        "{} bytes held",
                        store.bytes()
                    );
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_within_bounds(&store);
    })
    .await;
}
