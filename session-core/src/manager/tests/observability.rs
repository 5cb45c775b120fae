//! Metrics, store-operation events, spans and lifecycle events, through a test recorder and a
//! test subscriber: each counter, the histogram and every event kind the core emits, and no id
//! or storage key in any of them.

use crate::testing::{count_of, metrics_with_counts, Captured};
use metrics_util::debugging::DebuggingRecorder;

use super::*;
use crate::device::{ClientInfo, Device};
use crate::observe::{request_span, RevokeScope, SessionEventKind};
use crate::Refusal;

/// One event a hook received: `kind session owner` as a line, then its handle and device.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    handle: Option<String>,
    device: Option<Device>,
    /// The whole event as the hook's `Debug` shows it, for the leak check.
    debug: String,
}

/// The events a hook received.
#[derive(Clone, Default)]
struct Audit(Arc<Mutex<Vec<Seen>>>);

impl Audit {
    fn hook(&self) -> impl Fn(&crate::SessionEvent<'_>) + Send + Sync + 'static {
        let log = Arc::clone(&self.0);
        move |event| {
            let line = format!("{:?} {:?} {:?}", event.kind, event.session, event.owner);
            log.lock().unwrap().push(Seen {
                line,
                handle: event.handle.map(str::to_string),
                device: event.device.cloned(),
                debug: format!("{event:?}"),
            });
        }
    }

    /// The events received since the last call, whole.
    fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The events received since the last call, as lines.
    fn take(&self) -> Vec<String> {
        self.take_seen().into_iter().map(|seen| seen.line).collect()
    }
}

/// The lines of `seen`.
fn lines_of(seen: &[Seen]) -> Vec<String> {
    seen.iter().map(|seen| seen.line.clone()).collect()
}

/// The handles and the devices' user agents of `seen`.
fn handles_and_agents(seen: &[Seen]) -> Vec<(Option<String>, Option<String>)> {
    seen.iter()
        .map(|seen| {
            let agent = seen.device.as_ref().and_then(|d| d.user_agent.clone());
            (seen.handle.clone(), agent)
        })
        .collect()
}

/// A server-side manager on `store` whose metric handles are `recorder`'s, with `audit`'s hook.
fn observed_manager(
    store: &Arc<CountingStore>,
    recorder: &DebuggingRecorder,
    audit: &Audit,
) -> SessionManager {
    metrics::with_local_recorder(recorder, || {
        SessionManager::builder(KeyRing::new(key(1)))
            .session(
                "app",
                session_config(cookie_transport("sid"), "counting", policy()),
                Backend::Server(store.clone()),
            )
            .on_event(audit.hook())
            .build()
            .unwrap()
    })
}

fn ev(kind: SessionEventKind, owner: Option<&str>) -> String {
    format!("{kind:?} {:?} {owner:?}", Some("app"))
}

#[tokio::test]
async fn every_counter_the_histogram_store_events_and_lifecycle_events_and_no_id_anywhere() {
    let captured = Captured::default();
    let _capturing = captured.start();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = Arc::new(CountingStore::default());
    let audit = Audit::default();
    let manager = observed_manager(&store, &recorder, &audit);
    let mut secrets = Vec::new();
    let mut all_seen = Vec::new();

    // Created, in the adapter's span.
    let mut browser = Browser::default();
    let cookie = String::new();
    let mut deferred = manager.defer(Some(cookie), |_| None);
    deferred.set_span(request_span(|| ("POST", "/visit")));
    let sessions = deferred.get_or_scan(|value: &String| value.as_bytes(), Vec::new);
    let session = sessions.default_session().await.unwrap();
    session.insert("user", "anonymous").unwrap();
    secrets.push(session.id());
    browser.receive(&deferred.save_scanned().await.unwrap());
    let seen = audit.take_seen();
    assert_eq!(lines_of(&seen), [ev(SessionEventKind::Created, None)]);
    let created = stored_id(&browser, &manager, &store).await.storage_key();
    assert_eq!(handles_and_agents(&seen), [(Some(created.clone()), None)]);
    all_seen.extend(seen);

    // Logged in: regenerated and bound, under the new handle, with the device recorded at
    // login.
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    secrets.push(session.id());
    session.regenerate_id();
    session.set_owner("alice").unwrap();
    request.set_client_info(ClientInfo {
        user_agent: Some("Agent/1".to_string()),
        ip: None,
    });
    browser.receive(&request.save_opened().await.unwrap());
    let seen = audit.take_seen();
    assert_eq!(
        lines_of(&seen),
        [
            ev(SessionEventKind::Regenerated, Some("alice")),
            ev(SessionEventKind::LoggedIn, Some("alice"))
        ]
    );
    let alice = stored_id(&browser, &manager, &store).await.storage_key();
    assert_ne!(alice, created);
    let at_login = (Some(alice.clone()), Some("Agent/1".to_string()));
    assert_eq!(handles_and_agents(&seen), [at_login.clone(), at_login]);
    all_seen.extend(seen);

    // Too large: refused where the handler makes the change.
    browser
        .visit(&manager, |session| {
            secrets.push(session.id());
            let refused = session.insert("big", "x".repeat(DEFAULT_MAX_BYTES));
            assert!(refused.unwrap_err().is_too_large());
        })
        .await;
    let too_large = SessionEventKind::Refused(Refusal::TooLarge);
    let seen = audit.take_seen();
    assert_eq!(lines_of(&seen), [ev(too_large, Some("alice"))]);
    assert_eq!(
        handles_and_agents(&seen),
        [(None, Some("Agent/1".to_string()))]
    );
    all_seen.extend(seen);

    // Destroyed.
    browser
        .visit(&manager, |session| {
            secrets.push(session.id());
            session.destroy();
        })
        .await;
    let seen = audit.take_seen();
    assert_eq!(lines_of(&seen), [ev(SessionEventKind::Destroyed, None)]);
    assert_eq!(handles_and_agents(&seen), [(Some(alice.clone()), None)]);
    all_seen.extend(seen);

    // Revoked everywhere: two of bob's sessions.
    for _ in 0..2 {
        Browser::default()
            .visit(&manager, |session| session.set_owner("bob").unwrap())
            .await;
    }
    audit.take();
    assert_eq!(manager.revoke_owner("app", "bob").await.unwrap(), 2);
    let scope = RevokeScope::Everywhere;
    let revoked = SessionEventKind::Revoked { scope, count: 2 };
    let seen = audit.take_seen();
    assert_eq!(lines_of(&seen), [ev(revoked, Some("bob"))]);
    assert_eq!(handles_and_agents(&seen), [(None, None)]);
    all_seen.extend(seen);

    // Expired: removed by cleanup.
    let mut expired = Record::new(SessionId::generate(), &Expiry::default(), 1);
    expired.expires_at = 2;
    secrets.push(expired.id);
    store.insert(expired);
    assert_eq!(manager.cleanup().await.unwrap(), 1);
    let expired = SessionEventKind::Expired { count: 1 };
    let seen = audit.take_seen();
    assert_eq!(lines_of(&seen), [ev(expired, None)]);
    assert_eq!(handles_and_agents(&seen), [(None, None)]);
    all_seen.extend(seen);

    // Corrupt: a stored record that no longer decodes.
    let mut corrupt = Browser::default();
    corrupt
        .visit(&manager, |session| session.insert("n", 1).unwrap())
        .await;
    let id = stored_id(&corrupt, &manager, &store).await;
    secrets.push(id);
    store.corrupt.lock().unwrap().push(id);
    corrupt.visit(&manager, |_| {}).await;

    // A store error.
    store.fail_loads.store(true, Ordering::SeqCst);
    let failing = corrupt.request(&manager);
    assert!(failing.default_session().await.is_err());
    store.fail_loads.store(false, Ordering::SeqCst);

    // A cross-origin refusal, recorded with one call.
    manager.record_cross_origin_refused();
    let seen = audit.take_seen();
    let cross_origin = SessionEventKind::Refused(Refusal::CrossOrigin);
    assert_eq!(
        seen.last().map(|seen| seen.line.as_str()),
        Some(format!("{cross_origin:?} None None").as_str())
    );
    assert!(seen
        .last()
        .is_some_and(|seen| seen.handle.is_none() && seen.device.is_none()));
    all_seen.extend(seen);

    let metrics = metrics_with_counts(
        &snapshotter,
        &[
            ("session_created_total{session=app}", 4),
            ("session_regenerated_total{session=app}", 1),
            ("session_destroyed_total{session=app}", 1),
            ("session_revoked_total{session=app}", 2),
            ("session_too_large_total{session=app}", 1),
            ("session_corrupt_total{session=app}", 1),
            ("session_store_errors_total{session=app}", 1),
            ("session_cross_origin_refused_total{}", 1),
        ],
    );
    for op in [
        "load",
        "create",
        "regenerate",
        "delete",
        "delete_owner",
        "cleanup",
    ] {
        let samples = count_of(
            &metrics,
            &format!("session_store_duration_seconds{{session=app,op={op}}}"),
        );
        assert!(samples > 0, "no {op} timed: {metrics:#?}");
    }

    let lines = captured.lines();
    assert!(
        lines.contains(&r#"span session method="POST" path="/visit""#.to_string()),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|line| line.starts_with("event in session")
            && line.contains(r#"session="app" store="counting" op="create" outcome="ok""#)),
        "{lines:#?}"
    );
    assert!(lines
        .iter()
        .any(|line| line.contains(r#"op="load" outcome="error""#)));

    // No id or signed id (the cookie's value) in any span, line, metric or event; no storage
    // key in any span, line or metric (events name sessions by it: their handle).
    let keys = KeyRing::new(key(1));
    let events: Vec<&str> = all_seen.iter().map(|seen| seen.debug.as_str()).collect();
    let everything = format!("{lines:?} {metrics:?} {events:?}");
    let outside_events = format!("{lines:?} {metrics:?}");
    for id in secrets.iter().chain(store.ids().iter()) {
        for secret in [
            id.to_string(),
            crate::seal::seal_id(&keys, "app", id).unwrap(),
        ] {
            assert!(!everything.contains(&secret), "{secret} leaked");
        }
        let handle = id.storage_key();
        assert!(!outside_events.contains(&handle), "{handle} leaked");
    }
    assert!(events.iter().any(|event| event.contains(&alice)));
}

#[tokio::test]
async fn a_panicking_hook_is_logged_and_the_request_goes_on() {
    let captured = Captured::default();
    let _capturing = captured.start();
    let (_store, manager) = server_app();
    assert!(manager.set_event_hook(|_| panic!("the audit log is down")));
    let mut browser = Browser::default();
    let headers = browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    assert_eq!(set_cookies(&headers).len(), 1);
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
    let lines = captured.lines();
    assert!(
        lines.iter().any(
            |line| line.contains("the session event hook panicked") && line.contains("Created")
        ),
        "{lines:#?}"
    );
}

/// Logs `owner` in on a new browser whose client says `agent`; the browser and its handle.
async fn log_in(
    manager: &SessionManager,
    store: &CountingStore,
    owner: &str,
    agent: &str,
) -> (Browser, String) {
    let browser = bind_new_browser(manager, agent, None, |session| session.set_owner(owner))
        .await
        .unwrap();
    let handle = stored_id(&browser, manager, store).await.storage_key();
    (browser, handle)
}

#[tokio::test]
async fn revocations_name_the_ended_handle_or_the_asking_session_with_its_device() {
    let recorder = DebuggingRecorder::new();
    let store = Arc::new(CountingStore::default());
    let audit = Audit::default();
    let manager = observed_manager(&store, &recorder, &audit);
    let (phone, phone_handle) = log_in(&manager, &store, "alice", "Phone/1").await;
    let (_laptop, laptop_handle) = log_in(&manager, &store, "alice", "Laptop/1").await;
    let _tablet = log_in(&manager, &store, "alice", "Tablet/1").await;
    let seen = audit.take_seen();
    assert_eq!(
        handles_and_agents(&seen)[..2],
        [
            (Some(phone_handle.clone()), Some("Phone/1".to_string())),
            (Some(phone_handle.clone()), Some("Phone/1".to_string()))
        ]
    );
    let revoked = |scope, count| ev(SessionEventKind::Revoked { scope, count }, Some("alice"));
    let phone_itself = (Some(phone_handle.clone()), Some("Phone/1".to_string()));

    // One device, from the phone: the laptop's handle, no device (its record is not read).
    let request = phone.request(&manager);
    let session = request.default_session().await.unwrap();
    assert!(session.end_device(&laptop_handle).await.unwrap());
    let seen = audit.take_seen();
    assert_eq!(lines_of(&seen), [revoked(RevokeScope::One, 1)]);
    assert_eq!(
        handles_and_agents(&seen),
        [(Some(laptop_handle.clone()), None)]
    );

    // The others, then everywhere, from the phone: the phone's handle and device.
    assert_eq!(session.end_other_devices().await.unwrap(), 1);
    let seen = audit.take_seen();
    assert_eq!(lines_of(&seen), [revoked(RevokeScope::Others, 1)]);
    assert_eq!(
        handles_and_agents(&seen),
        std::slice::from_ref(&phone_itself)
    );
    let _desktop = log_in(&manager, &store, "alice", "Desktop/1").await;
    audit.take();
    assert_eq!(session.end_everywhere().await.unwrap(), 2);
    let seen = audit.take_seen();
    assert_eq!(lines_of(&seen), [revoked(RevokeScope::Everywhere, 2)]);
    assert_eq!(handles_and_agents(&seen), [phone_itself]);
    request.save_opened().await.unwrap();
    audit.take();

    // Through the manager: the handle given, and the session kept.
    let (_one, one) = log_in(&manager, &store, "bob", "One/1").await;
    let (_two, two) = log_in(&manager, &store, "bob", "Two/1").await;
    audit.take();
    assert!(manager.revoke_session("app", "bob", &one).await.unwrap());
    let seen = audit.take_seen();
    assert_eq!(handles_and_agents(&seen), [(Some(one), None)]);
    let (_three, _) = log_in(&manager, &store, "bob", "Three/1").await;
    audit.take();
    let keep: SessionId = store
        .ids()
        .into_iter()
        .find(|id| id.storage_key() == two)
        .unwrap();
    assert_eq!(manager.revoke_others("app", "bob", &keep).await.unwrap(), 1);
    let seen = audit.take_seen();
    assert_eq!(
        lines_of(&seen),
        [ev(
            SessionEventKind::Revoked {
                scope: RevokeScope::Others,
                count: 1
            },
            Some("bob")
        )]
    );
    assert_eq!(handles_and_agents(&seen), [(Some(two), None)]);
}
