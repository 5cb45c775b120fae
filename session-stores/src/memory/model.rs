//! Model-checked schedules of the memory store's owner operations: a few concurrent tasks on
//! one owner's sessions, run under many schedules, the store's invariants checked after each.
//!
//! Every operation runs its lock-holding steps whole (the store's locks are ordinary ones), and
//! the scheduler may switch tasks between those steps ([`between_steps`]), where no lock is held:
//! e.g. between a revocation taking the owner's ids and ending each of them.

use std::cell::Cell;
use std::sync::Arc;

use session_core::{
    Backend, CookieConfig, KeyRing, OwnersConfig, SessionConfig, SessionId, SessionManager, Store,
    StoreConfig, Transport, WhenFull,
};

use super::{MemoryOptions, MemoryStore};
use crate::fixtures::{keeping, owned_by};

thread_local! {
    /// Whether this thread runs a model-checked schedule.
    static UNDER_MODEL: Cell<bool> = const { Cell::new(false) };
}

/// Lets the scheduler run another task, when under the model.
pub(super) fn between_steps() {
    if UNDER_MODEL.with(Cell::get) {
        shuttle::thread::yield_now();
    }
}

/// Runs the store's operations (which never wait) to completion.
fn now<T>(operation: impl std::future::Future<Output = T>) -> T {
    shuttle::future::block_on(operation)
}

/// One schedule: sessions `a` and `b` of alice, and `kept`; one task regenerates `a` twice,
/// one updates then deletes `b`, one ends all of alice's sessions but `kept`. Afterwards only
/// `kept` is alice's, wherever `a` moved, and the index and counters match what is stored.
fn schedule() {
    UNDER_MODEL.with(|flag| flag.set(true));
    let store = Arc::new(MemoryStore::new(MemoryOptions {
        shards: 2,
        ..MemoryOptions::default()
    }));
    let (a, b, kept) = (owned_by("alice"), owned_by("alice"), owned_by("alice"));
    for record in [&a, &b, &kept] {
        now(store.create(record)).unwrap_or_else(|error| panic!("create: {error}"));
    }
    let regenerating = shuttle::thread::spawn({
        let (store, delta, mut id) = (Arc::clone(&store), keeping(&a), a.id);
        move || {
            for _ in 0..2 {
                let new = SessionId::generate();
                if now(store.regenerate(&id, &new, &delta)).unwrap_or(false) {
                    id = new;
                }
                shuttle::thread::yield_now();
            }
        }
    });
    let updating = shuttle::thread::spawn({
        let (store, delta, id) = (Arc::clone(&store), keeping(&b), b.id);
        move || {
            let _ = now(store.update(&id, &delta));
            shuttle::thread::yield_now();
            let _ = now(store.delete(&id));
        }
    });
    let keep = kept.id.storage_key();
    now(store.delete_owner("alice", Some(&keep))).unwrap_or_else(|error| panic!("{error}"));
    for task in [regenerating, updating] {
        task.join().unwrap_or_else(|_| panic!("a task panicked"));
    }

    let listed = now(store.owner_sessions("alice")).unwrap_or_else(|error| panic!("{error}"));
    let handles: Vec<&str> = listed.iter().map(|s| s.handle.as_str()).collect();
    assert_eq!(
        handles,
        [keep.as_str()],
        "only the kept session may be left"
    );
    assert_eq!(store.len(), 1, "a session of alice outlived the revocation");
    assert_eq!(now(store.count()).unwrap_or(0), 1);
    let cost = store.bytes();
    now(store.delete(&kept.id)).unwrap_or_else(|error| panic!("{error}"));
    assert!(cost > 0 && store.bytes() == 0 && store.is_empty());
    assert!(
        store.inner.owners.is_empty(),
        "the index kept an owner or a revocation"
    );
    UNDER_MODEL.with(|flag| flag.set(false));
}

/// A manager on `store` whose session `app` caps each owner at `max` sessions.
fn capped_manager(store: &Arc<MemoryStore>, max: u32, when_full: WhenFull) -> SessionManager {
    let mut config = SessionConfig::new(
        Transport::Cookie(CookieConfig::new("sid")),
        StoreConfig::new("memory"),
    );
    config.owners = OwnersConfig {
        max_sessions: Some(max),
        when_full,
        ..OwnersConfig::default()
    };
    let store: Arc<dyn Store> = Arc::clone(store) as Arc<dyn Store>;
    SessionManager::builder(KeyRing::generate())
        .session("app", config, Backend::Server(store))
        .build()
        .unwrap_or_else(|error| panic!("{error}"))
}

/// A login of alice on a new browser through `manager`: whether it was let in.
fn log_in(manager: &SessionManager) -> bool {
    now(async {
        let request = manager.request(None, |_| None);
        let session = request.default_session().await?;
        session.login("alice")?;
        manager.save_request(request).await
    })
    .map(|_| true)
    .or_else(|error| match error {
        session_core::Error::TooManySessions { .. } => Ok(false),
        error => Err(error),
    })
    .unwrap_or_else(|error| panic!("a login failed: {error}"))
}

/// One schedule: alice holds `max - 1` sessions, and two logins of hers run at once, the
/// scheduler switching between every store operation of each. Afterwards she holds at most
/// `max` and at least one; with `end_least_recent` both logins were let in.
fn capped_logins(max: u32, when_full: WhenFull) {
    UNDER_MODEL.with(|flag| flag.set(true));
    let store = Arc::new(MemoryStore::new(MemoryOptions {
        shards: 2,
        ..MemoryOptions::default()
    }));
    let manager = capped_manager(&store, max, when_full);
    for _ in 1..max {
        assert!(log_in(&manager));
    }
    let other = shuttle::thread::spawn({
        let manager = manager.clone();
        move || {
            UNDER_MODEL.with(|flag| flag.set(true));
            log_in(&manager)
        }
    });
    let first = log_in(&manager);
    let second = other.join().unwrap_or_else(|_| panic!("a login panicked"));
    let live = now(store.owner_sessions("alice"))
        .unwrap_or_else(|error| panic!("{error}"))
        .len();
    assert!(
        (1..=max as usize).contains(&live),
        "{when_full:?}, cap {max}: {live} live sessions"
    );
    if when_full == WhenFull::EndLeastRecent {
        assert!(first && second, "end_least_recent refused a login");
    }
    UNDER_MODEL.with(|flag| flag.set(false));
}

#[test]
fn two_logins_at_the_cap_never_leave_more_than_the_cap_under_every_schedule() {
    for when_full in [WhenFull::EndLeastRecent, WhenFull::Refuse] {
        for max in [1, 2] {
            shuttle::check_random(move || capped_logins(max, when_full), 500);
            shuttle::check_pct(move || capped_logins(max, when_full), 500, 3);
        }
    }
}

#[test]
fn a_revocation_ends_every_session_it_began_with_under_every_schedule() {
    // Random schedules find the interleaving of a regenerate between the revocation's steps
    // within a few hundred runs; a few thousand keep well under a second or two.
    shuttle::check_random(schedule, 3_000);
    shuttle::check_pct(schedule, 3_000, 3);
}
