//! Values that must not open.

use super::*;

/// A fresh session: empty, and not the id the value was for.
async fn assert_fresh(manager: &SessionManager, browser: &Browser, not: SessionId) {
    let request = browser.request(manager);
    let session = request.default_session().await.unwrap();
    assert!(session.is_empty());
    assert_ne!(session.id(), not);
    assert!(request.save_opened().await.unwrap().is_empty());
}

#[tokio::test]
async fn values_that_do_not_open_give_a_fresh_empty_session() {
    let store = Arc::new(CountingStore::default());
    let two_sessions = |backend: fn(&Arc<CountingStore>) -> Backend, kind: &str| {
        SessionManager::builder(KeyRing::new(key(1)))
            .session(
                "app",
                session_config(cookie_transport("sid"), kind, policy()),
                backend(&store),
            )
            .session(
                "other",
                session_config(cookie_transport("other"), kind, policy()),
                backend(&store),
            )
            .default("app")
            .build()
            .unwrap()
    };
    let server: fn(&Arc<CountingStore>) -> Backend = |store| Backend::Server(store.clone());
    let client: fn(&Arc<CountingStore>) -> Backend =
        |_| Backend::ClientSide(CookieStoreOptions::default());
    for (manager, kind) in [(server, "counting"), (client, "cookie")]
        .map(|(backend, kind)| (two_sessions(backend, kind), kind))
    {
        let mut browser = Browser::default();
        let mut id = None;
        let request = browser.request(&manager);
        for name in ["app", "other"] {
            let session = request.session(name).await.unwrap();
            session.insert("user", "alice").unwrap();
            id.get_or_insert(session.id());
        }
        browser.receive(&request.save_opened().await.unwrap());
        let id = id.unwrap();
        let sealed = browser.cookies["sid"].clone();

        // Tampered: one character changed.
        let mut tampered = browser.clone();
        let last = if sealed.ends_with('A') { "B" } else { "A" };
        tampered.cookies.insert(
            "sid".into(),
            format!("{}{last}", &sealed[..sealed.len() - 1]),
        );
        assert_fresh(&manager, &tampered, id).await;

        // Sealed under a key this server does not have.
        let foreign_manager = match kind {
            "cookie" => client_manager_with(KeyRing::new(key(9)), policy(), 1),
            _ => server_manager_keyed(KeyRing::new(key(9)), &store),
        };
        let mut foreign = Browser::default();
        foreign
            .visit(&foreign_manager, |session| {
                session.insert("user", "mallory").unwrap()
            })
            .await;
        assert_fresh(&manager, &foreign, id).await;

        // Sealed for the other session name.
        let mut swapped = Browser::default();
        swapped
            .cookies
            .insert("sid".into(), browser.cookies["other"].clone());
        assert_fresh(&manager, &swapped, id).await;

        // Garbage and oversized values.
        for junk in ["", "x", "%%%", &"A".repeat(70_000)] {
            let mut junk_browser = Browser::default();
            junk_browser.cookies.insert("sid".into(), junk.to_string());
            assert_fresh(&manager, &junk_browser, id).await;
        }
    }
}

#[tokio::test]
async fn expired_values_give_a_fresh_empty_session() {
    let keys = KeyRing::new(key(1));
    let now = now_ms();
    let mut expired = Record::new(SessionId::generate(), &Expiry::default(), now - 10_000);
    expired.expires_at = now - 1;
    expired
        .data
        .insert("user".into(), crate::RawJson::to_json("alice").unwrap());

    // Client-side: the browser still sends a value whose sealed deadline has passed.
    let mut browser = Browser::default();
    browser.cookies.insert(
        "sid".into(),
        seal_record(&keys, Protection::Encrypted, "app", &expired).unwrap(),
    );
    assert_fresh(&client_manager(), &browser, expired.id).await;

    // Server-side: a valid signed id whose record is past its deadline.
    let store = Arc::new(CountingStore::default());
    store.insert(expired.clone());
    let mut browser = Browser::default();
    browser
        .cookies
        .insert("sid".into(), seal_id(&keys, "app", &expired.id).unwrap());
    assert_fresh(&server_manager(&store), &browser, expired.id).await;

    // Past the absolute deadline, however recent the activity.
    let mut absolute = expired.clone();
    absolute.expires_at = now + 3_600_000;
    absolute.absolute_deadline = Some(now - 1);
    store.insert(absolute);
    assert_fresh(&server_manager(&store), &browser, expired.id).await;
}

#[tokio::test]
async fn forged_ids_are_rejected_before_any_store_round_trip() {
    let (store, manager, mut browser) = logged_in_app().await;
    // The raw id (what an unsigned scheme would send) and a re-signed id under another key.
    let id = stored_id(&browser, &manager, &store).await;
    for forged in [
        id.to_string(),
        seal_id(&KeyRing::new(key(9)), "app", &id).unwrap(),
    ] {
        browser.cookies.insert("sid".into(), forged);
        assert_fresh(&manager, &browser, id).await;
    }
    assert!(store.take_ops().is_empty());
}
