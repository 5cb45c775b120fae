//! `session_rocket::testing`: requests that carry sessions minted for the test, in cookies and in
//! a session header.

use rocket::local::{asynchronous, blocking};
use rocket::{get, routes, Build, Rocket};
use session_rocket::testing::WithSession;
use session_rocket::{NamedSession, Session, SessionFairing, SessionManager};
use session_stores::testing::{
    adapter_test_setup, describe_adapter_test_sessions, TestApi, TestCart,
};

#[get("/whoami")]
fn whoami(app: Session, cart: NamedSession<TestCart>, api: NamedSession<TestApi>) -> String {
    describe_adapter_test_sessions(&app, &cart, &api)
}

fn app(manager: SessionManager) -> Rocket<Build> {
    let quiet = rocket::Config::figment().merge(("log_level", rocket::config::LogLevel::Off));
    let rocket = rocket::build()
        .configure(quiet)
        .attach(SessionFairing::new(manager));
    rocket.mount("/", routes![whoami])
}

#[rocket::async_test]
async fn requests_carry_test_sessions_in_cookies_and_headers() {
    let (manager, sessions) = adapter_test_setup().await.unwrap();
    let client = asynchronous::Client::untracked(app(manager)).await.unwrap();
    let anonymous = client.get("/whoami").dispatch().await;
    assert_eq!(anonymous.into_string().await.as_deref(), Some("- - -"));
    let logged_in = client
        .get("/whoami")
        .with_session(&sessions)
        .dispatch()
        .await;
    assert_eq!(
        logged_in.into_string().await.as_deref(),
        Some("alice apple bob")
    );
}

#[test]
fn the_blocking_client_carries_test_sessions_too() {
    let runtime = rocket::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let (manager, sessions) = runtime.unwrap().block_on(adapter_test_setup()).unwrap();
    let client = blocking::Client::untracked(app(manager)).unwrap();
    let logged_in = client.get("/whoami").with_session(&sessions).dispatch();
    assert_eq!(logged_in.into_string().as_deref(), Some("alice apple bob"));
}
