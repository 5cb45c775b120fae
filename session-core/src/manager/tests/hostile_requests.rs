//! Hostile requests.

use super::*;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn hostile_cookie_and_header_values_give_an_empty_session(
        cookie_header in ".{0,300}",
        chunk in ".{0,100}",
        header_value in ".{0,300}",
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let store = Arc::new(CountingStore::default());
            let manager = builder_with_app(&store)
                .session(
                    "cart",
                    session_config(cookie_transport("cart"), "cookie", policy()),
                    Backend::ClientSide(CookieStoreOptions { max_chunks: 3 }),
                )
                .session(
                    "api",
                    session_config(
                        header_transport("x-api"),
                        "cookie",
                        policy(),
                    ),
                    Backend::ClientSide(CookieStoreOptions::default()),
                )
                .default("app")
                .build()
                .unwrap();
            let chunked = format!("sid={chunk}; cart={chunk}; cart.1={chunk}; cart.2={cookie_header}");
            let request = manager.request(
                [cookie_header.as_str(), chunked.as_str()],
                |name| (name == "x-api").then_some(header_value.as_str()),
            );
            for name in ["app", "cart", "api"] {
                let session = request.session(name).await.unwrap();
                assert!(session.is_empty());
            }
            assert!(request.save_opened().await.is_ok());
            assert!(store.ids().is_empty());
        });
    }
}
