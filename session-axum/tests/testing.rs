//! `session_axum::testing`: requests that carry sessions minted for the test, in cookies and in
//! a session header.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::Request;
use session_axum::testing::WithSession;
use session_axum::{NamedSession, Session, SessionLayer};
use session_stores::testing::{
    adapter_test_setup, describe_adapter_test_sessions, TestApi, TestCart,
};
use tower::ServiceExt;

async fn whoami(app: Session, cart: NamedSession<TestCart>, api: NamedSession<TestApi>) -> String {
    describe_adapter_test_sessions(&app, &cart, &api)
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
    let (manager, sessions) = adapter_test_setup().await.unwrap();
    let app = Router::new()
        .route("/whoami", get(whoami))
        .layer(SessionLayer::new(manager));
    assert_eq!(answer(&app, Request::get("/")).await, "- - -");
    let request = Request::get("/").with_session(&sessions);
    assert_eq!(answer(&app, request).await, "alice apple bob");
    // A built request carries them too.
    let request = Request::get("/whoami").body(Body::empty()).unwrap();
    let response = app.oneshot(request.with_session(&sessions)).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"alice apple bob");
}
