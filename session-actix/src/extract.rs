//! The extractors: [`Session`] (the default session), [`NamedSession`] (a session chosen by a
//! marker type) and [`Sessions`] (any session by name, chosen at run time).
//!
//! Extracting opens the session: it verifies or decrypts a client-side value, or verifies a
//! signed id and loads the record from the store. That happens once per name per request;
//! extracting again (in the same handler, or in a middleware and then the handler) gives the same
//! handle. A handler that extracts nothing costs no store access and sets no cookie.
//!
//! Both extractors dereference to [`session_core::Session`], whose methods are synchronous and
//! which is `Clone + Send + Sync`, so a handle can be moved into a spawned task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use session_core::{RequestSessions, SessionName};

use crate::middleware;
use crate::rejection::SessionRejection;

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

session_core::__define_session_handles!(session_actix: Session, NamedSession<N>);

impl FromRequest for Session {
    type Error = SessionRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let sessions = request_sessions(request);
        Box::pin(async move { Ok(Session::wrap(open(sessions?, None).await?)) })
    }
}

impl<N: SessionName> FromRequest for NamedSession<N> {
    type Error = SessionRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let sessions = request_sessions(request);
        Box::pin(async move { Ok(NamedSession::wrap(open(sessions?, Some(N::NAME)).await?)) })
    }
}

/// Opens the session `name` of the request's `sessions` (the default session for `None`).
async fn open(
    sessions: Arc<RequestSessions>,
    name: Option<&str>,
) -> Result<session_core::Session, SessionRejection> {
    match name {
        Some(name) => sessions.session(name).await,
        None => sessions.default_session().await,
    }
    .map_err(SessionRejection::Open)
}

impl FromRequest for Sessions {
    type Error = SessionRejection;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(request_sessions(request).map(Sessions))
    }
}

/// What the middleware left in the request.
fn request_sessions(request: &HttpRequest) -> Result<Arc<RequestSessions>, SessionRejection> {
    middleware::request_sessions(request).ok_or(SessionRejection::NotInstalled)
}

session_core::__define_sessions_extractor! {
    /// All of the request's sessions, opened by name at run time:
    /// `sessions.get("cart").await?`. Prefer [`Session`] and [`NamedSession`] when the name is
    /// known at compile time.
    pub struct Sessions(SessionRejection) {
        /// The session `name`, opened on first use; the same handle on every later call.
        ///
        /// ```
        /// # use actix_web::{test, web, App, FromRequest, Handler, Responder};
        /// # use session_actix::{KeyRing, SessionManager, SessionMiddleware, SessionsConfig, StoreRegistry};
        /// # /// The body of `handler`'s answer to a request without cookies, in an app with the sessions
        /// # /// `app` (the default) and `cart`.
        /// # async fn call<F, Args>(handler: F) -> String
        /// # where
        /// #     F: Handler<Args>,
        /// #     Args: FromRequest + 'static,
        /// #     F::Output: Responder + 'static,
        /// # {
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
        /// #     let app = App::new().wrap(SessionMiddleware::new(manager)).route("/", web::get().to(handler));
        /// #     let app = test::init_service(app).await;
        /// #     let body = test::call_and_read_body(&app, test::TestRequest::get().uri("/").to_request()).await;
        /// #     String::from_utf8(body.to_vec()).unwrap()
        /// # }
        /// use session_actix::Sessions;
        ///
        /// async fn cart(sessions: Sessions) -> actix_web::Result<String> {
        ///     let cart = sessions.get("cart").await?; // a name known only at run time
        ///     Ok(format!("{} items", cart.keys().len()))
        /// }
        /// # #[actix_web::main]
        /// # async fn main() {
        /// assert_eq!(call(cart).await, "0 items");
        /// # }
        /// ```
        get,
        /// The default session.
        ///
        /// ```
        /// # use actix_web::{test, web, App, FromRequest, Handler, Responder};
        /// # use session_actix::{KeyRing, SessionManager, SessionMiddleware, SessionsConfig, StoreRegistry};
        /// # /// The body of `handler`'s answer to a request without cookies, in an app with the sessions
        /// # /// `app` (the default) and `cart`.
        /// # async fn call<F, Args>(handler: F) -> String
        /// # where
        /// #     F: Handler<Args>,
        /// #     Args: FromRequest + 'static,
        /// #     F::Output: Responder + 'static,
        /// # {
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
        /// #     let app = App::new().wrap(SessionMiddleware::new(manager)).route("/", web::get().to(handler));
        /// #     let app = test::init_service(app).await;
        /// #     let body = test::call_and_read_body(&app, test::TestRequest::get().uri("/").to_request()).await;
        /// #     String::from_utf8(body.to_vec()).unwrap()
        /// # }
        /// use session_actix::Sessions;
        ///
        /// async fn whoami(sessions: Sessions) -> actix_web::Result<String> {
        ///     let session = sessions.default_session().await?; // `app`
        ///     Ok(session.owner().unwrap_or_else(|| "nobody".into()))
        /// }
        /// # #[actix_web::main]
        /// # async fn main() {
        /// assert_eq!(call(whoami).await, "nobody");
        /// # }
        /// ```
        default_session,
        /// The request's sessions as the core sees them.
        ///
        /// ```
        /// # use actix_web::{test, web, App, FromRequest, Handler, Responder};
        /// # use session_actix::{KeyRing, SessionManager, SessionMiddleware, SessionsConfig, StoreRegistry};
        /// # /// The body of `handler`'s answer to a request without cookies, in an app with the sessions
        /// # /// `app` (the default) and `cart`.
        /// # async fn call<F, Args>(handler: F) -> String
        /// # where
        /// #     F: Handler<Args>,
        /// #     Args: FromRequest + 'static,
        /// #     F::Output: Responder + 'static,
        /// # {
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
        /// #     let app = App::new().wrap(SessionMiddleware::new(manager)).route("/", web::get().to(handler));
        /// #     let app = test::init_service(app).await;
        /// #     let body = test::call_and_read_body(&app, test::TestRequest::get().uri("/").to_request()).await;
        /// #     String::from_utf8(body.to_vec()).unwrap()
        /// # }
        /// use session_actix::Sessions;
        ///
        /// async fn opened(sessions: Sessions) -> actix_web::Result<String> {
        ///     sessions.get("cart").await?;
        ///     let core = sessions.request_sessions();
        ///     Ok(format!("cart: {}, app: {}", core.is_opened("cart"), core.is_opened("app")))
        /// }
        /// # #[actix_web::main]
        /// # async fn main() {
        /// assert_eq!(call(opened).await, "cart: true, app: false");
        /// # }
        /// ```
        request_sessions,
    }
}
