//! `session_actix::testing`: requests that carry sessions minted for the test, in cookies and in
//! a session header.

use actix_web::{test, web, App};
use session_actix::testing::WithSession;
use session_actix::{NamedSession, Session, SessionMiddleware};
use session_stores::testing::{
    adapter_test_setup, describe_adapter_test_sessions, TestApi, TestCart,
};

async fn whoami(app: Session, cart: NamedSession<TestCart>, api: NamedSession<TestApi>) -> String {
    describe_adapter_test_sessions(&app, &cart, &api)
}

#[actix_web::test]
async fn requests_carry_test_sessions_in_cookies_and_headers() {
    let (manager, sessions) = adapter_test_setup().await.unwrap();
    let app = App::new().wrap(SessionMiddleware::new(manager));
    let app = test::init_service(app.route("/whoami", web::get().to(whoami))).await;
    let anonymous = test::TestRequest::get().uri("/whoami").to_request();
    assert_eq!(
        &test::call_and_read_body(&app, anonymous).await[..],
        b"- - -"
    );
    let request = test::TestRequest::get()
        .uri("/whoami")
        .with_session(&sessions);
    let body = test::call_and_read_body(&app, request.to_request()).await;
    assert_eq!(&body[..], b"alice apple bob");
}
