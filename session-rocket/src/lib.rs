//! Sessions for [Rocket](https://rocket.rs): a fairing and request guards over
//! [`session_core`].
//!
//! Attach a [`SessionFairing`] built from a [`SessionManager`], then ask for sessions in
//! handlers: [`Session`] is the default session, [`NamedSession<N>`] any other (name it with
//! [`session_name!`]). A session is opened only when a guard asks for it; after the handler, the
//! fairing saves what changed and sets or expires the cookie (or the session header). Handlers
//! that take no session cost a copy of the session headers; their cookies are not parsed.
//!
//! # Example
//!
//! ```
//! use rocket::http::{Header, Status};
//! use rocket::local::asynchronous::Client;
//! use session_rocket::{session_name, KeyRing, NamedSession, Session, SessionFairing,
//!     SessionManager, SessionsConfig, StoreRegistry};
//!
//! session_name! {
//!     Api = "api";
//! }
//!
//! #[rocket::post("/visit")]
//! fn visit(session: Session) -> Result<String, session_rocket::Error> {
//!     let visits = session.get::<u32>("visits")?.unwrap_or(0) + 1;
//!     session.insert("visits", visits)?;
//!     Ok(visits.to_string())
//! }
//!
//! #[rocket::get("/token")]
//! fn token(api: NamedSession<Api>) -> Result<(), session_rocket::Error> {
//!     Ok(api.insert("user", "bob")?)
//! }
//!
//! # #[rocket::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionsConfig::from_toml(r#"
//!     default = "app"
//!     [sessions.app]
//!     transport = { type = "cookie", name = "app_session" }
//!     store = { type = "cookie" }
//!     [sessions.api]
//!     transport = { type = "header", name = "x-session" }
//!     store = { type = "cookie" }
//! "#)?;
//! let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await?;
//! let rocket = rocket::build()
//!     .attach(SessionFairing::new(manager))
//!     .mount("/", rocket::routes![visit, token]);
//!
//! let client = Client::tracked(rocket).await?; // keeps cookies like a browser
//! assert_eq!(client.post("/visit").dispatch().await.into_string().await.as_deref(), Some("1"));
//! assert_eq!(client.post("/visit").dispatch().await.into_string().await.as_deref(), Some("2"));
//!
//! let response = client.get("/token").dispatch().await;
//! assert_eq!(response.status(), Status::Ok);
//! assert!(response.headers().get_one("x-session").is_some());
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//!
//! Every session failure is a 500 that carries no detail, answered by the application's own 500
//! catcher, and logged with its cause:
//!
//! - a guard whose session cannot be opened (the fairing is missing, the store failed, the name
//!   is not configured) fails with [`Error`];
//! - handlers return `Result<T, Error>` and use `?` on session operations;
//! - a session that cannot be saved after the handler turns the response into the 500 catcher's
//!   response, without any session header (see [`SessionFairing`]).
//!
//! A request that failed on a session saves none of its sessions. In the 500 catcher,
//! [`SessionFailure::of`] tells a store failure from the others.
//!
//! # Logging
//!
//! Messages are [`tracing`](https://docs.rs/tracing) events; without a tracing subscriber they go
//! to rocket's logger through `log`.

mod error;
mod fairing;
mod guard;

pub use error::{Error, SessionFailure, SessionRejection};
pub use fairing::SessionFairing;
pub use guard::{NamedSession, Session, Sessions};

pub use session_core;
pub use session_core::__adapter_exports::*;
