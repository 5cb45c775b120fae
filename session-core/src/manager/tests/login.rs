//! Login on the handle through the manager: logging in and out, "remember me" with an end, and
//! the device operations a handler calls.

use super::*;
use crate::device::{Device, DEVICE_KEY};
use crate::flash::FlashLevel;

const MINUTE: u64 = 60_000;

/// Moves every time of the record `browser` holds on `manager` `ms` into the past (creation,
/// deadlines, device record), as if that much time had gone by since it was saved.
async fn age(store: &CountingStore, browser: &Browser, manager: &SessionManager, ms: u64) {
    let id = stored_id(browser, manager, store).await;
    let mut record = store.record(&id).expect("a stored record");
    record.created_at -= ms;
    record.expires_at -= ms;
    record.absolute_deadline = record.absolute_deadline.map(|deadline| deadline - ms);
    if let Some(mut device) = Device::from_data(&record.data) {
        device.logged_in_at -= ms;
        device.last_seen_at -= ms;
        record.data.insert(DEVICE_KEY.into(), device.to_value());
    }
    store.insert(record);
}

/// `ms` later, `browser` visits again, finds `alice` still logged in, and uses the session.
async fn alice_returns_after(
    store: &CountingStore,
    browser: &mut Browser,
    manager: &SessionManager,
    ms: u64,
) {
    age(store, browser, manager, ms).await;
    browser
        .visit(manager, |session| {
            assert_eq!(session.owner().as_deref(), Some("alice"));
            counter(session);
        })
        .await;
}

/// A new browser whose first visit to `manager` logs `alice` in, then runs `then` on the session.
async fn alice_logs_in<T>(manager: &SessionManager, then: impl FnOnce(&Session) -> T) -> Browser {
    let mut browser = Browser::default();
    browser
        .visit(manager, |session| {
            session.login("alice").unwrap();
            then(session);
        })
        .await;
    browser
}

fn counter(session: &Session) -> u32 {
    let n = session.get::<u32>("n").unwrap().unwrap_or(0) + 1;
    session.insert("n", n).unwrap();
    n
}

#[tokio::test]
async fn login_regenerates_the_id_binds_the_owner_and_keeps_an_anonymous_visitors_values() {
    let (store, manager) = server_app();
    let mut browser = Browser::default();
    browser
        .visit(&manager, |session| assert_eq!(counter(session), 1))
        .await;
    let anonymous = stored_id(&browser, &manager, &store).await;

    browser
        .visit(&manager, |session| session.login("alice").unwrap())
        .await;
    let logged_in = stored_id(&browser, &manager, &store).await;
    assert_ne!(logged_in, anonymous);
    assert!(store.record(&anonymous).is_none(), "the old id still opens");
    let record = store.record(&logged_in).unwrap();
    assert_eq!(record.owner.as_deref(), Some("alice"));
    assert!(
        Device::from_data(&record.data).is_some(),
        "no device record"
    );

    // The visitor's counter survived the login.
    browser
        .visit(&manager, |session| {
            assert_eq!(session.owner().as_deref(), Some("alice"));
            assert_eq!(counter(session), 2);
        })
        .await;
}

#[tokio::test]
async fn logging_in_as_another_user_keeps_nothing_of_the_previous_one() {
    let store = Arc::new(CountingStore::default());
    for manager in [server_manager(&store), client_manager()] {
        let mut browser = alice_logs_in(&manager, |session| {
            counter(session);
            counter(session);
            session.flash(FlashLevel::Info, "for alice").unwrap();
            session.remember().unwrap();
        })
        .await;

        browser
            .visit(&manager, |session| {
                assert_eq!(session.get::<u32>("n").unwrap(), Some(2));
                session.login("bob").unwrap();
            })
            .await;
        browser
            .visit(&manager, |session| {
                assert_eq!(session.owner().as_deref(), Some("bob"));
                assert_eq!(session.get::<u32>("n").unwrap(), None, "alice's counter");
                assert!(session.take_flashes().is_empty(), "alice's flash");
                assert_eq!(session.expiry(), None, "alice's remember-me");
            })
            .await;
    }
    // Alice's session left her device list; only bob's remains.
    assert!(store.owner_sessions("alice").await.unwrap().is_empty());
    assert_eq!(store.owner_sessions("bob").await.unwrap().len(), 1);
}

#[tokio::test]
async fn logging_in_again_as_the_same_user_keeps_the_values_under_a_new_id() {
    let (store, manager) = server_app();
    let mut browser = alice_logs_in(&manager, counter).await;
    let first = stored_id(&browser, &manager, &store).await;
    browser
        .visit(&manager, |session| session.login("alice").unwrap())
        .await;
    assert_ne!(stored_id(&browser, &manager, &store).await, first);
    browser
        .visit(&manager, |session| assert_eq!(counter(session), 2))
        .await;
    assert_eq!(store.owner_sessions("alice").await.unwrap().len(), 1);
}

#[tokio::test]
async fn logging_in_again_at_a_refusing_cap_is_not_refused() {
    // The session is already one of the owner's: logging in again on it adds no session.
    let store = Arc::new(CountingStore::default());
    let manager = capped_manager(&store, cap(1, WhenFull::Refuse));
    let mut browser = log_in_as(&manager, "alice", "Phone/1").await;
    browser
        .visit(&manager, |session| session.login("alice").unwrap())
        .await;
    assert_eq!(owner_of(&browser, &manager).await.as_deref(), Some("alice"));
    assert_eq!(store.owner_sessions("alice").await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_invalid_owner_is_refused_and_changes_nothing() {
    let (store, manager, mut browser, id) = logged_in_app_with_id().await;
    browser
        .visit(&manager, |session| {
            assert!(matches!(session.login(""), Err(Error::InvalidOwner(_))));
            assert!(matches!(
                session.login("a\u{0}b"),
                Err(Error::InvalidOwner(_))
            ));
            assert!(!session.is_modified());
        })
        .await;
    assert_eq!(stored_id(&browser, &manager, &store).await, id);
}

#[tokio::test]
async fn a_client_side_login_without_values_is_kept() {
    let manager = client_manager();
    let mut browser = alice_logs_in(&manager, |_| {}).await;
    assert!(browser.cookies.contains_key("sid"), "the login was dropped");
    browser
        .visit(&manager, |session| {
            assert_eq!(session.owner().as_deref(), Some("alice"))
        })
        .await;
}

#[tokio::test]
async fn logout_destroys_the_session_and_expires_its_cookie() {
    let store = Arc::new(CountingStore::default());
    for manager in [server_manager(&store), client_manager()] {
        let mut browser = alice_logs_in(&manager, counter).await;
        let headers = browser.visit(&manager, |session| session.logout()).await;
        assert!(is_removal(&set_cookies(&headers)[0]));
        assert!(browser.cookies.is_empty());
    }
    assert!(store.ids().is_empty());
}

/// Remember-me windows short enough to live through in a test: an hour idle, two absolute.
fn remembering_policy() -> ExpiryPolicy {
    ExpiryPolicy {
        remember_idle_secs: 3600,
        remember_absolute_secs: 2 * 3600,
        ..policy()
    }
}

#[tokio::test]
async fn remember_regenerates_and_sets_a_persistent_cookie_of_the_idle_window() {
    let store = Arc::new(CountingStore::default());
    let server = server_manager_expiring(remembering_policy(), &store);
    let client = client_manager_with(KeyRing::new(key(1)), remembering_policy(), 1);
    for manager in [server, client] {
        let mut browser = alice_logs_in(&manager, |_| {}).await;
        let before = browser.cookies["sid"].clone();
        let before_id = stored_id(&browser, &manager, &store).await;
        let headers = browser
            .visit(&manager, |session| session.remember().unwrap())
            .await;
        let cookie = &set_cookies(&headers)[0];
        let max_age = cookie.max_age().unwrap().whole_seconds() as u64;
        assert!((3599..=3600).contains(&max_age), "{max_age}");
        assert_ne!(browser.cookies["sid"], before);
        assert_ne!(stored_id(&browser, &manager, &store).await, before_id);
        // The cookie from before the call no longer opens the login.
        let mut stolen = Browser::default();
        stolen.cookies.insert("sid".into(), before);
        if matches!(manager.backend("app"), Some(Backend::Server(_))) {
            assert_eq!(default_session(&stolen, &manager).await.owner(), None);
        }
    }
}

#[tokio::test]
async fn a_remembered_session_ends_its_absolute_window_after_the_login_however_active() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager_expiring(remembering_policy(), &store);
    let mut browser = Browser::default();
    // An anonymous visit long before the login: the end counts from the login, not from it.
    browser
        .visit(&manager, |session| {
            counter(session);
        })
        .await;
    age(&store, &browser, &manager, 50 * MINUTE).await;
    browser
        .visit(&manager, |session| {
            session.login("alice").unwrap();
            session.remember().unwrap();
        })
        .await;

    // Used every 50 minutes, well within the idle hour: alive until two hours after the login.
    for _ in 0..2 {
        alice_returns_after(&store, &mut browser, &manager, 50 * MINUTE).await;
    }
    age(&store, &browser, &manager, 25 * MINUTE).await;
    assert_eq!(
        default_session(&browser, &manager).await.owner(),
        None,
        "a remembered session outlived its absolute end"
    );
}

#[tokio::test]
async fn remembering_later_still_counts_the_end_from_the_login() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager_expiring(remembering_policy(), &store);
    let mut browser = alice_logs_in(&manager, |_| {}).await;
    age(&store, &browser, &manager, 50 * MINUTE).await;
    browser
        .visit(&manager, |session| session.remember().unwrap())
        .await;
    // Fifty minutes after the login and again after 1 h 40: still in.
    alice_returns_after(&store, &mut browser, &manager, 50 * MINUTE).await;
    // Two hours and a minute after the login (not after the call): out.
    age(&store, &browser, &manager, 21 * MINUTE).await;
    assert_eq!(owner_of(&browser, &manager).await, None);
}

#[tokio::test]
async fn a_persistent_expiry_is_not_a_session_without_an_end() {
    // `Expiry::persistent` used to have no absolute end: a session used once an hour lived
    // forever.
    let (store, manager) = server_app();
    let mut browser = alice_logs_in(&manager, |session| {
        session
            .set_expiry(Expiry::persistent(Duration::from_secs(3600)))
            .unwrap();
    })
    .await;
    for _ in 0..3 {
        age(&store, &browser, &manager, 40 * MINUTE).await;
        let alive = default_session(&browser, &manager).await.owner().is_some();
        if !alive {
            return;
        }
        browser
            .visit(&manager, |session| {
                counter(session);
            })
            .await;
    }
    panic!("a persistent session used within its idle window lived past its absolute end");
}

// ---- the device operations ----

/// Logs `owner` in on a new browser whose client says `agent`.
async fn log_in_as(manager: &SessionManager, owner: &str, agent: &str) -> Browser {
    bind_new_browser(manager, agent, None, |session| session.login(owner))
        .await
        .unwrap()
}

/// A server-side app where `alice` is logged in on a phone and a laptop, and another owner on a
/// browser of their own: what the device operations are tried on.
struct AliceAndAnother {
    store: Arc<CountingStore>,
    manager: SessionManager,
    phone: Browser,
    laptop: Browser,
    other: Browser,
}

impl AliceAndAnother {
    /// Logs in `alice` on `Phone/1` then `Laptop/2`, and `other` on `Other/3`.
    async fn log_in(other: &str) -> AliceAndAnother {
        let (store, manager) = server_app();
        let phone = log_in_as(&manager, "alice", "Phone/1").await;
        let laptop = log_in_as(&manager, "alice", "Laptop/2").await;
        let other = log_in_as(&manager, other, "Other/3").await;
        AliceAndAnother {
            store,
            manager,
            phone,
            laptop,
            other,
        }
    }
}

/// Runs one request on `browser` whose handler is `handler` (async), and applies its response.
async fn call<T, F, Fut>(browser: &mut Browser, manager: &SessionManager, handler: F) -> T
where
    F: FnOnce(Session) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let request = browser.request(manager);
    let session = request.default_session().await.unwrap();
    let value = handler(session).await;
    browser.receive(&request.save_opened().await.unwrap());
    value
}

#[tokio::test]
async fn a_handler_lists_the_devices_and_ends_one_of_them() {
    let AliceAndAnother {
        store,
        manager,
        phone,
        mut laptop,
        other: mallory,
    } = AliceAndAnother::log_in("mallory").await;

    let devices = call(&mut laptop, &manager, |session| async move {
        session.devices().await.unwrap()
    })
    .await;
    assert_eq!(devices.len(), 2);
    let agent = |entry: &OwnerSession| entry.device.as_ref().unwrap().user_agent.clone();
    let current: Vec<_> = devices.iter().filter(|entry| entry.current).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(agent(current[0]).as_deref(), Some("Laptop/2"));
    let phone_handle = devices
        .iter()
        .find(|entry| !entry.current)
        .unwrap()
        .handle
        .clone();
    let mallory_handle = store.owner_sessions("mallory").await.unwrap()[0]
        .handle
        .clone();

    let (other_users, made_up, phone_ended) = call(&mut laptop, &manager, |session| async move {
        (
            session.end_device(&mallory_handle).await.unwrap(),
            session.end_device("../not-a-handle").await.unwrap(),
            session.end_device(&phone_handle).await.unwrap(),
        )
    })
    .await;
    assert!(!other_users && !made_up && phone_ended);
    assert_eq!(owner_of(&phone, &manager).await, None);
    assert_eq!(
        owner_of(&mallory, &manager).await.as_deref(),
        Some("mallory")
    );
    assert_eq!(owner_of(&laptop, &manager).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn ending_this_devices_own_handle_logs_it_out() {
    let (_store, manager) = server_app();
    let mut laptop = log_in_as(&manager, "alice", "Laptop/2").await;
    let ended = call(&mut laptop, &manager, |session| async move {
        let own = session.devices().await.unwrap()[0].handle.clone();
        let ended = session.end_device(&own).await.unwrap();
        assert!(session.is_destroyed());
        ended
    })
    .await;
    assert!(ended);
    assert!(laptop.cookies.is_empty(), "the response kept the cookie");
}

#[tokio::test]
async fn a_handler_logs_out_the_other_devices_or_everywhere() {
    let AliceAndAnother {
        store,
        manager,
        phone,
        mut laptop,
        other: bob,
    } = AliceAndAnother::log_in("bob").await;
    let tablet = log_in_as(&manager, "alice", "Tablet/1").await;

    let ended = call(&mut laptop, &manager, |session| async move {
        session.end_other_devices().await.unwrap()
    })
    .await;
    assert_eq!(ended, 2);
    assert_eq!(owner_of(&phone, &manager).await, None);
    assert_eq!(owner_of(&tablet, &manager).await, None);
    assert_eq!(owner_of(&laptop, &manager).await.as_deref(), Some("alice"));

    let mut phone = log_in_as(&manager, "alice", "Phone/1").await;
    let ended = call(&mut phone, &manager, |session| async move {
        session.end_everywhere().await.unwrap()
    })
    .await;
    assert_eq!(ended, 2);
    assert!(phone.cookies.is_empty(), "the response kept the cookie");
    assert_eq!(owner_of(&laptop, &manager).await, None);
    assert!(store.owner_sessions("alice").await.unwrap().is_empty());
    assert_eq!(owner_of(&bob, &manager).await.as_deref(), Some("bob"));
}

#[tokio::test]
async fn without_an_owner_the_device_operations_end_nothing() {
    let (store, manager) = server_app();
    log_in_as(&manager, "alice", "Phone/1").await;
    let mut anonymous = Browser::default();
    anonymous
        .visit(&manager, |session| {
            counter(session);
        })
        .await;
    let (listed, others, everywhere) = call(&mut anonymous, &manager, |session| async move {
        (
            session.devices().await.unwrap().len(),
            session.end_other_devices().await.unwrap(),
            session.end_everywhere().await.unwrap(),
        )
    })
    .await;
    assert_eq!((listed, others, everywhere), (0, 0, 0));
    assert!(anonymous.cookies.is_empty());
    assert_eq!(store.owner_sessions("alice").await.unwrap().len(), 1);
}

#[tokio::test]
async fn client_side_sessions_refuse_the_device_operations() {
    let manager = client_manager();
    let mut browser = alice_logs_in(&manager, |_| {}).await;
    call(&mut browser, &manager, |session| async move {
        assert!(matches!(
            session.devices().await,
            Err(Error::NotServerSide(name)) if name == "app"
        ));
        assert!(matches!(
            session.end_device("x").await,
            Err(Error::NotServerSide(_))
        ));
        assert!(matches!(
            session.end_other_devices().await,
            Err(Error::NotServerSide(_))
        ));
        assert!(matches!(
            session.end_everywhere().await,
            Err(Error::NotServerSide(_))
        ));
        // Refused before anything changed: still logged in.
        assert!(!session.is_destroyed());
    })
    .await;
    assert_eq!(owner_of(&browser, &manager).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn login_calls_after_the_response_was_saved_are_refused() {
    let (store, manager) = server_app();
    let browser = log_in_as(&manager, "alice", "Phone/1").await;
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    request.save_opened().await.unwrap();
    // A task the handler spawned, running after the response left.
    assert!(matches!(session.login("bob"), Err(Error::AlreadySaved(_))));
    assert!(matches!(session.remember(), Err(Error::AlreadySaved(_))));
    assert!(matches!(
        session.end_everywhere().await,
        Err(Error::AlreadySaved(_))
    ));
    session.logout();
    assert!(!session.is_destroyed());
    assert_eq!(session.owner().as_deref(), Some("alice"));
    assert_eq!(store.owner_sessions("alice").await.unwrap().len(), 1);
}

#[test]
fn the_device_operations_are_send_futures() {
    // Handlers of multi-threaded frameworks (axum, a spawned task) need `Send` futures.
    fn send<T: Send>(_: T) {}
    let session = Session::new_unsaved(&Expiry::default());
    send(session.devices());
    send(session.end_device("handle"));
    send(session.end_other_devices());
    send(session.end_everywhere());
}

#[tokio::test]
async fn the_adapters_client_closure_is_called_only_when_a_login_is_saved() {
    let (_store, manager) = server_app();
    let asked = std::sync::atomic::AtomicUsize::new(0);
    let client = || {
        asked.fetch_add(1, Ordering::SeqCst);
        crate::device::ClientInfo {
            user_agent: Some("Closure/1".into()),
            ip: None,
        }
    };
    let save = |handler: fn(&Session), cookie: String| {
        let manager = manager.clone();
        let client = &client;
        async move {
            let deferred = manager.defer(Some(cookie), |_| None);
            let sessions = deferred.get_or_scan(|value: &String| value.as_bytes(), Vec::new);
            handler(&sessions.default_session().await.unwrap());
            deferred.save_scanned_with(client).await.unwrap()
        }
    };
    // A new session and a change: nobody logs in, nothing is asked.
    let headers = save(|session| session.insert("n", 1).unwrap(), String::new()).await;
    let cookie = match &headers[0] {
        ResponseHeader::SetCookie(text) => text.split(';').next().unwrap().to_string(),
        other => panic!("{other:?}"),
    };
    save(|session| session.insert("n", 2).unwrap(), cookie.clone()).await;
    assert_eq!(asked.load(Ordering::SeqCst), 0);
    // A login: asked once, and its answer is the device record.
    save(|session| session.login("alice").unwrap(), cookie).await;
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let sessions = manager.owner_sessions("app", "alice", None).await.unwrap();
    let agent = sessions[0]
        .device
        .as_ref()
        .and_then(|d| d.user_agent.clone());
    assert_eq!(agent.as_deref(), Some("Closure/1"));
}
