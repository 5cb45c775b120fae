//! [axum](https://docs.rs/axum) (and any tower service) adapter for `session-core`.
//!
//! Add a [`SessionLayer`] built from a [`SessionManager`] to the router; handlers then ask for the
//! sessions they need with extractors:
//!
//! - [`Session`]: the default session;
//! - [`NamedSession<N>`](NamedSession): the session named by a marker type `N` implementing
//!   [`SessionName`] (declare one with [`session_name!`]);
//! - [`Sessions`]: any session by a name chosen at run time.
//!
//! A session is opened (decrypted, or loaded from its store) only when a handler extracts it, once
//! per request; a route that extracts none parses no cookie, touches no store and sets no
//! cookie. After the handler, the layer saves what changed and sets the cookies and headers. A
//! store failure is a `500 {"error":"session store unavailable"}` without any `Set-Cookie`; an
//! extractor used without the layer is a 500 whose body says to add it.
//!
//! # Example
//!
//! ```
//! use axum::{routing::{get, post}, Router};
//! use session_axum::{FlashLevel, KeyRing, Session, SessionLayer, SessionManager, SessionsConfig, StoreRegistry};
//! # use tower::ServiceExt;
//!
//! async fn login(session: Session) -> Result<&'static str, session_axum::Error> {
//!     session.regenerate_id(); // a fresh id on every privilege change
//!     session.insert("user", "alice")?;
//!     session.flash(FlashLevel::Success, "welcome back")?;
//!     Ok("logged in")
//! }
//!
//! async fn me(session: Session) -> Result<String, session_axum::Error> {
//!     Ok(session.get::<String>("user")?.unwrap_or_else(|| "nobody".into()))
//! }
//!
//! async fn logout(session: Session) -> &'static str {
//!     session.destroy(); // record removed, cookie expired
//!     "bye"
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SessionsConfig::from_toml(r#"
//!     [sessions.app]
//!     transport = { type = "cookie", name = "app_session" }
//!     store = { type = "cookie" }
//! "#)?;
//! let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await?;
//! let app: Router = Router::new()
//!     .route("/login", post(login))
//!     .route("/me", get(me))
//!     .route("/logout", post(logout))
//!     .layer(SessionLayer::new(manager));
//!
//! let request = http::Request::post("/login").body(axum::body::Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert!(response.headers()["set-cookie"].to_str()?.starts_with("app_session="));
//! # Ok(())
//! # }
//! ```
//!
//! Handlers can return `session_axum::Error` directly (it renders as a 500 without detail, and
//! is logged) or map it into their own error type.

mod error;
mod extract;
mod layer;
mod rejection;

pub use error::Error;
pub use extract::{NamedSession, Session, Sessions};
pub use layer::{request_sessions, ResponseFuture, SessionLayer, SessionService};
pub use rejection::SessionRejection;

pub use session_core;
pub use session_core::__adapter_exports::*;
