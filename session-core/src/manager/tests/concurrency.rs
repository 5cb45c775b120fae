//! Concurrency.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_changing_different_keys_all_persist() {
    const REQUESTS: usize = 50;
    let (_store, manager, browser) = logged_in_app().await;
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|index| {
            let manager = manager.clone();
            let browser = browser.clone();
            tokio::spawn(async move {
                let request = browser.request(&manager);
                let session = request.default_session().await.unwrap();
                tokio::task::yield_now().await;
                session.insert(format!("key{index}"), index).unwrap();
                request.save_opened().await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let request = browser.request(&manager);
    let session = request.default_session().await.unwrap();
    for index in 0..REQUESTS {
        assert_eq!(
            session.get::<usize>(&format!("key{index}")).unwrap(),
            Some(index),
            "key{index} was lost"
        );
    }
    assert_eq!(
        session.get::<String>("user").unwrap().as_deref(),
        Some("alice")
    );
}
