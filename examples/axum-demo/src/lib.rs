//! The demo contract (`DEMO_CONTRACT.md`) on axum, with `session-axum`.
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

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use demo_contract::{
    counter_key, parse_body, CartItemRequest, CartResponse, CounterResponse, ErrorResponse,
    FlashRequest, FlashesResponse, LoginRequest, OkResponse, UserResponse, ITEMS_KEY,
    TOKEN_USER_KEY, USER_KEY,
};
use serde::de::DeserializeOwned;
use session_axum::{Error, FlashLevel, NamedSession, Session, SessionLayer, SessionManager};

session_axum::session_name! {
    /// The client-side `cart` session.
    pub Cart = "cart";
    /// The `api` session, carried in the `x-session` header.
    pub Api = "api";
}

/// The demo's router: every route of the contract, behind a [`SessionLayer`] for `manager`.
pub fn app(manager: SessionManager) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/flash", get(take_flashes).post(add_flash))
        .route("/counter/{key}", get(read_counter).post(increment_counter))
        .route("/cart", get(cart))
        .route("/cart/items", post(add_cart_item))
        .route("/api/login", post(api_login))
        .route("/api/me", get(api_me))
        .layer(SessionLayer::new(manager))
}

/// A JSON body, whatever its `Content-Type`; anything else is the contract's
/// `400 {"error":"..."}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                bad_request(ErrorResponse::malformed_body(rejection.body_text()))
            })?;
        parse_body(&bytes).map(JsonBody).map_err(bad_request)
    }
}

fn bad_request(error: ErrorResponse) -> Response {
    (StatusCode::BAD_REQUEST, Json(error)).into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(ErrorResponse::not_logged_in()),
    )
        .into_response()
}

async fn health() -> Json<OkResponse> {
    Json(OkResponse::OK)
}

async fn login(
    session: Session,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Json<UserResponse>, Error> {
    session.regenerate_id();
    session.insert(USER_KEY, &body.user)?;
    Ok(Json(UserResponse { user: body.user }))
}

async fn me(session: Session) -> Result<Response, Error> {
    Ok(match session.get::<String>(USER_KEY)? {
        Some(user) => Json(UserResponse { user }).into_response(),
        None => unauthorized(),
    })
}

async fn logout(session: Session) -> Json<OkResponse> {
    session.destroy();
    Json(OkResponse::OK)
}

async fn add_flash(session: Session, JsonBody(body): JsonBody<FlashRequest>) -> Json<OkResponse> {
    session.flash(FlashLevel::Info, body.message);
    Json(OkResponse::OK)
}

async fn take_flashes(session: Session) -> Json<FlashesResponse> {
    let messages = session
        .take_flashes()
        .iter()
        .filter_map(|flash| flash.text().map(str::to_string))
        .collect();
    Json(FlashesResponse { messages })
}

async fn read_counter(
    session: Session,
    Path(key): Path<String>,
) -> Result<Json<CounterResponse>, Error> {
    let value = session.get::<i64>(&counter_key(&key))?.unwrap_or(0);
    Ok(Json(CounterResponse { key, value }))
}

async fn increment_counter(
    session: Session,
    Path(key): Path<String>,
) -> Result<Json<CounterResponse>, Error> {
    let name = counter_key(&key);
    let value = session.get::<i64>(&name)?.unwrap_or(0).saturating_add(1);
    session.insert(name, value)?;
    Ok(Json(CounterResponse { key, value }))
}

async fn cart(cart: NamedSession<Cart>) -> Result<Json<CartResponse>, Error> {
    let items = cart.get::<Vec<String>>(ITEMS_KEY)?.unwrap_or_default();
    Ok(Json(CartResponse { items }))
}

async fn add_cart_item(
    cart: NamedSession<Cart>,
    JsonBody(body): JsonBody<CartItemRequest>,
) -> Result<Json<CartResponse>, Error> {
    let mut items = cart.get::<Vec<String>>(ITEMS_KEY)?.unwrap_or_default();
    items.push(body.item);
    cart.insert(ITEMS_KEY, &items)?;
    Ok(Json(CartResponse { items }))
}

async fn api_login(
    api: NamedSession<Api>,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Json<UserResponse>, Error> {
    api.regenerate_id();
    api.insert(TOKEN_USER_KEY, &body.user)?;
    Ok(Json(UserResponse { user: body.user }))
}

async fn api_me(api: NamedSession<Api>) -> Result<Response, Error> {
    Ok(match api.get::<String>(TOKEN_USER_KEY)? {
        Some(user) => Json(UserResponse { user }).into_response(),
        None => unauthorized(),
    })
}
