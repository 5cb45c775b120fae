//! Cookie size.

use super::*;

/// Text that does not compress, so its sealed size is predictable.
fn incompressible(len: usize) -> String {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect()
}

#[tokio::test]
async fn an_oversized_client_session_is_an_error_not_a_dropped_cookie() {
    let manager = client_manager();
    let request = Browser::default().request(&manager);
    let session = request.default_session().await.unwrap();
    session.insert("small", 1).unwrap();
    // Refused where the handler makes the change, not after it: the session keeps what it had.
    let error = session.insert("blob", incompressible(3500)).unwrap_err();
    match &error {
        Error::SessionTooLarge {
            name, size, limit, ..
        } => {
            assert_eq!(name, "app");
            assert!(*size > *limit && *limit < COOKIE_SIZE_LIMIT);
        }
        other => panic!("expected SessionTooLarge, got {other:?}"),
    }
    assert_eq!(error.status(), 413);
    assert_eq!(session.keys(), ["small"]);
    // A value replaced past the limit keeps the one it had.
    assert!(matches!(
        session.insert("small", incompressible(3500)),
        Err(Error::SessionTooLarge { .. })
    ));
    assert_eq!(session.get::<u32>("small").unwrap(), Some(1));
    let flash =
        (0..100).try_for_each(|_| session.flash(crate::FlashLevel::Info, incompressible(100)));
    assert!(matches!(flash, Err(Error::SessionTooLarge { .. })));
    let headers = request.save_opened().await.unwrap();
    assert!(headers[0].value().len() <= COOKIE_SIZE_LIMIT);

    // Just under the limit still fits one cookie.
    let request = Browser::default().request(&manager);
    let session = request.default_session().await.unwrap();
    session.insert("blob", incompressible(2500)).unwrap();
    let headers = request.save_opened().await.unwrap();
    assert!(headers[0].value().len() <= COOKIE_SIZE_LIMIT);
}

#[tokio::test]
async fn overlapping_responses_never_leave_chunks_that_do_not_open_together() {
    let manager = chunked_client_manager(4);
    let mut browser = browser_with(&manager, "cart", "one item").await;
    // Two tabs send the same one-chunk cart: R1 grows it to two chunks, R2 writes one.
    let (r1, r2) = (browser.request(&manager), browser.request(&manager));
    r1.default_session()
        .await
        .unwrap()
        .insert("cart", incompressible(5000))
        .unwrap();
    r2.default_session()
        .await
        .unwrap()
        .insert("note", "small")
        .unwrap();
    let grown = r1.save_opened().await.unwrap();
    let small = r2.save_opened().await.unwrap();
    browser.receive(&grown);
    browser.receive(&small);
    assert_eq!(
        browser.cookies.keys().collect::<Vec<_>>(),
        ["sid"],
        "the later response must expire the chunk the earlier one set"
    );
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    assert_eq!(
        session.get::<String>("note").unwrap().as_deref(),
        Some("small")
    );
}

#[tokio::test]
async fn large_client_sessions_are_split_into_chunks_and_reassembled() {
    let manager = chunked_client_manager(3);
    let mut browser = Browser::default();
    let blob = incompressible(5000);
    let headers = browser
        .visit(&manager, |session| session.insert("blob", &blob).unwrap())
        .await;
    let names: Vec<_> = set_cookies(&headers)
        .iter()
        .map(|cookie| cookie.name().to_string())
        .collect();
    // Every other chunk name the session may use is expired: an overlapping response may have
    // left one in the browser.
    assert_eq!(names, ["sid", "sid.1", "sid.2"]);
    assert!(is_removal(&set_cookies(&headers)[2]));
    for header in &headers {
        assert!(
            header.value().len() <= COOKIE_SIZE_LIMIT,
            "{}",
            header.value().len()
        );
        assert!(header.value().contains("HttpOnly"));
    }
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    assert_eq!(
        session.get::<String>("blob").unwrap().as_deref(),
        Some(&*blob)
    );
    drop(request);

    // Three chunks at most: more is refused where the handler makes the change, and what does
    // fit the three chunks is sent.
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    assert!(matches!(
        session.insert("blob", incompressible(12_000)),
        Err(Error::SessionTooLarge { .. })
    ));
    session.insert("blob", incompressible(8_500)).unwrap();
    let filled = request.save_opened().await.unwrap();
    assert_eq!(
        set_cookies(&filled)
            .iter()
            .filter(|c| !is_removal(c))
            .count(),
        3
    );

    // Shrinking back to one cookie expires the stale chunk.
    let headers = browser
        .visit(&manager, |session| session.insert("blob", "small").unwrap())
        .await;
    let cookies = set_cookies(&headers);
    assert_eq!(cookies.len(), 3);
    assert_eq!(cookies[0].name(), "sid");
    assert!(!is_removal(&cookies[0]));
    assert_eq!(cookies[1].name(), "sid.1");
    assert!(is_removal(&cookies[1]) && is_removal(&cookies[2]));
    assert_eq!(browser.cookies.keys().collect::<Vec<_>>(), ["sid"]);
    assert_eq!(
        default_session(&browser, &manager)
            .await
            .get::<String>("blob")
            .unwrap()
            .as_deref(),
        Some("small")
    );
}

#[tokio::test]
async fn stray_chunk_cookies_are_expired_and_do_not_corrupt_later_sessions() {
    let manager = chunked_client_manager(3);
    let mut browser = alice_visits(&manager).await;
    // A chunk left behind from an earlier, longer session (its sibling `sid.1` already gone).
    browser.cookies.insert("sid.2".into(), "QUFBQQ".into());
    let headers = browser
        .visit(&manager, |session| session.insert("n", 1).unwrap())
        .await;
    assert!(
        set_cookies(&headers)
            .iter()
            .any(|cookie| cookie.name() == "sid.2" && is_removal(cookie)),
        "{headers:?}"
    );
    assert_eq!(browser.cookies.keys().collect::<Vec<_>>(), ["sid"]);
    // Had it stayed, a later two-chunk session would be read as sid + sid.1 + sid.2.
    browser
        .visit(&manager, |session| {
            session.insert("blob", incompressible(5000)).unwrap()
        })
        .await;
    assert_eq!(user_of(&browser, &manager).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn only_canonical_chunk_names_are_read_as_chunks() {
    let manager = chunked_client_manager(3);
    let browser = alice_visits(&manager).await;
    for alias in ["sid.01", "sid.+1", "sid.0", "sid.3", "sid.1a"] {
        let mut with_alias = browser.clone();
        with_alias.cookies.insert(alias.into(), "QUFBQQ".into());
        assert_eq!(
            user_of(&with_alias, &manager).await.as_deref(),
            Some("alice"),
            "{alias:?} was read as a chunk"
        );
    }
}

#[tokio::test]
async fn destroying_a_chunked_session_expires_every_chunk() {
    let manager = chunked_client_manager(3);
    let mut browser = browser_with(&manager, "blob", incompressible(5000)).await;
    assert_eq!(browser.cookies.len(), 2);
    let headers = browser.visit(&manager, Session::destroy).await;
    assert!(set_cookies(&headers).iter().all(is_removal));
    assert!(browser.cookies.is_empty());
}
