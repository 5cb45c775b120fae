//! First write, cookie attributes.

use super::*;

#[tokio::test]
async fn the_first_write_creates_a_record_and_sets_the_configured_cookie() {
    let store = Arc::new(CountingStore::default());
    let transport = Transport::Cookie(CookieConfig {
        name: "sid".into(),
        secure: true,
        http_only: true,
        same_site: SameSite::Strict,
        path: "/app".into(),
        domain: Some("example.com".into()),
    });
    let manager = server_manager_with(KeyRing::new(key(1)), transport, policy(), &store);
    let mut browser = Browser::default();
    let headers = browser
        .visit(&manager, |session| session.insert("user", "alice").unwrap())
        .await;
    assert_eq!(store.take_ops(), [Op::Create]);
    assert_eq!(store.ids().len(), 1);

    let cookies = set_cookies(&headers);
    assert_eq!(cookies.len(), 1);
    let cookie = &cookies[0];
    assert_eq!(cookie.name(), "sid");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true));
    assert_eq!(cookie.same_site(), Some(cookie::SameSite::Strict));
    assert_eq!(cookie.path(), Some("/app"));
    assert_eq!(cookie.domain(), Some("example.com"));
    assert_eq!(
        cookie.max_age(),
        None,
        "a browser-session cookie has no Max-Age"
    );

    // Attributes switched off are absent, not `false`.
    let relaxed = Transport::Cookie(CookieConfig {
        secure: false,
        http_only: false,
        ..CookieConfig::new("sid")
    });
    let manager = server_manager_with(KeyRing::new(key(1)), relaxed, policy(), &store);
    let headers = Browser::default()
        .visit(&manager, |session| session.insert("user", "bob").unwrap())
        .await;
    let text = headers[0].value();
    assert!(
        !text.contains("Secure") && !text.contains("HttpOnly"),
        "{text}"
    );
}

#[tokio::test]
async fn persistent_sessions_carry_max_age() {
    let store = Arc::new(CountingStore::default());
    let persistent = ExpiryPolicy {
        persistent: true,
        ..policy()
    };
    let server = server_manager_expiring(persistent.clone(), &store);
    let client = client_manager_with(KeyRing::new(key(1)), persistent, 1);
    for manager in [server, client] {
        let headers = Browser::default()
            .visit(&manager, |session| session.insert("user", "alice").unwrap())
            .await;
        let max_age = set_cookies(&headers)[0].max_age().unwrap().whole_seconds();
        assert!(
            (IDLE_SECS as i64 - 1..=IDLE_SECS as i64).contains(&max_age),
            "{max_age}"
        );
    }
}

#[tokio::test]
async fn the_cookie_opens_the_same_session_on_the_next_request() {
    let store = Arc::new(CountingStore::default());
    for manager in [server_manager(&store), client_manager()] {
        let mut browser = Browser::default();
        let mut first_id = None;
        browser
            .visit(&manager, |session| {
                session.insert("user", "alice").unwrap();
                first_id = Some(session.id());
            })
            .await;
        let request = browser.request(&manager);
        let session = request.default_session().await.unwrap();
        assert_eq!(Some(session.id()), first_id);
        assert_eq!(
            session.get::<String>("user").unwrap().as_deref(),
            Some("alice")
        );
        // Every extraction in a request gets the same handle.
        let again = request.default_session().await.unwrap();
        again.insert("n", 1).unwrap();
        assert_eq!(session.get::<u32>("n").unwrap(), Some(1));
    }
}

#[tokio::test]
async fn response_headers_do_not_print_session_values() {
    let store = Arc::new(CountingStore::default());
    let header_manager = header_manager("x-session", &store);
    for manager in [server_manager(&store), client_manager(), header_manager] {
        let headers = Browser::default()
            .visit(&manager, |session| session.insert("user", "alice").unwrap())
            .await;
        let value = headers[0].value();
        let sealed = value
            .split(';')
            .next()
            .and_then(|pair| pair.split('=').nth(1))
            .unwrap_or(value);
        let printed = format!("{headers:?}");
        assert!(sealed.len() > 40 && !printed.contains(sealed), "{printed}");
        assert!(
            printed.contains("sid") || printed.contains("x-session"),
            "{printed}"
        );
    }
}
