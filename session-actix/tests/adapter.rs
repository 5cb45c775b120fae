//! The adapter's behaviour, through actix-web's own test machinery.

use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpResponse};
use session_actix::session_core::registry::Backend;
use session_actix::session_core::{
    CookieConfig, CookieStoreOptions, HeaderConfig, SessionConfig, Store, StoreConfig, Transport,
};
use session_actix::{
    session_name, Error, KeyRing, NamedSession, Session, SessionManager, SessionMiddleware,
    Sessions, INTERNAL_ERROR_BODY, STORE_UNAVAILABLE_BODY,
};
use session_stores::testing::{StoreCalls, TestStore, FAILURE_DETAIL};

session_name! {
    /// The `cart` session: client-side, in cookie `cart`.
    Cart = "cart";
    /// The `api` session: server-side, in header `x-session`.
    Api = "api";
    /// A name the manager does not know.
    Missing = "missing";
}

/// `app` (default, server-side, cookie `app_session`), `cart` and `api`.
fn manager(store: &Arc<TestStore>) -> SessionManager {
    let server = || Backend::Server(Arc::clone(store) as Arc<dyn Store>);
    SessionManager::builder(KeyRing::generate())
        .session(
            "app",
            SessionConfig::new(
                Transport::Cookie(CookieConfig::new("app_session")),
                StoreConfig::new("test"),
            ),
            server(),
        )
        .session(
            "cart",
            SessionConfig::new(
                Transport::Cookie(CookieConfig::new("cart")),
                StoreConfig::new("cookie"),
            ),
            Backend::Cookie(CookieStoreOptions::default()),
        )
        .session(
            "api",
            SessionConfig::new(
                Transport::Header(HeaderConfig {
                    name: "x-session".to_string(),
                }),
                StoreConfig::new("test"),
            ),
            server(),
        )
        .default("app")
        .build()
        .unwrap()
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

async fn body_text<B: actix_web::body::MessageBody>(response: ServiceResponse<B>) -> String {
    String::from_utf8(test::read_body(response).await.to_vec()).unwrap()
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

fn app(
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
        .wrap(SessionMiddleware::new(manager(store)))
        .configure(routes)
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
async fn extracting_twice_gives_the_same_handle() {
    async fn twice(
        first: Session,
        second: Session,
        cart: NamedSession<Cart>,
        cart_again: NamedSession<Cart>,
    ) -> Result<HttpResponse, Error> {
        first.insert("seen", true)?;
        cart.insert("items", ["apple"])?;
        let same = second.id() == first.id()
            && second.get::<bool>("seen")? == Some(true)
            && cart_again.get::<Vec<String>>("items")?.is_some();
        Ok(HttpResponse::Ok().body(same.to_string()))
    }
    let store = Arc::new(TestStore::default());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager(&store)))
            .route("/", web::get().to(twice)),
    )
    .await;
    let response = test::call_service(&app, test::TestRequest::get().to_request()).await;
    assert_eq!(set_cookies(&response).len(), 2, "one cookie per session");
    assert_eq!(body_text(response).await, "true");
    assert_eq!(
        store.calls(),
        StoreCalls {
            loads: 0,
            writes: 1,
            deletes: 0
        },
        "one record created, nothing loaded"
    );
}

#[actix_web::test]
async fn extracting_without_the_middleware_is_a_500_that_says_to_add_it() {
    let app = test::init_service(App::new().route("/whoami", web::get().to(whoami))).await;
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/whoami").to_request()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = body_text(response).await;
    assert!(
        body.contains(".wrap(SessionMiddleware::new(manager))"),
        "{body}"
    );
    assert_eq!(
        body,
        session_actix::SessionRejection::MissingMiddleware.body_text()
    );
}

#[actix_web::test]
async fn a_named_session_is_separate_from_the_default_and_travels_in_its_own_cookie() {
    async fn add(cart: NamedSession<Cart>) -> Result<HttpResponse, Error> {
        let mut items: Vec<String> = cart.get("items")?.unwrap_or_default();
        items.push("apple".to_string());
        cart.insert("items", &items)?;
        Ok(HttpResponse::Ok().json(items))
    }
    async fn both(app: Session, cart: NamedSession<Cart>) -> Result<HttpResponse, Error> {
        let user: Option<String> = app.get("user")?;
        let items: Option<Vec<String>> = cart.get("items")?;
        let in_app: Option<Vec<String>> = app.get("items")?;
        Ok(HttpResponse::Ok().json((user, items, in_app)))
    }
    let store = Arc::new(TestStore::default());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager(&store)))
            .configure(routes)
            .route("/cart", web::post().to(add))
            .route("/both", web::get().to(both)),
    )
    .await;
    let login_cookie = logged_in!(&app);

    let request = test::TestRequest::post()
        .uri("/cart")
        .insert_header(("cookie", login_cookie.clone()))
        .to_request();
    let response = test::call_service(&app, request).await;
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1, "only the cart changed: {cookies:?}");
    assert!(cookies[0].starts_with("cart="), "{cookies:?}");
    let cart_cookie = cookie_header(&response);

    let request = test::TestRequest::get()
        .uri("/both")
        .insert_header(("cookie", format!("{login_cookie}; {cart_cookie}")))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert!(set_cookies(&response).is_empty(), "reading writes nothing");
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body, serde_json::json!(["alice", ["apple"], null]));
}

#[actix_web::test]
async fn a_named_session_that_is_not_configured_is_a_500_that_names_it() {
    async fn missing(_: NamedSession<Missing>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }
    let store = Arc::new(TestStore::default());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager(&store)))
            .route("/", web::get().to(missing)),
    )
    .await;
    let response = test::call_service(&app, test::TestRequest::get().to_request()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = body_text(response).await;
    assert!(body.contains("[sessions.missing]"), "{body}");
}

#[actix_web::test]
async fn header_transport_answers_in_the_session_header_and_reads_it_back() {
    async fn api_login(api: NamedSession<Api>) -> Result<HttpResponse, Error> {
        api.insert("token_user", "bob")?;
        Ok(HttpResponse::Ok().finish())
    }
    async fn api_me(api: NamedSession<Api>) -> Result<HttpResponse, Error> {
        match api.get::<String>("token_user")? {
            Some(user) => Ok(HttpResponse::Ok().body(user)),
            None => Ok(HttpResponse::Unauthorized().finish()),
        }
    }
    let store = Arc::new(TestStore::default());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager(&store)))
            .route("/api/login", web::post().to(api_login))
            .route("/api/me", web::get().to(api_me)),
    )
    .await;
    let response = test::call_service(
        &app,
        test::TestRequest::post().uri("/api/login").to_request(),
    )
    .await;
    assert!(
        set_cookies(&response).is_empty(),
        "header sessions set no cookie"
    );
    let token = response.headers().get("x-session").unwrap().clone();
    assert!(!token.is_empty());

    let request = test::TestRequest::get()
        .uri("/api/me")
        .insert_header(("x-session", token))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get("x-session").is_none(),
        "unchanged: not resent"
    );
    assert_eq!(body_text(response).await, "bob");

    let anonymous = test::TestRequest::get().uri("/api/me").to_request();
    let response = test::call_service(&app, anonymous).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_handler_that_extracts_no_session_touches_no_store_and_sets_no_cookie() {
    let store = Arc::new(TestStore::default());
    let app = test::init_service(app(&store)).await;
    let cookie = logged_in!(&app);
    let before = store.calls();

    let request = test::TestRequest::get()
        .uri("/health")
        .insert_header(("cookie", cookie))
        .insert_header(("x-session", "anything"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty());
    assert!(response.headers().get("x-session").is_none());
    assert_eq!(store.calls(), before);
}

#[actix_web::test]
async fn a_session_that_is_only_read_is_not_written() {
    let store = Arc::new(TestStore::default());
    let app = test::init_service(app(&store)).await;
    let cookie = logged_in!(&app);
    let before = store.calls();

    let request = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("cookie", cookie))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert!(set_cookies(&response).is_empty());
    assert_eq!(body_text(response).await, "alice");
    assert_eq!(
        store.calls(),
        StoreCalls {
            loads: before.loads + 1,
            ..before
        }
    );
}

#[actix_web::test]
async fn login_regenerates_the_id_and_removes_the_old_record() {
    async fn visit(session: Session) -> Result<HttpResponse, Error> {
        session.insert("visited", true)?;
        Ok(HttpResponse::Ok().finish())
    }
    let store = Arc::new(TestStore::default());
    let app = test::init_service(app(&store).route("/visit", web::post().to(visit))).await;
    let response =
        test::call_service(&app, test::TestRequest::post().uri("/visit").to_request()).await;
    let anonymous = cookie_header(&response);
    assert_eq!(store.len(), 1);

    let request = test::TestRequest::post()
        .uri("/login")
        .insert_header(("cookie", anonymous.clone()))
        .to_request();
    let response = test::call_service(&app, request).await;
    let fresh = cookie_header(&response);
    assert!(fresh.starts_with("app_session=") && fresh != anonymous);
    assert_eq!(store.len(), 1, "the pre-login record is gone");

    let old = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("cookie", anonymous))
        .to_request();
    assert_eq!(test::call_and_read_body(&app, old).await, "");
    let new = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("cookie", fresh))
        .to_request();
    assert_eq!(test::call_and_read_body(&app, new).await, "alice");
}

#[actix_web::test]
async fn logout_deletes_the_record_and_expires_the_cookie() {
    let store = Arc::new(TestStore::default());
    let app = test::init_service(app(&store)).await;
    let cookie = logged_in!(&app);

    let request = test::TestRequest::post()
        .uri("/logout")
        .insert_header(("cookie", cookie.clone()))
        .to_request();
    let response = test::call_service(&app, request).await;
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1);
    assert!(
        cookies[0].starts_with("app_session=;") && cookies[0].contains("Max-Age=0"),
        "{cookies:?}"
    );
    assert!(store.is_empty());

    let replay = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("cookie", cookie))
        .to_request();
    assert_eq!(test::call_and_read_body(&app, replay).await, "");
}

#[actix_web::test]
async fn a_tampered_cookie_is_no_session() {
    let store = Arc::new(TestStore::default());
    let app = test::init_service(app(&store)).await;
    let cookie = logged_in!(&app);
    let tampered = cookie.replacen("app_session=", "app_session=A", 1);
    let before = store.calls();

    let request = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("cookie", tampered))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty());
    assert_eq!(body_text(response).await, "");
    assert_eq!(store.calls(), before, "a forged id never reaches the store");
}

#[actix_web::test]
async fn a_store_failure_while_loading_is_a_500_without_detail_or_cookie() {
    let store = Arc::new(TestStore::default());
    let app = test::init_service(app(&store)).await;
    let cookie = logged_in!(&app);
    store.fail();

    let request = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("cookie", cookie))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(set_cookies(&response).is_empty());
    let body = body_text(response).await;
    assert_eq!(body, STORE_UNAVAILABLE_BODY);
}

#[actix_web::test]
async fn a_store_failure_while_saving_replaces_the_response_with_a_500_without_cookie() {
    let store = Arc::new(TestStore::default());
    store.fail();
    let app = test::init_service(app(&store)).await;

    let response =
        test::call_service(&app, test::TestRequest::post().uri("/login").to_request()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(set_cookies(&response).is_empty());
    let body = body_text(response).await;
    assert!(!body.contains(FAILURE_DETAIL), "{body}");
    assert_eq!(body, STORE_UNAVAILABLE_BODY);
}

#[actix_web::test]
async fn sessions_opens_any_configured_session_by_name_and_shares_handles() {
    async fn by_name(
        sessions: Sessions,
        cart: NamedSession<Cart>,
    ) -> Result<HttpResponse, actix_web::Error> {
        let by_name = sessions.get("cart").await?;
        by_name.insert("items", ["plum"]).map_err(Error)?;
        let shared = cart.get::<Vec<String>>("items").map_err(Error)?.is_some();
        let unknown = sessions.get("nope").await.is_err();
        Ok(HttpResponse::Ok().json((shared, unknown)))
    }
    let store = Arc::new(TestStore::default());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager(&store)))
            .route("/", web::get().to(by_name)),
    )
    .await;
    let response = test::call_service(&app, test::TestRequest::get().to_request()).await;
    let cookies = set_cookies(&response);
    assert!(
        cookies.len() == 1 && cookies[0].starts_with("cart="),
        "{cookies:?}"
    );
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body, serde_json::json!([true, true]));
}

#[actix_web::test]
async fn a_handler_error_is_a_500_without_detail() {
    async fn wrong_type(session: Session) -> Result<HttpResponse, Error> {
        let user: Option<u64> = session.get("user")?;
        Ok(HttpResponse::Ok().json(user))
    }
    let store = Arc::new(TestStore::default());
    let app = test::init_service(app(&store).route("/wrong", web::get().to(wrong_type))).await;
    let cookie = logged_in!(&app);

    let request = test::TestRequest::get()
        .uri("/wrong")
        .insert_header(("cookie", cookie))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body_text(response).await, INTERNAL_ERROR_BODY);
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
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager(&store)))
            .route("/task", web::post().to(background))
            .route("/read", web::get().to(read)),
    )
    .await;
    let response =
        test::call_service(&app, test::TestRequest::post().uri("/task").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(set_cookies(&response).len(), 2, "both changes were saved");

    let request = test::TestRequest::get()
        .uri("/read")
        .insert_header(("cookie", cookie_header(&response)))
        .to_request();
    assert_eq!(test::call_and_read_body(&app, request).await, "7");
}

#[actix_web::test]
async fn a_middleware_on_a_scope_serves_only_the_routes_inside_it() {
    let store = Arc::new(TestStore::default());
    let app = test::init_service(
        App::new()
            .service(
                web::scope("/inside")
                    .wrap(SessionMiddleware::new(manager(&store)))
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
            Backend::Cookie(CookieStoreOptions { max_chunks: 3 }),
        )
        .build()
        .unwrap();
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager))
            .route("/fill", web::post().to(fill))
            .route("/length", web::get().to(length)),
    )
    .await;
    let response =
        test::call_service(&app, test::TestRequest::post().uri("/fill").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    assert!(
        cookies.len() >= 2,
        "expected chunk cookies, got {cookies:?}"
    );

    let request = test::TestRequest::get()
        .uri("/length")
        .insert_header(("cookie", cookie_header(&response)))
        .to_request();
    assert_eq!(test::call_and_read_body(&app, request).await, "5000");
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
            .route("/both", web::get().to(both))
            .route("/cart", web::post().to(add)),
    )
    .await;
    let login_cookie = logged_in!(&app);
    let response =
        test::call_service(&app, test::TestRequest::post().uri("/cart").to_request()).await;
    let cart_cookie = cookie_header(&response);

    let request = test::TestRequest::get()
        .uri("/both")
        .append_header(("cookie", login_cookie))
        .append_header(("cookie", cart_cookie))
        .to_request();
    let body: serde_json::Value =
        test::read_body_json(test::call_service(&app, request).await).await;
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
            .wrap(SessionMiddleware::new(manager(&store)))
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
    let token = response.headers().get("x-session").unwrap().clone();

    let request = test::TestRequest::get()
        .uri("/both")
        .insert_header(("cookie", cookie))
        .insert_header(("x-session", token))
        .to_request();
    let body: serde_json::Value =
        test::read_body_json(test::call_service(&app, request).await).await;
    assert_eq!(body, serde_json::json!([true, "alice", "bob"]));
}

#[actix_web::test]
async fn a_change_past_the_size_limit_is_413_and_the_session_keeps_what_it_had() {
    async fn huge(session: Session) -> Result<HttpResponse, Error> {
        session.insert("blob", "x".repeat(20_000))?;
        Ok(HttpResponse::Ok().finish())
    }
    async fn cart_huge(cart: NamedSession<Cart>) -> Result<HttpResponse, Error> {
        cart.insert("blob", "y".repeat(5_000))?;
        Ok(HttpResponse::Ok().finish())
    }
    let store = Arc::new(TestStore::default());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager(&store)))
            .configure(routes)
            .route("/huge", web::post().to(huge))
            .route("/cart-huge", web::post().to(cart_huge)),
    )
    .await;
    let cookie = logged_in!(&app);
    for path in ["/huge", "/cart-huge"] {
        let request = test::TestRequest::post()
            .uri(path)
            .insert_header(("cookie", cookie.as_str()))
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert_eq!(
            body_text(response).await,
            r#"{"error":"session too large"}"#
        );
    }
    let request = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("cookie", cookie.as_str()))
        .to_request();
    assert_eq!(
        body_text(test::call_service(&app, request).await).await,
        "alice"
    );
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Visit {
    visits: u32,
    last: String,
}

#[actix_web::test]
async fn a_typed_session_reads_and_writes_a_whole_struct() {
    async fn visit(session: Session, page: web::Path<String>) -> Result<HttpResponse, Error> {
        let mut visit: Visit = session.get_as().unwrap_or_default();
        visit.visits += 1;
        visit.last = page.into_inner();
        session.set_as(&visit)?;
        Ok(HttpResponse::Ok().body(format!("{} {}", visit.visits, visit.last)))
    }
    let store = Arc::new(TestStore::default());
    let app = test::init_service(
        App::new()
            .wrap(SessionMiddleware::new(manager(&store)))
            .route("/visit/{page}", web::get().to(visit)),
    )
    .await;
    let response = test::call_service(
        &app,
        test::TestRequest::get().uri("/visit/home").to_request(),
    )
    .await;
    let cookie = cookie_header(&response);
    assert_eq!(body_text(response).await, "1 home");
    let request = test::TestRequest::get()
        .uri("/visit/cart")
        .insert_header(("cookie", cookie.as_str()))
        .to_request();
    assert_eq!(
        body_text(test::call_service(&app, request).await).await,
        "2 cart"
    );
}
