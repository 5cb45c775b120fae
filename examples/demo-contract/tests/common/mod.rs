//! What the configuration tests share: a demo configuration, once it names the test's servers,
//! builds a manager that writes a session.

/// Builds the manager `config` describes, with every store type of `session_stores::registry`,
/// and writes a session through it: the `app` cookie comes back.
pub async fn writes_a_session(config: &str) {
    let config = session_core::SessionsConfig::from_toml(config).unwrap();
    let manager = session_core::SessionManager::from_config(
        &config,
        &session_stores::registry(),
        session_core::KeyRing::generate(),
    )
    .await
    .unwrap();
    let request = manager.request(None, |_| None);
    request
        .default_session()
        .await
        .unwrap()
        .insert("user", "alice")
        .unwrap();
    let headers = manager.save_request(request).await.unwrap();
    assert!(headers[0].value().starts_with("app_session="));
}
