//! Observability through an adapter: the request span with method and path, the store
//! operations in it, each counter the adapter's requests reach, the store-duration histogram,
//! the lifecycle events with their handles and device records, no id or signed id in any of
//! them, and no storage key but as an event's handle.

use std::sync::{Arc, Mutex};

use metrics_util::debugging::DebuggingRecorder;
use session_core::testing::{count_of, metrics_with_counts, Captured};
use session_core::{Refusal, RevokeScope, SessionEventKind};
use session_stores::testing::TestStore;

use crate::{cookie_header, manager, with_cookie, AdapterApp, TestRequest};

/// Whether `text` holds a run of 32 or more base64url characters with capitals and digits
/// among them: what an id, a signed id or a storage key looks like (metric names are long runs
/// too, but lowercase), and nothing a metric, span or event should carry.
fn looks_like_a_token(text: &str) -> bool {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.split(|c: char| !is_token_char(c)).any(|run| {
        run.len() >= 32
            && run.chars().any(|c| c.is_ascii_uppercase())
            && run.chars().any(|c| c.is_ascii_digit())
    })
}

/// Through the adapter's test client: a visit creates, a login regenerates and binds an
/// owner, a change past the limit is refused, the client-side cart is created, a logout
/// destroys, revoking an owner ends her sessions, and a failing store counts an error. Each
/// shows in its counter and event; store operations are timed by session and operation and
/// logged inside the request's span, which names the method and path.
pub async fn metrics_spans_and_events_are_recorded_and_carry_no_id(app: &dyn AdapterApp) {
    let captured = Captured::default();
    let _capturing = captured.start();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = Arc::new(TestStore::default());
    // The handles are registered while the manager is built: from the test's own recorder.
    let manager = {
        let _recorder = metrics::set_default_local_recorder(&recorder);
        manager(&store).await
    };
    let audit = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&audit);
    assert!(manager.set_event_hook(move |event| {
        let line = format!("{:?} {:?} {:?}", event.kind, event.session, event.owner);
        let handle = event.handle.map(str::to_string);
        let agent = event.device.and_then(|device| device.user_agent.clone());
        let whole = format!("{event:?}");
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        log.push((line, handle, agent, whole));
    }));
    let client = app.client(Some(manager.clone())).await;
    let mut cookies = Vec::new();

    let response = client.send(TestRequest::post("/visit")).await;
    assert_eq!(response.status, 200);
    let anonymous = cookie_header(&response);
    let login = TestRequest::post("/login").header("user-agent", "KitBrowser/1.0");
    let response = client.send(with_cookie(login, &anonymous)).await;
    assert_eq!(response.status, 200);
    let cookie = cookie_header(&response);
    let response = client
        .send(with_cookie(TestRequest::post("/huge"), &cookie))
        .await;
    assert_eq!(response.status, 413);
    let response = client.send(TestRequest::post("/cart")).await;
    cookies.push(cookie_header(&response));
    let response = client
        .send(with_cookie(TestRequest::post("/logout"), &cookie))
        .await;
    assert_eq!(response.status, 200);
    let login = TestRequest::post("/login").header("user-agent", "KitBrowser/2.0");
    let again = cookie_header(&client.send(with_cookie(login, &anonymous)).await);
    // The handle the device listing shows for that login.
    let listed = manager.owner_sessions("app", "alice", None).await;
    let listed: Vec<String> = listed.into_iter().flatten().map(|s| s.handle).collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(manager.revoke_owner("app", "alice").await.ok(), Some(1));
    store.fail();
    let response = client
        .send(with_cookie(TestRequest::get("/whoami"), &again))
        .await;
    assert_eq!(response.status, 500);
    store.recover();
    cookies.extend([anonymous, cookie, again]);

    let app = Some("app");
    let alice = Some("alice");
    let event = |kind: SessionEventKind, session: Option<&str>, owner: Option<&str>| {
        format!("{kind:?} {session:?} {owner:?}")
    };
    let seen = audit.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let audited: Vec<String> = seen.iter().map(|(line, ..)| line.clone()).collect();
    assert_eq!(
        audited,
        [
            event(SessionEventKind::Created, app, None),
            event(SessionEventKind::Regenerated, app, alice),
            event(SessionEventKind::LoggedIn, app, alice),
            event(SessionEventKind::Refused(Refusal::TooLarge), app, alice),
            event(SessionEventKind::Created, Some("cart"), None),
            event(SessionEventKind::Destroyed, app, None),
            // The anonymous cookie's record was retired by the first login: a new session.
            event(SessionEventKind::Created, app, alice),
            event(SessionEventKind::LoggedIn, app, alice),
            event(
                SessionEventKind::Revoked {
                    scope: RevokeScope::Everywhere,
                    count: 1
                },
                app,
                alice
            ),
        ]
    );

    // The handles: the first login moves the anonymous session to a new one, which the logout
    // ends; the second login is a new session, the one the listing shows; the cart has its own.
    // Devices: the one recorded at each login, from its `User-Agent`.
    let handle = |index: usize| seen[index].1.clone();
    let agent = |index: usize| seen[index].2.clone();
    let (first, second) = (handle(0), handle(1));
    assert!(
        first.is_some() && second.is_some() && first != second,
        "{seen:?}"
    );
    assert_eq!(handle(2), second);
    assert_eq!(handle(3), None);
    assert!(handle(4).is_some() && handle(4) != first && handle(4) != second);
    assert_eq!(handle(5), second);
    assert_eq!(handle(6).as_deref(), listed.first().map(String::as_str));
    assert_eq!(handle(7), handle(6));
    assert_eq!(handle(8), None);
    let agents: Vec<Option<String>> = (0..seen.len()).map(agent).collect();
    let (one, two) = (
        Some("KitBrowser/1.0".to_string()),
        Some("KitBrowser/2.0".to_string()),
    );
    assert_eq!(
        agents,
        [
            None,
            one.clone(),
            one.clone(),
            one,
            None,
            None,
            two.clone(),
            two,
            None
        ]
    );

    let metrics = metrics_with_counts(
        &snapshotter,
        &[
            ("session_created_total{session=app}", 2),
            ("session_created_total{session=cart}", 1),
            ("session_regenerated_total{session=app}", 1),
            ("session_destroyed_total{session=app}", 1),
            ("session_too_large_total{session=app}", 1),
            ("session_revoked_total{session=app}", 1),
            ("session_store_errors_total{session=app}", 1),
            ("session_corrupt_total{session=app}", 0),
            ("session_cross_origin_refused_total{}", 0),
        ],
    );
    for op in ["load", "create", "regenerate", "delete", "delete_owner"] {
        let name = format!("session_store_duration_seconds{{session=app,op={op}}}");
        assert!(count_of(&metrics, &name) > 0, "{name}: {metrics:#?}");
    }
    // Labels are configured names only: every series names `app`, `cart` or `api`, or none.
    for name in metrics.keys() {
        let labels = &name[name.find('{').unwrap_or(0)..];
        assert!(
            labels == "{}"
                || ["app", "cart", "api"]
                    .iter()
                    .any(|session| labels.starts_with(&format!("{{session={session}"))),
            "{name}"
        );
    }

    let lines = captured.lines();
    assert!(
        lines.contains(&r#"span session method="POST" path="/login""#.to_string()),
        "{lines:#?}"
    );
    for op in [
        r#"op="load" outcome="ok""#,
        r#"op="regenerate" outcome="ok""#,
    ] {
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with("event in session") && line.contains(op)),
            "{op}: {lines:#?}"
        );
    }

    // Nothing that looks like a token in spans, metrics or what events say but their handles;
    // and no cookie value (a signed id, or a sealed session) in any event, whole.
    let everything = format!("{lines:?} {metrics:?} {audited:?}");
    assert!(!looks_like_a_token(&everything), "{everything}");
    let events: Vec<&String> = seen.iter().map(|(.., whole)| whole).collect();
    for cookie in cookies.iter().flat_map(|header| header.split("; ")) {
        let value = cookie.split_once('=').map_or("", |(_, value)| value);
        assert!(value.len() >= 32 && looks_like_a_token(value), "{cookie}");
        for event in &events {
            assert!(!event.contains(value), "{cookie} in {event}");
            // A signed id is `<id>.<signature>` or the like: no part of it either.
            for part in value.split(['.', '~']).filter(|part| part.len() >= 16) {
                assert!(!event.contains(part), "{part} of {cookie} in {event}");
            }
        }
    }
}
