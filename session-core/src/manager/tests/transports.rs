//! Transports and several sessions.

use super::*;

#[tokio::test]
async fn the_header_transport_reads_and_writes_the_configured_header() {
    let store = Arc::new(CountingStore::default());
    let manager = header_manager("X-Session", &store);
    let mut browser = Browser::default();
    let headers = browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    assert_eq!(headers.len(), 1);
    assert_eq!(headers[0].name(), "x-session");
    assert!(!headers[0].value().is_empty());
    assert!(browser.cookies.is_empty());
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
    // The same value in a cookie is not the session.
    let mut as_cookie = Browser::default();
    as_cookie
        .cookies
        .insert("X-Session".into(), browser.headers["x-session"].clone());
    assert_eq!(user_of(&as_cookie, &manager).await, None);
}

#[tokio::test]
async fn two_named_sessions_and_a_header_session_share_one_request() {
    let store = Arc::new(CountingStore::default());
    let manager = SessionManager::builder(KeyRing::new(key(1)))
        .session(
            "app",
            session_config(cookie_transport("app_sid"), "counting", policy()),
            Backend::Server(store.clone()),
        )
        .session(
            "cart",
            session_config(cookie_transport("cart"), "cookie", policy()),
            Backend::ClientSide(CookieStoreOptions::default()),
        )
        .session(
            "api",
            session_config(header_transport("x-api"), "counting", policy()),
            Backend::Server(store.clone()),
        )
        .default("app")
        .build()
        .unwrap();
    let mut browser = Browser::default();
    let request = browser
        .handled(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    request
        .session("cart")
        .await
        .unwrap()
        .insert("items", 2)
        .unwrap();
    request
        .session("api")
        .await
        .unwrap()
        .insert("token", "t")
        .unwrap();
    assert!(matches!(
        request.session("nope").await,
        Err(Error::UnknownSession(name)) if name == "nope"
    ));
    let headers = request.save_opened().await.unwrap();
    let mut names: Vec<_> = set_cookies(&headers)
        .iter()
        .map(|cookie| cookie.name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["app_sid", "cart"]);
    assert!(headers.iter().any(|header| header.name() == "x-api"));
    assert_eq!(store.ids().len(), 2);
    browser.receive(&headers);

    let request = browser.request(&manager);
    let app = request.session("app").await.unwrap();
    let cart = request.session("cart").await.unwrap();
    let api = request.session("api").await.unwrap();
    assert_eq!(app.get::<String>("user").unwrap().as_deref(), Some("alice"));
    assert_eq!(cart.get::<u32>("items").unwrap(), Some(2));
    assert_eq!(api.get::<String>("token").unwrap().as_deref(), Some("t"));
    assert_ne!(app.id(), api.id());
}

#[tokio::test]
async fn client_side_sessions_travel_in_a_header_too() {
    let manager = SessionManager::builder(KeyRing::new(key(1)))
        .session(
            "api",
            session_config(header_transport("x-state"), "cookie", policy()),
            Backend::ClientSide(CookieStoreOptions::default()),
        )
        .build()
        .unwrap();
    let mut browser = alice_visits(&manager).await;
    assert!(browser.headers.contains_key("x-state"));
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
    let headers = browser.visit(&manager, Session::destroy).await;
    assert_eq!(headers[0].value(), "");
    assert!(browser.headers.is_empty());
}

#[tokio::test]
async fn signed_client_sessions_are_readable_but_not_changeable() {
    let manager = SessionManager::builder(KeyRing::new(key(1)))
        .session(
            "app",
            SessionConfig {
                protection: Protection::Signed,
                ..session_config(cookie_transport("sid"), "cookie", policy())
            },
            Backend::ClientSide(CookieStoreOptions::default()),
        )
        .build()
        .unwrap();
    let browser = alice_visits(&manager).await;
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &browser.cookies["sid"],
    )
    .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    // The envelope holds keys and values in clear (length-prefixed, values as JSON text).
    assert!(
        text.contains("user") && text.contains(r#""alice""#),
        "{text}"
    );
    // Changing the readable payload breaks the MAC.
    let mut forged_bytes = bytes.clone();
    let at = bytes.windows(5).position(|w| w == b"alice").unwrap();
    forged_bytes[at..at + 5].copy_from_slice(b"admin");
    let mut tampered = browser.clone();
    tampered.cookies.insert(
        "sid".into(),
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &forged_bytes,
        ),
    );
    assert_eq!(user_of(&tampered, &manager).await, None);
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn cleanup_removes_expired_server_records() {
    let (store, manager, _browser) = logged_in_app().await;
    let mut expired = Record::new(SessionId::generate(), &Expiry::default(), 0);
    expired.expires_at = 1;
    store.insert(expired.clone());
    assert_eq!(manager.cleanup().await.unwrap(), 1);
    assert_eq!(store.ids().len(), 1);
    assert!(store.record(&expired.id).is_none());
}
