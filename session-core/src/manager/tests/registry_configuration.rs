//! Configuration through the registry.

use super::*;

/// The manager of the configuration `toml`, built through a registry that knows the store type
/// `counting` (a new counting store) besides the built-in `cookie`.
async fn with_counting_registry(toml: &str) -> Result<SessionManager, ConfigError> {
    let config = SessionsConfig::from_toml(toml).unwrap();
    let mut registry = StoreRegistry::new();
    registry.register("counting", |_| async {
        Ok(Backend::Server(Arc::new(CountingStore::default())))
    });
    SessionManager::from_config(&config, &registry, KeyRing::new(key(1))).await
}

#[tokio::test]
async fn an_unknown_store_type_names_the_session_and_the_registered_types() {
    let error = with_counting_registry(
        "[sessions.app]\ntransport = { type = \"cookie\", name = \"sid\" }\nstore = { type = \"redis\" }",
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ConfigError::UnknownStore { .. }));
    let message = error.to_string();
    for needle in ["session `app`", "`redis`", "cookie", "counting"] {
        assert!(message.contains(needle), "{message}");
    }
}

#[tokio::test]
async fn bad_cookie_store_options_name_the_field() {
    for (options, field) in [
        ("max_chunks = 0", "max_chunks"),
        ("max_chunks = 99", "max_chunks"),
        ("max_chunk = 2", "max_chunk"),
        ("max_chunks = \"two\"", "max_chunks"),
    ] {
        let config = SessionsConfig::from_toml(&format!(
            "[sessions.cart]\ntransport = {{ type = \"cookie\", name = \"cart\" }}\nstore = {{ type = \"cookie\", {options} }}"
        ))
        .unwrap();
        let error =
            SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::new(key(1)))
                .await
                .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("session `cart`") && message.contains(field),
            "{options}: {message}"
        );
    }
}

/// The server-side session `app` on the registered `counting` store, and the client-side `cart`
/// in up to two cookies.
const APP_AND_CART: &str = "default = \"app\"\n[sessions.app]\ntransport = { type = \"cookie\", name = \"sid\" }\nstore = { type = \"counting\" }\n[sessions.cart]\ntransport = { type = \"cookie\", name = \"cart\" }\nstore = { type = \"cookie\", max_chunks = 2 }";

#[tokio::test]
async fn a_configured_manager_builds_each_store_through_the_registry() {
    let manager = with_counting_registry(APP_AND_CART).await.unwrap();
    assert_eq!(manager.default_name(), "app");
    assert!(matches!(manager.backend("app"), Some(Backend::Server(_))));
    assert!(matches!(
        manager.backend("cart"),
        Some(Backend::ClientSide(CookieStoreOptions { max_chunks: 2 }))
    ));
}

/// A cookie session `web` and a header session `api`, both client-side.
async fn web_and_api_manager() -> SessionManager {
    let config = SessionsConfig::from_toml(
        "default = \"web\"\n[sessions.web]\ntransport = { type = \"cookie\", name = \"sid\" }\nstore = { type = \"cookie\" }\n[sessions.api]\ntransport = { type = \"header\", name = \"X-Api-Session\" }\nstore = { type = \"cookie\" }",
    )
    .unwrap();
    SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::new(key(1)))
        .await
        .unwrap()
}

#[tokio::test]
async fn session_header_names_are_the_headers_request_reads() {
    let manager = web_and_api_manager().await;
    let listed: Vec<&str> = manager.session_header_names().collect();
    let asked = std::cell::RefCell::new(Vec::new());
    manager.request(std::iter::empty(), |name| {
        asked.borrow_mut().push(name.to_string());
        None
    });
    assert_eq!(listed, ["x-api-session"]);
    assert_eq!(asked.into_inner(), listed);
}

/// The `web` cookie (user alice) and `x-api-session` header value (user bob) of one request.
async fn alice_and_bob(manager: &SessionManager) -> (String, String) {
    let first = manager.request(None, |_| None);
    for (name, user) in [("web", "alice"), ("api", "bob")] {
        first
            .session(name)
            .await
            .unwrap()
            .insert("user", user)
            .unwrap();
    }
    let headers = first.save_opened().await.unwrap();
    let cookie = set_cookies(&headers)[0].stripped().to_string();
    let api = headers
        .iter()
        .find(|header| header.name() == "x-api-session")
        .unwrap()
        .value()
        .to_string();
    (cookie, api)
}

#[tokio::test]
async fn kept_headers_open_the_same_sessions_later() {
    let manager = web_and_api_manager().await;
    let (cookie, api) = alice_and_bob(&manager).await;

    let kept = manager.defer(vec![cookie.clone()], |name| {
        (name == "x-api-session").then(|| api.clone())
    });
    assert!(kept.has_cookie_header());
    let later = kept.get_or_scan(String::as_bytes, Vec::new);
    let user = |name: &'static str| async move {
        later
            .session(name)
            .await
            .unwrap()
            .get::<String>("user")
            .unwrap()
    };
    assert_eq!(user("web").await.as_deref(), Some("alice"));
    assert_eq!(user("api").await.as_deref(), Some("bob"));
    assert!(!format!("{kept:?}").contains(&api), "Debug shows no value");

    // A pair that is not UTF-8 (a sibling application's cookie) is skipped alone: the session
    // cookie beside it still opens, before or after it.
    for header in [
        [b"legacy=caf\xe9; ".as_slice(), cookie.as_bytes()].concat(),
        [cookie.as_bytes(), b"; other=\xff".as_slice()].concat(),
    ] {
        let kept = manager.defer(vec![header], |_| None);
        let readable = kept.get_or_scan(Vec::as_slice, Vec::new);
        let web = readable.session("web").await.unwrap();
        assert_eq!(web.get::<String>("user").unwrap().as_deref(), Some("alice"));
    }
}

#[tokio::test]
async fn a_junk_duplicate_before_the_real_cookie_does_not_shadow_it() {
    let (_store, manager) = server_app();
    let browser = alice_visits(&manager).await;
    let real = format!("sid={}", browser.cookies["sid"]);
    let quoted = format!("sid=\"{}\"", browser.cookies["sid"]);
    for header in [
        format!("sid=junk; {real}"),
        format!("sid=; {real}"),
        format!("{real}; sid=junk"),
        quoted,
    ] {
        let request = manager.request(Some(header.as_str()), |_| None);
        let session = request.default_session().await.unwrap();
        assert_eq!(
            session.get::<String>("user").unwrap().as_deref(),
            Some("alice"),
            "{header}"
        );
    }
}

#[tokio::test]
async fn deferred_sessions_scan_once_when_first_asked() {
    let manager = web_and_api_manager().await;
    let (cookie, _) = alice_and_bob(&manager).await;

    // The cookie comes as an extra value (a framework's own cookie store), not a kept header.
    let deferred = manager.defer(Vec::<String>::new(), |_| None);
    assert!(!deferred.has_cookie_header());
    assert!(
        deferred.scanned().is_none(),
        "nothing is scanned until asked"
    );
    let calls = std::cell::Cell::new(0);
    let extra = || {
        calls.set(calls.get() + 1);
        vec![cookie.clone()]
    };
    let sessions = Arc::clone(deferred.get_or_scan(String::as_bytes, extra));
    let again = deferred.get_or_scan(String::as_bytes, || vec![cookie.clone()]);
    assert!(Arc::ptr_eq(&sessions, again), "one scan per request");
    assert_eq!(calls.get(), 1);
    assert!(deferred.scanned().is_some());
    let web = sessions.session("web").await.unwrap();
    assert_eq!(web.get::<String>("user").unwrap().as_deref(), Some("alice"));
}
