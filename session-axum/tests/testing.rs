//! `session_axum::testing`: requests that carry sessions minted for the test, in cookies and in
//! a session header.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::Request;
use session_axum::testing::WithSession;
use session_axum::{NamedSession, Session, SessionLayer};
use session_stores::testing::{
    adapter_test_sessions, TestApi, TestCart, TestStore, ADAPTER_TEST_CONFIG,
};
use tower::ServiceExt;

/// The owner of `app`, the `item` of `cart` and the `user` of `api`, `-` for none.
async fn whoami(app: Session, cart: NamedSession<TestCart>, api: NamedSession<TestApi>) -> String {
    let parts = [
        app.owner(),
        cart.get("item").ok().flatten(),
        api.get("user").ok().flatten(),
    ];
    parts
        .map(|part| part.unwrap_or_else(|| "-".into()))
        .join(" ")
}

async fn answer(app: &Router, request: http::request::Builder) -> String {
    let request = request.uri("/whoami").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn requests_carry_test_sessions_in_cookies_and_headers() {
    let manager = TestStore::default()
        .manager(ADAPTER_TEST_CONFIG)
        .await
        .unwrap();
    let sessions = adapter_test_sessions(&manager).await.unwrap();
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(SessionLayer::new(manager));
    assert_eq!(answer(&app, Request::get("/")).await, "- - -");
    let request = Request::get("/").with_session(&sessions);
    assert_eq!(answer(&app, request).await, "alice apple bob");
}

#[tokio::test]
async fn a_built_request_carries_a_test_session_too() {
    let manager = TestStore::default()
        .manager(ADAPTER_TEST_CONFIG)
        .await
        .unwrap();
    let sessions = adapter_test_sessions(&manager).await.unwrap();
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(SessionLayer::new(manager));
    let request = Request::get("/whoami")
        .body(Body::empty())
        .unwrap()
        .with_session(&sessions);
    let response = app.oneshot(request).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"alice apple bob");
}
