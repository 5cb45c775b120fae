//! The demo contract (`docs/DEMO_CONTRACT.md` in the repository) on rocket.
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

use demo_contract::{
    counter_key, is_json_content_type, log_in, parse_body, CartItemRequest, CartResponse,
    CounterResponse, ErrorResponse, FlashRequest, FlashesResponse, LoginRequest, OkResponse,
    RevokedResponse, SessionsResponse, UserResponse, ITEMS_KEY, MAX_BODY_BYTES, PAGE,
    SECURITY_HEADERS, TOKEN_USER_KEY, USER_KEY,
};
use rocket::data::{self, Data, FromData, ToByteUnit};
use rocket::fairing::AdHoc;
use rocket::http::{Header, Status};
use rocket::outcome::Outcome;
use rocket::request::{self, FromRequest};
use rocket::response::content::RawHtml;
use rocket::serde::json::Json;
use rocket::{catch, catchers, delete, get, post, routes, Build, Request, Rocket};
use serde::de::DeserializeOwned;
use session_rocket::{
    session_name, FlashLevel, NamedSession, Session, SessionFailure, SessionFairing, SessionManager,
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
///
/// Every error is JSON: the catchers give each status the body [`ErrorResponse::for_status`]
/// gives it (a store failure says so), bodies over [`MAX_BODY_BYTES`] are `413`, and a path that
/// does not decode is `400`.
pub fn rocket(manager: SessionManager) -> Rocket<Build> {
    rocket::build()
        .manage(manager.clone())
        .attach(SessionFairing::new(manager))
        .mount(
            "/",
            routes![
                page,
                health,
                metrics,
                login,
                me,
                logout,
                remember,
                sessions,
                end_session,
                logout_others,
                logout_everywhere,
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
        .register("/", catchers![internal_error, any_error])
        .attach(AdHoc::on_response("security headers", |_, response| {
            Box::pin(async move {
                // Replaces what rocket's own Shield set (`X-Frame-Options: SAMEORIGIN`).
                for (name, value) in SECURITY_HEADERS {
                    response.set_header(Header::new(name, value));
                }
            })
        }))
}

/// A JSON response with a status.
type Answer<T> = (Status, Json<T>);

/// A handler's outcome: a response, a contract error (400, 401, 404, 413, 415), or a session
/// failure (500).
type Reply<T> = Result<Answer<T>, Failure>;

/// Why a handler did not answer 200.
#[derive(Debug, rocket::Responder)]
enum Failure {
    /// A contract error with its JSON body.
    Error(Answer<ErrorResponse>),
    /// A session failure: the 500 catcher answers.
    Session(session_rocket::Error),
}

impl From<session_rocket::session_core::Error> for Failure {
    fn from(error: session_rocket::session_core::Error) -> Self {
        if error.is_too_large() {
            // The change was refused before it reached the session, which keeps what it had.
            tracing::info!(%error, "refused a change");
            return Failure::Error((
                Status::PayloadTooLarge,
                Json(ErrorResponse::session_too_large()),
            ));
        }
        Failure::Session(error.into())
    }
}

fn ok<T>(body: T) -> Reply<T> {
    Ok((Status::Ok, Json(body)))
}

fn not_logged_in() -> Failure {
    Failure::Error((Status::Unauthorized, Json(ErrorResponse::not_logged_in())))
}

/// A request body of at most [`MAX_BODY_BYTES`]; a larger one is `413`, one that cannot be read
/// `400` (both through the catchers). Whether it was sent as JSON is kept for [`body`]'s 415.
#[derive(Debug)]
struct Body {
    bytes: Vec<u8>,
    is_json: bool,
}

#[rocket::async_trait]
impl<'r> FromData<'r> for Body {
    type Error = std::io::Error;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let content_type = request.headers().get_one("content-type");
        let is_json = is_json_content_type(content_type.map(str::as_bytes));
        // The body is read first, so an oversized one is the 413 whatever it claims to be.
        match data.open(MAX_BODY_BYTES.bytes()).into_bytes().await {
            Ok(bytes) if bytes.is_complete() => Outcome::Success(Body {
                bytes: bytes.into_inner(),
                is_json,
            }),
            Ok(_) => Outcome::Error((
                Status::PayloadTooLarge,
                std::io::Error::other("the request body is over the limit"),
            )),
            Err(error) => Outcome::Error((Status::BadRequest, error)),
        }
    }
}

/// The request body as `T`; the contract's 415 when it was not sent as `application/json`, its
/// 400 when it is not the expected JSON.
fn body<T: DeserializeOwned>(body: &Body) -> Result<T, Failure> {
    if !body.is_json {
        return Err(Failure::Error((
            Status::UnsupportedMediaType,
            Json(ErrorResponse::expected_json()),
        )));
    }
    parse_body(&body.bytes).map_err(|error| Failure::Error((Status::BadRequest, Json(error))))
}

/// The `{key}` of `/counter/{key}`, decoded strictly: a segment that is not percent-encoded
/// UTF-8 is `400`, as in the other demos (rocket's own parameters decode it lossily).
#[derive(Debug)]
struct CounterKey(String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CounterKey {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, ()> {
        let raw = request.uri().path().raw_segments().nth(1);
        match raw.map(|segment| segment.percent_decode()) {
            Some(Ok(key)) => Outcome::Success(CounterKey(key.into_owned())),
            _ => Outcome::Error((Status::BadRequest, ())),
        }
    }
}

#[get("/")]
fn page() -> RawHtml<&'static str> {
    RawHtml(PAGE)
}

#[get("/health")]
fn health() -> Json<OkResponse> {
    Json(OkResponse::OK)
}

/// Prometheus text format, with the contract's `Content-Type`.
struct Metrics(String);

impl<'r> rocket::response::Responder<'r, 'static> for Metrics {
    fn respond_to(self, request: &'r Request<'_>) -> rocket::response::Result<'static> {
        let content_type = Header::new("Content-Type", demo_contract::METRICS_CONTENT_TYPE);
        rocket::Response::build_from(self.0.respond_to(request)?)
            .header(content_type)
            .ok()
    }
}

#[get("/metrics")]
fn metrics() -> Metrics {
    Metrics(demo_contract::metrics_text())
}

#[post("/login", data = "<bytes>")]
fn login(session: Session, bytes: Body) -> Reply<UserResponse> {
    let LoginRequest { user } = body(&bytes)?;
    log_in(&session, &user)?;
    ok(UserResponse { user })
}

/// The logged-in user of `session`, or the contract's 401.
fn logged_in(session: &Session) -> Result<String, Failure> {
    session.get::<String>(USER_KEY)?.ok_or_else(not_logged_in)
}

#[get("/me")]
fn me(session: Session) -> Reply<UserResponse> {
    ok(UserResponse {
        user: logged_in(&session)?,
    })
}

#[post("/logout")]
fn logout(session: Session) -> Json<OkResponse> {
    session.logout();
    Json(OkResponse::OK)
}

#[post("/remember")]
fn remember(session: Session) -> Reply<OkResponse> {
    logged_in(&session)?;
    session.remember()?;
    ok(OkResponse::OK)
}

#[get("/sessions")]
async fn sessions(session: Session) -> Reply<SessionsResponse> {
    logged_in(&session)?;
    ok(SessionsResponse::of(session.devices().await?))
}

#[delete("/sessions/<id>")]
async fn end_session(session: Session, id: &str) -> Reply<RevokedResponse> {
    logged_in(&session)?;
    if session.end_device(id).await? {
        ok(RevokedResponse { revoked: 1 })
    } else {
        Err(Failure::Error((
            Status::NotFound,
            Json(ErrorResponse::no_such_session()),
        )))
    }
}

#[post("/logout-others")]
async fn logout_others(session: Session) -> Reply<RevokedResponse> {
    logged_in(&session)?;
    ok(RevokedResponse {
        revoked: session.end_other_devices().await?,
    })
}

#[post("/logout-everywhere")]
async fn logout_everywhere(session: Session) -> Reply<RevokedResponse> {
    logged_in(&session)?;
    ok(RevokedResponse {
        revoked: session.end_everywhere().await?,
    })
}

#[post("/flash", data = "<bytes>")]
fn add_flash(session: Session, bytes: Body) -> Reply<OkResponse> {
    let FlashRequest { message } = body(&bytes)?;
    session.flash(FlashLevel::Info, message)?;
    ok(OkResponse::OK)
}

#[get("/flash")]
fn take_flashes(session: Session) -> Json<FlashesResponse> {
    Json(FlashesResponse::take(&session))
}

#[post("/counter/<_>")]
fn increment(key: CounterKey, session: Session) -> Reply<CounterResponse> {
    let CounterKey(key) = key;
    let value = session
        .get::<i64>(&counter_key(&key))?
        .unwrap_or(0)
        .saturating_add(1);
    session.insert(counter_key(&key), value)?;
    ok(CounterResponse { key, value })
}

#[get("/counter/<_>")]
fn counter(key: CounterKey, session: Session) -> Reply<CounterResponse> {
    let CounterKey(key) = key;
    let value = session.get::<i64>(&counter_key(&key))?.unwrap_or(0);
    ok(CounterResponse { key, value })
}

#[post("/cart/items", data = "<bytes>")]
fn add_item(cart: NamedSession<Cart>, bytes: Body) -> Reply<CartResponse> {
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
fn api_login(api: NamedSession<Api>, bytes: Body) -> Reply<UserResponse> {
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

/// Session failures and any other 500: a store failure says so, nothing says more.
#[catch(500)]
fn internal_error(request: &Request<'_>) -> Json<ErrorResponse> {
    match SessionFailure::of(request) {
        Some(SessionFailure::StoreUnavailable) => Json(ErrorResponse::store_unavailable()),
        _ => Json(ErrorResponse::for_status(500)),
    }
}

/// Every other error rocket answers itself (unknown routes, rejected bodies and paths).
#[catch(default)]
fn any_error(status: Status, _request: &Request<'_>) -> Answer<ErrorResponse> {
    (status, Json(ErrorResponse::for_status(status.code)))
}
