//! The extractors: [`Session`] (the default session), [`NamedSession`] (a session chosen by a
//! marker type) and [`Sessions`] (any session by name, chosen at run time).
//!
//! A session is opened when it is first extracted in a request, not before: decrypted when it
//! travels in its cookie, or loaded from its store. Extracting the same session again in the same
//! request (in another extractor, a middleware, or twice in one handler) gives the same handle,
//! so every clone sees the same values.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use session_core::{RequestSessions, SessionName};

use crate::rejection::SessionRejection;

session_core::__define_session_handles!(session_axum: Session, NamedSession<N>);

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let sessions = request_sessions(parts)?;
        let session = sessions
            .default_session()
            .await
            .map_err(SessionRejection::Open)?;
        Ok(Session::wrap(session))
    }
}

impl<S: Send + Sync, N: SessionName> FromRequestParts<S> for NamedSession<N> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let sessions = request_sessions(parts)?;
        let session = sessions
            .session(N::NAME)
            .await
            .map_err(SessionRejection::Open)?;
        Ok(NamedSession::wrap(session))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Sessions {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        request_sessions(parts).map(Sessions)
    }
}

fn request_sessions(parts: &Parts) -> Result<Arc<RequestSessions>, SessionRejection> {
    crate::layer::sessions_of(&parts.headers, &parts.extensions)
        .ok_or(SessionRejection::NotInstalled)
}

session_core::__define_sessions_extractor! {
    /// All of the request's sessions, opened by name at run time:
    /// `sessions.get("cart").await?`. Prefer [`Session`] and [`NamedSession`] when the name is
    /// known at compile time.
    pub struct Sessions(SessionRejection) {
        /// The session `name`, opened on first use; the same handle on every later call.
        ///
        /// ```
        /// # use axum::{routing::get, Router};
        /// # use session_axum::{KeyRing, SessionLayer, SessionManager, SessionsConfig, StoreRegistry};
        /// # use tower::ServiceExt;
        /// # /// The body of `handler`'s answer to a request without cookies, in an app with the sessions
        /// # /// `app` (the default) and `cart`.
        /// # async fn call<H: axum::handler::Handler<T, ()>, T: 'static>(handler: H) -> String {
        /// #     let config = SessionsConfig::from_toml(r#"
        /// #         default = "app"
        /// #         [sessions.app]
        /// #         transport = { type = "cookie", name = "app_session" }
        /// #         store = { type = "cookie" }
        /// #         [sessions.cart]
        /// #         transport = { type = "cookie", name = "cart" }
        /// #         store = { type = "cookie" }
        /// #     "#).unwrap();
        /// #     let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap();
        /// #     let app = Router::new().route("/", get(handler)).layer(SessionLayer::new(manager));
        /// #     let request = http::Request::get("/").body(axum::body::Body::empty()).unwrap();
        /// #     let response = app.oneshot(request).await.unwrap();
        /// #     let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        /// #     String::from_utf8(body.to_vec()).unwrap()
        /// # }
        /// use session_axum::{SessionRejection, Sessions};
        ///
        /// async fn cart(sessions: Sessions) -> Result<String, SessionRejection> {
        ///     let cart = sessions.get("cart").await?; // a name known only at run time
        ///     Ok(format!("{} items", cart.keys().len()))
        /// }
        /// # #[tokio::main(flavor = "current_thread")]
        /// # async fn main() {
        /// assert_eq!(call(cart).await, "0 items");
        /// # }
        /// ```
        get,
        /// The default session.
        ///
        /// ```
        /// # use axum::{routing::get, Router};
        /// # use session_axum::{KeyRing, SessionLayer, SessionManager, SessionsConfig, StoreRegistry};
        /// # use tower::ServiceExt;
        /// # /// The body of `handler`'s answer to a request without cookies, in an app with the sessions
        /// # /// `app` (the default) and `cart`.
        /// # async fn call<H: axum::handler::Handler<T, ()>, T: 'static>(handler: H) -> String {
        /// #     let config = SessionsConfig::from_toml(r#"
        /// #         default = "app"
        /// #         [sessions.app]
        /// #         transport = { type = "cookie", name = "app_session" }
        /// #         store = { type = "cookie" }
        /// #         [sessions.cart]
        /// #         transport = { type = "cookie", name = "cart" }
        /// #         store = { type = "cookie" }
        /// #     "#).unwrap();
        /// #     let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap();
        /// #     let app = Router::new().route("/", get(handler)).layer(SessionLayer::new(manager));
        /// #     let request = http::Request::get("/").body(axum::body::Body::empty()).unwrap();
        /// #     let response = app.oneshot(request).await.unwrap();
        /// #     let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        /// #     String::from_utf8(body.to_vec()).unwrap()
        /// # }
        /// use session_axum::{SessionRejection, Sessions};
        ///
        /// async fn whoami(sessions: Sessions) -> Result<String, SessionRejection> {
        ///     let session = sessions.default_session().await?; // `app`
        ///     Ok(session.owner().unwrap_or_else(|| "nobody".into()))
        /// }
        /// # #[tokio::main(flavor = "current_thread")]
        /// # async fn main() {
        /// assert_eq!(call(whoami).await, "nobody");
        /// # }
        /// ```
        default_session,
        /// The request's sessions as the core sees them.
        ///
        /// ```
        /// # use axum::{routing::get, Router};
        /// # use session_axum::{KeyRing, SessionLayer, SessionManager, SessionsConfig, StoreRegistry};
        /// # use tower::ServiceExt;
        /// # /// The body of `handler`'s answer to a request without cookies, in an app with the sessions
        /// # /// `app` (the default) and `cart`.
        /// # async fn call<H: axum::handler::Handler<T, ()>, T: 'static>(handler: H) -> String {
        /// #     let config = SessionsConfig::from_toml(r#"
        /// #         default = "app"
        /// #         [sessions.app]
        /// #         transport = { type = "cookie", name = "app_session" }
        /// #         store = { type = "cookie" }
        /// #         [sessions.cart]
        /// #         transport = { type = "cookie", name = "cart" }
        /// #         store = { type = "cookie" }
        /// #     "#).unwrap();
        /// #     let manager = SessionManager::from_config(&config, &StoreRegistry::new(), KeyRing::generate()).await.unwrap();
        /// #     let app = Router::new().route("/", get(handler)).layer(SessionLayer::new(manager));
        /// #     let request = http::Request::get("/").body(axum::body::Body::empty()).unwrap();
        /// #     let response = app.oneshot(request).await.unwrap();
        /// #     let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        /// #     String::from_utf8(body.to_vec()).unwrap()
        /// # }
        /// use session_axum::{SessionRejection, Sessions};
        ///
        /// async fn opened(sessions: Sessions) -> Result<String, SessionRejection> {
        ///     sessions.get("cart").await?;
        ///     let core = sessions.request_sessions();
        ///     Ok(format!("cart: {}, app: {}", core.is_opened("cart"), core.is_opened("app")))
        /// }
        /// # #[tokio::main(flavor = "current_thread")]
        /// # async fn main() {
        /// assert_eq!(call(opened).await, "cart: true, app: false");
        /// # }
        /// ```
        request_sessions,
    }
}
