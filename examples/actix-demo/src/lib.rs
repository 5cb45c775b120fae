//! The demo contract (`docs/DEMO_CONTRACT.md` in the repository) on actix-web.
//!
//! [`app`] builds the whole application around a [`SessionMiddleware`]; [`configure`] adds just the
//! routes, for an `App` or scope that already has a [`SessionMiddleware`]. The binary
//! (`main.rs`) only starts it from the environment with `demo-contract`'s start-up support.
//!
//! ```
//! use actix_web::test;
//! use session_actix::{KeyRing, SessionManager, SessionMiddleware, SessionsConfig};
//!
//! # #[actix_web::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionsConfig::from_toml(demo_contract::DEFAULT_CONFIG)?;
//! let manager =
//!     SessionManager::from_config(&config, &demo_contract::registry(), KeyRing::generate()).await?;
//! let app = test::init_service(actix_demo::app(SessionMiddleware::new(manager))).await;
//!
//! let health = test::TestRequest::get().uri("/health").to_request();
//! assert_eq!(test::call_and_read_body(&app, health).await, r#"{"ok":true}"#);
//! # Ok(())
//! # }
//! ```

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse};
use demo_contract::{
    counter_key, decode_segment, is_json_content_type, log_in, parse_body, CartItemRequest,
    CartResponse, CounterResponse, ErrorResponse, FlashRequest, FlashesResponse, LoginRequest,
    OkResponse, RevokedResponse, SessionsResponse, UserResponse, ITEMS_KEY, MAX_BODY_BYTES, PAGE,
    SECURITY_HEADERS, TOKEN_USER_KEY, USER_KEY,
};
use serde::de::DeserializeOwned;
use session_actix::{Error, FlashLevel, NamedSession, Session, SessionMiddleware, SessionName};

/// The `cart` session: client-side, in the `cart` cookie.
pub struct Cart;

impl SessionName for Cart {
    const NAME: &'static str = demo_contract::CART;
}

/// The `api` session: server-side, in the `x-session` header.
pub struct Api;

impl SessionName for Api {
    const NAME: &'static str = demo_contract::API;
}

/// The whole demo: [`configure`]'s routes behind `sessions` (build it once with
/// `SessionMiddleware::new(manager)` and clone it into each server worker).
///
/// Every error is JSON: [`configure`]'s own, and whatever actix-web itself rejects (a body over
/// [`MAX_BODY_BYTES`] is `413`, a path that does not decode `400`, a failed middleware `500`),
/// which keeps its status with the body [`ErrorResponse::for_status`] gives it.
pub fn app(
    sessions: SessionMiddleware,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(sessions.manager().clone()))
        .wrap(sessions)
        .wrap_fn(|request, service| {
            let response = service.call(request);
            async move {
                match response.await {
                    Ok(response) => Ok(json_errors(response.map_into_boxed_body())),
                    Err(error) => Err(json_error(error)),
                }
            }
        })
        .wrap(
            SECURITY_HEADERS
                .into_iter()
                .fold(DefaultHeaders::new(), DefaultHeaders::add),
        )
        .configure(configure)
}

/// An error a middleware returned, answered in JSON when its own response is not.
fn json_error(error: actix_web::Error) -> actix_web::Error {
    let response = error.error_response();
    if is_json(response.headers()) {
        return error;
    }
    let status = response.status();
    let json = HttpResponse::build(status).json(ErrorResponse::for_status(status.as_u16()));
    actix_web::error::InternalError::from_response(error, json).into()
}

fn is_json(headers: &header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"))
}

/// Gives an error response that is not JSON yet (actix-web's own rejections) the contract's
/// JSON body for its status, keeping the status and the other headers.
fn json_errors(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    // A known path with another method: actix-web answers an empty 405, the other demos the
    // contract's 404 for an unknown route.
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let (request, _) = response.into_parts();
        return ServiceResponse::new(
            request,
            HttpResponse::NotFound().json(ErrorResponse::not_found()),
        );
    }
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let body = serde_json::to_vec(&ErrorResponse::for_status(status.as_u16())).unwrap_or_default();
    response.map_body(|head, _| {
        head.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        BoxBody::new(body)
    })
}

/// The contract's routes. Unknown routes answer `404 {"error":"not found"}`, bodies over
/// [`MAX_BODY_BYTES`] `413`, paths that do not decode `400`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .route("/", web::get().to(page))
        .route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics))
        .route("/login", web::post().to(login))
        .route("/me", web::get().to(me))
        .route("/logout", web::post().to(logout))
        .route("/remember", web::post().to(remember))
        .route("/sessions", web::get().to(sessions))
        .route("/sessions/{id}", web::delete().to(end_session))
        .route("/logout-others", web::post().to(logout_others))
        .route("/logout-everywhere", web::post().to(logout_everywhere))
        .route("/flash", web::post().to(add_flash))
        .route("/flash", web::get().to(take_flashes))
        .route("/counter/{key}", web::post().to(increment))
        .route("/counter/{key}", web::get().to(counter))
        .route("/cart/items", web::post().to(add_item))
        .route("/cart", web::get().to(cart))
        .route("/api/login", web::post().to(api_login))
        .route("/api/me", web::get().to(api_me))
        .default_service(web::to(not_found));
}

/// A handler's outcome: a response, a contract error (400, 415), or a session failure (413, 500).
type Reply = Result<HttpResponse, Failure>;

/// Why a handler did not answer 200.
#[derive(Debug)]
enum Failure {
    BadRequest(ErrorResponse),
    NotJson,
    Session(Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::BadRequest(body) => f.write_str(&body.error),
            Failure::NotJson => f.write_str(&ErrorResponse::expected_json().error),
            Failure::Session(error) => error.fmt(f),
        }
    }
}

impl actix_web::ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        match self {
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Failure::Session(error) if error.0.is_too_large() => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Session(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Failure::BadRequest(body) => HttpResponse::BadRequest().json(body),
            Failure::NotJson => {
                HttpResponse::UnsupportedMediaType().json(ErrorResponse::expected_json())
            }
            // The change was refused before it reached the session, which keeps what it had.
            Failure::Session(error) if error.0.is_too_large() => {
                tracing::info!(error = %error.0, "refused a change");
                HttpResponse::PayloadTooLarge().json(ErrorResponse::session_too_large())
            }
            Failure::Session(error) => error.error_response(),
        }
    }
}

impl From<session_actix::session_core::Error> for Failure {
    fn from(error: session_actix::session_core::Error) -> Self {
        Failure::Session(Error(error))
    }
}

/// The request body as `T`; the contract's 415 when it is not sent as `application/json`, its
/// 400 when it is not the expected JSON.
fn body<T: DeserializeOwned>(request: &HttpRequest, bytes: &Bytes) -> Result<T, Failure> {
    let content_type = request.headers().get(header::CONTENT_TYPE);
    if !is_json_content_type(content_type.map(HeaderValue::as_bytes)) {
        return Err(Failure::NotJson);
    }
    parse_body(bytes).map_err(Failure::BadRequest)
}

fn not_logged_in() -> HttpResponse {
    HttpResponse::Unauthorized().json(ErrorResponse::not_logged_in())
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(PAGE)
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(OkResponse::OK)
}

async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(demo_contract::METRICS_CONTENT_TYPE)
        .body(demo_contract::metrics_text())
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(ErrorResponse::not_found())
}

async fn login(request: HttpRequest, session: Session, bytes: Bytes) -> Reply {
    let LoginRequest { user } = body(&request, &bytes)?;
    log_in(&session, &user)?;
    Ok(HttpResponse::Ok().json(UserResponse { user }))
}

/// The logged-in user of `session`, if any.
fn user_of(session: &Session) -> Result<Option<String>, Failure> {
    Ok(session.get::<String>(USER_KEY)?)
}

async fn me(session: Session) -> Reply {
    Ok(match user_of(&session)? {
        Some(user) => HttpResponse::Ok().json(UserResponse { user }),
        None => not_logged_in(),
    })
}

async fn logout(session: Session) -> HttpResponse {
    session.logout();
    HttpResponse::Ok().json(OkResponse::OK)
}

async fn remember(session: Session) -> Reply {
    if user_of(&session)?.is_none() {
        return Ok(not_logged_in());
    }
    session.remember()?;
    Ok(HttpResponse::Ok().json(OkResponse::OK))
}

async fn sessions(session: Session) -> Reply {
    if user_of(&session)?.is_none() {
        return Ok(not_logged_in());
    }
    Ok(HttpResponse::Ok().json(SessionsResponse::of(session.devices().await?)))
}

async fn end_session(session: Session, id: web::Path<String>) -> Reply {
    if user_of(&session)?.is_none() {
        return Ok(not_logged_in());
    }
    Ok(if session.end_device(&id).await? {
        HttpResponse::Ok().json(RevokedResponse { revoked: 1 })
    } else {
        HttpResponse::NotFound().json(ErrorResponse::no_such_session())
    })
}

async fn logout_others(session: Session) -> Reply {
    if user_of(&session)?.is_none() {
        return Ok(not_logged_in());
    }
    let revoked = session.end_other_devices().await?;
    Ok(HttpResponse::Ok().json(RevokedResponse { revoked }))
}

async fn logout_everywhere(session: Session) -> Reply {
    if user_of(&session)?.is_none() {
        return Ok(not_logged_in());
    }
    let revoked = session.end_everywhere().await?;
    Ok(HttpResponse::Ok().json(RevokedResponse { revoked }))
}

async fn add_flash(request: HttpRequest, session: Session, bytes: Bytes) -> Reply {
    let FlashRequest { message } = body(&request, &bytes)?;
    session.flash(FlashLevel::Info, message)?;
    Ok(HttpResponse::Ok().json(OkResponse::OK))
}

async fn take_flashes(session: Session) -> HttpResponse {
    HttpResponse::Ok().json(FlashesResponse::take(&session))
}

/// The `{key}` of `/counter/{key}`, decoded strictly (actix-web decodes path parameters
/// lossily): a segment that is not percent-encoded UTF-8 is the contract's 400.
fn counter_key_of(request: &HttpRequest) -> Result<String, Failure> {
    let raw = request.uri().path().rsplit('/').next().unwrap_or_default();
    decode_segment(raw).ok_or_else(|| Failure::BadRequest(ErrorResponse::for_status(400)))
}

async fn increment(request: HttpRequest, session: Session) -> Reply {
    let key = counter_key_of(&request)?;
    let value = session
        .get::<i64>(&counter_key(&key))?
        .unwrap_or(0)
        .saturating_add(1);
    session.insert(counter_key(&key), value)?;
    Ok(HttpResponse::Ok().json(CounterResponse { key, value }))
}

async fn counter(request: HttpRequest, session: Session) -> Reply {
    let key = counter_key_of(&request)?;
    let value = session.get::<i64>(&counter_key(&key))?.unwrap_or(0);
    Ok(HttpResponse::Ok().json(CounterResponse { key, value }))
}

async fn add_item(request: HttpRequest, cart: NamedSession<Cart>, bytes: Bytes) -> Reply {
    let CartItemRequest { item } = body(&request, &bytes)?;
    let mut items: Vec<String> = cart.get(ITEMS_KEY)?.unwrap_or_default();
    items.push(item);
    cart.insert(ITEMS_KEY, &items)?;
    Ok(HttpResponse::Ok().json(CartResponse { items }))
}

async fn cart(cart: NamedSession<Cart>) -> Reply {
    let items = cart.get(ITEMS_KEY)?.unwrap_or_default();
    Ok(HttpResponse::Ok().json(CartResponse { items }))
}

async fn api_login(request: HttpRequest, api: NamedSession<Api>, bytes: Bytes) -> Reply {
    let LoginRequest { user } = body(&request, &bytes)?;
    api.regenerate_id();
    api.insert(TOKEN_USER_KEY, &user)?;
    Ok(HttpResponse::Ok().json(UserResponse { user }))
}

async fn api_me(api: NamedSession<Api>) -> Reply {
    Ok(match api.get::<String>(TOKEN_USER_KEY)? {
        Some(user) => HttpResponse::Ok().json(UserResponse { user }),
        None => not_logged_in(),
    })
}
