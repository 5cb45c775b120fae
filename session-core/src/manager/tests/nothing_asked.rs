//! Nothing asked, nothing done.

use super::*;

#[tokio::test]
async fn a_request_that_extracts_no_session_touches_no_store_and_emits_nothing() {
    let (store, manager, browser) = logged_in_app().await;
    let request = browser.request(&manager);
    assert!(!request.is_opened("app"));
    assert!(request.save_opened().await.unwrap().is_empty());
    assert!(store.take_ops().is_empty());
}

#[tokio::test]
async fn an_anonymous_session_creates_no_record_and_emits_nothing() {
    let store = Arc::new(CountingStore::default());
    for manager in [server_manager(&store), client_manager()] {
        let mut browser = Browser::default();
        let headers = browser
            .visit(&manager, |session| {
                assert_eq!(session.get::<String>("user").unwrap(), None);
                assert!(session.is_empty());
            })
            .await;
        assert!(headers.is_empty());
    }
    assert!(store.take_ops().is_empty());
    assert!(store.ids().is_empty());
}
