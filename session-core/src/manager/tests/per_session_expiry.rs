//! Per-session expiry.

use super::*;

#[tokio::test]
async fn a_persistent_expiry_set_on_one_session_is_carried_and_honoured() {
    const REMEMBER_SECS: u64 = 30 * 24 * 3600;
    let store = Arc::new(CountingStore::default());
    for manager in [server_manager(&store), client_manager()] {
        let mut browser = Browser::default();
        let headers = browser
            .visit(&manager, |session| session.insert("user", "alice").unwrap())
            .await;
        assert_eq!(set_cookies(&headers)[0].max_age(), None);

        let headers = browser
            .visit(&manager, |session| {
                session
                    .set_expiry(Expiry::persistent(Duration::from_secs(REMEMBER_SECS)))
                    .unwrap()
            })
            .await;
        let max_age = set_cookies(&headers)[0].max_age().unwrap().whole_seconds() as u64;
        assert!(
            (REMEMBER_SECS - 1..=REMEMBER_SECS).contains(&max_age),
            "{max_age}"
        );

        // A later request that writes still gets a persistent cookie and the long deadline.
        let headers = browser
            .visit(&manager, |session| {
                assert!(session.expiry().is_some_and(|expiry| expiry.persistent));
                assert!(session.expires_at() > now_ms() + IDLE_SECS * 1000);
                session.insert("n", 1).unwrap();
            })
            .await;
        let max_age = set_cookies(&headers)[0].max_age().unwrap().whole_seconds() as u64;
        assert!(
            (REMEMBER_SECS - 1..=REMEMBER_SECS).contains(&max_age),
            "{max_age}"
        );
    }
}
