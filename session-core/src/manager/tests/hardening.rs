//! Odd cookies, limits that hold wherever a change is made, writes after the save, and policy
//! changes that reach sessions already issued.

use super::*;
use crate::error::INVALID_OWNER_BODY;
use crate::flash::FlashLevel;

/// Asserts that a request whose cookie header joins `pairs` opens a session whose cart is
/// `expected`.
async fn assert_cart(manager: &SessionManager, pairs: &[String], expected: &str) {
    let header = header_of(pairs);
    let request = manager.request(Some(header.as_str()), |_| None);
    let session = request.default_session().await.unwrap();
    let cart = session.get::<String>("cart").unwrap();
    assert_eq!(cart.as_deref(), Some(expected), "{header}");
}

#[tokio::test]
async fn a_stray_chunk_cookie_never_hides_a_valid_unchunked_session() {
    let manager = chunked_client_manager(4);
    let browser = browser_with(&manager, "cart", "apples").await;
    let real = format!("sid={}", browser.cookies["sid"]);
    for stray in ["sid.1=x", "sid.3=x", "sid.1=", "sid.2=AAAA"] {
        for pairs in [
            [real.clone(), stray.to_string()],
            [stray.to_string(), real.clone()],
        ] {
            assert_cart(&manager, &pairs, "apples").await;
        }
    }
}

#[tokio::test]
async fn a_stray_chunk_before_a_real_one_or_after_the_last_never_hides_a_chunked_session() {
    let manager = chunked_client_manager(4);
    let big: String = (0..3000)
        .map(|n| char::from(b'a' + (n % 26) as u8))
        .collect();
    let browser = browser_with(&manager, "cart", &big).await;
    assert!(
        browser.cookies.contains_key("sid.1"),
        "the value is chunked"
    );
    let real = browser.cookie_pairs();
    let chunks = real.len();
    let mut before = vec!["sid.1=x".to_string()];
    before.extend(real.iter().cloned());
    let mut after = real.clone();
    after.push(format!("sid.{chunks}=x"));
    let mut duplicated = real.clone();
    duplicated.insert(1, "sid.1=y".to_string());
    for pairs in [before, after, duplicated] {
        assert_cart(&manager, &pairs, &big).await;
    }
}

#[tokio::test]
async fn foreign_cookies_of_any_name_and_number_change_nothing() {
    let manager = chunked_client_manager(4);
    let browser = browser_with(&manager, "cart", "pears").await;
    let real = format!("sid={}", browser.cookies["sid"]);
    let mut pairs: Vec<String> = (0..40).map(|n| format!("sid=junk{n}")).collect();
    pairs.extend((1..4).map(|n| format!("sid.{n}=junk")));
    pairs.extend((0..40).map(|n| format!("other{n}=\u{1F36A}")));
    pairs.push(real);
    let header = header_of(&pairs);
    // Forty junk values of the session's own name fill its candidates, so the real one is not
    // reached: the bound is stated, and the junk gives an empty session, never an error.
    let request = manager.request(Some(header.as_str()), |_| None);
    assert!(request.default_session().await.is_ok());
    // Junk of other names changes nothing.
    let mut pairs: Vec<String> = (0..40).map(|n| format!("other{n}=junk")).collect();
    pairs.push(format!("sid={}", browser.cookies["sid"]));
    assert_cart(&manager, &pairs, "pears").await;
}

#[tokio::test]
async fn a_dead_signed_id_repeated_is_one_store_lookup() {
    let (store, manager) = server_app();
    let dead = seal_id(&KeyRing::new(key(1)), "app", &SessionId::generate()).unwrap();
    let header = header_of(&vec![format!("sid={dead}"); 8]);
    let request = manager.request(Some(header.as_str()), |_| None);
    assert!(request.default_session().await.unwrap().is_empty());
    assert_eq!(store.take_ops(), [Op::Load]);
}

#[tokio::test]
async fn set_expiry_is_refused_where_it_is_made_when_the_cookie_would_not_fit() {
    // No absolute timeout in the policy: an override with one adds a deadline as well.
    let unbounded = ExpiryPolicy {
        absolute_timeout_secs: None,
        ..policy()
    };
    let manager = client_manager_with(KeyRing::new(key(1)), unbounded, 1);
    let request = manager.request(None, |_| None);
    let session = request.default_session().await.unwrap();
    // Fill the cookie as far as it goes, to the byte.
    let mut n = 0;
    while session.insert(format!("k{n}"), "x".repeat(40)).is_ok() {
        n += 1;
    }
    let mut len = 41;
    while session.insert("k0", "x".repeat(len)).is_ok() {
        len += 1;
    }
    let long_lived = Expiry {
        idle_timeout_secs: 86_400,
        absolute_timeout_secs: Some(30 * 86_400),
        persistent: true,
    };
    let refused = session.set_expiry(long_lived);
    assert!(
        matches!(refused, Err(Error::SessionTooLarge { .. })),
        "{refused:?}"
    );
    assert_eq!(session.expiry(), None, "a refused change changes nothing");
    // What the handler was allowed to do fits after it.
    assert!(request.save_opened().await.is_ok());
}

#[tokio::test]
async fn an_owner_is_bounded_and_validated_where_it_is_set() {
    let (_store, manager) = server_app();
    let request = manager.request(None, |_| None);
    let session = request.default_session().await.unwrap();
    for bad in [
        String::new(),
        "alice\0".to_string(),
        "bob\n".to_string(),
        "x".repeat(5 * 1024 * 1024),
    ] {
        let refused = session.set_owner(bad.clone());
        assert!(
            matches!(refused, Err(Error::InvalidOwner(_))),
            "{:?}",
            bad.get(..10)
        );
        let error = refused.unwrap_err();
        assert_eq!(
            (error.status(), error.public_body()),
            (400, INVALID_OWNER_BODY)
        );
        assert_eq!(session.owner(), None);
    }
    session.set_owner("user-42").unwrap();
    assert_eq!(session.owner().as_deref(), Some("user-42"));
}

#[tokio::test]
async fn an_owner_counts_toward_max_bytes() {
    let store = Arc::new(CountingStore::default());
    let mut config = session_config(cookie_transport("sid"), "counting", policy());
    config.max_bytes = Some(64);
    let manager = SessionManager::builder(KeyRing::new(key(1)))
        .session("app", config, Backend::Server(store.clone()))
        .build()
        .unwrap();
    let request = manager.request(None, |_| None);
    let session = request.default_session().await.unwrap();
    session.insert("note", "x".repeat(40)).unwrap();
    assert!(matches!(
        session.set_owner("o".repeat(40)),
        Err(Error::SessionTooLarge { .. })
    ));
    session.set_owner("alice").unwrap();
    assert!(matches!(
        session.insert("more", "x".repeat(20)),
        Err(Error::SessionTooLarge { .. })
    ));
}

#[tokio::test]
async fn a_write_after_the_request_was_saved_is_an_error_the_caller_sees() {
    let (_store, manager) = server_app();
    let request = manager.request(None, |_| None);
    let session = request.default_session().await.unwrap();
    session.insert("user", "alice").unwrap();
    let spawned = session.clone();
    request.save_opened().await.unwrap();
    let late = spawned.insert("late", 1);
    assert!(matches!(late, Err(Error::AlreadySaved(_))), "{late:?}");
    assert!(late.unwrap_err().to_string().contains("before the handler"));
    assert!(spawned.flash(FlashLevel::Info, "lost").is_err());
    assert!(spawned.set_owner("alice").is_err());
    assert!(!spawned.remove("user"), "a late remove changes nothing");
    assert_eq!(
        spawned.get::<String>("user").unwrap().as_deref(),
        Some("alice")
    );
}

#[tokio::test]
async fn a_shortened_idle_timeout_reaches_sessions_already_issued() {
    let store = Arc::new(CountingStore::default());
    let long = ExpiryPolicy {
        idle_timeout_secs: 30 * 86_400,
        ..ExpiryPolicy::default()
    };
    let issued = server_manager_expiring(long.clone(), &store);
    let mut browser = Browser::default();
    browser
        .visit(&issued, |session| session.insert("user", "alice").unwrap())
        .await;
    let client = client_manager_with(KeyRing::new(key(1)), long, 1);
    let mut cookie_browser = Browser::default();
    cookie_browser
        .visit(&client, |session| session.insert("user", "bob").unwrap())
        .await;

    // The operator shortens the idle timeout to an hour: a deadline a month away is one the
    // current policy cannot have given.
    let shortened = server_manager(&store);
    assert_eq!(user_of(&browser, &shortened).await, None);
    let client = client_manager();
    assert_eq!(user_of(&cookie_browser, &client).await, None);
}

#[tokio::test]
async fn a_new_absolute_timeout_reaches_sessions_already_issued() {
    let (store, manager, mut browser) = logged_in_app().await;
    let id = stored_id(&browser, &manager, &store).await;
    let mut record = store.record(&id).unwrap();
    record.created_at -= 3 * 3_600_000;
    store.insert(record);
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
    let capped = ExpiryPolicy {
        idle_timeout_secs: IDLE_SECS,
        absolute_timeout_secs: Some(2 * 3600),
        ..ExpiryPolicy::default()
    };
    let capped = server_manager_expiring(capped, &store);
    assert_eq!(user_of(&browser, &capped).await, None);
    browser.cookies.clear();
}
