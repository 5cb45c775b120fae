//! Store failures.

use super::*;

#[tokio::test]
async fn store_errors_on_load_and_on_finish_surface_as_store_errors() {
    let store = Arc::new(CountingStore::default());
    let manager = server_manager(&store);
    let browser = logged_in(&store, &manager).await;

    store.fail_loads.store(true, Ordering::SeqCst);
    let request = browser.request(&manager);
    assert!(matches!(
        request.default_session().await,
        Err(Error::Store(_))
    ));
    store.fail_loads.store(false, Ordering::SeqCst);

    store.fail_writes.store(true, Ordering::SeqCst);
    // A stored session's write and a new session's first one.
    for browser in [browser, Browser::default()] {
        let request = browser.request(&manager);
        request
            .default_session()
            .await
            .unwrap()
            .insert("n", 1)
            .unwrap();
        assert!(matches!(request.save_opened().await, Err(Error::Store(_))));
    }
}
