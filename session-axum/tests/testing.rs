//! `session_axum::testing`: requests that carry a session minted for the test.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::Request;
use session_axum::testing::{TestSession, WithSession};
use session_axum::{session_name, NamedSession, Session, SessionLayer, SessionManager};
use session_stores::testing::{TestStore, ADAPTER_TEST_CONFIG};
use tower::ServiceExt;

session_name! {
    /// The client-side session.
    Cart = "cart";
    /// The header session.
    Api = "api";
}

async fn manager() -> SessionManager {
    TestStore::default()
        .manager(ADAPTER_TEST_CONFIG)
        .await
        .expect("the test manager builds")
}

/// Who the request's sessions say it is: `owner cart-item api-user`, `-` for none.
fn app(manager: SessionManager) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(
                |app: Session, cart: NamedSession<Cart>, api: NamedSession<Api>| async move {
                    let item = cart.get::<String>("item").ok().flatten();
                    let api_user = api.get::<String>("user").ok().flatten();
                    [app.owner(), item, api_user]
                        .map(|part| part.unwrap_or_else(|| "-".to_string()))
                        .join(" ")
                },
            ),
        )
        .layer(SessionLayer::new(manager))
}

async fn whoami(app: &Router, request: Request<Body>) -> String {
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body reads");
    String::from_utf8(body.to_vec()).expect("the body is text")
}

#[tokio::test]
async fn a_request_with_a_test_session_is_logged_in_as_its_owner() {
    let manager = manager().await;
    let alice =
        TestSession::logged_in(&manager, "alice", |session| session.insert("user", "alice"))
            .await
            .unwrap();
    let app = app(manager);

    let request = Request::get("/whoami").body(Body::empty()).unwrap();
    assert_eq!(whoami(&app, request).await, "- - -");
    let request = Request::get("/whoami")
        .body(Body::empty())
        .unwrap()
        .with_session(&alice);
    assert_eq!(whoami(&app, request).await, "alice - -");
}

#[tokio::test]
async fn test_sessions_of_several_names_travel_together_in_cookies_and_headers() {
    let manager = manager().await;
    let session =
        TestSession::logged_in(&manager, "alice", |session| session.insert("user", "alice"))
            .await
            .unwrap()
            .and(
                TestSession::with(&manager, Some("cart"), |cart| cart.insert("item", "apple"))
                    .await
                    .unwrap(),
            )
            .and(
                TestSession::with(&manager, Some("api"), |api| api.insert("user", "bob"))
                    .await
                    .unwrap(),
            );
    let app = app(manager);
    let request = Request::get("/whoami")
        .with_session(&session)
        .body(Body::empty())
        .unwrap();
    assert_eq!(whoami(&app, request).await, "alice apple bob");
}

#[tokio::test]
async fn a_test_session_that_holds_nothing_is_an_error_that_says_what_to_add() {
    let manager = manager().await;
    let error = TestSession::logged_in(&manager, "alice", |_| Ok(()))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("holds no value"), "{error}");
    let error = TestSession::with(&manager, Some("carts"), |_| Ok(()))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("[sessions.carts]"), "{error}");
}
