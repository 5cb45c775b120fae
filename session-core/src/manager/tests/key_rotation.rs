//! Key rotation.

use super::*;

#[tokio::test]
async fn a_server_side_id_under_an_old_key_is_resealed_without_a_store_write() {
    let store = Arc::new(CountingStore::default());
    let old = server_manager(&store);
    let mut browser = logged_in(&store, &old).await;
    let before = browser.cookies["sid"].clone();

    let rotated = server_manager_keyed(KeyRing::new(key(2)).with_old_key(key(1)), &store);
    let headers = browser
        .visit(&rotated, |session| {
            session.get::<String>("user").unwrap();
        })
        .await;
    assert_eq!(
        store.take_ops(),
        [Op::Load],
        "resealing an id needs no write"
    );
    assert_eq!(set_cookies(&headers).len(), 1);
    assert_ne!(browser.cookies["sid"], before);

    // The new cookie opens with the new key alone, so the old key can be dropped.
    let new_only = server_manager_keyed(KeyRing::new(key(2)), &store);
    assert_eq!(user_of(&browser, &new_only).await.as_deref(), Some("alice"));
    // And once resealed, nothing more is sent.
    assert!(browser.visit(&rotated, |_| {}).await.is_empty());
}

#[tokio::test]
async fn a_server_side_id_under_an_old_key_is_resealed_when_the_request_writes() {
    let store = Arc::new(CountingStore::default());
    let old = server_manager(&store);
    let mut browser = logged_in(&store, &old).await;
    let rotated = server_manager_keyed(KeyRing::new(key(2)).with_old_key(key(1)), &store);
    let headers = browser
        .visit(&rotated, |session| session.insert("n", 1).unwrap())
        .await;
    assert_eq!(store.take_ops(), [Op::Load, touched(&["n"], &[])]);
    assert_eq!(set_cookies(&headers).len(), 1, "the id is resealed");
    let new_only = server_manager_keyed(KeyRing::new(key(2)), &store);
    assert_eq!(user_of(&browser, &new_only).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn a_client_side_value_under_an_old_key_is_resealed_under_the_primary() {
    let mut browser = Browser::default();
    browser
        .visit(&client_manager(), |session| {
            session.insert("user", "alice").unwrap()
        })
        .await;
    let rotated = client_manager_with(KeyRing::new(key(2)).with_old_key(key(1)), policy(), 1);
    let headers = browser.visit(&rotated, |_| {}).await;
    assert_eq!(set_cookies(&headers).len(), 1);
    let new_only = client_manager_with(KeyRing::new(key(2)), policy(), 1);
    assert_eq!(user_of(&browser, &new_only).await.as_deref(), Some("alice"));
    assert!(browser.visit(&rotated, |_| {}).await.is_empty());
}
