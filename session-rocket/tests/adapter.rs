//! The adapter's behaviour, driven through rocket's own local client.

use std::sync::Arc;

use rocket::http::{Cookie, CookieJar, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::{catch, catchers, get, post, routes, Build, Request, Rocket};
use session_core::SessionManager;
use session_rocket::{
    session_name, Error, NamedSession, Session, SessionFailure, SessionFairing, SessionRejection,
    Sessions,
};
use session_stores::testing::{TestStore, ADAPTER_TEST_CONFIG};

session_name! {
    Cart = "cart";
    Api = "api";
}

async fn manager(store: Arc<TestStore>) -> SessionManager {
    store.manager(ADAPTER_TEST_CONFIG).await.unwrap()
}

type Handled = Result<String, Error>;

#[get("/plain")]
fn plain() -> &'static str {
    "plain"
}

#[get("/get/<key>")]
fn read(session: Session, key: &str) -> Handled {
    Ok(session.get::<String>(key)?.unwrap_or_default())
}

#[post("/set/<key>/<value>")]
fn write(session: Session, key: &str, value: &str) -> Handled {
    session.insert(key, value)?;
    Ok(session.id().to_string())
}

#[get("/fallible")]
fn fallible(session: Result<Session, SessionRejection>) -> String {
    match session {
        Ok(_) => "opened".to_string(),
        Err(error) => error.to_string(),
    }
}

#[post("/api/<user>")]
fn api_login(api: NamedSession<Api>, user: &str) -> Handled {
    api.insert("user", user)?;
    Ok(user.to_string())
}

#[post("/jar-and-session")]
fn jar_and_session(session: Session, jar: &CookieJar<'_>) -> Handled {
    jar.add(Cookie::new("app_session", "from-the-jar"));
    jar.add(Cookie::new("theme", "dark"));
    session.insert("user", "alice")?;
    Ok(String::new())
}

#[post("/jar-only")]
fn jar_only(_session: Session, jar: &CookieJar<'_>) -> &'static str {
    jar.add(Cookie::new("app_session", "from-the-jar"));
    "jar"
}

#[post("/cart-then-missing")]
async fn cart_then_missing(cart: NamedSession<Cart>, sessions: Sessions<'_>) -> Handled {
    cart.insert("items", ["apple"])?;
    sessions.get("missing").await?;
    Ok(String::new())
}

#[get("/wrong-type")]
fn wrong_type(session: Session) -> Handled {
    session.insert("n", "not a number")?;
    let n: Option<u32> = session.get("n")?;
    Ok(format!("{n:?}"))
}

#[catch(500)]
fn internal_error(request: &Request<'_>) -> &'static str {
    match SessionFailure::of(request) {
        Some(SessionFailure::StoreUnavailable) => "our own 500: store",
        Some(_) => "our own 500: session",
        None => "our own 500",
    }
}

fn routes_only() -> Rocket<Build> {
    rocket::build()
        .mount(
            "/",
            routes![
                plain,
                read,
                write,
                fallible,
                api_login,
                jar_and_session,
                jar_only,
                cart_then_missing,
                wrong_type
            ],
        )
        .register("/", catchers![internal_error])
}

async fn client(store: Arc<TestStore>) -> Client {
    let rocket = routes_only().attach(SessionFairing::new(manager(store).await));
    Client::untracked(rocket).await.unwrap()
}

fn set_cookies(response: &LocalResponse<'_>) -> Vec<String> {
    response
        .headers()
        .get("Set-Cookie")
        .map(String::from)
        .collect()
}

/// The `name=value` pair of the one `Set-Cookie` for `name`.
fn cookie_pair(response: &LocalResponse<'_>, name: &str) -> String {
    let matching: Vec<String> = set_cookies(response)
        .into_iter()
        .filter(|value| value.starts_with(&format!("{name}=")))
        .collect();
    assert_eq!(matching.len(), 1, "one Set-Cookie for {name}: {matching:?}");
    matching[0].split(';').next().unwrap().to_string()
}

/// `response` sets no cookie at all.
fn assert_sets_no_cookie(response: &LocalResponse<'_>) {
    let cookies = set_cookies(response);
    assert!(cookies.is_empty(), "{cookies:?}");
}

async fn body(response: LocalResponse<'_>) -> String {
    response.into_string().await.unwrap_or_default()
}

#[rocket::async_test]
async fn a_guard_without_the_fairing_is_a_500_that_says_to_attach_it() {
    let client = Client::untracked(routes_only()).await.unwrap();
    let response = client.get("/get/user").dispatch().await;
    assert_eq!(response.status(), Status::InternalServerError);
    assert_eq!(body(response).await, "our own 500: session");

    let response = client.get("/fallible").dispatch().await;
    let message = body(response).await;
    assert!(message.contains("attach the session fairing"), "{message}");
}

#[rocket::async_test]
async fn a_store_failure_while_saving_is_the_apps_500_without_session_headers() {
    let store = Arc::new(TestStore::default());
    store.fail();
    let client = client(Arc::clone(&store)).await;

    let response = client.post("/jar-and-session").dispatch().await;
    assert_eq!(response.status(), Status::InternalServerError);
    assert_sets_no_cookie(&response);
    assert_eq!(body(response).await, "our own 500: store");
}

#[rocket::async_test]
async fn the_session_cookie_replaces_a_jar_cookie_of_the_same_name() {
    let client = client(Arc::default()).await;
    let response = client.post("/jar-and-session").dispatch().await;
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(cookies.iter().any(|value| value.starts_with("theme=dark")));
    let session = cookie_pair(&response, "app_session");
    assert_ne!(session, "app_session=from-the-jar");

    let response = client
        .get("/get/user")
        .header(Header::new("Cookie", session))
        .dispatch()
        .await;
    assert_eq!(body(response).await, "alice");
}

#[rocket::async_test]
async fn a_jar_cookie_of_the_sessions_name_passes_when_the_session_writes_nothing() {
    let client = client(Arc::default()).await;
    let response = client.post("/jar-only").dispatch().await;
    assert_eq!(
        cookie_pair(&response, "app_session"),
        "app_session=from-the-jar"
    );
}

#[rocket::async_test]
async fn a_tracked_client_keeps_its_session_like_a_browser() {
    let rocket = routes_only().attach(SessionFairing::new(manager(Arc::default()).await));
    let client = Client::tracked(rocket).await.unwrap();
    client.post("/set/user/carol").dispatch().await;
    let response = client.get("/get/user").dispatch().await;
    assert_eq!(body(response).await, "carol");
}

#[rocket::async_test]
async fn a_request_that_failed_on_a_session_saves_none_of_its_sessions() {
    let client = client(Arc::default()).await;
    let response = client.post("/cart-then-missing").dispatch().await;
    assert_eq!(response.status(), Status::InternalServerError);
    assert_sets_no_cookie(&response);
}

#[rocket::async_test]
async fn handlers_return_session_errors_with_question_mark_as_a_500_that_saves_nothing() {
    let store = Arc::new(TestStore::default());
    let client = client(Arc::clone(&store)).await;
    let response = client.get("/wrong-type").dispatch().await;
    assert_eq!(response.status(), Status::InternalServerError);
    assert!(set_cookies(&response).is_empty());
    assert_eq!(body(response).await, "our own 500: session");
    assert_eq!(store.len(), 0);
}

#[rocket::async_test]
async fn sessions_read_the_headers_as_the_fairing_saw_them() {
    /// The request's `Cookie` and `X-Session` headers as the handler sees them.
    struct Seen(String);

    #[rocket::async_trait]
    impl<'r> rocket::request::FromRequest<'r> for Seen {
        type Error = ();

        async fn from_request(
            request: &'r Request<'_>,
        ) -> rocket::request::Outcome<Self, Self::Error> {
            let headers = request.headers();
            let seen = format!(
                "{} {}",
                headers.get_one("Cookie").unwrap_or_default(),
                headers.get_one("X-Session").unwrap_or_default()
            );
            rocket::request::Outcome::Success(Seen(seen))
        }
    }

    #[get("/both")]
    fn both(seen: Seen, session: Session, api: NamedSession<Api>) -> Handled {
        Ok(format!(
            "{} | {} {}",
            seen.0,
            session.get::<String>("user")?.unwrap_or_default(),
            api.get::<String>("user")?.unwrap_or_default()
        ))
    }

    let store = Arc::new(TestStore::default());
    // A request fairing attached after the session fairing rewrites the session headers.
    let rocket = routes_only()
        .mount("/", routes![both])
        .attach(SessionFairing::new(manager(Arc::clone(&store)).await))
        .attach(rocket::fairing::AdHoc::on_request(
            "rewrite",
            |request, _| {
                Box::pin(async move {
                    if request.uri().path() == "/both" {
                        request.replace_header(Header::new("Cookie", "app_session=rewritten"));
                        request.replace_header(Header::new("X-Session", "rewritten"));
                    }
                })
            },
        ));
    let client = Client::untracked(rocket).await.unwrap();
    let response = client.post("/set/user/alice").dispatch().await;
    let cookie = cookie_pair(&response, "app_session");
    let response = client.post("/api/bob").dispatch().await;
    let token = response.headers().get_one("x-session").unwrap().to_string();

    let response = client
        .get("/both")
        .header(Header::new("Cookie", cookie))
        .header(Header::new("X-Session", token))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        body(response).await,
        "app_session=rewritten rewritten | alice bob"
    );
}
