//! Regenerate and destroy.

use super::*;

#[tokio::test]
async fn regenerate_id_creates_the_new_record_and_deletes_the_old_one() {
    let (store, manager, mut browser) = logged_in_app().await;
    let old_browser = browser.clone();
    let old_id = stored_id(&browser, &manager, &store).await;

    let mut new_id = None;
    let headers = browser
        .visit(&manager, |session| {
            session.regenerate_id();
            new_id = Some(session.id());
        })
        .await;
    // One atomic move in the store, not a create from this request's copy and a delete.
    assert_eq!(store.take_ops(), [Op::Load, Op::Regenerate]);
    let new_id = new_id.unwrap();
    assert_ne!(new_id, old_id);
    assert_eq!(store.ids(), [new_id]);
    assert_eq!(set_cookies(&headers).len(), 1);
    assert_ne!(browser.cookies["sid"], old_browser.cookies["sid"]);

    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
    assert_eq!(user_of(&old_browser, &manager).await, None);
}

#[tokio::test]
async fn destroy_deletes_the_record_and_expires_the_cookie() {
    let store = Arc::new(CountingStore::default());
    let transport = Transport::Cookie(CookieConfig {
        path: "/app".into(),
        domain: Some("example.com".into()),
        ..CookieConfig::new("sid")
    });
    let manager = server_manager_with(KeyRing::new(key(1)), transport, policy(), &store);
    let mut browser = logged_in(&store, &manager).await;
    let old_browser = browser.clone();
    let headers = browser.visit(&manager, Session::destroy).await;
    assert_eq!(store.take_ops(), [Op::Load, Op::Delete]);
    assert!(store.ids().is_empty());
    let cookies = set_cookies(&headers);
    assert_eq!(cookies.len(), 1);
    assert!(is_removal(&cookies[0]), "{}", cookies[0]);
    assert_eq!(cookies[0].name(), "sid");
    assert_eq!(cookies[0].path(), Some("/app"));
    assert_eq!(cookies[0].domain(), Some("example.com"));
    assert!(browser.cookies.is_empty());
    assert_eq!(user_of(&old_browser, &manager).await, None);
}

#[tokio::test]
async fn destroying_a_client_session_expires_its_cookie() {
    let manager = client_manager();
    let mut browser = alice_visits(&manager).await;
    let headers = browser.visit(&manager, Session::destroy).await;
    assert!(is_removal(&set_cookies(&headers)[0]));
    assert!(browser.cookies.is_empty());
}

#[tokio::test]
async fn destroy_over_the_header_transport_sends_an_empty_header() {
    let store = Arc::new(CountingStore::default());
    let manager = header_manager("x-session", &store);
    let mut browser = alice_visits(&manager).await;
    assert!(browser.headers.contains_key("x-session"));
    let headers = browser.visit(&manager, Session::destroy).await;
    assert_eq!(
        headers,
        [ResponseHeader::Header {
            name: Arc::from("x-session"),
            value: String::new()
        }]
    );
    assert!(store.ids().is_empty());
}

#[tokio::test]
async fn destroy_then_insert_starts_a_new_session() {
    let (store, manager, mut browser) = logged_in_app().await;
    let old_id = stored_id(&browser, &manager, &store).await;
    let headers = browser
        .visit(&manager, |session| {
            session.destroy();
            session.insert("note", "bye").unwrap();
        })
        .await;
    assert_eq!(store.take_ops(), [Op::Load, Op::Delete, Op::Create]);
    let ids = store.ids();
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0], old_id);
    let cookies = set_cookies(&headers);
    assert_eq!(cookies.len(), 1);
    assert!(!is_removal(&cookies[0]));
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    assert_eq!(
        session.get::<String>("note").unwrap().as_deref(),
        Some("bye")
    );
    assert_eq!(session.get::<String>("user").unwrap(), None);
}

#[tokio::test]
async fn a_session_ended_by_another_request_is_not_recreated_and_other_sessions_still_save() {
    let store = Arc::new(CountingStore::default());
    let manager = builder_with_app(&store)
        .session(
            "prefs",
            session_config(cookie_transport("prefs"), "cookie", policy()),
            Backend::ClientSide(CookieStoreOptions::default()),
        )
        .default("app")
        .build()
        .unwrap();
    let mut browser = logged_in(&store, &manager).await;

    // Two requests load the session; the first destroys it, the second then writes to it.
    let destroying = browser.request(&manager);
    let writing = browser.request(&manager);
    destroying.default_session().await.unwrap().destroy();
    let late = writing.default_session().await.unwrap();
    writing
        .session("prefs")
        .await
        .unwrap()
        .insert("theme", "dark")
        .unwrap();
    destroying.save_opened().await.unwrap();
    late.insert("cart", 3).unwrap();
    let headers = writing.save_opened().await.unwrap();

    assert!(
        store.ids().is_empty(),
        "the ended session was not recreated"
    );
    let cookies = set_cookies(&headers);
    // The destroying response already expired the cookie; this one leaves it alone.
    assert!(cookies.iter().all(|c| c.name() != "sid"), "{cookies:?}");
    let prefs = cookies.iter().find(|c| c.name() == "prefs").unwrap();
    assert!(!is_removal(prefs));
    browser.receive(&headers);
    let request = browser.request(&manager);
    let prefs = request.session("prefs").await.unwrap();
    assert_eq!(
        prefs.get::<String>("theme").unwrap().as_deref(),
        Some("dark")
    );
}

#[tokio::test]
async fn a_request_racing_a_login_does_not_erase_the_new_cookie() {
    let (_store, manager, mut browser) = logged_in_app().await;

    // A login regenerates the id while a parallel request with the old cookie writes.
    let login = browser.request(&manager);
    let parallel = browser.request(&manager);
    login.default_session().await.unwrap().regenerate_id();
    parallel
        .default_session()
        .await
        .unwrap()
        .insert("seen", true)
        .unwrap();
    let login_headers = login.save_opened().await.unwrap();
    let parallel_headers = parallel.save_opened().await.unwrap();

    assert!(
        set_cookies(&parallel_headers).is_empty(),
        "the late response must not touch the cookie the login just set"
    );
    // Whatever order the browser gets the responses in, it keeps the new session.
    browser.receive(&login_headers);
    browser.receive(&parallel_headers);
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
}

/// A new session whose id is taken is created under a fresh one, and its cookie names the id it
/// was stored under.
#[tokio::test]
async fn a_create_whose_id_is_taken_retries_under_a_fresh_id() {
    let (store, manager) = server_app();
    store.collisions.store(1, Ordering::SeqCst);
    let browser = alice_visits(&manager).await;
    assert_eq!(store.take_ops(), [Op::Create, Op::Create]);
    let id = stored_id(&browser, &manager, &store).await;
    assert_eq!(store.ids(), [id]);
    assert!(
        !store.taken_ids().contains(&id),
        "the retry drew a fresh id"
    );
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
}

/// A regeneration whose new id is taken moves the session to another fresh id; the cookie
/// follows it and the old id opens nothing.
#[tokio::test]
async fn a_regenerate_whose_new_id_is_taken_retries_under_another() {
    let (store, manager, mut browser) = logged_in_app().await;
    let old_browser = browser.clone();
    let old_id = stored_id(&browser, &manager, &store).await;
    store.collisions.store(2, Ordering::SeqCst);
    browser.visit(&manager, Session::regenerate_id).await;
    assert_eq!(
        store.take_ops(),
        [Op::Load, Op::Regenerate, Op::Regenerate, Op::Regenerate]
    );
    let new_id = stored_id(&browser, &manager, &store).await;
    assert_ne!(new_id, old_id);
    assert_eq!(store.ids(), [new_id]);
    let taken = store.taken_ids();
    assert_eq!(taken.len(), 2);
    assert_ne!(taken[0], taken[1], "each retry draws a fresh id");
    assert!(!taken.contains(&new_id));
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
    assert_eq!(user_of(&old_browser, &manager).await, None);
}

/// Ids that keep colliding are a broken random source or a store that misreports: after three
/// tries the save fails and sets no cookie.
#[tokio::test]
async fn ids_that_keep_colliding_fail_the_save() {
    let (store, manager) = server_app();
    store.collisions.store(3, Ordering::SeqCst);
    let request = Browser::default()
        .handled(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    let error = manager.save_request(request).await.unwrap_err();
    assert!(
        matches!(error, Error::Store(StoreError::AlreadyExists)),
        "{error:?}"
    );
    assert_eq!(store.take_ops(), [Op::Create, Op::Create, Op::Create]);
    assert!(store.ids().is_empty());
}
