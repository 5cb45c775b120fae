//! actix-web sessions on top of `session-core`.
//!
//! Wrap the app in a [`SessionMiddleware`] built from a [`SessionManager`], and ask for sessions
//! in handlers' signatures: [`Session`] for the default session, [`NamedSession<N>`] for the one
//! a [`SessionName`] marker names. Sessions are opened only when extracted, saved after the
//! handler only when changed, and travel in cookies or headers as the configuration says.
//!
//! # Example
//!
//! ```
//! use actix_web::{test, web, App, HttpResponse};
//! use session_actix::{
//!     KeyRing, Session, SessionError, SessionManager, SessionMiddleware, SessionsConfig,
//!     StoreRegistry,
//! };
//!
//! async fn visit(session: Session) -> Result<HttpResponse, SessionError> {
//!     let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
//!     session.insert("visits", visits)?;
//!     Ok(HttpResponse::Ok().body(visits.to_string()))
//! }
//!
//! # #[actix_web::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionsConfig::from_toml(r#"
//!     [sessions.app]
//!     transport = { type = "cookie", name = "app_session" }
//!     store = { type = "cookie" }
//! "#)?;
//! let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await?;
//! let app = test::init_service(
//!     App::new()
//!         .wrap(SessionMiddleware::new(manager))
//!         .route("/visit", web::get().to(visit)),
//! )
//! .await;
//!
//! let response = test::call_service(&app, test::TestRequest::get().uri("/visit").to_request()).await;
//! let set_cookie = response.headers().get("set-cookie").unwrap().to_str()?;
//! let cookie = set_cookie.split(';').next().unwrap().to_string();
//!
//! let again = test::TestRequest::get().uri("/visit").insert_header(("cookie", cookie)).to_request();
//! assert_eq!(test::call_and_read_body(&app, again).await, "2");
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//!
//! Extracting a session on a route the middleware does not wrap answers 500 with a body that says
//! to add the middleware. A store that fails while loading or saving gives a 500 that leaks no
//! detail (logged at error level with `tracing`), and a failed save adds no session header;
//! [`SessionMiddleware::error_response`] renders that 500 in the application's own format.
//! [`SessionError`] converts from [`session_core::Error`], so handlers returning
//! `Result<_, SessionError>` can use `?` on session methods.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod extract;
pub mod middleware;

pub use error::SessionError;
pub use extract::{NamedSession, Session, SessionName};
pub use middleware::{SessionMiddleware, SessionService};

pub use session_core;
pub use session_core::{
    Expiry, Flash, FlashLevel, KeyRing, SessionConfig, SessionManager, SessionsConfig,
    StoreRegistry,
};
