//! Store failures.

use super::*;

#[tokio::test]
async fn store_errors_on_load_and_on_finish_surface_as_store_errors() {
    let (store, manager, browser) = logged_in_app().await;

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
        let request = browser
            .handled(&manager, |session| session.insert("n", 1).unwrap())
            .await;
        assert!(matches!(request.save_opened().await, Err(Error::Store(_))));
    }
}
