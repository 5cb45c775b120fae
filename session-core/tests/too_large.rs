//! What a handler is told when a change would take a session past its size limit: the message
//! names what helps for the limit that was hit.

use session_core::{KeyRing, SessionManager, SessionsConfig, StoreRegistry};

/// Text that no compression shrinks much: hex digits of a xorshift sequence.
fn noise(len: usize) -> String {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from_digit((state % 16) as u32, 16).unwrap_or('0')
        })
        .collect()
}

/// The message of the refusal to put `len` bytes of noise into a client-side session `cart`
/// configured with the extra `settings` lines.
async fn refusal(settings: &str, len: usize) -> String {
    let config = SessionsConfig::from_toml(&format!(
        r#"
        [sessions.cart]
        transport = {{ type = "cookie", name = "cart" }}
        store = {{ type = "cookie" }}
        {settings}
        "#
    ))
    .unwrap();
    let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate())
        .await
        .unwrap();
    let request = manager.request(None, |_| None);
    let session = request.default_session().await.unwrap();
    let error = session.insert("blob", noise(len)).unwrap_err();
    assert_eq!(error.status(), 413, "{error}");
    error.to_string()
}

#[tokio::test]
async fn a_cookie_session_past_what_its_cookies_hold_is_told_about_chunks_and_server_stores() {
    let message = refusal("", 12_000).await;
    assert!(
        message.contains("session `cart`")
            && message.contains("`max_chunks`")
            && message.contains("server-side store"),
        "{message}"
    );
    assert!(
        !message.contains("max_bytes"),
        "raising max_bytes does not make the cookies hold more: {message}"
    );
}

#[tokio::test]
async fn a_cookie_session_past_its_own_max_bytes_is_told_to_raise_it() {
    let message = refusal("max_bytes = 100", 200).await;
    assert!(
        message.contains("over its 100-byte limit") && message.contains("`max_bytes`"),
        "{message}"
    );
}
