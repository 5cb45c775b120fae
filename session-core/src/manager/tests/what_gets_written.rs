//! What gets written.

use super::*;

#[tokio::test]
async fn an_unchanged_session_writes_nothing_until_the_touch_threshold() {
    // A large threshold: reading a fresh session is not worth a write.
    let (store, manager, mut browser) = logged_in_app().await;
    let headers = browser
        .visit(&manager, |session| {
            session.get::<String>("user").unwrap();
            session.insert("user", "alice").unwrap(); // the same value is no change
        })
        .await;
    assert!(headers.is_empty());
    assert_eq!(store.take_ops(), [Op::Load]);

    // No threshold: every request slides the deadline, with a write that changes no values.
    let eager = ExpiryPolicy {
        touch_after_secs: 0,
        ..policy()
    };
    let manager = server_manager_expiring(eager, &store);
    let id = stored_id(&browser, &manager, &store).await;
    let before = store.record(&id).unwrap();
    let headers = browser.visit(&manager, |_| {}).await;
    assert!(
        headers.is_empty(),
        "the id did not change, so the cookie is not resent"
    );
    assert_eq!(store.take_ops(), [Op::Load, touched(&[], &[])]);
    let after = store.record(&id).unwrap();
    assert!(after.expires_at >= before.expires_at);
    assert_eq!(after.version, before.version + 1);
}

#[tokio::test]
async fn an_unchanged_client_session_is_resealed_only_at_the_touch_threshold() {
    let mut browser = Browser::default();
    let lazy = client_manager();
    browser
        .visit(&lazy, |session| session.insert("user", "alice").unwrap())
        .await;
    assert!(browser.visit(&lazy, |_| {}).await.is_empty());

    let eager = client_manager_with(
        KeyRing::new(key(1)),
        ExpiryPolicy {
            touch_after_secs: 0,
            ..policy()
        },
        1,
    );
    let headers = browser.visit(&eager, |_| {}).await;
    assert_eq!(set_cookies(&headers).len(), 1);
    assert_eq!(user_of(&browser, &eager).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn reads_count_as_activity_only_when_the_policy_says_so() {
    let store = Arc::new(CountingStore::default());
    for (reads_are_activity, expected) in [
        (false, vec![Op::Load]),
        (true, vec![Op::Load, touched(&[], &[])]),
    ] {
        let expiry = ExpiryPolicy {
            touch_after_secs: 0,
            reads_are_activity,
            ..policy()
        };
        let manager = server_manager_expiring(expiry, &store);
        let mut browser = logged_in(&store, &manager).await;
        browser
            .visit(&manager, |session| {
                session.get::<String>("user").unwrap();
            })
            .await;
        assert_eq!(
            store.take_ops(),
            expected,
            "reads_are_activity = {reads_are_activity}"
        );
        // A write always counts.
        browser
            .visit(&manager, |session| session.insert("n", 1).unwrap())
            .await;
        assert_eq!(store.take_ops(), [Op::Load, touched(&["n"], &[])]);
    }
}

#[tokio::test]
async fn a_short_idle_window_is_kept_alive_by_reads() {
    let store = Arc::new(CountingStore::default());
    // The default touch threshold (60 s) is far above this 2-second window.
    let expiry = ExpiryPolicy {
        idle_timeout_secs: 2,
        ..ExpiryPolicy::default()
    };
    let manager = server_manager_expiring(expiry, &store);
    let mut browser = logged_in(&store, &manager).await;
    let id = store.ids()[0];
    for _ in 0..3 {
        // As if the last write was 1.2 s ago: 0.8 s of the window left.
        let mut record = store.record(&id).unwrap();
        record.expires_at = now_ms() + 800;
        store.insert(record);
        store.take_ops();
        browser
            .visit(&manager, |session| {
                assert_eq!(
                    session.get::<String>("user").unwrap().as_deref(),
                    Some("alice")
                );
            })
            .await;
        assert_eq!(store.take_ops(), [Op::Load, touched(&[], &[])]);
        let slid = store.record(&id).unwrap().expires_at;
        assert!(
            slid >= now_ms() + 1_500,
            "the read did not slide the window"
        );
    }
}

#[tokio::test]
async fn a_corrupt_record_is_no_session_and_is_deleted() {
    let (store, manager, mut browser) = logged_in_app().await;
    let id = store.ids()[0];
    store.corrupt.lock().unwrap().push(id);
    store.take_ops();
    // `/me` answers (no session), and the record is gone rather than failing every request.
    assert_eq!(user_of(&browser, &manager).await, None);
    assert_eq!(store.take_ops(), [Op::Load, Op::Delete]);
    assert!(store.record(&id).is_none());
    // Logging in again works.
    browser
        .visit(&manager, |session| session.insert("user", "bob").unwrap())
        .await;
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("bob"));
    // An unreachable backend stays an error.
    store.fail_loads.store(true, Ordering::SeqCst);
    let request = browser.request(&manager);
    assert!(request
        .default_session()
        .await
        .is_err_and(|error| error.is_store_failure()));
}

#[tokio::test]
async fn value_changes_are_saved_as_a_delta_of_the_changed_keys() {
    let (store, manager) = server_app();
    let mut browser = Browser::default();
    let mut id = None;
    browser
        .visit(&manager, |session| {
            for key in ["a", "b", "c"] {
                session.insert(key, key).unwrap();
            }
            id = Some(session.id());
        })
        .await;
    store.take_ops();
    browser
        .visit(&manager, |session| {
            session.insert("a", "changed").unwrap();
            session.remove("b");
        })
        .await;
    assert_eq!(store.take_ops(), [Op::Load, touched(&["a"], &["b"])]);
    let record = store.record(&id.unwrap()).unwrap();
    let keys: Vec<_> = record.data.keys().cloned().collect();
    assert_eq!(keys, ["a", "c"]);
    assert_eq!(record.data["a"].get(), r#""changed""#);
}

#[tokio::test]
async fn clear_removes_every_loaded_key_in_one_delta() {
    let (store, manager, mut browser, id) = logged_in_app_with_id().await;
    browser
        .visit(&manager, |session| {
            session.clear();
            session.insert("fresh", true).unwrap();
        })
        .await;
    assert_eq!(store.take_ops(), [Op::Load, touched(&["fresh"], &["user"])]);
    let keys: Vec<_> = store.record(&id).unwrap().data.keys().cloned().collect();
    assert_eq!(keys, ["fresh"]);
}

#[tokio::test]
async fn clear_does_not_bring_back_a_session_another_request_destroyed() {
    let (store, manager, browser) = logged_in_app().await;
    let destroying = browser.request(&manager);
    let clearing = browser.request(&manager);
    destroying.default_session().await.unwrap().destroy();
    let late = clearing.default_session().await.unwrap();
    destroying.save_opened().await.unwrap();
    late.clear();
    late.insert("fresh", true).unwrap();
    clearing.save_opened().await.unwrap();
    assert!(store.ids().is_empty(), "the destroyed session came back");
}

#[tokio::test]
async fn a_new_session_bound_to_an_owner_alone_is_stored_and_listed() {
    // A login that records only who logged in (no values) is still a login: the record goes to
    // the store with its owner, and the browser gets its id.
    let (_store, manager) = server_app();
    let mut browser = Browser::default();
    let headers = browser
        .visit(&manager, |session| session.set_owner("alice").unwrap())
        .await;
    assert_eq!(set_cookies(&headers).len(), 1, "{headers:?}");
    let listed = manager.owner_sessions("app", "alice", None).await.unwrap();
    assert_eq!(listed.len(), 1);
    let mut owner = None;
    browser
        .visit(&manager, |session| owner = session.owner())
        .await;
    assert_eq!(owner.as_deref(), Some("alice"));
}
