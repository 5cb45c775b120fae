//! The adapter's behaviour, through actix-web's own test machinery.

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpResponse};
use session_actix::session_core::Backend;
use session_actix::session_core::{
    CookieConfig, CookieStoreOptions, SessionConfig, StoreConfig, Transport,
};
use session_actix::{
    session_name, Error, KeyRing, NamedSession, Session, SessionManager, SessionMiddleware,
};
use session_stores::testing::{TestStore, ADAPTER_TEST_CONFIG};

session_name! {
    /// The `cart` session: client-side, in cookie `cart`.
    Cart = "cart";
    /// The `api` session: server-side, in header `x-session`.
    Api = "api";
}

/// A manager for `ADAPTER_TEST_CONFIG`: `app` (default, server-side, cookie `app_session`),
/// `cart` (client-side) and `api` (server-side, header `x-session`), both server-side sessions in
/// `store`.
async fn manager(store: &TestStore) -> SessionManager {
    store.manager(ADAPTER_TEST_CONFIG).await.unwrap()
}

fn set_cookies<B>(response: &ServiceResponse<B>) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .map(|value| value.to_str().unwrap().to_string())
        .collect()
}

/// The `name=value` pairs of a response's `Set-Cookie` headers, as a `Cookie` header.
fn cookie_header<B>(response: &ServiceResponse<B>) -> String {
    set_cookies(response)
        .iter()
        .map(|line| line.split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// `request`, carrying the cookies `response` set.
fn with_cookies_of<B>(
    response: &ServiceResponse<B>,
    request: test::TestRequest,
) -> test::TestRequest {
    request.insert_header(("cookie", cookie_header(response)))
}

async fn body_text<B: actix_web::body::MessageBody>(response: ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(response).await.to_vec()).unwrap()
}

/// Serves `write` at `POST /write` and `read` at `GET /read` behind `manager`'s middleware, posts
/// once (which must succeed), then reads with the cookies that response set. Returns the
/// `Set-Cookie` values of the write and the body of the read.
async fn write_then_read<W, WArgs, R, RArgs>(
    manager: SessionManager,
    write: W,
    read: R,
) -> (Vec<String>, String)
where
    W: actix_web::Handler<WArgs>,
    WArgs: actix_web::FromRequest + 'static,
    W::Output: actix_web::Responder + 'static,
    R: actix_web::Handler<RArgs>,
    RArgs: actix_web::FromRequest + 'static,
    R::Output: actix_web::Responder + 'static,
{
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager))
            .route("/write", web::post().to(write))
            .route("/read", web::get().to(read)),
    )
    .await;
    let response =
        test::call_service(&app, test::TestRequest::post().uri("/write").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let request = with_cookies_of(&response, test::TestRequest::get().uri("/read")).to_request();
    let body = test::call_and_read_body(&app, request).await;
    (cookies, String::from_utf8(body.to_vec()).unwrap())
}

async fn login(session: Session) -> Result<HttpResponse, Error> {
    session.insert("user", "alice")?;
    session.regenerate_id();
    Ok(HttpResponse::Ok().finish())
}

async fn whoami(session: Session) -> Result<HttpResponse, Error> {
    let user: Option<String> = session.get("user")?;
    Ok(HttpResponse::Ok().body(user.unwrap_or_default()))
}

async fn logout(session: Session) -> HttpResponse {
    session.destroy();
    HttpResponse::Ok().finish()
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::post().to(login))
        .route("/whoami", web::get().to(whoami))
        .route("/logout", web::post().to(logout))
        .route("/health", web::get().to(health));
}

async fn app(
    store: &Arc<TestStore>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(SessionMiddleware::new(manager(store).await))
        .configure(routes)
}

/// A `GET /both` carrying `headers` in order, each on a header line of its own (so a name may
/// repeat).
fn get_both(headers: &[(&str, &str)]) -> test::TestRequest {
    headers
        .iter()
        .fold(test::TestRequest::get().uri("/both"), |request, &header| {
            request.append_header(header)
        })
}

/// Logs in on `$app` and evaluates to the `Cookie` header that carries the session.
macro_rules! logged_in {
    ($app:expr) => {{
        let request = test::TestRequest::post().uri("/login").to_request();
        let response = test::call_service($app, request).await;
        assert_eq!(response.status(), StatusCode::OK);
        cookie_header(&response)
    }};
}

#[actix_web::test]
async fn handles_are_send_and_sync_and_usable_across_await_in_a_spawned_task() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Session>();
    assert_send_sync::<NamedSession<Cart>>();
    assert_send_sync::<SessionMiddleware>();

    async fn background(session: Session, cart: NamedSession<Cart>) -> HttpResponse {
        let task = tokio::spawn(async move {
            tokio::task::yield_now().await;
            session.insert("from_task", 7)?;
            tokio::task::yield_now().await;
            cart.insert("items", ["pear"])
        });
        match task.await {
            Ok(Ok(())) => HttpResponse::Ok().finish(),
            _ => HttpResponse::InternalServerError().finish(),
        }
    }
    async fn read(session: Session) -> Result<HttpResponse, Error> {
        Ok(HttpResponse::Ok().json(session.get::<u32>("from_task")?))
    }
    let store = Arc::new(TestStore::default());
    let (cookies, body) = write_then_read(manager(&store).await, background, read).await;
    assert_eq!(cookies.len(), 2, "both changes were saved");
    assert_eq!(body, "7");
}

#[actix_web::test]
async fn a_middleware_on_a_scope_serves_only_the_routes_inside_it() {
    let store = Arc::new(TestStore::default());
    let app = test::init_service(
        App::new()
            .service(
                web::scope("/inside")
                    .wrap(SessionMiddleware::new(manager(&store).await))
                    .configure(routes),
            )
            .route("/outside/whoami", web::get().to(whoami)),
    )
    .await;
    let inside = test::TestRequest::post().uri("/inside/login").to_request();
    let response = test::call_service(&app, inside).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookies(&response).len(), 1);

    let outside = test::TestRequest::get().uri("/outside/whoami").to_request();
    let response = test::call_service(&app, outside).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body_text(response).await.contains("SessionMiddleware"));
}

#[actix_web::test]
async fn a_large_client_side_session_is_split_across_cookies_and_read_back() {
    async fn fill(session: Session) -> Result<HttpResponse, Error> {
        // Over the 4096 bytes one cookie may hold.
        let blob = "x".repeat(5000);
        session.insert("blob", &blob)?;
        Ok(HttpResponse::Ok().finish())
    }
    async fn length(session: Session) -> Result<HttpResponse, Error> {
        let blob: Option<String> = session.get("blob")?;
        Ok(HttpResponse::Ok().body(blob.map_or(0, |blob| blob.len()).to_string()))
    }
    let manager = SessionManager::builder(KeyRing::generate())
        .session(
            "big",
            SessionConfig::new(
                Transport::Cookie(CookieConfig::new("big")),
                StoreConfig::new("cookie"),
            ),
            Backend::ClientSide(CookieStoreOptions { max_chunks: 3 }),
        )
        .build()
        .unwrap();
    let (cookies, body) = write_then_read(manager, fill, length).await;
    assert!(
        cookies.len() >= 2,
        "expected chunk cookies, got {cookies:?}"
    );
    assert_eq!(body, "5000");
}

#[actix_web::test]
async fn cookies_split_across_several_cookie_headers_are_all_read() {
    async fn both(app: Session, cart: NamedSession<Cart>) -> Result<HttpResponse, Error> {
        let user: Option<String> = app.get("user")?;
        let items: Option<Vec<String>> = cart.get("items")?;
        Ok(HttpResponse::Ok().json((user, items)))
    }
    async fn add(cart: NamedSession<Cart>) -> Result<HttpResponse, Error> {
        cart.insert("items", ["fig"])?;
        Ok(HttpResponse::Ok().finish())
    }
    let store = Arc::new(TestStore::default());
    let app = test::init_service(
        app(&store)
            .await
            .route("/both", web::get().to(both))
            .route("/cart", web::post().to(add)),
    )
    .await;
    let login_cookie = logged_in!(&app);
    let response =
        test::call_service(&app, test::TestRequest::post().uri("/cart").to_request()).await;
    let cart_cookie = cookie_header(&response);

    let request = get_both(&[("cookie", &login_cookie), ("cookie", &cart_cookie)]);
    let body: serde_json::Value = test::call_and_read_body_json(&app, request.to_request()).await;
    assert_eq!(body, serde_json::json!(["alice", ["fig"]]));
}

#[actix_web::test]
async fn sessions_read_the_headers_as_they_passed_the_middleware() {
    async fn api_login(api: NamedSession<Api>) -> Result<HttpResponse, Error> {
        api.insert("token_user", "bob")?;
        Ok(HttpResponse::Ok().finish())
    }
    async fn both(
        request: actix_web::HttpRequest,
        app: Session,
        api: NamedSession<Api>,
    ) -> Result<HttpResponse, Error> {
        let stripped = request.headers().get("cookie").is_none()
            && request.headers().get("x-session").is_none();
        let user: Option<String> = app.get("user")?;
        let token_user: Option<String> = api.get("token_user")?;
        Ok(HttpResponse::Ok().json((stripped, user, token_user)))
    }
    let store = Arc::new(TestStore::default());
    // An inner middleware takes the session headers away before the handler's extractors run.
    let app = test::init_service(
        App::new()
            .wrap_fn(|mut request, service| {
                if request.path() == "/both" {
                    request.headers_mut().remove("cookie");
                    request.headers_mut().remove("x-session");
                }
                actix_web::dev::Service::call(service, request)
            })
            .wrap(SessionMiddleware::new(manager(&store).await))
            .configure(routes)
            .route("/api/login", web::post().to(api_login))
            .route("/both", web::get().to(both)),
    )
    .await;
    let cookie = logged_in!(&app);
    let response = test::call_service(
        &app,
        test::TestRequest::post().uri("/api/login").to_request(),
    )
    .await;
    let token = response
        .headers()
        .get("x-session")
        .unwrap()
        .to_str()
        .unwrap();

    let request = get_both(&[("cookie", &cookie), ("x-session", token)]);
    let body: serde_json::Value = test::call_and_read_body_json(&app, request.to_request()).await;
    assert_eq!(body, serde_json::json!([true, "alice", "bob"]));
}

#[actix_web::test]
async fn the_response_future_saves_only_after_a_session_was_opened() {
    use actix_web::dev::{fn_service, Service, ServiceRequest, Transform};
    use actix_web::FromRequest;

    let store = Arc::new(TestStore::default());
    let middleware = SessionMiddleware::new(manager(&store).await);
    let plain = middleware
        .new_transform(fn_service(|request: ServiceRequest| async move {
            Ok::<_, actix_web::Error>(request.into_response(HttpResponse::Ok().finish()))
        }))
        .await
        .unwrap();
    let future = plain.call(test::TestRequest::get().to_srv_request());
    assert_eq!(format!("{future:?}"), "ResponseFuture { saving: false }");
    let response = future.await.unwrap();
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(store.len(), 0);

    let writing = middleware
        .new_transform(fn_service(|request: ServiceRequest| async move {
            let session = Session::extract(request.request()).await?;
            session.insert("user", "dave").map_err(Error::from)?;
            Ok::<_, actix_web::Error>(request.into_response(HttpResponse::Ok().finish()))
        }))
        .await
        .unwrap();
    let response = writing
        .call(test::TestRequest::get().to_srv_request())
        .await
        .unwrap();
    assert!(response.headers().get("set-cookie").is_some());
    assert_eq!(store.len(), 1);
}
