//! `session_actix::testing`: requests that carry a session minted for the test.

use actix_web::{test, web, App, HttpResponse};
use session_actix::testing::{TestSession, WithSession};
use session_actix::{session_name, NamedSession, Session, SessionManager, SessionMiddleware};
use session_stores::testing::{TestStore, ADAPTER_TEST_CONFIG};

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
async fn whoami(app: Session, cart: NamedSession<Cart>, api: NamedSession<Api>) -> HttpResponse {
    let item = cart.get::<String>("item").ok().flatten();
    let api_user = api.get::<String>("user").ok().flatten();
    HttpResponse::Ok().body(
        [app.owner(), item, api_user]
            .map(|part| part.unwrap_or_else(|| "-".to_string()))
            .join(" "),
    )
}

async fn answer(manager: SessionManager, request: test::TestRequest) -> String {
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager))
            .route("/whoami", web::get().to(whoami)),
    )
    .await;
    let body = test::call_and_read_body(&app, request.uri("/whoami").to_request()).await;
    String::from_utf8(body.to_vec()).expect("the body is text")
}

#[actix_web::test]
async fn a_request_with_a_test_session_is_logged_in_as_its_owner() {
    let manager = manager().await;
    let alice =
        TestSession::logged_in(&manager, "alice", |session| session.insert("user", "alice"))
            .await
            .unwrap();
    assert_eq!(
        answer(manager.clone(), test::TestRequest::get()).await,
        "- - -"
    );
    let request = test::TestRequest::get().with_session(&alice);
    assert_eq!(answer(manager, request).await, "alice - -");
}

#[actix_web::test]
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
    let request = test::TestRequest::get().with_session(&session);
    assert_eq!(answer(manager, request).await, "alice apple bob");
}
