//! The owner layer through the manager: device records, ending one session, the others, and
//! the per-owner cap, including two logins racing at the cap.

use super::*;
use crate::observe::{RevokeScope, SessionEventKind};

/// Logs `owner` in on a new browser, the client telling its `User-Agent` and address.
async fn log_in(manager: &SessionManager, owner: &str, agent: &str) -> Result<Browser, Error> {
    bind_new_browser(manager, agent, Some("192.0.2.1"), |session| {
        session.set_owner(owner)
    })
    .await
}

async fn id_of(browser: &Browser, manager: &SessionManager) -> SessionId {
    default_session(browser, manager).await.id()
}

#[tokio::test]
async fn a_login_records_its_device_and_the_listing_marks_the_current_one() {
    let (_store, manager) = server_app();
    let phone = log_in(&manager, "alice", "Phone/1").await.unwrap();
    let laptop = log_in(&manager, "alice", "Laptop/2").await.unwrap();
    let current = id_of(&laptop, &manager).await;
    let listed = manager
        .owner_sessions("app", "alice", Some(&current))
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    let agents: Vec<_> = listed
        .iter()
        .map(|s| s.device.as_ref().unwrap().user_agent.clone().unwrap())
        .collect();
    assert!(agents.contains(&"Phone/1".into()) && agents.contains(&"Laptop/2".into()));
    let current_entry = listed.iter().find(|s| s.current).unwrap();
    assert_eq!(
        current_entry.device.as_ref().unwrap().user_agent.as_deref(),
        Some("Laptop/2")
    );
    // Without `record_ip`, no address is kept; handles open nothing.
    assert!(listed
        .iter()
        .all(|s| s.device.as_ref().unwrap().ip.is_none()));
    for entry in &listed {
        assert_ne!(entry.handle, current.to_string());
    }
    // A request that does not bind an owner reads nothing of the client.
    let request = phone
        .handled(&manager, |session| session.insert("k", 1).unwrap())
        .await;
    assert!(!request.binds_owner());
}

#[tokio::test]
async fn the_device_record_is_hidden_from_handlers_and_kept_with_record_ip() {
    let store = Arc::new(CountingStore::default());
    let owners = OwnersConfig {
        record_ip: true,
        ..OwnersConfig::default()
    };
    let manager = capped_manager(&store, owners);
    let browser = log_in(&manager, "alice", "Agent").await.unwrap();
    let session = browser.request(&manager).default_session().await.unwrap();
    assert!(session.keys().is_empty());
    let listed = manager.owner_sessions("app", "alice", None).await.unwrap();
    assert_eq!(
        listed[0].device.as_ref().unwrap().ip.as_deref(),
        Some("192.0.2.1")
    );
}

/// Ends the session `handle` of `owner` through the manager: whether one was ended.
async fn revoke(manager: &SessionManager, owner: &str, handle: &str) -> bool {
    manager.revoke_session("app", owner, handle).await.unwrap()
}

#[tokio::test]
async fn revoking_one_session_needs_its_owner_and_a_real_handle() {
    let (store, manager) = server_app();
    let phone = log_in(&manager, "alice", "Phone").await.unwrap();
    log_in(&manager, "mallory", "Evil").await.unwrap();
    let phone_id = id_of(&phone, &manager).await;
    let handle = phone_id.storage_key();
    assert!(!revoke(&manager, "mallory", &handle).await);
    assert!(!revoke(&manager, "alice", "not a handle").await);
    assert!(!revoke(&manager, "alice", &phone_id.to_string()).await);
    assert_eq!(store.ids().len(), 2);
    assert!(revoke(&manager, "alice", &handle).await);
    assert_eq!(store.ids().len(), 1);
    assert!(!revoke(&manager, "alice", &handle).await);
}

#[tokio::test]
async fn revoking_the_others_keeps_this_session_and_its_values() {
    let (_store, manager) = server_app();
    let mut laptop = log_in(&manager, "alice", "Laptop").await.unwrap();
    laptop
        .visit(&manager, |session| session.insert("cart", 3).unwrap())
        .await;
    log_in(&manager, "alice", "Phone").await.unwrap();
    log_in(&manager, "alice", "Tablet").await.unwrap();
    log_in(&manager, "bob", "Other").await.unwrap();
    let keep = id_of(&laptop, &manager).await;
    assert_eq!(
        manager.revoke_others("app", "alice", &keep).await.unwrap(),
        2
    );
    let left = manager
        .owner_sessions("app", "alice", Some(&keep))
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].current);
    let session = laptop.request(&manager).default_session().await.unwrap();
    assert_eq!(session.get::<i32>("cart").unwrap(), Some(3));
    assert_eq!(
        manager
            .owner_sessions("app", "bob", None)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_login_past_the_cap_ends_the_least_recently_seen_session() {
    let store = Arc::new(CountingStore::default());
    let manager = capped_manager(&store, cap(2, WhenFull::EndLeastRecent));
    let oldest = log_in(&manager, "alice", "First").await.unwrap();
    let oldest_key = id_of(&oldest, &manager).await.storage_key();
    tokio::time::sleep(Duration::from_millis(3)).await;
    log_in(&manager, "alice", "Second").await.unwrap();
    tokio::time::sleep(Duration::from_millis(3)).await;
    let newest = log_in(&manager, "alice", "Third").await.unwrap();
    let listed = manager.owner_sessions("app", "alice", None).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|s| s.handle != oldest_key));
    assert!(owner_of(&newest, &manager).await.is_some());
}

#[tokio::test]
async fn the_cap_reports_each_session_it_ended_with_its_handle_and_device() {
    let store = Arc::new(CountingStore::default());
    let revoked = Arc::new(Mutex::new(Vec::new()));
    let seen = revoked.clone();
    let manager = capped_builder(&store, cap(2, WhenFull::EndLeastRecent))
        .on_event(move |event| {
            if let SessionEventKind::Revoked { scope, count } = event.kind {
                let owner = event.owner.map(String::from);
                let handle = event.handle.map(String::from);
                let agent = event.device.and_then(|device| device.user_agent.clone());
                seen.lock()
                    .unwrap()
                    .push((scope, count, owner, handle, agent));
            }
        })
        .build()
        .unwrap();
    let first = log_in(&manager, "alice", "First").await.unwrap();
    let first_handle = id_of(&first, &manager).await.storage_key();
    tokio::time::sleep(Duration::from_millis(3)).await;
    log_in(&manager, "alice", "Second").await.unwrap();
    tokio::time::sleep(Duration::from_millis(3)).await;
    assert_eq!(*revoked.lock().unwrap(), [], "nothing ended within the cap");
    log_in(&manager, "alice", "Third").await.unwrap();
    let expected = (
        RevokeScope::Cap,
        1,
        Some("alice".to_string()),
        Some(first_handle),
        Some("First".to_string()),
    );
    assert_eq!(*revoked.lock().unwrap(), std::slice::from_ref(&expected));
    // Another request ended the sessions past the cap between this login's listing and its
    // ends: nothing ended here, so nothing is reported.
    store
        .owned_deletes_find_nothing
        .store(true, Ordering::SeqCst);
    log_in(&manager, "alice", "Fourth").await.unwrap();
    assert_eq!(*revoked.lock().unwrap(), [expected]);
}

#[tokio::test]
async fn with_refuse_a_login_at_the_cap_is_a_409_that_writes_nothing() {
    let store = Arc::new(CountingStore::default());
    let manager = capped_manager(&store, cap(1, WhenFull::Refuse));
    log_in(&manager, "alice", "First").await.unwrap();
    store.take_ops();
    let Err(error) = log_in(&manager, "alice", "Second").await else {
        panic!("the login past the cap was let in");
    };
    assert!(matches!(error, Error::TooManySessions { max: 1, .. }));
    assert_eq!(error.status(), 409);
    assert_eq!(error.public_body(), crate::error::TOO_MANY_SESSIONS_BODY);
    assert!(!store.take_ops().contains(&Op::Create));
    assert_eq!(store.ids().len(), 1);
}

#[tokio::test]
async fn a_login_whose_cap_check_fails_half_way_leaves_no_session_behind() {
    for when_full in [WhenFull::EndLeastRecent, WhenFull::Refuse] {
        let store = Arc::new(CountingStore::default());
        let manager = capped_manager(&store, cap(2, when_full));
        let first = log_in(&manager, "alice", "First").await.unwrap();
        // `refuse` lists once before the write; the listing after it fails.
        let before_failure = usize::from(when_full == WhenFull::Refuse);
        *store.listings_before_failure.lock().unwrap() = Some(before_failure);
        let Err(error) = log_in(&manager, "alice", "Second").await else {
            panic!("{when_full:?}: a login whose cap check failed was let in");
        };
        assert_eq!(error.status(), 500, "{when_full:?}: {error}");
        assert_eq!(
            store.ids(),
            vec![id_of(&first, &manager).await],
            "{when_full:?}: the failed login's session, which no browser got, is ended"
        );
        *store.listings_before_failure.lock().unwrap() = None;
        let third = log_in(&manager, "alice", "Third").await;
        assert!(third.is_ok(), "{when_full:?}: the next login fits the cap");
        assert_eq!(store.ids().len(), 2, "{when_full:?}");
    }
}

#[tokio::test]
async fn logins_racing_at_the_cap_never_leave_more_than_the_cap() {
    // The interleaving a check before the write alone gets wrong: both logins store their
    // binding before either looks at the cap, then each enforces it, in either order.
    for when_full in [WhenFull::EndLeastRecent, WhenFull::Refuse] {
        for max in 1..=3u32 {
            for second_first in [false, true] {
                let store = Arc::new(CountingStore::default());
                let uncapped = capped_manager(&store, OwnersConfig::default());
                for _ in 1..max {
                    log_in(&uncapped, "alice", "Before").await.unwrap();
                    // Logins are ordered by their millisecond.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let a = id_of(&log_in(&uncapped, "alice", "A").await.unwrap(), &uncapped).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
                let b = id_of(&log_in(&uncapped, "alice", "B").await.unwrap(), &uncapped).await;
                let order = if second_first { [b, a] } else { [a, b] };
                let mut refused = 0;
                for id in order {
                    let result = super::super::owners::enforce_cap(
                        &*store,
                        &uncapped.inner.sessions[0],
                        "alice",
                        &id,
                        max,
                        when_full,
                    )
                    .await;
                    refused += usize::from(matches!(result, Err(Error::TooManySessions { .. })));
                }
                let live = uncapped.owner_sessions("app", "alice", None).await.unwrap();
                let case = format!("{when_full:?}, max {max}, second first: {second_first}");
                assert!(live.len() <= max as usize, "{case}: {} live", live.len());
                assert!(!live.is_empty(), "{case}");
                let lives = |id: &SessionId| live.iter().any(|s| s.handle == id.storage_key());
                match when_full {
                    WhenFull::EndLeastRecent => assert_eq!(refused, 0, "{case}"),
                    // One slot was free: exactly the later login loses it.
                    WhenFull::Refuse => {
                        assert_eq!(refused, 1, "{case}");
                        assert_eq!(live.len(), max as usize, "{case}");
                        assert!(lives(&a) && !lives(&b), "{case}: the earlier login stays");
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn the_device_last_seen_moves_once_per_touch_window() {
    let (store, manager) = server_app();
    let browser = log_in(&manager, "alice", "Agent").await.unwrap();
    let id = id_of(&browser, &manager).await;
    let mut record = store.record(&id).unwrap();
    let device = crate::device::Device::from_data(&record.data).unwrap();
    // A read soon after the login does not move it.
    browser.request(&manager).default_session().await.unwrap();
    let request = browser.request(&manager);
    request.default_session().await.unwrap();
    request.save_opened().await.unwrap();
    let unchanged = crate::device::Device::from_data(&store.record(&id).unwrap().data).unwrap();
    assert_eq!(unchanged.last_seen_at, device.last_seen_at);
    // Pretend the last sighting is older than the touch window: the next request moves it.
    let mut old = device.clone();
    old.last_seen_at -= 61_000;
    record
        .data
        .insert(crate::device::DEVICE_KEY.into(), old.to_value());
    store.insert(record);
    let request = browser.request(&manager);
    request.default_session().await.unwrap();
    request.save_opened().await.unwrap();
    let moved = crate::device::Device::from_data(&store.record(&id).unwrap().data).unwrap();
    assert!(moved.last_seen_at > old.last_seen_at);
    assert_eq!(moved.logged_in_at, device.logged_in_at);
}

#[test]
fn the_owner_policy_is_configured_and_checked() {
    let config = SessionsConfig::from_toml(
        r#"
        [sessions.app]
        transport = { type = "cookie", name = "sid" }
        store = { type = "memory" }
        owners = { max_sessions = 3, when_full = "refuse", record_ip = true }
        "#,
    )
    .unwrap();
    let owners = config.sessions["app"].owners;
    assert_eq!(owners.max_sessions, Some(3));
    assert_eq!(owners.when_full, WhenFull::Refuse);
    assert!(owners.record_ip);
    for (store, owners) in [
        ("memory", "{ max_sessions = 0 }"),
        ("cookie", "{ max_sessions = 2 }"),
    ] {
        let text = format!(
            "[sessions.app]\ntransport = {{ type = \"cookie\", name = \"sid\" }}\nstore = {{ type = \"{store}\" }}\nowners = {owners}\n"
        );
        let error = SessionsConfig::from_toml(&text)
            .and_then(|config| config.validate())
            .unwrap_err();
        assert!(error.to_string().contains("owners.max_sessions"), "{error}");
    }
}
