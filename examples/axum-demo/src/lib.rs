//! The demo contract (`docs/DEMO_CONTRACT.md` in the repository) on axum, with `session-axum`.
//!
//! [`app`] builds the router around a [`SessionManager`], so tests and benchmarks can drive it
//! without a socket; `main.rs` only starts it. Three sessions are in play: `app` (the default:
//! login, counters, flash messages), `cart` (client-side, in its own cookie) and `api` (carried in
//! the `x-session` header).
//!
//! ```
//! use axum::body::Body;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = session_axum::SessionsConfig::from_toml(demo_contract::DEFAULT_CONFIG)?;
//! let manager = session_axum::SessionManager::from_config(
//!     &config,
//!     &demo_contract::registry(),
//!     session_axum::KeyRing::generate(),
//! )
//! .await?;
//! let response = axum_demo::app(manager)
//!     .oneshot(http::Request::get("/health").body(Body::empty())?)
//!     .await?;
//! assert_eq!(response.status(), 200);
//! # Ok(())
//! # }
//! ```

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use demo_contract::{
    counter_key, is_json_content_type, log_in, parse_body, CartItemRequest, CartResponse,
    CounterResponse, ErrorResponse, FlashRequest, FlashesResponse, LoginRequest, OkResponse,
    RevokedResponse, SessionsResponse, UserResponse, ITEMS_KEY, MAX_BODY_BYTES, PAGE,
    SECURITY_HEADERS, TOKEN_USER_KEY, USER_KEY,
};
use serde::de::DeserializeOwned;
use session_axum::{FlashLevel, NamedSession, Session, SessionLayer, SessionManager};

session_axum::session_name! {
    /// The client-side `cart` session.
    pub Cart = "cart";
    /// The `api` session, carried in the `x-session` header.
    pub Api = "api";
}

/// The demo's router: every route of the contract, behind a [`SessionLayer`] for `manager`.
///
/// Every error is JSON: unknown routes and methods answer `404 {"error":"not found"}`, bodies
/// over [`MAX_BODY_BYTES`] `413`, and whatever else axum itself rejects (a path that does not
/// decode, ...) keeps its status with a JSON body ([`ErrorResponse::for_status`]).
pub fn app(manager: SessionManager) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/remember", post(remember))
        .route("/sessions", get(sessions))
        .route("/sessions/{id}", delete(end_session))
        .route("/logout-others", post(logout_others))
        .route("/logout-everywhere", post(logout_everywhere))
        .route("/flash", get(take_flashes).post(add_flash))
        .route("/counter/{key}", get(read_counter).post(increment_counter))
        .route("/cart", get(cart))
        .route("/cart/items", post(add_cart_item))
        .route("/api/login", post(api_login))
        .route("/api/me", get(api_me))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(manager.clone())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(SessionLayer::new(manager))
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::map_response(security_headers))
}

/// Adds [`SECURITY_HEADERS`] to every response, errors included.
async fn security_headers(mut response: Response) -> Response {
    for (name, value) in SECURITY_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Gives every error response that is not JSON yet (axum's own rejections) the contract's JSON
/// body for its status, keeping the status and the other headers.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let body = serde_json::to_vec(&ErrorResponse::for_status(status.as_u16())).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// A JSON body sent as `application/json`: another `Content-Type` is the contract's `415`, a
/// body that is not the expected JSON its `400 {"error":"..."}`, and a body over
/// [`MAX_BODY_BYTES`] its `413`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = is_json_content_type(
            request
                .headers()
                .get(header::CONTENT_TYPE)
                .map(HeaderValue::as_bytes),
        );
        // The body is read first, so an oversized one is the 413 whatever it claims to be.
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => failure(413, ErrorResponse::body_too_large()),
                    _ => bad_request(ErrorResponse::malformed_body(rejection.body_text())),
                })?;
        if !is_json {
            return Err(failure(415, ErrorResponse::expected_json()));
        }
        parse_body(&bytes).map(JsonBody).map_err(bad_request)
    }
}

/// A handler's session failure: `413 {"error":"session too large"}` when a change would take
/// the session past its limit (the session keeps what it had), else the adapter's answer for
/// the error (`400` for an invalid user name, `500` for a store failure).
pub struct Failure(session_axum::session_core::Error);

impl From<session_axum::session_core::Error> for Failure {
    fn from(error: session_axum::session_core::Error) -> Self {
        Failure(error)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        if self.0.is_too_large() {
            tracing::info!(error = %self.0, "refused a change");
            failure(413, ErrorResponse::session_too_large())
        } else {
            session_axum::Error(self.0).into_response()
        }
    }
}

fn failure(status: u16, error: ErrorResponse) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(error)).into_response()
}

fn bad_request(error: ErrorResponse) -> Response {
    failure(400, error)
}

fn unauthorized() -> Response {
    failure(401, ErrorResponse::not_logged_in())
}

async fn not_found() -> Response {
    failure(404, ErrorResponse::not_found())
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn health() -> Json<OkResponse> {
    Json(OkResponse::OK)
}

async fn metrics() -> impl IntoResponse {
    let content_type = [(header::CONTENT_TYPE, demo_contract::METRICS_CONTENT_TYPE)];
    (content_type, demo_contract::metrics_text())
}

async fn login(
    session: Session,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Json<UserResponse>, Failure> {
    log_in(&session, &body.user)?;
    Ok(Json(UserResponse { user: body.user }))
}

/// The logged-in user of `session`, if any.
fn user_of(session: &Session) -> Result<Option<String>, Failure> {
    Ok(session.get::<String>(USER_KEY)?)
}

async fn me(session: Session) -> Result<Response, Failure> {
    Ok(match user_of(&session)? {
        Some(user) => Json(UserResponse { user }).into_response(),
        None => unauthorized(),
    })
}

async fn logout(session: Session) -> Json<OkResponse> {
    session.logout();
    Json(OkResponse::OK)
}

async fn remember(session: Session) -> Result<Response, Failure> {
    if user_of(&session)?.is_none() {
        return Ok(unauthorized());
    }
    session.remember()?;
    Ok(Json(OkResponse::OK).into_response())
}

async fn sessions(session: Session) -> Result<Response, Failure> {
    if user_of(&session)?.is_none() {
        return Ok(unauthorized());
    }
    Ok(Json(SessionsResponse::of(session.devices().await?)).into_response())
}

async fn end_session(session: Session, Path(id): Path<String>) -> Result<Response, Failure> {
    if user_of(&session)?.is_none() {
        return Ok(unauthorized());
    }
    Ok(if session.end_device(&id).await? {
        Json(RevokedResponse { revoked: 1 }).into_response()
    } else {
        failure(404, ErrorResponse::no_such_session())
    })
}

async fn logout_others(session: Session) -> Result<Response, Failure> {
    if user_of(&session)?.is_none() {
        return Ok(unauthorized());
    }
    let revoked = session.end_other_devices().await?;
    Ok(Json(RevokedResponse { revoked }).into_response())
}

async fn logout_everywhere(session: Session) -> Result<Response, Failure> {
    if user_of(&session)?.is_none() {
        return Ok(unauthorized());
    }
    let revoked = session.end_everywhere().await?;
    Ok(Json(RevokedResponse { revoked }).into_response())
}

async fn add_flash(
    session: Session,
    JsonBody(body): JsonBody<FlashRequest>,
) -> Result<Json<OkResponse>, Failure> {
    session.flash(FlashLevel::Info, body.message)?;
    Ok(Json(OkResponse::OK))
}

async fn take_flashes(session: Session) -> Json<FlashesResponse> {
    Json(FlashesResponse::take(&session))
}

async fn read_counter(
    session: Session,
    Path(key): Path<String>,
) -> Result<Json<CounterResponse>, Failure> {
    let value = session.get::<i64>(&counter_key(&key))?.unwrap_or(0);
    Ok(Json(CounterResponse { key, value }))
}

async fn increment_counter(
    session: Session,
    Path(key): Path<String>,
) -> Result<Json<CounterResponse>, Failure> {
    let name = counter_key(&key);
    let value = session.get::<i64>(&name)?.unwrap_or(0).saturating_add(1);
    session.insert(name, value)?;
    Ok(Json(CounterResponse { key, value }))
}

async fn cart(cart: NamedSession<Cart>) -> Result<Json<CartResponse>, Failure> {
    let items = cart.get::<Vec<String>>(ITEMS_KEY)?.unwrap_or_default();
    Ok(Json(CartResponse { items }))
}

async fn add_cart_item(
    cart: NamedSession<Cart>,
    JsonBody(body): JsonBody<CartItemRequest>,
) -> Result<Json<CartResponse>, Failure> {
    let mut items = cart.get::<Vec<String>>(ITEMS_KEY)?.unwrap_or_default();
    items.push(body.item);
    cart.insert(ITEMS_KEY, &items)?;
    Ok(Json(CartResponse { items }))
}

async fn api_login(
    api: NamedSession<Api>,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Json<UserResponse>, Failure> {
    api.regenerate_id();
    api.insert(TOKEN_USER_KEY, &body.user)?;
    Ok(Json(UserResponse { user: body.user }))
}

async fn api_me(api: NamedSession<Api>) -> Result<Response, Failure> {
    Ok(match api.get::<String>(TOKEN_USER_KEY)? {
        Some(user) => Json(UserResponse { user }).into_response(),
        None => unauthorized(),
    })
}
