//! The adapter through axum's own machinery: routers driven with `tower::ServiceExt::oneshot`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use session_axum::session_core::{Backend, Store};
use session_axum::{
    KeyRing, NamedSession, Session, SessionLayer, SessionManager, Sessions, SessionsConfig,
    StoreRegistry,
};
use session_stores::testing::TestStore;
use tower::ServiceExt;

session_axum::session_name! {
    /// The client-side cart.
    Cart = "cart";
    /// The header session.
    Api = "api";
    /// Not in the configuration.
    Missing = "missing";
}

const CONFIG: &str = r#"
default = "app"

[sessions.app]
transport = { type = "cookie", name = "app_session" }
store = { type = "test" }

[sessions.cart]
transport = { type = "cookie", name = "cart" }
store = { type = "cookie" }

[sessions.api]
transport = { type = "header", name = "x-session" }
store = { type = "test" }
"#;

async fn manager(store: &Arc<TestStore>) -> SessionManager {
    let mut registry = StoreRegistry::new();
    let store = Arc::clone(store);
    registry.register("test", move |_| {
        let store: Arc<dyn Store> = store.clone();
        async move { Ok(Backend::Server(store)) }
    });
    let config = SessionsConfig::from_toml(CONFIG).unwrap();
    SessionManager::from_config(&config, &registry, KeyRing::generate())
        .await
        .unwrap()
}

async fn send(app: &Router, request: Request<Body>) -> (Response, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (
        Response::from_parts(parts, Body::empty()),
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::get(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

/// The `name=value` part of the response's Set-Cookie for `name`.
fn cookie_pair(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or("").to_string())
        .find(|pair| pair.starts_with(&format!("{name}=")))
}

fn set_cookies(response: &Response) -> usize {
    response.headers().get_all("set-cookie").iter().count()
}

#[tokio::test]
async fn extracting_twice_returns_the_same_handle() {
    let store = Arc::new(TestStore::default());
    let app = Router::new()
        .route(
            "/",
            get(|first: Session, second: Session| async move {
                first.insert("n", 7).unwrap();
                let seen = second.get::<i32>("n").unwrap();
                format!("{} {:?}", first.id() == second.id(), seen)
            }),
        )
        .route(
            "/cart",
            get(
                |first: NamedSession<Cart>, second: NamedSession<Cart>| async move {
                    first.insert("items", ["apple"]).unwrap();
                    format!("{:?}", second.get::<Vec<String>>("items").unwrap())
                },
            ),
        )
        .layer(SessionLayer::new(manager(&store).await));

    let (response, body) = send(&app, get_with("/", &[])).await;
    assert_eq!(body, "true Some(7)");
    assert_eq!(set_cookies(&response), 1, "one session, one cookie");
    let (_, body) = send(&app, get_with("/cart", &[])).await;
    assert_eq!(body, r#"Some(["apple"])"#);
}

#[tokio::test]
async fn extractor_without_the_layer_is_500_saying_to_add_it() {
    let app = Router::new().route("/", get(|_session: Session| async { "unreachable" }));
    let (response, body) = send(&app, get_with("/", &[])).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("SessionLayer"), "{body}");
    assert!(body.contains(".layer("), "{body}");
    let rejection = session_axum::SessionRejection::MissingLayer;
    assert_eq!(
        (response.status(), body.as_str()),
        (rejection.status(), rejection.body_text().as_str())
    );

    let app = Router::new().route(
        "/",
        get(|_cart: NamedSession<Cart>| async { "unreachable" }),
    );
    let (response, body) = send(&app, get_with("/", &[])).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("SessionLayer"), "{body}");
}

#[tokio::test]
async fn unconfigured_named_session_is_500_naming_the_table_to_add() {
    let store = Arc::new(TestStore::default());
    let app = Router::new()
        .route(
            "/",
            get(|_missing: NamedSession<Missing>| async { "unreachable" }),
        )
        .layer(SessionLayer::new(manager(&store).await));
    let (response, body) = send(&app, get_with("/", &[])).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("[sessions.missing]"), "{body}");
}

#[tokio::test]
async fn named_sessions_travel_in_their_own_cookies() {
    let store = Arc::new(TestStore::default());
    let app = Router::new()
        .route(
            "/write",
            get(|app: Session, cart: NamedSession<Cart>| async move {
                app.insert("user", "alice").unwrap();
                cart.insert("items", ["apple"]).unwrap();
            }),
        )
        .route(
            "/read",
            get(|app: Session, cart: NamedSession<Cart>| async move {
                format!(
                    "{:?} {:?}",
                    app.get::<String>("user").unwrap(),
                    cart.get::<Vec<String>>("items").unwrap()
                )
            }),
        )
        .layer(SessionLayer::new(manager(&store).await));

    let (response, _) = send(&app, get_with("/write", &[])).await;
    let app_cookie = cookie_pair(&response, "app_session").expect("app_session cookie");
    let cart_cookie = cookie_pair(&response, "cart").expect("cart cookie");
    assert!(
        !cart_cookie.contains("apple"),
        "the cart is sealed: {cart_cookie}"
    );

    let both = format!("{app_cookie}; {cart_cookie}");
    let (_, body) = send(&app, get_with("/read", &[("cookie", &both)])).await;
    assert_eq!(body, r#"Some("alice") Some(["apple"])"#);
    let (_, body) = send(&app, get_with("/read", &[("cookie", &cart_cookie)])).await;
    assert_eq!(body, r#"None Some(["apple"])"#);
}

#[tokio::test]
async fn header_transport_answers_and_reads_the_session_header() {
    let store = Arc::new(TestStore::default());
    let app = Router::new()
        .route(
            "/login",
            get(|api: NamedSession<Api>| async move { api.insert("token_user", "bob").unwrap() }),
        )
        .route(
            "/me",
            get(|api: NamedSession<Api>| async move {
                format!("{:?}", api.get::<String>("token_user").unwrap())
            }),
        )
        .layer(SessionLayer::new(manager(&store).await));

    let (response, _) = send(&app, get_with("/login", &[])).await;
    assert_eq!(set_cookies(&response), 0, "a header session sets no cookie");
    let token = response.headers()["x-session"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!token.is_empty());

    let (_, body) = send(&app, get_with("/me", &[("x-session", &token)])).await;
    assert_eq!(body, r#"Some("bob")"#);
    let (_, body) = send(
        &app,
        get_with("/me", &[("cookie", &format!("app_session={token}"))]),
    )
    .await;
    assert_eq!(
        body, "None",
        "the header value is not an app_session cookie"
    );
}

#[tokio::test]
async fn handler_without_a_session_sets_no_cookie_and_touches_no_store() {
    let store = Arc::new(TestStore::default());
    let app = Router::new()
        .route(
            "/login",
            get(|session: Session| async move { session.insert("user", "alice").unwrap() }),
        )
        .route("/plain", get(|| async { "plain" }))
        .layer(SessionLayer::new(manager(&store).await));
    let (response, _) = send(&app, get_with("/login", &[])).await;
    let cookie = cookie_pair(&response, "app_session").expect("app_session cookie");
    let calls = store.calls().total();

    let (response, body) = send(&app, get_with("/plain", &[("cookie", &cookie)])).await;
    assert_eq!(body, "plain");
    assert_eq!(set_cookies(&response), 0);
    assert_eq!(
        store.calls().total(),
        calls,
        "no store access for a handler without sessions"
    );
}

#[tokio::test]
async fn sessions_read_the_headers_as_they_passed_the_layer() {
    let store = Arc::new(TestStore::default());
    let manager = manager(&store).await;
    let login = Router::new()
        .route(
            "/login",
            get(|app: Session, api: NamedSession<Api>| async move {
                app.insert("user", "alice").unwrap();
                api.insert("token_user", "bob").unwrap();
            }),
        )
        .layer(SessionLayer::new(manager.clone()));
    let (response, _) = send(&login, get_with("/login", &[])).await;
    let cookie = cookie_pair(&response, "app_session").expect("app_session cookie");
    let token = response.headers()["x-session"]
        .to_str()
        .unwrap()
        .to_string();

    // A middleware inside the layer strips the headers before the handler extracts: the sessions
    // still come from the request the layer saw, so the scan must not read the live headers.
    let app = Router::new()
        .route(
            "/me",
            get(|app: Session, api: NamedSession<Api>| async move {
                format!(
                    "{:?} {:?}",
                    app.get::<String>("user").unwrap(),
                    api.get::<String>("token_user").unwrap()
                )
            }),
        )
        .layer(axum::middleware::map_request(
            |mut request: Request<Body>| async move {
                request.headers_mut().remove("cookie");
                request.headers_mut().remove("x-session");
                request
            },
        ))
        .layer(SessionLayer::new(manager));
    let (_, body) = send(
        &app,
        get_with("/me", &[("cookie", &cookie), ("x-session", &token)]),
    )
    .await;
    assert_eq!(body, r#"Some("alice") Some("bob")"#);
}

#[tokio::test]
async fn reading_a_session_without_cookie_touches_no_store() {
    let store = Arc::new(TestStore::default());
    let app = Router::new()
        .route(
            "/",
            get(|session: Session| async move {
                format!("{:?}", session.get::<String>("user").unwrap())
            }),
        )
        .layer(SessionLayer::new(manager(&store).await));
    let (response, body) = send(&app, get_with("/", &[])).await;
    assert_eq!(body, "None");
    assert_eq!(set_cookies(&response), 0);
    assert_eq!(store.calls().total(), 0);
}

#[tokio::test]
async fn store_failure_while_loading_is_500_without_detail() {
    let store = Arc::new(TestStore::default());
    let app = Router::new()
        .route(
            "/",
            get(|session: Session| async move { session.insert("user", "alice").unwrap() }),
        )
        .layer(SessionLayer::new(manager(&store).await));
    let (response, _) = send(&app, get_with("/", &[])).await;
    let cookie = cookie_pair(&response, "app_session").expect("app_session cookie");

    store.fail();
    let (response, body) = send(&app, get_with("/", &[("cookie", &cookie)])).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, session_axum::STORE_UNAVAILABLE_BODY);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(set_cookies(&response), 0);
}

#[tokio::test]
async fn store_failure_while_saving_replaces_the_response_with_500() {
    let store = Arc::new(TestStore::default());
    store.fail();
    let app = Router::new()
        .route(
            "/",
            get(|session: Session| async move {
                session.insert("user", "alice").unwrap();
                (StatusCode::CREATED, "created")
            }),
        )
        .layer(SessionLayer::new(manager(&store).await));
    let (response, body) = send(&app, get_with("/", &[])).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, session_axum::STORE_UNAVAILABLE_BODY);
    assert_eq!(
        set_cookies(&response),
        0,
        "no cookie for a session that was not saved"
    );
}

#[tokio::test]
async fn handlers_can_return_session_errors_with_question_mark() {
    let store = Arc::new(TestStore::default());
    let app = Router::new()
        .route(
            "/",
            get(|session: Session| async move {
                session.insert("n", "text")?;
                let number: Option<u32> = session.get("n")?;
                Ok::<_, session_axum::Error>(format!("{number:?}"))
            }),
        )
        .layer(SessionLayer::new(manager(&store).await));
    let (response, body) = send(&app, get_with("/", &[])).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, session_axum::INTERNAL_ERROR_BODY);
    assert!(!body.contains("text"));
}

#[tokio::test]
async fn sessions_extractor_opens_sessions_by_name() {
    let store = Arc::new(TestStore::default());
    let app = Router::new()
        .route(
            "/",
            get(|sessions: Sessions, session: Session| async move {
                let by_name = sessions.get("app").await.unwrap();
                let default = sessions.default_session().await.unwrap();
                let missing = sessions.get("missing").await.is_err();
                format!(
                    "{} {} {missing}",
                    by_name.id() == session.id(),
                    default.id() == session.id()
                )
            }),
        )
        .layer(SessionLayer::new(manager(&store).await));
    let (_, body) = send(&app, get_with("/", &[])).await;
    assert_eq!(body, "true true true");
}

#[tokio::test]
async fn layer_wraps_any_tower_service() {
    let store = Arc::new(TestStore::default());
    let service = tower::service_fn(|request: Request<Body>| async move {
        let sessions = session_axum::request_sessions(request.extensions());
        let session = sessions.unwrap().default_session().await.unwrap();
        session.insert("user", "carol").unwrap();
        Ok::<_, Infallible>(http::Response::new(String::from("plain service")))
    });
    let service = tower::ServiceBuilder::new()
        .layer(SessionLayer::new(manager(&store).await))
        .service(service);
    let response = service.oneshot(get_with("/", &[])).await.unwrap();
    assert!(cookie_pair(&response, "app_session").is_some());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&body[..], b"plain service");
}

#[tokio::test]
async fn a_change_past_the_size_limit_is_413_and_the_session_keeps_what_it_had() {
    let store = Arc::new(TestStore::default());
    let app = Router::new()
        .route(
            "/small",
            get(|session: Session| async move {
                session.insert("note", "kept")?;
                Ok::<_, session_axum::Error>("ok")
            }),
        )
        .route(
            "/huge",
            get(|session: Session| async move {
                session.insert("blob", "x".repeat(20_000))?;
                Ok::<_, session_axum::Error>("unreachable")
            }),
        )
        .route(
            "/note",
            get(|session: Session| async move {
                format!(
                    "{:?} {}",
                    session.get::<String>("note").unwrap(),
                    session.size()
                )
            }),
        )
        .layer(SessionLayer::new(manager(&store).await));

    let (response, _) = send(&app, get_with("/small", &[])).await;
    let cookie = cookie_pair(&response, "app_session").unwrap();
    let (response, body) = send(&app, get_with("/huge", &[("cookie", &cookie)])).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body, r#"{"error":"session too large"}"#);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "the 413 is JSON"
    );
    let (_, body) = send(&app, get_with("/note", &[("cookie", &cookie)])).await;
    assert_eq!(body, r#"Some("kept") 10"#);
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Visit {
    visits: u32,
    last: String,
}

#[tokio::test]
async fn a_typed_session_reads_and_writes_a_whole_struct() {
    let store = Arc::new(TestStore::default());
    let app = Router::new()
        .route(
            "/visit/{page}",
            get(
                |session: Session, axum::extract::Path(page): axum::extract::Path<String>| async move {
                    let mut visit: Visit = session.get_as().unwrap_or_default();
                    visit.visits += 1;
                    visit.last = page;
                    session.set_as(&visit)?;
                    Ok::<_, session_axum::Error>(format!("{} {}", visit.visits, visit.last))
                },
            ),
        )
        .layer(SessionLayer::new(manager(&store).await));
    let (response, body) = send(&app, get_with("/visit/home", &[])).await;
    assert_eq!(body, "1 home");
    let cookie = cookie_pair(&response, "app_session").unwrap();
    let (_, body) = send(&app, get_with("/visit/cart", &[("cookie", &cookie)])).await;
    assert_eq!(body, "2 cart");
}
