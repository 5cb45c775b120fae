//! The adapter through axum's own machinery: routers driven with `tower::ServiceExt::oneshot`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use session_axum::{NamedSession, Session, SessionLayer, SessionManager};
use session_stores::testing::{TestStore, ADAPTER_TEST_CONFIG};
use tower::ServiceExt;

session_axum::session_name! {
    /// The header session.
    Api = "api";
}

async fn manager(store: &Arc<TestStore>) -> SessionManager {
    store.manager(ADAPTER_TEST_CONFIG).await.unwrap()
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
async fn layer_wraps_any_tower_service() {
    let store = Arc::new(TestStore::default());
    let service = tower::service_fn(|request: Request<Body>| async move {
        let sessions = session_axum::request_sessions(&request);
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

/// A plain tower service's login gets the device record an extractor's would: the client's
/// `User-Agent`, read when the service asks for its sessions.
#[tokio::test]
async fn a_login_in_a_tower_service_records_the_client() {
    let store = Arc::new(TestStore::default());
    let manager = manager(&store).await;
    let service = tower::service_fn(|request: Request<Body>| async move {
        let sessions = session_axum::request_sessions(&request).unwrap();
        sessions
            .default_session()
            .await
            .unwrap()
            .login("carol")
            .unwrap();
        Ok::<_, Infallible>(http::Response::new(Body::empty()))
    });
    let service = tower::ServiceBuilder::new()
        .layer(SessionLayer::new(manager.clone()))
        .service(service);
    let request = get_with("/", &[("user-agent", "TowerBrowser/2.0")]);
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let devices = manager.owner_sessions("app", "carol", None).await.unwrap();
    assert_eq!(devices.len(), 1);
    let device = devices[0].device.as_ref().expect("a device record");
    assert_eq!(device.user_agent.as_deref(), Some("TowerBrowser/2.0"));
}

#[tokio::test]
async fn the_response_future_saves_only_after_a_session_was_opened() {
    use tower::{Layer, Service};

    let store = Arc::new(TestStore::default());
    let layer = SessionLayer::new(manager(&store).await);
    let mut plain = layer.layer(tower::service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(http::Response::new(Body::from("plain")))
    }));
    let future = plain.call(get_with("/", &[]));
    assert_eq!(format!("{future:?}"), "ResponseFuture { saving: false }");
    let response = future.await.unwrap();
    assert!(response.headers().get(http::header::SET_COOKIE).is_none());
    assert_eq!(store.len(), 0);

    let mut writing = layer.layer(tower::service_fn(|request: Request<Body>| async move {
        let sessions = session_axum::request_sessions(&request).unwrap();
        let session = sessions.default_session().await.unwrap();
        session.insert("user", "dave").unwrap();
        Ok::<_, Infallible>(http::Response::new(Body::from("wrote")))
    }));
    let response = writing.call(get_with("/", &[])).await.unwrap();
    assert!(cookie_pair(&response, "app_session").is_some());
    assert_eq!(store.len(), 1);
}

/// The layer passes the inner service's back-pressure on: it is ready only when the inner
/// service is.
#[tokio::test]
async fn the_service_is_ready_only_when_the_inner_one_is() {
    use std::task::{Context, Poll, Waker};
    use tower::{Layer, Service};

    /// An inner service that is never ready.
    struct Busy;
    impl Service<Request<Body>> for Busy {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Pending
        }
        fn call(&mut self, _: Request<Body>) -> Self::Future {
            std::future::ready(Ok(http::Response::new(Body::empty())))
        }
    }

    let store = Arc::new(TestStore::default());
    let mut service = SessionLayer::new(manager(&store).await).layer(Busy);
    let mut context = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut context).is_pending());
}
