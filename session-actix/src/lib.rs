//! actix-web sessions on top of `session-core`.
//!
//! Wrap the app in a [`SessionMiddleware`] built from a [`SessionManager`]; handlers then ask for
//! the sessions they need with extractors:
//!
//! - [`Session`]: the default session;
//! - [`NamedSession<N>`](NamedSession): the session named by a marker type `N` implementing
//!   [`SessionName`] (declare one with [`session_name!`]);
//! - [`Sessions`]: any session by a name chosen at run time.
//!
//! A session is opened (decrypted, or loaded from its store) only when a handler extracts it, once
//! per request; a route that extracts none does not even parse its cookies, touches no store and
//! sets no cookie. After the handler, the middleware saves what changed and sets the cookies and
//! headers (raw header values: actix-web's `cookie` crate is another version than the core's).
//!
//! # Example
//!
//! ```
//! use actix_web::{test, web, App, HttpResponse};
//! use session_actix::{
//!     Error, KeyRing, Session, SessionManager, SessionMiddleware, SessionsConfig, StoreRegistry,
//! };
//!
//! async fn visit(session: Session) -> Result<HttpResponse, Error> {
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
//! Extracting a session on a route the middleware does not wrap is a 500 whose body says to add
//! the middleware. A store failure, while loading or saving, is a
//! `500 {"error":"session store unavailable"}` that leaks no detail (logged at error level with
//! `tracing`), and a failed save adds no session header at all. Handlers can return
//! [`Error`] directly (so `?` works on session calls) or map it into their own error type.

mod error;
mod extract;
mod middleware;
mod rejection;

pub use error::Error;
pub use extract::{NamedSession, Session, Sessions};
pub use middleware::{SessionMiddleware, SessionService};
pub use rejection::SessionRejection;

pub use session_core;
pub use session_core::__adapter_exports::*;
