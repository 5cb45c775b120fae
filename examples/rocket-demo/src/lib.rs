//! The demo contract (`DEMO_CONTRACT.md` of the project's shared documents) on rocket.
//!
//! [`rocket()`] builds the whole application around a [`SessionManager`]: the contract's routes,
//! the [`SessionFairing`] and catchers that answer every error in JSON. The binary (`main.rs`)
//! only starts it from the environment with `demo-contract`'s start-up support.
//!
//! ```
//! use rocket::local::asynchronous::Client;
//! use session_rocket::{KeyRing, SessionManager, SessionsConfig};
//!
//! # #[rocket::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionsConfig::from_toml(demo_contract::DEFAULT_CONFIG)?;
//! let manager =
//!     SessionManager::from_config(&config, &demo_contract::registry(), KeyRing::generate()).await?;
//! let client = Client::untracked(rocket_demo::rocket(manager)).await?;
//!
//! let health = client.get("/health").dispatch().await;
//! assert_eq!(health.into_string().await.as_deref(), Some(r#"{"ok":true}"#));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use demo_contract::{
    counter_key, parse_body, CartItemRequest, CartResponse, CounterResponse, ErrorResponse,
    FlashRequest, FlashesResponse, LoginRequest, OkResponse, UserResponse, ITEMS_KEY,
    TOKEN_USER_KEY, USER_KEY,
};
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{catch, catchers, get, post, routes, Build, Request, Rocket};
use serde::de::DeserializeOwned;
use session_rocket::{
    session_name, FlashLevel, NamedSession, Session, SessionError, SessionFailure, SessionFairing,
    SessionManager,
};

session_name! {
    /// The `cart` session: client-side, in the `cart` cookie.
    pub Cart = "cart";
    /// The `api` session: server-side, in the `x-session` header.
    pub Api = "api";
}

/// The whole demo: the contract's routes and JSON catchers behind a [`SessionFairing`] serving
/// `manager`. Rocket's own configuration (address, port, log level) comes from rocket's usual
/// sources; `main.rs` sets the address from `ADDR`.
pub fn rocket(manager: SessionManager) -> Rocket<Build> {
    rocket::build()
        .attach(SessionFairing::new(manager))
        .mount(
            "/",
            routes![
                health,
                login,
                me,
                logout,
                add_flash,
                take_flashes,
                increment,
                counter,
                add_item,
                cart,
                api_login,
                api_me
            ],
        )
        .register(
            "/",
            catchers![bad_request, not_found, internal_error, any_error],
        )
}

/// A JSON response with a status.
type Answer<T> = (Status, Json<T>);

/// A handler's outcome: a response, a contract error (400, 401), or a session failure (500).
type Reply<T> = Result<Answer<T>, Failure>;

/// Why a handler did not answer 200.
#[derive(Debug, rocket::Responder)]
enum Failure {
    /// A contract error with its JSON body.
    Error(Answer<ErrorResponse>),
    /// A session failure: the 500 catcher answers.
    Session(SessionError),
}

impl From<session_rocket::session_core::Error> for Failure {
    fn from(error: session_rocket::session_core::Error) -> Self {
        Failure::Session(error.into())
    }
}

fn ok<T>(body: T) -> Reply<T> {
    Ok((Status::Ok, Json(body)))
}

fn not_logged_in() -> Failure {
    Failure::Error((Status::Unauthorized, Json(ErrorResponse::not_logged_in())))
}

/// The request body as `T`, whatever its `Content-Type`, or the contract's 400.
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    parse_body(bytes).map_err(|error| Failure::Error((Status::BadRequest, Json(error))))
}

#[get("/health")]
fn health() -> Json<OkResponse> {
    Json(OkResponse::OK)
}

#[post("/login", data = "<bytes>")]
fn login(session: Session, bytes: Vec<u8>) -> Reply<UserResponse> {
    let LoginRequest { user } = body(&bytes)?;
    session.regenerate_id();
    session.insert(USER_KEY, &user)?;
    ok(UserResponse { user })
}

#[get("/me")]
fn me(session: Session) -> Reply<UserResponse> {
    match session.get::<String>(USER_KEY)? {
        Some(user) => ok(UserResponse { user }),
        None => Err(not_logged_in()),
    }
}

#[post("/logout")]
fn logout(session: Session) -> Json<OkResponse> {
    session.destroy();
    Json(OkResponse::OK)
}

#[post("/flash", data = "<bytes>")]
fn add_flash(session: Session, bytes: Vec<u8>) -> Reply<OkResponse> {
    let FlashRequest { message } = body(&bytes)?;
    session.flash(FlashLevel::Info, message);
    ok(OkResponse::OK)
}

#[get("/flash")]
fn take_flashes(session: Session) -> Json<FlashesResponse> {
    let messages = session
        .take_flashes()
        .iter()
        .filter_map(|flash| flash.text().map(str::to_string))
        .collect();
    Json(FlashesResponse { messages })
}

#[post("/counter/<key>")]
fn increment(session: Session, key: String) -> Reply<CounterResponse> {
    let value = session
        .get::<i64>(&counter_key(&key))?
        .unwrap_or(0)
        .saturating_add(1);
    session.insert(counter_key(&key), value)?;
    ok(CounterResponse { key, value })
}

#[get("/counter/<key>")]
fn counter(session: Session, key: String) -> Reply<CounterResponse> {
    let value = session.get::<i64>(&counter_key(&key))?.unwrap_or(0);
    ok(CounterResponse { key, value })
}

#[post("/cart/items", data = "<bytes>")]
fn add_item(cart: NamedSession<Cart>, bytes: Vec<u8>) -> Reply<CartResponse> {
    let CartItemRequest { item } = body(&bytes)?;
    let mut items: Vec<String> = cart.get(ITEMS_KEY)?.unwrap_or_default();
    items.push(item);
    cart.insert(ITEMS_KEY, &items)?;
    ok(CartResponse { items })
}

#[get("/cart")]
fn cart(cart: NamedSession<Cart>) -> Reply<CartResponse> {
    let items = cart.get(ITEMS_KEY)?.unwrap_or_default();
    ok(CartResponse { items })
}

#[post("/api/login", data = "<bytes>")]
fn api_login(api: NamedSession<Api>, bytes: Vec<u8>) -> Reply<UserResponse> {
    let LoginRequest { user } = body(&bytes)?;
    api.regenerate_id();
    api.insert(TOKEN_USER_KEY, &user)?;
    ok(UserResponse { user })
}

#[get("/api/me")]
fn api_me(api: NamedSession<Api>) -> Reply<UserResponse> {
    match api.get::<String>(TOKEN_USER_KEY)? {
        Some(user) => ok(UserResponse { user }),
        None => Err(not_logged_in()),
    }
}

fn error(message: &str) -> Json<ErrorResponse> {
    Json(ErrorResponse {
        error: message.to_string(),
    })
}

#[catch(400)]
fn bad_request() -> Json<ErrorResponse> {
    error("bad request")
}

#[catch(404)]
fn not_found() -> Json<ErrorResponse> {
    error("not found")
}

/// Session failures and any other 500: a store failure says so, nothing says more.
#[catch(500)]
fn internal_error(request: &Request<'_>) -> Json<ErrorResponse> {
    match SessionFailure::of(request) {
        Some(SessionFailure::StoreUnavailable) => Json(ErrorResponse::store_unavailable()),
        _ => error("internal error"),
    }
}

#[catch(default)]
fn any_error(status: Status, _request: &Request<'_>) -> Answer<ErrorResponse> {
    (status, error(status.reason_lossy()))
}
