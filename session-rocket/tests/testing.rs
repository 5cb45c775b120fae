//! `session_rocket::testing`: requests that carry a session minted for the test.

use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use session_rocket::testing::{TestSession, WithSession};
use session_rocket::{session_name, NamedSession, Session, SessionFairing, SessionManager};
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
#[get("/whoami")]
fn whoami(app: Session, cart: NamedSession<Cart>, api: NamedSession<Api>) -> String {
    let item = cart.get::<String>("item").ok().flatten();
    let api_user = api.get::<String>("user").ok().flatten();
    [app.owner(), item, api_user]
        .map(|part| part.unwrap_or_else(|| "-".to_string()))
        .join(" ")
}

async fn client(manager: SessionManager) -> Client {
    let rocket = rocket::build()
        .configure(rocket::Config::figment().merge(("log_level", rocket::config::LogLevel::Off)))
        .attach(SessionFairing::new(manager))
        .mount("/", routes![whoami]);
    Client::untracked(rocket).await.expect("the app ignites")
}

#[rocket::async_test]
async fn a_request_with_a_test_session_is_logged_in_as_its_owner() {
    let manager = manager().await;
    let alice =
        TestSession::logged_in(&manager, "alice", |session| session.insert("user", "alice"))
            .await
            .unwrap();
    let client = client(manager).await;
    let anonymous = client.get("/whoami").dispatch().await;
    assert_eq!(anonymous.into_string().await.as_deref(), Some("- - -"));
    let logged_in = client.get("/whoami").with_session(&alice).dispatch().await;
    assert_eq!(logged_in.into_string().await.as_deref(), Some("alice - -"));
}

#[rocket::async_test]
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
    let client = client(manager).await;
    let response = client
        .get("/whoami")
        .with_session(&session)
        .dispatch()
        .await;
    assert_eq!(
        response.into_string().await.as_deref(),
        Some("alice apple bob")
    );
}
